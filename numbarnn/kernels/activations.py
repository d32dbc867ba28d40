"""Scalar activation functions and their derivatives, selected by an integer code.

The derivative of each activation is written as a function of its *output*
``y = f(x)``, which is what the forward pass stores::

    linear        y = x                          dy/dx = 1
    tanh          y = tanh(x)                    dy/dx = 1 - y**2
    sigmoid       y = 1 / (1 + exp(-x))          dy/dx = y * (1 - y)
    hard_sigmoid  y = clip((x + 3) / 6, 0, 1)    dy/dx = 1/6 where 0 < y < 1, else 0
    relu          y = max(x, 0)                  dy/dx = 1 where y > 0, else 0

``hard_sigmoid`` is defined as Keras 3 defines it (``relu6(x + 3) / 6``).
"""

import math

from numba import njit

LINEAR = 0
TANH = 1
SIGMOID = 2
HARD_SIGMOID = 3
RELU = 4

# Names accepted by the Python layer, mapped to kernel codes.
CODES = {
    "linear": LINEAR,
    "tanh": TANH,
    "sigmoid": SIGMOID,
    "hard_sigmoid": HARD_SIGMOID,
    "relu": RELU,
}


@njit(inline="always")
def activate(code, x):
    """Apply activation ``code`` to the scalar ``x``."""
    if code == TANH:
        return math.tanh(x)
    if code == SIGMOID:
        # exp(-x) overflows to inf for very negative x, giving exactly 0: no NaN.
        return 1.0 / (1.0 + math.exp(-x))
    if code == HARD_SIGMOID:
        return min(max((x + 3.0) / 6.0, 0.0), 1.0)
    if code == RELU:
        return max(x, 0.0)
    return x


@njit(inline="always")
def derivative(code, y):
    """Derivative of activation ``code`` expressed through its output ``y``."""
    if code == TANH:
        return 1.0 - y * y
    if code == SIGMOID:
        return y * (1.0 - y)
    if code == HARD_SIGMOID:
        return 1.0 / 6.0 if 0.0 < y < 1.0 else 0.0
    if code == RELU:
        return 1.0 if y > 0.0 else 0.0
    return 1.0
