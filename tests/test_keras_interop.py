"""Keras 3 loads the files numbarnn writes (.keras and .weights.h5) and predicts the same (skipped without Keras).

Every reference model of tests/data/keras_files/ is loaded by numbarnn, saved
by numbarnn, and loaded again by ``keras.saving.load_model``; a model numbarnn
trained carries its optimizer state into Keras, which then takes the same step.
"""

import os
import pathlib

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras is imported
keras = pytest.importorskip("keras")

import numbarnn  # noqa: E402
from numbarnn import GRU, LSTM, Dense, Input, Sequential  # noqa: E402

DATA = pathlib.Path(__file__).parent / "data" / "keras_files"
NAMES = sorted(p.name[: -len(".keras")] for p in DATA.glob("*.keras"))


def numbered(ref, prefix):
    return [ref[f"{prefix}{i}"] for i in range(sum(k.startswith(prefix) and k[len(prefix):].isdigit()
                                                   for k in ref.files))]  # fmt: skip


def keras_predict(model, xs):
    out = model.predict(xs[0] if len(xs) == 1 else xs, verbose=0)
    return [np.asarray(o) for o in (out if isinstance(out, list) else [out])]


@pytest.mark.parametrize("name", NAMES)
def test_keras_loads_numbarnns_model_file(name, tmp_path):
    ref = np.load(DATA / f"{name}.npz")
    numbarnn.load_model(DATA / f"{name}.keras").save(tmp_path / "m.keras")
    model = keras.saving.load_model(tmp_path / "m.keras")
    assert (getattr(model, "optimizer", None) is not None) == ("y0" in ref.files)
    for got, want in zip(keras_predict(model, numbered(ref, "x")), numbered(ref, "pred"), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_keras_loads_numbarnns_weights_file(name, tmp_path):
    ref = np.load(DATA / f"{name}.npz")
    numbarnn.load_model(DATA / f"{name}.keras").save_weights(tmp_path / "m.weights.h5")
    model = keras.saving.load_model(DATA / f"{name}.keras")
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    model.load_weights(tmp_path / "m.weights.h5")
    for got, want in zip(keras_predict(model, numbered(ref, "x")), numbered(ref, "pred"), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop", "sgd"])
def test_keras_resumes_training_from_numbarnns_optimizer_state(optimizer, tmp_path):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 5, 2)).astype(np.float32), rng.normal(size=(8, 1)).astype(np.float32)
    opt = {"adam": numbarnn.optimizers.Adam(0.01, amsgrad=True),
           "rmsprop": numbarnn.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
           "sgd": numbarnn.optimizers.SGD(0.05, momentum=0.9)}[optimizer]  # fmt: skip
    model = Sequential([Input((5, 2)), LSTM(3, return_sequences=True), numbarnn.Bidirectional(GRU(2)), Dense(1)])
    model.compile(opt, "mse")
    model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    model.save(tmp_path / "m.keras")
    theirs = keras.saving.load_model(tmp_path / "m.keras")
    assert int(theirs.optimizer.iterations) == 4
    model.train_on_batch(x, y)
    theirs.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
