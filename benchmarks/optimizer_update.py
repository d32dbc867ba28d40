"""Time an optimizer step over a benchmark model's weights: numbarnn's compiled update against the
same rule written as whole-array numpy expressions (what numbarnn ran before), alternating, one process.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/optimizer_update.py [--shapes S1,S5,S3]

Prints the median time per step of each (microseconds) for Adam.
"""

import argparse
import math
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchmarks.common import model_problem  # noqa: E402
from numbarnn import optimizers  # noqa: E402


def numpy_adam(opt, grads, weights, slots, t):
    """Adam as numpy array expressions, the form numbarnn.optimizers used before its compiled loops."""
    lr = opt.learning_rate
    alpha = lr * math.sqrt(1 - opt.beta_2**t) / (1 - opt.beta_1**t)
    for g, v, m, vel in zip(grads, weights, slots["momentum"], slots["velocity"]):
        m += (1 - opt.beta_1) * (g - m)
        vel += (1 - opt.beta_2) * (g * g - vel)
        v -= (alpha * m) / (np.sqrt(vel) + opt.epsilon)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default="S1,S5,S3")
    parser.add_argument("--reps", type=int, default=300)
    args = parser.parse_args()
    for shape in args.shapes.split(","):
        model, _, _ = model_problem("lstm", "float32", shape)
        weights = [w.copy() for w in model.trainable_weights]
        rng = np.random.default_rng(0)
        grads = [(rng.normal(size=w.shape) * 1e-3).astype(w.dtype) for w in weights]
        compiled, plain = optimizers.Adam(1e-3), optimizers.Adam(1e-3)
        wc, wp = [w.copy() for w in weights], [w.copy() for w in weights]
        compiled.build(wc)
        plain.build(wp)
        compiled.apply(grads, wc)  # compile
        tc, tp = [], []
        for t in range(1, args.reps + 1):
            start = time.perf_counter()
            compiled.apply(grads, wc)
            tc.append(time.perf_counter() - start)
            start = time.perf_counter()
            numpy_adam(plain, grads, wp, plain._slots, t)
            tp.append(time.perf_counter() - start)
        n = sum(w.size for w in weights)
        print(f"{shape}: {n} weights in {len(weights)} arrays: numpy expressions {statistics.median(tp) * 1e6:.0f} us, "
              f"compiled {statistics.median(tc) * 1e6:.0f} us")


if __name__ == "__main__":
    main()
