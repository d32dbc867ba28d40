"""Forward outputs against the plain-numpy reference (tests/reference.py)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from numbarnn import rnn_forward, rnn_inference

from . import reference
from .conftest import VARIANTS, make_problem, record_error

SHAPES = [(1, 1, 1, 1), (1, 7, 3, 4), (4, 1, 2, 3), (3, 5, 1, 1), (5, 6, 4, 5), (2, 3, 6, 2)]


def run_both(cell, reset_after, shape, *, dtype="float64", seed=0, mask=None, reverse=False, states=False,
             dropout=False, zero_output=False, activation="tanh", recurrent_activation="sigmoid", use_bias=True):
    B, T, F, H = shape
    x, W, U, b = make_problem(cell, reset_after, B, T, F, H, seed=seed, use_bias=use_bias)
    rng = np.random.default_rng(seed + 1)
    h0 = rng.normal(size=(B, H)) if states else None
    c0 = rng.normal(size=(B, H)) if states else None
    dmask = rng.choice([0.0, 2.0], size=(B, F)) if dropout else None
    rmask = rng.choice([0.0, 1.5], size=(B, H)) if dropout else None
    init = None
    if states:
        init = [h0, c0] if cell == "lstm" else [h0]
    ref_out, ref_h, ref_c, _ = reference.forward(
        cell, x, W, U, b, h0, c0, mask, dmask, rmask, activation, recurrent_activation, reset_after, reverse,
        zero_output,
    )
    kw = dict(cell=cell, initial_state=init, mask=mask, activation=activation,
              recurrent_activation=recurrent_activation, reset_after=reset_after, reverse=reverse,
              return_sequences=True, zero_output_for_mask=zero_output, dtype=dtype)
    if dropout:
        out, st_, _ = rnn_forward(x, W, U, b, dropout_mask=dmask, recurrent_dropout_mask=rmask, **kw)
    else:
        out, st_ = rnn_inference(x, W, U, b, **kw)
    return (out, st_), (ref_out, ref_h, ref_c)


def assert_close(actual, expected, dtype, variant=None):
    """Error relative to the outputs' magnitude (at least 1), recorded for the summary."""
    tol = 1e-12 if dtype == "float64" else 1e-5
    scale = max(1.0, float(np.max(np.abs(expected))))
    err = float(np.max(np.abs(np.asarray(actual, float) - expected))) / scale
    if variant is not None:
        record_error(variant, "forward vs reference", dtype, err)
    assert err <= tol, f"relative error {err:.3g} > {tol}"
    return err


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_reference(variant, shape, dtype):
    cell, reset_after = variant
    (out, states), (ref_out, ref_h, ref_c) = run_both(cell, reset_after, shape, dtype=dtype)
    assert out.dtype == np.dtype(dtype)
    assert out.shape == ref_out.shape
    assert_close(out, ref_out, dtype, variant)
    assert_close(states[0], ref_h, dtype, variant)
    if cell == "lstm":
        assert_close(states[1], ref_c, dtype, variant)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("zero_output", [False, True])
def test_forward_masked_states_directions(variant, dtype, reverse, zero_output):
    cell, reset_after = variant
    B, T = 4, 6
    rng = np.random.default_rng(3)
    mask = rng.random((B, T)) > 0.3
    mask[0] = [True] * 3 + [False] * 3  # right-padded
    mask[1] = False  # fully masked: states pass through
    (out, states), (ref_out, ref_h, ref_c) = run_both(
        cell, reset_after, (B, T, 3, 4), dtype=dtype, mask=mask, reverse=reverse, states=True, zero_output=zero_output
    )
    assert_close(out, ref_out, dtype, variant)
    assert_close(states[0], ref_h, dtype, variant)
    if cell == "lstm":
        assert_close(states[1], ref_c, dtype, variant)


@pytest.mark.parametrize("activation", ["tanh", "relu", "linear", "sigmoid"])
@pytest.mark.parametrize("recurrent_activation", ["sigmoid", "hard_sigmoid"])
def test_forward_activations(variant, activation, recurrent_activation):
    cell, reset_after = variant
    (out, _), (ref_out, _, _) = run_both(
        cell, reset_after, (3, 5, 2, 4), activation=activation, recurrent_activation=recurrent_activation
    )
    assert_close(out, ref_out, "float64", variant)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_forward_dropout_masks_and_no_bias(variant, dtype):
    cell, reset_after = variant
    (out, _), (ref_out, _, _) = run_both(cell, reset_after, (3, 5, 3, 4), dtype=dtype, dropout=True, states=True)
    assert_close(out, ref_out, dtype, variant)
    (out, _), (ref_out, _, _) = run_both(cell, reset_after, (3, 5, 3, 4), dtype=dtype, use_bias=False)
    assert_close(out, ref_out, dtype, variant)


def test_last_output_is_final_state(variant):
    cell, reset_after = variant
    x, W, U, b = make_problem(cell, reset_after, 3, 4, 2, 5)
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 1, 1, 0]], bool)
    seq, states = rnn_inference(x, W, U, b, cell=cell, reset_after=reset_after, mask=mask, return_sequences=True)
    last, states2 = rnn_inference(x, W, U, b, cell=cell, reset_after=reset_after, mask=mask)
    np.testing.assert_array_equal(last, states[0])
    np.testing.assert_array_equal(states2[0], states[0])
    # training and inference paths agree exactly
    out_t, states_t, _ = rnn_forward(x, W, U, b, cell=cell, reset_after=reset_after, mask=mask, return_sequences=True)
    np.testing.assert_array_equal(out_t, seq)


@given(
    variant=st.sampled_from(VARIANTS),
    B=st.integers(1, 6),
    T=st.integers(1, 7),
    F=st.integers(1, 5),
    H=st.integers(1, 6),
    seed=st.integers(0, 2**16),
    masked=st.booleans(),
    reverse=st.booleans(),
    states=st.booleans(),
    dtype=st.sampled_from(["float32", "float64"]),
)
def test_forward_random_shapes(variant, B, T, F, H, seed, masked, reverse, states, dtype):
    cell, reset_after = variant
    mask = np.random.default_rng(seed).random((B, T)) > 0.3 if masked else None
    (out, st_), (ref_out, ref_h, _) = run_both(
        cell, reset_after, (B, T, F, H), dtype=dtype, seed=seed, mask=mask, reverse=reverse, states=states
    )
    assert_close(out, ref_out, dtype, variant)
    assert_close(st_[0], ref_h, dtype, variant)
