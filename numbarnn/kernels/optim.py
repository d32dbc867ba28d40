"""The optimizers' update rules, written once per element, and the CPU loops that apply them.

Each rule takes one element of the weight, its gradient and its slots and
returns their new values. The CPU loops here (called by
:mod:`numbarnn.optimizers`) and the CUDA kernels (:mod:`numbarnn.cuda.ops`)
compile the same Python functions, so both devices run the same operations in
the same order. They are the numpy expressions :mod:`numbarnn.optimizers`
first used, element by element: with the scalars already cast to the weights'
dtype (as numpy casts a Python float against a float32 array) and without
fast-math (no fused multiply-add), the CPU loops give numpy's bits::

    adam      m += c1 * (g - m);  v += c2 * (g*g - v);  [vhat = max(vhat, v), NaN wins];
              w -= (alpha * m) / (sqrt(v or vhat) + eps)
    rmsprop   vel = vel * rho + c * g * g;  den = vel + eps;  [avg = avg * rho + c * g;  den -= avg * avg]
              inc = lr * g / sqrt(den);  [mom = mom * momentum + inc;  w -= mom]  or  w -= inc
    sgd       w -= lr * g;  or  m = m * momentum - lr * g;  w += m  (nesterov: w += momentum * m - lr * g)

(``c1 = 1 - beta_1``, ``c2 = 1 - beta_2``, ``c = 1 - rho``.) The CPU loops take
their scalars in one small array ``k`` of the weights' dtype, in the order each
signature lists.
"""

import math

from numba import njit

from .._config import EXACT_JIT_OPTIONS

__all__ = ["adam_rule", "adam_update", "rmsprop_rule", "rmsprop_update", "sgd_rule", "sgd_update"]


def adam_rule(w, g, m, v, vh, amsgrad, c1, c2, alpha, eps):
    """One element of an Adam step: returns ``(w, m, v, vhat)``."""
    m = m + c1 * (g - m)
    v = v + c2 * (g * g - v)
    used = v
    if amsgrad:  # np.maximum: NaN wins
        if not (v > vh or math.isnan(v)):
            used = vh
        vh = used
    return w - (alpha * m) / (math.sqrt(used) + eps), m, v, vh


def rmsprop_rule(w, g, vel, mom, avg, use_momentum, centered, rho, c, lr, momentum, eps):
    """One element of an RMSprop step: returns ``(w, vel, mom, avg)``."""
    vel = vel * rho
    vel = vel + c * g * g
    den = vel + eps
    if centered:
        avg = avg * rho
        avg = avg + c * g
        den = den - avg * avg
    inc = lr * g / math.sqrt(den)
    if use_momentum:
        mom = mom * momentum
        mom = mom + inc
        return w - mom, vel, mom, avg
    return w - inc, vel, mom, avg


def sgd_rule(w, g, m, use_momentum, nesterov, lr, momentum):
    """One element of an SGD step: returns ``(w, m)``."""
    if not use_momentum:
        return w - lr * g, m
    m = m * momentum
    m = m - lr * g
    if nesterov:
        return w + (momentum * m - lr * g), m
    return w + m, m


_adam = njit(inline="always", **EXACT_JIT_OPTIONS)(adam_rule)
_rmsprop = njit(inline="always", **EXACT_JIT_OPTIONS)(rmsprop_rule)
_sgd = njit(inline="always", **EXACT_JIT_OPTIONS)(sgd_rule)


@njit(**EXACT_JIT_OPTIONS)
def adam_update(w, g, m, v, vhat, amsgrad, k):
    """One Adam step on flat arrays ``w``, ``g``, ``m``, ``v`` (and ``vhat`` with ``amsgrad``), in place.

    ``k`` = [c1, c2, alpha, eps].
    """
    c1, c2, alpha, eps = k[0], k[1], k[2], k[3]
    for i in range(w.shape[0]):
        vh = vhat[i] if amsgrad else v[i]
        w[i], m[i], v[i], vh = _adam(w[i], g[i], m[i], v[i], vh, amsgrad, c1, c2, alpha, eps)
        if amsgrad:
            vhat[i] = vh


@njit(**EXACT_JIT_OPTIONS)
def rmsprop_update(w, g, vel, mom, avg, use_momentum, centered, k):
    """One RMSprop step on flat arrays, in place (``mom`` and ``avg`` read and written only when used).

    ``k`` = [rho, c, lr, momentum, eps].
    """
    rho, c, lr, momentum, eps = k[0], k[1], k[2], k[3], k[4]
    for i in range(w.shape[0]):
        mo = mom[i] if use_momentum else w[i]
        av = avg[i] if centered else w[i]
        w[i], vel[i], mo, av = _rmsprop(w[i], g[i], vel[i], mo, av, use_momentum, centered, rho, c, lr, momentum, eps)
        if use_momentum:
            mom[i] = mo
        if centered:
            avg[i] = av


@njit(**EXACT_JIT_OPTIONS)
def sgd_update(w, g, m, use_momentum, nesterov, k):
    """One SGD step on flat arrays, in place (``m`` read and written only with momentum).

    ``k`` = [lr, momentum].
    """
    lr, momentum = k[0], k[1]
    for i in range(w.shape[0]):
        mi = m[i] if use_momentum else w[i]
        w[i], mi = _sgd(w[i], g[i], mi, use_momentum, nesterov, lr, momentum)
        if use_momentum:
            m[i] = mi
