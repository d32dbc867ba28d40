"""The register-tiled product on panel-packed weights (numbarnn/kernels/panels.py).

Known answers for the packed layout; the product bit for bit against a numpy
loop that adds the terms in the same order (and against the plain kernel
``matmul_into``); and the cell kernels, which now run on packed weights, against
the plain-numpy reference forward and central finite differences at shapes that
take every path of the tiles: blocks of four rows, single rows over four panels
and over one, and columns after the last full panel. Batches of fewer than four
rows project their input several steps at a time: the same bits as a step at a
time, and as the same rows in a larger batch.
"""

import itertools

import numpy as np
import pytest

from numbarnn import rnn_forward, rnn_inference
from numbarnn.kernels.linalg import matmul_into
from numbarnn.kernels.panels import (
    matmul_packed,
    pack_panels,
    panel_width,
    project_rows_packed,
    project_step,
    projection_block,
)

from . import reference
from .conftest import VARIANTS, make_problem, record_error
from .test_gradients import TOL, analytic, numeric_grad, rel_err, setup_case


def ordered_product(a, b):
    """``a @ b`` with each element summed from zero in ``p`` order, in ``a``'s dtype (numpy scalar rounding)."""
    out = np.zeros((a.shape[0], b.shape[1]), a.dtype)
    for p in range(a.shape[1]):
        out = out + a[:, p : p + 1] * b[p]  # one rounded product and one rounded sum per term, as the kernels
    return out


def test_panel_width_is_64_bytes():
    assert panel_width(np.float32) == 16
    assert panel_width(np.float64) == 8


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pack_panels_layout(dtype):
    k, n = 3, 2 * panel_width(dtype) + 5
    b = np.arange(k * n, dtype=dtype).reshape(k, n)
    bp = pack_panels(b)
    w = panel_width(dtype)
    assert bp.shape == (k * n,) and bp.dtype == dtype and bp.flags.c_contiguous
    # panel s, row p, column c holds b[p, s*w + c]; the rest (n % w columns) follows row by row
    for s in range(2):
        np.testing.assert_array_equal(bp[s * k * w : (s + 1) * k * w].reshape(k, w), b[:, s * w : (s + 1) * w])
    np.testing.assert_array_equal(bp[2 * k * w :].reshape(k, 5), b[:, 2 * w :])
    # a transposed (non-contiguous) matrix packs as its values
    np.testing.assert_array_equal(pack_panels(b.T.copy()), pack_panels(b.T))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_packed_bitwise_against_ordered_sums(dtype):
    rng = np.random.default_rng(0)
    w = panel_width(dtype)
    # rows: 4-row blocks and 1-3 left over (three- and two-row tiles); columns: under one panel, whole
    # panels, an odd number of them, 4+ panels, and a rest
    rows = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    for m, k, n in itertools.product(rows, [1, 2, 5, 17], [1, w - 1, w, w + 3, 3 * w, 4 * w, 5 * w + 7]):
        a = rng.normal(size=(m, k)).astype(dtype)
        b = rng.normal(size=(k, n)).astype(dtype)
        out = np.full((m, n), np.nan, dtype)
        matmul_packed(a, pack_panels(b), out)
        np.testing.assert_array_equal(out, ordered_product(a, b), err_msg=f"m={m} k={k} n={n}")
        plain = np.empty((m, n), dtype)
        matmul_into(a, b, plain)
        np.testing.assert_array_equal(out, plain, err_msg=f"m={m} k={k} n={n}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_packed_over_a_large_b_in_panel_groups(dtype):
    # b over 1 MB: blocks of four rows go over a group of panels at a time; rows and columns left over
    rng = np.random.default_rng(7)
    w = panel_width(dtype)
    k, n = 512, 37 * w + 5
    assert k * n * np.dtype(dtype).itemsize > 1 << 20
    b = rng.normal(size=(k, n)).astype(dtype)
    bp = pack_panels(b)
    for m in (4, 9, 11):
        a = rng.normal(size=(m, k)).astype(dtype)
        out, plain = np.full((m, n), np.nan, dtype), np.empty((m, n), dtype)
        matmul_packed(a, bp, out)
        matmul_into(a, b, plain)
        np.testing.assert_array_equal(out, plain, err_msg=f"m={m}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_packed_rows_do_not_depend_on_the_others(dtype):
    rng = np.random.default_rng(1)
    a = rng.normal(size=(11, 40)).astype(dtype)
    b = rng.normal(size=(40, 6 * panel_width(dtype) + 3)).astype(dtype)
    bp = pack_panels(b)
    whole = np.empty((11, b.shape[1]), dtype)
    matmul_packed(a, bp, whole)
    for size in (1, 2, 3):  # alone, in twos and in threes (their tiles) and inside blocks of four
        for i in range(11 - size + 1):
            part = np.empty((size, b.shape[1]), dtype)
            matmul_packed(np.ascontiguousarray(a[i : i + size]), bp, part)
            np.testing.assert_array_equal(part, whole[i : i + size])


def test_matmul_packed_propagates_nan_and_inf():
    a = np.ones((5, 3), np.float32)
    b = np.ones((3, 20), np.float32)
    a[0, 1] = np.nan
    a[4, 2] = np.inf
    out = np.empty((5, 20), np.float32)
    matmul_packed(a, pack_panels(b), out)
    assert np.isnan(out[0]).all() and np.isinf(out[4]).all()
    np.testing.assert_array_equal(out[1:4], 3.0)


def test_matmul_packed_rejects_a_mismatched_pack():
    a = np.ones((2, 3))
    out = np.empty((2, 9))
    with pytest.raises(ValueError, match="k \\* n values"):
        matmul_packed(a, pack_panels(np.ones((3, 8))), out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_project_rows_packed_adds_the_bias(dtype):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(9, 5)).astype(dtype)
    w = rng.normal(size=(5, 36)).astype(dtype)
    bias = rng.normal(size=36).astype(dtype)
    out = np.empty((6, 36), dtype)
    project_rows_packed(x, 2, pack_panels(w), bias, out)
    np.testing.assert_array_equal(out, ordered_product(x[2:8], w) + bias)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_project_step_blocks_give_the_step_by_step_bits(dtype, m):
    rng = np.random.default_rng(3)
    n = 36  # 16384 // (m * 36) steps a block: 455, 227 or 151; T = 500 leaves a partial last block
    T, F = 500, 5
    xt = rng.normal(size=(T, m, F)).astype(dtype)
    w, bias = rng.normal(size=(F, n)).astype(dtype), rng.normal(size=n).astype(dtype)
    wp = pack_panels(w)
    block = projection_block(xt, 0, m, n)
    assert block.shape[0] == (0 if m == 4 else (16384 // (m * n)) * m)
    zx, want = np.empty((m, n), dtype), np.empty((m, n), dtype)
    for t in range(T):
        project_step(xt, t, 0, wp, bias, zx, block)
        project_rows_packed(xt[t], 0, wp, bias, want)
        np.testing.assert_array_equal(zx, want, err_msg=f"step {t}")
    assert projection_block(xt[:, :, :3].copy(), 0, m, n).shape[0] == 0  # too few features to pay
    assert projection_block(rng.normal(size=(T, 6, F)).astype(dtype), 1, 3, n).shape[0] == 0  # part of a batch


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{'after' if v[1] else 'before'}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_small_batches_give_the_rows_of_a_large_one(variant, dtype):
    cell, reset_after = variant
    x, W, U, b = make_problem(cell, reset_after, 9, 150, 8, 64, seed=6)  # blocks of 64 steps or fewer, one partial
    kw = dict(cell=cell, reset_after=reset_after, return_sequences=True, dtype=dtype)
    whole, states = rnn_inference(x, W, U, b, **kw)
    for rows in ([0], [3, 4], [6, 7, 8], [1, 2, 5, 0]):
        out, st = rnn_inference(x[rows], W, U, b, **kw)
        np.testing.assert_array_equal(out, whole[rows])
        np.testing.assert_array_equal(st[0], states[0][rows])


# Batch 9 (two four-row blocks and a single row) and 9 units: gate widths 36, 27 and 9 are
# whole panels plus a rest in float32 and float64; 17 units with 5 rows in float64 give
# single rows over four panels (LSTM: 68 columns = 8 panels of 8 + 4); 2 rows and 5 features
# project their input several steps at a time.
TILE_SHAPES = [(9, 5, 3, 9), (5, 3, 2, 17), (2, 7, 5, 9)]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{'after' if v[1] else 'before'}")
@pytest.mark.parametrize("shape", TILE_SHAPES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cell_forward_on_packed_weights_matches_reference(variant, shape, dtype):
    cell, reset_after = variant
    B, T, F, H = shape
    x, W, U, b = make_problem(cell, reset_after, B, T, F, H, seed=3)
    mask = np.random.default_rng(4).random((B, T)) > 0.25
    ref_out, ref_h, ref_c, _ = reference.forward(
        cell, x, W, U, b, None, None, mask, None, None, "tanh", "sigmoid", reset_after, False, False
    )
    out, states = rnn_inference(x, W, U, b, cell=cell, reset_after=reset_after, mask=mask, return_sequences=True,
                                dtype=dtype)  # fmt: skip
    tol = 1e-12 if dtype == "float64" else 1e-5
    for got, want in [(out, ref_out), (states[0], ref_h)] + ([(states[1], ref_c)] if cell == "lstm" else []):
        err = float(np.max(np.abs(np.asarray(got, float) - want))) / max(1.0, float(np.max(np.abs(want))))
        record_error(variant, "forward vs reference (tile shapes)", dtype, err)
        assert err <= tol, f"relative error {err:.3g} > {tol}"
    # the training forward (which keeps its tape) gives the same bits
    out_t, _, _ = rnn_forward(x, W, U, b, cell=cell, reset_after=reset_after, mask=mask, return_sequences=True,
                              dtype=dtype)  # fmt: skip
    np.testing.assert_array_equal(out_t, out)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v[0]}-{'after' if v[1] else 'before'}")
@pytest.mark.parametrize("shape", TILE_SHAPES)
def test_cell_gradients_on_packed_weights_match_finite_differences(variant, shape):
    cell, reset_after = variant
    B, T, F, H = shape
    params, mask, dmask, rmask = setup_case(cell, reset_after, B=B, T=T, F=F, H=H, seed=5, masked=True,
                                            dropout=True)  # fmt: skip
    kw = dict(return_sequences=True, reverse=False, zero_output_for_mask=False)
    got, loss, _ = analytic(cell, reset_after, params, mask, dmask, rmask, kw, seed=5)
    for name in params:
        num = numeric_grad(loss, params, name)
        err = rel_err(got[name], num)
        record_error(variant, "gradient vs finite differences (tile shapes)", "float64", err)
        assert err < TOL, f"{cell} d{name}: relative error {err:.3g}"
