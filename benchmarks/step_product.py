"""The per-step product of the time loops against numpy's rate for the same product.

For each performance shape and cell, one thread's share of a step's recurrent product
``h (rows, H) @ U (H, G*H)`` (the rows one thread runs: the batch, or half of it where the
batch is split over two threads) is timed three ways, alternating in one loop:

- packed: ``kernels.panels.matmul_packed``, the register-tiled product the kernels run;
- plain: ``kernels.linalg.matmul_into``, the loop it replaced (the same bits);
- numpy: ``a @ b`` with BLAS held to one thread (its own blocking and fused multiply-adds,
  a result that depends on the number of rows, so not usable inside the time loops).

It prints GFLOP/s (medians of several repetitions) and the fraction of numpy's rate, with the
CPU and the BLAS kernel threadpoolctl reports::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/step_product.py [--json out.json]
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare_pytorch import cpu_model  # noqa: E402

# shape -> (rows one thread runs, H); the gate widths are G*H.
SHAPES = {"S1": (32, 64), "S2": (64, 128), "S3": (32, 128), "S4": (128, 512), "S5": (64, 32), "L1": (1, 64),
          "L2": (512, 128)}  # fmt: skip
GATES = {"lstm": 4, "gru": 3}


def calls_per_sample(fn):
    """How many calls of ``fn`` make a sample of at least 20 ms."""
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t0 > 0.02:
            break
        n *= 2
    return n


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--json", help="write the table to this file")
    args = parser.parse_args(argv)

    import scipy.linalg.cython_blas  # noqa: F401  (so threadpoolctl lists the BLAS the kernels would call)
    from threadpoolctl import threadpool_info, threadpool_limits

    from numbarnn.kernels.linalg import matmul_into
    from numbarnn.kernels.panels import matmul_packed, pack_panels

    blas = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}" for i in threadpool_info()
            if i.get("user_api") == "blas"]  # fmt: skip
    print(f"CPU: {cpu_model()}; BLAS: {'; '.join(blas)}; {args.dtype}, one thread")
    print(f"{'cell':5s} {'shape':5s} {'rows x k x n':>16s} {'packed':>8s} {'plain':>8s} {'numpy':>8s}  "
          f"{'packed/numpy':>12s} {'plain/numpy':>11s}  GFLOP/s")  # fmt: skip
    rows_out = []
    rng = np.random.default_rng(0)
    dt = np.dtype(args.dtype)
    with threadpool_limits(1, user_api="blas"):
        for cell, G in GATES.items():
            for shape, (m, H) in SHAPES.items():
                k, n = H, G * H
                a = rng.normal(size=(m, k)).astype(dt)
                b = (rng.normal(size=(k, n)) / np.sqrt(k)).astype(dt)
                bp = pack_panels(b)
                out = np.empty((m, n), dt)
                np_out = np.empty((m, n), dt)
                fns = {
                    "packed": lambda: matmul_packed(a, bp, out),
                    "plain": lambda: matmul_into(a, b, out),
                    "numpy": lambda: np.matmul(a, b, out=np_out),
                }
                for f in fns.values():
                    f()
                check = np.empty_like(out)
                matmul_into(a, b, check)
                matmul_packed(a, bp, out)
                assert np.array_equal(out, check), "packed and plain products differ"
                calls = {name: calls_per_sample(f) for name, f in fns.items()}
                samples = {name: [] for name in fns}
                for _ in range(args.reps):
                    for name, f in fns.items():
                        t0 = time.perf_counter()
                        for _ in range(calls[name]):
                            f()
                        samples[name].append((time.perf_counter() - t0) / calls[name])
                flop = 2.0 * m * k * n
                gf = {name: flop / statistics.median(v) / 1e9 for name, v in samples.items()}
                row = {"cell": cell, "shape": shape, "m": m, "k": k, "n": n, **{f"{q}_gflops": g for q, g in gf.items()},
                       "packed_fraction": gf["packed"] / gf["numpy"], "plain_fraction": gf["plain"] / gf["numpy"]}  # fmt: skip
                rows_out.append(row)
                print(f"{cell:5s} {shape:5s} {f'{m} x {k} x {n}':>16s} {gf['packed']:8.1f} {gf['plain']:8.1f} "
                      f"{gf['numpy']:8.1f}  {row['packed_fraction']:12.0%} {row['plain_fraction']:11.0%}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu_model(), "blas": blas, "dtype": args.dtype, "rows": rows_out},
                                              indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
