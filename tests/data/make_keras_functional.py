"""Writes the Keras 3 reference files that tests/test_functional.py loads (tests/data/keras_functional/).

Run in an environment with Keras 3 and PyTorch's CPU build (never needed by the tests themselves):
``python3 -m venv kenv && kenv/bin/pip install keras torch==2.13.0`` then
``KERAS_BACKEND=torch kenv/bin/python tests/data/make_keras_functional.py``.
Each file holds the inputs, the layer names in ``model.layers`` order, the weights
in ``get_weights`` order, the predictions, the weights after one SGD step
(learning rate 0.1) and the loss of that step.
"""

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

OUT = pathlib.Path(__file__).parent / "keras_functional"
OUT.mkdir(exist_ok=True)


def save(name, model, weights, inputs, preds, extra):
    arrays = {f"x_{i}": x for i, x in enumerate(inputs)}
    arrays.update({f"w_{i}": w for i, w in enumerate(weights)})
    arrays.update({f"pred_{i}": p for i, p in enumerate(preds)})
    arrays["layer_names"] = np.array([layer.name for layer in model.layers])
    arrays.update(extra)
    np.savez(OUT / f"{name}.npz", **arrays)


def one_step(model, inputs, targets, loss, loss_weights=None):
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=loss, loss_weights=loss_weights)
    value = model.train_on_batch(inputs, targets)
    value = value[0] if isinstance(value, list) else value
    extra = {f"after_{i}": w for i, w in enumerate(model.get_weights())}
    extra.update({f"y_{i}": y for i, y in enumerate(targets)})
    extra["step_loss"] = np.array(value, np.float64)
    return extra


def seq2seq(dtype):
    keras.config.set_floatx(dtype)
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    B, Te, Td, F, V, H = 4, 6, 5, 3, 4, 5
    enc_in = keras.Input(shape=(None, F), name="encoder_inputs")
    _, h, c = keras.layers.LSTM(H, return_state=True, name="encoder")(enc_in)
    dec_in = keras.Input(shape=(None, V), name="decoder_inputs")
    seq, _, _ = keras.layers.LSTM(H, return_sequences=True, return_state=True, name="decoder")(
        dec_in, initial_state=[h, c]
    )
    out = keras.layers.Dense(V, activation="softmax", name="softmax")(seq)
    model = keras.Model([enc_in, dec_in], out)
    xe = rng.normal(size=(B, Te, F)).astype(dtype)
    xd = np.eye(V, dtype=dtype)[rng.integers(0, V, size=(B, Td))]
    y = np.eye(V, dtype=dtype)[rng.integers(0, V, size=(B, Td))]
    pred = keras.ops.convert_to_numpy(model.predict([xe, xd], verbose=0))
    weights = model.get_weights()
    extra = one_step(model, [xe, xd], [y], "categorical_crossentropy")
    save(f"seq2seq_{dtype}", model, weights, [xe, xd], [pred], extra)


def two_in_two_out():
    keras.config.set_floatx("float32")
    keras.utils.set_random_seed(2)
    rng = np.random.default_rng(2)
    B, T, F, H = 6, 5, 3, 4
    a = keras.Input(shape=(T, F), name="a")
    b = keras.Input(shape=(T, F), name="b")
    shared = keras.layers.GRU(H, name="shared_gru")
    ha, hb = shared(a), shared(b)
    proj = keras.layers.Dense(H, activation="tanh", name="proj")
    pa, pb = proj(ha), proj(hb)
    joined = keras.layers.concatenate([keras.layers.add([pa, pb]), keras.layers.subtract([pa, pb]),
                                       keras.layers.multiply([pa, pb]), keras.layers.average([pa, pb])],
                                      name="joined")
    y1 = keras.layers.Dense(1, name="y1")(joined)
    y2 = keras.layers.Dense(3, activation="softmax", name="y2")(joined)
    model = keras.Model([a, b], [y1, y2])
    xa, xb = rng.normal(size=(B, T, F)).astype("float32"), rng.normal(size=(B, T, F)).astype("float32")
    t1 = rng.normal(size=(B, 1)).astype("float32")
    t2 = np.eye(3, dtype="float32")[rng.integers(0, 3, size=B)]
    preds = [keras.ops.convert_to_numpy(p) for p in model.predict([xa, xb], verbose=0)]
    weights = model.get_weights()
    extra = one_step(model, [xa, xb], [t1, t2], ["mse", "categorical_crossentropy"], loss_weights=[1.0, 0.5])
    save("two_in_two_out", model, weights, [xa, xb], preds, extra)


def stateful():
    keras.config.set_floatx("float32")
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    inp = keras.Input(batch_shape=(4, 5, 2), name="inp")
    seq = keras.layers.LSTM(3, stateful=True, return_sequences=True, name="lstm_a")(inp)
    last = keras.layers.GRU(3, stateful=True, name="gru_b")(seq)
    model = keras.Model(inp, keras.layers.Dense(1, name="head")(last))
    xs = [rng.normal(size=(4, 5, 2)).astype("float32") for _ in range(3)]
    preds = [keras.ops.convert_to_numpy(model.predict(xs[0], verbose=0, batch_size=4)),
             keras.ops.convert_to_numpy(model.predict(xs[1], verbose=0, batch_size=4))]
    for layer in model.layers:  # Keras 3 has no model.reset_states
        if getattr(layer, "stateful", False):
            layer.reset_state()
    preds.append(keras.ops.convert_to_numpy(model.predict(xs[2], verbose=0, batch_size=4)))
    save("stateful", model, model.get_weights(), xs, preds, {})


seq2seq("float32")
seq2seq("float64")
two_in_two_out()
stateful()
print("keras", keras.__version__, "backend", keras.backend.backend(), "wrote", sorted(p.name for p in OUT.iterdir()))
