"""Side-by-side speed of numbarnn and PyTorch's CPU recurrent layers, in one process.

For every shape (see SHAPES) and cell (LSTM, GRU) the script alternates
numbarnn and PyTorch, repetition by repetition, after a warm-up: a training
step (forward, backward and an Adam update, with the shape's Dense head and
loss) and inference. PyTorch runs at 1 and 2 threads and its better figure is
kept. It prints sequences per second (median, min, max), the ratio
numbarnn / PyTorch, numbarnn's GFLOP/s and the fraction of the machine's
float32 matrix-product rate measured in the same run with numpy ("of peak": a
1024x1024 product; "of step": numpy's rate for the shape's own per-step
recurrent product (B, H) @ (H, G*H)), and writes the table as JSON.

Inference is also timed against onnxruntime, where ``onnx`` and ``onnxruntime``
import (benchmark-only extras: ``pip install "numbarnn[onnx]"``; otherwise
the column says n/a): the same torch modules and Linear head, holding the
numbarnn model's weights, exported with ``torch.onnx.export`` (the TorchScript
exporter unless onnxscript is installed for the dynamo one; ``--onnx-exporter``)
and run by an ``InferenceSession`` on the CPU with 2 intra-op threads, 1
inter-op thread and sequential execution, alternated with numbarnn in the same
loop. As torch's better thread count is kept, so is onnxruntime's better of two
sessions, its idle worker threads spinning (its default) or blocking
(``--onnxruntime-spinning on`` or ``off`` keeps one). onnxruntime's output is
checked once per shape and cell against numbarnn's (and torch's) to float32
tolerance; the check is printed, never fatal, and a ratio whose check failed
is marked ``!``.

The header names the CPU, the core count, the versions of numpy, numba, torch,
onnx and onnxruntime and the BLAS kernels threadpoolctl finds (all stored in
the JSON). Besides the issue's shapes S1-S5, L1 and L2, the default lists hold
neighbours of them (N1-N6 in benchmarks/benchmarks/common.py: stacked small
layers, small batches over long sequences, and L1 with 3 and 8 sequences for
inference), so that no optimisation serves only the named shapes. ``--targets`` ends with the issue's target speed-ups
(see TARGETS) for every shape, cell and phase, and whether each is met; it
adds the float64 S3 training rows its float64 target needs.

PyTorch is a benchmark-only dependency: install its CPU build in a separate
virtual environment with ``pip install torch==2.13.0`` (never plain
``pip install torch``, which pulls a multi-gigabyte GPU build), then::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare_pytorch.py --targets --json results.json

A short check that the script runs (its figures mean little)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare_pytorch.py --cells lstm \\
        --train-shapes S1 --infer-shapes S1,L1 --reps 2 --min-time 0.05 --targets

Peak memory of a training step is measured with ``--memory``, each framework
and shape in a process of its own.
"""

import argparse
import functools
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

from benchmarks.common import MODEL_SHAPES as SHAPES  # benchmarks/benchmarks/common.py, shared with asv
from benchmarks.common import GATES, model_data, model_problem

TRAIN_SHAPES = ("S1", "S2", "S3", "S4", "S5", "N1", "N2", "N3", "N4")
INFER_SHAPES = ("S1", "S2", "S3", "S4", "S5", "L1", "L2", "N1", "N2", "N3", "N4", "N5", "N6")

# The performance issue's targets: numbarnn's speed-up (median sequences per second) over
# PyTorch's CPU layers at their better of 1 and 2 threads, float32 unless marked; and over
# onnxruntime for inference. Keys: (phase, shape) -> a speed-up, or {cell: speed-up}.
# fmt: off
TARGETS = {
    "torch": {
        ("train", "S1"): 3.0, ("train", "S2"): 1.5, ("train", "S3"): 1.5, ("train", "S4"): 1.2,
        ("train", "S5"): 3.0,
        # neighbours: stacked small layers (N1, N4) and small batches over long sequences (N2, N3)
        ("train", "N1"): 2.0, ("train", "N2"): 1.5, ("train", "N3"): 1.5, ("train", "N4"): 2.0,
        ("infer", "S1"): 2.0, ("infer", "S2"): {"lstm": 1.2, "gru": 1.5}, ("infer", "S3"): {"lstm": 1.2, "gru": 1.5},
        ("infer", "S4"): 1.0, ("infer", "S5"): 2.0, ("infer", "L1"): 3.0, ("infer", "L2"): 1.0,
        ("infer", "N1"): 1.5, ("infer", "N2"): 1.5, ("infer", "N3"): 1.5, ("infer", "N4"): 1.5,
    },
    "torch float64": {("train", "S3"): 1.5},
    "onnxruntime": {("infer", "S1"): 1.0, ("infer", "S3"): 1.0, ("infer", "S5"): 1.0, ("infer", "L1"): 1.0},
}
# fmt: on


def target(cell, shape, mode, dtype="float32", against="torch"):
    """The issue's target speed-up for one row against ``against`` ('torch' or 'onnxruntime'), or None."""
    key = "torch float64" if against == "torch" and dtype == "float64" else against
    if against == "onnxruntime" and dtype != "float32":
        return None
    t = TARGETS[key].get((mode, shape))
    return t.get(cell) if isinstance(t, dict) else t


def flops(cell, shape, train):
    """Multiply-adds x 2 of the recurrent layers and the head (training: about three times the forward)."""
    B, T, F, hs, out, _, _ = SHAPES[shape]
    total, f = 0, F
    for H in hs:
        total += 2 * B * T * GATES[cell] * H * (f + H)
        f = H
    total += 2 * B * out * f
    return 3 * total if train else total


# -- numbarnn -------------------------------------------------------------------------


def numbarnn_model(cell, shape, dtype):
    model, x, y = model_problem(cell, dtype, shape)

    def train():
        model.train_on_batch(x, y)

    def infer():
        model.predict_on_batch(x)

    return train, infer, model


# -- PyTorch --------------------------------------------------------------------------


def torch_modules(cell, shape, dtype, weights_from=None):
    """The shape's stack of ``torch.nn.LSTM``/``GRU`` (batch-first) and its Linear head.

    With ``weights_from`` (a numbarnn model for the same shape and cell) the modules
    get its weights; otherwise torch's own initialisation.
    """
    import torch

    B, T, F, hs, out, act, loss = SHAPES[shape]
    tdtype = torch.float32 if dtype == "float32" else torch.float64
    rnn_cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
    rnns = torch.nn.ModuleList()
    f = F
    for H in hs:
        rnns.append(rnn_cls(f, H, batch_first=True))
        f = H
    head = torch.nn.Linear(f, out)
    params = list(rnns.parameters()) + list(head.parameters())
    for p in params:
        p.data = p.data.to(tdtype)
    if weights_from is not None:
        copy_numbarnn_weights(cell, weights_from, rnns, head)
    return rnns, head


def copy_numbarnn_weights(cell, model, rnns, head):
    """Set torch's modules to a numbarnn model's weights (the inverse of numbarnn.from_torch's mapping).

    Keras's kernel (F, G*H) is torch's ``weight_ih.T``, its recurrent kernel ``weight_hh.T``;
    an LSTM's gate blocks i, f, c, o are torch's i, f, g, o and its one bias goes to
    ``bias_ih`` (``bias_hh`` zero); a GRU's blocks z, r, h are torch's r, z, n (reset
    after the product, numbarnn's default) and its bias rows are ``bias_ih``, ``bias_hh``.
    """
    import torch

    def blocks(a, axis):  # Keras's GRU blocks z, r, h -> torch's r, z, n
        if cell != "gru":
            return a
        z, r, h = np.split(a, 3, axis=axis)
        return np.concatenate([r, z, h], axis=axis)

    def put(param, value):
        param.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(param.dtype))

    layers = list(model.layers)
    with torch.no_grad():
        for rnn, layer in zip(rnns, layers):
            kernel, recurrent, bias = layer.get_weights()
            put(rnn.weight_ih_l0, blocks(kernel, 1).T)
            put(rnn.weight_hh_l0, blocks(recurrent, 1).T)
            if cell == "gru":
                put(rnn.bias_ih_l0, blocks(bias[0], 0))
                put(rnn.bias_hh_l0, blocks(bias[1], 0))
            else:
                put(rnn.bias_ih_l0, bias)
                put(rnn.bias_hh_l0, np.zeros_like(bias))
        kernel, bias = layers[len(rnns)].get_weights()
        put(head.weight, kernel.T)
        put(head.bias, bias)


def torch_model(cell, shape, dtype):
    import torch

    B, T, F, hs, out, act, loss = SHAPES[shape]
    rnns, head = torch_modules(cell, shape, dtype)
    params = list(rnns.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    x_np, y_np = model_data(shape, dtype)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)

    def forward():
        h = x
        for rnn in rnns:
            h, _ = rnn(h)
        z = head(h[:, -1])
        return z

    def train():
        opt.zero_grad()
        z = forward()
        if loss == "mse":
            value = torch.nn.functional.mse_loss(z, y)
        elif loss == "categorical_crossentropy":
            value = torch.nn.functional.cross_entropy(z, y.argmax(dim=1))
        else:
            value = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
        value.backward()
        opt.step()

    def infer():
        with torch.inference_mode():
            z = forward()
            if act == "softmax":
                z = torch.softmax(z, dim=1)
            elif act == "sigmoid":
                z = torch.sigmoid(z)
        return z

    return train, infer


# -- onnxruntime ----------------------------------------------------------------------


def onnxruntime_module():
    """onnxruntime, or None where ``onnx`` or ``onnxruntime`` does not import (benchmark-only extras)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except Exception:  # ImportError, or a broken install
        return None
    return onnxruntime


def onnx_exporter(choice="auto"):
    """'dynamo' (torch.export-based, needs onnxscript) or 'torchscript' (legacy, ``dynamo=False``)."""
    if choice != "auto":
        return choice
    try:
        import onnxscript  # noqa: F401
    except Exception:
        return "torchscript"
    return "dynamo"


def onnx_model(cell, shape, model, exporter="torchscript"):
    """The shape's torch modules with ``model``'s weights, exported to ONNX in memory.

    Returns ``(onnx bytes, torch's output on the shape's batch)``: the network ends as
    numbarnn's does (the Dense head's softmax or sigmoid included).
    """
    import torch

    act = SHAPES[shape][5]
    rnns, head = torch_modules(cell, shape, "float32", weights_from=model)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnns, self.head = rnns, head

        def forward(self, x):
            h = x
            for rnn in self.rnns:
                h, _ = rnn(h)
            z = self.head(h[:, -1])
            if act == "softmax":
                z = torch.softmax(z, dim=1)
            elif act == "sigmoid":
                z = torch.sigmoid(z)
            return z

    net = Net().eval()
    x = torch.from_numpy(model_data(shape, "float32")[0])
    with torch.inference_mode():
        expected = net(x).numpy()
    buf = io.BytesIO()
    options = {"opset_version": 17} if exporter == "torchscript" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and fixed-batch LSTM warnings
        torch.onnx.export(net, (x,), buf, input_names=["x"], output_names=["y"],
                          dynamo=exporter == "dynamo", **options)  # fmt: skip
    return buf.getvalue(), expected


# Seconds to wait after a sample of a spinning onnxruntime session: its idle workers go on
# burning a core for a while (on a 2-core machine numbarnn's next calls ran ~40% slower for
# the first 50 ms, normally again after 100 ms).
SPIN_PAUSE = 0.15


def onnxruntime_infer(cell, shape, model, exporter="torchscript", threads=2, spinning=(False, True)):
    """onnxruntime inference functions on the shape's batch, and their output checked against numbarnn's.

    Returns ``({spinning: function}, check)``: one session per value of ``spinning``
    (``session.intra_op.allow_spinning``: whether idle worker threads spin, onnxruntime's
    default, or block; which is faster depends on the cell and the machine's load: on a
    shared 2-core machine spinning made a GRU on S1 6x faster and an LSTM's speed moved
    either way). Each session: CPU provider, ``threads`` intra-op threads, 1 inter-op
    thread, sequential execution. The check (a dict) holds the largest absolute
    difference of onnxruntime's output (over the sessions), and of torch's, from numbarnn's
    ``predict_on_batch``, and whether onnxruntime's agrees to float32 tolerance.
    """
    import onnxruntime as ort

    data, torch_out = onnx_model(cell, shape, model, exporter)
    x = model_data(shape, "float32")[0]
    ours = np.asarray(model.predict_on_batch(x))
    fns, diff, ok = {}, 0.0, True
    for spin in spinning:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        session = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        fns[spin] = functools.partial(session.run, None, feed)
        theirs = fns[spin]()[0]
        diff = max(diff, float(np.max(np.abs(theirs - ours))))
        ok = ok and theirs.shape == ours.shape and bool(np.allclose(theirs, ours, rtol=1e-4, atol=1e-5))
    check = {
        "onnxruntime_max_abs_diff": diff, "torch_max_abs_diff": float(np.max(np.abs(torch_out - ours))),
        "ok": ok, "exporter": exporter,
    }  # fmt: skip
    return fns, check


# -- measurement ----------------------------------------------------------------------


def timed(fn, min_time=0.2):
    """Seconds per call: calls repeated until ``min_time`` has passed."""
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / n


def matmul_rate(n=1024, reps=5):
    """The machine's float32 matrix-product rate in GFLOP/s (numpy, best of ``reps``)."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    np.dot(a, a)
    best = min(timed(lambda: np.dot(a, a), 0.1) for _ in range(reps))
    return 2 * n**3 / best / 1e9


@functools.lru_cache(maxsize=None)
def step_product_rate(cell, shape, reps=5):
    """numpy's GFLOP/s for the shape's per-step recurrent product (B, H) @ (H, G*H), float32, best of ``reps``."""
    B, _, _, hs, _, _, _ = SHAPES[shape]
    H = hs[-1]
    rng = np.random.default_rng(0)
    a, b = rng.random((B, H), dtype=np.float32), rng.random((H, GATES[cell] * H), dtype=np.float32)
    np.dot(a, b)
    best = min(timed(lambda: np.dot(a, b), 0.1) for _ in range(reps))
    return 2 * B * H * GATES[cell] * H / best / 1e9


def compare(cell, shape, mode, dtype, reps, torch_threads, ort=False, exporter="torchscript", min_time=0.2,
            ort_spinning=(False, True)):  # fmt: skip
    """One row: numbarnn against torch (and, for float32 inference with ``ort``, onnxruntime), alternated."""
    import torch

    B = SHAPES[shape][0]
    train, infer, model = numbarnn_model(cell, shape, dtype)
    ours = train if mode == "train" else infer
    theirs = torch_model(cell, shape, dtype)[0 if mode == "train" else 1]
    onnx_fns, check, onnx_status = {}, None, "n/a"
    if mode == "infer" and dtype == "float32" and ort:
        try:
            onnx_fns, check = onnxruntime_infer(cell, shape, model, exporter, spinning=ort_spinning)
            onnx_status = "ok" if check["ok"] else "mismatch"
        except Exception as e:  # an export or session failure leaves the column n/a, never the run
            onnx_status = f"failed: {type(e).__name__}: {e}"
    for fn in [ours, theirs, *onnx_fns.values()]:
        for _ in range(3):
            fn()
    if True in onnx_fns:
        time.sleep(SPIN_PAUSE)
    ours_rates, theirs_rates, onnx_rates = [], {t: [] for t in torch_threads}, {s: [] for s in onnx_fns}
    for _ in range(reps):
        ours_rates.append(B / timed(ours, min_time))
        for t in torch_threads:
            torch.set_num_threads(t)
            theirs_rates[t].append(B / timed(theirs, min_time))
        for spin, fn in onnx_fns.items():  # blocking first, spinning last, then a pause
            onnx_rates[spin].append(B / timed(fn, min_time))
            if spin:
                time.sleep(SPIN_PAUSE)  # its spinning workers go idle before numbarnn's next sample
    best_t = max(torch_threads, key=lambda t: statistics.median(theirs_rates[t]))
    ours_med, theirs_med = statistics.median(ours_rates), statistics.median(theirs_rates[best_t])
    gflops = flops(cell, shape, mode == "train") / B * ours_med / 1e9
    row = {
        "cell": cell, "shape": shape, "mode": mode, "dtype": dtype,
        "numbarnn_seq_per_s": [ours_med, min(ours_rates), max(ours_rates)],
        "torch_seq_per_s": [theirs_med, min(theirs_rates[best_t]), max(theirs_rates[best_t])],
        "torch_threads": best_t, "ratio": ours_med / theirs_med, "numbarnn_gflops": gflops,
        "onnxruntime_seq_per_s": None, "onnxruntime_ratio": None, "onnxruntime_spinning": None,
        "onnxruntime_status": onnx_status if mode == "infer" and dtype == "float32" else None,
        "onnxruntime_check": check,
    }  # fmt: skip
    if onnx_rates:
        best_s = max(onnx_rates, key=lambda s: statistics.median(onnx_rates[s]))
        onnx_med = statistics.median(onnx_rates[best_s])
        row["onnxruntime_seq_per_s"] = [onnx_med, min(onnx_rates[best_s]), max(onnx_rates[best_s])]
        row["onnxruntime_ratio"] = ours_med / onnx_med
        row["onnxruntime_spinning"] = best_s
        row["onnxruntime_seq_per_s_by_spinning"] = {("on" if s else "off"): statistics.median(r)
                                                    for s, r in onnx_rates.items()}  # fmt: skip
    row["target"] = target(cell, shape, mode, dtype, "torch")
    row["target_met"] = None if row["target"] is None else row["ratio"] >= row["target"]
    row["onnxruntime_target"] = target(cell, shape, mode, dtype, "onnxruntime")
    row["onnxruntime_target_met"] = (None if row["onnxruntime_target"] is None or row["onnxruntime_ratio"] is None
                                     else row["onnxruntime_ratio"] >= row["onnxruntime_target"])  # fmt: skip
    return row


def peak_memory(framework, cell, shape, dtype):
    """Peak resident memory (MiB) of a process that builds the model and runs 3 training steps.

    Returns ``(peak, before)``: the process's peak (``VmHWM``), and its resident
    memory after imports and the model's construction, before the first step.
    ``VmHWM`` rather than ``ru_maxrss``, which Linux carries over from the
    parent across ``exec``.
    """
    code = (
        "import sys; sys.path.insert(0, %r); import compare_pytorch as c; "
        "fn = (c.numbarnn_model if %r == 'numbarnn' else c.torch_model)(%r, %r, %r)[0]; "
        "before = c.status_mib('VmRSS'); [fn() for _ in range(3)]; print(c.status_mib('VmHWM'), before)"
    ) % (os.path.dirname(os.path.abspath(__file__)), framework, cell, shape, dtype)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak, before = out.stdout.strip().splitlines()[-1].split()
    return float(peak), float(before)


def status_mib(field):
    """A memory field of /proc/self/status (VmRSS, VmHWM), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def cpu_model():
    """The CPU's name: /proc/cpuinfo's "model name" (or "Model", "cpu model"), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def system_info(ort):
    """The machine and the software measured: CPU, cores, versions, BLAS kernels (threadpoolctl)."""
    import numba
    import numbarnn
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numbarnn's kernels call, so threadpoolctl lists it)
    import torch
    from threadpoolctl import threadpool_info

    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    versions = {"python": platform.python_version(), "numbarnn": numbarnn.__version__, "numpy": np.__version__,
                "numba": numba.__version__, "torch": torch.__version__, "onnx": None, "onnxruntime": None}  # fmt: skip
    if ort is not None:
        import onnx

        versions["onnx"], versions["onnxruntime"] = onnx.__version__, ort.__version__
    keep = ("user_api", "internal_api", "version", "architecture", "num_threads", "threading_layer", "filepath")
    pools = [{k: i.get(k) for k in keep if k in i} for i in threadpool_info()]
    return {
        "cpu": cpu_model(), "cpu_count": os.cpu_count(), "usable_cpus": usable,
        "platform": platform.platform(), "versions": versions,
        "numbarnn_threads": numbarnn.get_num_threads(), "threadpools": pools,
    }  # fmt: skip


def _fmt_target(t):
    return f"{t:.1f}x"


def targets_table(rows, cells):
    """Every target of the issue for ``cells``, with the measured speed-up and whether it is met."""
    measured = {(r["cell"], r["shape"], r["mode"], r["dtype"]): r for r in rows}
    out = []
    for against in ("torch", "torch float64", "onnxruntime"):
        dtype = "float64" if against == "torch float64" else "float32"
        for mode, shape in TARGETS[against]:
            for cell in cells:
                t = target(cell, shape, mode, dtype, "onnxruntime" if against == "onnxruntime" else "torch")
                if t is None:
                    continue
                r = measured.get((cell, shape, mode, dtype))
                ratio = None if r is None else r["onnxruntime_ratio" if against == "onnxruntime" else "ratio"]
                if r is None:
                    state = "not run"
                elif ratio is None:
                    state = "n/a"
                else:
                    state = "met" if ratio >= t else "NOT met"
                out.append({"cell": cell, "shape": shape, "mode": mode, "dtype": dtype, "against": against,
                            "target": t, "speed_up": ratio, "state": state})  # fmt: skip
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="lstm,gru")
    parser.add_argument("--train-shapes", default=",".join(TRAIN_SHAPES))
    parser.add_argument("--infer-shapes", default=",".join(INFER_SHAPES))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.2,
                        help="seconds each timed sample lasts at least (default 0.2; less for a quick check)")
    parser.add_argument("--float64", action="store_true", help="also float64 training on S3")
    parser.add_argument("--memory", action="store_true", help="peak memory of a training step on S3 and S4")
    parser.add_argument("--no-onnxruntime", action="store_true", help="leave onnxruntime out (its column: n/a)")
    parser.add_argument("--onnxruntime-spinning", choices=("both", "on", "off"), default="both",
                        help="onnxruntime sessions whose idle workers spin (on), block (off) or both, keeping "
                             "the faster (default: both)")  # fmt: skip
    parser.add_argument("--onnx-exporter", choices=("auto", "dynamo", "torchscript"), default="auto",
                        help="torch.onnx.export's exporter; auto: dynamo where onnxscript imports, else torchscript")
    parser.add_argument("--targets", action="store_true",
                        help="end with the issue's target speed-ups and whether each is met (adds float64 S3 "
                             "training when S3 is among the training shapes)")  # fmt: skip
    parser.add_argument("--json", default=None, help="write the table to this file")
    args = parser.parse_args(argv)
    cells = [c for c in args.cells.split(",") if c]
    train_shapes = [s for s in args.train_shapes.split(",") if s]
    infer_shapes = [s for s in args.infer_shapes.split(",") if s]
    for s in train_shapes + infer_shapes:
        if s not in SHAPES:
            parser.error(f"unknown shape {s!r}; choose from {', '.join(SHAPES)}")

    ort = None if args.no_onnxruntime else onnxruntime_module()
    spinning = {"both": (False, True), "on": (True,), "off": (False,)}[args.onnxruntime_spinning]
    exporter = onnx_exporter(args.onnx_exporter)
    system = system_info(ort)
    blas_pools = [p for p in system["threadpools"] if p.get("user_api") == "blas"]
    blas = [f"{p.get('internal_api')} {p.get('version')} {p.get('architecture')}" for p in blas_pools]
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    rate = matmul_rate()
    v = system["versions"]
    print(f"CPU: {system['cpu']}; {system['cpu_count']} logical cores ({system['usable_cpus']} usable)")
    print(f"numbarnn {v['numbarnn']} ({system['numbarnn_threads']} threads), numpy {v['numpy']}, "
          f"numba {v['numba']}, torch {v['torch']}, onnx {v['onnx'] or 'n/a'}, "
          f"onnxruntime {v['onnxruntime'] or 'n/a'}"
          + (f" (2 intra-op threads, {exporter} exporter, idle workers spinning: {args.onnxruntime_spinning})"
             if ort is not None else ""))  # fmt: skip
    print(f"BLAS: {'; '.join(blas)}; environment {env}; numpy float32 matmul {rate:.1f} GFLOP/s")
    rows = []
    jobs = [(c, s, "train", "float32") for c in cells for s in train_shapes]
    jobs += [(c, s, "infer", "float32") for c in cells for s in infer_shapes]
    if args.float64 or (args.targets and "S3" in train_shapes):
        jobs += [(c, "S3", "train", "float64") for c in cells]
    header = (f"{'cell':5} {'shape':5} {'mode':5} {'dtype':7} {'numbarnn seq/s (min-max)':>28} "
              f"{'torch seq/s (min-max)':>28} thr {'ratio':>6} {'ort seq/s':>10} spn {'vs ort':>7} "
              f"{'GFLOP/s':>8} {'of peak':>7} {'of step':>7}")  # fmt: skip
    print(header)
    for job in jobs:
        r = compare(*job, reps=args.reps, torch_threads=(1, 2), ort=ort is not None, exporter=exporter,
                    min_time=args.min_time, ort_spinning=spinning)  # fmt: skip
        r["fraction_of_matmul_rate"] = r["numbarnn_gflops"] / rate
        r["step_product_gflops"] = step_product_rate(r["cell"], r["shape"])
        r["fraction_of_step_product_rate"] = r["numbarnn_gflops"] / r["step_product_gflops"]
        rows.append(r)
        o, t = r["numbarnn_seq_per_s"], r["torch_seq_per_s"]
        if r["onnxruntime_ratio"] is not None:
            mark = "" if r["onnxruntime_check"]["ok"] else "!"
            spin = "on" if r["onnxruntime_spinning"] else "off"
            ort_cols = f"{r['onnxruntime_seq_per_s'][0]:10.0f} {spin:>3} {r['onnxruntime_ratio']:7.2f}{mark:1}"
        else:
            ort_cols = f"{'-' if r['onnxruntime_status'] is None else 'n/a':>10} {'':3} {'':8}"
        print(f"{r['cell']:5} {r['shape']:5} {r['mode']:5} {r['dtype']:7} "
              f"{o[0]:10.0f} ({o[1]:7.0f}-{o[2]:7.0f}) {t[0]:10.0f} ({t[1]:7.0f}-{t[2]:7.0f}) {r['torch_threads']:3d} "
              f"{r['ratio']:6.2f} {ort_cols} {r['numbarnn_gflops']:8.2f} {r['fraction_of_matmul_rate']:7.1%} "
              f"{r['fraction_of_step_product_rate']:7.1%}", flush=True)  # fmt: skip
    checked = [r for r in rows if r["onnxruntime_status"] is not None]
    if checked:
        print("onnxruntime output against numbarnn's predict_on_batch (float32 tolerance: rtol 1e-4, atol 1e-5):")
        for r in checked:
            c = r["onnxruntime_check"]
            if c is None:
                print(f"  {r['cell']:5} {r['shape']:5} {r['onnxruntime_status']}")
            else:
                print(f"  {r['cell']:5} {r['shape']:5} {'ok' if c['ok'] else 'MISMATCH':8} max |diff| "
                      f"onnxruntime {c['onnxruntime_max_abs_diff']:.1e}, torch {c['torch_max_abs_diff']:.1e}")
    memory = []
    if args.memory:
        for shape in ("S3", "S4"):
            for cell in args.cells.split(","):
                (ours, ours0), (theirs, theirs0) = (peak_memory(f, cell, shape, "float32") for f in ("numbarnn", "torch"))
                memory.append({"cell": cell, "shape": shape, "numbarnn_mib": ours, "torch_mib": theirs,
                               "numbarnn_before_step_mib": ours0, "torch_before_step_mib": theirs0})  # fmt: skip
                print(f"peak memory {cell} {shape} training: numbarnn {ours:.0f} MiB ({ours - ours0:+.0f} over "
                      f"{ours0:.0f} before the first step), torch {theirs:.0f} MiB ({theirs - theirs0:+.0f} over "
                      f"{theirs0:.0f})")  # fmt: skip
    summary = targets_table(rows, cells)
    if args.targets:
        print("targets (speed-up of numbarnn's median sequences per second; torch at its better of 1 and 2 threads):")
        print(f"  {'cell':5} {'shape':5} {'phase':5} {'dtype':7} {'against':13} {'target':>6} {'measured':>8}  state")
        for t in summary:
            if t["state"] == "not run":
                continue
            measured = "-" if t["speed_up"] is None else f"{t['speed_up']:.2f}x"
            print(f"  {t['cell']:5} {t['shape']:5} {t['mode']:5} {t['dtype']:7} {t['against']:13} "
                  f"{_fmt_target(t['target']):>6} {measured:>8}  {t['state']}")  # fmt: skip
        done = [t for t in summary if t["state"] in ("met", "NOT met")]
        skipped = sum(t["state"] == "not run" for t in summary)
        print(f"  met {sum(t['state'] == 'met' for t in done)} of {len(done)} measured targets"
              + (f"; {skipped} targets not run (their shape, cell or phase left out)" if skipped else ""))  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"system": system, "blas": blas, "env": env, "matmul_gflops": rate,
                       "onnx_exporter": exporter if ort is not None else None,
                       "onnxruntime_spinning": args.onnxruntime_spinning if ort is not None else None,
                       "rows": rows, "memory": memory, "targets": summary}, f, indent=1)  # fmt: skip


if __name__ == "__main__":
    main()
