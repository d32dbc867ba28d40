"""The optimizers' per-weight updates as single compiled loops (numbarnn.optimizers calls them).

Each loop runs the same operations, in the same order and dtype, as the numpy
expressions of :mod:`numbarnn.optimizers` (the scalars arrive already cast to the
weight's dtype, as numpy casts a Python float against a float32 array; no
fast-math, so no fused multiply-add), so the result is bit for bit numpy's,
without the temporaries. All arrays are flat views of one dtype::

    adam      m += c1 * (g - m);  v += c2 * (g*g - v);  [vhat = max(vhat, v)];  w -= (alpha * m) / (sqrt(v or vhat) + eps)
    rmsprop   vel = vel * rho + c * g * g;  den = vel + eps;  [avg = avg * rho + c * g;  den -= avg * avg]
              inc = lr * g / sqrt(den);  [mom = mom * momentum + inc;  w -= mom]  or  w -= inc
    sgd       w -= lr * g;  or  m = m * momentum - lr * g;  w += m  (nesterov: w += momentum * m - lr * g)

(``c1 = 1 - beta_1``, ``c2 = 1 - beta_2``, ``c = 1 - rho``.) The scalars come in one small
array ``k`` of the weights' dtype, in the order each signature lists.
"""

import numpy as np
from numba import njit

from .._config import EXACT_JIT_OPTIONS

__all__ = ["adam_update", "rmsprop_update", "sgd_update"]


@njit(**EXACT_JIT_OPTIONS)
def adam_update(w, g, m, v, vhat, amsgrad, k):
    """One Adam step on flat arrays ``w``, ``g``, ``m``, ``v`` (and ``vhat`` with ``amsgrad``), in place.

    ``k`` = [c1, c2, alpha, eps].
    """
    c1, c2, alpha, eps = k[0], k[1], k[2], k[3]
    for i in range(w.shape[0]):
        gi = g[i]
        mi = m[i] + c1 * (gi - m[i])
        vi = v[i] + c2 * (gi * gi - v[i])
        m[i] = mi
        v[i] = vi
        if amsgrad:  # np.maximum: NaN wins
            vh = vhat[i]
            if not (vi > vh or np.isnan(vi)):
                vi = vh
            vhat[i] = vi
        w[i] = w[i] - (alpha * mi) / (np.sqrt(vi) + eps)


@njit(**EXACT_JIT_OPTIONS)
def rmsprop_update(w, g, vel, mom, avg, use_momentum, centered, k):
    """One RMSprop step on flat arrays, in place (``mom`` and ``avg`` read only when used).

    ``k`` = [rho, c, lr, momentum, eps].
    """
    rho, c, lr, momentum, eps = k[0], k[1], k[2], k[3], k[4]
    for i in range(w.shape[0]):
        gi = g[i]
        vi = vel[i] * rho
        vi = vi + c * gi * gi
        vel[i] = vi
        den = vi + eps
        if centered:
            ai = avg[i] * rho
            ai = ai + c * gi
            avg[i] = ai
            den = den - ai * ai
        inc = lr * gi / np.sqrt(den)
        if use_momentum:
            mi = mom[i] * momentum
            mi = mi + inc
            mom[i] = mi
            w[i] = w[i] - mi
        else:
            w[i] = w[i] - inc


@njit(**EXACT_JIT_OPTIONS)
def sgd_update(w, g, m, use_momentum, nesterov, k):
    """One SGD step on flat arrays, in place (``m`` read only with momentum).

    ``k`` = [lr, momentum].
    """
    lr, momentum = k[0], k[1]
    for i in range(w.shape[0]):
        gi = g[i]
        if not use_momentum:
            w[i] = w[i] - lr * gi
            continue
        mi = m[i] * momentum
        mi = mi - lr * gi
        m[i] = mi
        if nesterov:
            w[i] = w[i] + (momentum * mi - lr * gi)
        else:
            w[i] = w[i] + mi
