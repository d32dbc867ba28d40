"""Small dense helpers used inside the time loops.

``matmul_into`` computes ``out = a @ b`` with BLAS (``np.dot``, which Numba routes
to SciPy's BLAS) when the product is big enough for the call overhead not to
matter, and with a fused row-times-matrix loop otherwise (small batch, few
units), where one BLAS call costs more than the arithmetic.
"""

import numpy as np
from numba import njit

from .._config import JIT_OPTIONS

# Below this many multiply-adds a plain loop beats a BLAS call (measured on
# 2-core x86-64 machines; see benchmarks/). A literal, so the cache stays valid.
_FUSED_MAX_FMAS = 8192


@njit(**JIT_OPTIONS)
def matmul_into(a, b, out):
    """Write ``a @ b`` into ``out``.

    Parameters
    ----------
    a : ndarray of shape (m, k), C-contiguous
    b : ndarray of shape (k, n), C-contiguous
    out : ndarray of shape (m, n), C-contiguous, overwritten
    """
    m, k = a.shape
    n = b.shape[1]
    if m * k * n > _FUSED_MAX_FMAS:
        np.dot(a, b, out)
        return
    for i in range(m):
        for j in range(n):
            out[i, j] = 0.0
        for p in range(k):
            aip = a[i, p]
            for j in range(n):
                out[i, j] += aip * b[p, j]


@njit(**JIT_OPTIONS)
def affine_into(x, w, b, out):
    """Write ``x @ w + b`` into ``out`` with a fused loop, for a short reduction.

    BLAS is slow when ``k`` is a handful (one to a few input features): it
    packs ``w`` for a product with almost no arithmetic. Row by row, this loop
    streams ``w`` from cache and writes each output row once.

    Parameters
    ----------
    x : ndarray of shape (m, k), C-contiguous
    w : ndarray of shape (k, n), C-contiguous
    b : ndarray of shape (n,)
    out : ndarray of shape (m, n), C-contiguous, overwritten
    """
    m, k = x.shape
    n = w.shape[1]
    for i in range(m):
        o = out[i]
        for j in range(n):
            o[j] = b[j]
        for p in range(k):
            a = x[i, p]
            wp = w[p]
            for j in range(n):
                o[j] += a * wp[j]
