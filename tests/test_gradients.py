"""Backward pass: every gradient against central finite differences (float64)
and against the plain-numpy reference backward."""

import numpy as np
import pytest

from numbarnn import rnn_backward, rnn_forward

from . import reference
from .conftest import VARIANTS, make_problem, record_error

EPS = 1e-6
TOL = 1e-6


def setup_case(cell, reset_after, *, B=3, T=4, F=3, H=3, seed=0, masked=False, dropout=False, states=True):
    x, W, U, b = make_problem(cell, reset_after, B, T, F, H, seed=seed)
    rng = np.random.default_rng(seed + 7)
    h0 = rng.normal(size=(B, H)) * 0.5
    c0 = rng.normal(size=(B, H)) * 0.5
    mask = None
    if masked:
        mask = rng.random((B, T)) > 0.35
        mask[0] = [True] * (T - 1) + [False]
    dmask = rng.choice([0.0, 2.0], size=(B, F)) if dropout else None
    rmask = rng.choice([0.0, 1.5], size=(B, H)) if dropout else None
    params = {"x": x, "kernel": W, "recurrent_kernel": U, "bias": b, "h0": h0}
    if cell == "lstm":
        params["c0"] = c0
    if not states:
        params.pop("h0")
        params.pop("c0", None)
    return params, mask, dmask, rmask


def make_loss(cell, reset_after, mask, dmask, rmask, kw, R, Rh, Rc):
    """Scalar loss sum(out*R) + sum(h_T*Rh) [+ sum(c_T*Rc)] as a function of params."""

    def forward(params):
        init = None
        if "h0" in params:
            init = [params["h0"], params["c0"]] if cell == "lstm" else [params["h0"]]
        return rnn_forward(
            params["x"], params["kernel"], params["recurrent_kernel"], params["bias"], cell=cell,
            reset_after=reset_after, initial_state=init, mask=mask, dropout_mask=dmask,
            recurrent_dropout_mask=rmask, dtype="float64", **kw,
        )  # fmt: skip

    def loss(params):
        out, states, _ = forward(params)
        total = np.sum(out * R) + np.sum(states[0] * Rh)
        if cell == "lstm":
            total += np.sum(states[1] * Rc)
        return total

    return forward, loss


def numeric_grad(loss, params, name):
    base = params[name]
    g = np.zeros_like(base)
    it = np.nditer(base, flags=["multi_index"])
    for _ in it:
        idx = it.multi_index
        plus = {**params, name: base.copy()}
        minus = {**params, name: base.copy()}
        plus[name][idx] += EPS
        minus[name][idx] -= EPS
        g[idx] = (loss(plus) - loss(minus)) / (2 * EPS)
    return g


def rel_err(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


def analytic(cell, reset_after, params, mask, dmask, rmask, kw, seed):
    rng = np.random.default_rng(seed + 11)
    B, T, _ = params["x"].shape
    H = params["recurrent_kernel"].shape[0]
    R = rng.normal(size=(B, T, H) if kw["return_sequences"] else (B, H))
    Rh = rng.normal(size=(B, H))
    Rc = rng.normal(size=(B, H))
    forward, loss = make_loss(cell, reset_after, mask, dmask, rmask, kw, R, Rh, Rc)
    _, _, tape = forward(params)
    d_states = [Rh, Rc] if cell == "lstm" else [Rh]
    g = rnn_backward(tape, d_outputs=R, d_states=d_states)
    got = {"x": g.x, "kernel": g.kernel, "recurrent_kernel": g.recurrent_kernel, "bias": g.bias}
    if "h0" in params:
        got["h0"] = g.initial_state[0]
    if "c0" in params:
        got["c0"] = g.initial_state[1]
    return got, loss, (R, Rh, Rc)


CASES = [
    dict(),
    dict(masked=True),
    dict(dropout=True),
    dict(reverse=True, masked=True),
    dict(return_sequences=False),
    dict(zero_output=True, masked=True),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(c) or "plain")
def test_gradients_match_finite_differences(variant, case):
    cell, reset_after = variant
    case = dict(case)
    kw = dict(
        return_sequences=case.pop("return_sequences", True),
        reverse=case.pop("reverse", False),
        zero_output_for_mask=case.pop("zero_output", False),
    )
    params, mask, dmask, rmask = setup_case(cell, reset_after, **case)
    got, loss, _ = analytic(cell, reset_after, params, mask, dmask, rmask, kw, seed=0)
    for name in params:
        if params[name] is None:
            continue
        num = numeric_grad(loss, params, name)
        err = rel_err(got[name], num)
        record_error(variant, "gradient vs finite differences", "float64", err)
        assert err < TOL, f"{cell} d{name}: relative error {err:.3g}"


@pytest.mark.parametrize("activation", ["relu", "linear", "sigmoid"])
@pytest.mark.parametrize("recurrent_activation", ["sigmoid", "hard_sigmoid"])
def test_gradients_other_activations(variant, activation, recurrent_activation):
    cell, reset_after = variant
    kw = dict(return_sequences=True, reverse=False, zero_output_for_mask=False, activation=activation,
              recurrent_activation=recurrent_activation)
    params, mask, dmask, rmask = setup_case(cell, reset_after, seed=5)
    got, loss, _ = analytic(cell, reset_after, params, mask, dmask, rmask, kw, seed=5)
    for name in params:
        num = numeric_grad(loss, params, name)
        err = rel_err(got[name], num)
        record_error(variant, "gradient vs finite differences", "float64", err)
        assert err < TOL, name


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("dropout", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_gradients_match_reference_backward(variant, masked, dropout, reverse):
    cell, reset_after = variant
    kw = dict(return_sequences=True, reverse=reverse, zero_output_for_mask=False)
    params, mask, dmask, rmask = setup_case(cell, reset_after, B=4, T=6, F=3, H=5, seed=2, masked=masked,
                                            dropout=dropout)
    got, _, (R, Rh, Rc) = analytic(cell, reset_after, params, mask, dmask, rmask, kw, seed=2)
    _, _, _, trace = reference.forward(
        cell, params["x"], params["kernel"], params["recurrent_kernel"], params["bias"], params["h0"],
        params.get("c0"), mask, dmask, rmask, reset_after=reset_after, reverse=reverse,
    )  # fmt: skip
    ref = reference.backward(
        cell, params["x"], params["kernel"], params["recurrent_kernel"], params["bias"], trace, R, Rh,
        Rc if cell == "lstm" else None, dmask, rmask, reset_after=reset_after,
    )  # fmt: skip
    for name in got:
        err = rel_err(got[name], ref[name])
        record_error(variant, "gradient vs reference backward", "float64", err)
        assert err < 1e-12, name


def test_float32_gradients_close_to_float64(variant):
    cell, reset_after = variant
    x, W, U, b = make_problem(cell, reset_after, 4, 6, 3, 5, seed=9)
    grads = {}
    for dtype in ("float32", "float64"):
        out, _, tape = rnn_forward(x, W, U, b, cell=cell, reset_after=reset_after, return_sequences=True, dtype=dtype)
        grads[dtype] = rnn_backward(tape, d_outputs=np.ones_like(out))
        assert grads[dtype].kernel.dtype == np.dtype(dtype)
    for name in ("x", "kernel", "recurrent_kernel", "bias"):
        err = rel_err(getattr(grads["float32"], name).astype(float), getattr(grads["float64"], name))
        record_error(variant, "gradient vs float64 gradient", "float32", err)
        assert err < 1e-5
