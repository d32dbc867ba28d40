"""Metrics reported by ``fit`` and ``evaluate``: accuracy (binary, categorical, sparse), MAE, MSE.

Each metric is a weighted mean over all samples (and unmasked time steps) seen
since its last reset. ``'accuracy'`` (or ``'acc'``) picks its kind from the
shapes, as Keras 3 does: binary when the model has one output unit, sparse
when the targets hold class indices, categorical when they are one-hot.
"""

import numpy as np

from ._missing import missing_names
from ._serialization import make_registry, snake_case

__all__ = [
    "Metric",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "get",
]


class Metric:
    """A running weighted mean of a per-sample value.

    ``update(y_true, y_pred, weights)`` takes the target as the loss checked it
    (``y_true`` shaped like ``y_pred``, one-hot for sparse targets) and weights of
    shape ``y_pred.shape[:-1]``; ``result()`` returns the mean so far.
    """

    def __init__(self, name=None):
        self.name = name or snake_case(type(self).__name__)
        self.reset()

    def reset(self):
        """Forget every update."""
        self._total = 0.0
        self._count = 0.0

    def update(self, y_true, y_pred, weights=None):
        """Add a batch: arrays of shape (..., k) and optional weights of shape (...)."""
        values = self.values(y_true, y_pred)
        if weights is None:
            self._total += float(values.sum())
            self._count += values.size
        else:
            self._total += float((values * weights).sum())
            self._count += float(np.broadcast_to(weights, values.shape).sum())

    def result(self):
        """The weighted mean of every value since the last reset (0.0 before any)."""
        return self._total / self._count if self._count else 0.0

    def values(self, y_true, y_pred):
        raise NotImplementedError

    def get_config(self):
        """Return the constructor arguments as a JSON-friendly dict."""
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        """Create a metric from :meth:`get_config`'s output."""
        return cls(**config)


class BinaryAccuracy(Metric):
    """Share of predictions on the right side of ``threshold`` (0.5)."""

    def __init__(self, name="binary_accuracy", threshold=0.5):
        self.threshold = float(threshold)
        super().__init__(name)

    def values(self, y_true, y_pred):
        return ((y_pred > self.threshold) == (y_true > self.threshold)).mean(axis=-1)

    def get_config(self):
        return {"name": self.name, "threshold": self.threshold}


class CategoricalAccuracy(Metric):
    """Share of predictions whose largest entry is the target's class."""

    def __init__(self, name="categorical_accuracy"):
        super().__init__(name)

    def values(self, y_true, y_pred):
        return (y_pred.argmax(axis=-1) == y_true.argmax(axis=-1)).astype(np.float64)


class SparseCategoricalAccuracy(CategoricalAccuracy):
    """Categorical accuracy for integer class targets (checked into one-hot form by the loss)."""

    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(name)


class MeanAbsoluteError(Metric):
    """``mean(|y_true - y_pred|, axis=-1)``."""

    def __init__(self, name="mean_absolute_error"):
        super().__init__(name)

    def values(self, y_true, y_pred):
        return np.abs(y_pred - y_true).mean(axis=-1)


class MeanSquaredError(Metric):
    """``mean((y_true - y_pred)**2, axis=-1)``."""

    def __init__(self, name="mean_squared_error"):
        super().__init__(name)

    def values(self, y_true, y_pred):
        return np.square(y_pred - y_true).mean(axis=-1)


_REGISTRY = make_registry(
    BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, MeanAbsoluteError, MeanSquaredError,
    aliases={"mae": MeanAbsoluteError, "mse": MeanSquaredError},
)  # fmt: skip


def get(identifier, n_outputs=None, sparse_targets=False):
    """Return a :class:`Metric` from a name, a config dict or an instance.

    Parameters
    ----------
    identifier : str, dict or Metric
    n_outputs : int, optional
        Size of the model's last axis; with ``sparse_targets`` it decides what
        ``'accuracy'`` means.
    sparse_targets : bool, default=False
        Whether the targets are class indices (one axis fewer than the output, or a trailing axis of 1).

    Examples
    --------
    >>> from numbarnn import metrics
    >>> type(metrics.get("accuracy", n_outputs=1)).__name__
    'BinaryAccuracy'
    >>> type(metrics.get("acc", n_outputs=10)).__name__
    'CategoricalAccuracy'
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        if n_outputs == 1:
            return BinaryAccuracy(name=identifier)
        if sparse_targets:
            return SparseCategoricalAccuracy(name=identifier)
        return CategoricalAccuracy(name=identifier)
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _REGISTRY:
            names = sorted({"accuracy", "acc", *(k for k in _REGISTRY if "_" in k or k.islower())})
            raise ValueError(f"unknown metric {identifier!r}; expected one of {names}")
        return _REGISTRY[key](name=identifier)
    if isinstance(identifier, dict):
        key = str(identifier.get("class_name", "")).lower()
        if key not in _REGISTRY:
            raise ValueError(f"unknown metric class {identifier.get('class_name')!r}")
        return _REGISTRY[key].from_config(identifier.get("config") or {})
    raise TypeError(f"a metric must be a name, a config dict or a Metric instance; got {type(identifier).__name__}")

__getattr__ = missing_names(__name__)
