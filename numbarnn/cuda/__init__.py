"""The engine on NVIDIA GPUs, through Numba's CUDA target (the ``numba-cuda`` package).

Install with ``pip install "numbarnn[cuda]"`` and pass ``device="cuda"`` to
:func:`numbarnn.rnn_forward`, :func:`numbarnn.rnn_inference` (and
:func:`numbarnn.rnn_backward` follows its tape). Inputs and results stay host
numpy arrays; each call copies its inputs to the device once, runs the kernels
and copies the buffers back.

Kernels (one module per cell, mirroring :mod:`numbarnn.kernels`): the input
projection ``x_t W + b`` of every step is one shared-memory tiled GEMM
(:mod:`.common`); the recurrence is one launch for the whole time loop, each
CUDA block owning a chunk of batch rows (blocks never synchronise with each
other), gates fused, the state in shared memory between steps, the recurrent
weights in shared memory when they fit. The same code runs on Numba's CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1``), which the tests use.

Importing this package needs ``numba-cuda`` (ImportError otherwise, with the
install hint); :func:`require_device` then checks that a GPU can be used and
registers the CUDA adaptors with the engine. There is no silent CPU fallback.
"""

try:
    import numba_cuda  # noqa: F401  (the NVIDIA-maintained target that provides numba.cuda)
    from numba import cuda
except ImportError as exc:
    raise ImportError(
        'device="cuda" needs the numba-cuda package: pip install "numbarnn[cuda]" (or use device="cpu"); '
        f"importing it failed: {exc}"
    ) from exc

if getattr(cuda, "implementation", None) != "NVIDIA":
    raise ImportError(
        'device="cuda" needs the numba-cuda package, not the CUDA target built into old Numba releases: '
        'pip install "numbarnn[cuda]" (or use device="cpu")'
    )

from .common import SIMULATOR

__all__ = ["SIMULATOR", "is_usable", "require_device"]

_REGISTERED = False


def is_usable():
    """Whether the CUDA kernels can run here: a GPU with its driver and NVVM, or the simulator.

    Returns
    -------
    bool
    """
    return SIMULATOR or bool(cuda.is_available())


def require_device():
    """Check that the CUDA device can be used, then register its adaptors with the engine (idempotent).

    Registers the CUDA adaptors for ('cuda', 'lstm'), ('cuda', 'gru', reset_after=True),
    ('cuda', 'gru', reset_after=False) and ('cuda', 'simple') with
    :func:`numbarnn.engine.cells.register_adaptor`.

    Raises
    ------
    RuntimeError
        No usable GPU: no NVIDIA driver, no GPU, or no CUDA toolkit (NVVM) for
        numba-cuda to compile with; the message names the cause and the fix.
        Never falls back to the CPU.
    """
    global _REGISTERED
    if not is_usable():
        cause = None
        try:
            cause = cuda.cuda_error()
        except Exception as exc:  # a broken driver may fail even here
            cause = exc
        if cause is None:  # the driver works: NVVM (the CUDA toolkit's compiler) is what is missing
            cause = "the driver works, but numba-cuda cannot find NVVM (the CUDA toolkit's compiler)"
        detail = " ".join(str(cause).split())
        raise RuntimeError(
            f'device="cuda" cannot be used: no usable NVIDIA GPU ({detail}). On a machine with an NVIDIA GPU, '
            'install its driver and the CUDA toolkit (pip install "numbarnn[cuda]", which brings '
            '"numba-cuda[cu12]"); else use device="cpu".'
        )
    if _REGISTERED:
        return
    from ..engine.cells import register_adaptor
    from .adaptors import CudaGRUAfterAdaptor, CudaGRUBeforeAdaptor, CudaLSTMAdaptor, CudaSimpleAdaptor

    register_adaptor(CudaLSTMAdaptor(), "cuda", "lstm")
    register_adaptor(CudaGRUAfterAdaptor(), "cuda", "gru", True)
    register_adaptor(CudaGRUBeforeAdaptor(), "cuda", "gru", False)
    register_adaptor(CudaSimpleAdaptor(), "cuda", "simple")
    _REGISTERED = True
