"""Conv1D forward and backward kernels (channels last, Keras's kernel layout).

Equations, for input ``x`` (B, T, C), kernel ``W`` (K, C, F), bias ``b`` (F,),
stride ``s``, dilation ``d`` and ``p`` zeros padded before the first step::

    z[n, t, f] = b[f] + sum_k sum_c x[n, t*s + k*d - p, c] * W[k, c, f]

where a position outside ``[0, T)`` reads zero (the padding). Backward, with
``dz`` the gradient of ``z``::

    dW[k, c, f] = sum_n sum_t x[n, t*s + k*d - p, c] * dz[n, t, f]
    db[f]       = sum_n sum_t dz[n, t, f]
    dx[n, i, c] = sum over (t, k) with t*s + k*d - p = i of sum_f dz[n, t, f] * W[k, c, f]

Computed as im2col plus one matrix product: the columns ``X`` (B*T_out, K*C)
hold ``X[n*T_out + t, k*C + c] = x[n, t*s + k*d - p, c]``, and with ``W`` seen
as (K*C, F)::

    z = X W + b        dW = X^T dz        dX = dz W^T, scattered back into dx

The forward keeps ``X`` for the backward. Measured on 2 cores (AVX2), one BLAS
thread, for (32, 100, 8) inputs, 32 filters, K=3, float32: forward 0.24 ms
against 0.52 ms for direct loops (over n, t, k, c with the filters innermost),
backward 0.66 ms against 1.26 ms; at (32, 100, 32) -> 64 filters, K=5 im2col
wins by 2x too. The padding ``p`` (and the zeros after the last step) come from
the layer: ``'valid'`` pads nothing, ``'same'`` pads as Keras does (half before,
the odd one after), ``'causal'`` pads ``d*(K-1)`` before.
"""

import numpy as np
from numba import njit

from .._config import JIT_OPTIONS
from .linalg import matmul_into


@njit(**JIT_OPTIONS)
def im2col(x, n_taps, stride, dilation, pad_left, cols):
    """Write the columns of ``x`` into ``cols`` (shape (B*T_out, K*C)); padded positions read zero.

    Parameters
    ----------
    x : ndarray of shape (B, T, C)
    n_taps, stride, dilation, pad_left : int
        ``K``, ``s``, ``d`` and ``p`` of the equations.
    cols : ndarray of shape (B*T_out, K*C), C-contiguous, overwritten
    """
    B, T, C = x.shape
    T_out = cols.shape[0] // B
    for n in range(B):
        for t in range(T_out):
            r = n * T_out + t
            for k in range(n_taps):
                i = t * stride + k * dilation - pad_left
                j = k * C
                if i < 0 or i >= T:
                    for c in range(C):
                        cols[r, j + c] = 0.0
                else:
                    for c in range(C):
                        cols[r, j + c] = x[n, i, c]


@njit(**JIT_OPTIONS)
def conv1d_forward(x, kernel, bias, stride, dilation, pad_left, cols, out):
    """Write ``z`` (before the activation) into ``out``, and the columns into ``cols``.

    Parameters
    ----------
    x : ndarray of shape (B, T, C), C-contiguous
    kernel : ndarray of shape (K*C, F), C-contiguous
        The (K, C, F) kernel seen as rows ``k*C + c``.
    bias : ndarray of shape (F,), or (0,) for no bias
    stride, dilation, pad_left : int
    cols : ndarray of shape (B*T_out, K*C), C-contiguous, overwritten
    out : ndarray of shape (B*T_out, F), C-contiguous, overwritten
    """
    n_taps = kernel.shape[0] // x.shape[2]
    im2col(x, n_taps, stride, dilation, pad_left, cols)
    matmul_into(cols, kernel, out)
    if bias.shape[0] > 0:
        for r in range(out.shape[0]):
            for f in range(out.shape[1]):
                out[r, f] += bias[f]


@njit(**JIT_OPTIONS)
def conv1d_backward(cols, kernel, dz, stride, dilation, pad_left, dx, dkernel, dbias):
    """Write the gradients of the input, the kernel and the bias (all overwritten).

    Parameters
    ----------
    cols : ndarray of shape (B*T_out, K*C), C-contiguous
        The forward's columns.
    kernel : ndarray of shape (K*C, F), C-contiguous
    dz : ndarray of shape (B*T_out, F), C-contiguous
        Gradient of the pre-activation output.
    stride, dilation, pad_left : int
    dx : ndarray of shape (B, T, C), C-contiguous
    dkernel : ndarray of shape (K*C, F), C-contiguous
    dbias : ndarray of shape (F,), or (0,) when the layer has no bias
    """
    B, T, C = dx.shape
    KC, F = kernel.shape
    T_out = dz.shape[0] // B
    np.dot(cols.T, dz, dkernel)
    for f in range(dbias.shape[0]):
        dbias[f] = 0.0
    if dbias.shape[0] > 0:
        for r in range(dz.shape[0]):
            for f in range(F):
                dbias[f] += dz[r, f]
    dcols = np.empty((dz.shape[0], KC), dz.dtype)
    matmul_into(dz, np.ascontiguousarray(kernel.T), dcols)
    for n in range(B):
        for i in range(T):
            for c in range(C):
                dx[n, i, c] = 0.0
    for n in range(B):
        for t in range(T_out):
            r = n * T_out + t
            for k in range(KC // C):
                i = t * stride + k * dilation - pad_left
                if i < 0 or i >= T:
                    continue
                j = k * C
                for c in range(C):
                    dx[n, i, c] += dcols[r, j + c]
