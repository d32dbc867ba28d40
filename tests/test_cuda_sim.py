"""The CUDA device kernels against the CPU engine, on Numba's CUDA simulator.

The simulator is chosen when ``numba.cuda`` is first imported, from
``NUMBA_ENABLE_CUDASIM=1`` in the environment, so the simulator tests
(:class:`TestSimulator`) run only in a process started with it; the ordinary
test run starts such a process (:func:`test_simulator_in_child_process`).
The error tests run without the simulator: on this kind of machine (no GPU)
``device="cuda"`` must fail at once with the fix in the message.

Every CUDA path is compared with the CPU engine through the public API on tiny
shapes (the simulator runs one Python thread per CUDA thread): float64 forward
outputs and states to 1e-10, every gradient to 1e-9 relative; float32 to 1e-5.
Run with ``-s`` to see the table of the largest errors.
"""

import importlib.util
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from numbarnn import rnn_backward, rnn_forward, rnn_inference

from .conftest import make_problem

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
HAS_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None

sim_only = pytest.mark.skipif(
    not (SIM and HAS_NUMBA_CUDA), reason="needs numba-cuda and NUMBA_ENABLE_CUDASIM=1 set before numba is imported"
)

# (label, cell, reset_after, activation)
VARIANTS = [
    ("lstm", "lstm", True, "tanh"),
    ("gru-after", "gru", True, "tanh"),
    ("gru-before", "gru", False, "tanh"),
    ("simple-tanh", "simple", True, "tanh"),
    ("simple-relu", "simple", True, "relu"),
]
VARIANT_IDS = [v[0] for v in VARIANTS]
N_STATES = {"lstm": 2, "gru": 1, "simple": 1}

# Largest error seen per (variant, quantity, dtype), printed when the class is done.
ERRORS = {}

FORWARD_TOL = {np.float64: 1e-10, np.float32: 1e-5}
GRADIENT_TOL = {np.float64: 1e-9, np.float32: 1e-5}


def _err(got, ref):
    """Max-norm error of ``got`` relative to the largest entry of ``ref`` (absolute below 1)."""
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape
    if ref.size == 0:
        return 0.0
    return float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1.0))


def _grad_err(got, ref):
    """Max-norm error of ``got`` relative to the largest entry of ``ref``."""
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape
    scale = np.abs(ref).max() if ref.size else 0.0
    diff = np.abs(got - ref).max() if ref.size else 0.0
    if scale == 0.0:
        return float(diff)
    return float(diff / scale)


def _record(label, what, dtype, err):
    key = (label, what, np.dtype(dtype).name)
    ERRORS[key] = max(ERRORS.get(key, 0.0), err)


def _masks(B, T):
    """A full row, a left-padded row and a right-padded row (cycled over B rows)."""
    rows = [
        [True] * T,
        [False] * (T // 2) + [True] * (T - T // 2),
        [True] * (T - 1) + [False],
    ]
    return np.array([rows[b % 3] for b in range(B)], bool)


def _case(variant, B=3, T=4, F=3, H=4, seed=0, *, mask=False, states=False, dropout=False, rdrop=False,
          bias=True, **options):  # fmt: skip
    """Inputs and options of one engine call, float64."""
    _, cell, reset_after, activation = variant
    x, W, U, b = make_problem(cell, reset_after, B, T, F, H, seed=seed, scale=0.6, use_bias=bias)
    rng = np.random.default_rng(seed + 100)
    kwargs = dict(cell=cell, reset_after=reset_after, activation=activation, **options)
    if mask:
        kwargs["mask"] = _masks(B, T)
    if states:
        kwargs["initial_state"] = [rng.normal(size=(B, H)) * 0.5 for _ in range(N_STATES[cell])]
    if dropout:
        kwargs["dropout_mask"] = (rng.random((B, F)) > 0.3) / 0.7
    if rdrop:
        kwargs["recurrent_dropout_mask"] = (rng.random((B, H)) > 0.3) / 0.7
    return x, W, U, b, kwargs


def _compare(variant, dtype, x, W, U, b, kwargs, tag=""):
    """Forward and backward on the CPU and on the CUDA device; assert and record the errors."""
    label = variant[0] + tag
    ftol, gtol = FORWARD_TOL[dtype], GRADIENT_TOL[dtype]
    runs = {}
    rng = np.random.default_rng(7)
    d_out = d_states = None
    for device in ("cpu", "cuda"):
        out, states, tape = rnn_forward(x, W, U, b, dtype=dtype, device=device, **kwargs)
        if d_out is None:
            d_out = rng.normal(size=out.shape)
            d_states = [rng.normal(size=s.shape) for s in states]
        grads = rnn_backward(tape, d_outputs=d_out, d_states=d_states)
        runs[device] = (out, states, grads)
    (out_c, states_c, g_c), (out_g, states_g, g_g) = runs["cpu"], runs["cuda"]
    assert out_g.dtype == out_c.dtype == np.dtype(dtype)
    errs = {"outputs": _err(out_g, out_c)}
    for i, (s_g, s_c) in enumerate(zip(states_g, states_c)):
        errs[f"state[{i}]"] = _err(s_g, s_c)
    for name, err in errs.items():
        _record(label, name, dtype, err)
        assert err <= ftol, f"{label} {name}: {err:.3e} > {ftol:.0e}"
    gerrs = {"d_x": _grad_err(g_g.x, g_c.x)}
    for i, (s_g, s_c) in enumerate(zip(g_g.initial_state, g_c.initial_state)):
        gerrs[f"d_initial_state[{i}]"] = _grad_err(s_g, s_c)
    gerrs["d_kernel"] = _grad_err(g_g.kernel, g_c.kernel)
    gerrs["d_recurrent_kernel"] = _grad_err(g_g.recurrent_kernel, g_c.recurrent_kernel)
    assert (g_g.bias is None) == (g_c.bias is None)
    if g_c.bias is not None:
        gerrs["d_bias"] = _grad_err(g_g.bias, g_c.bias)
    for name, err in gerrs.items():
        _record(label, name, dtype, err)
        assert err <= gtol, f"{label} {name}: {err:.3e} > {gtol:.0e}"


SCENARIOS = {
    "plain": {"return_sequences": True},
    "masked-states-zero-output": {
        "mask": True,
        "states": True,
        "rdrop": True,
        "bias": False,
        "return_sequences": True,
        "zero_output_for_mask": True,
    },
    "reverse-dropout-last": {"mask": True, "states": True, "dropout": True, "rdrop": True, "reverse": True},
    "reverse-sequences": {"mask": True, "dropout": True, "reverse": True, "return_sequences": True},
}


@pytest.fixture(scope="class")
def simulator_session():
    """Switch Python threads often while the simulator runs, then print the error table.

    The simulator runs each CUDA thread as a Python thread and polls them at every
    ``syncthreads``; at the default 5 ms switch interval a block's barrier costs
    milliseconds per thread, so the class lowers it (restored afterwards).
    """
    interval = sys.getswitchinterval()
    sys.setswitchinterval(2e-4)
    start = time.perf_counter()
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
    print(f"\n\nCUDA (simulator) vs CPU: largest errors ({time.perf_counter() - start:.1f} s)")
    print(f"{'variant':26s} {'quantity':22s} {'dtype':8s} {'error':>9s}")
    for (label, what, dtype), err in sorted(ERRORS.items()):
        print(f"{label:26s} {what:22s} {dtype:8s} {err:9.2e}")
    worst = {}
    for (label, _, dtype), err in ERRORS.items():
        base = label.split("/")[0]
        worst[(base, dtype)] = max(worst.get((base, dtype), 0.0), err)
    print(f"\n{'variant':14s} {'dtype':8s} {'worst error':>11s}")
    for (base, dtype), err in sorted(worst.items()):
        print(f"{base:14s} {dtype:8s} {err:11.2e}")


@sim_only
@pytest.mark.usefixtures("simulator_session")
class TestSimulator:
    """Every CUDA path against the CPU engine (simulator only)."""

    @pytest.mark.parametrize("scenario", list(SCENARIOS))
    @pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
    def test_float64_matches_cpu(self, variant, scenario):
        x, W, U, b, kwargs = _case(variant, **SCENARIOS[scenario])
        _compare(variant, np.float64, x, W, U, b, kwargs)

    @pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
    def test_weights_from_global_memory(self, variant, monkeypatch):
        from numbarnn.cuda import common

        monkeypatch.setattr(common, "WEIGHTS_IN_SHARED", False)
        x, W, U, b, kwargs = _case(variant, mask=True, states=True, rdrop=True, return_sequences=True)
        _compare(variant, np.float64, x, W, U, b, kwargs, tag="/global-weights")

    @pytest.mark.parametrize(
        "shape", [(1, 1, 1, 1), (2, 1, 2, 3), (3, 3, 2, 1), (3, 4, 3, 3)], ids=lambda s: "BTFH=" + "x".join(map(str, s))
    )
    @pytest.mark.parametrize("variant", VARIANTS[:4], ids=VARIANT_IDS[:4])
    def test_shapes(self, variant, shape):
        B, T, F, H = shape
        x, W, U, b, kwargs = _case(variant, B, T, F, H, seed=3, mask=T > 1, states=True, return_sequences=True)
        _compare(variant, np.float64, x, W, U, b, kwargs, tag="/shapes")

    @pytest.mark.parametrize(
        "activation, recurrent_activation",
        [("relu", "hard_sigmoid"), ("linear", "tanh"), ("sigmoid", "linear"), ("hard_sigmoid", "relu")],
    )
    @pytest.mark.parametrize("variant", VARIANTS[:3], ids=VARIANT_IDS[:3])
    def test_activations(self, variant, activation, recurrent_activation):
        variant = (variant[0], variant[1], variant[2], activation)
        x, W, U, b, kwargs = _case(variant, seed=5, mask=True, return_sequences=True)
        x = x * 2.0  # reach both sides of relu and the flat ends of hard_sigmoid
        kwargs["recurrent_activation"] = recurrent_activation
        _compare(variant, np.float64, x, W, U, b, kwargs, tag="/activations")

    @pytest.mark.parametrize("activation", ["linear", "sigmoid", "hard_sigmoid"])
    def test_simple_activations(self, activation):
        variant = ("simple", "simple", True, activation)
        x, W, U, b, kwargs = _case(variant, seed=6, mask=True, rdrop=True, return_sequences=True)
        _compare(variant, np.float64, x * 2.0, W, U, b, kwargs, tag="/activations")

    @pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
    def test_float32(self, variant):
        x, W, U, b, kwargs = _case(
            variant, mask=True, states=True, dropout=True, rdrop=True, return_sequences=True, zero_output_for_mask=True
        )
        _compare(variant, np.float32, x, W, U, b, kwargs)

    @pytest.mark.parametrize("return_sequences", [True, False])
    @pytest.mark.parametrize("dtype", [np.float64, np.float32])
    @pytest.mark.parametrize("variant", VARIANTS, ids=VARIANT_IDS)
    def test_inference(self, variant, dtype, return_sequences):
        x, W, U, b, kwargs = _case(
            variant, mask=True, states=True, reverse=return_sequences, return_sequences=return_sequences,
            zero_output_for_mask=True,
        )  # fmt: skip
        out_c, states_c = rnn_inference(x, W, U, b, dtype=dtype, device="cpu", **kwargs)
        out_g, states_g = rnn_inference(x, W, U, b, dtype=dtype, device="cuda", **kwargs)
        tol = FORWARD_TOL[dtype]
        errs = [_err(out_g, out_c)] + [_err(s_g, s_c) for s_g, s_c in zip(states_g, states_c)]
        _record(variant[0] + "/inference", "outputs and states", dtype, max(errs))
        assert max(errs) <= tol
        # Inference agrees with the training forward pass on the device.
        out_t, _, _ = rnn_forward(x, W, U, b, dtype=dtype, device="cuda", **kwargs)
        assert _err(out_g, out_t) <= tol

    def test_tape_runs_backward_on_its_device(self):
        from numbarnn.engine.cells import get_adaptor

        x, W, U, b, kwargs = _case(VARIANTS[0])
        _, _, tape = rnn_forward(x, W, U, b, device="cuda", **kwargs)
        assert tape.plan.adaptor is get_adaptor("lstm", device="cuda")
        assert tape.plan.adaptor.device == "cuda"

    def test_tiled_gemm(self):
        from numbarnn.cuda import common

        rng = np.random.default_rng(1)
        for dtype, tol in ((np.float64, 1e-13), (np.float32, 1e-5)):
            # Several tiles along every axis, each with a partial last tile.
            a = rng.normal(size=(2 * common.TILE + 3, 2 * common.TILE + 1)).astype(dtype)
            w = rng.normal(size=(a.shape[1], common.TILE + 2)).astype(dtype)
            bias = rng.normal(size=w.shape[1]).astype(dtype)
            got = common.project(a, w, bias).copy_to_host()
            assert got.dtype == dtype
            assert _grad_err(got, a.astype(np.float64) @ w + bias) <= tol


def test_unknown_device_lists_the_devices():
    x, W, U, b, kwargs = _case(VARIANTS[0])
    for call in (rnn_forward, rnn_inference):
        with pytest.raises(ValueError, match="device") as info:
            call(x, W, U, b, device="tpu", **kwargs)
        assert "'cpu'" in str(info.value) and "'cuda'" in str(info.value) and "tpu" in str(info.value)


def _gpu_usable():
    if not HAS_NUMBA_CUDA:
        return False
    from numba import cuda

    return bool(cuda.is_available())


@pytest.mark.skipif(SIM, reason="the simulator makes device='cuda' usable")
def test_cuda_without_gpu_fails_fast_with_the_fix():
    if _gpu_usable():
        pytest.skip("a usable GPU is present")
    from numbarnn.engine import cells

    x, W, U, b, kwargs = _case(VARIANTS[0])
    expected = RuntimeError if HAS_NUMBA_CUDA else ImportError
    start = time.perf_counter()
    for call in (rnn_forward, rnn_inference):
        with pytest.raises(expected) as info:
            call(x, W, U, b, device="cuda", **kwargs)
        message = str(info.value)
        assert 'device="cpu"' in message
        if expected is RuntimeError:
            assert "GPU" in message and "driver" in message and "pip install" in message
        else:
            assert 'pip install "numbarnn[cuda]"' in message
    assert time.perf_counter() - start < 60.0  # no hang
    # It failed before any CUDA adaptor was registered (so before any kernel ran).
    assert not any(key[0] == "cuda" for key in cells._ADAPTORS)


def test_missing_numba_cuda_is_an_import_error_with_the_hint(monkeypatch):
    # As if numba-cuda were not installed: importing numbarnn.cuda fails with the install hint.
    monkeypatch.setitem(sys.modules, "numba_cuda", None)
    monkeypatch.delitem(sys.modules, "numbarnn.cuda", raising=False)
    with pytest.raises(ImportError, match=r'pip install "numbarnn\[cuda\]"'):
        importlib.import_module("numbarnn.cuda")


def _ptx_signatures(dtype):
    """The argument types of every kernel, as ``launch`` passes them (C-contiguous device arrays)."""

    def arr(ndim):
        return f"{dtype}[{', '.join([':'] * (ndim - 1) + ['::1'])}]"

    a1, a2, a3, m, i, f = arr(1), arr(2), arr(3), "uint8[:, ::1]", "int64", "boolean"
    return {
        "gemm": [a2, a2, a1, a2],
        "lstm": (
            [a2, a2, a2, a2, m, f, a2, f, i, i, i, f, a3, f, a3, a3, f, a2, a2],
            [a2, a2, m, f, a2, f, i, i, i, f, a3, a3, a3, f, a2, a2, f, a3, a2, a2],
        ),
        "gru_after": (
            [a2, a2, a1, a2, m, f, a2, f, i, i, i, f, a3, f, a3, a3, f, a2],
            [a2, a2, m, f, a2, f, i, i, i, f, a3, a3, a3, a3, f, a2, f, a3, a2],
        ),
        "gru_before": (
            [a2, a2, a2, a2, m, f, a2, f, i, i, i, f, a3, f, a3, f, a2],
            [a2, a2, a2, m, f, a2, f, i, i, i, f, a3, a3, a3, f, a2, f, a3, a2],
        ),
        "simple": (
            [a2, a2, a2, m, f, a2, f, i, i, f, a3, f, a2],
            [a2, m, f, a2, f, i, i, f, a3, a3, f, a2, f, a3, a2],
        ),
    }


def _ptx_compiler():
    """``numba.cuda.compile_ptx`` when NVVM and NVRTC (the CUDA toolkit) can be loaded, else None."""
    if SIM or not HAS_NUMBA_CUDA:
        return None
    from numba import cuda

    def probe(a):
        a[0] = 1.0

    try:
        cuda.compile_ptx(probe, "void(float32[::1])", cc=(7, 5))
    except Exception:
        return None
    return cuda.compile_ptx


@pytest.mark.skipif(SIM, reason="compiles for a real GPU, not the simulator")
@pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda is not installed")
def test_kernels_compile_to_ptx():
    """Every kernel compiles for a real GPU (no GPU needed, the CUDA toolkit is); float32 stays float32."""
    compile_ptx = _ptx_compiler()
    if compile_ptx is None:
        pytest.skip("the CUDA toolkit (NVVM, NVRTC) cannot be loaded")
    from numbarnn.cuda import common, gru_after, gru_before, lstm, simple_rnn

    makers = {
        "lstm": lstm.lstm_kernels,
        "gru_after": gru_after.gru_after_kernels,
        "gru_before": gru_before.gru_before_kernels,
        "simple": simple_rnn.simple_kernels,
    }
    for dtype in ("float32", "float64"):
        sigs = _ptx_signatures(dtype)
        kernels = [(common.gemm_kernel(dtype), sigs["gemm"])]
        for name, make in makers.items():
            kernels += list(zip(make(dtype), sigs[name]))
        for kernel, sig in kernels:
            ptx, _ = compile_ptx(kernel.py_func, f"void({', '.join(sig)})", cc=(7, 5))
            assert ".entry" in ptx
            if dtype == "float32":  # no constant or intermediate promotes to float64
                assert ".f64" not in ptx, kernel.py_func.__qualname__


@pytest.mark.skipif(SIM, reason="already running on the simulator")
@pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda is not installed")
def test_simulator_in_child_process():
    """Run :class:`TestSimulator` in a child process with ``NUMBA_ENABLE_CUDASIM=1``."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", f"{__file__}::TestSimulator"]
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, check=False, env=env, cwd=root, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    print(output[-6000:])
    print(f"child process: {time.perf_counter() - start:.1f} s")
    assert proc.returncode == 0, output[-6000:]
    assert re.search(r"\d+ passed", output), output[-2000:]
    assert not re.search(r"\d+ (failed|skipped|errors?)\b", output), output[-2000:]
