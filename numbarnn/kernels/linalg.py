"""Small dense helpers used inside the time loops.

``matmul_into`` computes ``out = a @ b`` with BLAS (``np.dot``, which Numba routes
to SciPy's BLAS) when the product is big enough for the call overhead not to
matter, and with a fused row-times-matrix loop otherwise (small batch, few
units, or a reduction of a few input features), where one BLAS call costs
more than the arithmetic.
"""

import numpy as np
from numba import njit

from .._config import JIT_OPTIONS

# Below this many multiply-adds a plain loop beats a BLAS call (measured on
# 2-core x86-64 machines; see benchmarks/). A literal, so the cache stays valid.
_FUSED_MAX_FMAS = 8192
# A reduction this short always takes the loop: BLAS packs the operands for
# almost no arithmetic (K=1: 15x slower than the loop).
_FUSED_MAX_K = 4
# Up to this many rows the loop also wins (2-4x over BLAS's gemm at 2-8 rows,
# even at 1; BLAS wins from 16 rows on).
_FUSED_MAX_ROWS = 8


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
    if m * k * n > _FUSED_MAX_FMAS and k > _FUSED_MAX_K and m > _FUSED_MAX_ROWS:
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
def project_rows(x, b0, w, bias, out):
    """Write ``x[b0:b0 + m] @ w + bias`` into ``out`` (shape (m, n)): one step's input projection.

    Computed inside the time loop, a step at a time, so the projection of the
    whole sequence never goes through memory.

    Parameters
    ----------
    x : ndarray of shape (B, k), C-contiguous
        One time step of the (time-major) input.
    b0 : int
        First batch row.
    w : ndarray of shape (k, n), C-contiguous
    bias : ndarray of shape (n,)
    out : ndarray of shape (m, n), C-contiguous, overwritten
    """
    matmul_into(x[b0 : b0 + out.shape[0]], w, out)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] += bias[j]
