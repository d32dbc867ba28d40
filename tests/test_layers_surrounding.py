"""The layers around recurrent ones (convolution, pooling, normalization, reshaping) against Keras 3.

Three kinds of evidence:

- Keras 3 itself: tests/data/keras_layers/*.npz, written by
  tests/data/make_keras_layers.py (Keras 3, torch backend), hold inputs,
  weights, inference outputs, input gradients, and weights after SGD steps, for
  every layer's main argument combinations and for three models (a CNN-LSTM
  forecaster, a text classifier, an LSTM stack with Layer- and
  BatchNormalization). Read here with numpy alone; numbarnn must agree within
  1e-5 (float32).
- Central differences in float64 of every layer's input and weight gradients
  (the helper of tests/test_model_gradients.py).
- Plain-loop references written here from Keras's definitions, for argument
  combinations the files do not hold (and in float64 to 1e-12).
Also: masks through each layer, configs, summary, saving, and argument errors.
"""

import json
import types
from pathlib import Path

import numpy as np
import pytest

import numbarnn
from numbarnn import LSTM, Bidirectional, Dense, Embedding, Input, Masking, Model, Sequential
from numbarnn.layers import (
    AveragePooling1D,
    BatchNormalization,
    Conv1D,
    Cropping1D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    Lambda,
    LayerNormalization,
    MaxPooling1D,
    Permute,
    Reshape,
    SpatialDropout1D,
    UpSampling1D,
    ZeroPadding1D,
    deserialize,
    serialize,
)
from numbarnn.optimizers import SGD

from .conftest import record_error
from .test_layers import assert_close
from .test_model_gradients import TOL as FD_TOL
from .test_model_gradients import numeric_gradients

DATA = Path(__file__).parent / "data" / "keras_layers"
LR = 0.1
F32 = "float32"
F64 = "float64"


def _load(group):
    with np.load(DATA / f"{group}.npz", allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files}
    return arrays, json.loads(str(arrays.pop("meta")))["cases"]


KERAS = {group: _load(group) for group in ("conv1d", "pooling", "normalization", "reshaping", "models")}
LAYER_CASES = [
    (group, name)
    for group in ("conv1d", "pooling", "normalization", "reshaping")
    for name, meta in KERAS[group][1].items()
    if "batches" not in meta
]


def case_arrays(group, name):
    arrays, cases = KERAS[group]
    prefix = name + "__"
    return {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}, cases[name]


def unpack(arrays, key, meta):
    """The weights stored raveled and concatenated under ``key``, split by Keras's shapes (meta['shapes'])."""
    flat = arrays.get(key, np.zeros(0, np.float32))
    out, start = [], 0
    for shape in meta["shapes"]:
        n = int(np.prod(shape))
        out.append(flat[start : start + n].reshape(shape))
        start += n
    assert start == flat.size
    return out


def layer_from_meta(meta, **kw):
    """The numbarnn layer of a reference case: Keras's class name and constructor arguments, unchanged."""
    return getattr(numbarnn.layers, meta["class_name"])(**meta["config"], **kw)


def model_for(layer, sample_shape, masked):
    return Sequential([Input(sample_shape)] + ([Masking(0.0)] if masked else []) + [layer])


# -- single layers against Keras ------------------------------------------------------------
@pytest.mark.parametrize("group, name", LAYER_CASES, ids=[f"{g}-{n}" for g, n in LAYER_CASES])
def test_layer_matches_keras(group, name):
    """Inference output, input gradient (training mode), loss and weights after one SGD step."""
    a, meta = case_arrays(group, name)
    x, masked = a["x"], meta["input"] == "masked"
    label = f"keras-{meta['class_name']}"
    layer = layer_from_meta(meta)
    model = model_for(layer, x.shape[1:], masked)
    weights = unpack(a, "w", meta)
    assert [w.shape for w in layer.get_weights()] == [w.shape for w in weights], "weight shapes or order"
    layer.set_weights(weights)
    assert_close(model.predict(x, verbose=0), a["y"], F32, label, "forward vs Keras")
    if not meta["trained"]:
        return
    # the input gradient of mean((y - target)**2), with training=True, through Masking when masked
    rng = np.random.default_rng(0)
    chain = ([Masking(0.0)] if masked else []) + [layer]
    h, mask, caches = x, None, []
    for lay in chain:
        h, mask, cache = lay.forward(h, mask, True, rng)
        caches.append(cache)
    g = (2.0 * (h - a["target"]) / h.size).astype(F32)
    for lay, cache in zip(chain[::-1], caches[::-1]):
        g, _ = lay.backward(cache, g)
    assert_close(g, a["dx"], F32, label, "input gradient vs Keras")
    # one SGD step through the model (moving statistics move once too)
    layer.set_weights(weights)
    model.compile(optimizer=SGD(LR), loss="mse")
    loss = model.train_on_batch(x, a["target"])
    assert abs(loss - float(a["loss"])) <= 1e-5 * max(1.0, abs(float(a["loss"]))), (loss, float(a["loss"]))
    after = unpack(a, "after", meta)
    for w, ref in zip(layer.get_weights(), after, strict=True):
        assert_close(w, ref, F32, label, "weights after one SGD step vs Keras")


@pytest.mark.parametrize("name", ["bn_five_batches", "bn_five_batches_masked"])
def test_batch_normalization_moving_statistics_after_five_batches_match_keras(name):
    a, meta = case_arrays("normalization", name)
    layer = layer_from_meta(meta)
    model = model_for(layer, a["xs"].shape[2:], meta["input"] == "masked")
    layer.set_weights(unpack(a, "w", meta))
    model.compile(optimizer=SGD(LR), loss="mse")
    for x, t in zip(a["xs"], a["targets"]):
        model.train_on_batch(x, t)
    names = ["gamma", "beta", "moving_mean", "moving_variance"]
    for n, w, ref in zip(names, layer.get_weights(), unpack(a, "after", meta), strict=True):
        assert_close(w, ref, F32, "keras-BatchNormalization", f"{n} after five batches vs Keras")


# -- three models against Keras ---------------------------------------------------------------
def cnn_lstm():
    return Sequential([Input((24, 1)), Conv1D(8, 3, padding="causal", activation="relu"), MaxPooling1D(2), LSTM(8),
                       Dense(1)])  # fmt: skip


def text_classifier(rate=0.25):
    return Sequential([
        Input((20,), dtype="int32"),
        Embedding(30, 8),
        SpatialDropout1D(rate),
        Bidirectional(LSTM(6, return_sequences=True)),
        GlobalMaxPooling1D(),
        Dense(1, activation="sigmoid"),
    ])  # fmt: skip


def normalized_stack():
    return Sequential([
        Input((10, 3)),
        LSTM(8, return_sequences=True),
        LayerNormalization(),
        LSTM(6, return_sequences=True),
        BatchNormalization(momentum=0.9),
        LSTM(4),
        Dense(2),
    ])  # fmt: skip


MODELS = {
    "cnn_lstm": cnn_lstm,
    "text_classifier": text_classifier,
    "normalized_stack": normalized_stack,
    "normalized_stack_4_steps": normalized_stack,
}


@pytest.mark.parametrize("name", list(MODELS))
def test_model_matches_keras(name):
    """Inference output, then SGD(0.1) steps on MSE: every loss and every weight (moving statistics too)."""
    a, meta = case_arrays("models", name)
    weights = unpack(a, "w", meta)
    model = MODELS[name]()
    assert [type(layer).__name__ for layer in model.layers] == meta["layers"]
    assert [w.shape for w in model.get_weights()] == [w.shape for w in weights], "weight shapes or order"
    model.set_weights(weights)
    assert_close(model.predict(a["x"], verbose=0), a["y"], F32, f"keras-model-{name}", "forward vs Keras")
    if name == "text_classifier":
        model = text_classifier(rate=0.0)  # the training step ran without dropout (its masks are random)
        model.set_weights(weights)
    model.compile(optimizer=SGD(LR), loss="mse")
    for k, (x, t) in enumerate(zip(a["xs"], a["targets"])):
        loss = model.train_on_batch(x, t)
        assert abs(loss - float(a["losses"][k])) <= 1e-5 * max(1.0, abs(float(a["losses"][k])))
    for w, ref in zip(model.get_weights(), unpack(a, "after", meta), strict=True):
        assert_close(w, ref, F32, f"keras-model-{name}", f"weights after {meta['steps']} SGD step(s) vs Keras")


# -- gradients against central differences (float64) ------------------------------------------
def _mask(B, T):
    lengths = [T, T - 2, 1][:B]
    return np.arange(T)[None, :] < np.array(lengths)[:, None]


# name: (factory taking dtype, sample shape, training, with a mask)
FD_CASES = {
    "conv1d-valid-tanh": (lambda d: Conv1D(3, 3, activation="tanh", dtype=d), (7, 2), True, False),
    "conv1d-same-even-kernel": (lambda d: Conv1D(2, 4, padding="same", dtype=d), (7, 2), True, False),
    "conv1d-causal-dilation2-softplus": (
        lambda d: Conv1D(2, 3, padding="causal", dilation_rate=2, activation="softplus", dtype=d),
        (8, 2),
        True,
        False,
    ),
    "conv1d-strides2-same-nobias": (
        lambda d: Conv1D(2, 3, strides=2, padding="same", use_bias=False, dtype=d),
        (9, 2),
        True,
        False,
    ),
    "maxpool-3-2-same": (lambda d: MaxPooling1D(3, strides=2, padding="same", dtype=d), (8, 2), True, False),
    "maxpool-2": (lambda d: MaxPooling1D(2, dtype=d), (7, 2), True, False),
    "avgpool-3-2-same-uneven": (
        lambda d: AveragePooling1D(3, strides=2, padding="same", dtype=d),
        (10, 2),
        True,
        False,
    ),
    "avgpool-3-1-valid": (lambda d: AveragePooling1D(3, strides=1, dtype=d), (6, 2), True, False),
    "global-max": (lambda d: GlobalMaxPooling1D(dtype=d), (5, 3), True, False),
    "global-max-keepdims": (lambda d: GlobalMaxPooling1D(keepdims=True, dtype=d), (5, 3), True, False),
    "global-avg": (lambda d: GlobalAveragePooling1D(dtype=d), (5, 3), True, False),
    "global-avg-masked": (lambda d: GlobalAveragePooling1D(dtype=d), (5, 3), True, True),
    "layernorm": (lambda d: LayerNormalization(dtype=d), (4, 5), True, False),
    "layernorm-axes-1-2": (lambda d: LayerNormalization(axis=[1, 2], dtype=d), (4, 3), True, False),
    "layernorm-no-scale": (lambda d: LayerNormalization(scale=False, dtype=d), (4, 5), True, False),
    "batchnorm-training": (lambda d: BatchNormalization(dtype=d), (4, 3), True, False),
    "batchnorm-training-masked": (lambda d: BatchNormalization(dtype=d), (5, 3), True, True),
    "batchnorm-training-axis1-no-center": (
        lambda d: BatchNormalization(axis=1, center=False, dtype=d),
        (4, 3),
        True,
        False,
    ),
    "batchnorm-training-2d": (lambda d: BatchNormalization(dtype=d), (3,), True, False),
    "batchnorm-inference": (lambda d: BatchNormalization(dtype=d), (4, 3), False, False),
    "spatial-dropout-training": (lambda d: SpatialDropout1D(0.5, dtype=d), (4, 6), True, False),
    "reshape": (lambda d: Reshape((-1, 2), dtype=d), (3, 4), True, False),
    "permute": (lambda d: Permute((2, 1), dtype=d), (3, 4), True, False),
    "cropping": (lambda d: Cropping1D((1, 2), dtype=d), (6, 2), True, False),
    "zero-padding": (lambda d: ZeroPadding1D((2, 1), dtype=d), (4, 2), True, False),
    "up-sampling": (lambda d: UpSampling1D(3, dtype=d), (3, 2), True, False),
}


def _randomize(layer, rng):
    for name, w in zip(layer._weight_names, layer.weights):
        value = rng.normal(size=w.shape) * 0.5
        w[...] = np.abs(value) + 0.5 if name == "moving_variance" else value


@pytest.mark.parametrize("name", list(FD_CASES))
def test_gradients_match_central_differences(name):
    """backward's input and weight gradients of sum(forward(x) * R) against central differences, float64."""
    make, shape, training, masked = FD_CASES[name]
    rng = np.random.default_rng(17)
    layer = make(F64)
    layer.build(shape)
    _randomize(layer, rng)
    x = rng.normal(size=(3,) + shape)
    mask = _mask(3, shape[0]) if masked else None

    def forward():
        return layer.forward(x, mask, training, np.random.default_rng(5))  # the same dropout draw every call

    y, _, cache = forward()
    R = rng.normal(size=y.shape)

    def total_loss():
        return float((forward()[0] * R).sum())

    dx, grads = layer.backward(cache, R)
    assert dx.shape == x.shape and dx.dtype == np.float64
    assert len(grads) == len(layer.trainable_weights)
    pairs = [("input", dx, numeric_gradients(types.SimpleNamespace(weights=[x]), total_loss)[0])]
    numeric = numeric_gradients(types.SimpleNamespace(weights=layer.trainable_weights), total_loss)
    wnames = [n for n in layer._weight_names if n not in ("moving_mean", "moving_variance")]
    pairs += [(n, g, ng) for n, g, ng in zip(wnames, grads, numeric)]
    for what, analytic, num in pairs:
        assert analytic.shape == num.shape, what
        assert np.abs(num).max() > 0, f"{name}: {what} has a zero numeric gradient; the check would be empty"
        err = float(np.abs(analytic - num).max() / np.abs(num).max())
        record_error((f"fd-{name}", True), f"{what} gradient vs central diff", F64, err)
        assert err < FD_TOL, f"{name}: {what} gradient relative error {err:.3g}"


# -- plain-loop references (float64 to 1e-12, float32 to 1e-5) -----------------------------------
def ref_conv1d(x, kernel, bias, stride, dilation, padding):
    """Keras's Conv1D, a loop per output value: pad, then a valid convolution."""
    B, T, C = x.shape
    K, _, F = kernel.shape
    span = dilation * (K - 1) + 1
    if padding == "causal":
        before, after = span - 1, 0
    elif padding == "same":
        out = -(-T // stride)
        total = max((out - 1) * stride + span - T, 0)
        before, after = total // 2, total - total // 2
    else:
        before = after = 0
    xp = np.zeros((B, before + T + after, C))
    xp[:, before : before + T] = x
    T_out = (xp.shape[1] - span) // stride + 1
    y = np.zeros((B, T_out, F))
    for n in range(B):
        for t in range(T_out):
            for f in range(F):
                s = 0.0 if bias is None else bias[f]
                for k in range(K):
                    for c in range(C):
                        s += xp[n, t * stride + k * dilation, c] * kernel[k, c, f]
                y[n, t, f] = s
    return y


def ref_pool(x, pool, stride, padding, mode):
    """Keras's 1-D pooling (TensorFlow's and JAX's rule): padded positions take no part."""
    B, T, C = x.shape
    if padding == "same":
        T_out = -(-T // stride)
        before = max((T_out - 1) * stride + pool - T, 0) // 2
    else:
        T_out, before = (T - pool) // stride + 1, 0
    y = np.zeros((B, T_out, C))
    for t in range(T_out):
        rows = [i for i in range(t * stride - before, t * stride - before + pool) if 0 <= i < T]
        window = x[:, rows, :]
        y[:, t] = window.max(axis=1) if mode == "max" else window.mean(axis=1)
    return y


@pytest.mark.parametrize("dtype", [F64, F32])
@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize("kernel_size, strides, dilation", [(1, 1, 1), (2, 1, 1), (3, 2, 1), (4, 3, 1), (3, 1, 2),
                                                            (2, 1, 3), (5, 2, 1)])  # fmt: skip
def test_conv1d_matches_loop_reference(kernel_size, strides, dilation, padding, dtype):
    rng = np.random.default_rng(21)
    T = 11
    layer = Conv1D(3, kernel_size, strides=strides, dilation_rate=dilation, padding=padding, dtype=dtype)
    model = Sequential([Input((T, 2)), layer])
    layer.set_weights([rng.normal(size=(kernel_size, 2, 3)), rng.normal(size=3)])
    x = rng.normal(size=(4, T, 2))
    out = model.predict(x, verbose=0)
    w = [v.astype(float) for v in layer.get_weights()]
    expected = ref_conv1d(x.astype(dtype).astype(float), *w, strides, dilation, padding)
    assert out.shape == (4,) + model.layers[-1].compute_output_shape((T, 2))
    assert_close(out, expected, dtype, "conv1d", "forward vs loop reference")


@pytest.mark.parametrize("dtype", [F64, F32])
@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("pool, strides, padding, T", [(2, None, "valid", 9), (3, 2, "same", 10), (3, 2, "same", 9),
                                                       (4, 1, "same", 6), (2, 1, "same", 5), (3, 3, "same", 7),
                                                       (5, 2, "valid", 12), (4, 3, "same", 11)])  # fmt: skip
def test_pooling_matches_loop_reference(mode, pool, strides, padding, T, dtype):
    """Including uneven 'same' padding, where an average excludes the padded position as TensorFlow and JAX do."""
    x = np.random.default_rng(22).normal(size=(3, T, 2))
    cls = MaxPooling1D if mode == "max" else AveragePooling1D
    out = cls(pool, strides=strides, padding=padding, dtype=dtype)(x)
    expected = ref_pool(x.astype(dtype).astype(float), pool, strides or pool, padding, mode)
    assert_close(out, expected, dtype, f"{mode}pool", "forward vs loop reference")


def test_average_pooling_same_excludes_padding():
    """Windows at the edges average only their real steps (Keras's torch backend pads unevenly by replication)."""
    x = np.array([[[1.0], [2.0], [3.0], [4.0]]])
    out = AveragePooling1D(3, strides=2, padding="same", dtype=F64)(x)[0, :, 0]
    np.testing.assert_allclose(out, [2.0, 3.5])  # windows [1, 2, 3] and [3, 4, pad]


@pytest.mark.parametrize("dtype", [F64, F32])
def test_layer_and_batch_normalization_formulas(dtype):
    rng = np.random.default_rng(23)
    x = rng.normal(size=(4, 5, 3)) * 3 + 1
    xs = x.astype(dtype).astype(float)
    ln = LayerNormalization(epsilon=1e-3, dtype=dtype)
    ln.build((5, 3))
    ln.set_weights([rng.normal(size=3), rng.normal(size=3)])
    g, b = [w.astype(float) for w in ln.get_weights()]
    mean, var = xs.mean(axis=-1, keepdims=True), xs.var(axis=-1, keepdims=True)
    assert_close(ln(x), (xs - mean) / np.sqrt(var + 1e-3) * g + b, dtype, "layernorm", "forward vs formula")
    bn = BatchNormalization(momentum=0.8, epsilon=1e-3, dtype=dtype)
    bn.build((5, 3))
    mm0, mv0 = rng.normal(size=3), rng.uniform(0.5, 2.0, size=3)
    bn.set_weights([g, b, mm0, mv0])
    y, _, _ = bn.forward(x, training=True)
    mean, var = xs.mean(axis=(0, 1)), xs.var(axis=(0, 1))  # the biased variance
    assert_close(y, (xs - mean) / np.sqrt(var + 1e-3) * g + b, dtype, "batchnorm", "training forward vs formula")
    assert_close(bn.moving_mean, mm0.astype(dtype) * 0.8 + mean * 0.2, dtype, "batchnorm", "moving mean")
    assert_close(bn.moving_variance, mv0.astype(dtype) * 0.8 + var * 0.2, dtype, "batchnorm", "moving variance")
    mm, mv = bn.moving_mean.astype(float), bn.moving_variance.astype(float)
    expected = (xs - mm) / np.sqrt(mv + 1e-3) * g + b
    assert_close(bn.forward(x, training=False)[0], expected, dtype, "batchnorm", "inference forward vs formula")


# -- BatchNormalization: what trains and what does not --------------------------------------------
def test_batch_normalization_trainable_weights_exclude_moving_statistics():
    bn = BatchNormalization()
    bn.build((4, 3))
    assert [w.shape for w in bn.get_weights()] == [(3,)] * 4
    assert bn._weight_names == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [id(w) for w in bn.trainable_weights] == [id(bn.gamma), id(bn.beta)]
    for kw, names in (({"center": False}, ["gamma"]), ({"scale": False}, ["beta"]),
                      ({"center": False, "scale": False}, [])):  # fmt: skip
        layer = BatchNormalization(**kw)
        layer.build((4, 3))
        assert [id(w) for w in layer.trainable_weights] == [id(getattr(layer, n)) for n in names]
        assert layer._weight_names[-2:] == ["moving_mean", "moving_variance"]
    bn.trainable = False
    assert bn.trainable_weights == []


def test_batch_normalization_fit_never_steps_moving_statistics():
    """After fit the moving statistics are the momentum averages of the batch statistics, not optimizer steps."""
    rng = np.random.default_rng(24)
    x = rng.normal(size=(8, 5, 3)) * 2 + 3
    bn = BatchNormalization(momentum=0.5, dtype=F64)
    model = Sequential([Input((5, 3)), bn])
    model.compile(optimizer=SGD(10.0), loss="mse")
    model.fit(x, rng.normal(size=x.shape), batch_size=4, epochs=2, shuffle=False, verbose=0)
    mm, mv = np.zeros(3), np.ones(3)
    for _ in range(2):
        for batch in (x[:4], x[4:]):
            mm = mm * 0.5 + batch.mean(axis=(0, 1)) * 0.5
            mv = mv * 0.5 + batch.var(axis=(0, 1)) * 0.5
    np.testing.assert_allclose(bn.moving_mean, mm, rtol=1e-12)
    np.testing.assert_allclose(bn.moving_variance, mv, rtol=1e-12)
    assert len(model.trainable_weights) == 2


def test_frozen_batch_normalization_runs_in_inference_mode():
    rng = np.random.default_rng(25)
    bn = BatchNormalization(trainable=False, dtype=F64)
    model = Sequential([Input((4, 2)), bn, Dense(1, dtype=F64)])
    bn.set_weights([rng.normal(size=2), rng.normal(size=2), rng.normal(size=2), rng.uniform(1, 2, size=2)])
    before = bn.get_weights()
    x = rng.normal(size=(6, 4, 2))
    y, _, _ = bn.forward(x, training=True)
    np.testing.assert_array_equal(y, bn.forward(x, training=False)[0])
    model.compile(optimizer=SGD(0.1), loss="mse")
    model.train_on_batch(x, rng.normal(size=(6, 4, 1)))
    for w, b in zip(bn.get_weights(), before):
        np.testing.assert_array_equal(w, b)


# -- masks ------------------------------------------------------------------------------------------
def _padded(rng, lengths, T, F):
    x = rng.normal(size=(len(lengths), T, F))
    for i, n in enumerate(lengths):
        x[i, n:] = 0.0
    return x


def test_global_average_pooling_averages_valid_steps_only():
    rng = np.random.default_rng(26)
    lengths = [5, 3, 1]
    x = _padded(rng, lengths, 5, 2)
    model = Sequential([Input((5, 2)), Masking(dtype=F64), GlobalAveragePooling1D(dtype=F64)])
    out = model.predict(x, verbose=0)
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(out[i], x[i, :n].mean(axis=0), rtol=1e-13)
    # unmasked, the padded steps count
    np.testing.assert_allclose(GlobalAveragePooling1D(dtype=F64)(x), x.mean(axis=1), rtol=1e-13)
    # a mask straight into the layer; the output carries none
    y, out_mask, _ = GlobalAveragePooling1D(dtype=F64).forward(x, np.arange(5) < np.array(lengths)[:, None])
    np.testing.assert_allclose(y, out, rtol=1e-13)
    assert out_mask is None
    # a sequence with no valid step averages to NaN, as in Keras
    y, _, _ = GlobalAveragePooling1D().forward(x, np.zeros((3, 5), bool))
    assert np.isnan(y).all()


def test_recurrent_sequences_then_masked_average():
    """Masking -> LSTM(return_sequences) -> GlobalAveragePooling1D: each padded sequence gives what it gives alone."""
    rng = np.random.default_rng(27)
    lengths = [6, 4, 2]
    x = _padded(rng, lengths, 6, 3)
    model = Sequential([Input((None, 3)), Masking(dtype=F64), LSTM(4, return_sequences=True, dtype=F64),
                        GlobalAveragePooling1D(dtype=F64)])  # fmt: skip
    out = model.predict(x, verbose=0)
    for i, n in enumerate(lengths):
        alone = model.predict(x[i : i + 1, :n], verbose=0)
        np.testing.assert_allclose(out[i], alone[0], rtol=1e-12, atol=1e-14)


def test_masks_passed_on_or_dropped_as_in_keras():
    rng = np.random.default_rng(28)
    x = rng.normal(size=(2, 6, 4))
    mask = np.array([[True] * 6, [True] * 3 + [False] * 3])
    keeps = [SpatialDropout1D(0.3), LayerNormalization(), BatchNormalization()]
    drops = [Conv1D(2, 3), MaxPooling1D(), AveragePooling1D(2), GlobalMaxPooling1D(), GlobalAveragePooling1D(),
             Reshape((12, 2)), Permute((2, 1)), Cropping1D(1), ZeroPadding1D(1), UpSampling1D(2)]  # fmt: skip
    for layer in keeps + drops:
        layer.build((6, 4))
        for training in (False, True):
            _, out_mask, _ = layer.forward(x, mask, training, np.random.default_rng(0))
            if layer in keeps:
                np.testing.assert_array_equal(out_mask, mask, err_msg=type(layer).__name__)
            else:
                assert out_mask is None, type(layer).__name__


def test_global_max_pooling_ignores_the_mask():
    """Keras 3's GlobalMaxPooling1D takes no mask: padded (zeroed) steps take part in the max."""
    x = np.array([[[-1.0], [-2.0], [0.0]]])
    model = Sequential([Input((3, 1)), Masking(0.0), GlobalMaxPooling1D()])
    np.testing.assert_array_equal(model.predict(x, verbose=0), [[0.0]])


def test_batch_normalization_masked_statistics():
    """With a mask the batch statistics come from the valid steps, divided by (count + 1e-7) as in Keras."""
    rng = np.random.default_rng(29)
    lengths = [4, 2, 3]
    x = _padded(rng, lengths, 4, 2) + 5.0
    mask = np.arange(4) < np.array(lengths)[:, None]
    bn = BatchNormalization(momentum=0.0, epsilon=0.0, dtype=F64)
    bn.build((4, 2))
    y, _, _ = bn.forward(x, mask, training=True)
    valid = x[mask]
    n = mask.sum() + 1e-7
    mean = valid.sum(axis=0) / n
    var = ((valid - mean) ** 2).sum(axis=0) / n
    np.testing.assert_allclose(bn.moving_mean, mean, rtol=1e-14)
    np.testing.assert_allclose(bn.moving_variance, var, rtol=1e-14)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var), rtol=1e-12)  # padded steps normalized too


# -- SpatialDropout1D -----------------------------------------------------------------------------------
def test_spatial_dropout_one_draw_per_sequence_and_channel():
    x = np.ones((200, 7, 10))
    layer = SpatialDropout1D(0.3, dtype=F64)
    np.testing.assert_array_equal(layer(x), x)  # not training: the identity
    y, _, _ = layer.forward(x, training=True, rng=np.random.default_rng(0))
    assert (y == y[:, :1, :]).all()  # one draw per (sequence, channel), shared by the steps
    assert set(np.unique(y)) == {0.0, 1 / 0.7}
    assert abs((y[:, 0, :] == 0).mean() - 0.3) < 0.05
    y2, _, _ = layer.forward(x, training=True, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(y, y2)  # the draw comes from the generator passed in
    y3, _, _ = layer.forward(x, training=True, rng=np.random.default_rng(1))
    assert not np.array_equal(y, y3)
    dx, grads = layer.backward(layer.forward(x, training=True, rng=np.random.default_rng(0))[2], np.ones_like(x))
    np.testing.assert_array_equal(dx, y)
    assert grads == []


# -- configs, summary, saving -------------------------------------------------------------------------
CONFIG_CASES = [
    lambda: Conv1D(
        4,
        (3,),
        strides=2,
        padding="same",
        activation="relu",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=numbarnn.regularizers.L1L2(l2=0.01),
        dtype=F64,
        name="conv",
    ),
    lambda: Conv1D(2, 5, padding="CAUSAL", dilation_rate=(2,), bias_regularizer="l2", input_shape=(10, 3)),
    lambda: MaxPooling1D(3, strides=1, padding="same"),
    lambda: AveragePooling1D(pool_size=(2,)),
    lambda: GlobalMaxPooling1D(keepdims=True),
    lambda: GlobalAveragePooling1D(data_format="channels_last"),
    lambda: LayerNormalization(axis=[1, 2], epsilon=1e-5, center=False, gamma_regularizer="l2"),
    lambda: BatchNormalization(
        axis=1, momentum=0.9, epsilon=1e-2, scale=False, moving_variance_initializer="zeros", trainable=False
    ),
    lambda: SpatialDropout1D(0.25, seed=3),
    lambda: Reshape((-1, 2)),
    lambda: Permute((2, 1)),
    lambda: Cropping1D(2),
    lambda: ZeroPadding1D((1, 3)),
    lambda: UpSampling1D(4),
]


@pytest.mark.parametrize("make", CONFIG_CASES, ids=lambda m: m().__class__.__name__)
def test_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config  # JSON-friendly
    again = type(layer).from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config
    copy = deserialize(json.loads(json.dumps(serialize(layer))))
    assert type(copy) is type(layer) and copy.get_config() == config


def test_configs_use_keras_names_and_defaults():
    config = Conv1D(2, 3).get_config()
    expected = {"filters": 2, "kernel_size": [3], "strides": [1], "padding": "valid", "data_format": "channels_last",
                "dilation_rate": [1], "groups": 1, "activation": "linear", "use_bias": True}  # fmt: skip
    assert {k: config[k] for k in expected} == expected
    assert config["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert config["bias_initializer"]["class_name"] == "Zeros"
    assert MaxPooling1D().pool_size == 2 and MaxPooling1D().strides == 2 and MaxPooling1D(3).strides == 3
    bn = BatchNormalization()
    assert (bn.axis, bn.momentum, bn.epsilon, bn.center, bn.scale) == (-1, 0.99, 1e-3, True, True)
    ln = LayerNormalization()
    assert (ln.axis, ln.epsilon, ln.center, ln.scale) == (-1, 1e-3, True, True)
    assert Cropping1D().cropping == (1, 1) and ZeroPadding1D().padding == (1, 1) and UpSampling1D().size == 2


def _summary_model():
    return Sequential([
        Input((20, 3)),
        Conv1D(8, 3, padding="same"),
        BatchNormalization(),
        MaxPooling1D(2),
        LSTM(6, return_sequences=True),
        LayerNormalization(),
        GlobalAveragePooling1D(),
        Dense(1),
    ])  # fmt: skip


SUMMARY_ROWS = [
    ("Conv1D", "(None, 20, 8)", 3 * 3 * 8 + 8),
    ("BatchNormalization", "(None, 20, 8)", 4 * 8),
    ("MaxPooling1D", "(None, 10, 8)", 0),
    ("LSTM", "(None, 10, 6)", 4 * (6 * (8 + 6) + 6)),
    ("LayerNormalization", "(None, 10, 6)", 2 * 6),
    ("GlobalAveragePooling1D", "(None, 6)", 0),
    ("Dense", "(None, 1)", 7),
]


def _summary_lines():
    lines = []
    _summary_model().summary(print_fn=lines.append)
    return lines


def test_summary_lists_the_new_layers():
    lines = _summary_lines()
    rows = [line for line in lines if "(None" in line]
    assert len(rows) == len(SUMMARY_ROWS), "\n".join(lines)
    for row, (cls, shape, n) in zip(rows, SUMMARY_ROWS):
        assert f"({cls})" in row and shape in row, row
        assert row.split()[-1] == f"{n:,}", row
    assert f"Total params: {sum(n for _, _, n in SUMMARY_ROWS):,}" in "\n".join(lines)


def test_summary_counts_moving_statistics_as_non_trainable():
    text = "\n".join(_summary_lines())
    total = sum(n for _, _, n in SUMMARY_ROWS)
    assert f"Trainable params: {total - 16:,}" in text
    assert "Non-trainable params: 16" in text


def test_save_and_load_round_trip(tmp_path):
    rng = np.random.default_rng(30)
    model = Sequential([
        Input((16, 2)),
        Conv1D(4, 3, padding="causal", activation="tanh"),
        ZeroPadding1D(1),
        Cropping1D((1, 1)),
        UpSampling1D(2),
        MaxPooling1D(2),
        AveragePooling1D(3, strides=2, padding="same"),
        BatchNormalization(),
        LayerNormalization(),
        SpatialDropout1D(0.1),
        Permute((2, 1)),
        Permute((2, 1)),
        Reshape((-1, 8)),
        LSTM(3, return_sequences=True),
        GlobalMaxPooling1D(),
        Dense(1),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="mse")
    x, y = rng.normal(size=(16, 16, 2)), rng.normal(size=(16, 1))
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = numbarnn.load_model(path)
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0)  # training resumes


# -- arguments ----------------------------------------------------------------------------------------
def test_lambda_is_refused():
    with pytest.raises(TypeError, match="arbitrary Python code.*Layer subclass"):
        Lambda(lambda x: x * 2)
    with pytest.raises(TypeError, match="arbitrary Python code"):
        deserialize({"class_name": "Lambda", "config": {"function": "..."}})


@pytest.mark.parametrize("make, error, match", [
    (lambda: Conv1D(0, 3), ValueError, "filters"),
    (lambda: Conv1D(2, 0), ValueError, "kernel_size"),
    (lambda: Conv1D(2, (3, 3)), ValueError, "kernel_size"),
    (lambda: Conv1D(2, 3, padding="full"), ValueError, "padding"),
    (lambda: Conv1D(2, 3, strides=2, dilation_rate=2), ValueError, "dilation_rate"),
    (lambda: Conv1D(2, 3, groups=2), ValueError, "groups"),
    (lambda: Conv1D(2, 3, data_format="channels_first"), ValueError, "channels_last"),
    (lambda: Conv1D(2, 3, activation="gelu"), ValueError, "activation"),
    (lambda: MaxPooling1D(2, padding="causal"), ValueError, "padding"),
    (lambda: AveragePooling1D(0), ValueError, "pool_size"),
    (lambda: GlobalMaxPooling1D(keepdims=1), TypeError, "keepdims"),
    (lambda: LayerNormalization(axis="last"), TypeError, "axis"),
    (lambda: BatchNormalization(momentum=1.5), ValueError, "momentum"),
    (lambda: SpatialDropout1D(1.0), ValueError, "rate"),
    (lambda: Reshape((-1, -1)), ValueError, "target_shape"),
    (lambda: Reshape((0, 2)), ValueError, "target_shape"),
    (lambda: Permute((1, 3)), ValueError, "permutation"),
    (lambda: Cropping1D((1, 2, 3)), ValueError, "cropping"),
    (lambda: ZeroPadding1D(-1), ValueError, "padding"),
    (lambda: UpSampling1D(0), ValueError, "size"),
])  # fmt: skip
def test_bad_arguments_are_refused(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("layers, sample, match", [
    ([Conv1D(2, 5)], (4, 3), "too few"),
    ([Conv1D(2, 3, dilation_rate=3)], (6, 3), "too few"),
    ([MaxPooling1D(5)], (4, 3), "fewer than"),
    ([Cropping1D((2, 2))], (4, 3), "leaves no step"),
    ([Reshape((5, 5))], (4, 3), "cannot be reshaped"),
    ([Reshape((-1, 5))], (4, 3), "cannot be reshaped"),
    ([LayerNormalization(axis=0)], (4, 3), "batch axis"),
    ([BatchNormalization(axis=3)], (4, 3), "not an axis"),
    ([Permute((2, 1))], (4,), "axes"),
])  # fmt: skip
def test_shapes_that_cannot_feed_a_layer(layers, sample, match):
    with pytest.raises(ValueError, match=match):
        Sequential([Input(sample)] + layers)


def test_free_number_of_steps():
    model = Sequential([Input((None, 3)), Conv1D(4, 3, padding="same"), MaxPooling1D(2), LSTM(2)])
    assert model.layers[0].compute_output_shape((None, 3)) == (None, 4)
    assert model.predict(np.zeros((2, 9, 3)), verbose=0).shape == (2, 2)
    assert model.predict(np.zeros((2, 14, 3)), verbose=0).shape == (2, 2)
    layer = Conv1D(2, 5)
    layer.build((None, 3))
    with pytest.raises(ValueError, match="too short"):
        layer.forward(np.zeros((1, 3, 3)))
    with pytest.raises(ValueError, match=r"\(batch, steps, 3\)"):
        layer.forward(np.zeros((1, 8, 2)))
    pool = MaxPooling1D(4)
    pool.build((None, 3))
    with pytest.raises(ValueError, match="fewer than"):
        pool.forward(np.zeros((1, 3, 3)))


@pytest.mark.parametrize("dtype", [F32, F64])
def test_dtypes_follow_the_layer(dtype):
    x = np.random.default_rng(31).normal(size=(2, 8, 3))
    for layer in [Conv1D(2, 3, dtype=dtype), MaxPooling1D(dtype=dtype), AveragePooling1D(2, dtype=dtype),
                  GlobalMaxPooling1D(dtype=dtype), GlobalAveragePooling1D(dtype=dtype),
                  LayerNormalization(dtype=dtype), BatchNormalization(dtype=dtype), SpatialDropout1D(0.5, dtype=dtype),
                  Reshape((4, 6), dtype=dtype), Permute((2, 1), dtype=dtype), Cropping1D(dtype=dtype),
                  ZeroPadding1D(dtype=dtype), UpSampling1D(dtype=dtype)]:  # fmt: skip
        layer.build((8, 3))
        y, _, cache = layer.forward(x, None, True, np.random.default_rng(0))
        assert y.dtype == np.dtype(dtype), type(layer).__name__
        dx, grads = layer.backward(cache, np.ones_like(y))
        assert dx.dtype == np.dtype(dtype) and dx.shape == x.shape, type(layer).__name__
        assert all(g.dtype == np.dtype(dtype) for g in grads), type(layer).__name__
        assert [g.shape for g in grads] == [w.shape for w in layer.trainable_weights], type(layer).__name__


def test_conv1d_kernels_are_cached_and_use_the_shared_flags():
    from numbarnn import _config
    from numbarnn.kernels import conv1d

    for k in (conv1d.im2col, conv1d.conv1d_forward, conv1d.conv1d_backward):
        assert type(k._cache).__name__ == "FunctionCache"  # cache=True, not NullCache
        assert k.targetoptions["nogil"] is True
        assert set(k.targetoptions["fastmath"]) == set(_config.FASTMATH)


# -- the example ------------------------------------------------------------------------------------
def test_cnn_lstm_forecast_example_runs():
    from examples import cnn_lstm_forecast

    results = cnn_lstm_forecast.main(epochs=2, verbose=False)
    assert set(results) == {"CNN-LSTM", "LSTM", f"AR({cnn_lstm_forecast.WINDOW})"}
    assert all(np.isfinite(v) and v > 0 for v in results.values())


def as_functional(sequential):
    """The same stack written with the functional API: each layer called on the previous tensor."""
    first = sequential.layers[0]
    shape = sequential.input_shape[1:]
    x = inp = Input(shape, dtype="int32" if first.integer_input else None)
    for layer in sequential.layers:
        x = layer(x)
    return Model(inp, x)


@pytest.mark.parametrize("name", ["cnn_lstm", "text_classifier", "normalized_stack"])
def test_the_models_as_functional_models_match_keras_and_survive_save_and_load(name, tmp_path):
    a, meta = case_arrays("models", name)
    model = as_functional(MODELS[name]())
    assert [type(layer).__name__ for layer in model.layers[1:]] == meta["layers"]
    model.set_weights(unpack(a, "w", meta))
    pred = model.predict(a["x"], verbose=0)
    assert_close(pred, a["y"], F32, f"keras-model-{name}", "functional forward vs Keras")
    model.compile(optimizer=SGD(LR), loss="mse")
    model.save(tmp_path / "m.keras")
    loaded = numbarnn.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.predict(a["x"], verbose=0), pred)
    lines = []
    loaded.summary(print_fn=lines.append)
    assert any(type(model.layers[1]).__name__ in line for line in lines)
