"""First-call time of each kernel in a fresh process, with a cold and a warm Numba cache.

Each measurement runs in a new interpreter whose NUMBA_CACHE_DIR is a private
directory: empty for the cold run, filled by that run for the warm one. It
prints, per cell and dtype, the time of ``import numbarnn`` and of the first
``rnn_forward`` and ``rnn_backward`` calls (compilation or cache loading
included), as the median of ``--repeat`` fresh processes.

    python benchmarks/compile_times.py --repeat 3
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import numbarnn
t1 = time.perf_counter()
cell, reset_after, dtype = sys.argv[1], sys.argv[2] == "1", sys.argv[3]
G = {"lstm": 4, "gru": 3, "simple": 1}[cell]
rng = np.random.default_rng(0)
x = rng.normal(size=(4, 5, 3)).astype(dtype)
W = rng.normal(size=(3, G * 8)).astype(dtype)
U = rng.normal(size=(8, G * 8)).astype(dtype)
b = rng.normal(size=(2, 24) if cell == "gru" and reset_after else (G * 8,)).astype(dtype)
t2 = time.perf_counter()
out, states, tape = numbarnn.rnn_forward(x, W, U, b, cell=cell, reset_after=reset_after)
t3 = time.perf_counter()
numbarnn.rnn_backward(tape, d_outputs=np.ones_like(out))
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "forward": t3 - t2, "backward": t4 - t3}))
"""

VARIANTS = [("lstm", True), ("gru", True), ("gru", False), ("simple", True)]


def run(cache_dir, cell, reset_after, dtype):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, cell, "1" if reset_after else "0", dtype],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for cell, reset_after in VARIANTS:
        for dtype in ("float32", "float64"):
            cold, warm = [], []
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory() as cache:
                    cold.append(run(cache, cell, reset_after, dtype))
                    warm.append(run(cache, cell, reset_after, dtype))
            row = {"cell": cell, "reset_after": reset_after, "dtype": dtype}
            for name, runs in (("cold", cold), ("warm", warm)):
                for key in ("import", "forward", "backward"):
                    row[f"{name}_{key}"] = statistics.median(r[key] for r in runs)
            rows.append(row)
            print(
                f"{cell:6s} {'after ' if reset_after else 'before'} {dtype}: "
                f"cold forward {row['cold_forward']:6.2f} s backward {row['cold_backward']:6.2f} s | "
                f"warm forward {row['warm_forward']:6.3f} s backward {row['warm_backward']:6.3f} s | "
                f"import {row['warm_import']:.2f} s",
                flush=True,
            )
    return rows


if __name__ == "__main__":
    main()
