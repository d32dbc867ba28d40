"""Three device rearrangements the layers on the device need: a matrix transpose,
a per-sequence mask applied at every step, and a dtype conversion.

``transpose(a, out)``: ``out[j, i] = a[i, j]`` (the backward pass's ``U^T``).

``scale_steps(a, m, out, time_major)``: ``out[b, t, f] = a[b, t, f] * m[b, f]``
for a batch-major ``a`` (B, T, F), or ``out[t, b, f] = a[t, b, f] * m[b, f]``
for a time-major one (T, B, F): the input dropout mask of a recurrent layer,
drawn once per sequence, applied at every step.

``cast(a, out)``: ``out = a`` converted to ``out``'s dtype (between layers of
different dtypes, as the host layers convert their inputs).
"""

import numpy as np
from numba import cuda

from . import common

__all__ = ["cast", "scale_steps", "transpose"]

_KERNELS = {}


def _threads():
    return (4, 3) if common.SIMULATOR else (128, 1024)


def _kernels(dtype):
    dtype = np.dtype(dtype)
    if dtype in _KERNELS:
        return _KERNELS[dtype]

    @cuda.jit
    def transpose_kernel(a, out):
        n_rows, n_cols = a.shape
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for k in range(start, n_rows * n_cols, stride):
            i = k // n_cols
            j = k - i * n_cols
            out[j, i] = a[i, j]

    @cuda.jit
    def scale_steps_kernel(a, m, out, time_major):
        d0, d1, d2 = a.shape
        start = cuda.grid(1)
        stride = cuda.gridsize(1)
        for k in range(start, d0 * d1 * d2, stride):
            i = k // (d1 * d2)
            r = k - i * d1 * d2
            j = r // d2
            f = r - j * d2
            b = j if time_major else i
            out[i, j, f] = a[i, j, f] * m[b, f]

    _KERNELS[dtype] = (transpose_kernel, scale_steps_kernel)
    return _KERNELS[dtype]


def _launch(kernel, n):
    threads, most_blocks = _threads()
    blocks = max(1, min(most_blocks, -(-n // threads)))
    return common._configure(kernel, blocks, threads, 0)


def transpose(a, out):
    """``out = a.T`` on the device.

    Parameters
    ----------
    a : DeviceNDArray of shape (M, N), float32 or float64
    out : DeviceNDArray of shape (N, M), same dtype
    """
    kernel, _ = _kernels(a.dtype)
    _launch(kernel, a.size)(a, out)


def scale_steps(a, m, out, time_major):
    """Multiply every step of a batch of sequences by a per-sequence mask.

    Parameters
    ----------
    a : DeviceNDArray of shape (B, T, F), or (T, B, F) with ``time_major``
    m : DeviceNDArray of shape (B, F)
    out : DeviceNDArray shaped like ``a`` (may be ``a``)
    time_major : bool
    """
    _, kernel = _kernels(a.dtype)
    _launch(kernel, a.size)(a, m, out, bool(time_major))


_CAST = {}


def cast(a, out):
    """``out[...] = a`` converted to ``out``'s dtype, on the device.

    Parameters
    ----------
    a : DeviceNDArray, C-contiguous
    out : DeviceNDArray of the same shape, C-contiguous, another float dtype
    """
    key = (np.dtype(a.dtype).str, np.dtype(out.dtype).str)
    if key not in _CAST:

        @cuda.jit
        def cast_kernel(src, dst):
            start = cuda.grid(1)
            stride = cuda.gridsize(1)
            for k in range(start, src.shape[0], stride):
                dst[k] = src[k]

        _CAST[key] = cast_kernel
    n = int(np.prod(tuple(a.shape)))
    _launch(_CAST[key], n)(a.reshape(n), out.reshape(n))
