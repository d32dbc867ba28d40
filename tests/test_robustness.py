"""Extreme values, long sequences, and the compile settings."""

import tracemalloc
import warnings

import numpy as np
import pytest

from numbarnn import _config, rnn_backward, rnn_forward
from numbarnn.kernels import gru_after, gru_before, linalg, lstm, panels, simple_rnn
from numbarnn.kernels import nonlinear as activations

from .conftest import VARIANTS, make_problem


@pytest.mark.parametrize("cell, reset_after", VARIANTS)
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "hard_sigmoid"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_values_stay_finite(cell, reset_after, activation, dtype):
    x, W, U, b = make_problem(cell, reset_after, 3, 6, 4, 5, seed=1)
    x, W, U, b = (np.sign(a) * 1e4 for a in (x, W, U, b))
    init = [np.full((3, 5), 1e4)] * (2 if cell == "lstm" else 1)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        out, states, tape = rnn_forward(
            x, W, U, b, cell=cell, reset_after=reset_after, activation=activation,
            recurrent_activation="hard_sigmoid" if activation == "hard_sigmoid" else "sigmoid",
            initial_state=init, return_sequences=True, dtype=dtype,
        )  # fmt: skip
        g = rnn_backward(tape, d_outputs=np.ones_like(out), d_states=[np.ones_like(s) for s in states])
    for a in (out, *states, g.x, g.kernel, g.recurrent_kernel, g.bias, *g.initial_state):
        assert np.isfinite(a).all()


@pytest.mark.parametrize("cell, reset_after", VARIANTS)
def test_long_sequence_memory_is_linear(cell, reset_after):
    peaks = {}
    for T in (1000, 10000):
        x, W, U, b = make_problem(cell, reset_after, 1, T, 4, 8, seed=2)
        tracemalloc.start()
        out, states, tape = rnn_forward(x, W, U, b, cell=cell, reset_after=reset_after, dtype="float32")
        g = rnn_backward(tape, d_outputs=np.ones_like(out))
        peaks[T] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert np.isfinite(g.kernel).all() and g.x.shape == (1, T, 4)
    assert peaks[10000] < 12 * peaks[1000], peaks


def test_fastmath_keeps_nan_and_inf_checks():
    assert not {"nnan", "ninf", "fast"} & set(_config.FASTMATH)
    assert _config.JIT_OPTIONS["cache"] is True


def conv1d_kernels():
    from numbarnn.kernels import conv1d

    kernels = [getattr(conv1d, n) for n in dir(conv1d) if hasattr(getattr(conv1d, n), "targetoptions")]
    return [k for k in kernels if k.py_func.__module__ == conv1d.__name__]  # not the ones it imports


def test_every_kernel_is_cached_and_uses_the_shared_flags():
    for k in (lstm.lstm_forward, lstm.lstm_backward, gru_after.gru_after_forward, gru_after.gru_after_backward,
                   gru_before.gru_before_forward, gru_before.gru_before_backward,
              simple_rnn.simple_forward, simple_rnn.simple_backward, *conv1d_kernels()):
        assert type(k._cache).__name__ == "FunctionCache"  # cache=True, not NullCache
        assert k.targetoptions["nogil"] is True
        assert set(k.targetoptions["fastmath"]) == set(_config.FASTMATH)
    # the products inside and beside the time loops: cached, and without fast-math (a row's sum in a fixed order)
    for k in (linalg.matmul_into, panels.matmul_packed, panels.project_rows_packed):
        assert type(k._cache).__name__ == "FunctionCache"
        assert k.targetoptions["nogil"] is True
        assert not k.targetoptions.get("fastmath")


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "hard_sigmoid", "relu", "linear"])
def test_activation_derivatives(name):
    """The kernels' block activation, and both derivative forms, against central differences."""
    code = activations.CODES[name]
    xs = np.linspace(-5, 5, 41) + 0.0123  # away from the kinks

    def f(x):
        v = np.array(x, dtype=np.float64)
        activations.activate_block(code, v, 0, v.size)
        return v

    y = f(xs)
    num = (f(xs + 1e-6) - f(xs - 1e-6)) / 2e-6
    block = np.empty_like(y)
    activations.derivative_block(code, y, block, 0, y.size)
    scalar = np.array([activations.derivative.py_func(code, yv) for yv in y])
    for d in (block, scalar):
        assert np.abs(d - num).max() < 1e-6


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_kernel_tanh_and_sigmoid_accuracy(dtype):
    """The kernels' vectorisable tanh and sigmoid against numpy, near zero, at large |x| and at inf and NaN."""
    x = np.concatenate([np.linspace(-40, 40, 20001), np.geomspace(1e-300, 1, 600), -np.geomspace(1e-300, 1, 600)])
    if dtype == "float32":
        x = x[np.abs(x) > 1e-30]  # float32's range
    x = x.astype(dtype)
    tanh = activations.CODES["tanh"]
    sigmoid = activations.CODES["sigmoid"]

    def run(code, v):
        v = v.copy()
        activations.activate_block(code, v, 0, v.size)
        return v

    exact_t = np.tanh(x.astype(np.float64))
    e = np.exp(-np.abs(x.astype(np.float64)))
    exact_s = np.where(x >= 0, 1.0, e) / (1.0 + e)
    got_t, got_s = run(tanh, x), run(sigmoid, x)
    if dtype == "float64":
        # A few units in the last place, relative, everywhere (no cancellation near zero).
        assert np.max(np.abs(got_t - exact_t) / np.spacing(np.abs(exact_t))) <= 4
        big = exact_s > 1e-300
        assert np.max(np.abs(got_s - exact_s)[big] / np.spacing(exact_s[big])) <= 16
    else:
        assert np.max(np.abs(got_t - exact_t)) < 5e-7
        assert np.max(np.abs(got_s - exact_s)) < 5e-7
    special = np.array([np.inf, -np.inf, np.nan], dtype)
    atol = 0 if dtype == "float64" else 3e-7  # float32: the rational form's error at its clamp
    np.testing.assert_allclose(run(tanh, special)[:2], [1, -1], rtol=0, atol=atol)
    np.testing.assert_allclose(run(sigmoid, special)[:2], [1, 0], rtol=0, atol=atol)
    if dtype == "float64":
        assert np.isnan(run(tanh, special)[2]) and np.isnan(run(sigmoid, special)[2])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_into_rows_are_independent_of_the_block(dtype):
    rng = np.random.default_rng(0)
    # every remainder of the four-row blocks and of the four-term passes over k
    for m, k, n in [(2, 3, 4), (9, 24, 96), (64, 64, 256), (13, 1, 7), (7, 5, 33), (11, 6, 17), (5, 7, 64), (8, 130, 20), (6, 131, 512)]:
        a, b = rng.normal(size=(m, k)).astype(dtype), rng.normal(size=(k, n)).astype(dtype)
        out = np.empty((m, n), dtype)
        linalg.matmul_into(a, b, out)
        # each element is the plain sum over k, in order
        expected = np.zeros((m, n), dtype)
        for p in range(k):
            expected += a[:, p : p + 1] * b[p]
        np.testing.assert_array_equal(out, expected)
        one = np.empty((1, n), dtype)
        for i in range(m):  # alone, in a block of four or in the remainder: the same bits
            linalg.matmul_into(a[i : i + 1].copy(), b, one)
            np.testing.assert_array_equal(one[0], out[i])
