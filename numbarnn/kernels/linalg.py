"""The matrix product inside the time loops, computed the same way for every row.

``matmul_into`` computes ``out = a @ b`` with its own loop rather than BLAS: a
BLAS ``gemm`` picks its blocking (and so the order of each sum) from the
number of rows, so a row's result would change in its last bits with the batch
size, its position in the batch and the thread that ran it. Here each output
element is ``sum_p a[i, p] * b[p, j]`` added in ``p`` order, without fast-math
(no fused multiply-adds, no reassociation; see ``_config.EXACT_JIT_OPTIONS``):
four rows go through the loop together for speed, and a row's bits are the
same in a block of four, in the remainder, or alone.

The loop runs over contiguous rows of ``b`` and ``out`` (unit stride), which
LLVM vectorises; on the shapes of ``benchmarks/`` it runs at 0.7x to 2x the
time of a single-threaded BLAS call on the same product.
"""

import numpy as np
from numba import njit

from .._config import EXACT_JIT_OPTIONS


@njit(**EXACT_JIT_OPTIONS)
def matmul_into(a, b, out):
    """Write ``a @ b`` into ``out``, each row independently of the others.

    Parameters
    ----------
    a : ndarray of shape (m, k), C-contiguous
    b : ndarray of shape (k, n), C-contiguous
    out : ndarray of shape (m, n), C-contiguous, overwritten
    """
    m, k = a.shape
    n = b.shape[1]
    i = 0
    while i + 4 <= m:
        o0, o1, o2, o3 = out[i], out[i + 1], out[i + 2], out[i + 3]
        for j in range(n):
            o0[j] = 0.0
            o1[j] = 0.0
            o2[j] = 0.0
            o3[j] = 0.0
        for p in range(k):
            a0, a1, a2, a3 = a[i, p], a[i + 1, p], a[i + 2, p], a[i + 3, p]
            bp = b[p]
            for j in range(n):
                bj = bp[j]
                o0[j] += a0 * bj
                o1[j] += a1 * bj
                o2[j] += a2 * bj
                o3[j] += a3 * bj
        i += 4
    while i < m:
        o = out[i]
        for j in range(n):
            o[j] = 0.0
        for p in range(k):
            ap = a[i, p]
            bp = b[p]
            for j in range(n):
                o[j] += ap * bp[j]
        i += 1


@njit(**EXACT_JIT_OPTIONS)
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

