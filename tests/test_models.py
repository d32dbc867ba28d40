"""Sequential: building, training, evaluation, validation of input, transactions, callbacks, saving."""

import json
import zipfile

import numpy as np
import pytest

import numbarnn
from numbarnn import GRU, LSTM, Dense, Dropout, Embedding, Input, Sequential, SimpleRNN, load_model
from numbarnn.callbacks import Callback, EarlyStopping, LambdaCallback, ModelCheckpoint, ReduceLROnPlateau
from numbarnn.optimizers import SGD, Adam
from numbarnn.utils import set_random_seed


def sum_data(n=64, T=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, T, 1))
    return X, X.sum(axis=1)


def small_model(cell=LSTM, units=8, T=5, F=1, dtype="float64", out=1, activation=None, **kw):
    return Sequential([cell(units, input_shape=(T, F), dtype=dtype, **kw), Dense(out, activation=activation, dtype=dtype)])


def weights_equal(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


# -- building ------------------------------------------------------------------


def test_input_first_and_input_shape_build_the_same_model():
    set_random_seed(1)
    a = Sequential([Input(shape=(5, 1)), LSTM(8), Dense(1)])
    set_random_seed(1)
    b = Sequential([LSTM(8, input_shape=(5, 1)), Dense(1)])
    assert a.built and b.built
    assert weights_equal(a.get_weights(), b.get_weights())
    assert a.count_params() == b.count_params() == 4 * (8 * (1 + 8) + 8) + 9


def test_build_with_batch_axis_and_lazy_build_on_fit():
    model = Sequential([GRU(4), Dense(2)])
    assert not model.built
    with pytest.raises(ValueError, match="not built"):
        model.predict(np.zeros((2, 3, 1)))
    model.build((None, 3, 1))
    assert model.built and [w.shape for w in model.layers[0].get_weights()] == [(1, 12), (4, 12), (2, 12)]

    lazy = Sequential([SimpleRNN(4), Dense(1)])
    lazy.compile("adam", "mse")
    lazy.fit(np.zeros((4, 6, 2)), np.zeros((4, 1)), verbose=0)
    assert lazy.built and lazy.predict(np.zeros((3, 9, 2)), verbose=0).shape == (3, 1)  # any length


def test_add_rejects_non_layers_and_incompatible_layers():
    model = Sequential()
    with pytest.raises(TypeError, match="Layer"):
        model.add("lstm")
    model.add(Dense(3, input_shape=(4,)))
    with pytest.raises(ValueError, match="expects samples of 2 axes"):
        model.add(LSTM(3))
    assert len(model.layers) == 1


def test_summary_lists_shapes_and_counts():
    model = Sequential([LSTM(64, return_sequences=True, input_shape=(10, 1)), LSTM(32), Dense(1)])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "(None, 10, 64)" in text and "(None, 32)" in text and "(None, 1)" in text
    assert "16,896" in text and "12,416" in text and "33" in text
    assert f"Total params: {16896 + 12416 + 33:,}" in text
    unbuilt = []
    Sequential([LSTM(3)]).summary(print_fn=unbuilt.append)
    assert any("unbuilt" in line for line in unbuilt)


# -- training ------------------------------------------------------------------


def test_fit_learns_and_history_holds_every_epoch():
    set_random_seed(0)
    X, y = sum_data(128)
    model = small_model(dtype="float32")
    model.compile(optimizer=Adam(0.01), loss="mse", metrics=["mae"])
    history = model.fit(X, y, epochs=15, batch_size=16, validation_split=0.25, verbose=0)
    assert sorted(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    assert len(history.history["loss"]) == 15 and history.epoch == list(range(15))
    assert history.history["loss"][-1] < 0.2 * history.history["loss"][0]
    assert model.history is history


def test_evaluate_returns_keras_shapes_and_formula():
    set_random_seed(0)
    X, y = sum_data(40)
    model = small_model()
    model.compile("sgd", "mse")
    pred = model.predict(X, verbose=0)
    expected = float(np.mean((pred - y) ** 2))
    assert model.evaluate(X, y, verbose=0) == pytest.approx(expected, rel=1e-12)
    w = np.linspace(0, 2, 40)
    assert model.evaluate(X, y, sample_weight=w, verbose=0) == pytest.approx(
        float(np.sum(w * (pred - y)[:, 0] ** 2) / 40), rel=1e-12
    )
    model.compile("sgd", "mse", metrics=["mae", "mse"])
    loss, mae, mse = model.evaluate(X, y, batch_size=7, verbose=0)
    assert mae == pytest.approx(float(np.mean(np.abs(pred - y))), rel=1e-12)
    assert mse == pytest.approx(loss, rel=1e-12)
    assert model.evaluate(X, y, verbose=0, return_dict=True).keys() == {"loss", "mae", "mse"}


def test_predict_takes_2d_bool_and_int_input():
    model = small_model(dtype="float32")
    X = np.random.default_rng(0).random((6, 5))
    assert np.array_equal(model.predict(X, verbose=0), model.predict(X[:, :, None], verbose=0))
    onehot = np.zeros((3, 5, 1), bool)
    onehot[:, ::2] = True
    assert np.array_equal(model.predict(onehot, verbose=0), model.predict(onehot.astype(np.float32), verbose=0))
    assert model.predict(onehot.astype(np.int64), verbose=0).dtype == np.float32


@pytest.mark.parametrize("loss, y_kind", [("binary_crossentropy", "binary"), ("categorical_crossentropy", "onehot"),
                                          ("sparse_categorical_crossentropy", "sparse")])  # fmt: skip
def test_accuracy_picks_its_kind_from_the_shapes(loss, y_kind):
    rng = np.random.default_rng(0)
    X = rng.random((30, 4, 2))
    labels = rng.integers(0, 3, 30)
    if y_kind == "binary":
        y, n_out, act = (labels > 0).astype(float), 1, "sigmoid"
    elif y_kind == "onehot":
        y, n_out, act = np.eye(3)[labels], 3, "softmax"
    else:
        y, n_out, act = labels, 3, "softmax"
    model = small_model(GRU, T=4, F=2, out=n_out, activation=act)
    model.compile("adam", loss, metrics=["accuracy"])
    pred = model.predict(X, verbose=0)
    if y_kind == "binary":
        expected = np.mean((pred[:, 0] > 0.5) == (y > 0.5))
    else:
        expected = np.mean(pred.argmax(axis=1) == labels)
    loss_value, acc = model.evaluate(X, y, verbose=0)
    assert acc == pytest.approx(expected)


def test_class_weight_equals_matching_sample_weight():
    rng = np.random.default_rng(0)
    X, labels = rng.random((24, 4, 1)), rng.integers(0, 2, 24)
    runs = []
    for kwargs in ({"class_weight": {0: 1.0, 1: 3.0}}, {"sample_weight": np.where(labels == 1, 3.0, 1.0)}):
        set_random_seed(5)
        model = small_model(T=4, activation="sigmoid")
        model.compile("adam", "binary_crossentropy")
        model.fit(X, labels, epochs=2, batch_size=8, verbose=0, **kwargs)
        runs.append(model.get_weights())
    assert weights_equal(*runs)
    model.compile("adam", "binary_crossentropy")
    with pytest.raises(ValueError, match=r"no weight for class"):
        model.fit(X, labels, class_weight={0: 1.0}, verbose=0)


def test_same_seed_same_run_with_dropout_and_shuffle():
    X, y = sum_data(48)
    results = []
    for _ in range(2):
        set_random_seed(123)
        model = Sequential([LSTM(6, dropout=0.3, recurrent_dropout=0.3, input_shape=(5, 1)), Dropout(0.2), Dense(1)])
        model.compile("adam", "mse")
        h = model.fit(X, y, epochs=3, batch_size=8, verbose=0)
        results.append((model.get_weights(), h.history["loss"]))
    assert weights_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


def test_embedding_model_takes_integer_sequences():
    set_random_seed(0)
    rng = np.random.default_rng(0)
    X = rng.integers(1, 20, size=(32, 7))
    X[:8, :3] = 0  # padding
    y = (X.sum(axis=1) > 70).astype(int)
    model = Sequential([Embedding(20, 4, mask_zero=True), LSTM(5), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(X, y, epochs=2, verbose=0)
    assert model.predict(X, verbose=0).shape == (32, 1)
    with pytest.raises(ValueError, match=r"indices in \[0, 20\)"):
        model.predict(X + 20, verbose=0)


# -- bad input leaves the model as it was ---------------------------------------


def trained_model():
    set_random_seed(0)
    X, y = sum_data(32)
    model = small_model()
    model.compile("adam", "mse")
    model.fit(X, y, epochs=1, verbose=0)
    return model, X, y


BAD_FIT = [
    (lambda X, y: (X[:, :, :0], y), ValueError, "shape"),
    (lambda X, y: (np.zeros((32, 5, 2)), y), ValueError, r"shape \(samples, 5, 1\)"),
    (lambda X, y: (np.zeros((32, 6, 1)), y), ValueError, "shape"),
    (lambda X, y: (X, y[:-1]), ValueError, "same number of samples"),
    (lambda X, y: (np.where(X > 0.5, np.nan, X), y), ValueError, "NaN"),
    (lambda X, y: (X, np.full_like(y, np.inf)), ValueError, "NaN or infinity"),
    (lambda X, y: (X.astype(str), y), TypeError, "numbers"),
    (lambda X, y: (X, y.astype(str)), TypeError, "numbers"),
    (lambda X, y: (X, np.zeros((32, 2))), ValueError, "shape"),
    (lambda X, y: (None, y), TypeError, "None"),
]


@pytest.mark.parametrize("case", range(len(BAD_FIT)))
def test_bad_input_raises_and_changes_nothing(case):
    model, X, y = trained_model()
    before = model.get_weights()
    opt_before = [v.copy() for v in model.optimizer.variables()]
    make, exc, match = BAD_FIT[case]
    bx, by = make(X, y)
    with pytest.raises(exc, match=match):
        model.fit(bx, by, epochs=1, verbose=0)
    with pytest.raises(exc, match=match):
        model.evaluate(bx, by, verbose=0)
    if by is y:
        with pytest.raises(exc, match=match):
            model.predict(bx, verbose=0)
    assert weights_equal(before, model.get_weights())
    assert weights_equal(opt_before, model.optimizer.variables())


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"epochs": -1}, ValueError, "epochs"),
        ({"validation_split": 1.5}, ValueError, "validation_split"),
        ({"validation_data": (np.zeros((3, 5, 1)),)}, ValueError, "validation_data"),
        ({"verbose": 5}, ValueError, "verbose"),
        ({"callbacks": [object()]}, TypeError, "Callback"),
        ({"sample_weight": -np.ones(32)}, ValueError, "sample_weight"),
    ],
)
def test_bad_fit_arguments(kwargs, exc, match):
    model, X, y = trained_model()
    before = model.get_weights()
    with pytest.raises(exc, match=match):
        model.fit(X, y, **kwargs)
    assert weights_equal(before, model.get_weights())


def test_unknown_names_and_call_order():
    model = small_model()
    with pytest.raises(ValueError, match="unknown loss 'msee'"):
        model.compile("adam", "msee")
    with pytest.raises(ValueError, match="unknown optimizer 'adum'"):
        model.compile("adum", "mse")
    with pytest.raises(ValueError, match="unknown metric 'acuracy'"):
        model.compile("adam", "mse", metrics=["acuracy"])
    with pytest.raises(TypeError, match="optimizer"):
        model.compile(3, "mse")
    with pytest.raises(RuntimeError, match="compile"):
        model.fit(*sum_data(8))
    assert not model.compiled


def test_failed_fit_leaves_an_unbuilt_model_unbuilt():
    model = Sequential([LSTM(4), Dense(1)])
    model.compile("adam", "mse")
    with pytest.raises(ValueError):
        model.fit(np.zeros((8, 5, 1)), np.zeros((8, 3)), verbose=0)
    assert not model.built and not model.layers[0].built
    model.fit(np.zeros((8, 5, 2)), np.zeros((8, 1)), verbose=0)
    assert model.layers[0].kernel.shape == (2, 16)


# -- interrupted or failed fits keep the last completed epoch ---------------------


class Recorder(Callback):
    def __init__(self, fail_at=None, exc=RuntimeError):
        super().__init__()
        self.saved, self.fail_at, self.exc = {}, fail_at, exc

    def on_epoch_end(self, epoch, logs=None):
        self.saved[epoch] = (self.model.get_weights(), [v.copy() for v in self.model.optimizer.variables()])

    def on_train_batch_end(self, batch, logs=None):
        if self.fail_at == (len(self.saved), batch):
            raise self.exc("stop here")


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_exception_mid_epoch_restores_the_last_completed_epoch(exc, capsys):
    model, X, y = trained_model()
    rec = Recorder(fail_at=(2, 1), exc=exc)
    with pytest.raises(exc, match="stop here"):
        model.fit(X, y, epochs=5, batch_size=8, callbacks=[rec], verbose=0)
    weights, opt = rec.saved[1]
    assert weights_equal(weights, model.get_weights())
    assert weights_equal(opt, model.optimizer.variables())
    if exc is KeyboardInterrupt:
        assert "interrupted during epoch 3" in capsys.readouterr().err


def test_nan_loss_names_epoch_and_batch_and_restores():
    model, X, y = trained_model()
    rec = Recorder()

    class Poison(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if len(rec.saved) == 1 and batch == 2:
                self.model.layers[1].kernel[...] = np.nan

    with pytest.raises(ValueError, match=r"epoch 2, batch 4"):
        model.fit(X, y, epochs=3, batch_size=8, callbacks=[rec, Poison()], verbose=0)
    assert weights_equal(rec.saved[0][0], model.get_weights())
    assert np.isfinite(model.predict(X, verbose=0)).all()


# -- callbacks and progress --------------------------------------------------------


def test_early_stopping_restores_best_weights():
    set_random_seed(0)
    X, y = sum_data(64)
    model = small_model()
    model.compile(SGD(learning_rate=0.05), "mse")
    rec = Recorder()
    val_losses = []
    spy = LambdaCallback(on_epoch_end=lambda epoch, logs: val_losses.append(logs["val_loss"]))
    # An optimizer whose rate explodes after epoch 3 makes the validation loss rise.
    bump = LambdaCallback(on_epoch_end=lambda e, logs: setattr(model.optimizer, "learning_rate", 2.0) if e == 2 else 0)
    stop = EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(X, y, epochs=30, batch_size=8, validation_data=sum_data(32, seed=1), verbose=0,
                        callbacks=[spy, rec, bump, stop])  # fmt: skip
    assert len(history.history["loss"]) < 30 and stop.stopped_epoch > 0
    best = int(np.argmin(val_losses))
    assert stop.best_epoch == best
    assert weights_equal(rec.saved[best][0], model.get_weights())


def test_model_checkpoint_and_reduce_lr(tmp_path):
    set_random_seed(0)
    X, y = sum_data(32)
    model = small_model()
    model.compile(Adam(0.01), "mse")
    path = str(tmp_path / "model-{epoch:02d}.keras")
    reduce = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9)  # never "improves"
    model.fit(X, y, epochs=3, verbose=0, callbacks=[ModelCheckpoint(path, monitor="loss"), reduce])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-01.keras", "model-02.keras", "model-03.keras"]
    assert model.optimizer.learning_rate == pytest.approx(0.01 * 0.5**2)
    last = load_model(tmp_path / "model-03.keras")
    assert np.array_equal(last.predict(X, verbose=0), model.predict(X, verbose=0))


def test_verbose_modes(capsys):
    X, y = sum_data(16)
    model = small_model()
    model.compile("adam", "mse", metrics=["mae"])
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(X, y, epochs=2, batch_size=8, verbose=2)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2" and out[1].startswith("2/2 - ") and "loss: " in out[1] and "mae: " in out[1]
    assert len(out) == 4
    model.fit(X, y, epochs=1, batch_size=8, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/1" in out and "[==============================]" in out


# -- saving -----------------------------------------------------------------------


def test_save_and_load_round_trip_without_pickle(tmp_path):
    set_random_seed(0)
    X, y = sum_data(32)
    model = Sequential([Input(shape=(5, 1)), GRU(6, return_sequences=True, reset_after=False, dtype="float64"),
                        LSTM(4, dtype="float64"), Dense(2, activation="tanh", dtype="float64")])  # fmt: skip
    model.compile(Adam(0.005, clipnorm=1.0), "mse", metrics=["mae"])
    y2 = np.concatenate([y, -y], axis=1) / 5
    model.fit(X, y2, epochs=2, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    assert path.exists()
    with zipfile.ZipFile(path) as zf:  # Keras 3's layout
        assert sorted(zf.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(zf.read("config.json"))
    assert config["config"]["layers"][1]["class_name"] == "GRU"
    assert config["config"]["layers"][1]["config"]["dtype"]["config"]["name"] == "float64"

    loaded = load_model(path)
    assert np.array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    # Training continues identically: weights and optimizer state were both restored.
    for m in (model, loaded):
        set_random_seed(9)
        m.fit(X, y2, epochs=1, verbose=0)
    assert weights_equal(model.get_weights(), loaded.get_weights())


def test_save_weights_and_bad_files(tmp_path):
    model = small_model()
    model.save_weights(tmp_path / "w.weights.h5")
    other = small_model()
    other.load_weights(tmp_path / "w.weights.h5")
    assert weights_equal(model.get_weights(), other.get_weights())
    (tmp_path / "junk").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.*neither a Keras .keras file"):
        load_model(tmp_path / "junk")
    with pytest.raises(ValueError, match="w.weights.h5.*is a weights file"):
        load_model(tmp_path / "w.weights.h5")
    with pytest.raises(ValueError, match="must end in '.weights.h5'"):
        model.save_weights(tmp_path / "w.bin")
    with pytest.raises(ValueError, match="must end in '.keras'"):
        model.save(tmp_path / "m.h5")


def test_train_on_batch_and_call():
    model = small_model()
    model.compile("sgd", "mse", metrics=["mae"])
    X, y = sum_data(8)
    loss, mae = model.train_on_batch(X, y)
    assert np.isfinite(loss) and mae > 0
    assert np.allclose(model(X), model.predict(X, verbose=0))


def test_public_names_match_keras_modules():
    for name in ("Sequential", "LSTM", "GRU", "SimpleRNN", "Bidirectional", "Dense", "Dropout", "Embedding",
                 "Masking", "TimeDistributed", "RepeatVector", "Input", "load_model"):  # fmt: skip
        assert hasattr(numbarnn, name)
    from numbarnn import callbacks, initializers, layers, losses, optimizers, regularizers, utils

    assert layers.LSTM is numbarnn.LSTM
    for mod, names in [(optimizers, "SGD RMSprop Adam AdamW"), (regularizers, "L1 L2 L1L2"),
                       (callbacks, "EarlyStopping ModelCheckpoint ReduceLROnPlateau History Callback"),
                       (utils, "to_categorical pad_sequences set_random_seed"),
                       (losses, "MeanSquaredError BinaryCrossentropy Huber"),
                       (initializers, "GlorotUniform Orthogonal Zeros")]:  # fmt: skip
        for n in names.split():
            assert hasattr(mod, n), (mod.__name__, n)
