"""ONNX export: every exported model runs in onnxruntime and agrees with numbarnn's predict.

Each check exports with :func:`numbarnn.formats.onnx_export.to_onnx`, runs
``onnx.checker.check_model``, then runs the file in onnxruntime (2 intra-op
threads) at two batch sizes and compares with ``predict`` within 1e-5.
Weights are drawn at random (biases included), so every gate and bias block
takes part. Skipped when onnx or onnxruntime is missing.
"""

import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import numbarnn as nb
from numbarnn import layers as L
from numbarnn.formats.onnx_export import export, to_onnx

pytestmark = pytest.mark.filterwarnings("ignore:.*maximum iterations")  # two epochs are enough here

TOL = 1e-5
BATCHES = (3, 8)
T, F = 7, 3


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    new = []
    for layer in model.layers:
        for name, w in zip(layer.weight_names, layer.get_weights()):
            v = rng.normal(size=w.shape) * 0.4
            if name == "moving_variance":
                v = np.abs(v) + 0.5
            new.append(v.astype(w.dtype))
    model.set_weights(new)
    return model


def _session(proto):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _export(obj, tmp_path, **kwargs):
    path = tmp_path / "model.onnx"
    to_onnx(obj, path, **kwargs)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    return _session(proto)


def _check(model, make_inputs, tmp_path, **kwargs):
    """Export ``model``; compare onnxruntime with predict at two batch sizes; return the worst error."""
    sess = _export(model, tmp_path, **kwargs)
    worst = 0.0
    for n in BATCHES:
        xs = make_inputs(n)
        want = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        want = want if isinstance(want, list) else [want]
        got = sess.run(None, {i.name: x for i, x in zip(sess.get_inputs(), xs)})
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape
            err = float(np.max(np.abs(g - w)))
            assert err < TOL, err
            worst = max(worst, err)
    return worst


def _floats(n, seed=1, shape=(T, F)):
    return [np.random.default_rng(seed + n).normal(size=(n, *shape)).astype(np.float32)]


LENGTHS = (7, 3, 1, 5, 6, 2, 4, 7)


def _padded(n, padding, seed=1, value=0.0):
    """Float sequences (n, T, F) padded with ``value`` before ('pre') or after ('post') their valid steps."""
    (x,) = _floats(n, seed)
    for i in range(n):
        k = LENGTHS[i % len(LENGTHS)]
        if padding == "post":
            x[i, k:] = value
        else:
            x[i, : T - k] = value
    return [x]


def _indices(n, padding, vocab=11, seed=1):
    x = np.random.default_rng(seed + n).integers(1, vocab, size=(n, T)).astype(np.int64)
    for i in range(n):
        k = LENGTHS[i % len(LENGTHS)]
        if padding == "post":
            x[i, k:] = 0
        else:
            x[i, : T - k] = 0
    return [x]


RECURRENT = {
    "lstm": lambda **kw: L.LSTM(5, **kw),
    "gru_after": lambda **kw: L.GRU(5, reset_after=True, **kw),
    "gru_before": lambda **kw: L.GRU(5, reset_after=False, **kw),
    "simple_tanh": lambda **kw: L.SimpleRNN(5, **kw),
    "simple_relu": lambda **kw: L.SimpleRNN(5, activation="relu", **kw),
}


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "sequences"])
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_recurrent_layers(kind, return_sequences, go_backwards, tmp_path):
    layer = RECURRENT[kind](return_sequences=return_sequences, go_backwards=go_backwards, input_shape=(T, F))
    model = _randomize(nb.Sequential([layer, L.Dense(2)]))
    _check(model, _floats, tmp_path)


def test_other_recurrent_activations_and_no_bias(tmp_path):
    model = nb.Sequential([
        L.LSTM(4, activation="linear", recurrent_activation="hard_sigmoid", return_sequences=True, input_shape=(T, F)),
        L.GRU(4, use_bias=False, recurrent_activation="hard_sigmoid"),
    ])  # fmt: skip
    _check(_randomize(model), _floats, tmp_path)


def test_free_number_of_steps(tmp_path):
    model = _randomize(nb.Sequential([L.GRU(4, return_sequences=True, input_shape=(None, F)), L.Dense(1)]))
    sess = _export(model, tmp_path)
    for steps in (2, 9):
        (x,) = _floats(4, shape=(steps, F))
        np.testing.assert_allclose(sess.run(None, {sess.get_inputs()[0].name: x})[0], model.predict(x, verbose=0),
                                   atol=TOL)  # fmt: skip


@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "sequences"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul"])
def test_bidirectional(merge_mode, return_sequences, tmp_path):
    layer = L.Bidirectional(L.LSTM(4, return_sequences=return_sequences), merge_mode=merge_mode, input_shape=(T, F))
    model = _randomize(nb.Sequential([layer, L.Dense(2)]))
    sess = _export(model, tmp_path)
    assert any(n.op_type == "LSTM" and "bidirectional" in str(n.attribute) for n in onnx.load(
        str(tmp_path / "model.onnx")).graph.node)  # fmt: skip
    del sess
    _check(model, _floats, tmp_path)


def test_bidirectional_with_a_different_backward_layer(tmp_path):
    layer = L.Bidirectional(L.GRU(4, return_sequences=True), backward_layer=L.SimpleRNN(3, return_sequences=True,
                            go_backwards=True), input_shape=(T, F))  # fmt: skip
    _check(_randomize(nb.Sequential([layer, L.Dense(2)])), _floats, tmp_path)


def test_stacked_model_with_the_core_layers(tmp_path):
    model = nb.Sequential([
        L.LSTM(6, return_sequences=True, input_shape=(T, F)),
        L.Dropout(0.3),
        L.GRU(5, return_sequences=True, go_backwards=True),
        L.TimeDistributed(L.Dense(4, activation="tanh")),
        L.Bidirectional(L.GRU(3, reset_after=False)),
        L.RepeatVector(4),
        L.SimpleRNN(3, return_sequences=True),
        L.TimeDistributed(L.Dense(2, activation="softmax")),
    ])  # fmt: skip
    _check(_randomize(model), _floats, tmp_path)


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "sequences"])
@pytest.mark.parametrize("kind", ["lstm", "gru_after", "gru_before", "simple_tanh"])
@pytest.mark.parametrize("padding", ["pre", "post"])
def test_masking(padding, kind, return_sequences, go_backwards, tmp_path):
    layer = RECURRENT[kind](return_sequences=return_sequences, go_backwards=go_backwards)
    model = _randomize(nb.Sequential([L.Masking(0.0, input_shape=(T, F)), layer, L.Dense(2)]))
    _check(model, lambda n: _padded(n, padding), tmp_path, padding=padding)


@pytest.mark.parametrize("padding", ["pre", "post"])
def test_masking_with_another_mask_value_through_a_stack(padding, tmp_path):
    model = nb.Sequential([
        L.Masking(-1.0, input_shape=(T, F)),
        L.LSTM(5, return_sequences=True, go_backwards=True),  # passes the mask on reversed: the other side
        L.GRU(4, return_sequences=True),
        L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="sum"),
        L.TimeDistributed(L.Dense(2)),
        L.GlobalAveragePooling1D(),
    ])  # fmt: skip
    _check(_randomize(model), lambda n: _padded(n, padding, value=-1.0), tmp_path, padding=padding)


@pytest.mark.parametrize("return_sequences", [False, True], ids=["last", "sequences"])
@pytest.mark.parametrize("padding", ["pre", "post"])
def test_embedding_mask_zero(padding, return_sequences, tmp_path):
    model = nb.Sequential([
        L.Embedding(11, 4, mask_zero=True, input_shape=(T,)),
        L.GRU(5, return_sequences=True),
        L.Bidirectional(L.LSTM(3, return_sequences=return_sequences)),
        L.Dense(2, activation="sigmoid"),
    ])  # fmt: skip
    _check(_randomize(model), lambda n: _indices(n, padding), tmp_path, padding=padding)


def test_embedding_without_mask(tmp_path):
    model = _randomize(nb.Sequential([L.Embedding(11, 4, input_shape=(T,)), L.SimpleRNN(3), L.Dense(1)]))
    _check(model, lambda n: _indices(n, "post"), tmp_path)


def test_convolution_pooling_normalization_reshaping(tmp_path):
    model = nb.Sequential([
        L.Conv1D(4, 3, padding="same", activation="relu", input_shape=(12, F)),
        L.Conv1D(4, 2, padding="causal", dilation_rate=2),
        L.BatchNormalization(),
        L.Conv1D(5, 3, strides=2, padding="same"),
        L.MaxPooling1D(2, padding="same"),
        L.LayerNormalization(),
        L.ZeroPadding1D((1, 2)),
        L.UpSampling1D(2),
        L.AveragePooling1D(3, strides=2, padding="same"),
        L.Cropping1D((1, 1)),
        L.Conv1D(4, 2),
        L.Permute((2, 1)),
        L.Reshape((-1, 2)),
        L.LSTM(3, return_sequences=True),
        L.GlobalMaxPooling1D(),
        L.Dense(3, activation="softplus"),
    ])  # fmt: skip
    _check(_randomize(model), lambda n: _floats(n, shape=(12, F)), tmp_path)


def test_flatten_and_activation(tmp_path):
    model = nb.Sequential([L.GRU(3, return_sequences=True, input_shape=(T, F)), L.Flatten(), L.Dense(4),
                           L.Activation("hard_sigmoid")])  # fmt: skip
    _check(_randomize(model), _floats, tmp_path)


@pytest.mark.parametrize("opset", [14, 18])
def test_other_opsets(opset, tmp_path):
    model = nb.Sequential([L.Masking(0.0, input_shape=(T, F)), L.LSTM(4, return_sequences=True),
                           L.LayerNormalization(), L.GlobalAveragePooling1D()])  # fmt: skip
    _check(_randomize(model), lambda n: _padded(n, "pre"), tmp_path, opset=opset)


def test_functional_two_inputs_and_states(tmp_path):
    a, b = nb.Input(shape=(T, F), name="series"), nb.Input(shape=(5, 2), name="other")
    _, h, c = L.LSTM(4, return_state=True)(a)
    seq = L.LSTM(4, return_sequences=True)(b, initial_state=[h, c])
    merged = L.Concatenate()([L.GRU(3)(seq), L.Dense(3)(h)])
    model = _randomize(nb.Model([a, b], [L.Dense(2)(merged), L.Add()([h, c])]))
    _check(model, lambda n: _floats(n) + _floats(n, 5, shape=(5, 2)), tmp_path)


# -- estimators and pipelines ---------------------------------------------------
def _series(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6, 2)).astype(np.float32) * 3 + 1
    return X, X[:, :, 0].sum(axis=1)


def _run_estimator(est, tmp_path, X):
    sess = _export(est, tmp_path)
    return {o.name: v for o, v in zip(sess.get_outputs(), sess.run(None, {"X": X}))}


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_regressor(cell, tmp_path):
    X, y = _series()
    est = nb.RNNRegressor(cell=cell, hidden_layer_sizes=(5, 3), max_iter=2, random_state=0).fit(X, y)
    for n in BATCHES:
        out = _run_estimator(est, tmp_path, X[:n])
        assert list(out) == ["variable"]
        np.testing.assert_allclose(out["variable"][:, 0], est.predict(X[:n]), atol=TOL)


@pytest.mark.parametrize("labels", [("down", "up"), (3, 5, 7)], ids=["binary-str", "multiclass-int"])
def test_classifier(labels, tmp_path):
    X, y = _series()
    y = np.asarray(labels)[np.digitize(y, np.quantile(y, np.linspace(0, 1, len(labels) + 1)[1:-1]))]
    est = nb.RNNClassifier(cell="gru", hidden_layer_sizes=(4,), bidirectional=True, max_iter=2, random_state=0)
    est.fit(X, y)
    for n in BATCHES:
        out = _run_estimator(est, tmp_path, X[:n])
        assert list(out) == ["output_label", "output_probability"]
        np.testing.assert_allclose(out["output_probability"], est.predict_proba(X[:n]), atol=TOL)
        assert out["output_label"].tolist() == est.predict(X[:n]).tolist()


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_pipeline(kind, tmp_path):
    from sklearn.pipeline import make_pipeline

    X, y = _series()
    if kind == "classifier":
        est, y = nb.RNNClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0), y > np.median(y)
    else:
        est = nb.RNNRegressor(cell="gru", hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    pipe = make_pipeline(nb.SequenceScaler(), est).fit(X, y)
    for n in BATCHES:
        out = _run_estimator(pipe, tmp_path, X[:n])
        if kind == "classifier":
            np.testing.assert_allclose(out["output_probability"], pipe.predict_proba(X[:n]), atol=TOL)
            assert out["output_label"].tolist() == pipe.predict(X[:n]).tolist()
        else:
            np.testing.assert_allclose(out["variable"][:, 0], pipe.predict(X[:n]), atol=TOL)


def test_sequence_output_regressor(tmp_path):
    X, _ = _series()
    est = nb.RNNRegressor(hidden_layer_sizes=(4,), output="sequence", max_iter=2, random_state=0)
    est.fit(X, X[:, :, 0].cumsum(axis=1))
    out = _run_estimator(est, tmp_path, X[:5])
    np.testing.assert_allclose(out["variable"][..., 0], est.predict(X[:5]), atol=TOL)


# -- refusals and the export spelling --------------------------------------------
class _Custom(L.Layer):
    def forward(self, x, mask=None, training=False, rng=None):
        return x, mask, None


def test_a_layer_without_exporter_is_named(tmp_path):
    model = nb.Sequential([L.LSTM(3, return_sequences=True, input_shape=(T, F)), _Custom(name="mine")])
    with pytest.raises(ValueError, match=r"'mine' \(_Custom\) has no ONNX exporter"):
        to_onnx(model, tmp_path / "m.onnx")


def test_refusals(tmp_path):
    stateful = nb.Sequential([nb.Input(batch_shape=(2, T, F)), L.LSTM(3, stateful=True)])
    with pytest.raises(ValueError, match="stateful"):
        to_onnx(stateful, None)
    X, y = _series()
    est = nb.RNNRegressor(hidden_layer_sizes=(3,), max_iter=1, random_state=0)
    with pytest.raises(ValueError, match="not fitted"):
        to_onnx(est, None)
    with pytest.raises(ValueError, match="2-D input"):
        to_onnx(est.fit(X[:, :, 0], y), None)
    model = nb.Sequential([L.GRU(3, input_shape=(T, F))])
    with pytest.raises(ValueError, match="padding"):
        to_onnx(model, None, padding="both")
    with pytest.raises(ValueError, match="opset"):
        to_onnx(model, None, opset=11)
    with pytest.raises(TypeError, match="to_onnx takes"):
        to_onnx(object(), None)


def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'pip install "numbarnn\[onnx\]"'):
        to_onnx(nb.Sequential([L.GRU(3, input_shape=(T, F))]), None)


def test_export_spelling(tmp_path):
    model = _randomize(nb.Sequential([L.GRU(3, input_shape=(T, F)), L.Dense(1)]))
    export(model, tmp_path / "model.onnx", format="onnx")
    sess = _session(onnx.load(str(tmp_path / "model.onnx")))
    (x,) = _floats(4)
    np.testing.assert_allclose(sess.run(None, {sess.get_inputs()[0].name: x})[0], model.predict(x, verbose=0),
                               atol=TOL)  # fmt: skip
    with pytest.raises(ValueError, match="format='onnx' only"):
        export(model, tmp_path / "model.tf", format="tf_saved_model")


@pytest.mark.parametrize("padding", ["pre", "post"])
def test_bidirectional_around_a_backwards_layer(padding, tmp_path):
    layer = L.Bidirectional(L.GRU(4, return_sequences=True, go_backwards=True), merge_mode="concat")
    model = _randomize(nb.Sequential([L.Masking(0.0, input_shape=(T, F)), layer, L.LSTM(3)]))
    _check(model, lambda n: _padded(n, padding), tmp_path, padding=padding)


def test_an_unbuilt_model_is_refused():
    with pytest.raises(ValueError, match="not built"):
        to_onnx(nb.Sequential([L.LSTM(3), L.Dense(1)]), None)


def test_model_export_is_keras_3s_spelling(tmp_path):
    model = nb.Sequential([L.Input((T, F)), L.GRU(4), L.Dense(2)])
    model.export(tmp_path / "m.onnx", format="onnx")
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"))
    (x,) = _floats(3)
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5)
    with pytest.raises(ValueError):
        model.export(tmp_path / "m.tf", format="tf_saved_model")
