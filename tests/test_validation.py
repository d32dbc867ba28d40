"""Bad input fails at the Python boundary with a message naming the argument;
odd but valid input is converted, never compiled into a third signature."""

import numpy as np
import pytest

from numbarnn import rnn_backward, rnn_forward, rnn_inference
from numbarnn.kernels import gru_after, gru_before, lstm, simple_rnn

from .conftest import make_problem


@pytest.fixture
def lstm_problem():
    return make_problem("lstm", True, 2, 3, 4, 5)


def call(x, W, U, b, **kw):
    return rnn_inference(x, W, U, b, **kw)


@pytest.mark.parametrize(
    "change, exc, words",
    [
        (lambda x, W, U, b: (x[0], W, U, b), ValueError, "x must have 3 dimensions"),
        (lambda x, W, U, b: (x[:, :, :2], W, U, b), ValueError, "kernel must have shape"),
        (lambda x, W, U, b: (x, W, U[:, :8], b), ValueError, "recurrent_kernel must have shape"),
        (lambda x, W, U, b: (x, W, U, b[:3]), ValueError, "bias must have shape"),
        (lambda x, W, U, b: (x[:0], W, U, b), ValueError, "at least one sequence"),
        (lambda x, W, U, b: (x[:, :0], W, U, b), ValueError, "at least one step"),
        (lambda x, W, U, b: (np.where(x > 1, np.nan, x), W, U, b), ValueError, "x contains NaN"),
        (lambda x, W, U, b: (x, np.where(W > 1, np.inf, W), U, b), ValueError, "kernel contains NaN or inf"),
        (lambda x, W, U, b: (x.astype(str), W, U, b), TypeError, "x must be an array of real numbers"),
        (lambda x, W, U, b: (x + 1j, W, U, b), TypeError, "x must be an array of real numbers"),
        (lambda x, W, U, b: (np.array([["a"]], object), W, U, b), TypeError, "x must hold only numbers"),
        (lambda x, W, U, b: (None, W, U, b), TypeError, "x must be an array"),
    ],
)
def test_bad_arrays(lstm_problem, change, exc, words):
    with pytest.raises(exc, match=words):
        call(*change(*lstm_problem))


@pytest.mark.parametrize(
    "kw, exc, words",
    [
        (dict(cell="rnn"), ValueError, "cell must be one of"),
        (dict(activation="swish"), ValueError, "activation must be one of"),
        (dict(recurrent_activation=None), ValueError, "recurrent_activation must be one of"),
        (dict(reverse="yes"), TypeError, "reverse must be True or False"),
        (dict(dtype="int32"), ValueError, "dtype must be 'float32' or 'float64'"),
        (dict(mask=np.ones((3, 2), bool)), ValueError, r"mask must have shape \(2, 3\)"),
        (dict(mask=np.full((2, 3), 2)), ValueError, "mask must hold only 0/1"),
        (dict(mask=np.full((2, 3), "a")), TypeError, "mask must be a boolean array"),
        (dict(initial_state=[np.zeros((2, 5))]), ValueError, "initial_state must be a list of 2 arrays"),
        (dict(initial_state=[np.zeros((2, 5)), np.zeros((2, 4))]), ValueError, r"initial_state\[1\] must have shape"),
        (dict(initial_state=[np.zeros((2, 5)), np.full((2, 5), np.nan)]), ValueError, "contains NaN"),
    ],
)
def test_bad_options(lstm_problem, kw, exc, words):
    with pytest.raises(exc, match=words):
        call(*lstm_problem, **kw)


def test_bad_dropout_masks(lstm_problem):
    x, W, U, b = lstm_problem
    with pytest.raises(ValueError, match=r"dropout_mask must have shape \(2, 4\)"):
        rnn_forward(x, W, U, b, dropout_mask=np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"recurrent_dropout_mask must have shape \(2, 5\)"):
        rnn_forward(x, W, U, b, recurrent_dropout_mask=np.ones((2, 4)))
    with pytest.raises(ValueError, match="recurrent_dropout_mask contains NaN"):
        rnn_forward(x, W, U, b, recurrent_dropout_mask=np.full((2, 5), np.nan))


def test_gru_bias_shapes():
    x, W, U, b = make_problem("gru", True, 2, 3, 4, 5)
    with pytest.raises(ValueError, match=r"bias must have shape \(2, 15\)"):
        call(x, W, U, b[0], cell="gru", reset_after=True)
    with pytest.raises(ValueError, match=r"bias must have shape \(15,\)"):
        call(x, W, U, b, cell="gru", reset_after=False)


def test_bad_backward_arguments(lstm_problem):
    x, W, U, b = lstm_problem
    out, _, tape = rnn_forward(x, W, U, b, return_sequences=True)
    with pytest.raises(ValueError, match=r"d_outputs must have shape \(2, 3, 5\)"):
        rnn_backward(tape, d_outputs=np.ones((2, 5)))
    with pytest.raises(ValueError, match="d_outputs contains NaN"):
        rnn_backward(tape, d_outputs=np.full(out.shape, np.nan))
    with pytest.raises(ValueError, match="d_states must be a list of 2"):
        rnn_backward(tape, d_states=[np.ones((2, 5))])
    with pytest.raises(TypeError, match="tape must be the RNNTape"):
        rnn_backward({"not": "a tape"})


def test_numeric_inputs_are_converted(lstm_problem):
    x, W, U, b = lstm_problem
    expected, _ = call(x.astype(np.float32), W.astype(np.float32), U.astype(np.float32), b.astype(np.float32))
    xi = np.round(x * 3).astype(np.int64)
    ref_int, _ = call(xi.astype(np.float32), W, U, b, dtype="float32")
    for variant in (xi, xi.astype(object), xi.tolist()):
        out, _ = call(variant, W, U, b, dtype="float32")
        np.testing.assert_array_equal(out, ref_int)
    xb = x > 0
    out, _ = call(xb, W, U, b, dtype="float32")
    np.testing.assert_array_equal(out, call(xb.astype(np.float32), W, U, b, dtype="float32")[0])
    # read-only, Fortran-ordered and strided views give the same answer
    ro = x.astype(np.float32)
    ro.setflags(write=False)
    np.testing.assert_array_equal(call(ro, W, U, b, dtype="float32")[0], expected)
    np.testing.assert_array_equal(call(np.asfortranarray(x), W, U, b, dtype="float32")[0], expected)
    wide = np.repeat(x, 2, axis=2)[:, :, ::2]
    np.testing.assert_array_equal(call(wide, W, U, b, dtype="float32")[0], expected)
    # the default working dtype follows the kernel: float64 weights -> float64, ints -> float32
    assert call(x, W, U, b)[0].dtype == np.float64
    assert call(x, np.round(W).astype(int), U, b)[0].dtype == np.float32


def test_at_most_two_compiled_signatures(lstm_problem):
    """After float32, float64, int, bool and strided inputs, each kernel has at most two signatures."""
    for cell, reset_after in [("lstm", True), ("gru", True), ("gru", False), ("simple", True)]:
        x, W, U, b = make_problem(cell, reset_after, 2, 3, 4, 5)
        for dtype in ("float32", "float64"):
            for xx in (x, x.astype(int), x > 0, np.asfortranarray(x)):
                out, _, tape = rnn_forward(xx, W, U, b, cell=cell, reset_after=reset_after, dtype=dtype,
                                           mask=np.ones((2, 3), int), recurrent_dropout_mask=np.ones((2, 5)))
                rnn_backward(tape, d_outputs=np.ones(out.shape, int))
    for kernel in (lstm.lstm_forward, lstm.lstm_backward, gru_after.gru_after_forward, gru_after.gru_after_backward,
                   gru_before.gru_before_forward, gru_before.gru_before_backward,
                   simple_rnn.simple_forward, simple_rnn.simple_backward):
        assert len(kernel.signatures) <= 2, (kernel, kernel.signatures)
        for sig in kernel.signatures:
            for arg in sig:
                if hasattr(arg, "layout"):
                    assert arg.layout == "C"


def test_read_only_input_compiles_no_new_signature():
    """Memory-mapped (read-only) weights and inputs are copied, not compiled for."""
    x, W, U, b = make_problem("lstm", True, 2, 3, 4, 5)
    for a in (x, W, U, b):
        a.setflags(write=False)
    before = len(lstm.lstm_forward.signatures)
    out, _, tape = rnn_forward(x, W, U, b)
    rnn_backward(tape, d_outputs=np.ones_like(out))
    assert len(lstm.lstm_forward.signatures) <= max(before, 2)
    for sig in lstm.lstm_forward.signatures:
        assert all(not getattr(arg, "readonly", False) for arg in sig)
