"""What every CUDA cell kernel shares: the tiled input-projection GEMM, the
launch shape of a recurrence, and the host-device transfers.

Input projection. ``zx = x W + b`` for every step at once is one shared-memory
tiled matrix product of ``(T*B, F) x (F, G*H)`` (:func:`project`): each
``TILE x TILE`` block of threads loads a tile of ``x`` and one of ``W`` into
shared memory, synchronises, accumulates, and moves on along ``F``.

Recurrence. A recurrence kernel runs the whole time loop in one launch; each
CUDA block owns ``rows`` consecutive batch rows, so blocks never wait for each
other. A block's threads walk the ``rows * H`` (row, unit) pairs with a
block-sized stride (a thread keeps the same pairs for every step) and
synchronise with ``cuda.syncthreads()`` between the phases of a step. The
state lives in dynamic shared memory; the recurrent weights too when they fit
(:func:`recurrence_shape`), else they are read from global memory.

Absent optional arrays (no mask, no recurrent dropout, no kept buffers) are None
in the device-level functions and travel to a kernel as a one-element dummy with
a flag (:func:`or_dummy`), so no zero-size device allocation is made.
"""

import math
import warnings

import numpy as np
from numba import cuda

__all__ = [
    "MAX_THREADS",
    "SHARED_MEMORY_BYTES",
    "SIMULATOR",
    "TILE",
    "WEIGHTS_IN_SHARED",
    "RecurrenceShape",
    "copy_back",
    "device_or_none",
    "empty_or_none",
    "gemm_kernel",
    "launch",
    "or_dummy",
    "project",
    "recurrence_shape",
    "to_device",
]


def _simulator_enabled():
    try:
        from numba.cuda.core import config
    except ImportError:  # older numba-cuda
        from numba.core import config
    return bool(config.ENABLE_CUDASIM)


#: True when Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) runs the kernels on the CPU.
SIMULATOR = _simulator_enabled()

#: Side of the GEMM's square thread block and shared-memory tiles. The
#: simulator runs one Python thread per CUDA thread, so it takes small tiles,
#: which also exercises the partial tiles of tiny test shapes.
TILE = 4 if SIMULATOR else 16

#: Most threads of a recurrence block (5 on the simulator: fewer threads than
#: (row, unit) pairs, so a thread walks several pairs, as with large H on a GPU).
MAX_THREADS = 5 if SIMULATOR else 256

#: Most batch rows of a recurrence block on the simulator (several blocks, one partial).
_SIM_ROWS = 2

#: Dynamic shared memory a recurrence block may use, in bytes (the limit without opt-in).
SHARED_MEMORY_BYTES = 48 * 1024

#: Keep the recurrent weights in shared memory when they fit (tests turn it off
#: to exercise the global-memory path).
WEIGHTS_IN_SHARED = True

_GEMM = {}


def _numba_type(dtype):
    from numba import float32, float64

    return float32 if np.dtype(dtype) == np.float32 else float64


def gemm_kernel(dtype):
    """The tiled GEMM kernel ``out = a @ w + bias`` for one dtype.

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64.

    Returns
    -------
    CUDA kernel ``(a (M, K), w (K, N), bias (N,), out (M, N))``
        Launched on a ``(ceil(M / TILE), ceil(N / TILE))`` grid of ``(TILE, TILE)`` blocks.
    """
    dtype = np.dtype(dtype)
    if dtype in _GEMM:
        return _GEMM[dtype]
    nbtype = _numba_type(dtype)
    zero = dtype.type(0.0)
    tile = TILE

    @cuda.jit
    def gemm_bias(a, w, bias, out):
        sa = cuda.shared.array((tile, tile), nbtype)
        sw = cuda.shared.array((tile, tile), nbtype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.x * tile + ty
        col = cuda.blockIdx.y * tile + tx
        m = a.shape[0]
        kk = a.shape[1]
        n = w.shape[1]
        acc = zero
        for k0 in range(0, kk, tile):
            ka = k0 + tx
            if row < m and ka < kk:
                sa[ty, tx] = a[row, ka]
            else:
                sa[ty, tx] = zero
            kw = k0 + ty
            if kw < kk and col < n:
                sw[ty, tx] = w[kw, col]
            else:
                sw[ty, tx] = zero
            cuda.syncthreads()
            for p in range(tile):
                acc += sa[ty, p] * sw[p, tx]
            cuda.syncthreads()
        if row < m and col < n:
            out[row, col] = acc + bias[col]

    _GEMM[dtype] = gemm_bias
    return gemm_bias


def project(a, w, bias):
    """The input projection ``a @ w + bias`` on the device.

    Parameters
    ----------
    a : ndarray of shape (M, K)
        Host array: the time-major input reshaped to (T*B, F).
    w : ndarray of shape (K, N)
        Host input kernel.
    bias : ndarray of shape (N,)
        Host input bias.

    Returns
    -------
    DeviceNDArray of shape (M, N), dtype of ``a``
    """
    m, _ = a.shape
    n = w.shape[1]
    d_out = cuda.device_array((m, n), a.dtype)
    grid = (math.ceil(m / TILE), math.ceil(n / TILE))
    _configure(gemm_kernel(a.dtype), grid, (TILE, TILE), 0)(to_device(a), to_device(w), to_device(bias), d_out)
    return d_out


class RecurrenceShape:
    """The launch of one recurrence kernel (internal).

    Attributes
    ----------
    rows : int
        Batch rows per block.
    threads : int
        Threads per block.
    blocks : int
        ``ceil(B / rows)``.
    weights_shared : bool
        The recurrent weights are copied into shared memory.
    shared_bytes : int
        Dynamic shared memory per block.
    """

    def __init__(self, rows, threads, blocks, weights_shared, shared_bytes):
        self.rows = rows
        self.threads = threads
        self.blocks = blocks
        self.weights_shared = weights_shared
        self.shared_bytes = shared_bytes


def _sm_count():
    try:
        return int(cuda.get_current_device().MULTIPROCESSOR_COUNT)
    except Exception:  # an unusual driver: assume a large GPU
        return 128


def recurrence_shape(n_batch, units, state_per_row, weight_elems, dtype):
    """Choose rows per block, threads and shared memory for a recurrence kernel.

    Parameters
    ----------
    n_batch, units : int
        B and H.
    state_per_row : int
        Shared-memory elements a batch row needs (state and per-step scratch).
    weight_elems : int
        Elements of the recurrent weights (``H * G * H``).
    dtype : numpy dtype

    Returns
    -------
    RecurrenceShape

    Raises
    ------
    RuntimeError
        One batch row's state does not fit the shared memory of a block.
    """
    itemsize = np.dtype(dtype).itemsize
    if SIMULATOR:
        # Several rows a block, more (row, unit) pairs than threads: every loop shape of a large GPU launch.
        rows = max(1, min(n_batch, _SIM_ROWS))
    else:
        # Enough blocks to fill the GPU, each at most MAX_THREADS (row, unit) pairs.
        rows = max(1, min(n_batch, MAX_THREADS // units, math.ceil(n_batch / _sm_count())))
    while rows > 1 and rows * state_per_row * itemsize > SHARED_MEMORY_BYTES:
        rows -= 1
    state_bytes = rows * state_per_row * itemsize
    if state_bytes > SHARED_MEMORY_BYTES:
        raise RuntimeError(
            f"units={units} is too large for the CUDA kernels: one batch row's state needs {state_bytes} bytes "
            f"of shared memory, more than {SHARED_MEMORY_BYTES}; use device='cpu'"
        )
    weights_shared = WEIGHTS_IN_SHARED and state_bytes + weight_elems * itemsize <= SHARED_MEMORY_BYTES
    pairs = rows * units
    threads = min(MAX_THREADS, pairs)
    if not SIMULATOR:
        threads = min(MAX_THREADS, 32 * math.ceil(pairs / 32))  # whole warps
    shared_bytes = state_bytes + (weight_elems * itemsize if weights_shared else 0)
    return RecurrenceShape(rows, threads, math.ceil(n_batch / rows), weights_shared, shared_bytes)


def _configure(kernel, grid, block, shared_bytes):
    # A recurrence has one block per chunk of batch rows by design, so small batches
    # make small grids: numba-cuda's low-occupancy warning would fire on every call.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Grid size .* under-utilization")
        return kernel[grid, block, 0, shared_bytes]


def launch(kernel, shape):
    """``kernel`` configured for a :class:`RecurrenceShape` (grid, block, stream 0, dynamic shared memory).

    Parameters
    ----------
    kernel : CUDA kernel
    shape : RecurrenceShape

    Returns
    -------
    The configured kernel, to call with the kernel's arguments.
    """
    return _configure(kernel, shape.blocks, shape.threads, shape.shared_bytes)


def to_device(a):
    """Copy a host array to the device (made C-contiguous first).

    Parameters
    ----------
    a : ndarray

    Returns
    -------
    DeviceNDArray of the same shape and dtype
    """
    return cuda.to_device(np.ascontiguousarray(a))


_DUMMIES = {}


def or_dummy(d, ndim, dtype):
    """``(d, True)`` for a device array, ``(one-element zero dummy, False)`` for None (an absent optional array).

    Parameters
    ----------
    d : DeviceNDArray or None
    ndim : int
        Dimensions the kernel's argument has.
    dtype : numpy dtype
        Its dtype.

    Returns
    -------
    device_array : DeviceNDArray
    present : bool
    """
    if d is not None:
        return d, True
    key = (ndim, np.dtype(dtype).str)
    if key not in _DUMMIES:
        _DUMMIES[key] = cuda.to_device(np.zeros((1,) * ndim, dtype))
    return _DUMMIES[key], False


def device_or_none(a):
    """A host array on the device, or None when it is empty (an absent optional input such as the (0, 0) mask)."""
    return to_device(a) if a.size else None


def empty_or_none(a):
    """An uninitialised device array shaped like host array ``a``, or None when ``a`` is empty (nothing kept)."""
    return cuda.device_array(a.shape, a.dtype) if a.size else None


def copy_back(d, a):
    """Copy device array ``d`` into the host array ``a`` (in place) unless ``a`` is empty."""
    if a.size:
        d.copy_to_host(a)
