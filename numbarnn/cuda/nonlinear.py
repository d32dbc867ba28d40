"""Device activation functions and their derivatives, selected by the codes of
:data:`numbarnn.kernels.nonlinear.CODES`.

The same definitions as the CPU kernels (:mod:`numbarnn.kernels.nonlinear`),
each derivative written through the activation's *output* ``y = f(x)``::

    linear        y = x                          dy/dx = 1
    tanh          y = tanh(x)                    dy/dx = 1 - y**2
    sigmoid       y = 1 / (1 + exp(-x))          dy/dx = y * (1 - y)
    hard_sigmoid  y = clip((x + 3) / 6, 0, 1)    dy/dx = 1/6 where 0 < y < 1, else 0
    relu          y = max(x, 0)                  dy/dx = 1 where y > 0, else 0

``hard_sigmoid`` is Keras 3's (``relu6(x + 3) / 6``). ``sigmoid`` is computed
from ``e = exp(-|x|)`` as ``1 / (1 + e)`` for ``x >= 0`` and ``e / (1 + e)``
below, which never overflows. On the device ``math.tanh`` and ``math.exp``
are libdevice's (``tanhf``/``expf`` in float32).

The functions are built once per dtype (:func:`device_activations`) so that
every constant has the working dtype: a float32 kernel then never promotes to
float64 arithmetic.
"""

import math

import numpy as np
from numba import cuda

from ..kernels.nonlinear import HARD_SIGMOID, RELU, SIGMOID, TANH

__all__ = ["device_activations"]

_CACHE = {}


def device_activations(dtype):
    """The device functions ``(activate, derivative)`` for one float dtype.

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64: the dtype of every argument, result and constant.

    Returns
    -------
    activate : CUDA device function ``(code: int, x: dtype) -> dtype``
        ``f(x)`` for activation ``code``.
    derivative : CUDA device function ``(code: int, y: dtype) -> dtype``
        ``f'(x)`` written through the output ``y = f(x)``.
    """
    dtype = np.dtype(dtype)
    if dtype in _CACHE:
        return _CACHE[dtype]
    zero = dtype.type(0.0)
    one = dtype.type(1.0)
    three = dtype.type(3.0)
    six = dtype.type(6.0)
    sixth = dtype.type(1.0 / 6.0)

    @cuda.jit(device=True, inline=True)
    def activate(code, x):
        if code == TANH:
            return math.tanh(x)
        if code == SIGMOID:
            e = math.exp(-abs(x))
            if x >= zero:
                return one / (one + e)
            return e / (one + e)
        if code == HARD_SIGMOID:
            return min(max((x + three) / six, zero), one)
        if code == RELU:
            return max(x, zero)
        return x

    @cuda.jit(device=True, inline=True)
    def derivative(code, y):
        if code == TANH:
            return one - y * y
        if code == SIGMOID:
            return y * (one - y)
        if code == HARD_SIGMOID:
            if y > zero and y < one:
                return sixth
            return zero
        if code == RELU:
            if y > zero:
                return one
            return zero
        return one

    _CACHE[dtype] = (activate, derivative)
    return activate, derivative
