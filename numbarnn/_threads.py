"""How many threads numbarnn uses, and the one pool that runs them.

Parallelism is one chunk of batch rows per thread, each chunk running the
whole time loop in a compiled kernel that releases the GIL. While chunks run in
parallel, BLAS is held to one thread, so only one thread pool is busy at a time;
when the work is too small to split, the kernel runs in the calling thread and
BLAS may use up to the same number of threads.

Inside numbarnn's calls BLAS is held to one thread, and the large matrix
products after the time loop (the gradients) are cut into blocks of a fixed
size that the same pool runs (:func:`matmul`). OpenBLAS blocks a long reduction
differently on one thread and on several, so the reductions are cut too: that
keeps results bit-identical whatever numbarnn's thread count, for calls from
one Python thread. Calls made from other Python threads agree within float32
rounding: OpenBLAS does not always honour the one-thread hold for calls made
from a thread that is not the main thread.

The pool is made of plain Python threads rather than Numba's threading layer:
it is safe after ``fork`` (the pool is rebuilt in the child), under loky worker
processes, and when several Python threads call numbarnn at once, with no
process-wide Numba setting changed. Each chunk's rows are computed the same way
whatever the number of chunks, so results do not depend on the thread count.

The number of threads is, in order of precedence: :func:`set_num_threads`, the
``NUMBARNN_NUM_THREADS`` environment variable, ``OMP_NUM_THREADS`` (which
joblib sets in its workers), and the CPUs this process may run on.
"""

import contextlib
import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._validation import is_integer
from .kernels.linalg import matmul_into
from .kernels.panels import matmul_packed, pack_panels, panel_width

_lock = threading.Lock()
_pool = None
_pool_size = 0
_num_threads = None
_blas = None


def _default_num_threads():
    for var in ("NUMBARNN_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value:
            try:
                n = int(value.split(",")[0])
            except ValueError:
                continue
            if n >= 1:
                return n
    return _available_cpus()


@functools.lru_cache(maxsize=1)
def _available_cpus():
    # Asked once per process (the cache is cleared in a forked child).
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def get_num_threads():
    """Return the number of threads numbarnn's kernels use.

    Returns
    -------
    n_threads : int
    """
    if _num_threads is None:
        return _default_num_threads()
    return _num_threads


def set_num_threads(n_threads):
    """Set the number of threads numbarnn's kernels use.

    This is the one setting for numbarnn's parallelism: it sizes numbarnn's
    thread pool; BLAS runs single-threaded inside numbarnn's calls, so the two
    never compete. ``None`` restores the default (``NUMBARNN_NUM_THREADS``,
    then ``OMP_NUM_THREADS``, then the available CPUs).

    Parameters
    ----------
    n_threads : int or None
        A positive number of threads.
    """
    global _num_threads
    if n_threads is not None:
        if not is_integer(n_threads):
            raise TypeError(f"n_threads must be a positive int or None; got {type(n_threads).__name__}")
        n_threads = int(n_threads)
        if n_threads < 1:
            raise ValueError(f"n_threads must be a positive int or None; got {n_threads}")
    _num_threads = n_threads


def _get_pool(n):
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < n:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="numbarnn")
            _pool_size = n
        return _pool


def _forget_pool_after_fork():
    # The pool's threads do not exist in a forked child: start afresh there.
    global _pool, _pool_size, _lock, _blas, _blas_users
    _pool = None
    _pool_size = 0
    _lock = threading.Lock()
    _blas = None
    _blas_users = 0
    _available_cpus.cache_clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _blas_controllers():
    global _blas
    if _blas is None:
        import scipy.linalg.cython_blas  # noqa: F401  (the BLAS Numba calls)
        from threadpoolctl import ThreadpoolController

        _blas = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
    return _blas


_blas_users = 0
_blas_saved = []


@contextlib.contextmanager
def blas_single_thread():
    """Hold every loaded BLAS library to one thread inside the block.

    Reference-counted, so concurrent callers from several Python threads agree:
    the first to enter saves the libraries' settings, the last to leave restores them.
    """
    global _blas_users, _blas_saved
    with _lock:
        if _blas_users == 0:
            libs = _blas_controllers()
            _blas_saved = [(lib, lib.num_threads) for lib in libs]
            for lib, n in _blas_saved:
                if n != 1:
                    lib.set_num_threads(1)
        _blas_users += 1
    try:
        yield
    finally:
        with _lock:
            _blas_users -= 1
            if _blas_users == 0:
                for lib, n in _blas_saved:
                    if n != 1:
                        lib.set_num_threads(n)
                _blas_saved = []


def split_rows(n_rows, work_per_row, n_threads=None, min_work=20_000_000, min_rows=4):
    """Split ``range(n_rows)`` into contiguous chunks, one per thread.

    Work below ``min_work`` multiply-adds in total, or chunks smaller than
    ``min_rows`` rows, are not worth a thread hand-off and stay in one chunk.

    Returns
    -------
    chunks : list of (start, stop) tuples
    """
    if n_rows * work_per_row < min_work:
        return [(0, n_rows)]
    if n_threads is None:
        n_threads = get_num_threads()
    n = min(n_threads, max(1, n_rows // min_rows))
    bounds = [round(i * n_rows / n) for i in range(n + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(n)]


def run_chunks(fn, chunks):
    """Call ``fn(start, stop)`` for every chunk, in parallel when there are several.

    Call it with BLAS held to one thread (see :func:`blas_single_thread`). Exceptions
    raised in a chunk propagate to the caller after all chunks end.
    """
    n_threads = 1 if len(chunks) == 1 else min(len(chunks), get_num_threads())
    if n_threads == 1:
        for a, b in chunks:
            fn(a, b)
        return
    pool = _get_pool(n_threads)
    futures = [pool.submit(fn, a, b) for a, b in chunks]
    for f in futures:
        f.result()


# Fixed block sizes for matmul: results must not depend on the thread count.
_ROW_BLOCK = 2048
_COL_BLOCK = 256
# OpenBLAS's single- and multi-threaded drivers split a reduction longer than
# its GEMM_Q (>= 256 on x86-64) differently; no longer block reaches BLAS.
_K_BLOCK = 256


def rows_matmul(a, b, out=None):
    """Return ``a @ b`` with each row computed on its own, whatever the other rows.

    Rows are cut into one block per thread and each block goes through
    :func:`numbarnn.kernels.panels.matmul_packed` (``b`` packed into panels, once
    there are four rows and a panel's width of columns for its tiles) or
    :func:`numbarnn.kernels.linalg.matmul_into`; both give the same bits, and a
    row's result does not depend on the rows beside it: a row's bits are the same
    for any batch size, position in the batch, thread count or calling thread.
    The products on a layer's inference path (Dense) and the input gradients use it.

    Parameters
    ----------
    a : ndarray of shape (m, k), float32 or float64
    b : ndarray of shape (k, n), cast to ``a``'s dtype
    out : ndarray of shape (m, n), ``a``'s dtype, C-contiguous, optional
        Written in place (a kept buffer); by default a new array.

    Returns
    -------
    out : ndarray of shape (m, n), ``a``'s dtype
    """
    a = np.ascontiguousarray(a)
    m, k = a.shape
    n = b.shape[1]
    if out is None:
        out = np.empty((m, n), a.dtype)
    if m == 0:
        return out
    chunks = split_rows(m, k * n)
    if m >= 4 and n >= panel_width(a.dtype):
        bp = pack_panels(np.asarray(b, dtype=a.dtype))
        run_chunks(lambda i0, i1: matmul_packed(a[i0:i1], bp, out[i0:i1]), chunks)
    else:
        b = np.ascontiguousarray(b, dtype=a.dtype)
        run_chunks(lambda i0, i1: matmul_into(a[i0:i1], b, out[i0:i1]), chunks)
    return out


def matmul(a, b, out=None):
    """Return ``a @ b`` computed in fixed-size blocks on numbarnn's threads.

    Tall products (many rows: the input gradient) are cut into blocks of
    rows, the others (the weight gradients) into blocks of columns, and the
    reduction into blocks of at most ``_K_BLOCK`` whose partial products are
    added in a fixed order. Each output element is
    therefore computed the same way whatever the number of threads, numbarnn's
    or BLAS's.

    Parameters
    ----------
    a : ndarray of shape (m, k)
    b : ndarray of shape (k, n)
    out : ndarray of shape (m, n), optional

    Returns
    -------
    out : ndarray of shape (m, n)
    """
    m, k = a.shape
    n = b.shape[1]
    if out is None:
        out = np.empty((m, n), np.result_type(a, b))
    ks = [(p, min(p + _K_BLOCK, k)) for p in range(0, k, _K_BLOCK)]

    def product(rows, cols):
        o = out[rows, cols]
        p0, p1 = ks[0]
        np.matmul(a[rows, p0:p1], b[p0:p1, cols], out=o)
        if len(ks) > 1:
            part = np.empty_like(o)
            for p0, p1 in ks[1:]:
                np.matmul(a[rows, p0:p1], b[p0:p1, cols], out=part)
                o += part

    if m > _ROW_BLOCK:
        chunks = [(i, min(i + _ROW_BLOCK, m)) for i in range(0, m, _ROW_BLOCK)]
        run_chunks(lambda i0, i1: product(slice(i0, i1), slice(None)), chunks)
    else:
        chunks = [(j, min(j + _COL_BLOCK, n)) for j in range(0, n, _COL_BLOCK)]
        run_chunks(lambda j0, j1: product(slice(None), slice(j0, j1)), chunks)
    return out
