"""Time one train step and one predict per benchmark shape for two checkouts of numbarnn, alternating.

Usage (from the repository root; BLAS overrides unset for the measurement only)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/ab_compare.py OTHER_CHECKOUT [--rounds 3] \
        [--shapes S1,S2,S3,S4,S5] [--dtypes float32,float64]

Each round runs this checkout and ``OTHER_CHECKOUT`` (another clone or worktree of
the repository, e.g. ``git worktree add ../base main``) in fresh processes, one
after the other, so both see the same machine load (both build their models
with this checkout's ``benchmarks/benchmarks/common.py``); it prints, per shape, cell
and dtype, the median over rounds of this checkout's time over the other's.
The BLAS that ran (threadpoolctl) is printed once.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_WORKER = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[4])  # this checkout's benchmarks/, so both sides build the same models
from benchmarks.common import model_problem
import numbarnn
assert numbarnn.__file__.startswith(sys.argv[1]), (numbarnn.__file__, sys.argv[1])  # the checkout's own
out = {}
shapes, dtypes = sys.argv[2].split(","), sys.argv[3].split(",")
for shape in shapes:
    for cell in ("lstm", "gru"):
        for dtype in dtypes:
            model, x, y = model_problem(cell, dtype, shape)
            model.train_on_batch(x, y); model.predict_on_batch(x)  # compile, warm up
            def best(f, reps):
                ts = []
                for _ in range(reps):
                    t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
                return float(np.median(ts))
            out[f"{shape} {cell} {dtype} train"] = best(lambda: model.train_on_batch(x, y), 5)
            out[f"{shape} {cell} {dtype} predict"] = best(lambda: model.predict_on_batch(x), 5)
if len(sys.argv) > 5:
    from threadpoolctl import threadpool_info
    out["blas"] = [(i["internal_api"], i.get("architecture"), i["num_threads"]) for i in threadpool_info()]
print(json.dumps(out))
"""


def run(checkout, shapes, dtypes, show_blas=False):
    env = dict(os.environ, PYTHONPATH=checkout)
    args = [sys.executable, "-c", _WORKER, checkout, shapes, dtypes, os.path.join(HERE, "benchmarks")]
    args += ["blas"] if show_blas else []
    # cwd: ``python -c`` puts the working directory first on sys.path, before PYTHONPATH, so a run from
    # this checkout's root would import this checkout's numbarnn on both sides.
    out = subprocess.run(args, env=env, cwd=checkout, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", help="path of the checkout to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shapes", default="S1,S2,S3,S4,S5",
                        help="comma-separated shapes of benchmarks/benchmarks/common.py (default: S1-S5)")
    parser.add_argument("--dtypes", default="float32,float64")
    args = parser.parse_args()
    ratios = {}
    for r in range(args.rounds):
        ours = run(HERE, args.shapes, args.dtypes, show_blas=r == 0)
        theirs = run(os.path.abspath(args.other), args.shapes, args.dtypes)
        if r == 0:
            print("BLAS:", ours.pop("blas"))
        for k, v in ours.items():
            ratios.setdefault(k, []).append(v / theirs[k])
    import statistics

    for k, rs in ratios.items():
        print(f"{k:32s} ours/other median {statistics.median(rs):.2f}  (rounds: {', '.join(f'{x:.2f}' for x in rs)})")


if __name__ == "__main__":
    main()
