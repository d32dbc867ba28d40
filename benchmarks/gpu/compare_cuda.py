"""numbarnn on an NVIDIA GPU (``device="cuda"``): correctness on the real device, then speed against cuDNN.

Two modes, each its own process (``benchmarks/gpu/check.sh`` runs both):

``--correctness``
    The engine's ``device="cuda"`` results against ``device="cpu"``, in float64
    and float32, for every cell (LSTM, GRU with ``reset_after`` True and False,
    SimpleRNN tanh and relu): outputs, final states and every gradient of
    ``rnn_forward`` / ``rnn_backward`` with masks, reverse reading, initial
    states, input and recurrent dropout, ``zero_output_for_mask``; and
    ``rnn_inference``. Two sizes: a small one and a larger one (B=130, so
    several CUDA blocks run; H=300, so the recurrent weights do not fit in
    shared memory and are read from global memory). When
    ``Sequential.compile`` accepts ``device``, also a whole model (two
    recurrent layers, Dense head, mse, Adam): three ``train_on_batch`` steps
    on each device from the same weights, then losses, weights and
    ``predict_on_batch``. The worst errors go to ``gpu_correctness.json``
    (exit status 1 when one exceeds its tolerance).

default (benchmark)
    float32, for each shape (S1, S3, S4, S5 and L1 of the performance issue,
    plus LARGE: B=512, T=100, F=64, H=1024), cell (LSTM, GRU) and phase
    (train, infer; L1 is inference latency only), at two levels:

    * ``model``: a whole training step ``train_on_batch`` (Input, the LSTM/GRU
      layer(s), Dense(1), mse, Adam) and ``predict_on_batch``, against the
      same model in PyTorch on CUDA (``nn.LSTM``/``nn.GRU`` with
      ``num_layers``, ``nn.Linear``, ``torch.optim.Adam``, MSE; data resident
      on the GPU) and against numbarnn compiled with ``device="cpu"``. Only when
      ``Sequential.compile`` has a ``device`` parameter (checked with
      ``inspect.signature`` at run time); else these rows say "not available".
    * ``layer``: the recurrent layer(s) alone through the engine:
      ``rnn_forward`` + ``rnn_backward`` (train) and ``rnn_inference`` (infer),
      against ``nn.LSTM``/``nn.GRU`` forward + backward (weights and input
      gradients) on CUDA and the engine on the CPU.

    numbarnn's figures include its host-device copies (its calls take and
    return host numpy arrays); PyTorch's data stays on the GPU. For inference
    the JSON also has PyTorch host to host (copy the input over, copy the
    result back) for information.

    PyTorch is timed in true float32 ("ieee":
    ``torch.backends.cudnn.rnn.fp32_precision = "ieee"`` and
    ``torch.backends.cuda.matmul.fp32_precision = "ieee"``, or
    ``allow_tf32 = False`` on releases without those attributes) and, for
    information, with TF32 tensor cores ("tf32"). Every call is synchronised
    (``torch.cuda.synchronize()``, ``numba.cuda.synchronize()``); after warm-up
    calls (numba compiles on the first) the candidates alternate within one
    loop and the medians are kept. The CPU path gets fewer repetitions; a CPU
    call that takes over 20 s (or is estimated, from S4, to take over 60 s) is
    recorded once or skipped, with the reason. The whole run keeps to
    ``--budget-s`` seconds: later rows get fewer repetitions, and rows past the
    budget are recorded as skipped. Results: ``gpu_results.json`` (rewritten
    after every row, so a run cut short keeps what it measured) and
    ``gpu_table.md``; the targets of the GPU issue (against true-float32
    cuDNN, same run) are checked in both.

Run from the repository root on a machine with an NVIDIA GPU, numba-cuda and
PyTorch with CUDA::

    python benchmarks/gpu/compare_cuda.py --correctness --out benchmarks/gpu/results
    python benchmarks/gpu/compare_cuda.py --out benchmarks/gpu/results

(``bash benchmarks/gpu/check.sh`` does both, and runs the CUDA test modules.)
Without PyTorch with CUDA, or without a usable GPU, it stops with exit status 2.
``--quick --simulator`` is a smoke run on Numba's CUDA simulator with tiny
shapes and no PyTorch (any machine)::

    NUMBA_ENABLE_CUDASIM=1 python benchmarks/gpu/compare_cuda.py --quick --simulator --correctness
"""

import argparse
import inspect
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
import traceback

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # the checkout's numbarnn, when run as a script from anywhere

EXIT_ENVIRONMENT = 2
GATES = {"lstm": 4, "gru": 3, "simple": 1}

# name: (B, T, F, hidden sizes); the performance issue's shapes (benchmarks/benchmarks/common.py), the GPU
# issue's large one, and a tiny one for --quick --simulator.
SHAPES = {
    "S1": (32, 10, 1, (64,)),
    "S3": (64, 100, 8, (128,)),
    "S4": (256, 50, 64, (512,)),
    "S5": (64, 8, 16, (32, 32)),
    "L1": (1, 100, 8, (64,)),
    "LARGE": (512, 100, 64, (1024,)),
    "TINY": (3, 4, 3, (4,)),
}
DEFAULT_SHAPES = ("S1", "S3", "S4", "S5", "L1", "LARGE")
INFER_ONLY = {"L1"}
# A row's share of the time budget, by shape.
WEIGHT = {"S1": 1, "S3": 1.5, "S4": 2, "S5": 1, "L1": 1, "LARGE": 4, "TINY": 1}
# Rows run in this order (the targets' rows first); the table is sorted by SHAPE order.
PRIORITY = [("L1", "infer"), ("S1", "train"), ("S5", "train"), ("S4", "train"), ("LARGE", "train"),
            ("S4", "infer"), ("LARGE", "infer"), ("S1", "infer"), ("S5", "infer"), ("S3", "train"),
            ("S3", "infer"), ("TINY", "train"), ("TINY", "infer")]  # fmt: skip

# The GPU issue's targets, on an H200, against true-float32 cuDNN in the same run.
TARGETS = [
    {"shapes": ["L1"], "phases": ["infer"], "vs_cudnn": 2.0, "vs_cpu": None,
     "text": "latency <= 0.5x cuDNN"},
    {"shapes": ["S1", "S5"], "phases": ["train"], "vs_cudnn": 2.0, "vs_cpu": None,
     "text": ">= 2x torch CUDA"},
    {"shapes": ["S4", "LARGE"], "phases": ["train", "infer"], "vs_cudnn": 0.7, "vs_cpu": 10.0,
     "text": ">= 0.7x cuDNN, >= 10x CPU"},
]  # fmt: skip

TORCH_DEVICE = "cuda"  # only a test harness changes it
CPU_CALL_LIMIT_S = 20.0  # a slower CPU call is recorded once, not repeated
CPU_ESTIMATE_LIMIT_S = 60.0  # a CPU call estimated (from S4) to be slower is not run at all


class Interrupted(Exception):
    """SIGTERM (``timeout``): stop measuring, write what was measured."""


def _on_sigterm(signum, frame):
    raise Interrupted(f"signal {signum}")


def fail_environment(message):
    print(f"compare_cuda.py: {message}", file=sys.stderr)
    sys.exit(EXIT_ENVIRONMENT)


def write_json(path, obj):
    obj["written_utc"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, default=str)
    os.replace(tmp, path)


# -- environment ----------------------------------------------------------------------


def setup_numbarnn_cuda(simulator):
    """Import numbarnn and its CUDA package, check the device; exit 2 with the reason when it cannot run."""
    sim_env = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    if simulator and not sim_env:
        if "numba" in sys.modules:
            fail_environment("--simulator needs NUMBA_ENABLE_CUDASIM=1 before numba is imported")
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    elif not simulator and sim_env:
        fail_environment("NUMBA_ENABLE_CUDASIM=1 is set: the figures would be the simulator's. Unset it, "
                         "or pass --quick --simulator for a smoke run.")  # fmt: skip
    import numbarnn

    try:
        import numbarnn.cuda as ncuda
    except ImportError as exc:
        fail_environment(f"numbarnn's CUDA path cannot be imported: {exc}")
    try:
        ncuda.require_device()
    except RuntimeError as exc:
        fail_environment(str(exc))
    if bool(ncuda.SIMULATOR) != bool(simulator):
        fail_environment(f"numbarnn.cuda.SIMULATOR is {ncuda.SIMULATOR}, expected {bool(simulator)}")
    return numbarnn


def setup_torch():
    """Import torch with CUDA; exit 2 with a clear message when it or a GPU is missing."""
    try:
        import torch
    except ImportError as exc:
        fail_environment(f"the benchmark needs PyTorch with CUDA (import torch failed: {exc}); "
                         "or run --correctness alone, or --quick --simulator")  # fmt: skip
    if not torch.cuda.is_available():
        fail_environment(f"PyTorch {torch.__version__} sees no CUDA GPU (torch.version.cuda={torch.version.cuda}); "
                         "the benchmark needs PyTorch with CUDA and an NVIDIA GPU")  # fmt: skip
    if not torch.backends.cudnn.is_available():
        fail_environment(f"PyTorch {torch.__version__} has no cuDNN; the comparison is against cuDNN")
    return torch


def precision_api(torch):
    """'fp32_precision' when this torch has the attributes, else 'allow_tf32'."""
    cudnn_rnn = getattr(torch.backends.cudnn, "rnn", None)
    if hasattr(cudnn_rnn, "fp32_precision") and hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        return "fp32_precision"
    return "allow_tf32"


def set_precision(torch, mode):
    """'ieee' (true float32) or 'tf32' for cuDNN's RNNs and cuBLAS matmuls."""
    if precision_api(torch) == "fp32_precision":
        torch.backends.cudnn.rnn.fp32_precision = mode
        torch.backends.cuda.matmul.fp32_precision = mode
        return "fp32_precision"
    else:
        allow = mode == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = allow
        torch.backends.cudnn.allow_tf32 = allow
        return "allow_tf32"


def precision_state(torch):
    """The precision settings as torch reports them (for the JSON)."""
    state = {}
    for name, get in (("cudnn.rnn.fp32_precision", lambda: torch.backends.cudnn.rnn.fp32_precision),
                      ("cuda.matmul.fp32_precision", lambda: torch.backends.cuda.matmul.fp32_precision),
                      ("cudnn.allow_tf32", lambda: torch.backends.cudnn.allow_tf32),
                      ("cuda.matmul.allow_tf32", lambda: torch.backends.cuda.matmul.allow_tf32)):  # fmt: skip
        try:
            state[name] = get()
        except Exception as exc:  # e.g. reading a legacy flag after the new API was used
            state[name] = f"unreadable: {type(exc).__name__}"
    return state


def _version(dist):
    try:
        from importlib import metadata

        return metadata.version(dist)
    except Exception:
        return None


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _run(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=ROOT)
        return out.stdout.strip() if out.returncode == 0 else None
    except Exception:
        return None


def environment(numbarnn, torch=None):
    import numba
    from numba import cuda

    import numbarnn.cuda as ncuda

    env = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "numbarnn": numbarnn.__version__,
        "numbarnn_threads": numbarnn.get_num_threads(),
        "git_commit": _run(["git", "rev-parse", "HEAD"]),
        "git_dirty": bool(_run(["git", "status", "--porcelain", "--untracked-files=no"])),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_cuda": _version("numba-cuda"),
        "simulator": bool(ncuda.SIMULATOR),
    }
    if not ncuda.SIMULATOR:
        try:
            dev = cuda.get_current_device()
            name = dev.name
            env["gpu_numba"] = name.decode() if isinstance(name, bytes) else str(name)
            env["compute_capability"] = list(dev.compute_capability)
            env["sm_count"] = dev.MULTIPROCESSOR_COUNT
        except Exception as exc:
            env["gpu_numba_error"] = repr(exc)
        try:
            env["cuda_driver_api"] = list(cuda.cudadrv.driver.driver.get_version())
        except Exception:
            pass
        try:
            env["cuda_runtime_numba"] = list(cuda.runtime.get_version())
        except Exception:
            pass
        env["nvidia_smi"] = _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm,"
                                  "power.limit", "--format=csv,noheader"])  # fmt: skip
    if torch is not None:
        env["torch"] = torch.__version__
        env["torch_cuda"] = torch.version.cuda
        env["cudnn"] = torch.backends.cudnn.version()
        env["gpu"] = torch.cuda.get_device_name(0)
        env["torch_precision_api"] = precision_api(torch)
        env["torch_threads"] = torch.get_num_threads()
    return env


def sync_numba():
    from numba import cuda

    cuda.synchronize()


# -- correctness ----------------------------------------------------------------------

# (label, cell, reset_after, activation), as tests/test_cuda_sim.py
VARIANTS = [
    ("lstm", "lstm", True, "tanh"),
    ("gru-after", "gru", True, "tanh"),
    ("gru-before", "gru", False, "tanh"),
    ("simple-tanh", "simple", True, "tanh"),
    ("simple-relu", "simple", True, "relu"),
]
N_STATES = {"lstm": 2, "gru": 1, "simple": 1}
SCENARIOS = {
    "plain": {"return_sequences": True},
    "masked-states-zero-output": {"mask": True, "states": True, "rdrop": True, "bias": False,
                                  "return_sequences": True, "zero_output_for_mask": True},
    "reverse-dropout-last": {"mask": True, "states": True, "dropout": True, "rdrop": True, "reverse": True},
    "reverse-sequences": {"mask": True, "dropout": True, "reverse": True, "return_sequences": True},
}  # fmt: skip
# (B, T, F, H): small; larger (several blocks, weights in global memory); tiny for the simulator.
SIZES = {"small": (5, 7, 3, 8), "large": (130, 12, 20, 300)}
SIM_SIZES = {"tiny": (3, 4, 3, 4)}
# Largest relative error allowed, per (dtype, size, kind). Looser than the simulator test's (tiny shapes):
# a real GPU rounds differently (FMA, its own exp/tanh), and errors grow with H, T and the batch sums.
TOLERANCE = {
    ("float64", "small", "forward"): 1e-10, ("float64", "small", "gradient"): 1e-9,
    ("float64", "large", "forward"): 1e-9, ("float64", "large", "gradient"): 1e-8,
    ("float32", "small", "forward"): 1e-5, ("float32", "small", "gradient"): 1e-4,
    ("float32", "large", "forward"): 1e-4, ("float32", "large", "gradient"): 1e-3,
    ("float64", "model", "model"): 1e-7, ("float32", "model", "model"): 1e-2,
}  # fmt: skip
for _k in list(TOLERANCE):
    if _k[1] == "small":
        TOLERANCE[(_k[0], "tiny", _k[2])] = TOLERANCE[_k]


def _err(got, ref):
    """Max-norm error of ``got`` relative to the largest entry of ``ref`` (absolute below 1)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        raise AssertionError(f"shape {got.shape} != {ref.shape}")
    if ref.size == 0:
        return 0.0
    if not np.all(np.isfinite(got)):
        return math.inf
    return float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1.0))


def _grad_err(got, ref):
    """Max-norm error of ``got`` relative to the largest entry of ``ref``."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        raise AssertionError(f"shape {got.shape} != {ref.shape}")
    if ref.size == 0:
        return 0.0
    if not np.all(np.isfinite(got)):
        return math.inf
    scale, diff = np.abs(ref).max(), np.abs(got - ref).max()
    return float(diff / scale) if scale else float(diff)


def _masks(B, T):
    rows = [[True] * T, [False] * (T // 2) + [True] * (T - T // 2), [True] * (T - 1) + [False]]
    return np.array([rows[b % 3] for b in range(B)], bool)


def _case(variant, B, T, F, H, seed=0, *, mask=False, states=False, dropout=False, rdrop=False, bias=True,
          **options):  # fmt: skip
    """Inputs (float64) and options of one engine call."""
    _, cell, reset_after, activation = variant
    rng = np.random.default_rng(seed)
    G = GATES[cell]
    x = rng.normal(size=(B, T, F))
    W = rng.normal(size=(F, G * H)) * 0.6 / math.sqrt(max(F / 3, 1))
    U = rng.normal(size=(H, G * H)) * 0.6 / math.sqrt(max(H / 4, 1))
    if not bias:
        b = None
    elif cell == "gru" and reset_after:
        b = rng.normal(size=(2, 3 * H)) * 0.3
    else:
        b = rng.normal(size=(G * H,)) * 0.3
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


def _engine_case_errors(numbarnn, variant, dtype, x, W, U, b, kwargs):
    """{quantity: (kind, error)} of one forward + backward, cuda against cpu in ``dtype``; also vs float64 cpu."""
    rng = np.random.default_rng(7)
    runs, d_out, d_states = {}, None, None
    for device, dt in (("cpu", dtype), ("cuda", dtype), ("cpu64", "float64")):
        dev = "cpu" if device == "cpu64" else device
        if device == "cpu64" and dtype == "float64":
            continue
        out, states, tape = numbarnn.rnn_forward(x, W, U, b, dtype=dt, device=dev, **kwargs)
        if d_out is None:
            d_out = rng.normal(size=out.shape)
            d_states = [rng.normal(size=s.shape) for s in states]
        grads = numbarnn.rnn_backward(tape, d_outputs=d_out, d_states=d_states)
        if dev == "cuda":
            sync_numba()
            if out.dtype != np.dtype(dtype):
                raise AssertionError(f"device='cuda' returned {out.dtype}, expected {dtype}")
        runs[device] = (out, states, grads)

    def quantities(run):
        out, states, g = run
        q = {"outputs": ("forward", out)}
        q.update({f"state[{i}]": ("forward", s) for i, s in enumerate(states)})
        q["d_x"] = ("gradient", g.x)
        q.update({f"d_initial_state[{i}]": ("gradient", s) for i, s in enumerate(g.initial_state)})
        q["d_kernel"] = ("gradient", g.kernel)
        q["d_recurrent_kernel"] = ("gradient", g.recurrent_kernel)
        if g.bias is not None:
            q["d_bias"] = ("gradient", g.bias)
        return q

    qc, qg = quantities(runs["cpu"]), quantities(runs["cuda"])
    if set(qc) != set(qg):
        raise AssertionError(f"cuda returned {sorted(qg)}, cpu {sorted(qc)}")
    result = {}
    for name, (kind, ref) in qc.items():
        fn = _err if kind == "forward" else _grad_err
        entry = {"kind": kind, "error": fn(qg[name][1], ref)}
        if "cpu64" in runs:  # for context: how far each float32 result is from the float64 CPU one
            ref64 = quantities(runs["cpu64"])[name][1]
            entry["cuda_vs_cpu_float64"] = fn(qg[name][1], ref64)
            entry["cpu_vs_cpu_float64"] = fn(ref, ref64)
        result[name] = entry
    return result


def _inference_errors(numbarnn, variant, dtype, x, W, U, b, kwargs):
    out_c, st_c = numbarnn.rnn_inference(x, W, U, b, dtype=dtype, device="cpu", **kwargs)
    out_g, st_g = numbarnn.rnn_inference(x, W, U, b, dtype=dtype, device="cuda", **kwargs)
    out_t, _, _ = numbarnn.rnn_forward(x, W, U, b, dtype=dtype, device="cuda", **kwargs)
    sync_numba()
    errs = [_err(out_g, out_c)] + [_err(a, c) for a, c in zip(st_g, st_c)]
    return {"inference outputs and states": {"kind": "forward", "error": max(errs)},
            "inference vs training forward (cuda)": {"kind": "forward", "error": _err(out_g, out_t)}}  # fmt: skip


def model_device_supported(numbarnn):
    try:
        return "device" in inspect.signature(numbarnn.Sequential.compile).parameters
    except (TypeError, ValueError):
        return False


def _model_errors(numbarnn, cell, dtype, B, T, F, H, steps=3):
    """Three train_on_batch steps on each device from the same weights: losses, weights, predictions."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=(B, T, F)).astype(dtype)
    y = rng.normal(size=(B, 1)).astype(dtype)
    layer = numbarnn.LSTM if cell == "lstm" else numbarnn.GRU
    models = {}
    for device in ("cpu", "cuda"):
        numbarnn.utils.set_random_seed(0)
        m = numbarnn.Sequential([numbarnn.Input((T, F)), layer(H, return_sequences=True, dtype=dtype),
                                 layer(H, dtype=dtype), numbarnn.Dense(1, dtype=dtype)])  # fmt: skip
        m.compile(optimizer="adam", loss="mse", device=device)
        models[device] = m
    models["cuda"].predict_on_batch(x[:1])  # built
    models["cpu"].predict_on_batch(x[:1])
    models["cuda"].set_weights(models["cpu"].get_weights())
    losses = {d: [float(models[d].train_on_batch(x, y)) for _ in range(steps)] for d in ("cpu", "cuda")}
    sync_numba()
    wc, wg = models["cpu"].get_weights(), models["cuda"].get_weights()
    pc, pg = models["cpu"].predict_on_batch(x), models["cuda"].predict_on_batch(x)
    sync_numba()
    loss_err = max(abs(a - c) / max(abs(c), 1e-12) for a, c in zip(losses["cuda"], losses["cpu"]))
    return {
        "losses": {"kind": "model", "error": float(loss_err), "cpu": losses["cpu"], "cuda": losses["cuda"]},
        "weights": {"kind": "model", "error": max(_grad_err(g, c) for g, c in zip(wg, wc))},
        "predictions": {"kind": "model", "error": _err(pg, pc)},
    }


def correctness(numbarnn, args):
    """Run every comparison; returns the JSON-able report."""
    from numbarnn.cuda import SIMULATOR

    sizes = SIM_SIZES if SIMULATOR or args.quick else SIZES
    rows, start = [], time.perf_counter()

    def record(group, label, size, scenario, dtype, fn):
        t0 = time.perf_counter()
        try:
            errs = fn()
        except Interrupted:
            raise
        except Exception as exc:
            rows.append({"group": group, "variant": label, "size": size, "scenario": scenario, "dtype": dtype,
                         "quantity": "(call)", "error": None, "ok": False,
                         "exception": "".join(traceback.format_exception_only(type(exc), exc)).strip()})  # fmt: skip
            print(f"  {group:9s} {label:12s} {size:6s} {scenario:26s} {dtype:8s} EXCEPTION {exc}", flush=True)
            return
        worst = 0.0
        ok_all = True
        for quantity, e in errs.items():
            tol = TOLERANCE[(dtype, size if group != "model" else "model", e["kind"])]
            ok = e["error"] is not None and e["error"] <= tol
            ok_all &= ok
            worst = max(worst, e["error"])
            rows.append({"group": group, "variant": label, "size": size, "scenario": scenario, "dtype": dtype,
                         "quantity": quantity, "tolerance": tol, "ok": ok, **e})  # fmt: skip
        print(f"  {group:9s} {label:12s} {size:6s} {scenario:26s} {dtype:8s} worst {worst:9.2e} "
              f"{'ok' if ok_all else 'FAIL'} ({time.perf_counter() - t0:.1f} s)", flush=True)  # fmt: skip

    print(f"correctness: device='cuda' against device='cpu' ({'simulator' if SIMULATOR else 'GPU'}), "
          f"sizes {sizes}", flush=True)  # fmt: skip
    for size, (B, T, F, H) in sizes.items():
        for variant in VARIANTS:
            for dtype in ("float64", "float32"):
                for scenario, opts in SCENARIOS.items():
                    x, W, U, b, kw = _case(variant, B, T, F, H, **opts)
                    record("engine", variant[0], size, scenario, dtype,
                           lambda: _engine_case_errors(numbarnn, variant, dtype, x, W, U, b, kw))  # fmt: skip
                x, W, U, b, kw = _case(variant, B, T, F, H, seed=3, mask=True, states=True, reverse=True,
                                       return_sequences=True, zero_output_for_mask=True)  # fmt: skip
                record("inference", variant[0], size, "masked-states-reverse", dtype,
                       lambda: _inference_errors(numbarnn, variant, dtype, x, W, U, b, kw))  # fmt: skip
    model = {"available": model_device_supported(numbarnn)}
    model_steps = 2 if SIMULATOR else 3
    if model["available"]:
        for size, (B, T, F, H) in sizes.items():
            for cell in ("lstm", "gru"):
                for dtype in ("float64", "float32"):
                    record("model", cell, size, "2 layers+Dense, adam", dtype,
                           lambda: _model_errors(numbarnn, cell, dtype, B, T, F, H, steps=model_steps))  # fmt: skip
    else:
        model["reason"] = "Sequential.compile has no 'device' parameter"
        print("  model-level: not available (Sequential.compile has no 'device' parameter)")
    worst = {}
    for r in rows:
        key = f"{r['group']}/{r['variant']}/{r['size']}/{r['dtype']}"
        w = worst.setdefault(key, {"error": 0.0, "quantity": None, "scenario": None, "ok": True})
        w["ok"] &= r["ok"]
        if r["error"] is None or r["error"] > w["error"] or w["quantity"] is None:
            w.update(error=r["error"] if r["error"] is not None else math.inf, quantity=r["quantity"],
                     scenario=r["scenario"])  # fmt: skip
    failures = [r for r in rows if not r["ok"]]
    report = {"passed": not failures, "n_checks": len(rows), "n_failures": len(failures),
              "seconds": round(time.perf_counter() - start, 1), "sizes": sizes, "model_level": model,
              "tolerances": {"/".join(k): v for k, v in TOLERANCE.items()}, "worst": worst,
              "failures": failures, "rows": rows}  # fmt: skip
    print(f"\n{'group/variant/size/dtype':40s} {'worst error':>11s}  quantity (scenario)")
    for key, w in sorted(worst.items()):
        print(f"{key:40s} {w['error']:11.2e}  {w['quantity']} ({w['scenario']}){'' if w['ok'] else '  FAIL'}")
    print(f"\ncorrectness: {len(rows)} checks, {len(failures)} failures, {report['seconds']} s", flush=True)
    return report


# -- the benchmark's candidates -------------------------------------------------------


def _data(shape, seed=0):
    B, T, F, hs = SHAPES[shape]
    rng = np.random.default_rng(seed)
    return rng.normal(size=(B, T, F)).astype(np.float32), rng.normal(size=(B, 1)).astype(np.float32)


def _engine_weights(cell, shape, seed=0):
    B, T, F, hs = SHAPES[shape]
    rng = np.random.default_rng(seed + 1)
    G, ws, f = GATES[cell], [], F
    for H in hs:
        W = (rng.normal(size=(f, G * H)) / np.sqrt(f)).astype(np.float32)
        U = (rng.normal(size=(H, G * H)) / np.sqrt(H)).astype(np.float32)
        b = np.zeros((2, 3 * H) if cell == "gru" else (G * H,), np.float32)
        ws.append((W, U, b))
        f = H
    return ws


def numbarnn_layer_fns(numbarnn, cell, shape, device):
    """(train, infer) of the recurrent layer(s) alone through the engine, float32."""
    x, _ = _data(shape)
    ws = _engine_weights(cell, shape)
    B, H = SHAPES[shape][0], SHAPES[shape][3][-1]
    g = np.random.default_rng(2).normal(size=(B, H)).astype(np.float32)
    n = len(ws)

    def train():
        tapes, h = [], x
        for i, (W, U, b) in enumerate(ws):
            h, _, tape = numbarnn.rnn_forward(h, W, U, b, cell=cell, return_sequences=i < n - 1, device=device)
            tapes.append(tape)
        d = g
        for tape in reversed(tapes):
            d = numbarnn.rnn_backward(tape, d_outputs=d).x

    def infer():
        h = x
        for i, (W, U, b) in enumerate(ws):
            h, _ = numbarnn.rnn_inference(h, W, U, b, cell=cell, return_sequences=i < n - 1, device=device)
        return h

    return train, infer


def numbarnn_model_fns(numbarnn, cell, shape, device):
    """(train, infer) of a whole model: Input, the recurrent layer(s), Dense(1), mse, Adam; float32."""
    B, T, F, hs = SHAPES[shape]
    x, y = _data(shape)
    numbarnn.utils.set_random_seed(0)
    layer = numbarnn.LSTM if cell == "lstm" else numbarnn.GRU
    layers = [numbarnn.Input((T, F))]
    layers += [layer(h, return_sequences=i < len(hs) - 1, dtype="float32") for i, h in enumerate(hs)]
    model = numbarnn.Sequential(layers + [numbarnn.Dense(1, dtype="float32")])
    model.compile(optimizer="adam", loss="mse", device=device)

    def train():
        model.train_on_batch(x, y)

    def infer():
        return model.predict_on_batch(x)

    return train, infer


def torch_fns(torch, cell, shape, level):
    """(train, infer, infer_host): the same work in PyTorch on CUDA, data on the GPU (infer_host: host to host)."""
    B, T, F, hs = SHAPES[shape]
    x_np, y_np = _data(shape)
    dev = torch.device(TORCH_DEVICE)
    torch.manual_seed(0)
    cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
    rnn = cls(F, hs[0], num_layers=len(hs), batch_first=True).to(dev)
    x = torch.from_numpy(x_np).to(dev)
    x_host = torch.from_numpy(x_np)
    if level == "model":
        head = torch.nn.Linear(hs[-1], 1).to(dev)
        y = torch.from_numpy(y_np).to(dev)
        opt = torch.optim.Adam(list(rnn.parameters()) + list(head.parameters()), lr=1e-3)

        def train():
            opt.zero_grad(set_to_none=True)
            out, _ = rnn(x)
            loss = torch.nn.functional.mse_loss(head(out[:, -1]), y)
            loss.backward()
            opt.step()

        def forward(inp):
            out, _ = rnn(inp)
            return head(out[:, -1])
    else:
        xg = x.clone().requires_grad_(True)
        g = torch.from_numpy(np.random.default_rng(2).normal(size=(B, hs[-1])).astype(np.float32)).to(dev)

        def train():
            rnn.zero_grad(set_to_none=True)
            xg.grad = None
            out, _ = rnn(xg)
            (out[:, -1] * g).sum().backward()

        def forward(inp):
            return rnn(inp)[0][:, -1]

    def infer():
        with torch.inference_mode():
            return forward(x)

    def infer_host():
        with torch.inference_mode():
            return forward(x_host.to(dev)).cpu()

    return train, infer, infer_host


# -- measurement ----------------------------------------------------------------------


def flops(cell, shape, train):
    """Multiply-adds x 2 of the recurrent layers and the head (training: about three times the forward)."""
    B, T, F, hs = SHAPES[shape]
    total, f = 0, F
    for H in hs:
        total += 2 * B * T * GATES[cell] * H * (f + H)
        f = H
    total += 2 * B * f
    return 3 * total if train else total


class Candidate:
    def __init__(self, name, fn, sync, cpu=False):
        self.name, self.fn, self.sync, self.cpu = name, fn, sync, cpu
        self.samples, self.warmup, self.note, self.error, self.approximate = [], [], None, None, False

    def call(self):
        self.sync()
        t0 = time.perf_counter()
        self.fn()
        self.sync()
        return time.perf_counter() - t0

    def result(self):
        r = {"reps": len(self.samples), "warmup_s": [round(w, 4) for w in self.warmup]}
        if self.error:
            r["error"] = self.error
        if self.note:
            r["note"] = self.note
        if self.samples:
            ms = [s * 1e3 for s in self.samples]
            r.update(median_ms=statistics.median(ms), min_ms=min(ms), max_ms=max(ms),
                     samples_ms=[round(m, 4) for m in ms])  # fmt: skip
        elif self.approximate and self.warmup:
            r.update(median_ms=self.warmup[-1] * 1e3, approximate=True)
        return r


def measure(cands, reps, row_budget, warmups=2):
    """Warm up every candidate, then alternate them ``reps`` times (fewer when the budget is short)."""
    t_row = time.perf_counter()
    live = []
    for c in cands:
        if c.error or c.note:
            continue
        try:
            c.warmup.append(c.call())
            if c.cpu and c.warmup[0] > CPU_CALL_LIMIT_S:
                c.approximate = True
                c.note = (f"one CPU call took {c.warmup[0]:.1f} s (> {CPU_CALL_LIMIT_S:.0f} s): recorded once, "
                          "not repeated; the speed-up against it is approximate")  # fmt: skip
                continue
            for _ in range(warmups - 1):
                if c.cpu and c.warmup[-1] > 5.0:  # a slow CPU call: one warm-up (its first call compiles little)
                    break
                c.warmup.append(c.call())  # on the GPU the first call compiles: the second is the estimate
            live.append(c)
        except Interrupted:
            raise
        except Exception as exc:
            c.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            print(f"    {c.name}: {c.error}", flush=True)
    if not live:
        return
    left = row_budget - (time.perf_counter() - t_row)
    per_rep = sum(c.warmup[-1] for c in live)
    n = max(3, min(reps, int(left / per_rep) if per_rep > 0 else reps))
    n_cpu = {}
    for c in live:
        if c.cpu:  # the CPU path: fewer repetitions, at most about 40% of the row's budget
            n_cpu[c.name] = max(1, min(n, int(0.4 * row_budget / max(c.warmup[-1], 1e-9))))
            per_rep -= c.warmup[-1]
    if any(c.cpu for c in live):
        left_gpu = left - sum(n_cpu[c.name] * c.warmup[-1] for c in live if c.cpu)
        n = max(3, min(reps, int(left_gpu / per_rep) if per_rep > 0 else reps))
    for i in range(n):
        for c in live:
            if c.cpu and i >= n_cpu[c.name]:
                continue
            try:
                c.samples.append(c.call())
            except Interrupted:
                raise
            except Exception as exc:
                c.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                live.remove(c)
                break


def _ratio(num, den):
    if num is None or den is None or not den:
        return None
    return num / den


def evaluate_target(row):
    for t in TARGETS:
        if row["shape"] in t["shapes"] and row["phase"] in t["phases"]:
            met = True
            if row["speedup_vs_cudnn_ieee"] is None or (t["vs_cpu"] and row["speedup_vs_cpu"] is None):
                met = None
            else:
                met = row["speedup_vs_cudnn_ieee"] >= t["vs_cudnn"]
                if t["vs_cpu"]:
                    met = met and row["speedup_vs_cpu"] >= t["vs_cpu"]
            return t["text"], met
    return None, None


def benchmark_rows(args):
    """The rows to measure, in PRIORITY order: (level, shape, phase, cell)."""
    shapes = [s for s in args.shapes.split(",") if s]
    for s in shapes:
        if s not in SHAPES:
            raise SystemExit(f"unknown shape {s!r}; choose from {', '.join(SHAPES)}")
    cells = [c for c in args.cells.split(",") if c]
    levels = [lv for lv in args.levels.split(",") if lv]
    order = {k: i for i, k in enumerate(PRIORITY)}
    pairs = [(s, p) for s in shapes for p in ("train", "infer") if not (s in INFER_ONLY and p == "train")]
    pairs.sort(key=lambda sp: order.get(sp, len(order)))
    return [(lv, s, p, c) for lv in levels for s, p in pairs for c in cells]


def run_benchmark(numbarnn, torch, args, report, save):
    """Measure every row (``save()`` after each); fills ``report['rows']``."""
    deadline = time.perf_counter() + args.budget_s
    jobs = benchmark_rows(args)
    model_ok = model_device_supported(numbarnn)
    report["model_level"] = {"available": model_ok}
    if not model_ok:
        report["model_level"]["reason"] = "Sequential.compile has no 'device' parameter (inspect.signature)"
    cpu_ms = {}  # (level, cell, phase, shape) -> CPU median, for estimating LARGE from S4
    rows = report["rows"]
    for k, (level, shape, phase, cell) in enumerate(jobs):
        B, T, F, hs = SHAPES[shape]
        row = {"level": level, "shape": shape, "cell": cell, "phase": phase, "B": B, "T": T, "F": F,
               "H": list(hs), "dtype": "float32"}  # fmt: skip
        rows.append(row)
        remaining = deadline - time.perf_counter()
        if level == "model" and not model_ok:
            row["skipped"] = "not available: " + report["model_level"]["reason"]
        elif remaining < 3.0:
            row["skipped"] = f"time budget (--budget-s {args.budget_s:.0f}) used up"
        if "skipped" in row:
            _finish_row(row, {})
            save()
            continue
        weights = [WEIGHT.get(s, 1) for (lv, s, p, c) in jobs[k:] if not (lv == "model" and not model_ok)]
        row_budget = remaining * WEIGHT.get(shape, 1) / sum(weights)
        t0 = time.perf_counter()
        print(f"[{k + 1}/{len(jobs)}] {level:5s} {shape:5s} {cell:4s} {phase:5s} (budget {row_budget:.1f} s)",
              flush=True)  # fmt: skip
        try:
            cands = _candidates(numbarnn, torch, args, level, shape, phase, cell, cpu_ms)
            measure(cands, args.reps, row_budget)
        except Interrupted:
            row["skipped"] = "interrupted while measuring"
            _finish_row(row, {})
            raise
        results = {c.name: c.result() for c in cands}
        row["seconds"] = round(time.perf_counter() - t0, 2)
        _finish_row(row, results)
        if results.get("numbarnn_cpu", {}).get("median_ms") and not results["numbarnn_cpu"].get("approximate"):
            cpu_ms[(level, cell, phase, shape)] = results["numbarnn_cpu"]["median_ms"]
        done = [f"{n}={r['median_ms']:.3f}ms" + ("~" if r.get("approximate") else "")
                for n, r in results.items() if r.get("median_ms") is not None]  # fmt: skip
        print("    " + "  ".join(done), flush=True)
        save()


def _candidates(numbarnn, torch, args, level, shape, phase, cell, cpu_ms):
    import functools

    make = numbarnn_model_fns if level == "model" else numbarnn_layer_fns
    idx = 0 if phase == "train" else 1
    cands = []

    def add(name, builder, sync, cpu=False):
        c = Candidate(name, None, sync, cpu)
        try:
            c.fn = builder()
        except Interrupted:
            raise
        except Exception as exc:
            c.error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            print(f"    {name}: {c.error}", flush=True)
        cands.append(c)
        return c

    add("numbarnn_cuda", lambda: make(numbarnn, cell, shape, "cuda")[idx], sync_numba)
    if torch is not None:
        tsync = torch.cuda.synchronize
        fns = {}

        def torch_builder(mode, which):
            if "fns" not in fns:
                fns["fns"] = torch_fns(torch, cell, shape, level)
            fn = fns["fns"][which]

            def call():
                set_precision(torch, mode)
                fn()

            return call

        add("torch_ieee", functools.partial(torch_builder, "ieee", idx), tsync)
        add("torch_tf32", functools.partial(torch_builder, "tf32", idx), tsync)
        if phase == "infer":
            add("torch_ieee_host", functools.partial(torch_builder, "ieee", 2), tsync)
    if not args.no_cpu:
        c = add("numbarnn_cpu", lambda: make(numbarnn, cell, shape, "cpu")[idx], lambda: None, cpu=True)
        ref = cpu_ms.get((level, cell, phase, "S4"))
        if shape == "LARGE" and ref is not None and c.error is None:
            est = ref * flops(cell, "LARGE", phase == "train") / flops(cell, "S4", phase == "train") / 1e3
            if est > CPU_ESTIMATE_LIMIT_S:
                c.note = (f"skipped: one CPU call estimated at {est:.0f} s from S4 (> {CPU_ESTIMATE_LIMIT_S:.0f} s)")
    if torch is not None:
        set_precision(torch, "ieee")
    return cands


def _finish_row(row, results):
    row["results"] = results

    def med(name):
        return results.get(name, {}).get("median_ms")

    ours = med("numbarnn_cuda")
    row["speedup_vs_cudnn_ieee"] = _ratio(med("torch_ieee"), ours)
    row["speedup_vs_cudnn_tf32"] = _ratio(med("torch_tf32"), ours)
    row["speedup_vs_torch_host_to_host"] = _ratio(med("torch_ieee_host"), ours)
    row["speedup_vs_cpu"] = _ratio(med("numbarnn_cpu"), ours)
    row["speedup_vs_cpu_approximate"] = bool(results.get("numbarnn_cpu", {}).get("approximate"))
    row["numbarnn_cuda_gflops"] = (flops(row["cell"], row["shape"], row["phase"] == "train") / ours / 1e6
                                   if ours else None)  # fmt: skip
    row["target"], row["target_met"] = evaluate_target(row)


# -- report ---------------------------------------------------------------------------


def _fmt_ms(r):
    if not r:
        return "–"
    if r.get("median_ms") is not None:
        return f"{'~' if r.get('approximate') else ''}{r['median_ms']:.3f}"
    if r.get("error"):
        return "error"
    if r.get("note"):
        return "skipped"
    return "–"


def _fmt_x(v, approx=False):
    if v is None:
        return "–"
    return f"{'~' if approx else ''}{v:.2f}x" if v >= 0.1 else f"{'~' if approx else ''}{v:.2g}x"


def table(report):
    rows = sorted(report.get("rows", []), key=lambda r: (["model", "layer"].index(r["level"]) if r["level"] in
                                                         ("model", "layer") else 9,
                                                         list(SHAPES).index(r["shape"]),
                                                         ["lstm", "gru"].index(r["cell"]) if r["cell"] in
                                                         ("lstm", "gru") else 9,
                                                         r["phase"] != "train"))  # fmt: skip
    env = report.get("environment", {})
    lines = ["# numbarnn device=\"cuda\" against cuDNN and the CPU", ""]
    if env.get("simulator"):
        lines += ["**Numba's CUDA simulator: a smoke run, the times mean nothing.**", ""]
    lines.append(f"GPU: {env.get('gpu') or env.get('gpu_numba') or ('simulator' if env.get('simulator') else '?')}; "
                 f"driver/CUDA: {env.get('nvidia_smi') or env.get('cuda_driver_api')} / torch CUDA "
                 f"{env.get('torch_cuda')}, cuDNN {env.get('cudnn')}; torch {env.get('torch')}, numba "
                 f"{env.get('numba')}, numba-cuda {env.get('numba_cuda')}, numbarnn {env.get('numbarnn')} "
                 f"({env.get('git_commit', '')[:10] if env.get('git_commit') else '?'}"
                 f"{', dirty' if env.get('git_dirty') else ''}); CPU: {env.get('cpu_model')}, "
                 f"{env.get('cpu_affinity') or env.get('cpu_count')} cores, numbarnn threads "
                 f"{env.get('numbarnn_threads')}.")  # fmt: skip
    lines.append("")
    corr = report.get("correctness")
    if corr:
        lines.append(f"Correctness on the device: {'passed' if corr.get('passed') else 'FAILED'} "
                     f"({corr.get('n_checks')} checks, {corr.get('n_failures')} failures"
                     f"{'' if corr.get('complete') else ', incomplete'}; gpu_correctness.json written "
                     f"{corr.get('written_utc')} UTC)")  # fmt: skip
    else:
        lines.append("Correctness on the device: not run in this output directory (`--correctness`).")
    lines.append("")
    lines.append("Times are medians in ms per call (float32; `~`: one call only). Speed-up = other time / numbarnn "
                 "cuda time (above 1: numbarnn is faster). \"ieee\": true float32; \"TF32\": tensor cores, for "
                 "information; targets are against ieee.")  # fmt: skip
    lines.append("")
    head = ["shape", "cell", "level", "phase", "numbarnn cuda ms", "torch cuDNN ieee ms", "torch TF32 ms",
            "numbarnn CPU ms", "speed-up vs cuDNN ieee", "speed-up vs numbarnn CPU", "target", "met?"]  # fmt: skip
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        res = r.get("results", {})
        if r.get("skipped"):
            met = "n/a"
            cells = ["–"] * 6
            cells[0] = r["skipped"] if r["level"] == "model" and "not available" in r["skipped"] else "skipped"
        else:
            met = {True: "yes", False: "**NO**", None: "n/a"}[r.get("target_met")] if r.get("target") else "–"
            cells = [_fmt_ms(res.get("numbarnn_cuda")), _fmt_ms(res.get("torch_ieee")),
                     _fmt_ms(res.get("torch_tf32")), _fmt_ms(res.get("numbarnn_cpu")),
                     _fmt_x(r.get("speedup_vs_cudnn_ieee")),
                     _fmt_x(r.get("speedup_vs_cpu"), r.get("speedup_vs_cpu_approximate"))]  # fmt: skip
        if r.get("skipped") and r.get("target"):
            met = "n/a"
        lines.append("| " + " | ".join([r["shape"], r["cell"], r["level"], r["phase"], *cells,
                                        r.get("target") or "–", met]) + " |")  # fmt: skip
    lines.append("")
    lines.append("Shapes (B, T, F, H): " + "; ".join(f"{k} {v[0]}x{v[1]}x{v[2]}, H={'+'.join(map(str, v[3]))}"
                                                     for k, v in SHAPES.items() if k != "TINY"
                                                     or any(r["shape"] == k for r in rows)) + ".")  # fmt: skip
    lines.append("Levels: `model` = train_on_batch / predict_on_batch of Input, the recurrent layer(s), Dense(1), "
                 "mse, Adam (torch: nn.LSTM/GRU + nn.Linear + Adam on CUDA); `layer` = the recurrent layer(s) "
                 "alone, forward + backward or inference (numbarnn's engine; torch nn.LSTM/GRU). numbarnn's "
                 "times include its host-device copies; torch's data stays on the GPU.")  # fmt: skip
    notes, skipped = [], {}
    for r in rows:
        if r.get("skipped"):
            skipped.setdefault(r["skipped"], []).append(f"{r['level']} {r['shape']} {r['cell']} {r['phase']}")
        for name, res in r.get("results", {}).items():
            for what in ("error", "note"):
                if res.get(what):
                    notes.append(f"- {r['level']} {r['shape']} {r['cell']} {r['phase']} {name}: {res[what]}")
    notes += [f"- skipped ({reason}): {', '.join(which)}" for reason, which in skipped.items()]
    if report.get("interrupted"):
        notes.append(f"- the run was interrupted ({report['interrupted']}): later rows are missing")
    if notes:
        lines += ["", "Notes:", *notes]
    summary = report.get("targets")
    if summary:
        lines += ["", "Targets (against true-float32 cuDNN, same run):"]
        for t in summary:
            lines.append(f"- {t['text']} on {'/'.join(t['shapes'])} {'/'.join(t['phases'])} ({t['level']} level): "
                         f"{t['status']}")  # fmt: skip
    return "\n".join(lines) + "\n"


def target_summary(report):
    rows = [r for r in report.get("rows", []) if r.get("target") and not r.get("skipped")]
    out = []
    for t in TARGETS:
        for level in ("model", "layer"):
            mine = [r for r in rows if r["level"] == level and r["shape"] in t["shapes"] and r["phase"] in t["phases"]]
            if not mine:
                continue
            met = [r["target_met"] for r in mine]
            status = ("met" if all(m is True for m in met) else
                      "NOT met: " + ", ".join(f"{r['shape']} {r['cell']} {r['phase']}" for r in mine
                                              if r["target_met"] is False) if any(m is False for m in met) else
                      "incomplete (missing measurements)")  # fmt: skip
            out.append({"text": t["text"], "shapes": t["shapes"], "phases": t["phases"], "level": level,
                        "status": status, "rows": [[r["shape"], r["cell"], r["phase"], r["target_met"]]
                                                   for r in mine]})  # fmt: skip
    return out


# -- main -----------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[1:]))  # fmt: skip
    parser.add_argument("--correctness", action="store_true",
                        help="compare device='cuda' with device='cpu' (no benchmark, no torch needed)")  # fmt: skip
    parser.add_argument("--out", default=None, help="write gpu_results.json and gpu_table.md (or "
                        "gpu_correctness.json) here")  # fmt: skip
    parser.add_argument("--shapes", default=None, help=f"comma-separated, of {', '.join(SHAPES)} "
                        f"(default {','.join(DEFAULT_SHAPES)})")  # fmt: skip
    parser.add_argument("--cells", default="lstm,gru")
    parser.add_argument("--levels", default="model,layer", help="model and/or layer")
    parser.add_argument("--reps", type=int, default=None,
                        help="repetitions per candidate (default 30, fewer when the budget is short; quick 3)")
    parser.add_argument("--budget-s", type=float, default=330.0, help="seconds the benchmark may take (default 330)")
    parser.add_argument("--no-cpu", action="store_true", help="leave numbarnn's CPU path out")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run (S1 and L1, 3 repetitions; "
                        "with --simulator the TINY shape)")  # fmt: skip
    parser.add_argument("--simulator", action="store_true",
                        help="with --quick: run on Numba's CUDA simulator, without torch (any machine)")
    args = parser.parse_args(argv)
    if args.simulator and not args.quick:
        parser.error("--simulator only goes with --quick (the simulator's times mean nothing)")
    if args.shapes is None:
        args.shapes = "TINY" if args.simulator else "S1,L1" if args.quick else ",".join(DEFAULT_SHAPES)
    if args.reps is None:
        args.reps = 3 if args.quick else 30
    if args.quick:
        args.budget_s = min(args.budget_s, 120.0)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    signal.signal(signal.SIGTERM, _on_sigterm)

    numbarnn = setup_numbarnn_cuda(args.simulator)
    if args.simulator:
        sys.setswitchinterval(2e-4)  # the simulator runs a Python thread per CUDA thread (see tests/test_cuda_sim.py)

    if args.correctness:
        report = {"environment": environment(numbarnn), "complete": False}
        try:
            report.update(correctness(numbarnn, args))
            report["complete"] = True
        except Interrupted as exc:
            report["interrupted"] = str(exc)
        if args.out:
            path = os.path.join(args.out, "gpu_correctness.json")
            write_json(path, report)
            print(f"wrote {path}")
        return 0 if report.get("passed") and report["complete"] else 1

    torch = None if args.simulator else setup_torch()
    if torch is not None:
        set_precision(torch, "ieee")
    env = environment(numbarnn, torch)
    if torch is not None:
        env["torch_precision_ieee"] = precision_state(torch)
        set_precision(torch, "tf32")
        env["torch_precision_tf32"] = precision_state(torch)
        set_precision(torch, "ieee")
    print("environment: " + json.dumps(env), flush=True)
    report = {"environment": env, "args": vars(args), "complete": False, "targets_reference":
              "GPU issue, on an H200, against true-float32 cuDNN in the same run", "rows": []}  # fmt: skip
    if args.out:
        corr_path = os.path.join(args.out, "gpu_correctness.json")
        if os.path.exists(corr_path):
            with open(corr_path) as f:
                corr = json.load(f)
            keys = ("passed", "complete", "n_checks", "n_failures", "seconds", "worst", "failures", "model_level",
                    "written_utc")
            report["correctness"] = {k: corr.get(k) for k in keys}
    json_path = os.path.join(args.out, "gpu_results.json") if args.out else None
    md_path = os.path.join(args.out, "gpu_table.md") if args.out else None

    def save():
        report["targets"] = target_summary(report)
        if json_path:
            write_json(json_path, report)

    start = time.perf_counter()
    try:
        run_benchmark(numbarnn, torch, args, report, save)
        report["complete"] = True
    except Interrupted as exc:
        report["interrupted"] = str(exc)
        print(f"interrupted ({exc}): writing what was measured", flush=True)
    finally:
        report["seconds"] = round(time.perf_counter() - start, 1)
        save()
        text = table(report)
        if md_path:
            with open(md_path, "w") as f:
                f.write(text)
            print(f"wrote {json_path} and {md_path}")
        print()
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
