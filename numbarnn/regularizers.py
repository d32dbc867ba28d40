"""Weight penalties added to the training loss: ``L1``, ``L2`` and ``L1L2``, as in Keras.

``L2(l2)`` adds ``l2 * sum(w**2)`` (no factor one half, as Keras), ``L1(l1)``
adds ``l1 * sum(|w|)``. The penalty is added once per batch to the batch loss.
"""

import numpy as np

from ._missing import missing_names
from ._serialization import make_registry, resolve

__all__ = ["Regularizer", "L1", "L2", "L1L2", "get"]


def _factor(value, name):
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return value


class Regularizer:
    """A penalty on one weight array: ``reg(w)`` is its value, ``reg.gradient(w)`` its gradient."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(l1, "l1")
        self.l2 = _factor(l2, "l2")

    def __call__(self, w):
        """Penalty value (a float) for the array ``w``."""
        value = 0.0
        if self.l1:
            value += self.l1 * float(np.abs(w).sum())
        if self.l2:
            value += self.l2 * float(np.square(w).sum())
        return value

    def gradient(self, w):
        """Gradient of the penalty with respect to ``w``, an array shaped like ``w``."""
        grad = np.zeros_like(w)
        if self.l1:
            grad += self.l1 * np.sign(w)
        if self.l2:
            grad += (2.0 * self.l2) * w
        return grad

    def get_config(self):
        """Return the constructor arguments as a JSON-friendly dict."""
        return {"l1": self.l1, "l2": self.l2}

    @classmethod
    def from_config(cls, config):
        """Create a regularizer from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``."""


class L1(Regularizer):
    """``l1 * sum(|w|)``.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.regularizers import L1
    >>> L1(0.5)(np.array([1.0, -2.0]))
    1.5
    """

    def __init__(self, l1=0.01):
        super().__init__(l1=l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(w**2)``."""

    def __init__(self, l2=0.01):
        super().__init__(l2=l2)

    def get_config(self):
        return {"l2": self.l2}


_REGISTRY = make_registry(L1, L2, L1L2, aliases={"l1_l2": L1L2, "l1l2": L1L2})


def get(identifier):
    """Return a :class:`Regularizer` from a name ('l1', 'l2', 'l1_l2'), a config dict, an instance, or None."""
    return resolve(identifier, "regularizer", _REGISTRY, Regularizer)

__getattr__ = missing_names(__name__)
