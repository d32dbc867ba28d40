"""Where a training step's (or a prediction's) time goes, shape by shape.

Wraps the engine's stages with wall clocks and runs the performance issue's
models (``benchmarks/benchmarks/common.py``) for a few repetitions, printing
the median share of each stage:

- forward loop / backward loop: the compiled time loops (per step: the input
  and recurrent products and the gates), on numbarnn's threads;
- gradient products: the weight and input gradients (large products after the loop);
- optimizer: the Adam update;
- rest: Python between the stages, the Dense head, the loss, validation and
  the copy of the weights a transactional step keeps.

Run with BLAS's environment left as a benchmark wants it::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/profile_step.py --cells lstm,gru
"""

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmarks.common import MODEL_SHAPES, model_problem  # noqa: E402

STAGES = ("forward loop", "backward loop", "gradient products", "optimizer", "rest")


class StageClock:
    """Wall-clock seconds per stage, exclusive of nested stages."""

    def __init__(self):
        self.seconds = collections.Counter()
        self._stack = []

    def wrap(self, fn, stage):
        def timed(*args, **kwargs):
            stage_now = stage(fn, args) if callable(stage) else stage
            if self._stack and stage_now is None:
                return fn(*args, **kwargs)
            start = time.perf_counter()
            self._stack.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                inner = self._stack.pop()
                elapsed = time.perf_counter() - start
                self.seconds[stage_now or "rest"] += elapsed - inner
                if self._stack:
                    self._stack[-1] += elapsed

        return timed


def _loop_stage(fn, args):
    name = getattr(args[0], "__qualname__", "")
    if name.startswith("CellAdaptor.forward"):
        return "forward loop"
    if name.startswith("CellAdaptor.backward"):
        return "backward loop"
    return None  # chunks of a product: counted by the product's own stage


def instrument(clock):
    """Wrap the engine's stages; returns a function that undoes it."""
    import numbarnn.optimizers as optimizers
    from numbarnn import _threads

    saved = [(_threads, "matmul"), (_threads, "run_chunks"), (optimizers.Optimizer, "apply")]
    originals = [getattr(obj, name) for obj, name in saved]
    # The engine calls the module's functions through the module, so patching it is enough.
    _threads.matmul = clock.wrap(originals[0], lambda fn, args: None if clock._stack else "gradient products")
    _threads.run_chunks = clock.wrap(originals[1], _loop_stage)
    optimizers.Optimizer.apply = clock.wrap(originals[2], "optimizer")

    def undo():
        for (obj, name), fn in zip(saved, originals):
            setattr(obj, name, fn)

    return undo


def profile(cell, shape, mode, reps, dtype="float32"):
    """Median seconds per stage and in total over ``reps`` calls (after two warm-up calls)."""
    model, x, y = model_problem(cell, dtype, shape)
    call = (lambda: model.train_on_batch(x, y)) if mode == "train" else (lambda: model.predict_on_batch(x))
    call()
    call()
    clock = StageClock()
    undo = instrument(clock)
    per_rep = []
    try:
        for _ in range(reps):
            clock.seconds.clear()
            start = time.perf_counter()
            call()
            total = time.perf_counter() - start
            stages = dict(clock.seconds)
            stages["rest"] = total - sum(v for k, v in stages.items() if k != "rest")
            stages["total"] = total
            per_rep.append(stages)
    finally:
        undo()
    return {k: statistics.median(r.get(k, 0.0) for r in per_rep) for k in STAGES + ("total",)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="lstm,gru")
    parser.add_argument("--shapes", default="S1,S2,S3,S4,S5")
    parser.add_argument("--mode", choices=("train", "infer"), default="train")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = parser.parse_args(argv)
    print(f"{'cell':5} {'shape':5} {'total ms':>9} " + " ".join(f"{s:>18}" for s in STAGES))
    for cell in args.cells.split(","):
        for shape in args.shapes.split(","):
            if shape not in MODEL_SHAPES:
                parser.error(f"unknown shape {shape!r}; choose from {', '.join(MODEL_SHAPES)}")
            r = profile(cell, shape, args.mode, args.reps, args.dtype)
            cells = " ".join(f"{r[s] * 1e3:9.2f} ({r[s] / r['total']:5.1%})" for s in STAGES)
            print(f"{cell:5} {shape:5} {r['total'] * 1e3:9.2f} {cells}", flush=True)


if __name__ == "__main__":
    main()
