"""The deterministic matrix product, computed the same way for every row.

The time loops run its register-tiled twin on panel-packed weights
(:func:`numbarnn.kernels.panels.matmul_packed`), which gives the same bits; this
plain form serves the products outside the time loops (the Dense head and the
input gradients, through ``_threads.rows_matmul``; Conv1D).

``matmul_into`` computes ``out = a @ b`` with its own loop rather than BLAS: a
BLAS ``gemm`` picks its blocking (and so the order of each sum) from the
number of rows, so a row's result would change in its last bits with the batch
size, its position in the batch and the thread that ran it. Here each output
element is ``sum_p a[i, p] * b[p, j]`` added in ``p`` order, without fast-math
(no fused multiply-adds, no reassociation; see ``_config.EXACT_JIT_OPTIONS``):
four rows go through the loop together for speed, and a row's bits are the
same in a block of four, in the remainder, or alone.

The loop runs over contiguous rows of ``b`` and ``out`` (unit stride), which
LLVM vectorises; without fused multiply-adds it reaches a fraction of BLAS's
rate (``benchmarks/compare_pytorch.py`` prints the fraction for every shape).
"""

import numpy as np
from numba import njit

from .._config import EXACT_JIT_OPTIONS

# From this many elements of ``b`` (128 x 512: S3's LSTM) four-row blocks take four terms per pass
# rather than two. Measured in model steps: S4 LSTM predict 1.46x and training 1.18x faster, S3 LSTM
# predict 1.25x; on smaller products (GRU S3, S5) four terms were 10-15% slower than two.
_WIDE = 65536


@njit(**EXACT_JIT_OPTIONS)
def matmul_into(a, b, out):
    """Write ``a @ b`` into ``out``, each row independently of the others.

    Each output element is ``((0 + a[i, 0] b[0, j]) + a[i, 1] b[1, j]) + ...``, in
    ``p`` order, however the loops are unrolled: blocks of four rows take four
    ``p`` per pass over the output rows when ``b`` is large (``_WIDE``), else
    two; a remaining row takes four; every path adds the terms one at a time,
    so a row's bits do not depend on which path computed it
    (tests/test_determinism.py). Unrolling ``p`` cuts the loads and stores of
    the output rows, which bound the loop.

    Parameters
    ----------
    a : ndarray of shape (m, k), C-contiguous
    b : ndarray of shape (k, n), C-contiguous
    out : ndarray of shape (m, n), C-contiguous, overwritten
    """
    m, k = a.shape
    n = b.shape[1]
    wide = k * n >= _WIDE
    i = 0
    while i + 4 <= m:
        o0, o1, o2, o3 = out[i], out[i + 1], out[i + 2], out[i + 3]
        for j in range(n):
            o0[j] = 0.0
            o1[j] = 0.0
            o2[j] = 0.0
            o3[j] = 0.0
        p = 0
        while wide and p + 4 <= k:
            a0, a1, a2, a3 = a[i, p], a[i + 1, p], a[i + 2, p], a[i + 3, p]
            e0, e1, e2, e3 = a[i, p + 1], a[i + 1, p + 1], a[i + 2, p + 1], a[i + 3, p + 1]
            f0, f1, f2, f3 = a[i, p + 2], a[i + 1, p + 2], a[i + 2, p + 2], a[i + 3, p + 2]
            g0, g1, g2, g3 = a[i, p + 3], a[i + 1, p + 3], a[i + 2, p + 3], a[i + 3, p + 3]
            b0, b1, b2, b3 = b[p], b[p + 1], b[p + 2], b[p + 3]
            for j in range(n):
                x0 = b0[j]
                x1 = b1[j]
                x2 = b2[j]
                x3 = b3[j]
                o0[j] = (((o0[j] + a0 * x0) + e0 * x1) + f0 * x2) + g0 * x3
                o1[j] = (((o1[j] + a1 * x0) + e1 * x1) + f1 * x2) + g1 * x3
                o2[j] = (((o2[j] + a2 * x0) + e2 * x1) + f2 * x2) + g2 * x3
                o3[j] = (((o3[j] + a3 * x0) + e3 * x1) + f3 * x2) + g3 * x3
            p += 4
        while p + 2 <= k:
            a0, a1, a2, a3 = a[i, p], a[i + 1, p], a[i + 2, p], a[i + 3, p]
            e0, e1, e2, e3 = a[i, p + 1], a[i + 1, p + 1], a[i + 2, p + 1], a[i + 3, p + 1]
            b0, b1 = b[p], b[p + 1]
            for j in range(n):
                x0 = b0[j]
                x1 = b1[j]
                o0[j] = (o0[j] + a0 * x0) + e0 * x1
                o1[j] = (o1[j] + a1 * x0) + e1 * x1
                o2[j] = (o2[j] + a2 * x0) + e2 * x1
                o3[j] = (o3[j] + a3 * x0) + e3 * x1
            p += 2
        while p < k:
            a0, a1, a2, a3 = a[i, p], a[i + 1, p], a[i + 2, p], a[i + 3, p]
            bp = b[p]
            for j in range(n):
                bj = bp[j]
                o0[j] += a0 * bj
                o1[j] += a1 * bj
                o2[j] += a2 * bj
                o3[j] += a3 * bj
            p += 1
        i += 4
    while i < m:
        o = out[i]
        for j in range(n):
            o[j] = 0.0
        p = 0
        while p + 4 <= k:
            c0, c1, c2, c3 = a[i, p], a[i, p + 1], a[i, p + 2], a[i, p + 3]
            b0, b1, b2, b3 = b[p], b[p + 1], b[p + 2], b[p + 3]
            for j in range(n):
                o[j] = (((o[j] + c0 * b0[j]) + c1 * b1[j]) + c2 * b2[j]) + c3 * b3[j]
            p += 4
        while p < k:
            ap = a[i, p]
            bp = b[p]
            for j in range(n):
                o[j] += ap * bp[j]
            p += 1
        i += 1
