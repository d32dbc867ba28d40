"""Every layer against plain-numpy references (tests/reference.py, tests/reference_layers.py).

Weights are set in Keras's layout with ``set_weights``; the outputs must be
what Keras's equations give, in float64 (to 1e-12) and float32 (to 1e-5). Also
checked: Keras's weight shapes and order, ``count_params`` and ``summary``,
initializers, and that a rejected ``set_weights`` changes nothing.
"""

import numpy as np
import pytest

from numbarnn import (
    GRU,
    LSTM,
    Activation,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Input,
    Masking,
    RepeatVector,
    Sequential,
    SimpleRNN,
    TimeDistributed,
    initializers,
)
from numbarnn.utils import set_random_seed

from . import reference_layers as ref
from .conftest import record_error

DTYPES = ["float64", "float32"]
TOL = {"float64": 1e-12, "float32": 1e-5}

# name -> (layer class, reference cell, constructor arguments; the reference takes the same activation)
RNN_KINDS = {
    "lstm": (LSTM, "lstm", {}),
    "gru-after": (GRU, "gru", {"reset_after": True}),
    "gru-before": (GRU, "gru", {"reset_after": False}),
    "simple-tanh": (SimpleRNN, "simple", {"activation": "tanh"}),
    "simple-relu": (SimpleRNN, "simple", {"activation": "relu"}),
}
GATES = {"lstm": 4, "gru": 3, "simple": 1}


def assert_close(actual, expected, dtype, label, what):
    """Max error relative to the expected values' magnitude (at least 1), recorded for the summary."""
    actual = np.asarray(actual)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    assert actual.dtype == np.dtype(dtype), f"{what}: dtype {actual.dtype}, expected {dtype}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    err = float(np.max(np.abs(actual.astype(float) - expected), initial=0.0)) / scale
    record_error((label, True), what, dtype, err)
    assert err <= TOL[dtype], f"{label} {what}: relative error {err:.3g} > {TOL[dtype]}"


def make_rnn(kind, units, dtype, **kw):
    cls, _, extra = RNN_KINDS[kind]
    return cls(units, dtype=dtype, **{**extra, **kw})


def rnn_weights(kind, F, H, rng, use_bias=True, scale=0.5):
    """Random weights in Keras's layout for a layer of ``kind``."""
    _, cell, extra = RNN_KINDS[kind]
    G = GATES[cell]
    ws = [rng.normal(size=(F, G * H)) * scale, rng.normal(size=(H, G * H)) * scale]
    if use_bias:
        shape = (2, 3 * H) if cell == "gru" and extra.get("reset_after", True) else (G * H,)
        ws.append(rng.normal(size=shape) * 0.3)
    return ws


def rnn_reference(kind, x, weights, **kw):
    """Keras's output for a layer of ``kind`` with ``weights`` (as the layer stores them) on ``x``."""
    _, cell, extra = RNN_KINDS[kind]
    W, U, b = (list(weights) + [None])[:3]
    return ref.rnn_layer(cell, np.asarray(x, float), W, U, b, activation=extra.get("activation", "tanh"),
                         reset_after=extra.get("reset_after", True), **kw)  # fmt: skip


def stored(x, dtype):
    """``x`` as the layer sees it: rounded to ``dtype``, then back to float64 for the reference."""
    return np.asarray(x).astype(dtype).astype(float)


def weights64(layer):
    return [w.astype(float) for w in layer.get_weights()]


# -- recurrent layers ---------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("kind", list(RNN_KINDS))
def test_recurrent_layer_matches_keras_equations(kind, return_sequences, go_backwards, dtype):
    B, T, F, H = 3, 5, 2, 4
    rng = np.random.default_rng(1)
    x = rng.normal(size=(B, T, F))
    layer = make_rnn(kind, H, dtype, return_sequences=return_sequences, go_backwards=go_backwards)
    model = Sequential([Input((T, F)), layer])
    layer.set_weights(rnn_weights(kind, F, H, rng))
    out = model.predict(x, verbose=0)
    expected = rnn_reference(kind, stored(x, dtype), weights64(layer), go_backwards=go_backwards,
                             return_sequences=return_sequences)  # fmt: skip
    assert_close(out, expected, dtype, kind, "layer forward")
    # calling the layer directly gives the same
    np.testing.assert_array_equal(layer(x.astype(dtype)), out)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", list(RNN_KINDS))
def test_recurrent_layer_without_bias(kind, dtype):
    B, T, F, H = 2, 4, 3, 3
    rng = np.random.default_rng(2)
    x = rng.normal(size=(B, T, F))
    layer = make_rnn(kind, H, dtype, use_bias=False, return_sequences=True)
    Sequential([Input((None, F)), layer])
    assert len(layer.get_weights()) == 2
    layer.set_weights(rnn_weights(kind, F, H, rng, use_bias=False))
    expected = rnn_reference(kind, stored(x, dtype), weights64(layer), return_sequences=True)
    assert_close(layer(x.astype(dtype)), expected, dtype, kind, "layer forward, no bias")


def test_simple_rnn_relu_differs_from_tanh():
    """The activation argument reaches the kernel (the two references differ, so must the outputs)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 4, 2))
    ws = rnn_weights("simple-tanh", 2, 3, rng, scale=1.0)
    outs = []
    for act in ("tanh", "relu"):
        layer = SimpleRNN(3, activation=act, dtype="float64", return_sequences=True)
        layer.build((4, 2))
        layer.set_weights(ws)
        outs.append(layer(x))
    assert np.abs(outs[0] - outs[1]).max() > 1e-3


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul"])
@pytest.mark.parametrize("kind", ["lstm", "gru-after", "gru-before", "simple-tanh"])
def test_bidirectional_merge_modes(kind, merge_mode, return_sequences, dtype):
    B, T, F, H = 3, 4, 2, 3
    rng = np.random.default_rng(4)
    x = rng.normal(size=(B, T, F))
    layer = Bidirectional(make_rnn(kind, H, dtype, return_sequences=return_sequences), merge_mode=merge_mode)
    model = Sequential([Input((T, F)), layer])
    fw, bw = rnn_weights(kind, F, H, rng), rnn_weights(kind, F, H, rng)
    layer.set_weights(fw + bw)
    got = weights64(layer)
    n = len(fw)
    # Keras's order: the forward layer's weights, then the backward layer's
    for a, b in zip(got, fw + bw):
        np.testing.assert_array_equal(a, b.astype(dtype))
    for a, b in zip(layer.forward_layer.get_weights(), fw):
        np.testing.assert_array_equal(a, b.astype(dtype))
    _, cell, extra = RNN_KINDS[kind]
    expected = ref.bidirectional(cell, stored(x, dtype), got[:n], got[n:], merge_mode,
                                 return_sequences=return_sequences,
                                 reset_after=extra.get("reset_after", True))  # fmt: skip
    out = model.predict(x, verbose=0)
    width = 2 * H if merge_mode == "concat" else H
    assert out.shape == ((B, T, width) if return_sequences else (B, width))
    assert_close(out, expected, dtype, "bidirectional-" + kind, f"forward {merge_mode}")


def pad(seqs, T, padding, value=0.0):
    """Stack variable-length sequences (L, ...) into (B, T, ...), padded with ``value`` before or after."""
    out = np.full((len(seqs), T) + seqs[0].shape[1:], value, dtype=seqs[0].dtype)
    for i, s in enumerate(seqs):
        if padding == "post":
            out[i, : len(s)] = s
        else:
            out[i, T - len(s) :] = s
    return out


def padded_expectation(ref_out, ref_h, valid, go_backwards, return_sequences):
    """What a layer gives on a padded sequence, built from the reference run on the unpadded one.

    ``ref_out`` (L, H) are the reference outputs aligned with the unpadded steps.
    Steps are read in order (or reversed); a padded step repeats the last state
    (zeros before the first valid step), as Keras does without zero_output_for_mask.
    """
    if not return_sequences:
        return ref_h
    T = len(valid)
    order = range(T - 1, -1, -1) if go_backwards else range(T)
    positions = np.flatnonzero(valid)
    out = np.zeros((T, ref_out.shape[-1]))
    state = np.zeros(ref_out.shape[-1])
    for t in order:
        if valid[t]:
            state = ref_out[np.searchsorted(positions, t)]
        out[t] = state
    return out[::-1] if go_backwards else out


LENGTHS = [5, 3, 1, 4]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("source", ["masking", "embedding"])
@pytest.mark.parametrize("kind", ["lstm", "gru-after", "gru-before", "simple-tanh"])
def test_padded_sequences_equal_unpadded(kind, source, padding, return_sequences, go_backwards, dtype):
    """Each padded sequence gives exactly what the reference gives on the sequence alone."""
    T, F, H, V = 5, 3, 3, 7
    rng = np.random.default_rng(5)
    layer = make_rnn(kind, H, dtype, return_sequences=return_sequences, go_backwards=go_backwards)
    if source == "masking":
        seqs = [rng.normal(size=(n, F)) for n in LENGTHS]
        first = Masking(mask_value=0.0, dtype=dtype)
        x = pad(seqs, T, padding)
    else:
        seqs = [rng.integers(1, V, size=n) for n in LENGTHS]
        first = Embedding(V, F, mask_zero=True, dtype=dtype)
        x = pad(seqs, T, padding, value=0)
    model = Sequential([Input((T,) if source == "embedding" else (T, F)), first, layer])
    if source == "embedding":
        first.set_weights([rng.normal(size=(V, F))])
    layer.set_weights(rnn_weights(kind, F, H, rng))
    out = model.predict(x, verbose=0)
    table = first.get_weights()[0].astype(float) if source == "embedding" else None
    for i, s in enumerate(seqs):
        alone = ref.embedding(s, table) if source == "embedding" else stored(s, dtype)
        ref_seq = rnn_reference(kind, alone[None], weights64(layer), go_backwards=go_backwards, return_sequences=True)
        ref_h = rnn_reference(kind, alone[None], weights64(layer), go_backwards=go_backwards)
        # ref_seq comes in reading order; realign it with the unpadded steps
        aligned = ref_seq[0, ::-1] if go_backwards else ref_seq[0]
        valid = pad([np.ones(len(s), bool)], T, padding, value=False)[0]
        expected = padded_expectation(aligned, ref_h[0], valid, go_backwards, return_sequences)
        assert_close(out[i], expected, dtype, kind, f"padded ({source}) vs alone")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("merge_mode", ["concat", "mul"])
def test_bidirectional_padded_sequences_equal_unpadded(merge_mode, padding, return_sequences, dtype):
    """With return_sequences the padded steps output zeros (Keras sets zero_output_for_mask for both directions)."""
    T, F, H = 5, 2, 3
    rng = np.random.default_rng(6)
    seqs = [rng.normal(size=(n, F)) for n in LENGTHS]
    x = pad(seqs, T, padding)
    layer = Bidirectional(LSTM(H, return_sequences=return_sequences, dtype=dtype), merge_mode=merge_mode)
    model = Sequential([Input((T, F)), Masking(dtype=dtype), layer])
    layer.set_weights(rnn_weights("lstm", F, H, rng) + rnn_weights("lstm", F, H, rng))
    out = model.predict(x, verbose=0)
    ws = weights64(layer)
    for i, s in enumerate(seqs):
        alone = ref.bidirectional("lstm", stored(s, dtype)[None], ws[:3], ws[3:], merge_mode,
                                  return_sequences=return_sequences)[0]  # fmt: skip
        expected = pad([alone], T, padding)[0] if return_sequences else alone
        assert_close(out[i], expected, dtype, "bidirectional-lstm", "padded vs alone")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("padding", [None, "pre", "post"])
def test_stacked_recurrent_layers(padding, dtype):
    """LSTM(return_sequences) -> GRU(return_sequences, backwards) -> SimpleRNN -> Dense(softmax)."""
    T, F = 5, 2
    rng = np.random.default_rng(7)
    seqs = [rng.normal(size=(n if padding else T, F)) for n in LENGTHS]
    x = pad(seqs, T, padding or "post")
    l1 = LSTM(4, return_sequences=True, dtype=dtype)
    l2 = GRU(3, return_sequences=True, go_backwards=True, dtype=dtype)
    l3 = SimpleRNN(3, dtype=dtype)
    l4 = Dense(2, activation="softmax", dtype=dtype)
    layers = [Input((T, F))] + ([Masking(dtype=dtype)] if padding else []) + [l1, l2, l3, l4]
    model = Sequential(layers)
    l1.set_weights(rnn_weights("lstm", F, 4, rng))
    l2.set_weights(rnn_weights("gru-after", 4, 3, rng))
    l3.set_weights(rnn_weights("simple-tanh", 3, 3, rng))
    l4.set_weights([rng.normal(size=(3, 2)), rng.normal(size=(2,))])
    out = model.predict(x, verbose=0)
    for i, s in enumerate(seqs):
        h = rnn_reference("lstm", stored(s, dtype)[None], weights64(l1), return_sequences=True)
        h = rnn_reference("gru-after", h, weights64(l2), return_sequences=True, go_backwards=True)
        h = rnn_reference("simple-tanh", h, weights64(l3))
        expected = ref.dense(h, *weights64(l4), act="softmax")[0]
        assert_close(out[i], expected, dtype, "stacked", "stacked forward" + (" padded" if padding else ""))


# -- non-recurrent layers ---------------------------------------------------------------
ACTIVATIONS = ["linear", "relu", "tanh", "sigmoid", "softmax", "hard_sigmoid", "softplus"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("sample_shape", [(3,), (4, 3)])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_dense(activation, sample_shape, use_bias, dtype):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(5,) + sample_shape) * 2
    layer = Dense(4, activation=activation, use_bias=use_bias, dtype=dtype)
    model = Sequential([Input(sample_shape), layer])
    layer.set_weights([rng.normal(size=(3, 4))] + ([rng.normal(size=(4,))] if use_bias else []))
    expected = ref.dense(stored(x, dtype), *weights64(layer), act=activation)
    assert_close(model.predict(x, verbose=0), expected, dtype, "dense", f"forward {activation}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activation_layer(activation, dtype):
    x = np.random.default_rng(9).normal(size=(3, 4, 5)) * 3
    out = Activation(activation, dtype=dtype)(x)
    assert_close(out, ref.activation(activation, stored(x, dtype)), dtype, "activation", f"forward {activation}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_zero", [False, True])
def test_embedding(mask_zero, dtype):
    rng = np.random.default_rng(10)
    idx = rng.integers(0, 6, size=(4, 5))
    idx[0, :2] = 0
    layer = Embedding(6, 3, mask_zero=mask_zero, dtype=dtype)
    Sequential([Input((5,)), layer])
    layer.set_weights([rng.normal(size=(6, 3))])
    out, mask, _ = layer.forward(idx)
    assert_close(out, ref.embedding(idx, weights64(layer)[0]), dtype, "embedding", "lookup")
    if mask_zero:
        np.testing.assert_array_equal(mask, idx != 0)
    else:
        assert mask is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_masking(mask_value, dtype):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(3, 5, 2))
    x[0, 3:] = mask_value
    x[1, 0] = mask_value
    x[2, 2, 0] = mask_value  # one feature only: not masked
    out, mask, _ = Masking(mask_value=mask_value, dtype=dtype).forward(x)
    expected, keep = ref.masking(stored(x, dtype), mask_value)
    np.testing.assert_array_equal(mask, keep)
    assert keep.sum() == 15 - 3
    assert_close(out, expected, dtype, "masking", "forward")


@pytest.mark.parametrize("dtype", DTYPES)
def test_repeat_vector(dtype):
    x = np.random.default_rng(12).normal(size=(3, 4))
    model = Sequential([Input((4,)), RepeatVector(5, dtype=dtype)])
    assert_close(model.predict(x, verbose=0), ref.repeat_vector(stored(x, dtype), 5), dtype, "repeat", "forward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["linear", "softmax", "relu"])
def test_time_distributed_dense(activation, dtype):
    rng = np.random.default_rng(13)
    x = rng.normal(size=(3, 4, 2))
    inner = Dense(3, activation=activation, dtype=dtype)
    layer = TimeDistributed(inner)
    assert layer.dtype == np.dtype(dtype)  # the wrapper takes the wrapped layer's dtype
    model = Sequential([Input((4, 2)), layer])
    layer.set_weights([rng.normal(size=(2, 3)), rng.normal(size=(3,))])
    W, b = weights64(inner)
    expected = ref.time_distributed(lambda xt: ref.dense(xt, W, b, act=activation), stored(x, dtype))
    assert_close(model.predict(x, verbose=0), expected, dtype, "timedistributed", f"forward {activation}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_flatten_and_dropout(dtype):
    rng = np.random.default_rng(14)
    x = rng.normal(size=(3, 4, 2))
    model = Sequential([Input((4, 2)), Dropout(0.5, dtype=dtype), Flatten(dtype=dtype)])
    expected = np.stack([np.concatenate([stored(x, dtype)[i, t] for t in range(4)]) for i in range(3)])
    assert_close(model.predict(x, verbose=0), expected, dtype, "flatten", "forward (dropout off)")
    # while training, Dropout zeroes some inputs and scales the others by 1 / (1 - rate)
    y, _, _ = Dropout(0.25, dtype=dtype).forward(x, training=True, rng=np.random.default_rng(0))
    kept = y != 0
    assert 0 < kept.sum() < x.size
    np.testing.assert_allclose(y[kept], x.astype(dtype)[kept] / 0.75, rtol=TOL[dtype])


# -- weights: shapes, order, counts ----------------------------------------------------
F, H, U, V, D = 5, 4, 3, 11, 6
LAYER_CASES = {
    # name: (constructor, input sample shape, Keras weight shapes, Keras parameter count)
    "lstm": (lambda: LSTM(H), (7, F), [(F, 4 * H), (H, 4 * H), (4 * H,)], 4 * (H * (F + H) + H)),
    "lstm-nobias": (lambda: LSTM(H, use_bias=False), (7, F), [(F, 4 * H), (H, 4 * H)], 4 * H * (F + H)),
    "gru-after": (lambda: GRU(H), (7, F), [(F, 3 * H), (H, 3 * H), (2, 3 * H)], 3 * (H * (F + H) + 2 * H)),
    "gru-before": (lambda: GRU(H, reset_after=False), (7, F), [(F, 3 * H), (H, 3 * H), (3 * H,)],
                   3 * (H * (F + H) + H)),  # fmt: skip
    "simple": (lambda: SimpleRNN(H), (7, F), [(F, H), (H, H), (H,)], H * (F + H) + H),
    "bidirectional-lstm": (lambda: Bidirectional(LSTM(H)), (7, F), [(F, 4 * H), (H, 4 * H), (4 * H,)] * 2,
                           2 * 4 * (H * (F + H) + H)),  # fmt: skip
    "bidirectional-gru": (lambda: Bidirectional(GRU(H), merge_mode="sum"), (7, F),
                          [(F, 3 * H), (H, 3 * H), (2, 3 * H)] * 2, 2 * 3 * (H * (F + H) + 2 * H)),  # fmt: skip
    "dense": (lambda: Dense(U), (F,), [(F, U), (U,)], F * U + U),
    "dense-nobias": (lambda: Dense(U, use_bias=False), (F,), [(F, U)], F * U),
    "embedding": (lambda: Embedding(V, D), (7,), [(V, D)], V * D),
    "timedistributed-dense": (lambda: TimeDistributed(Dense(U)), (7, F), [(F, U), (U,)], F * U + U),
    "repeat": (lambda: RepeatVector(3), (F,), [], 0),
    "masking": (lambda: Masking(), (7, F), [], 0),
}


@pytest.mark.parametrize("name", list(LAYER_CASES))
def test_weight_shapes_and_count_params(name):
    make, sample, shapes, count = LAYER_CASES[name]
    layer = make()
    Sequential([Input(sample), layer])
    assert [w.shape for w in layer.get_weights()] == shapes
    assert layer.count_params() == count
    # get_weights returns copies
    for w in layer.get_weights():
        w[...] = 7.0
    assert all(not np.all(w == 7.0) for w in layer.get_weights() if w.size > 1)


def test_bidirectional_weights_forward_then_backward():
    layer = Bidirectional(GRU(2, dtype="float64"))
    layer.build((3, 2))
    ws = [np.full(w.shape, float(k)) for k, w in enumerate(layer.get_weights())]
    layer.set_weights(ws)
    for k, w in enumerate(layer.forward_layer.get_weights() + layer.backward_layer.get_weights()):
        assert np.all(w == k)
    assert [w.shape for w in layer.forward_layer.get_weights()] == [(2, 6), (2, 6), (2, 6)]


def test_summary_lists_shapes_counts_and_totals():
    model = Sequential([
        Input((10, 8)),
        LSTM(64, return_sequences=True),
        Bidirectional(GRU(16, return_sequences=True), merge_mode="concat"),
        TimeDistributed(Dense(5)),
        SimpleRNN(7),
        RepeatVector(2),
        Dense(3),
    ])  # fmt: skip
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    expected = [
        ("LSTM", "(None, 10, 64)", 4 * (64 * (8 + 64) + 64)),
        ("Bidirectional", "(None, 10, 32)", 2 * 3 * (16 * (64 + 16) + 2 * 16)),
        ("TimeDistributed", "(None, 10, 5)", 32 * 5 + 5),
        ("SimpleRNN", "(None, 7)", 7 * (5 + 7) + 7),
        ("RepeatVector", "(None, 2, 7)", 0),
        ("Dense", "(None, 2, 3)", 7 * 3 + 3),
    ]
    rows = [line for line in lines if "(" in line and "Model" not in line and "Layer" not in line]
    assert len(rows) == len(expected), text
    for row, (cls, shape, n), layer in zip(rows, expected, model.layers):
        assert f"({cls})" in row and layer.name in row, row
        assert shape in row, f"expected output shape {shape} in: {row}"
        assert row.split()[-1] == f"{n:,}", f"expected {n:,} parameters in: {row}"
        assert layer.count_params() == n
    total = sum(n for _, _, n in expected)
    assert model.count_params() == total
    assert f"Total params: {total:,}" in text
    assert f"Trainable params: {total:,}" in text
    assert "Non-trainable params: 0" in text


def test_summary_free_number_of_steps():
    model = Sequential([Input((None,)), Embedding(100, 8, mask_zero=True), GRU(4, return_sequences=True)])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, None, 8)" in text and "(None, None, 4)" in text
    assert f"Total params: {100 * 8 + 3 * (4 * 12 + 8):,}" in text


# -- initializers ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_lstm_unit_forget_bias(dtype):
    layer = LSTM(5, dtype=dtype)
    layer.build((3, 2))
    b = layer.get_weights()[2]
    np.testing.assert_array_equal(b, np.r_[np.zeros(5), np.ones(5), np.zeros(10)].astype(dtype))
    layer = LSTM(5, bias_initializer=initializers.Constant(0.25), dtype=dtype)
    layer.build((3, 2))
    expected = np.r_[np.full(5, 0.25), np.ones(5), np.full(10, 0.25)].astype(dtype)
    np.testing.assert_array_equal(layer.get_weights()[2], expected)
    layer = LSTM(5, unit_forget_bias=False, dtype=dtype)
    layer.build((3, 2))
    np.testing.assert_array_equal(layer.get_weights()[2], np.zeros(20, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["lstm", "gru-after", "simple-tanh"])
def test_orthogonal_recurrent_kernel(kind, dtype):
    layer = make_rnn(kind, 6, dtype)
    layer.build((4, 3))
    u = layer.get_weights()[1].astype(float)  # (H, G*H): rows orthonormal
    err = np.abs(u @ u.T - np.eye(6)).max()
    assert err < (1e-12 if dtype == "float64" else 1e-6), err
    # the kernel is Glorot-uniform: within +-sqrt(6 / (fan_in + fan_out))
    w = layer.get_weights()[0]
    assert np.abs(w).max() <= np.sqrt(6.0 / (w.shape[0] + w.shape[1]))


def test_seeded_initializers_are_reproducible():
    seeded = (initializers.GlorotUniform(seed=3), initializers.Orthogonal(seed=3), initializers.RandomNormal(seed=3))
    for init in seeded:
        a, b = init((4, 6), "float64"), init((4, 6), "float64")
        np.testing.assert_array_equal(a, b)
        assert np.std(a) > 0
    layers = []
    for _ in range(2):
        layer = LSTM(3, kernel_initializer=initializers.GlorotUniform(seed=1),
                     recurrent_initializer=initializers.Orthogonal(seed=2))  # fmt: skip
        layer.build((4, 2))
        layers.append(layer)
    for a, b in zip(layers[0].get_weights(), layers[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    other = initializers.GlorotUniform(seed=4)((4, 6), "float64")
    assert not np.array_equal(other, initializers.GlorotUniform(seed=3)((4, 6), "float64"))


def _model():
    return Sequential([Input((5, 2)), LSTM(3, return_sequences=True), Bidirectional(GRU(2)), Dense(2),
                       RepeatVector(2), TimeDistributed(Dense(1))])  # fmt: skip


def test_set_random_seed_gives_identical_models():
    set_random_seed(123)
    a = _model().get_weights()
    set_random_seed(123)
    b = _model().get_weights()
    set_random_seed(124)
    c = _model().get_weights()
    assert len(a) == len(b) == len(c) == 13  # 3 + 6 + 2 + 2
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a, c))


# -- set_weights rejects bad input and changes nothing --------------------------------------
def _bad_weight_lists(good):
    """(description, list) pairs that set_weights must reject."""
    cases = [("one too few", good[:-1]), ("one too many", good + [good[-1]])]
    last = good[-1]
    cases.append(("wrong shape", good[:-1] + [np.zeros(last.shape + (1,))]))
    if last.ndim == 2 and last.shape[0] != last.shape[1]:
        cases.append(("transposed", good[:-1] + [last.T.copy()]))
    nan = last.copy()
    nan.flat[0] = np.nan
    cases.append(("not finite", good[:-1] + [nan]))
    return cases


@pytest.mark.parametrize("name", [n for n, case in LAYER_CASES.items() if case[2]])
def test_set_weights_rejects_bad_input_and_changes_nothing(name):
    make, sample, _, _ = LAYER_CASES[name]
    layer = make()
    Sequential([Input(sample), layer])
    before = layer.get_weights()
    good = [w + 1.0 for w in before]  # valid values that differ from the current ones everywhere
    for what, bad in _bad_weight_lists(good):
        with pytest.raises(ValueError):
            layer.set_weights(bad)
        for w, b in zip(layer.get_weights(), before):
            np.testing.assert_array_equal(w, b, err_msg=f"{name}: set_weights with {what} changed a weight")
    layer.set_weights(good)
    for w, g in zip(layer.get_weights(), good):
        np.testing.assert_array_equal(w, g.astype(w.dtype))


@pytest.mark.parametrize(
    "what",
    [
        "one too few",
        "one too many",
        "wrong shape",
        "not finite",
    ],
)
def test_model_set_weights_rejects_bad_input_and_changes_nothing(what):
    model = _model()
    before = model.get_weights()
    good = [w + 1.0 for w in before]
    bad = dict(_bad_weight_lists(good))[what]
    with pytest.raises(ValueError):
        model.set_weights(bad)
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b, err_msg=f"model.set_weights with {what} changed a weight")
