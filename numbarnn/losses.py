"""Losses with Keras's names, maths and reduction, each with its gradient.

A loss maps ``y_true`` and ``y_pred`` (..., k) to one value per sample (and per
time step for sequence outputs), averaging over the last axis as Keras does;
the batch loss is the weighted sum of those values divided by their number
(masked steps excluded), Keras's ``sum_over_batch_size``. Probabilities are
clipped to [1e-7, 1 - 1e-7] as Keras clips them.
"""

import numpy as np

from ._missing import missing_names
from ._serialization import make_registry, resolve
from .activations import expit, log_softmax, softmax

__all__ = [
    "Loss",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Huber",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "get",
]

EPSILON = 1e-7


class Loss:
    """Base class. ``loss(y_true, y_pred, sample_weight=None)`` returns the reduced loss (a float).

    Subclasses implement ``values_and_gradient(y_true, y_pred)`` returning the
    per-sample values, shape ``y_pred.shape[:-1]``, and the gradient of each
    value with respect to ``y_pred``, shape ``y_pred.shape``.
    """

    sparse = False

    def __init__(self, name=None):
        self.name = name or _default_name(type(self))

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred, dtype=np.float64)
        y_true = self.check_target(y_true, y_pred.shape, np.float64)
        values, _ = self.values_and_gradient(y_true, y_pred)
        if sample_weight is None:
            return float(values.mean())
        w = np.asarray(sample_weight, dtype=np.float64)
        w = w.reshape(w.shape + (1,) * (values.ndim - w.ndim))  # (samples,) weights every step, as Keras
        w = np.broadcast_to(w, values.shape)
        return float((values * w).sum() / values.size)

    def check_target(self, y_true, pred_shape, dtype):
        """Return ``y_true`` in the form :meth:`values_and_gradient` takes, or raise ValueError/TypeError.

        Dense losses take an array of ``dtype`` shaped like the prediction (a
        missing trailing axis of one is added).
        """
        y = np.asarray(y_true)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"y must hold numbers for loss {self.name!r}; got dtype {y.dtype}")
        if y.dtype.kind == "f" and y.size and not np.isfinite(y).all():
            raise ValueError("y contains NaN or infinity")
        y = np.ascontiguousarray(y, dtype=dtype)
        if y.shape != tuple(pred_shape):
            if y.shape + (1,) == tuple(pred_shape):
                y = y[..., None]
            else:
                raise ValueError(
                    f"y has shape {y.shape} but the model's output has shape {tuple(pred_shape)} "
                    f"(loss {self.name!r} needs them equal)"
                )
        return y

    def values_and_gradient(self, y_true, y_pred):
        raise NotImplementedError

    def dense_target(self, y_true, y_pred):
        """``y_true`` (as :meth:`check_target` returns it) shaped like ``y_pred``, for metrics."""
        return y_true

    def get_config(self):
        """Return the constructor arguments as a JSON-friendly dict."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        """Create a loss from :meth:`get_config`'s output."""
        return cls(**config)


def _default_name(cls):
    from ._serialization import snake_case

    return snake_case(cls.__name__)


class MeanSquaredError(Loss):
    """``mean((y_true - y_pred)**2, axis=-1)``."""

    def values_and_gradient(self, y_true, y_pred):
        diff = y_pred - y_true
        k = y_pred.shape[-1]
        return (diff * diff).mean(axis=-1), diff * (2.0 / k)


class MeanAbsoluteError(Loss):
    """``mean(|y_true - y_pred|, axis=-1)``."""

    def values_and_gradient(self, y_true, y_pred):
        diff = y_pred - y_true
        return np.abs(diff).mean(axis=-1), np.sign(diff) / y_pred.shape[-1]


class Huber(Loss):
    """Quadratic within ``delta`` of the target, linear beyond: ``mean(h(y_pred - y_true), axis=-1)``."""

    def __init__(self, delta=1.0, name="huber_loss"):
        super().__init__(name)
        delta = float(delta)
        if not delta > 0:
            raise ValueError(f"delta must be positive; got {delta!r}")
        self.delta = delta

    def values_and_gradient(self, y_true, y_pred):
        diff = y_pred - y_true
        a = np.abs(diff)
        d = self.delta
        values = np.where(a <= d, 0.5 * diff * diff, d * a - 0.5 * d * d)
        grad = np.clip(diff, -d, d)
        k = y_pred.shape[-1]
        return values.mean(axis=-1), grad / k

    def get_config(self):
        return {"delta": self.delta, "name": self.name}


class BinaryCrossentropy(Loss):
    """``-mean(y log p + (1 - y) log(1 - p), axis=-1)``, p clipped; ``from_logits`` takes raw scores."""

    def __init__(self, from_logits=False, name="binary_crossentropy"):
        super().__init__(name)
        self.from_logits = bool(from_logits)

    def values_and_gradient(self, y_true, y_pred):
        k = y_pred.shape[-1]
        if self.from_logits:
            z = y_pred
            values = np.maximum(z, 0) - z * y_true + np.log1p(np.exp(-np.abs(z)))
            return values.mean(axis=-1), (expit(z) - y_true) / k
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        values = -(y_true * np.log(p) + (1 - y_true) * np.log1p(-p))
        grad = (p - y_true) / (p * (1 - p))
        grad *= (y_pred > EPSILON) & (y_pred < 1 - EPSILON)
        return values.mean(axis=-1), grad / k

    def get_config(self):
        return {"from_logits": self.from_logits, "name": self.name}


class CategoricalCrossentropy(Loss):
    """``-sum(y * log p, axis=-1)`` with p normalised to sum to one and clipped; one-hot ``y_true``."""

    def __init__(self, from_logits=False, name="categorical_crossentropy"):
        super().__init__(name)
        self.from_logits = bool(from_logits)

    def values_and_gradient(self, y_true, y_pred):
        if self.from_logits:
            values = -(y_true * log_softmax(y_pred, axis=-1)).sum(axis=-1)
            grad = softmax(y_pred, axis=-1) * y_true.sum(axis=-1, keepdims=True) - y_true
            return values, grad
        s = y_pred.sum(axis=-1, keepdims=True)
        q = y_pred / s
        qc = np.clip(q, EPSILON, 1 - EPSILON)
        values = -(y_true * np.log(qc)).sum(axis=-1)
        gq = np.where((q > EPSILON) & (q < 1 - EPSILON), -y_true / qc, 0.0)
        grad = (gq - (gq * q).sum(axis=-1, keepdims=True)) / s
        return values, grad

    def get_config(self):
        return {"from_logits": self.from_logits, "name": self.name}


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Categorical cross-entropy with integer class indices as ``y_true`` (shape ``y_pred.shape[:-1]``)."""

    sparse = True

    def __init__(self, from_logits=False, name="sparse_categorical_crossentropy"):
        super().__init__(from_logits, name)

    def check_target(self, y_true, pred_shape, dtype):
        """Return the class indices as an intp array of shape ``pred_shape[:-1]``, or raise."""
        y = np.asarray(y_true)
        if y.dtype.kind not in "biuf":
            raise TypeError(f"y must hold integer class indices for loss {self.name!r}; got dtype {y.dtype}")
        lead, n_classes = tuple(pred_shape[:-1]), pred_shape[-1]
        if y.shape == lead + (1,):
            y = y[..., 0]
        if y.shape != lead:
            raise ValueError(
                f"y has shape {y.shape} but loss {self.name!r} needs class indices of shape {lead} "
                f"for the model's output of shape {tuple(pred_shape)}"
            )
        if y.size and (not np.all(np.isfinite(y)) or np.any(y != np.round(y)) or y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"y must hold integer class indices in [0, {n_classes}) for loss {self.name!r}")
        return y.astype(np.intp)

    def dense_target(self, y_true, y_pred):
        return one_hot(y_true, y_pred.shape[-1], y_pred.dtype)

    def values_and_gradient(self, y_true, y_pred):
        return super().values_and_gradient(self.dense_target(y_true, y_pred), y_pred)


def one_hot(indices, n_classes, dtype):
    """One-hot array of shape ``indices.shape + (n_classes,)``."""
    out = np.zeros(indices.shape + (n_classes,), dtype)
    np.put_along_axis(out, indices[..., None], 1, axis=-1)
    return out


_REGISTRY = make_registry(
    MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy, CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    aliases={"mse": MeanSquaredError, "mae": MeanAbsoluteError, "huber_loss": Huber},
)  # fmt: skip


def get(identifier):
    """Return a :class:`Loss` from a name ('mse', 'binary_crossentropy', ...), a config dict or an instance.

    Examples
    --------
    >>> from numbarnn import losses
    >>> losses.get("mse")([[1.0], [2.0]], [[1.5], [2.0]])
    0.125
    """
    return resolve(identifier, "loss", _REGISTRY, Loss, allow_none=False)

__getattr__ = missing_names(__name__)
