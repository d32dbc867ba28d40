"""Training and inference for models: compile, fit, evaluate, predict, train_on_batch.

:class:`Trainer` is a base class of every model (Keras splits ``trainers/``
from ``models/`` the same way). It needs from the model only its layer graph
(``self.graph``), its inputs (``self._input_specs()``: sample shape and first
layer of each), its output names, its weights and a way to build itself on the
first batch; the model classes own structure and configuration. Inputs,
targets, losses and metrics are lists with one entry per model input or
output; a model with one input and one output takes and returns plain arrays.

The Python loops here run over epochs, batches and layers, never over time
steps: each recurrent layer's forward or backward pass over a batch is one call
into the compiled engine. ``fit`` keeps a copy of the weights and optimizer
state at the start of every epoch, so an exception, a non-finite loss or
Ctrl-C leaves the model as it was after the last completed epoch.

``compile(..., device="cuda")`` moves the whole training step and inference
onto an NVIDIA GPU (:mod:`numbarnn.cuda.training`): the weights and optimizer
state then live in device memory while the model trains, and come back to the
host arrays when they are read (``get_weights``, ``weights``, ``save``,
pickling) and when ``fit`` ends.
"""

import contextlib
import itertools
import math
import sys
import threading
import warnings
from dataclasses import dataclass

import numpy as np

from .. import _threads
from .. import callbacks as callbacks_module
from .. import losses as losses_module
from .. import metrics as metrics_module
from .. import optimizers as optimizers_module
from .._progress import ProgressBar
from .._random import LazyGenerator, child_rng
from .._serialization import serialize
from .._validation import check_float
from ..engine import reductions
from ..engine.cells import check_device, load_device
from ..layers.symbolic import is_symbolic
from . import data, streams
from .planned import PlannedChain

__all__ = ["Trainer"]


# Guards the check-and-set of a model's "fit is running" flag across threads.
_FIT_GUARD = threading.Lock()


class _NonFiniteLoss(Exception):
    def __init__(self, value, batch):
        self.value, self.batch = value, batch


def _inference_rng():
    # Inference draws no random numbers; layers still receive a generator.
    return np.random.default_rng(0)


def _fit_generator(seed):
    if seed is None:
        return child_rng()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise TypeError(f"seed must be None, a non-negative int or a numpy Generator; got {seed!r}")


@dataclass
class _FitData:
    """``fit``'s checked training arrays and validation set."""

    x: np.ndarray
    y: np.ndarray
    sample_weight: object
    mask: object
    validation: object




class _Head:
    """One model output's loss, loss weight and metrics (internal)."""

    def __init__(self, name, loss, weight, metric_specs):
        self.name, self.loss, self.weight, self.metric_specs = name, loss, weight, metric_specs
        self.metrics = None
        self.metrics_key = None

    def resolve_metrics(self, y_shape, pred_shape, prefix):
        sparse = pred_shape[-1] != 1 and (len(y_shape) < len(pred_shape) or y_shape[-1:] == (1,))
        key = (pred_shape[-1], sparse)
        if self.metrics is None or self.metrics_key != key:
            self.metrics = [metrics_module.get(m, n_outputs=pred_shape[-1], sparse_targets=sparse)
                            for m in self.metric_specs]  # fmt: skip
            self.metrics_key = key
            for m in self.metrics:
                m.log_name = prefix + m.name
        return self.metrics

    def metric_target(self, yb, pred):
        y = self.loss.dense_target(yb, pred)
        if self.metrics_key[1] and not self.loss.sparse:  # sparse targets, dense loss
            idx = np.asarray(y).reshape(pred.shape[:-1]).astype(np.intp)
            y = losses_module.one_hot(idx, pred.shape[-1], pred.dtype)
        return y


def _per_output(value, names, what, default=None):
    """``value`` given once, as a list (one per output) or as a dict by output name -> a list."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"{what} names unknown output(s) {unknown}; the outputs are {names}")
        return [value.get(n, default) for n in names]
    if isinstance(value, (list, tuple)) and len(names) > 1:
        if len(value) != len(names):
            raise ValueError(f"{what} must hold one entry per output ({len(names)}: {names}); got {len(value)}")
        return list(value)
    return [value] * len(names)


class Trainer:
    """Compile, fit, evaluate and predict for a model (see :class:`numbarnn.Sequential`, :class:`numbarnn.Model`).

    Attributes
    ----------
    optimizer : Optimizer or None
        Set by :meth:`compile`.
    loss : Loss, list or dict, or None
        As given to :meth:`compile`, resolved to Loss objects.
    compiled : bool
    history : History or None
        The last :meth:`fit`'s history.
    stop_training : bool
        Set to True by a callback to end training after the current epoch.
    """

    def _init_trainer(self):
        self.optimizer = None
        self.loss = None
        self._heads = None
        self._compile_args = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self.training_generator = None  # the numpy Generator drawing a running fit's shuffling and dropout
        self._exact_row_sums = False  # see _use_exact_row_sums
        self._device = "cpu"
        self._device_model = None  # the numbarnn.cuda.training.DeviceModel of device="cuda", made on first use
        self._device_dirty = False  # the device holds newer weights than the host arrays
        self._planned = None  # the PlannedChain of the CPU, made on first use (see _cpu_runner)

    # -- compile -------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, device="cpu"):
        """Choose the optimizer, loss and metrics for training, and the device that runs the model.

        Parameters
        ----------
        optimizer : str or Optimizer, default='rmsprop'
            'sgd', 'rmsprop', 'adam', 'adamw' or an instance.
        loss : str, Loss, list or dict
            'mse', 'mae', 'huber', 'binary_crossentropy', 'categorical_crossentropy',
            'sparse_categorical_crossentropy' or an instance; for a model with several
            outputs, one for all, a list (one per output) or a dict by output name (an
            output without a loss is not trained on).
        metrics : list of str or Metric, or a list of lists or dict for several outputs, optional
            'accuracy' (binary, categorical or sparse, from the shapes), 'mae', 'mse', ...
        loss_weights : list or dict of float, optional
            Each output's weight in the total loss (several outputs).
        device : {'cpu', 'cuda'}, default='cpu'
            Where training steps and predictions run. ``'cuda'`` (``pip install
            "numbarnn[cuda]"`` and an NVIDIA GPU) runs the whole training step
            (forward, loss, backward, optimizer update) and inference on the GPU,
            with the weights resident there between steps; they come back to the
            host arrays when read through the model (``get_weights``, ``weights``,
            ``save``, pickling) and when ``fit`` ends. The device runs chains of
            Dense, Dropout, LSTM, GRU, SimpleRNN and Bidirectional layers, with a
            leading Masking or Embedding; the losses mse, mae, huber, binary,
            categorical and sparse categorical cross-entropy; SGD, RMSprop, Adam
            and AdamW. A pickled model trained on the GPU loads and predicts where
            there is none, on the CPU, with a warning.

        Raises
        ------
        ValueError
            An unknown device, or a model, loss or optimizer the device cannot run.
        ImportError
            ``device='cuda'`` without the numba-cuda package.
        RuntimeError
            ``device='cuda'`` without a usable GPU (no driver, no GPU, no CUDA toolkit).
        """
        optimizer = optimizers_module.get(optimizer)
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='mse'")
        names = self.output_names
        losses = [None if v is None else losses_module.get(v) for v in _per_output(loss, names, "loss")]
        if all(v is None for v in losses):
            raise ValueError("compile needs a loss for at least one output")
        weights = [None] * len(names)
        if loss_weights is not None:
            weights = [None if w is None else check_float(w, "loss_weights entries", 0.0)
                       for w in _per_output(loss_weights, names, "loss_weights")]  # fmt: skip
        specs = self._metric_specs_per_output(metrics, names)
        heads = [_Head(n, lo, w, sp) for n, lo, w, sp in zip(names, losses, weights, specs)]
        self._set_device(device, heads, optimizer)  # raises before anything changes
        self.optimizer = optimizer
        if isinstance(loss, dict):
            self.loss = {n: v for n, v in zip(names, losses) if v is not None}
        elif len(names) > 1 and isinstance(loss, (list, tuple)):
            self.loss = losses
        else:
            self.loss = losses[0]
        self._heads = heads
        self._compile_args = (loss, metrics, loss_weights)
        self.compiled = True

    @staticmethod
    def _metric_specs_per_output(metrics, names):
        if metrics is None:
            return [[] for _ in names]
        if isinstance(metrics, (str, metrics_module.Metric)):
            metrics = [metrics]
        if isinstance(metrics, dict):
            per = _per_output(metrics, names, "metrics", default=[])
        elif not hasattr(metrics, "__iter__"):
            raise TypeError(f"metrics must be a list of names or Metric objects; got {type(metrics).__name__}")
        else:
            metrics = list(metrics)
            nested = len(names) > 1 and metrics and all(isinstance(m, (list, tuple)) for m in metrics)
            per = _per_output(metrics, names, "metrics") if nested else [metrics] * len(names)
        out = []
        for entry in per:
            entry = [entry] if isinstance(entry, (str, metrics_module.Metric)) else list(entry or [])
            for m in entry:  # resolve once now so an unknown name fails here
                metrics_module.get(m, n_outputs=2)
            out.append(entry)
        return out

    def get_compile_config(self):
        """The optimizer, losses, metrics and loss weights as a JSON-friendly dict, or None before :meth:`compile`."""
        if not self.compiled:
            return None
        loss, metrics, loss_weights = self._compile_args

        def spec(m):
            return m if isinstance(m, str) else serialize(m)

        if isinstance(self.loss, dict):
            loss_config = {n: serialize(v) for n, v in self.loss.items()}
        elif isinstance(self.loss, list):
            loss_config = [None if v is None else serialize(v) for v in self.loss]
        else:
            loss_config = serialize(self.loss)
        if isinstance(metrics, dict):
            metrics_config = {n: [spec(m) for m in (v if isinstance(v, (list, tuple)) else [v])]
                              for n, v in metrics.items()}  # fmt: skip
        elif len(self._heads) > 1:
            metrics_config = [[spec(m) for m in h.metric_specs] for h in self._heads]
        else:
            metrics_config = [spec(m) for m in self._heads[0].metric_specs]
        config = {"optimizer": serialize(self.optimizer), "loss": loss_config, "metrics": metrics_config}
        if loss_weights is not None:
            config["loss_weights"] = loss_weights
        return config

    def compile_from_config(self, config):
        """Compile from :meth:`get_compile_config`'s output."""
        loss = config["loss"]
        if isinstance(loss, dict) and "class_name" not in loss:
            loss = {n: losses_module.get(v) for n, v in loss.items()}
        elif isinstance(loss, list):
            loss = [None if v is None else losses_module.get(v) for v in loss]
        else:
            loss = losses_module.get(loss)
        self.compile(optimizer=optimizers_module.get(config["optimizer"]), loss=loss, metrics=config.get("metrics"),
                     loss_weights=config.get("loss_weights"))  # fmt: skip

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"you must call compile(optimizer, loss) before {what}")

    @property
    def _multi_output(self):
        return len(self.output_names) > 1

    def _all_metrics(self):
        return [m for h in self._heads if h.metrics for m in h.metrics]

    def _log_names(self):
        names = ["loss"]
        if self._multi_output:
            names += [f"{h.name}_loss" for h in self._heads if h.loss is not None]
        return names + [m.log_name for m in self._all_metrics()]

    @property
    def metrics_names(self):
        """Names of the values :meth:`evaluate` returns: 'loss', each output's loss (several outputs), each metric."""
        if not self.compiled:
            return ["loss"]
        return self._log_names()

    # -- input preparation ---------------------------------------------------
    def _as_list(self, value, names, what):
        """A model input or target structure as a list: one array, a list, or a dict by name."""
        if isinstance(value, dict):
            missing = [n for n in names if n not in value]
            if missing:
                raise ValueError(f"{what} is missing {missing}; the model's {what}s are {names}")
            unknown = sorted(set(value) - set(names))
            if unknown:
                raise ValueError(f"{what} names unknown {what}(s) {unknown}; the model's {what}s are {names}")
            return [value[n] for n in names]
        if len(names) == 1:
            if isinstance(value, (list, tuple)) and len(value) == 1 and not np.isscalar(value[0]) \
                    and np.ndim(value[0]) >= 1 and isinstance(value[0], np.ndarray):  # fmt: skip
                return [value[0]]
            return [value]
        if not isinstance(value, (list, tuple)) or len(value) != len(names):
            got = f"a list of {len(value)}" if isinstance(value, (list, tuple)) else type(value).__name__
            raise ValueError(f"{what} must be a list of {len(names)} arrays or a dict by name {names}; got {got}")
        return list(value)

    def _prepare_x(self, x, name="x"):
        if not self.layers:
            raise ValueError("the model has no layers")
        specs = self._input_specs()
        xs = self._as_list(x, [s[2] for s in specs], "input")
        out = []
        for arr, (shape, first, input_name) in zip(xs, specs):
            label = name if len(specs) == 1 else f"{name}[{input_name!r}]"
            out.append(data.prepare_x(arr, shape, first, label))
        n = out[0].shape[0]
        for arr in out[1:]:
            if arr.shape[0] != n:
                raise ValueError(f"every input must hold the same number of samples; got {n} and {arr.shape[0]}")
        return out

    def _prepare_masks(self, mask, xs):
        if mask is None:
            return [None] * len(xs)
        masks = mask if (isinstance(mask, (list, tuple)) and len(xs) > 1) else [mask] + [None] * (len(xs) - 1)
        return [data.prepare_mask(m, x) for m, x in zip(masks, xs)]

    def _prepare_y(self, y, xs, name="y"):
        n = xs[0].shape[0]
        pred_shapes = [(n,) + tuple(s) for s in self.graph.output_shapes([x.shape[1:] for x in xs])]
        ys = self._as_list(y, self.output_names, "output")
        out = []
        for head, yk, pred_shape, layer in zip(self._heads, ys, pred_shapes, self._output_layers()):
            if head.loss is None:
                out.append(None)
                continue
            label = name if len(ys) == 1 else f"{name}[{head.name!r}]"
            raw, checked = data.prepare_y(yk, n, pred_shape, layer.dtype, head.loss, label)
            head.resolve_metrics(raw.shape, pred_shape, f"{head.name}_" if self._multi_output else "")
            out.append(checked)
        return out

    def _prepare_fit_data(self, x, y, sample_weight, class_weight, validation_split, validation_data, mask):
        """Check the training data and split off the validation set; builds the model on first use."""
        was_built = self.built
        xs = self._prepare_x(x)
        xm = self._prepare_masks(mask, xs)
        self._ensure_built(xs)
        try:
            y_raw = y
            ys = self._prepare_y(y, xs)
            n = xs[0].shape[0]
            sw = data.prepare_sample_weight(sample_weight, n)
            if class_weight is not None:
                if self._multi_output:
                    raise ValueError("class_weight is supported for models with one output; use sample_weight")
                cw = data.class_weights(class_weight, y_raw)
                sw = cw if sw is None else sw * (cw if sw.ndim == 1 else cw[:, None])
            val = None
            if validation_data is not None:
                val = self._prepare_validation(validation_data)
            elif validation_split > 0:
                split = int(math.floor(n * (1 - validation_split)))
                if split == 0 or split == n:
                    raise ValueError(
                        f"validation_split={validation_split} leaves no training or no validation samples out of {n}"
                    )
                tail, head = slice(split, None), slice(None, split)
                val = (_take(xs, tail), _take(ys, tail), None if sw is None else sw[tail], _take(xm, tail))
                xs, ys, sw, xm = _take(xs, head), _take(ys, head), (None if sw is None else sw[head]), _take(xm, head)
        except Exception:
            if not was_built:
                self._unbuild()
            raise
        return _FitData(xs, ys, sw, xm, val)

    def _prepare_validation(self, validation_data):
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight_val)")
        xv = self._prepare_x(validation_data[0], "validation_data x")
        yv = self._prepare_y(validation_data[1], xv, "validation_data y")
        wv = data.prepare_sample_weight(validation_data[2], xv[0].shape[0]) if len(validation_data) == 3 else None
        return xv, yv, wv, [None] * len(xv)

    # -- the device ----------------------------------------------------------
    @property
    def device(self):
        """Where training and inference run: ``'cpu'`` or ``'cuda'`` (set by :meth:`compile`)."""
        return self._device

    def _set_device(self, device, heads=None, optimizer=None):
        """Move the model to another device (its weights and optimizer state go along).

        ``heads`` and ``optimizer`` are what :meth:`compile` is about to set (by default the
        compiled ones); the check that the device can run them comes before any change.
        """
        check_device(device)
        if device == "cuda":
            from ..cuda.training import check_model

            check_model(self, heads, optimizer)
        self._sync_host()
        self._device_model = None
        self._device_dirty = False
        self._device = device

    def _on_device(self):
        return self._device != "cpu"

    def _device_runner(self):
        """The model's :class:`~numbarnn.cuda.training.DeviceModel`, made (weights copied over) on first use."""
        if self._device_model is None:
            from ..cuda.training import DeviceModel

            self._device_model = DeviceModel(self)
            self._device_dirty = False
        return self._device_model

    def _sync_host(self):
        """Copy newer device weights and optimizer state into the host arrays (no-op on the CPU)."""
        if self._device_dirty and self._device_model is not None:
            self._device_model.pull()
            self._device_dirty = False

    def _host_changed(self):
        """The host weights were set: copy them to the device, if the model runs there."""
        if self._device_model is not None:
            self._device_model.push()
            self._device_dirty = False

    def _device_begin(self):
        """At the start of fit, predict or evaluate on the device: the host arrays are the truth; copy them over."""
        if self._on_device():
            self._sync_host()
            if self._device_model is not None and not self._device_model.matches(self):
                self._device_model = None  # the layers changed since: copy the new ones over
            if self._device_model is None:
                self._device_runner()
            else:
                self._host_changed()

    def __getstate__(self):
        self._sync_host()
        state = dict(self.__dict__)
        state["_device_model"] = None  # device arrays stay on their device; the host arrays carry the weights
        state["_device_dirty"] = False
        state["_planned"] = None  # plans and buffers are made again on first use
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("_device", "cpu")
        self._planned = None
        self._device_model = None
        self._device_dirty = False
        if self._device != "cpu":
            try:
                load_device(self._device)
            except (ImportError, RuntimeError) as exc:
                warnings.warn(
                    f"model {self.name!r} was compiled with device={self._device!r}, which cannot "
                    f"be used here ({exc}); it runs on the CPU (device='cpu')",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self._device = "cpu"

    # -- one batch -----------------------------------------------------------
    #: Run a chain model's batches on plans kept across batches (:mod:`numbarnn.models.planned`), which
    #: gives the layer-by-layer path's numbers bit for bit; False takes the layer-by-layer path.
    plan_steps = True

    def _cpu_runner(self):
        """What runs a batch's forward and backward passes on the CPU: a PlannedChain, or the layer graph."""
        if not self.plan_steps:
            return self.graph
        self._planned = PlannedChain.for_model(self, self._planned)
        return self.graph if self._planned is None else self._planned

    def _forward(self, xs, training, rng, masks=None):
        if self._on_device():
            pred, out_mask, _ = self._device_runner().forward(xs[0], (masks or [None])[0], training, rng)
            return [pred.copy_to_host()], [out_mask], None
        runner = self._cpu_runner()
        masks = masks or [None] * len(xs)
        if not training and runner.blas_free_inference:
            return runner.forward(xs, masks, training, rng)
        with _threads.blas_single_thread():  # once here, rather than once per layer
            return runner.forward(xs, masks, training, rng)

    def _use_exact_row_sums(self):
        """Train with exact, weighted row sums (what the estimators use; see :mod:`numbarnn.engine.reductions`).

        Each batch's loss is then the weighted mean ``sum(w * l) / sum(w)`` of its
        per-sample losses (masked steps left out), the gradient reaching a row is
        the row's own, and the sample weights multiply the rows' terms in the
        weight-gradient sums, taken in float64: a fit with integer weights equals
        one on repeated rows, and a batch's gradient does not depend on the order
        of its rows. Needs one output and layers whose gradients go through those
        sums (recurrent layers, Bidirectional, Dense, and layers without weights).

        Raises
        ------
        ValueError
            The model has several outputs or a trainable layer of another kind.
        """
        self._require_compiled("_use_exact_row_sums")
        if len(self._heads) != 1:
            raise ValueError("exact row sums need a model with one output")
        for layer in self.layers:
            if layer.trainable_weights and not getattr(layer, "exact_row_sums", False):
                raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) does not support exact row sums")
        self._exact_row_sums = True

    @staticmethod
    def _exact_loss_of(loss, yb, pred, wb, mask):
        """The weighted-mean loss, each row's unweighted gradient, the value weights and the row weights."""
        values, grad = loss.values_and_gradient(yb, pred)
        B = values.shape[0]
        w = np.ones(B, np.float64) if wb is None else wb.astype(np.float64)
        m = mask if mask is not None and values.ndim == mask.ndim else np.ones(values.shape, np.float64)
        weights = w.reshape((B,) + (1,) * (values.ndim - 1)) * m
        denominator = float(weights.sum())
        if denominator == 0:
            return 0.0, np.zeros_like(pred), weights, w
        value = float((values.astype(np.float64) * weights).sum() / denominator)
        d_pred = (grad * (m / denominator)[..., None]).astype(pred.dtype)
        return value, d_pred, weights, w

    @staticmethod
    def _loss_of(loss, yb, pred, wb, mask):
        values, grad = loss.values_and_gradient(yb, pred)
        weights = np.ones(values.shape, np.float64) if wb is None else np.broadcast_to(
            wb.reshape(wb.shape + (1,) * (values.ndim - wb.ndim)), values.shape
        )
        if mask is not None and values.ndim == mask.ndim:
            weights = weights * mask
            count = max(int(mask.sum()), 1)
        else:
            count = values.size
        scale = weights / count
        value = float((values * scale).sum())
        d_pred = (grad * scale[..., None]).astype(pred.dtype, copy=False)
        return value, d_pred, weights

    def _losses(self, ys, preds, wb, masks):
        """Total loss, each output's loss (None without one), each output's gradient and loss weights."""
        total, values, grads, weights = 0.0, [], [], []
        for head, yb, pred, mask in zip(self._heads, ys, preds, masks):
            if head.loss is None:
                values.append(None)
                grads.append(None)
                weights.append(None)
                continue
            value, d_pred, w = self._loss_of(head.loss, yb, pred, wb, mask)
            if head.weight is not None:
                value, d_pred = value * head.weight, (d_pred * pred.dtype.type(head.weight))
            total += value
            values.append(value)
            grads.append(d_pred)
            weights.append(w)
        return total, values, grads, weights

    def _update_metrics(self, ys, preds, weights):
        for head, yb, pred, w in zip(self._heads, ys, preds, weights):
            if head.loss is None or not head.metrics:
                continue
            ytrue = head.metric_target(yb, pred)
            for m in head.metrics:
                m.update(ytrue, pred, w)

    def _reset_metrics(self):
        for m in self._all_metrics():
            m.reset()

    def _penalty(self):
        if self._on_device() and self._device_model is not None:
            return self._device_model.penalty()  # the weights stay where they are
        return self.graph.regularization_penalty()

    def _device_train_step(self, xb, yb, wb, rng, batch_index, mb):
        runner = self._device_runner()
        exact = self._exact_row_sums and (wb is None or wb.ndim == 1)
        total, value, pred, weights, bad = runner.train_step(xb[0], yb[0], wb, (mb or [None])[0], rng, exact)
        if bad:
            raise _NonFiniteLoss(total, batch_index)
        self._device_dirty = True
        if self._heads[0].metrics:
            self._update_metrics(yb, [pred.copy_to_host()], [weights])
        return total, [value]

    def _train_step(self, xb, yb, wb, rng, batch_index, mb=None):
        if self._on_device():
            return self._device_train_step(xb, yb, wb, rng, batch_index, mb)
        with _threads.blas_single_thread():  # once per step, rather than once per layer and pass
            graph = self._cpu_runner()
            preds, masks, caches = graph.forward(xb, mb or [None] * len(xb), True, rng)
            if self._exact_row_sums and (wb is None or wb.ndim == 1):
                head = self._heads[0]
                total, d_pred, w_values, w_rows = self._exact_loss_of(head.loss, yb[0], preds[0], wb, masks[0])
                values, grads, weights = [total], [d_pred], [w_values]
                sums = reductions.exact_row_sums(w_rows)
            else:
                total, values, grads, weights = self._losses(yb, preds, wb, masks)
                sums = contextlib.nullcontext()
            total += self._penalty()
            if not math.isfinite(total):
                raise _NonFiniteLoss(total, batch_index)
            with sums:
                layer_grads = graph.backward(caches, grads, self.layers)
            self.optimizer.apply(layer_grads, self.trainable_weights)
            self._update_metrics(yb, preds, weights)
        return total, values

    def _batch_logs(self, total, seen, sums):
        logs = {"loss": total / seen}
        if self._multi_output:
            for head, s in zip(self._heads, sums):
                if head.loss is not None:
                    logs[f"{head.name}_loss"] = s / seen
        logs.update({m.log_name: m.result() for m in self._all_metrics()})
        return logs

    def _snapshot(self):
        if self._on_device() and self._device_model is not None:  # kept on the device: nothing comes back
            opt = self.optimizer
            return _DeviceSnapshot(self._device_model.snapshot(), opt.iterations, opt.learning_rate)
        opt = self.optimizer.get_state() if self.optimizer is not None else None
        return self.get_weights() if self.built else None, opt, self._state_snapshot()

    def _restore(self, snapshot):
        if isinstance(snapshot, _DeviceSnapshot):
            self._device_model.restore(snapshot.arrays)
            self.optimizer.iterations, self.optimizer.learning_rate = snapshot.iterations, snapshot.learning_rate
            self._device_dirty = True
            return
        weights, opt, states = snapshot
        if weights is not None:
            for w, saved in zip(self.weights, weights):
                w[...] = saved
        if opt is not None:
            self.optimizer.set_state(opt)
        self._restore_states(states)
        self._host_changed()

    def _state_snapshot(self):
        return [(layer, layer.get_states()) for layer in self.layers if getattr(layer, "stateful", False)]

    @staticmethod
    def _restore_states(saved):
        for layer, states in saved:
            layer.set_states(states)

    # -- training ------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, *, mask=None, seed=None):  # fmt: skip
        """Train the model for ``epochs`` passes over the data.

        Parameters
        ----------
        x : array-like of shape (samples, steps, features) or (samples, steps), a list or dict of them, or batches
            Numbers (float, int or bool); 2-D input is one feature per step (or
            integer indices for a model that starts with an Embedding). A model with
            several inputs takes a list (in ``model.inputs`` order) or a dict by input name.
            A :class:`~numbarnn.utils.PyDataset`, a generator or an iterator of ``(x, y)`` or
            ``(x, y, sample_weight)`` batches is read one batch at a time (``y`` is then None).
        y : array-like of shape (samples, outputs), (samples,) or (samples, steps, outputs), or a list or dict
            Targets shaped like the model's output (class indices for a sparse loss); one per
            output, as a list or a dict by output name, for several outputs.
        batch_size : int, default=32
        epochs : int, default=1
        verbose : {0, 1, 2, 'auto'}, default='auto'
            0 silent, 1 a live progress bar per epoch, 2 one line per epoch.
        callbacks : list of Callback, optional
        validation_split : float in [0, 1), default=0.0
            Share of the samples, taken from the end before shuffling, held out for validation.
        validation_data : tuple (x_val, y_val) or (x_val, y_val, sample_weight_val), optional
        shuffle : bool, default=True
            Shuffle the training samples before every epoch.
        class_weight : dict of int to float, optional
            Weight of each class in the loss (targets of shape (samples,), (samples, 1) or one-hot).
        sample_weight : array-like of shape (samples,) or (samples, steps), optional
        initial_epoch : int, default=0
            Epoch at which to start (for resuming).
        steps_per_epoch : int, optional
            Batches an epoch when ``x`` is a generator or PyDataset (by default ``len`` of a
            PyDataset, or until a generator stops).
        validation_steps : int, optional
            Batches of ``validation_data`` when it is a generator or PyDataset.
        mask : array-like of bool of shape (samples, steps), optional
            False marks a padded step of ``x`` (an alternative to a ``Masking`` layer, for
            data where no value can serve as the padding marker).
        seed : int or numpy.random.Generator, optional
            Draws the shuffling and dropout. A Generator is advanced, so passing the same one
            to successive fits continues its stream; by default a generator is drawn from the
            global seed (:func:`numbarnn.utils.set_random_seed`).

        Returns
        -------
        History
            ``history.history`` maps 'loss', each metric and their 'val_' forms to per-epoch values.

        Notes
        -----
        A non-finite loss raises ValueError naming the epoch and batch; it, any other
        exception and Ctrl-C (re-raised) leave the weights and the optimizer as they
        were at the end of the last completed epoch.
        """
        self._require_compiled("fit")
        batch_size = data.check_batch_size(batch_size)
        epochs, initial_epoch, shuffle, validation_split = data.check_fit_options(
            epochs, initial_epoch, shuffle, validation_split
        )
        verbose = data.check_verbose(verbose)
        user_callbacks = callbacks_module.check_callbacks(callbacks)
        if seed is not None:
            _fit_generator(seed)  # check it before any work
        if streams.is_stream(x):
            return self._fit_stream(x, y, batch_size, epochs, initial_epoch, verbose, user_callbacks, validation_split,
                                    validation_data, class_weight, sample_weight, steps_per_epoch, validation_steps,
                                    mask, seed)  # fmt: skip
        if steps_per_epoch is not None:
            raise ValueError("steps_per_epoch is for a generator or PyDataset x; with arrays give batch_size")
        d = self._prepare_fit_data(x, y, sample_weight, class_weight, validation_split, validation_data, mask)
        rng = _fit_generator(seed)  # drawn after building, which draws the initial weights
        n = d.x[0].shape[0]

        def epoch_batches():
            order = rng.permutation(n) if shuffle else None
            for idx in data.batches(n, batch_size, order):
                wb = None if d.sample_weight is None else d.sample_weight[idx]
                yield _take(d.x, idx), _take(d.y, idx), wb, _take(d.mask, idx)

        validate = None
        if d.validation is not None:
            def validate():
                return self._evaluate_arrays(*d.validation, batch_size=batch_size)
        return self._run_epochs(epoch_batches, -(-n // batch_size), validate, epochs, initial_epoch, verbose,
                                user_callbacks, rng)  # fmt: skip

    def _fit_stream(self, x, y, batch_size, epochs, initial_epoch, verbose, user_callbacks, validation_split,
                    validation_data, class_weight, sample_weight, steps_per_epoch, validation_steps, mask, seed):  # fmt: skip
        """``fit`` on batches from a generator or PyDataset, checked one batch at a time."""
        for name, value in (("y", y), ("sample_weight", sample_weight), ("class_weight", class_weight),
                            ("mask", mask)):  # fmt: skip
            if value is not None:
                raise ValueError(f"{name} must be None when x is a generator or PyDataset: its batches hold them")
        if validation_split:
            raise ValueError("validation_split needs arrays; with a generator or PyDataset give validation_data")
        source = streams.Stream(x, steps_per_epoch, "x")
        self._build_from(source)
        if validation_data is None:
            validate = None
        elif streams.is_stream(validation_data):
            val_source = streams.Stream(validation_data, validation_steps, "validation_data")

            def validate():
                return self._evaluate_batches(self._checked_batches(val_source), val_source.steps)
        else:
            val = self._prepare_validation(validation_data)

            def validate():
                return self._evaluate_arrays(*val, batch_size=batch_size)
        rng = _fit_generator(seed)
        return self._run_epochs(lambda: self._checked_batches(source), source.steps, validate, epochs, initial_epoch,
                                verbose, user_callbacks, rng, source)  # fmt: skip

    def _build_from(self, source):
        """Build the model from a source's first batch, leaving that batch to be read again."""
        if self.built:
            return
        if source.indexed:
            item = source.source[0]
        else:
            try:
                item = next(source.source)
            except StopIteration:
                raise ValueError(f"{source.what} gave no batch") from None
            source.source = itertools.chain([item], source.source)
        xb, yb, _ = streams.split_batch(item, source.what)
        was_built = self.built
        xs = self._prepare_x(xb, f"{source.what} batch 1 x")
        self._ensure_built(xs)
        try:
            self._prepare_y(yb, xs, f"{source.what} batch 1 y")
        except Exception:
            if not was_built:
                self._unbuild()
            raise

    def _checked_batches(self, source, targets=True):
        """Each item of one epoch of ``source`` as checked ``(xs, ys, sample_weight, masks)``."""
        for b, item in enumerate(source.batches()):
            xb, yb, wb = streams.split_batch(item, source.what, targets)
            xs = self._prepare_x(xb, f"{source.what} batch {b + 1} x")
            ys = self._prepare_y(yb, xs, f"{source.what} batch {b + 1} y") if targets else None
            sw = data.prepare_sample_weight(wb, xs[0].shape[0], f"{source.what} batch {b + 1} sample_weight")
            yield xs, ys, sw, [None] * len(xs)

    def _run_epochs(self, *args):
        """The epoch loop, refused while another thread runs ``fit`` on this model."""
        with _FIT_GUARD:
            if getattr(self, "_fitting", False):
                raise RuntimeError(
                    f"model {self.name!r} is already being trained by fit in another thread; two fits on one "
                    "model would corrupt it (train a copy, e.g. numbarnn.clone_model, in each thread)"
                )
            self._fitting = True
        try:
            self._device_begin()
            return self._epoch_loop(*args)
        finally:
            self._sync_host()  # a fit on the device ends with the host arrays up to date
            if self._planned is not None:
                self._planned.release()  # the kept training buffers: a step's worth of memory
            self._fitting = False

    def _epoch_loop(self, epoch_batches, steps, validate, epochs, initial_epoch, verbose, user_callbacks, rng,
                    source=None):  # fmt: skip
        """The epoch loop; rolls back to the last completed epoch on any failure.

        ``epoch_batches()`` yields one epoch's checked ``(xs, ys, sample_weight, masks)``;
        ``validate()`` returns the validation logs, or is None.
        """
        history = callbacks_module.History()
        cbs = [history] + ([callbacks_module.ProgbarLogger(verbose)] if verbose else []) + user_callbacks
        cbl = callbacks_module.CallbackList(cbs, self, {"epochs": epochs, "steps": steps, "verbose": verbose})
        self.stop_training = False
        self.training_generator = rng  # public while fit runs: BackupAndRestore saves and restores its state
        epoch = initial_epoch
        cbl.call("on_train_begin", {})
        resumed = [e for e in (cb.resume_epoch() for cb in cbs if hasattr(cb, "resume_epoch")) if e is not None]
        if resumed:
            initial_epoch = epoch = max([initial_epoch, *resumed])
        snapshot = self._snapshot()
        try:
            for epoch in range(initial_epoch, epochs):
                snapshot = self._snapshot()
                cbl.call("on_epoch_begin", epoch, {})
                self._reset_metrics()
                total, seen, sums = 0.0, 0, [0.0] * len(self._heads)
                for b, (xb, yb, wb, mb) in enumerate(epoch_batches()):
                    cbl.call("on_train_batch_begin", b, {})
                    value, values = self._train_step(xb, yb, wb, rng, b, mb)
                    size = xb[0].shape[0]
                    total += value * size
                    sums = [s if v is None else s + v * size for s, v in zip(sums, values)]
                    seen += size
                    cbl.call("on_train_batch_end", b, self._batch_logs(total, seen, sums))
                if source is not None and source.ran_out:
                    source.warn_ran_out(epochs)
                    if not seen:
                        break
                logs = self._batch_logs(total, seen, sums)
                if validate is not None:
                    logs.update({"val_" + k: v for k, v in validate().items()})
                if source is not None:
                    source.end_epoch()
                cbl.call("on_epoch_end", epoch, logs)
                if self.stop_training or (source is not None and source.ran_out):
                    break
        except _NonFiniteLoss as exc:
            self._restore(snapshot)
            raise ValueError(
                f"the loss became {exc.value} at epoch {epoch + 1}, batch {exc.batch + 1}; training stopped and the "
                f"model keeps the weights from the end of epoch {epoch} (try a lower learning rate, clipnorm, "
                f"or check the data)"
            ) from None
        except KeyboardInterrupt:
            self._restore(snapshot)
            print(
                f"\nTraining interrupted during epoch {epoch + 1}; the model keeps the weights from the end of "
                f"epoch {epoch}.",
                file=sys.stderr,
            )
            raise
        except BaseException:
            self._restore(snapshot)
            raise
        cbl.call("on_train_end", {})
        self.history = history
        return history

    def train_on_batch(self, x, y, sample_weight=None):
        """One optimizer step on one batch; returns the batch loss (with metrics: ``[loss, *metrics]``)."""
        self._require_compiled("train_on_batch")
        was_built = self.built
        xs = self._prepare_x(x)
        self._ensure_built(xs)
        try:
            ys = self._prepare_y(y, xs)
            sw = data.prepare_sample_weight(sample_weight, xs[0].shape[0])
        except Exception:
            if not was_built:
                self._unbuild()
            raise
        snapshot = self._snapshot()
        self._reset_metrics()
        try:
            value, values = self._train_step(xs, ys, sw, LazyGenerator(child_rng), 0)
        except _NonFiniteLoss as exc:
            self._restore(snapshot)
            raise ValueError(f"the loss became {exc.value}; the batch's update was not applied") from None
        except BaseException:
            self._restore(snapshot)
            raise
        logs = self._batch_logs(value, 1, values)
        return value if len(logs) == 1 else list(logs.values())

    # -- evaluation and prediction ------------------------------------------
    def _evaluate_arrays(self, xs, ys, sw, xm, batch_size, verbose=0):
        n = xs[0].shape[0]
        batches = ((_take(xs, idx), _take(ys, idx), None if sw is None else sw[idx], _take(xm, idx))
                   for idx in data.batches(n, batch_size))  # fmt: skip
        return self._evaluate_batches(batches, -(-n // batch_size), verbose)

    def _evaluate_batches(self, batches, steps, verbose=0):
        """Loss and metrics over checked ``(xs, ys, sample_weight, masks)`` batches, in inference mode."""
        if not getattr(self, "_fitting", False):  # (during fit the device holds the weights already)
            self._device_begin()
        self._reset_metrics()
        total, seen, sums = 0.0, 0, [0.0] * len(self._heads)
        bar = ProgressBar(steps, verbose) if verbose else None
        penalty = self._penalty()
        rng = LazyGenerator(_inference_rng)
        for b, (xb, yb, wb, mb) in enumerate(batches):
            preds, masks, _ = self._forward(xb, False, rng, mb)
            value, values, _, weights = self._losses(yb, preds, wb, masks)
            size = preds[0].shape[0]
            total += (value + penalty) * size
            sums = [s if v is None else s + v * size for s, v in zip(sums, values)]
            seen += size
            self._update_metrics(yb, preds, weights)
            if bar is not None:
                bar.update(b + 1, {"loss": total / seen})
        logs = self._batch_logs(total, seen, sums)
        if bar is not None:
            bar.finish(logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 return_dict=False, *, mask=None):  # fmt: skip
        """Loss (and metrics) of the model on ``x``, ``y``, in inference mode.

        Parameters
        ----------
        x, y : array-like
            As for :meth:`fit`.
        batch_size : int, default=32
        verbose : {0, 1, 2, 'auto'}, default='auto'
        sample_weight : array-like of shape (samples,) or (samples, steps), optional
        steps : int, optional
            Batches to read when ``x`` is a generator or PyDataset (by default all of them).
        return_dict : bool, default=False
        mask : array-like of bool of shape (samples, steps), optional
            False marks a padded step, as for :meth:`fit`.

        Returns
        -------
        float, or list ``[loss, *metrics]`` when metrics were compiled, or a dict with ``return_dict``
        """
        self._require_compiled("evaluate")
        batch_size = data.check_batch_size(batch_size)
        verbose = data.check_verbose(verbose)
        if streams.is_stream(x):
            if y is not None or sample_weight is not None or mask is not None:
                raise ValueError("y, sample_weight and mask must be None when x is a generator or PyDataset")
            source = streams.Stream(x, steps, "x")
            self._build_from(source)
            logs = self._evaluate_batches(self._checked_batches(source), source.steps, verbose)
            return logs if return_dict else _logs_value(logs)
        self._require_built("evaluate")
        xs = self._prepare_x(x)
        xm = self._prepare_masks(mask, xs)
        ys = self._prepare_y(y, xs)
        sw = data.prepare_sample_weight(sample_weight, xs[0].shape[0])
        logs = self._evaluate_arrays(xs, ys, sw, xm, batch_size, verbose)
        return logs if return_dict else _logs_value(logs)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, *, mask=None):
        """Outputs of the model for ``x``, in inference mode (no dropout).

        Parameters
        ----------
        x : array-like of shape (samples, steps, features) or (samples, steps), a list or dict, or batches
            As for :meth:`fit`; a generator or PyDataset gives ``x`` (or ``(x, ...)``) per batch.
        batch_size : int, default=32
        verbose : {0, 1, 2, 'auto'}, default='auto'
        steps : int, optional
            Batches to read when ``x`` is a generator or PyDataset (by default all of them).
        mask : array-like of bool of shape (samples, steps), optional
            False marks a padded step, as for :meth:`fit`.

        Returns
        -------
        ndarray of shape (samples, *output_shape), in the last layer's dtype (a list for several outputs)
        """
        verbose = data.check_verbose(verbose)
        rng = LazyGenerator(_inference_rng)
        if streams.is_stream(x):
            if mask is not None:
                raise ValueError("mask must be None when x is a generator or PyDataset")
            source = streams.Stream(x, steps, "x")
            if not self.built:
                self._build_from_inputs(source)
            batches = ((xs, masks) for xs, _, _, masks in self._checked_batches(source, targets=False))
            total = source.steps
        else:
            self._require_built("predict")
            batch_size = data.check_batch_size(batch_size)
            xs_all = self._prepare_x(x)
            xm = self._prepare_masks(mask, xs_all)
            n = xs_all[0].shape[0]
            batches = ((_take(xs_all, idx), _take(xm, idx)) for idx in data.batches(n, batch_size))
            total = -(-n // batch_size)
        bar = ProgressBar(total, verbose) if verbose else None
        outs = []
        self._device_begin()
        for b, (xb, mb) in enumerate(batches):
            outs.append(self._forward(xb, False, rng, mb)[0])
            if bar is not None:
                bar.update(b + 1)
        if bar is not None:
            bar.finish()
        if not outs:
            raise ValueError("x gave no batch to predict")
        joined = [o[0] if len(outs) == 1 else np.concatenate(o) for o in zip(*outs)]
        return self._unlist(joined)

    def _build_from_inputs(self, source):
        """Build an unbuilt model from the inputs of a source's first batch (for ``predict``)."""
        if source.indexed:
            item = source.source[0]
        else:
            try:
                item = next(source.source)
            except StopIteration:
                raise ValueError(f"{source.what} gave no batch") from None
            source.source = itertools.chain([item], source.source)
        xb, _, _ = streams.split_batch(item, source.what, targets=False)
        self._ensure_built(self._prepare_x(xb, f"{source.what} batch 1 x"))

    def __call__(self, x, training=False):
        """Apply the model to a batch (no batching, no progress bar); builds it on first use."""
        if is_symbolic(x):
            raise TypeError(
                "calling a model on symbolic tensors is not supported; build the larger model from the "
                "layers themselves (layer outputs and model.inputs / model.outputs can be reused)"
            )
        xs = self._prepare_x(x)
        self._ensure_built(xs)
        rng = LazyGenerator(child_rng if training else _inference_rng)
        return self._unlist(self._forward(xs, bool(training), rng)[0])

    def predict_on_batch(self, x):
        """Outputs for one batch ``x`` (same as :meth:`predict` without batching)."""
        self._require_built("predict_on_batch")
        return self._unlist(self._forward(self._prepare_x(x), False, LazyGenerator(_inference_rng))[0])

    def _unlist(self, outputs):
        return outputs[0] if len(outputs) == 1 else list(outputs)


@dataclass
class _DeviceSnapshot:
    """A rollback point of a model on the device: device copies of the weights and slots, the step count."""

    arrays: tuple
    iterations: int
    learning_rate: float


def _logs_value(logs):
    """``evaluate``'s value: the loss alone, or the list of the logs' values."""
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _take(arrays, idx):
    """``[a[idx] for a in arrays]`` (None entries stay None)."""
    return [None if a is None else a[idx] for a in arrays]
