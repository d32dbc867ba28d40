"""The device-array building blocks of :mod:`numbarnn.cuda.ops` against numpy, on Numba's CUDA simulator.

As in ``test_cuda_sim.py``: the simulator is chosen when ``numba.cuda`` is
first imported, so :class:`TestOps` runs only in a process started with
``NUMBA_ENABLE_CUDASIM=1``, and the ordinary run starts one
(:func:`test_ops_in_child_process`).

Every function is compared with a plain-numpy reference on tiny shapes (not
multiples of the GEMM tile or of the simulator's blocks of 4 threads, so
partial tiles, partial blocks and wrapping grid-stride loops all run): float64
to 1e-12 relative, float32 to 1e-5. The losses are compared with
:mod:`numbarnn.losses`, the optimizer steps with :mod:`numbarnn.optimizers`
over several steps, the penalties with :mod:`numbarnn.regularizers`. Where an
op promises a summation order (GEMM over k, column sums, scattered rows, the
float64 totals) the reference adds in that order and the results must be
bitwise equal (the simulator does IEEE arithmetic in Python, no FMA), also
for other launch shapes.
"""

import importlib.util
import math
import os
import re
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest

from numbarnn import losses, optimizers, regularizers
from numbarnn.activations import ACTIVATIONS

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
HAS_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None

sim_only = pytest.mark.skipif(
    not (SIM and HAS_NUMBA_CUDA), reason="needs numba-cuda and NUMBA_ENABLE_CUDASIM=1 set before numba is imported"
)

if SIM and HAS_NUMBA_CUDA:
    from numba import cuda

    from numbarnn.cuda import ops
    from numbarnn.kernels.nonlinear import CODES

TOL = {np.float64: 1e-12, np.float32: 1e-5}
DTYPES = [np.float64, np.float32]


def dev(a, dtype=None):
    """Host array to the device (C-contiguous, optionally cast)."""
    a = np.asarray(a)
    return cuda.to_device(np.ascontiguousarray(a if dtype is None else a.astype(dtype)))


def host(d):
    return d.copy_to_host()


def assert_close(got, ref, dtype, what=""):
    """Max-norm error relative to the largest entry of ``ref`` (absolute below 1) within the dtype's tolerance."""
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape, (what, got.shape, ref.shape)
    if ref.size == 0:
        return
    err = np.abs(got - ref).max() / max(np.abs(ref).max(), 1.0)
    assert err <= TOL[dtype], f"{what}: {err:.3e} > {TOL[dtype]:.0e}"


def rng_for(*key):
    """A generator seeded from ``key`` (the same in every process, unlike ``hash``)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def op(a, trans):
    return a.T if trans else a


def gemm_reference(a, b, bias, out, trans_a, trans_b, accumulate):
    """op(a) @ op(b) added in increasing k, then + bias, then + out: the kernel's order, elementwise IEEE."""
    A, B = op(a, trans_a), op(b, trans_b)
    acc = np.zeros((A.shape[0], B.shape[1]), a.dtype)
    for k in range(A.shape[1]):
        acc = acc + A[:, k, None] * B[None, k, :]
    if bias is not None:
        acc = acc + bias
    if accumulate:
        acc = acc + out
    return acc


GEMM_SHAPES = [(1, 1, 1), (5, 7, 3), (7, 2, 6), (4, 4, 9), (3, 6, 1)]


# (kind, from_logits, options) of ops.loss_rows.
LOSSES = [
    ("mse", False, {}),
    ("mae", False, {}),
    ("huber", False, {"delta": 0.7}),
    ("binary_crossentropy", False, {}),
    ("binary_crossentropy", True, {}),
    ("categorical_crossentropy", False, {}),
    ("categorical_crossentropy", True, {}),
]

# Optimizer configurations, each run for several steps on the device and in numpy.
OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(0.1),
    "sgd-momentum": lambda: optimizers.SGD(0.1, momentum=0.9),
    "sgd-nesterov": lambda: optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    "sgd-clipvalue": lambda: optimizers.SGD(0.1, momentum=0.5, clipvalue=0.4),
    "rmsprop": lambda: optimizers.RMSprop(0.01),
    "rmsprop-centered": lambda: optimizers.RMSprop(0.01, centered=True),
    "rmsprop-momentum": lambda: optimizers.RMSprop(0.01, momentum=0.5),
    "rmsprop-centered-momentum": lambda: optimizers.RMSprop(0.01, rho=0.8, momentum=0.5, centered=True),
    "adam": lambda: optimizers.Adam(0.01),
    "adam-amsgrad": lambda: optimizers.Adam(0.01, beta_1=0.8, amsgrad=True),
    "adam-clipnorm": lambda: optimizers.Adam(0.01, clipnorm=1.0),
    "adamw": lambda: optimizers.AdamW(0.01, weight_decay=0.1),
    "adamw-amsgrad-global-clipnorm": lambda: optimizers.AdamW(0.01, amsgrad=True, global_clipnorm=1.5),
}


@sim_only
class TestOps:
    # ------------------------------------------------------------------ gemm and sums
    @pytest.mark.parametrize("kernel", ["tiled", "simple"])
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("trans_a", [False, True])
    @pytest.mark.parametrize("trans_b", [False, True])
    def test_gemm(self, dtype, trans_a, trans_b, kernel, monkeypatch):
        # Both kernels give the reference's bits (the same products added in the same order), so they
        # give each other's: the model tests on the simulator may take the simple one.
        monkeypatch.setattr(ops, "SIMPLE_GEMM", kernel == "simple")
        combos = [(False, False), (True, False), (False, True), (True, True)]  # (bias, accumulate)
        for i, (m, n, k) in enumerate(GEMM_SHAPES):
            rng = rng_for("gemm", m, n, k, trans_a, trans_b)
            a = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
            b = rng.normal(size=(n, k) if trans_b else (k, n)).astype(dtype)
            bias = rng.normal(size=n).astype(dtype)
            old = rng.normal(size=(m, n)).astype(dtype)
            # Every combination on the shape with partial tiles both ways, one each on the others.
            for use_bias, accumulate in combos if (m, n, k) == (5, 7, 3) else combos[i % 4 : i % 4 + 1]:
                d_out = dev(old)
                ops.gemm(dev(a), dev(b), d_out, bias=dev(bias) if use_bias else None, trans_a=trans_a,
                         trans_b=trans_b, accumulate=accumulate)  # fmt: skip
                got = host(d_out)
                ref = gemm_reference(a, b, bias if use_bias else None, old, trans_a, trans_b, accumulate)
                assert got.dtype == dtype
                np.testing.assert_array_equal(got, ref)  # the order over k is the promised one
                plain = op(a, trans_a) @ op(b, trans_b) + (bias if use_bias else 0) + (old if accumulate else 0)
                assert_close(got, plain, dtype, f"gemm {(m, n, k)}")

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_gemm_same_bits_for_every_tile(self, dtype, monkeypatch):
        rng = rng_for("gemm-tiles")
        x = rng.normal(size=(9, 5)).astype(dtype)  # dW = x.T @ dz: M = F small, K = rows
        dz = rng.normal(size=(9, 3)).astype(dtype)
        results = []
        monkeypatch.setattr(ops, "SIMPLE_GEMM", False)
        for tile in (2, 3, 4):
            monkeypatch.setattr(ops, "TILE", tile)
            d_out = cuda.device_array((5, 3), dtype)
            ops.gemm(dev(x), dev(dz), d_out, trans_a=True)
            results.append(host(d_out))
        for r in results[1:]:
            assert r.tobytes() == results[0].tobytes()

    def test_gemm_checks_its_arguments(self):
        a, b = dev(np.ones((3, 2))), dev(np.ones((2, 4)))
        with pytest.raises(ValueError, match="shapes do not match"):
            ops.gemm(a, b, cuda.device_array((3, 5)))
        with pytest.raises(ValueError, match="shapes do not match"):
            ops.gemm(a, b, cuda.device_array((3, 4)), trans_b=True)
        with pytest.raises(ValueError, match="bias"):
            ops.gemm(a, b, cuda.device_array((3, 4)), bias=dev(np.ones(3)))
        with pytest.raises(TypeError, match="dtype"):
            ops.gemm(a, dev(np.ones((2, 4), np.float32)), cuda.device_array((3, 4)))

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_column_sums(self, dtype):
        rng = rng_for("colsum")
        a = rng.normal(size=(9, 14)).astype(dtype)
        old = rng.normal(size=14).astype(dtype)
        ref = np.zeros(14, dtype)
        for i in range(9):
            ref = ref + a[i]
        d_out = dev(old)
        ops.column_sums(dev(a), d_out)
        np.testing.assert_array_equal(host(d_out), ref)
        ops.column_sums(dev(a), d_out, accumulate=True)
        np.testing.assert_array_equal(host(d_out), ref + ref)
        assert_close(host(d_out), 2 * a.sum(axis=0), dtype)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_sum_squares_and_sum_all(self, dtype, monkeypatch):
        rng = rng_for("totals")
        for size in (1, 5, 300, 700):
            a = (rng.normal(size=size) * 3).astype(dtype)
            a64 = a.astype(np.float64)
            d = dev(a.reshape(-1, 1) if size % 2 else a)  # a 2-D input too
            # The kernel's order: strided partial sums, then those in order.
            parts = [sum((float(v) ** 2 for v in a64[p :: ops._PARTS]), 0.0) for p in range(ops._PARTS)]
            ref_sq = sum(parts, 0.0)
            parts = [sum((float(v) for v in a64[p :: ops._PARTS]), 0.0) for p in range(ops._PARTS)]
            ref_sum = sum(parts, 0.0)
            for threads in (1, 3, 4, 7):
                monkeypatch.setattr(ops, "_REDUCE_THREADS", threads)
                got_sq, got_sum = ops.sum_squares(d), ops.sum_all(d)
                assert isinstance(got_sq, float) and isinstance(got_sum, float)
                assert got_sq == ref_sq and got_sum == ref_sum, (size, threads)
            assert math.isclose(got_sq, float(np.square(a64).sum()), rel_tol=1e-12)
            assert math.isclose(got_sum, float(a64.sum()), rel_tol=1e-12, abs_tol=1e-12)

    # ------------------------------------------------------------------ activations
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize("name", ["linear", "tanh", "sigmoid", "hard_sigmoid", "relu"])
    def test_activations(self, dtype, name):
        rng = rng_for("act", name)
        z = (rng.normal(size=(2, 3, 5)) * 4).astype(dtype)
        z[0, 0, :4] = [0.0, -3.0, 3.0, 50.0]
        forward, backward = ACTIVATIONS[name]
        y_ref = forward(z)
        d_z = dev(z)
        d_y = cuda.device_array(z.shape, dtype)
        ops.activate(CODES[name], d_z, d_y)
        y = host(d_y)
        assert y.dtype == dtype
        assert_close(y, y_ref, dtype, name)
        dy = rng.normal(size=z.shape).astype(dtype)
        d_dz = cuda.device_array(z.shape, dtype)
        ops.activation_backward(CODES[name], d_y, dev(dy), d_dz)
        assert_close(host(d_dz), backward(y, dy), dtype, f"{name} backward")
        ops.activate(CODES[name], d_z, d_z)  # in place
        np.testing.assert_array_equal(host(d_z), y)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_softmax(self, dtype):
        rng = rng_for("softmax")
        z = (rng.normal(size=(6, 5)) * 3).astype(dtype)
        z[0] = [1000.0, 999.0, -1000.0, 0.0, 1000.0]  # shifted by the row max: no overflow
        forward, backward = ACTIVATIONS["softmax"]
        d_y = cuda.device_array(z.shape, dtype)
        ops.activate(ops.SOFTMAX, dev(z), d_y)
        y = host(d_y)
        assert np.isfinite(y).all()
        assert_close(y, forward(z.astype(np.float64)), dtype, "softmax")
        dy = rng.normal(size=z.shape).astype(dtype)
        d_dz = dev(dy)
        ops.activation_backward(ops.SOFTMAX, d_y, d_dz, d_dz)  # out aliases dy
        assert_close(host(d_dz), backward(y.astype(np.float64), dy.astype(np.float64)), dtype, "softmax backward")

    def test_activation_checks_its_arguments(self):
        d = dev(np.ones((2, 3)))
        with pytest.raises(ValueError, match="activation code"):
            ops.activate(7, d, d)
        with pytest.raises(ValueError, match="2 dimensions"):
            ops.activate(ops.SOFTMAX, dev(np.ones(4)), dev(np.ones(4)))
        with pytest.raises(ValueError, match="out"):
            ops.activation_backward(1, d, d, dev(np.ones((3, 2))))

    # ------------------------------------------------------------------ elementwise
    @pytest.mark.parametrize("dtype", DTYPES)
    def test_elementwise(self, dtype):
        rng = rng_for("elementwise")
        a = rng.normal(size=(3, 5)).astype(dtype)
        b = rng.normal(size=(3, 5)).astype(dtype)
        d_a, d_b, d_out = dev(a), dev(b), cuda.device_array((3, 5), dtype)
        ops.add(d_a, d_b, d_out)
        np.testing.assert_array_equal(host(d_out), a + b)
        ops.multiply(d_a, d_b, d_out)
        np.testing.assert_array_equal(host(d_out), a * b)
        ops.scale(d_a, 0.3, d_out)
        np.testing.assert_array_equal(host(d_out), dtype(0.3) * a)
        ops.copy(d_b, d_out)
        np.testing.assert_array_equal(host(d_out), b)
        ops.fill(d_out, -2.5)
        np.testing.assert_array_equal(host(d_out), np.full((3, 5), -2.5, dtype))
        ops.add(d_a, d_b, d_a)  # in place
        np.testing.assert_array_equal(host(d_a), a + b)
        with pytest.raises(ValueError, match="b has shape"):
            ops.add(d_a, dev(np.ones((5, 3), dtype)), d_out)
        with pytest.raises(ValueError, match="C-contiguous"):
            ops.copy(dev(a)[:, 1:3], cuda.device_array((3, 2), dtype))

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_multiply_rows(self, dtype):
        rng = rng_for("rows")
        a = rng.normal(size=(7, 3)).astype(dtype)
        s = rng.normal(size=7).astype(dtype)
        d_out = cuda.device_array((7, 3), dtype)
        ops.multiply_rows(dev(a), dev(s), d_out)
        np.testing.assert_array_equal(host(d_out), a * s[:, None])

    # ------------------------------------------------------------------ layouts
    @pytest.mark.parametrize("reverse", [False, True])
    def test_time_major_and_back(self, reverse):
        x = rng_for("tm").normal(size=(3, 5, 2))
        d_xt = cuda.device_array((5, 3, 2))
        ops.time_major(dev(x), d_xt, reverse)
        xt = host(d_xt)
        ref = x.transpose(1, 0, 2)
        np.testing.assert_array_equal(xt, ref[::-1] if reverse else ref)
        d_back = cuda.device_array((3, 5, 2))
        ops.batch_major(d_xt, d_back, reverse)
        np.testing.assert_array_equal(host(d_back), x)
        with pytest.raises(ValueError, match="out"):
            ops.time_major(dev(x), cuda.device_array((3, 5, 2)), reverse)

    def test_columns(self):
        rng = rng_for("columns")
        a = rng.normal(size=(5, 7))
        b = rng.normal(size=(5, 6))
        d_out = cuda.device_array((5, 3))
        ops.copy_columns(dev(a), 2, d_out)
        np.testing.assert_array_equal(host(d_out), a[:, 2:5])
        ops.multiply_columns(dev(a), 4, dev(b), 1, d_out)
        np.testing.assert_array_equal(host(d_out), a[:, 4:7] * b[:, 1:4])
        w = rng.normal(size=(5, 3))
        d_a = dev(a)
        ops.set_columns(d_a, 1, dev(w))
        ref = a.copy()
        ref[:, 1:4] = w
        np.testing.assert_array_equal(host(d_a), ref)
        ops.set_columns(d_a, 4, dev(w), accumulate=True)
        ref[:, 4:7] += w
        np.testing.assert_array_equal(host(d_a), ref)
        with pytest.raises(ValueError, match="columns"):
            ops.copy_columns(dev(a), 5, d_out)
        with pytest.raises(ValueError, match="columns"):
            ops.set_columns(d_a, 5, dev(w))
        with pytest.raises(ValueError, match="no columns"):
            ops.multiply_columns(dev(a), 0, dev(b), 4, d_out)

    @pytest.mark.parametrize("dtype", DTYPES)
    def test_shift_states(self, dtype):
        rng = rng_for("shift")
        T, B, H = 4, 3, 2
        h0 = rng.normal(size=(B, H)).astype(dtype)
        hs = rng.normal(size=(T, B, H)).astype(dtype)
        rmask = ((rng.random((B, H)) > 0.4) / 0.6).astype(dtype)
        ref = np.concatenate([h0[None], hs[:-1]])
        d_out = cuda.device_array((T, B, H), dtype)
        for dummy in (np.zeros((1, 1), dtype), np.zeros(1, dtype)):
            ops.shift_states(dev(h0), dev(hs), dev(dummy), False, d_out)
            np.testing.assert_array_equal(host(d_out), ref)
        ops.shift_states(dev(h0), dev(hs), dev(rmask), True, d_out)
        np.testing.assert_array_equal(host(d_out), ref * rmask)

    def test_concat_and_split(self):
        rng = rng_for("concat")
        a, b = rng.normal(size=(5, 2)), rng.normal(size=(5, 3))
        d_out = cuda.device_array((5, 5))
        ops.concat_last(dev(a), dev(b), d_out)
        np.testing.assert_array_equal(host(d_out), np.concatenate([a, b], axis=1))
        d_a, d_b = cuda.device_array((5, 2)), cuda.device_array((5, 3))
        ops.split_last(d_out, d_a, d_b)
        np.testing.assert_array_equal(host(d_a), a)
        np.testing.assert_array_equal(host(d_b), b)
        with pytest.raises(ValueError, match="out"):
            ops.concat_last(dev(a), dev(b), cuda.device_array((5, 4)))

    # ------------------------------------------------------------------ embedding
    def test_gather_scatter(self):
        rng = rng_for("embedding")
        V, D = 6, 3
        idx = np.array([4, 1, 4, 0, 1, 4, 5, 1, 0], np.int64)
        table = rng.normal(size=(V, D))
        d_rows = cuda.device_array((idx.size, D))
        ops.gather_rows(dev(table), dev(idx), d_rows)
        np.testing.assert_array_equal(host(d_rows), table[idx])

        order, starts, rows = ops.scatter_plan(idx)
        assert order.dtype == starts.dtype == rows.dtype == np.int64
        np.testing.assert_array_equal(order, np.argsort(idx, kind="stable"))
        np.testing.assert_array_equal(rows, [0, 1, 4, 5])
        np.testing.assert_array_equal(starts, [0, 2, 5, 8, 9])
        dy = rng.normal(size=(idx.size, D))
        ref = np.zeros((V, D))
        for n in np.argsort(idx, kind="stable"):  # each row added in order of occurrence
            ref[idx[n]] = ref[idx[n]] + dy[n]
        d_table = dev(np.full((V, D), 7.0))  # rows 2 and 3 are never indexed: zeroed
        ops.scatter_rows(dev(dy), dev(order), dev(starts), dev(rows), d_table)
        np.testing.assert_array_equal(host(d_table), ref)
        ref_add = np.zeros((V, D))
        np.add.at(ref_add, idx, dy)
        assert_close(host(d_table), ref_add, np.float64)
        with pytest.raises(TypeError, match="int64"):
            ops.gather_rows(dev(table), dev(idx.astype(np.int32)), d_rows)

    def test_scatter_plan_of_nothing(self):
        order, starts, rows = ops.scatter_plan(np.zeros(0, np.int64))
        assert order.shape == (0,) and rows.shape == (0,)
        np.testing.assert_array_equal(starts, [0])
        order, starts, rows = ops.scatter_plan([3, 3, 3])
        np.testing.assert_array_equal(order, [0, 1, 2])
        np.testing.assert_array_equal(starts, [0, 3])
        np.testing.assert_array_equal(rows, [3])

    # ------------------------------------------------------------------ losses
    @staticmethod
    def _loss_problem(kind, from_logits, dtype):
        rng = rng_for("loss", kind, from_logits)
        N, K = 7, 4
        if kind == "categorical_crossentropy":
            y_true = np.eye(K)[rng.integers(0, K, N)]
            y_true[1] = [0.2, 0.3, 0.7, 0.0]  # soft targets, not summing to one (the gradient's sum(y) term)
            if from_logits:
                y_pred = rng.normal(size=(N, K)) * 3
                y_pred[0] = [500.0, -500.0, 0.0, 499.0]
            else:
                y_pred = rng.random((N, K)) + 0.05
                y_pred[2] = [0.0, 1.0, 0.0, 0.0]  # normalised entries clipped at both ends
                y_pred[3] = [1e-9, 0.5, 0.25, 0.25]
        elif kind == "binary_crossentropy":
            y_true = (rng.random((N, K)) > 0.5).astype(float)
            y_true[1] = [0.1, 0.9, 0.5, 0.0]
            if from_logits:
                y_pred = rng.normal(size=(N, K)) * 4
                y_pred[0] = [60.0, -60.0, 0.0, 1e-3]
            else:
                y_pred = rng.random((N, K))
                y_pred[2] = [0.0, 1.0, 1e-9, 1 - 1e-9]  # clipped: zero gradient
        else:
            y_true = rng.normal(size=(N, K))
            y_pred = y_true + rng.normal(size=(N, K))
            y_pred[0, :2] = y_true[0, :2]  # zero difference (sign 0)
        scale = rng.random(N) + 0.5
        return y_true.astype(dtype), y_pred.astype(dtype), scale.astype(dtype)

    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize(("kind", "from_logits", "options"), LOSSES, ids=[f"{k}-{f}" for k, f, _ in LOSSES])
    def test_loss_rows(self, kind, from_logits, options, dtype):
        classes = {
            "mse": losses.MeanSquaredError,
            "mae": losses.MeanAbsoluteError,
            "huber": losses.Huber,
            "binary_crossentropy": losses.BinaryCrossentropy,
            "categorical_crossentropy": losses.CategoricalCrossentropy,
        }
        y_true, y_pred, scale = self._loss_problem(kind, from_logits, dtype)
        if kind in ("binary_crossentropy", "categorical_crossentropy"):
            loss = classes[kind](from_logits=from_logits)
        else:
            loss = classes[kind](**options)
        ref_values, ref_grad = loss.values_and_gradient(y_true, y_pred)
        d_values = cuda.device_array(scale.shape, dtype)
        d_grad = cuda.device_array(y_pred.shape, dtype)
        ops.loss_rows(kind, dev(y_true), dev(y_pred), dev(scale), d_values, d_grad, from_logits=from_logits,
                      **options)  # fmt: skip
        values, grad = host(d_values), host(d_grad)
        assert values.dtype == grad.dtype == dtype
        assert np.isfinite(values).all() and np.isfinite(grad).all()
        assert_close(values, ref_values * scale, dtype, f"{kind} values")
        assert_close(grad, ref_grad * scale[:, None], dtype, f"{kind} gradient")
        if kind == "binary_crossentropy" and not from_logits:
            assert (grad[2] == 0).all()
        total = ops.sum_all(d_values)  # the batch loss
        assert math.isclose(total, float((ref_values * scale).astype(np.float64).sum()), rel_tol=TOL[dtype])

    def test_loss_checks_its_arguments(self):
        d = dev(np.ones((2, 3)))
        v = dev(np.ones(2))
        with pytest.raises(ValueError, match="unknown loss"):
            ops.loss_rows("hinge", d, d, v, v, d)
        with pytest.raises(ValueError, match="delta"):
            ops.loss_rows("huber", d, d, v, v, d, delta=0.0)
        with pytest.raises(ValueError, match="scale"):
            ops.loss_rows("mse", d, d, dev(np.ones(3)), v, d)

    # ------------------------------------------------------------------ optimizers
    @staticmethod
    def _device_apply(opt, d_vars, d_slots, grads, step):
        """Optimizer.apply on device arrays: clipping, decay, then the update of each variable."""
        d_grads = [dev(g) for g in grads]
        if opt.clipvalue is not None:
            for d in d_grads:
                ops.clip_values(d, opt.clipvalue)
        elif opt.clipnorm is not None:
            for d in d_grads:
                norm = math.sqrt(ops.sum_squares(d))
                if norm > opt.clipnorm:
                    ops.scale(d, opt.clipnorm / norm, d)
        elif opt.global_clipnorm is not None:
            norm = math.sqrt(sum(ops.sum_squares(d) for d in d_grads))
            if norm > opt.global_clipnorm:
                for d in d_grads:
                    ops.scale(d, opt.global_clipnorm / norm, d)
        lr = opt.learning_rate
        for i, (w, g) in enumerate(zip(d_vars, d_grads)):
            s = {name: slots[i] for name, slots in d_slots.items()}
            dummy = cuda.device_array(1, w.dtype)
            if opt.weight_decay:
                ops.decay(w, lr * opt.weight_decay)
            if isinstance(opt, optimizers.SGD):
                ops.sgd_update(w, g, s.get("momentum", dummy), lr, opt.momentum, opt.nesterov)
            elif isinstance(opt, optimizers.RMSprop):
                ops.rmsprop_update(w, g, s["velocity"], s.get("momentum", dummy), s.get("average_gradient", dummy),
                                   lr, opt.rho, opt.momentum, opt.epsilon, opt.centered)  # fmt: skip
            else:
                t = step + 1
                alpha = lr * math.sqrt(1 - opt.beta_2**t) / (1 - opt.beta_1**t)
                ops.adam_update(w, g, s["momentum"], s["velocity"], s.get("velocity_hat", dummy), alpha,
                                opt.beta_1, opt.beta_2, opt.epsilon, opt.amsgrad)  # fmt: skip

    @pytest.mark.parametrize("name", list(OPTIMIZERS))
    def test_optimizer_steps(self, name):
        self._check_optimizer(name, np.float64)

    @pytest.mark.parametrize("name", ["sgd-nesterov", "rmsprop-centered-momentum", "adamw-amsgrad-global-clipnorm"])
    def test_optimizer_steps_float32(self, name):
        self._check_optimizer(name, np.float32)

    def _check_optimizer(self, name, dtype):
        rng = rng_for("optimizer", name)
        variables = [rng.normal(size=(3, 4)).astype(dtype), rng.normal(size=5).astype(dtype)]
        opt = OPTIMIZERS[name]()
        opt.build(variables)
        d_vars = [dev(v) for v in variables]
        d_slots = {slot: [cuda.to_device(np.zeros_like(v)) for v in variables] for slot in opt.slot_names}
        for step in range(4):
            grads = [(rng.normal(size=v.shape) * 0.8).astype(dtype) for v in variables]
            self._device_apply(opt, d_vars, d_slots, grads, opt.iterations)
            opt.apply([g.copy() for g in grads], variables)
            for i, v in enumerate(variables):
                got = host(d_vars[i])
                assert got.dtype == dtype
                assert_close(got, v, dtype, f"{name} step {step} weights {i}")
                for slot in opt.slot_names:
                    assert_close(host(d_slots[slot][i]), opt._slots[slot][i], dtype, f"{name} {slot} {i}")

    def test_decay_and_clip_values(self):
        w = rng_for("decay").normal(size=(3, 3))
        d = dev(w)
        ops.decay(d, 0.01)
        np.testing.assert_array_equal(host(d), w - 0.01 * w)
        ops.clip_values(d, 0.5)
        np.testing.assert_array_equal(host(d), np.clip(w - 0.01 * w, -0.5, 0.5))

    # ------------------------------------------------------------------ regularizers
    @pytest.mark.parametrize("dtype", DTYPES)
    @pytest.mark.parametrize(("l1", "l2"), [(0.01, 0.0), (0.0, 0.02), (0.01, 0.02), (0.0, 0.0)])
    def test_penalties(self, l1, l2, dtype):
        rng = rng_for("penalty", l1, l2)
        w = rng.normal(size=(4, 5)).astype(dtype)
        w[0, :3] = 0.0  # sign(0) = 0
        g = rng.normal(size=(4, 5)).astype(dtype)
        reg = regularizers.L1L2(l1, l2)
        d_g = dev(g)
        ops.add_penalty_gradient(dev(w), d_g, l1, l2)
        assert_close(host(d_g), g + reg.gradient(w), dtype, "penalty gradient")
        value = ops.penalty(dev(w), l1, l2)
        assert isinstance(value, float)
        assert math.isclose(value, reg(w.astype(np.float64)), rel_tol=1e-12, abs_tol=0.0)


# ---------------------------------------------------------------------- the ordinary run


@pytest.mark.skipif(SIM, reason="already running on the simulator")
def test_ops_in_child_process():
    """Run :class:`TestOps` in a child process with ``NUMBA_ENABLE_CUDASIM=1``."""
    if not HAS_NUMBA_CUDA:
        pytest.skip("numba-cuda is not installed: the CUDA ops (numbarnn.cuda.ops) cannot be tested")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{__file__}::TestOps"]
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, check=False, env=env, cwd=root, capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    print(output[-3000:])
    print(f"child process: {time.perf_counter() - start:.1f} s")
    assert proc.returncode == 0, output[-6000:]
    assert re.search(r"\d+ passed", output), output[-2000:]
    assert not re.search(r"\d+ (failed|skipped|errors?)\b", output), output[-2000:]


@pytest.mark.skipif(SIM, reason="tests the ordinary run")
def test_child_process_skips_without_numba_cuda(monkeypatch):
    """Without numba-cuda the child-process test skips, saying why, instead of failing."""
    monkeypatch.setattr(sys.modules[__name__], "HAS_NUMBA_CUDA", False)
    with pytest.raises(pytest.skip.Exception, match="numba-cuda is not installed"):
        test_ops_in_child_process()


@pytest.mark.skipif(SIM, reason="types the kernels for a real GPU, not the simulator")
@pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda is not installed")
def test_kernels_type_for_a_real_gpu():
    """Every device kernel of the training step compiles for a real GPU (to LLVM IR; no GPU or toolkit
    needed): the simulator accepts code a GPU does not (a shared-array shape that is not a constant).
    No float32 kernel computes in float64, the float64 totals excepted."""
    from numba import types as nt
    from numba.cuda.compiler import compile_cuda

    from numbarnn.cuda import ops, reshape

    def arr(dt, nd):
        return nt.Array(dt, nd, "C")

    i, flag = nt.int64, nt.boolean
    for name in ("float32", "float64"):
        f = nt.float32 if name == "float32" else nt.float64
        f1, f2, f3, i1 = arr(f, 1), arr(f, 2), arr(f, 3), arr(i, 1)
        sigs = {
            "activate": (i, f1, f1), "derivative": (i, f1, f1, f1), "add": (f1, f1, f1),
            "multiply": (f1, f1, f1), "scale": (f1, f, f1), "fill": (f1, f), "copy": (f1, f1), "clip": (f1, f),
            "decay": (f1, f), "penalty_gradient": (f1, f1, f, flag, f, flag), "sgd": (f1, f1, f1, f, f, flag, flag),
            "rmsprop": (f1, f1, f1, f1, f1, f, f, f, f, flag, f, flag),
            "adam": (f1, f1, f1, f1, f1, f, f, f, f, flag), "total": (f1, i, arr(nt.float64, 1), i),
            "column_sums": (f2, f1, flag), "softmax": (f2, f2), "softmax_back": (f2, f2, f2),
            "multiply_rows": (f2, f1, f2), "time_major": (f3, f3, flag), "batch_major": (f3, f3, flag),
            "copy_columns": (f2, i, f2), "set_columns": (f2, i, f2, flag), "multiply_columns": (f2, i, f2, i, f2),
            "shift_states": (f2, f3, f2, flag, f3), "concat_last": (f2, f2, f2), "split_last": (f2, f2, f2),
            "gather_rows": (f2, i1, f2), "scatter_rows": (f2, i1, i1, i1, f2),
            "loss_rows": (i, f2, f2, f1, f1, f2, flag, f, f, f, f, f, f),
        }  # fmt: skip
        kernels = dict(ops.ops_kernels(name))
        assert set(kernels) == set(sigs), set(kernels) ^ set(sigs)
        gemm_sig = (f2, f2, f1, flag, flag, flag, flag, f2)
        kernels.update(gemm=ops._gemm_kernel(name, 16), gemm_simple=ops._simple_gemm_kernel(name))
        sigs.update(gemm=gemm_sig, gemm_simple=gemm_sig)
        transpose, scale_steps = reshape._kernels(name)
        kernels.update(transpose=transpose, scale_steps=scale_steps)
        sigs.update(transpose=(f2, f2), scale_steps=(f3, f2, f3, flag))
        for kname, kernel in kernels.items():
            ir = compile_cuda(kernel.py_func, nt.void, sigs[kname], cc=(7, 5)).library.get_llvm_str()
            code = [ln for ln in ir.splitlines() if not ln.lstrip().startswith(";")]
            if name == "float32" and kname != "total":
                assert not any(re.search(r"\bdouble\b", ln) for ln in code), f"{kname} computes in float64"
