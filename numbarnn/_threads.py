"""How many threads numbarnn uses, and the one pool that runs them.

Parallelism is one chunk of batch rows per thread, each chunk running the
whole time loop in a compiled kernel that releases the GIL. While chunks run in
parallel, BLAS is held to one thread, so only one thread pool is busy at a time;
when the work is too small to split, the kernel runs in the calling thread and
BLAS may use up to the same number of threads.

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
import os
import threading
from concurrent.futures import ThreadPoolExecutor

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
    thread pool and caps the BLAS threads used inside numbarnn's calls, so the
    two never compete. ``None`` restores the default (``NUMBARNN_NUM_THREADS``,
    then ``OMP_NUM_THREADS``, then the available CPUs).

    Parameters
    ----------
    n_threads : int or None
        A positive number of threads.
    """
    global _num_threads
    if n_threads is not None:
        if isinstance(n_threads, bool) or not isinstance(n_threads, (int,)) and not hasattr(n_threads, "__index__"):
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
    global _pool, _pool_size, _lock, _blas
    _pool = None
    _pool_size = 0
    _lock = threading.Lock()
    _blas = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _blas_controllers():
    global _blas
    if _blas is None:
        import scipy.linalg.cython_blas  # noqa: F401  (the BLAS Numba calls)
        from threadpoolctl import ThreadpoolController

        _blas = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
    return _blas


@contextlib.contextmanager
def blas_threads(n):
    """Hold every loaded BLAS library to at most ``n`` threads inside the block."""
    libs = _blas_controllers()
    previous = [lib.num_threads for lib in libs]
    changed = [(lib, p) for lib, p in zip(libs, previous) if p != n]
    for lib, _ in changed:
        lib.set_num_threads(n)
    try:
        yield
    finally:
        for lib, p in changed:
            lib.set_num_threads(p)


def split_rows(n_rows, work_per_row, n_threads=None, min_work=2_000_000, min_rows=4):
    """Split ``range(n_rows)`` into contiguous chunks, one per thread.

    Work below ``min_work`` multiply-adds in total, or chunks smaller than
    ``min_rows`` rows, are not worth a thread hand-off and stay in one chunk.

    Returns
    -------
    chunks : list of (start, stop) tuples
    """
    if n_threads is None:
        n_threads = get_num_threads()
    n = min(n_threads, max(1, n_rows // min_rows))
    if n_rows * work_per_row < min_work:
        n = 1
    bounds = [round(i * n_rows / n) for i in range(n + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(n)]


def run_chunks(fn, chunks):
    """Call ``fn(start, stop)`` for every chunk, in parallel when there are several.

    Exceptions raised in a chunk propagate to the caller after all chunks end.
    """
    if len(chunks) == 1:
        fn(*chunks[0])
        return
    pool = _get_pool(len(chunks))
    with blas_threads(1):
        futures = [pool.submit(fn, a, b) for a, b in chunks]
        for f in futures:
            f.result()
