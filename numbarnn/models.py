"""Sequential: a stack of layers with Keras's compile / fit / evaluate / predict / summary.

The Python loops here run over epochs, batches and layers, never over time
steps: each recurrent layer's forward or backward pass over a batch is one call
into the compiled engine. ``fit`` keeps a copy of the weights and optimizer
state at the start of every epoch, so an exception, a non-finite loss or
Ctrl-C leaves the model as it was after the last completed epoch.
"""

import math
import sys

import numpy as np

from . import callbacks as callbacks_module
from . import losses as losses_module
from . import metrics as metrics_module
from . import _threads
from . import optimizers as optimizers_module
from ._progress import ProgressBar
from ._random import LazyGenerator, child_rng
from ._serialization import serialize
from ._validation import is_integer
from .layers import InputLayer, Layer, deserialize
from .layers import serialize as serialize_layer
from .layers.base import checked_weights, unique_name

__all__ = ["Sequential"]


class _NonFiniteLoss(Exception):
    def __init__(self, value, batch):
        self.value, self.batch = value, batch


def _positive_int(value, name, allow_zero=False):
    if not is_integer(value) or value < (0 if allow_zero else 1):
        raise ValueError(f"{name} must be {'a non-negative' if allow_zero else 'a positive'} integer; got {value!r}")
    return int(value)


def _inference_rng():
    # Inference draws no random numbers; layers still receive a generator.
    return np.random.default_rng(0)


def _verbosity(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, float):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto'; got {verbose!r}")
    return int(verbose)


def _describe_shape(shape):
    return "(samples, " + ", ".join("any" if s is None else str(s) for s in shape) + ")"


class Sequential:
    """A linear stack of layers, trained with Keras's API.

    Parameters
    ----------
    layers : list of Layer, optional
        May start with ``Input(shape)``; or give ``input_shape=`` to the first layer.
    name : str, optional

    Attributes
    ----------
    layers : list of Layer
    optimizer : Optimizer or None
        Set by :meth:`compile`.
    loss : Loss or None
    history : History or None
        The last :meth:`fit`'s history.
    stop_training : bool
        Set to True by a callback to end training after the current epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn import Sequential, LSTM, Dense
    >>> from numbarnn.utils import set_random_seed
    >>> set_random_seed(0)
    >>> X = np.random.default_rng(0).random((64, 10, 1))
    >>> y = X.sum(axis=1)
    >>> model = Sequential([LSTM(16, input_shape=(10, 1)), Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> history = model.fit(X, y, epochs=2, batch_size=16, verbose=0)
    >>> sorted(history.history)
    ['loss']
    >>> model.predict(X[:3], verbose=0).shape
    (3, 1)
    """

    def __init__(self, layers=None, name=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string; got {type(name).__name__}")
        self.name = name or unique_name("sequential")
        self._layers = []
        self._input_layer = None
        self._input_shape = None
        self.built = False
        self.optimizer = None
        self.loss = None
        self._metric_specs = []
        self._metrics = None
        self._metrics_key = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._generator = None  # a numpy Generator for fit's shuffling and dropout; None draws a fresh one
        if layers is not None:
            if isinstance(layers, Layer):
                layers = [layers]
            for layer in layers:
                self.add(layer)

    # -- structure -----------------------------------------------------------
    @property
    def layers(self):
        """The model's layers, in order (an ``Input`` is not one)."""
        return list(self._layers)

    def add(self, layer):
        """Append a layer (or, first, an ``Input``); builds it when the input shape is known."""
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("an Input can only be the first element of a Sequential model")
            self._input_layer = layer
            self._input_shape = layer.shape
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add takes a Layer (e.g. LSTM, Dense); got {type(layer).__name__}")
        if any(layer is other for other in self._layers):
            raise ValueError(f"layer {layer.name!r} is already in the model")
        if not self._layers and self._input_shape is None and layer.input_shape is not None:
            self._input_shape = layer.input_shape
        self._layers.append(layer)
        if self._input_shape is not None:
            try:
                self._build(self._input_shape)
            except Exception:
                self._layers.pop()
                raise

    def pop(self):
        """Remove the last layer."""
        if not self._layers:
            raise ValueError("there is no layer to pop")
        self._layers.pop()
        self.built = bool(self._layers) and self.built

    def _build(self, sample_shape):
        shape = tuple(sample_shape)
        for layer in self._layers:
            layer.check_input_shape(shape)
            if not layer.built:
                layer.build(shape)
            elif layer.built_input_shape[-1] != shape[-1] or len(layer.built_input_shape) != len(shape):
                raise ValueError(
                    f"layer {layer.name!r} was built for inputs of shape {layer.built_input_shape}; "
                    f"here it would get {shape}"
                )
            shape = layer.compute_output_shape(shape)
        self._input_shape = tuple(sample_shape)
        self.built = bool(self._layers)
        return shape

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of ``input_shape`` (batch axis included, as Keras).

        Parameters
        ----------
        input_shape : tuple, optional
            For example ``(None, 10, 1)``; by default the shape the model was declared with.
        """
        if input_shape is None:
            if self._input_shape is None:
                raise ValueError("build needs an input_shape, e.g. model.build((None, steps, features))")
            sample = self._input_shape
        else:
            try:
                sample = tuple(input_shape)[1:]
            except TypeError:
                raise TypeError(f"input_shape must be a tuple; got {input_shape!r}") from None
            if not sample:
                raise ValueError(f"input_shape must include the batch axis, e.g. (None, 10, 1); got {input_shape!r}")
        if not self._layers:
            raise ValueError("the model has no layers to build")
        self._build(sample)

    def _output_shape(self, sample_shape):
        shape = tuple(sample_shape)
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    # -- weights -------------------------------------------------------------
    @property
    def weights(self):
        """All weight arrays (live), layer by layer, in Keras's order."""
        return [w for layer in self._layers for w in layer.weights]

    def _trainable(self):
        return [w for layer in self._layers for w in layer.trainable_weights]

    def get_weights(self):
        """Copies of every layer's weights, in Keras's order.

        Returns
        -------
        list of ndarray
        """
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Set every layer's weights from a list in Keras's order; checks all shapes before changing any."""
        self._require_built("set_weights")
        current = self.weights
        names = [f"{layer.name}/{n}" for layer in self._layers for n in layer._weight_names]
        for w, arr in zip(current, checked_weights(f"model {self.name!r}", names, current, weights)):
            w[...] = arr

    def count_params(self):
        """Total number of weight values."""
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self._layers)

    def _require_built(self, what):
        if not self.built:
            raise ValueError(
                f"the model is not built yet, so {what} cannot run: give the first layer input_shape=, "
                f"start with an Input, call build, or fit the model first"
            )

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

    # -- input checks --------------------------------------------------------
    def _prepare_x(self, x, name="x"):
        if not self._layers:
            raise ValueError("the model has no layers")
        if x is None:
            raise TypeError(f"{name} must be an array of numbers; got None")
        try:
            arr = np.asarray(x)
        except Exception as exc:
            raise ValueError(f"{name} must be a rectangular array of numbers: {exc}") from exc
        if arr.dtype.kind == "O":
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"{name} must hold numbers; got an object array that does not") from None
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must be an array of numbers (float, int or bool); got dtype {arr.dtype}")
        if arr.ndim < 1 or arr.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one sample; got shape {arr.shape}")
        first = self._layers[0]
        if not first.integer_input and arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinity")
        expected = self._input_shape
        ndim = len(expected) if expected is not None else first.input_ndim
        if ndim == 2 and arr.ndim == 2:
            arr = arr[:, :, None]  # (samples, steps) is one feature per step
        if ndim is not None and arr.ndim - 1 != ndim:
            want = _describe_shape(expected) if expected is not None else f"{ndim + 1}-D"
            raise ValueError(f"{name} must have shape {want} for this model; got shape {np.shape(x)}")
        if expected is not None:
            for s, a in zip(expected, arr.shape[1:]):
                if s is not None and s != a:
                    raise ValueError(
                        f"{name} must have shape {_describe_shape(expected)} for this model; got shape {np.shape(x)}"
                    )
        if first.integer_input:
            first.check_indices(arr)
        # No conversion here: each batch is converted by the first layer, so a large bool or
        # int array (one-hot text) is never copied whole into floats.
        return arr

    def _prepare_mask(self, mask, x):
        if mask is None:
            return None
        m = np.asarray(mask)
        if x.ndim < 3 or m.shape != x.shape[:2]:
            raise ValueError(f"mask must have shape (samples, steps) = {x.shape[:2]}; got shape {m.shape}")
        if m.dtype != np.bool_:
            if m.dtype.kind not in "biuf" or not np.isin(m, (0, 1)).all():
                raise TypeError("mask must hold booleans (or 0/1)")
            m = m.astype(bool)
        return m

    def _ensure_built(self, x):
        if not self.built:
            shape = list(x.shape[1:])
            if self._layers[0].input_ndim == 2 and len(shape) == 2:
                shape[0] = None  # recurrent models take any number of steps
            self._build(tuple(shape))

    def _unbuild(self):
        for layer in self._layers:
            for sub in (layer, getattr(layer, "forward_layer", None), getattr(layer, "backward_layer", None),
                        getattr(layer, "layer", None)):  # fmt: skip
                if sub is not None:
                    sub.built = False
                    sub.built_input_shape = None
        self.built = False
        self._input_shape = self._input_layer.shape if self._input_layer is not None else (
            self._layers[0].input_shape if self._layers else None
        )

    def _prepare_y(self, y, x, name="y"):
        if y is None:
            raise TypeError(f"{name} must be an array of targets; got None")
        try:
            arr = np.asarray(y)
        except Exception as exc:
            raise ValueError(f"{name} must be a rectangular array of numbers: {exc}") from exc
        if arr.ndim < 1 or arr.shape[0] != x.shape[0]:
            raise ValueError(
                f"x and {name} must hold the same number of samples; got {x.shape[0]} and "
                f"{arr.shape[0] if arr.ndim else 'a scalar'}"
            )
        pred_shape = (x.shape[0],) + self._output_shape(x.shape[1:])
        out_dtype = self._layers[-1].dtype
        try:
            checked = self.loss.check_target(arr, pred_shape, out_dtype)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{name}: {exc}") from None
        self._resolve_metrics(arr.shape, pred_shape)
        return checked

    def _prepare_weights(self, sample_weight, n, name="sample_weight"):
        if sample_weight is None:
            return None
        w = np.asarray(sample_weight)
        if w.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers; got dtype {w.dtype}")
        if w.ndim not in (1, 2) or w.shape[0] != n:
            raise ValueError(f"{name} must have shape (samples,) or (samples, steps) with {n} samples; got {w.shape}")
        w = w.astype(np.float64)
        if not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(f"{name} must hold finite numbers >= 0")
        return w

    def _class_weights(self, class_weight, y):
        if not isinstance(class_weight, dict):
            raise TypeError(f"class_weight must be a dict of class index to weight; got {type(class_weight).__name__}")
        y = np.asarray(y)
        if y.ndim > 2:
            raise ValueError("class_weight is not supported for sequence targets; use sample_weight")
        labels = y.argmax(axis=-1) if (y.ndim == 2 and y.shape[1] > 1) else np.round(y.reshape(len(y), -1)[:, 0])
        labels = labels.astype(np.int64)
        missing = sorted(set(np.unique(labels).tolist()) - {int(k) for k in class_weight})
        if missing:
            raise ValueError(f"class_weight has no weight for class(es) {missing}")
        table = {int(k): float(v) for k, v in class_weight.items()}
        return np.array([table[c] for c in labels], np.float64)

    # -- computation ---------------------------------------------------------
    def _forward(self, x, training, rng, mask=None):
        h, caches = x, []
        with _threads.blas_single_thread():  # once here, rather than once per layer
            for layer in self._layers:
                h, mask, cache = layer.forward(h, mask, training, rng)
                caches.append(cache)
        return h, mask, caches

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
        return sum(layer.regularization_penalty() for layer in self._layers)

    def _train_step(self, xb, yb, wb, rng, batch_index, mb=None):
        with _threads.blas_single_thread():  # once per step, rather than once per layer and pass
            return self._train_step_body(xb, yb, wb, rng, batch_index, mb)

    def _train_step_body(self, xb, yb, wb, rng, batch_index, mb):
        pred, mask, caches = self._forward(xb, True, rng, mb)
        value, g, weights = self._loss(yb, pred, wb, mask)
        value += self._penalty()
        if not math.isfinite(value):
            raise _NonFiniteLoss(value, batch_index)
        grads = []
        for i in range(len(self._layers) - 1, -1, -1):
            layer = self._layers[i]
            dx, layer_grads = layer.backward(caches[i], g)
            if layer.trainable and layer_grads:
                grads[:0] = layer.add_regularization_gradients(list(layer_grads))
            g = dx
            if g is None:
                break
        self.optimizer.apply(grads, self._trainable())
        ytrue = None
        for m in self._metrics:
            ytrue = self._metric_target(yb, pred) if ytrue is None else ytrue
            m.update(ytrue, pred, weights)
        return value

    def _batches(self, n, batch_size, order=None):
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size] if order is not None else slice(start, start + batch_size)

    # -- training ------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0, *,
            mask=None):  # fmt: skip
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
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        epochs = _positive_int(epochs, "epochs", allow_zero=True)
        initial_epoch = _positive_int(initial_epoch, "initial_epoch", allow_zero=True)
        verbose = _verbosity(verbose)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False; got {shuffle!r}")
        if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float, np.floating)):
            raise TypeError(f"validation_split must be a float in [0, 1); got {validation_split!r}")
        if not 0 <= validation_split < 1:
            raise ValueError(f"validation_split must be in [0, 1); got {validation_split!r}")
        user_callbacks = callbacks_module.check_callbacks(callbacks)

        was_built = self.built
        x = self._prepare_x(x)
        xm = self._prepare_mask(mask, x)
        self._ensure_built(x)
        try:
            y_raw = y
            y = self._prepare_y(y, x)
            sw = self._prepare_weights(sample_weight, x.shape[0])
            if class_weight is not None:
                cw = self._class_weights(class_weight, y_raw)
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

        n = x.shape[0]
        steps = -(-n // batch_size)
        history = callbacks_module.History()
        cbs = [history] + ([callbacks_module.ProgbarLogger(verbose)] if verbose else []) + user_callbacks
        cbl = callbacks_module.CallbackList(cbs, self, {"epochs": epochs, "steps": steps, "verbose": verbose})
        rng = self._generator if self._generator is not None else child_rng()
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
                for b, idx in enumerate(self._batches(n, batch_size, order)):
                    cbl.call("on_train_batch_begin", b, {})
                    xb, yb = x[idx], y[idx]
                    mb = None if xm is None else xm[idx]
                    value = self._train_step(xb, yb, None if sw is None else sw[idx], rng, b, mb)
                    total += value * len(xb)
                    seen += len(xb)
                    logs = {"loss": total / seen, **{m.name: m.result() for m in self._metrics}}
                    cbl.call("on_train_batch_end", b, logs)
                logs = {"loss": total / seen, **{m.name: m.result() for m in self._metrics}}
                if val is not None:
                    val_logs = self._evaluate_arrays(*val, batch_size=batch_size)
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

    def _prepare_validation(self, validation_data):
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight_val)")
        xv = self._prepare_x(validation_data[0], "validation_data x")
        yv = self._prepare_y(validation_data[1], xv, "validation_data y")
        wv = self._prepare_weights(validation_data[2], xv.shape[0]) if len(validation_data) == 3 else None
        return xv, yv, wv, None

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
        for b, idx in enumerate(self._batches(n, batch_size)):
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
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        verbose = _verbosity(verbose)
        x = self._prepare_x(x)
        xm = self._prepare_mask(mask, x)
        y = self._prepare_y(y, x)
        sw = self._prepare_weights(sample_weight, x.shape[0])
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
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        verbose = _verbosity(verbose)
        x = self._prepare_x(x)
        xm = self._prepare_mask(mask, x)
        n = x.shape[0]
        bar = ProgressBar(-(-n // batch_size), verbose) if verbose else None
        rng = LazyGenerator(_inference_rng)
        outs = []
        for b, idx in enumerate(self._batches(n, batch_size)):
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

    def train_on_batch(self, x, y, sample_weight=None):
        """One optimizer step on one batch; returns the batch loss (with metrics: ``[loss, *metrics]``)."""
        self._require_compiled("train_on_batch")
        was_built = self.built
        x = self._prepare_x(x)
        self._ensure_built(x)
        try:
            y = self._prepare_y(y, x)
            sw = self._prepare_weights(sample_weight, x.shape[0])
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

    # -- description ---------------------------------------------------------
    def summary(self, print_fn=None):
        """Print the layers, their output shapes and parameter counts, and the totals.

        Parameters
        ----------
        print_fn : callable, optional
            Called with each line; ``print`` by default.
        """
        print_fn = print_fn or print
        widths = (33, 26, 12)
        rule = "_" * sum(widths)
        print_fn(f'Model: "{self.name}"')
        print_fn(rule)
        print_fn("".join(h.ljust(w) for h, w in zip(("Layer (type)", "Output Shape", "Param #"), widths)))
        print_fn("=" * sum(widths))
        shape = self._input_shape
        total = trainable = 0
        for layer in self._layers:
            if self.built and shape is not None:
                shape = layer.compute_output_shape(shape)
                out = "(None, " + ", ".join("None" if s is None else str(s) for s in shape) + ")"
                n = layer.count_params()
                params = f"{n:,}"
            else:
                out, n, params = "?", 0, "0 (unbuilt)"
            total += n
            trainable += n if layer.trainable else 0
            print_fn("".join(c.ljust(w) for c, w in zip((f"{layer.name} ({type(layer).__name__})", out, params), widths)))
        print_fn("=" * sum(widths))
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {total - trainable:,}")
        print_fn(rule)

    # -- config and saving ---------------------------------------------------
    def get_config(self):
        """The model's architecture as a JSON-friendly dict."""
        layers = [serialize_layer(self._input_layer)] if self._input_layer is not None else []
        return {"name": self.name, "layers": layers + [serialize_layer(layer) for layer in self._layers]}

    @classmethod
    def from_config(cls, config):
        """Create an unbuilt model from :meth:`get_config`'s output."""
        return cls([deserialize(spec) for spec in config["layers"]], name=config.get("name"))

    def _compile_config(self):
        if not self.compiled:
            return None
        specs = [m if isinstance(m, str) else serialize(m) for m in self._metric_specs]
        return {"optimizer": serialize(self.optimizer), "loss": serialize(self.loss), "metrics": specs}

    def save(self, filepath):
        """Save architecture, weights and optimizer state to one file (a zip of arrays and JSON; no pickle).

        Load it with :func:`numbarnn.load_model`.
        """
        from .saving import save_model

        save_model(self, filepath)

    def save_weights(self, filepath):
        """Save only the weights (a zip of arrays); load them with :meth:`load_weights`."""
        from .saving import save_weights

        save_weights(self, filepath)

    def load_weights(self, filepath):
        """Load weights saved by :meth:`save_weights` or :meth:`save` into this (built) model."""
        from .saving import load_weights

        load_weights(self, filepath)
