"""Seeded, cached data makers shared by the benchmarks. Append only: never change a maker."""

import functools

import numpy as np

GATES = {"lstm": 4, "gru": 3, "simple": 1}


@functools.lru_cache(maxsize=None)
def engine_problem(cell, dtype, B, T, F, H, seed=0):
    """Inputs and Keras-layout weights for one engine call; read-only arrays."""
    rng = np.random.default_rng(seed)
    G = GATES[cell]
    x = rng.normal(size=(B, T, F)).astype(dtype)
    W = (rng.normal(size=(F, G * H)) / np.sqrt(F)).astype(dtype)
    U = (rng.normal(size=(H, G * H)) / np.sqrt(H)).astype(dtype)
    b = np.zeros((2, 3 * H) if cell == "gru" else (G * H,), dtype)
    for a in (x, W, U, b):
        a.setflags(write=False)
    return x, W, U, b
