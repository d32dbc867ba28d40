"""The functional API, states and stateful layers: against Keras 3's own files, a plain-numpy
reference and central differences.

The Keras files (tests/data/keras_functional, written by tests/data/make_keras_functional.py
with Keras 3 on its torch backend) hold inputs, weights, predictions and the weights after
one SGD step; the test run itself needs no Keras.
"""

import pathlib
import pickle

import numpy as np
import pytest

import numbarnn
from numbarnn import GRU, LSTM, Bidirectional, Dense, Input, Model, Sequential
from numbarnn.layers import add, average, concatenate, multiply, subtract
from numbarnn.optimizers import SGD

from . import reference
from . import reference_layers as ref
from .conftest import record_error

DATA = pathlib.Path(__file__).parent / "data" / "keras_functional"


def _load(name):
    data = np.load(DATA / f"{name}.npz")

    def many(prefix):
        out, i = [], 0
        while f"{prefix}_{i}" in data:
            out.append(data[f"{prefix}_{i}"])
            i += 1
        return out

    return data, many


def _seq2seq(dtype):
    enc_in = Input(shape=(None, 3), name="encoder_inputs", dtype=dtype)
    _, h, c = LSTM(5, return_state=True, name="encoder", dtype=dtype)(enc_in)
    dec_in = Input(shape=(None, 4), name="decoder_inputs", dtype=dtype)
    seq, _, _ = LSTM(5, return_sequences=True, return_state=True, name="decoder", dtype=dtype)(
        dec_in, initial_state=[h, c]
    )
    out = Dense(4, activation="softmax", name="softmax", dtype=dtype)(seq)
    return Model([enc_in, dec_in], out)


# Keras 3's torch backend, asked for float64, agrees with numbarnn only to about 4e-8 (it
# rounds somewhere in float32), so float64 is held to 1e-7 against Keras and to 1e-12
# against the plain-numpy reference below.
@pytest.mark.parametrize("dtype, tol", [("float32", 1e-5), ("float64", 1e-7)])
def test_seq2seq_with_states_matches_keras_forward_and_one_sgd_step(dtype, tol):
    data, many = _load(f"seq2seq_{dtype}")
    model = _seq2seq(dtype)
    assert [layer.name for layer in model.layers] == list(data["layer_names"])
    model.set_weights(many("w"))
    pred = model.predict(many("x"), verbose=0)
    err = np.abs(pred - data["pred_0"]).max()
    record_error(("seq2seq", None), "forward vs Keras 3", dtype, err)
    assert err < tol
    if dtype == "float64":
        w = many("w")
        xe, xd = many("x")
        _, h, c, _ = reference.forward("lstm", xe, w[0], w[1], w[2])
        seq, _, _, _ = reference.forward("lstm", xd, w[3], w[4], w[5], h0=h, c0=c)
        err = np.abs(pred - ref.dense(seq, w[6], w[7], "softmax")).max()
        record_error(("seq2seq", None), "forward vs numpy reference", dtype, err)
        assert err < 1e-12
    model.compile(optimizer=SGD(learning_rate=0.1), loss="categorical_crossentropy")
    loss = model.train_on_batch(many("x"), many("y"))
    assert loss == pytest.approx(float(data["step_loss"]), rel=tol, abs=tol)
    err = max(np.abs(w - k).max() for w, k in zip(model.get_weights(), many("after")))
    record_error(("seq2seq", None), "weights after one SGD step vs Keras 3", dtype, err)
    assert err < tol


def _two_in_two_out():
    a, b = Input(shape=(5, 3), name="a"), Input(shape=(5, 3), name="b")
    shared = GRU(4, name="shared_gru")
    ha, hb = shared(a), shared(b)
    proj = Dense(4, activation="tanh", name="proj")
    pa, pb = proj(ha), proj(hb)
    joined = concatenate([add([pa, pb]), subtract([pa, pb]), multiply([pa, pb]), average([pa, pb])], name="joined")
    return Model([a, b], [Dense(1, name="y1")(joined), Dense(3, activation="softmax", name="y2")(joined)])


def test_two_inputs_two_outputs_shared_layers_and_merges_match_keras():
    data, many = _load("two_in_two_out")
    model = _two_in_two_out()
    assert [layer.name for layer in model.layers] == list(data["layer_names"])
    model.set_weights(many("w"))
    preds = model.predict(many("x"), verbose=0)
    err = max(np.abs(p - k).max() for p, k in zip(preds, many("pred")))
    record_error(("two-in-two-out", None), "forward vs Keras 3", "float32", err)
    assert err < 1e-5
    model.compile(optimizer=SGD(learning_rate=0.1), loss=["mse", "categorical_crossentropy"], loss_weights=[1.0, 0.5])
    logs = model.train_on_batch(many("x"), many("y"))
    assert logs[0] == pytest.approx(float(data["step_loss"]), rel=1e-5)
    err = max(np.abs(w - k).max() for w, k in zip(model.get_weights(), many("after")))
    record_error(("two-in-two-out", None), "weights after one SGD step vs Keras 3", "float32", err)
    assert err < 1e-5


def test_stateful_predictions_over_three_batches_with_a_reset_match_keras():
    data, many = _load("stateful")
    inp = Input(batch_shape=(4, 5, 2), name="inp")
    seq = LSTM(3, stateful=True, return_sequences=True, name="lstm_a")(inp)
    last = GRU(3, stateful=True, name="gru_b")(seq)
    model = Model(inp, Dense(1, name="head")(last))
    model.set_weights(many("w"))
    xs, expected = many("x"), many("pred")
    got = [model.predict(xs[0], batch_size=4, verbose=0), model.predict(xs[1], batch_size=4, verbose=0)]
    model.reset_states()
    got.append(model.predict(xs[2], batch_size=4, verbose=0))
    err = max(np.abs(g - e).max() for g, e in zip(got, expected))
    record_error(("stateful", None), "predictions over 3 batches vs Keras 3", "float32", err)
    assert err < 1e-5
    assert np.abs(got[1] - expected[0]).max() > 1e-3  # the carried state matters
    with pytest.raises(ValueError, match="batches of 4"):
        model.predict(xs[0][:3], verbose=0)


# -- stateful training against a plain-numpy reference ------------------------------------------
def _reference_loss(weights, x, y, h0, c0):
    W, U, b, K, kb = weights
    _, h, c, _ = reference.forward("lstm", x, W, U, b, h0=h0, c0=c0)
    return ref.reduce_loss(ref.mse(y, ref.dense(h, K, kb))), h, c


def _central(weights, loss):
    grads = []
    for w in weights:
        g = np.zeros_like(w)
        for i in range(w.size):
            old = w.flat[i]
            w.flat[i] = old + 1e-6
            up = loss()
            w.flat[i] = old - 1e-6
            down = loss()
            w.flat[i] = old
            g.flat[i] = (up - down) / 2e-6
        grads.append(g)
    return grads


def test_stateful_training_carries_each_batchs_state_into_the_next():
    rng = np.random.default_rng(0)
    B, T, F, H = 3, 4, 2, 2
    x = rng.normal(size=(2 * B, T, F))
    y = rng.normal(size=(2 * B, 1))
    model = Sequential([Input(batch_shape=(B, T, F)), LSTM(H, stateful=True, dtype="float64"), Dense(1, dtype="float64")])
    model.set_weights([rng.normal(size=w.shape) * 0.5 for w in model.weights])
    weights = [w.copy() for w in model.get_weights()]
    model.compile(optimizer=SGD(learning_rate=0.1), loss="mse")
    model.fit(x, y, batch_size=B, epochs=1, shuffle=False, verbose=0)
    h = c = np.zeros((B, H))
    for k in range(2):  # the reference: each batch starts from the previous batch's final state
        xb, yb = x[k * B : (k + 1) * B], y[k * B : (k + 1) * B]
        _, h_next, c_next = _reference_loss(weights, xb, yb, h, c)
        grads = _central(weights, lambda xb=xb, yb=yb, h=h, c=c: _reference_loss(weights, xb, yb, h, c)[0])
        weights = [w - 0.1 * g for w, g in zip(weights, grads)]
        h, c = h_next, c_next
    err = max(np.abs(a - b).max() for a, b in zip(model.get_weights(), weights))
    record_error(("stateful", None), "two training batches vs numpy reference", "float64", err)
    assert err < 1e-7
    np.testing.assert_allclose(model.layers[0].states[0], h, atol=1e-12)
    model.reset_states()
    assert model.layers[0].states is None


# -- gradients through states and merges ---------------------------------------------------------
def _states_and_merges_model():
    a, b = Input(shape=(4, 2), name="a", dtype="float64"), Input(shape=(3, 2), name="b", dtype="float64")
    _, h, c = LSTM(3, return_state=True, dtype="float64")(a)
    seq, hg = GRU(3, return_sequences=True, return_state=True, dtype="float64")(b, initial_state=h)
    bi, fh, fc, bh, bc = Bidirectional(LSTM(3, return_state=True, dtype="float64"))(seq, initial_state=[h, c, h, c])
    f64 = {"dtype": "float64"}  # weightless layers compute in their own dtype too, as in Keras
    joined = concatenate([add([hg, fh], **f64), multiply([bh, c], **f64), bi], **f64)
    return Model([a, b], [Dense(2, dtype="float64", name="o1")(joined), Dense(1, dtype="float64", name="o2")(hg)])


def test_gradients_through_states_and_merges_match_central_differences():
    rng = np.random.default_rng(1)
    model = _states_and_merges_model()
    model.set_weights([rng.normal(size=w.shape) * 0.5 for w in model.weights])
    x = [rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 3, 2))]
    y = [rng.normal(size=(3, 2)), rng.normal(size=(3, 1))]

    def loss():
        p1, p2 = model.predict(x, verbose=0)
        return ref.reduce_loss(ref.mse(y[0], p1)) + 0.5 * ref.reduce_loss(ref.mse(y[1], p2))

    before = [w.copy() for w in model.get_weights()]
    expected = _central(model.weights, loss)
    model.compile(optimizer=SGD(learning_rate=1.0), loss={"o1": "mse", "o2": "mse"}, loss_weights={"o2": 0.5})
    model.train_on_batch(x, y)
    got = [b - a for a, b in zip(model.get_weights(), before)]
    err = max(np.abs(g - e).max() for g, e in zip(got, expected))
    record_error(("states+merges", None), "gradient vs finite differences", "float64", err)
    assert err < 1e-6
    assert all(np.abs(g).max() > 0 for g in got)  # every weight, the encoder's too, gets a gradient


# -- the functional API's behaviour ---------------------------------------------------------------
def test_model_attributes_layer_io_and_shared_weights():
    model = _two_in_two_out()
    a, b = model.inputs
    assert model.input == [a, b] and len(model.outputs) == 2 and model.output_names == ["y1", "y2"]
    shared = model.get_layer("shared_gru")
    assert shared.input is a and shared.output.shape == (None, 4)
    assert len([w for layer in model.layers for w in layer.weights]) == len(model.weights)
    assert model.count_params() == sum(w.size for w in model.get_weights())
    lines = []
    model.summary(print_fn=lines.append)
    assert any("shared_gru (GRU)" in line for line in lines)
    with pytest.raises(ValueError, match="no layer named"):
        model.get_layer("nope")


def test_a_model_built_from_a_trained_models_tensors_shares_its_weights():
    rng = np.random.default_rng(2)
    inp = Input(shape=(6, 2))
    code = LSTM(3, name="enc")(inp)
    auto = Model(inp, Dense(2)(code))
    auto.compile("adam", "mse")
    x = rng.normal(size=(16, 6, 2))
    auto.fit(x, rng.normal(size=(16, 2)), epochs=2, verbose=0)
    encoder = Model(auto.input, auto.get_layer("enc").output)
    assert encoder.get_layer("enc") is auto.get_layer("enc")
    expected = ref.rnn_layer("lstm", x, *auto.get_layer("enc").get_weights())
    np.testing.assert_allclose(encoder.predict(x, verbose=0), expected, atol=1e-5)


def test_dict_inputs_and_outputs_and_a_loss_per_output():
    a, b = Input(shape=(5, 3), name="a"), Input(shape=(2,), name="b")
    h = concatenate([LSTM(4)(a), b])
    model = Model({"a": a, "b": b}, {"y": Dense(1, name="y")(h), "z": Dense(2, name="z", activation="softmax")(h)})
    rng = np.random.default_rng(3)
    x = {"a": rng.normal(size=(8, 5, 3)), "b": rng.normal(size=(8, 2))}
    y = {"y": rng.normal(size=(8, 1)), "z": rng.integers(0, 2, size=8)}
    model.compile("adam", loss={"y": "mse", "z": "sparse_categorical_crossentropy"}, metrics={"z": ["accuracy"]})
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert set(history.history) == {"loss", "y_loss", "z_loss", "z_accuracy"}
    total, y_loss, z_loss, z_acc = model.evaluate(x, y, verbose=0)
    assert total == pytest.approx(y_loss + z_loss) and 0 <= z_acc <= 1
    with pytest.raises(ValueError, match="missing"):
        model.predict({"a": x["a"]}, verbose=0)


def test_save_load_and_config_keep_the_graph(tmp_path):
    model = _seq2seq("float32")
    rng = np.random.default_rng(4)
    model.set_weights([rng.normal(size=w.shape).astype(np.float32) * 0.3 for w in model.weights])
    model.compile("adam", "categorical_crossentropy")
    x = [rng.normal(size=(3, 6, 3)), rng.normal(size=(3, 5, 4))]
    model.train_on_batch(x, np.eye(4)[rng.integers(0, 4, size=(3, 5))])
    model.save(tmp_path / "m.keras")
    loaded = numbarnn.load_model(tmp_path / "m.keras")
    assert isinstance(loaded, Model) and [lay.name for lay in loaded.layers] == [lay.name for lay in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # the seq2seq recipe rebuilds its inference encoder from the loaded model's tensors
    enc = Model(loaded.input[0], loaded.get_layer("encoder").output[1:])
    h, c = enc.predict(x[0], verbose=0)
    assert h.shape == (3, 5) and c.shape == (3, 5)
    clone = Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(numbarnn.clone_model(model), Model)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_bad_graphs_and_calls_raise_clear_errors():
    a, b = Input(shape=(4, 2)), Input(shape=(4, 2))
    out = LSTM(2)(b)
    with pytest.raises(ValueError, match="disconnected"):
        Model(a, out)
    with pytest.raises(TypeError, match="Input"):
        Model(np.zeros((2, 4, 2)), out)
    with pytest.raises(ValueError, match="initial_state as a list of 2"):
        LSTM(2)(a, initial_state=[out])
    with pytest.raises(ValueError, match="one shape"):
        add([LSTM(2)(a), LSTM(3)(a)])
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(out)
    model = Model(b, out)
    with pytest.raises(ValueError, match="must have shape"):
        model.predict(np.zeros((2, 4, 3)), verbose=0)


# -- Keras's module layout ---------------------------------------------------------------------
def test_keras_module_layout_resolves_under_numbarnn():
    import numbarnn as keras
    from numbarnn.layers import LSTM as L  # noqa: F401
    from numbarnn.models import Model as M, Sequential as S, clone_model, load_model, save_model  # noqa: F401
    from numbarnn.preprocessing.sequence import pad_sequences
    from numbarnn.saving import load_model as lm  # noqa: F401

    assert keras.preprocessing.sequence.pad_sequences is pad_sequences is keras.utils.pad_sequences
    assert keras.backend.floatx() == "float32"
    keras.backend.set_floatx("float64")
    try:
        assert keras.layers.Dense(2).dtype == np.float64
    finally:
        keras.backend.set_floatx("float32")
    keras.backend.clear_session()
    assert keras.layers.Dense(2).name == "dense"


@pytest.mark.parametrize("module, name", [("numbarnn.layers", "Conv2D"), ("numbarnn", "ops"),
                                          ("numbarnn.preprocessing.sequence", "TimeseriesGenerator"),
                                          ("numbarnn.utils", "plot_model"), ("numbarnn.layers", "Nonexistent")])
def test_names_numbarnn_does_not_provide_say_so(module, name):
    import importlib

    mod = importlib.import_module(module)
    with pytest.raises(AttributeError, match="numbarnn does not provide"):
        getattr(mod, name)
    assert not hasattr(mod, name)
    with pytest.raises(ImportError, match="numbarnn does not provide"):
        exec(f"from {module} import {name}", {})
    with pytest.raises(AttributeError, match="has no attribute '__wrapped__'") as info:
        getattr(mod, "__wrapped__")
    assert "does not provide" not in str(info.value)


def test_masks_flow_through_a_functional_model_as_through_a_sequential():
    rng = np.random.default_rng(5)
    x = rng.integers(1, 9, size=(6, 7))
    x[:3, :2] = 0  # left padding
    seq = Sequential([Input((7,), dtype="int32"), numbarnn.Embedding(9, 3, mask_zero=True), GRU(4), Dense(1)])
    inp = Input(shape=(7,), dtype="int32")
    layers = [numbarnn.Embedding(9, 3, mask_zero=True), GRU(4), Dense(1)]
    h = inp
    for layer in layers:
        h = layer(h)
    model = Model(inp, h)
    model.set_weights(seq.get_weights())
    np.testing.assert_array_equal(model.predict(x, verbose=0), seq.predict(x, verbose=0))
    unpadded = Sequential([Input((5,), dtype="int32"), *[type(lay).from_config(lay.get_config()) for lay in layers]])
    unpadded.set_weights(seq.get_weights())
    np.testing.assert_allclose(model.predict(x, verbose=0)[:3], unpadded.predict(x[:3, 2:], verbose=0), atol=1e-6)


def test_a_built_sequential_has_inputs_and_outputs():
    model = Sequential([Input((5, 2)), LSTM(3, name="l"), Dense(1, name="d")])
    assert model.inputs[0].shape == (None, 5, 2) and model.outputs[0].shape == (None, 1)
    assert model.get_layer("d").output is model.output
    functional = Model(model.inputs, model.outputs)
    x = np.random.default_rng(6).normal(size=(2, 5, 2))
    np.testing.assert_array_equal(functional.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="not built"):
        Sequential([LSTM(2)]).inputs


def test_a_failed_fit_rolls_carried_states_back_with_the_weights():
    rng = np.random.default_rng(7)
    model = Sequential([Input(batch_shape=(2, 3, 1)), LSTM(2, stateful=True), Dense(1)])
    model.compile("sgd", "mse")
    x, y = rng.normal(size=(6, 3, 1)), rng.normal(size=(6, 1))
    model.fit(x, y, batch_size=2, shuffle=False, verbose=0)
    states, weights = model.layers[0].states, model.get_weights()

    class Stop(numbarnn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        model.fit(x, y, batch_size=2, shuffle=False, verbose=0, callbacks=[Stop()])
    for a, b in zip(model.layers[0].states, states):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(a, b)
