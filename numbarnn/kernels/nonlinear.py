"""Activation functions and their derivatives for the kernels, selected by an integer code.

The derivative of each activation is written as a function of its *output*
``y = f(x)``, which is what the forward pass stores::

    linear        y = x                          dy/dx = 1
    tanh          y = tanh(x)                    dy/dx = 1 - y**2
    sigmoid       y = 1 / (1 + exp(-x))          dy/dx = y * (1 - y)
    hard_sigmoid  y = clip((x + 3) / 6, 0, 1)    dy/dx = 1/6 where 0 < y < 1, else 0
    relu          y = max(x, 0)                  dy/dx = 1 where y > 0, else 0

``hard_sigmoid`` is defined as Keras 3 defines it (``relu6(x + 3) / 6``).

Precision. Both dtypes use plain arithmetic that the compiler vectorises, where
a libm call per element would not be (Numba's SVML path needs an
SVML-patched llvmlite, which pip's is not):

- float32: tanh is a rational approximation (odd degree-13 numerator,
  degree-6 denominator in x**2, on x clamped to +-7.905, the form Eigen uses
  for float tanh), evaluated in float32 and accurate to about 3e-7;
- float64: tanh and sigmoid go through ``exp(-|x|)`` and ``expm1(-2|x|)``,
  computed as ``2**n * (1 + expm1(r))`` with ``|r| <= ln(2)/2`` and a
  degree-13 polynomial for ``expm1(r)``: within a few units in the last place
  of libm's, and several times faster;
- ``sigmoid(x) = (1 + tanh(x / 2)) / 2`` in float32, and
  ``1 / (1 + exp(-x))`` (or ``exp(x) / (1 + exp(x))`` below zero) in float64.
"""

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from .._config import JIT_OPTIONS as _HELPER

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


# Coefficients of tanh(x) ~ x * P(x**2) / Q(x**2) on [-7.905, 7.905] (float32 accuracy).
_TANH_CLAMP = 7.90531110763549805
_P13, _P11, _P9 = -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11
_P7, _P5, _P3, _P1 = 5.12229709037114e-08, 1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03
_Q6, _Q4, _Q2, _Q0 = 1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03


@njit(**_HELPER)
def _tanh_rational32(x):
    # Evaluated in float32 (8 lanes per AVX2 instruction); max error about 3e-7.
    c = np.float32(_TANH_CLAMP)
    x = min(max(x, -c), c)
    x2 = x * x
    p = np.float32(_P13) * x2 + np.float32(_P11)
    p = p * x2 + np.float32(_P9)
    p = p * x2 + np.float32(_P7)
    p = p * x2 + np.float32(_P5)
    p = p * x2 + np.float32(_P3)
    p = (p * x2 + np.float32(_P1)) * x
    q = np.float32(_Q6) * x2 + np.float32(_Q4)
    q = q * x2 + np.float32(_Q2)
    q = q * x2 + np.float32(_Q0)
    return p / q


@intrinsic
def _float_bits(typingctx, x):
    # The int64 holding a float64's bits (no conversion; vectorises).
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, bits):
    # The float64 whose bits an int64 holds.
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


_LOG2E = 1.4426950408889634
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # Cody and Waite's split of ln 2
_ROUND = 6755399441055744.0  # 1.5 * 2**52: adding it leaves an integer-valued float in the low bits
_ROUND_BITS = 0x4338000000000000
# 1/k! for k = 13 down to 2: the Taylor polynomial of exp on |r| <= ln(2)/2 (error below 1e-17).
_EXP_COEFFICIENTS = tuple(1.0 / math.factorial(k) for k in range(13, 1, -1))


@njit(**_HELPER)
def _exp_parts(y):
    # exp(y) = scale * (1 + q) for y <= 0, in plain float64 arithmetic: scale = 2**n,
    # q = expm1(r), |r| <= ln(2)/2. NaN stays NaN; below -708 (where 2**n would
    # leave the normal range) scale is 0, so exp(y) is 0.
    tiny = y < -708.0
    y = y if not tiny else -708.0
    n = np.floor(y * _LOG2E + 0.5)
    r = (y - n * _LN2_HI) - n * _LN2_LO
    p = 0.0
    for c in _EXP_COEFFICIENTS:
        p = p * r + c
    q = (p * r + 1.0) * r
    scale = _bits_float((_float_bits(n + _ROUND) - _ROUND_BITS + 1023) << 52)
    return (scale if not tiny else 0.0), q


def fast_tanh(x):
    """tanh, vectorisable: the float32 rational approximation, or the float64 exp-based form."""
    return math.tanh(x)


def fast_sigmoid(x):
    """Logistic sigmoid, vectorisable: through the float32 tanh, or the float64 exp-based form."""
    return 1.0 / (1.0 + math.exp(-x))


@overload(fast_tanh)
def _fast_tanh_impl(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: _tanh_rational32(x)

    def tanh64(x):
        # tanh|x| = -m / (2 + m) with m = expm1(-2|x|): no cancellation near zero.
        scale, q = _exp_parts(-2.0 * abs(x))
        m = scale * q + (scale - 1.0)
        return math.copysign(-m / (2.0 + m), x)

    return tanh64


@overload(fast_sigmoid)
def _fast_sigmoid_impl(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        half = np.float32(0.5)
        return lambda x: half + half * _tanh_rational32(half * x)

    def sigmoid64(x):
        scale, q = _exp_parts(-abs(x))
        e = scale + scale * q  # exp(-|x|)
        return (1.0 if x >= 0.0 else e) / (1.0 + e)

    return sigmoid64


@njit(**_HELPER)
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


# Block forms: one loop per activation code, with the branch outside the loop, so
# the compiler vectorises each loop (a per-element branch or libm call stops it).


@njit(**_HELPER)
def activate_block(code, v, j0, j1):
    """v[j] = f(v[j]) for j in [j0, j1)."""
    w = v[j0:j1]  # a loop over a whole view from 0: LLVM vectorises it, and not one from j0 to j1
    n = w.shape[0]
    if code == SIGMOID:
        for j in range(n):
            w[j] = fast_sigmoid(w[j])
    elif code == TANH:
        for j in range(n):
            w[j] = fast_tanh(w[j])
    elif code == RELU:
        for j in range(n):
            w[j] = max(w[j], 0.0)
    elif code == HARD_SIGMOID:
        for j in range(n):
            w[j] = min(max((w[j] + 3.0) / 6.0, 0.0), 1.0)


@njit(**_HELPER)
def activate_copy(code, x, out):
    """out[j] = f(x[j]) for every j of ``out``."""
    for j in range(out.shape[0]):
        out[j] = x[j]
    activate_block(code, out, 0, out.shape[0])


@njit(**_HELPER)
def derivative_block(code, y, out, j0, j1):
    """out[j] = f'(x) written through the output y[j], for j in [j0, j1)."""
    ys, o = y[j0:j1], out[j0:j1]  # whole views from 0, as in activate_block: vectorised (4x measured)
    n = o.shape[0]
    if code == SIGMOID:
        for j in range(n):
            o[j] = ys[j] * (1.0 - ys[j])
    elif code == TANH:
        for j in range(n):
            o[j] = 1.0 - ys[j] * ys[j]
    elif code == RELU:
        for j in range(n):
            o[j] = 1.0 if ys[j] > 0.0 else 0.0
    elif code == HARD_SIGMOID:
        for j in range(n):
            o[j] = 1.0 / 6.0 if 0.0 < ys[j] < 1.0 else 0.0
    else:
        for j in range(n):
            o[j] = 1.0
