"""Cases where the maths gives the answer exactly."""

import numpy as np
import pytest

from numbarnn import rnn_forward, rnn_inference


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lstm_zero_weights_gates_are_half_and_state_stays_zero(dtype):
    B, T, F, H = 3, 6, 4, 5
    x = np.random.default_rng(0).normal(size=(B, T, F))
    W, U, b = np.zeros((F, 4 * H)), np.zeros((H, 4 * H)), np.zeros(4 * H)
    out, (h, c), tape = rnn_forward(x, W, U, b, return_sequences=True, dtype=dtype)
    assert np.all(out == 0) and np.all(h == 0) and np.all(c == 0)
    gates = tape.buffers.gates.reshape(T, B, 4, H)
    np.testing.assert_array_equal(gates[:, :, [0, 1, 3]], 0.5)  # i, f, o
    np.testing.assert_array_equal(gates[:, :, 2], 0.0)  # candidate tanh(0)
    # With c0 = 1 the forget gate of 0.5 halves the cell every step.
    out, (h, c) = rnn_inference(x, W, U, b, initial_state=[np.zeros((B, H)), np.ones((B, H))],
                                return_sequences=True, dtype="float64")
    expected_c = 0.5 ** np.arange(1, T + 1)
    np.testing.assert_allclose(out[0, :, 0], 0.5 * np.tanh(expected_c), rtol=1e-15)
    np.testing.assert_allclose(c, 0.5**T, rtol=1e-15)


@pytest.mark.parametrize("reverse", [False, True])
def test_simple_rnn_identity_linear_sums_inputs(reverse):
    B, T, F = 4, 9, 3
    x = np.random.default_rng(1).normal(size=(B, T, F))
    eye = np.eye(F)
    out, (h,) = rnn_inference(x, eye, eye, np.zeros(F), cell="simple", activation="linear",
                              return_sequences=True, reverse=reverse, dtype="float64")
    np.testing.assert_allclose(h, x.sum(axis=1), rtol=1e-13, atol=1e-13)
    expected = np.cumsum(x[:, ::-1], axis=1)[:, ::-1] if reverse else np.cumsum(x, axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_zero_weights_halves_state(reset_after):
    B, T, F, H = 2, 5, 3, 4
    x = np.random.default_rng(2).normal(size=(B, T, F))
    h0 = np.random.default_rng(3).normal(size=(B, H))
    out, (h,) = rnn_inference(x, np.zeros((F, 3 * H)), np.zeros((H, 3 * H)), None, cell="gru",
                              reset_after=reset_after, initial_state=[h0], dtype="float64")
    np.testing.assert_allclose(h, h0 * 0.5**T, rtol=1e-15)


def test_masked_sequence_equals_truncated_sequence():
    """A right-padded, masked sequence ends in the state of the unpadded one."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1, 8, 3))
    W, U, b = rng.normal(size=(3, 16)) * 0.4, rng.normal(size=(4, 16)) * 0.4, np.zeros(16)
    mask = np.array([[True] * 5 + [False] * 3])
    _, (h_m, c_m) = rnn_inference(x, W, U, b, mask=mask, dtype="float64")
    _, (h_t, c_t) = rnn_inference(x[:, :5], W, U, b, dtype="float64")
    np.testing.assert_array_equal(h_m, h_t)
    np.testing.assert_array_equal(c_m, c_t)
