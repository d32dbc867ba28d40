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

PyTorch is a benchmark-only dependency: install its CPU build in a separate
virtual environment with ``pip install torch==2.13.0`` (never plain
``pip install torch``, which pulls a multi-gigabyte GPU build), then::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare_pytorch.py --json results.json

Peak memory of a training step is measured with ``--memory``, each framework
and shape in a process of its own.
"""

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from benchmarks.common import MODEL_SHAPES as SHAPES  # benchmarks/benchmarks/common.py, shared with asv
from benchmarks.common import GATES, model_data, model_problem

TRAIN_SHAPES = ("S1", "S2", "S3", "S4", "S5")
INFER_SHAPES = ("S1", "S2", "S3", "S4", "S5", "L1", "L2")


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

    return train, infer


# -- PyTorch --------------------------------------------------------------------------


def torch_model(cell, shape, dtype):
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


def compare(cell, shape, mode, dtype, reps, torch_threads):
    import torch

    B = SHAPES[shape][0]
    ours = numbarnn_model(cell, shape, dtype)[0 if mode == "train" else 1]
    theirs = torch_model(cell, shape, dtype)[0 if mode == "train" else 1]
    for fn in (ours, theirs):
        for _ in range(3):
            fn()
    ours_rates, theirs_rates = [], {t: [] for t in torch_threads}
    for _ in range(reps):
        ours_rates.append(B / timed(ours))
        for t in torch_threads:
            torch.set_num_threads(t)
            theirs_rates[t].append(B / timed(theirs))
    best_t = max(torch_threads, key=lambda t: statistics.median(theirs_rates[t]))
    ours_med, theirs_med = statistics.median(ours_rates), statistics.median(theirs_rates[best_t])
    gflops = flops(cell, shape, mode == "train") / B * ours_med / 1e9
    return {
        "cell": cell, "shape": shape, "mode": mode, "dtype": dtype,
        "numbarnn_seq_per_s": [ours_med, min(ours_rates), max(ours_rates)],
        "torch_seq_per_s": [theirs_med, min(theirs_rates[best_t]), max(theirs_rates[best_t])],
        "torch_threads": best_t, "ratio": ours_med / theirs_med, "numbarnn_gflops": gflops,
    }  # fmt: skip


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="lstm,gru")
    parser.add_argument("--train-shapes", default=",".join(TRAIN_SHAPES))
    parser.add_argument("--infer-shapes", default=",".join(INFER_SHAPES))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--float64", action="store_true", help="also float64 training on S3")
    parser.add_argument("--memory", action="store_true", help="peak memory of a training step on S3 and S4")
    parser.add_argument("--json", default=None, help="write the table to this file")
    args = parser.parse_args(argv)

    import numbarnn
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS numbarnn's kernels call, so threadpoolctl lists it)
    import torch
    from threadpoolctl import threadpool_info

    blas = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}" for i in threadpool_info()
            if i.get("user_api") == "blas"]  # fmt: skip
    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    rate = matmul_rate()
    print(f"numbarnn {numbarnn.__version__} ({numbarnn.get_num_threads()} threads), torch {torch.__version__}")
    print(f"BLAS: {'; '.join(blas)}; environment {env}; numpy float32 matmul {rate:.1f} GFLOP/s")
    rows = []
    jobs = [(c, s, "train", "float32") for c in args.cells.split(",") for s in args.train_shapes.split(",") if s]
    jobs += [(c, s, "infer", "float32") for c in args.cells.split(",") for s in args.infer_shapes.split(",") if s]
    if args.float64:
        jobs += [(c, "S3", "train", "float64") for c in args.cells.split(",")]
    header = f"{'cell':5} {'shape':5} {'mode':5} {'dtype':7} {'numbarnn seq/s (min-max)':>28} {'torch seq/s (min-max)':>28} thr {'ratio':>6} {'GFLOP/s':>8} {'of peak':>7} {'of step':>7}"
    print(header)
    for job in jobs:
        r = compare(*job, reps=args.reps, torch_threads=(1, 2))
        r["fraction_of_matmul_rate"] = r["numbarnn_gflops"] / rate
        r["step_product_gflops"] = step_product_rate(r["cell"], r["shape"])
        r["fraction_of_step_product_rate"] = r["numbarnn_gflops"] / r["step_product_gflops"]
        rows.append(r)
        o, t = r["numbarnn_seq_per_s"], r["torch_seq_per_s"]
        print(f"{r['cell']:5} {r['shape']:5} {r['mode']:5} {r['dtype']:7} "
              f"{o[0]:10.0f} ({o[1]:7.0f}-{o[2]:7.0f}) {t[0]:10.0f} ({t[1]:7.0f}-{t[2]:7.0f}) {r['torch_threads']:3d} "
              f"{r['ratio']:6.2f} {r['numbarnn_gflops']:8.2f} {r['fraction_of_matmul_rate']:7.1%} "
              f"{r['fraction_of_step_product_rate']:7.1%}", flush=True)  # fmt: skip
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
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"blas": blas, "env": env, "matmul_gflops": rate, "rows": rows, "memory": memory}, f, indent=1)


if __name__ == "__main__":
    main()
