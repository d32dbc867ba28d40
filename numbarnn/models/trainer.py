"""Training and inference for models: compile, fit, evaluate, predict, train_on_batch.

:class:`Trainer` is a base class of every model (Keras splits ``trainers/``
from ``models/`` the same way). It needs from the model only its layer graph
(``self.graph``), its declared sample shape, its weights and a way to build
itself on the first batch; the model classes own structure and configuration.

The Python loops here run over epochs, batches and layers, never over time
steps: each recurrent layer's forward or backward pass over a batch is one call
into the compiled engine. ``fit`` keeps a copy of the weights and optimizer
state at the start of every epoch, so an exception, a non-finite loss or
Ctrl-C leaves the model as it was after the last completed epoch.
"""

import math
import sys
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
from . import data

__all__ = ["Trainer"]


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


class Trainer:
    """Compile, fit, evaluate and predict for a model (see :class:`numbarnn.Sequential`).

    Attributes
    ----------
    optimizer : Optimizer or None
        Set by :meth:`compile`.
    loss : Loss or None
    compiled : bool
    history : History or None
        The last :meth:`fit`'s history.
    stop_training : bool
        Set to True by a callback to end training after the current epoch.
    """

    def _init_trainer(self):
        self.optimizer = None
        self.loss = None
        self._metric_specs = []
        self._metrics = None
        self._metrics_key = None
        self.compiled = False
        self.stop_training = False
        self.history = None

    # -- compile -------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Choose the optimizer, loss and metrics for training.

        Parameters
        ----------
        optimizer : str or Optimizer, default='rmsprop'
            'sgd', 'rmsprop', 'adam', 'adamw' or an instance.
        loss : str or Loss
            'mse', 'mae', 'huber', 'binary_crossentropy', 'categorical_crossentropy',
            'sparse_categorical_crossentropy' or an instance.
        metrics : list of str or Metric, optional
            'accuracy' (binary, categorical or sparse, from the shapes), 'mae', 'mse', ...
        """
        optimizer = optimizers_module.get(optimizer)
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='mse'")
        loss = losses_module.get(loss)
        if metrics is None:
            metrics = []
        elif isinstance(metrics, (str, metrics_module.Metric)):
            metrics = [metrics]
        elif isinstance(metrics, dict) or not hasattr(metrics, "__iter__"):
            raise TypeError(f"metrics must be a list of names or Metric objects; got {type(metrics).__name__}")
        metrics = list(metrics)
        for m in metrics:  # resolve once now so an unknown name fails here
            metrics_module.get(m, n_outputs=2)
        self.optimizer, self.loss, self._metric_specs = optimizer, loss, metrics
        self._metrics, self._metrics_key = None, None
        self.compiled = True

    def get_compile_config(self):
        """The optimizer, loss and metrics as a JSON-friendly dict, or None before :meth:`compile`."""
        if not self.compiled:
            return None
        specs = [m if isinstance(m, str) else serialize(m) for m in self._metric_specs]
        return {"optimizer": serialize(self.optimizer), "loss": serialize(self.loss), "metrics": specs}

    def compile_from_config(self, config):
        """Compile from :meth:`get_compile_config`'s output."""
        self.compile(optimizer=optimizers_module.get(config["optimizer"]), loss=losses_module.get(config["loss"]),
                     metrics=config["metrics"])  # fmt: skip

    def _require_compiled(self, what):
        if not self.compiled:
            raise RuntimeError(f"you must call compile(optimizer, loss) before {what}")

    @property
    def metrics_names(self):
        """Names of the values :meth:`evaluate` returns: 'loss', then each metric's."""
        return ["loss"] + [m.name for m in (self._metrics or [])]

    def _resolve_metrics(self, y_shape, pred_shape):
        sparse = pred_shape[-1] != 1 and (len(y_shape) < len(pred_shape) or y_shape[-1:] == (1,))
        key = (pred_shape[-1], sparse)
        if self._metrics is None or self._metrics_key != key:
            self._metrics = [metrics_module.get(m, n_outputs=pred_shape[-1], sparse_targets=sparse)
                             for m in self._metric_specs]  # fmt: skip
            self._metrics_key = key
        return self._metrics

    def _metric_target(self, yb, pred):
        y = self.loss.dense_target(yb, pred)
        if self._metrics_key[1] and not self.loss.sparse:  # sparse targets, dense loss
            idx = np.asarray(y).reshape(pred.shape[:-1]).astype(np.intp)
            y = losses_module.one_hot(idx, pred.shape[-1], pred.dtype)
        return y

    # -- input preparation ---------------------------------------------------
    def _prepare_x(self, x, name="x"):
        if not self.layers:
            raise ValueError("the model has no layers")
        return data.prepare_x(x, self._input_shape, self.layers[0], name)

    def _prepare_y(self, y, x, name="y"):
        pred_shape = (x.shape[0],) + self.compute_output_shape(x.shape[1:])
        raw, checked = data.prepare_y(y, x.shape[0], pred_shape, self.layers[-1].dtype, self.loss, name)
        self._resolve_metrics(raw.shape, pred_shape)
        return checked

    def _prepare_fit_data(self, x, y, sample_weight, class_weight, validation_split, validation_data, mask):
        """Check the training data and split off the validation set; builds the model on first use."""
        was_built = self.built
        x = self._prepare_x(x)
        xm = data.prepare_mask(mask, x)
        self._ensure_built(x)
        try:
            y_raw = y
            y = self._prepare_y(y, x)
            sw = data.prepare_sample_weight(sample_weight, x.shape[0])
            if class_weight is not None:
                cw = data.class_weights(class_weight, y_raw)
                sw = cw if sw is None else sw * (cw if sw.ndim == 1 else cw[:, None])
            val = None
            if validation_data is not None:
                val = self._prepare_validation(validation_data)
            elif validation_split > 0:
                split = int(math.floor(x.shape[0] * (1 - validation_split)))
                if split == 0 or split == x.shape[0]:
                    raise ValueError(
                        f"validation_split={validation_split} leaves no training or no validation samples "
                        f"out of {x.shape[0]}"
                    )
                val = (x[split:], y[split:], None if sw is None else sw[split:], None if xm is None else xm[split:])
                x, y, sw = x[:split], y[:split], (None if sw is None else sw[:split])
                xm = None if xm is None else xm[:split]
        except Exception:
            if not was_built:
                self._unbuild()
            raise
        return _FitData(x, y, sw, xm, val)

    def _prepare_validation(self, validation_data):
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight_val)")
        xv = self._prepare_x(validation_data[0], "validation_data x")
        yv = self._prepare_y(validation_data[1], xv, "validation_data y")
        wv = data.prepare_sample_weight(validation_data[2], xv.shape[0]) if len(validation_data) == 3 else None
        return xv, yv, wv, None

    # -- one batch -----------------------------------------------------------
    def _forward(self, x, training, rng, mask=None):
        with _threads.blas_single_thread():  # once here, rather than once per layer
            return self.graph.forward(x, mask, training, rng)

    def _loss(self, yb, pred, wb, mask):
        values, grad = self.loss.values_and_gradient(yb, pred)
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

    def _penalty(self):
        return self.graph.regularization_penalty()

    def _train_step(self, xb, yb, wb, rng, batch_index, mb=None):
        with _threads.blas_single_thread():  # once per step, rather than once per layer and pass
            graph = self.graph
            pred, mask, caches = graph.forward(xb, mb, True, rng)
            value, g, weights = self._loss(yb, pred, wb, mask)
            value += self._penalty()
            if not math.isfinite(value):
                raise _NonFiniteLoss(value, batch_index)
            self.optimizer.apply(graph.backward(caches, g), self.trainable_weights)
            ytrue = None
            for m in self._metrics:
                ytrue = self._metric_target(yb, pred) if ytrue is None else ytrue
                m.update(ytrue, pred, weights)
        return value

    def _snapshot(self):
        opt = self.optimizer.get_state() if self.optimizer is not None else None
        return self.get_weights() if self.built else None, opt

    def _restore(self, snapshot):
        weights, opt = snapshot
        if weights is not None:
            for w, saved in zip(self.weights, weights):
                w[...] = saved
        if opt is not None:
            self.optimizer.set_state(opt)

    # -- training ------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0, *,
            mask=None, seed=None):  # fmt: skip
        """Train the model for ``epochs`` passes over the data.

        Parameters
        ----------
        x : array-like of shape (samples, steps, features) or (samples, steps)
            Numbers (float, int or bool); 2-D input is one feature per step (or
            integer indices for a model that starts with an Embedding).
        y : array-like of shape (samples, outputs), (samples,) or (samples, steps, outputs)
            Targets shaped like the model's output (class indices for a sparse loss).
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
        fit_data = self._prepare_fit_data(x, y, sample_weight, class_weight, validation_split, validation_data, mask)
        rng = _fit_generator(seed)  # drawn after building, which draws the initial weights
        return self._run_epochs(fit_data, batch_size, epochs, initial_epoch, verbose, user_callbacks, shuffle, rng)

    def _run_epochs(self, d, batch_size, epochs, initial_epoch, verbose, user_callbacks, shuffle, rng):
        """The epoch loop over checked data; rolls back to the last completed epoch on any failure."""
        n = d.x.shape[0]
        steps = -(-n // batch_size)
        history = callbacks_module.History()
        cbs = [history] + ([callbacks_module.ProgbarLogger(verbose)] if verbose else []) + user_callbacks
        cbl = callbacks_module.CallbackList(cbs, self, {"epochs": epochs, "steps": steps, "verbose": verbose})
        self.stop_training = False
        snapshot = self._snapshot()
        epoch = initial_epoch
        cbl.call("on_train_begin", {})
        try:
            for epoch in range(initial_epoch, epochs):
                snapshot = self._snapshot()
                cbl.call("on_epoch_begin", epoch, {})
                for m in self._metrics:
                    m.reset()
                total, seen = 0.0, 0
                order = rng.permutation(n) if shuffle else None
                for b, idx in enumerate(data.batches(n, batch_size, order)):
                    cbl.call("on_train_batch_begin", b, {})
                    xb, yb = d.x[idx], d.y[idx]
                    mb = None if d.mask is None else d.mask[idx]
                    wb = None if d.sample_weight is None else d.sample_weight[idx]
                    value = self._train_step(xb, yb, wb, rng, b, mb)
                    total += value * len(xb)
                    seen += len(xb)
                    logs = {"loss": total / seen, **{m.name: m.result() for m in self._metrics}}
                    cbl.call("on_train_batch_end", b, logs)
                logs = {"loss": total / seen, **{m.name: m.result() for m in self._metrics}}
                if d.validation is not None:
                    val_logs = self._evaluate_arrays(*d.validation, batch_size=batch_size)
                    logs.update({"val_" + k: v for k, v in val_logs.items()})
                cbl.call("on_epoch_end", epoch, logs)
                if self.stop_training:
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
        x = self._prepare_x(x)
        self._ensure_built(x)
        try:
            y = self._prepare_y(y, x)
            sw = data.prepare_sample_weight(sample_weight, x.shape[0])
        except Exception:
            if not was_built:
                self._unbuild()
            raise
        snapshot = self._snapshot()
        for m in self._metrics:
            m.reset()
        try:
            value = self._train_step(x, y, sw, LazyGenerator(child_rng), 0)
        except _NonFiniteLoss as exc:
            self._restore(snapshot)
            raise ValueError(f"the loss became {exc.value}; the batch's update was not applied") from None
        except BaseException:
            self._restore(snapshot)
            raise
        return value if not self._metrics else [value] + [m.result() for m in self._metrics]

    # -- evaluation and prediction ------------------------------------------
    def _evaluate_arrays(self, x, y, sw, xm, batch_size, verbose=0):
        metrics = self._metrics
        for m in metrics:
            m.reset()
        total, seen = 0.0, 0
        n = x.shape[0]
        bar = ProgressBar(-(-n // batch_size), verbose) if verbose else None
        penalty = self._penalty()
        rng = LazyGenerator(_inference_rng)
        for b, idx in enumerate(data.batches(n, batch_size)):
            pred, mask, _ = self._forward(x[idx], False, rng, None if xm is None else xm[idx])
            value, _, weights = self._loss(y[idx], pred, None if sw is None else sw[idx], mask)
            total += (value + penalty) * pred.shape[0]
            seen += pred.shape[0]
            if metrics:
                ytrue = self._metric_target(y[idx], pred)
                for m in metrics:
                    m.update(ytrue, pred, weights)
            if bar is not None:
                bar.update(b + 1, {"loss": total / seen})
        logs = {"loss": total / seen, **{m.name: m.result() for m in metrics}}
        if bar is not None:
            bar.finish(logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, return_dict=False, *,
                 mask=None):  # fmt: skip
        """Loss (and metrics) of the model on ``x``, ``y``, in inference mode.

        Parameters
        ----------
        x, y : array-like
            As for :meth:`fit`.
        batch_size : int, default=32
        verbose : {0, 1, 2, 'auto'}, default='auto'
        sample_weight : array-like of shape (samples,) or (samples, steps), optional
        return_dict : bool, default=False
        mask : array-like of bool of shape (samples, steps), optional
            False marks a padded step, as for :meth:`fit`.

        Returns
        -------
        float, or list ``[loss, *metrics]`` when metrics were compiled, or a dict with ``return_dict``
        """
        self._require_compiled("evaluate")
        self._require_built("evaluate")
        batch_size = data.check_batch_size(batch_size)
        verbose = data.check_verbose(verbose)
        x = self._prepare_x(x)
        xm = data.prepare_mask(mask, x)
        y = self._prepare_y(y, x)
        sw = data.prepare_sample_weight(sample_weight, x.shape[0])
        logs = self._evaluate_arrays(x, y, sw, xm, batch_size, verbose)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", *, mask=None):
        """Outputs of the model for ``x``, in inference mode (no dropout).

        Parameters
        ----------
        x : array-like of shape (samples, steps, features) or (samples, steps)
        batch_size : int, default=32
        verbose : {0, 1, 2, 'auto'}, default='auto'
        mask : array-like of bool of shape (samples, steps), optional
            False marks a padded step, as for :meth:`fit`.

        Returns
        -------
        ndarray of shape (samples, *output_shape), in the last layer's dtype
        """
        self._require_built("predict")
        batch_size = data.check_batch_size(batch_size)
        verbose = data.check_verbose(verbose)
        x = self._prepare_x(x)
        xm = data.prepare_mask(mask, x)
        n = x.shape[0]
        bar = ProgressBar(-(-n // batch_size), verbose) if verbose else None
        rng = LazyGenerator(_inference_rng)
        outs = []
        for b, idx in enumerate(data.batches(n, batch_size)):
            outs.append(self._forward(x[idx], False, rng, None if xm is None else xm[idx])[0])
            if bar is not None:
                bar.update(b + 1)
        if bar is not None:
            bar.finish()
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def __call__(self, x, training=False):
        """Apply the model to a batch (no batching, no progress bar); builds it on first use."""
        x = self._prepare_x(x)
        self._ensure_built(x)
        rng = LazyGenerator(child_rng if training else _inference_rng)
        return self._forward(x, bool(training), rng)[0]

    def predict_on_batch(self, x):
        """Outputs for one batch ``x`` (same as :meth:`predict` without batching)."""
        self._require_built("predict_on_batch")
        return self._forward(self._prepare_x(x), False, LazyGenerator(_inference_rng))[0]
