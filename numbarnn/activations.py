"""Activations of the Dense layer, each with its backward step, in plain numpy.

``forward(z)`` returns the activation; ``backward(y, dy)`` turns the gradient
on the output ``y`` into the gradient on ``z`` using ``y`` only, so the layer
keeps one array per call. Softmax acts on the last axis.
"""

import numpy as np

from ._missing import missing_names

__all__ = ["ACTIVATIONS", "get"]


def _linear(z):
    return z


def _linear_back(y, dy):
    return dy


def _relu(z):
    return np.maximum(z, 0)


def _relu_back(y, dy):
    return dy * (y > 0)


def _tanh_back(y, dy):
    return dy * (1 - y * y)


def expit(z):
    """Logistic sigmoid ``1 / (1 + exp(-z))``, without overflow; keeps ``z``'s float dtype.

    Written out rather than imported from ``scipy.special``, whose import
    alone takes longer than numbarnn's.
    """
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1, e) / (1 + e)


def softmax(z, axis=-1):
    """``exp(z) / sum(exp(z))`` along ``axis``, shifted by the maximum so nothing overflows."""
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(z, axis=-1):
    """``log(softmax(z))`` along ``axis``, computed without forming the softmax."""
    s = z - z.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def _sigmoid_back(y, dy):
    return dy * y * (1 - y)


def _softmax_back(y, dy):
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def _hard_sigmoid(z):
    return np.clip(z / 6 + 0.5, 0, 1)


def _hard_sigmoid_back(y, dy):
    return dy * ((y > 0) & (y < 1)) / 6


def _softplus(z):
    return np.logaddexp(0, z)


def _softplus_back(y, dy):
    return dy * -np.expm1(-y)  # sigmoid(z) = 1 - exp(-softplus(z))


ACTIVATIONS = {
    "linear": (_linear, _linear_back),
    "relu": (_relu, _relu_back),
    "tanh": (np.tanh, _tanh_back),
    "sigmoid": (expit, _sigmoid_back),
    "softmax": (softmax, _softmax_back),
    "hard_sigmoid": (_hard_sigmoid, _hard_sigmoid_back),
    "softplus": (_softplus, _softplus_back),
}


def get(name, what="activation", choices=ACTIVATIONS):
    """Return the canonical activation name for ``name`` (None means 'linear').

    ``choices`` narrows the accepted names (the recurrent kernels take fewer);
    ``what`` names the argument in errors. Raises ValueError for an unknown
    name, TypeError for a non-string.
    """
    if name is None:
        return "linear"
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a name such as 'tanh' or None; got {type(name).__name__}")
    if name not in choices:
        raise ValueError(f"{what} must be one of {sorted(choices)} or None; got {name!r}")
    return name

__getattr__ = missing_names(__name__)
