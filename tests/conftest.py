"""Shared fixtures: random problems for every cell variant, and hypothesis settings."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "default")

# (cell, reset_after) pairs covering every form the engine implements.
VARIANTS = [("lstm", True), ("gru", True), ("gru", False), ("simple", True)]
GATES = {"lstm": 4, "gru": 3, "simple": 1}


def make_problem(cell, reset_after, B, T, F, H, seed=0, scale=0.5, use_bias=True):
    """Random inputs and weights in Keras layout, float64."""
    rng = np.random.default_rng(seed)
    G = GATES[cell]
    x = rng.normal(size=(B, T, F))
    W = rng.normal(size=(F, G * H)) * scale
    U = rng.normal(size=(H, G * H)) * scale
    if not use_bias:
        b = None
    elif cell == "gru" and reset_after:
        b = rng.normal(size=(2, 3 * H)) * 0.3
    else:
        b = rng.normal(size=(G * H,)) * 0.3
    return x, W, U, b


@pytest.fixture(params=VARIANTS, ids=[f"{c}-{'after' if r else 'before'}" for c, r in VARIANTS])
def variant(request):
    return request.param


# Largest relative errors the tests observed, printed at the end of the run.
OBSERVED = {}


def record_error(variant, what, dtype, err):
    """Remember the largest error seen for (cell variant, quantity, dtype)."""
    cell, reset_after = variant
    label = f"gru-{'after' if reset_after else 'before'}" if cell == "gru" else cell
    key = (label, what, str(dtype))
    OBSERVED[key] = max(OBSERVED.get(key, 0.0), float(err))


def pytest_terminal_summary(terminalreporter):
    if not OBSERVED:
        return
    terminalreporter.section("largest relative errors observed")
    for (label, what, dtype), err in sorted(OBSERVED.items()):
        terminalreporter.write_line(f"{label:11s} {what:34s} {dtype:8s} {err:.2e}")
