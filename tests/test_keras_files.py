"""Keras 3 files, read and written by numbarnn alone (Keras, TensorFlow and torch not importable).

The reference files in tests/data/keras_files/ were written by Keras 3 itself
(make_keras_files.py there): each model's predictions must come out within
1e-5, and one more training step from the saved optimizer state must land on
Keras's weights. numbarnn's own files reload bit for bit, and a fit resumed
from one ends where an uninterrupted fit ends. Damaged and hostile files are
refused with a ValueError naming the file, and nothing in them runs.
"""

import io
import json
import pathlib
import sys
import zipfile

import h5py
import numpy as np
import pytest

import numbarnn
from numbarnn import GRU, LSTM, Dense, Input, Sequential
from numbarnn.layers import Layer
from numbarnn.utils import set_random_seed

DATA = pathlib.Path(__file__).parent / "data" / "keras_files"
NAMES = sorted(p.name[: -len(".keras")] for p in DATA.glob("*.keras"))
COMPILED = [n for n in NAMES if "y0" in np.load(DATA / f"{n}.npz").files]


@pytest.fixture(autouse=True)
def no_frameworks(monkeypatch):
    """Loading must not need (or import) Keras, TensorFlow or torch."""
    for name in ("keras", "tensorflow", "torch"):
        monkeypatch.setitem(sys.modules, name, None)


def numbered(ref, prefix):
    return [ref[f"{prefix}{i}"] for i in range(sum(k.startswith(prefix) and k[len(prefix):].isdigit()
                                                   for k in ref.files))]  # fmt: skip


def one_or_list(values):
    return values[0] if len(values) == 1 else values


def predict(model, ref):
    out = model.predict(one_or_list(numbered(ref, "x")), verbose=0)
    return out if isinstance(out, list) else [out]


def test_the_reference_files_cover_every_case():
    assert len(NAMES) == 12 and len(COMPILED) == 8
    assert sum(p.stat().st_size for p in DATA.iterdir()) < 1_000_000


@pytest.mark.parametrize("name", NAMES)
def test_a_keras_file_loads_and_predicts_as_keras(name):
    ref = np.load(DATA / f"{name}.npz")
    model = numbarnn.load_model(DATA / f"{name}.keras")
    preds = predict(model, ref)
    expected = numbered(ref, "pred")
    assert len(preds) == len(expected)
    for got, want in zip(preds, expected):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert model.compiled == (name in COMPILED)


@pytest.mark.parametrize("name", COMPILED)
def test_training_resumes_from_kerass_optimizer_state(name):
    ref = np.load(DATA / f"{name}.npz")
    model = numbarnn.load_model(DATA / f"{name}.keras")
    assert model.optimizer.iterations == 2
    model.train_on_batch(one_or_list(numbered(ref, "x")), one_or_list(numbered(ref, "y")))
    after = numbered(ref, "after_")
    assert len(after) == len(model.get_weights())
    for got, want in zip(model.get_weights(), after):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["stacked_lstm", "encoder_decoder"])
def test_kerass_weights_file_loads_into_a_model(name):
    ref = np.load(DATA / f"{name}.npz")
    model = numbarnn.load_model(DATA / f"{name}.keras", compile=False)
    assert not model.compiled
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    model.load_weights(DATA / f"{name}.weights.h5")
    np.testing.assert_allclose(predict(model, ref)[0], ref["pred0"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_numbarnn_files_reload_bit_for_bit(name, tmp_path):
    ref = np.load(DATA / f"{name}.npz")
    model = numbarnn.load_model(DATA / f"{name}.keras")
    model.save(tmp_path / "m.keras")
    loaded = numbarnn.load_model(tmp_path / "m.keras")
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(predict(loaded, ref), predict(model, ref)):
        np.testing.assert_array_equal(a, b)
    if model.compiled:
        for a, b in zip(loaded.optimizer.variables(), model.optimizer.variables()):
            np.testing.assert_array_equal(a, b)
    model.save_weights(tmp_path / "m.weights.h5")
    loaded.set_weights([np.zeros_like(w) for w in loaded.get_weights()])
    loaded.load_weights(tmp_path / "m.weights.h5")
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_written_layout_is_kerass(tmp_path):
    model = Sequential([Input((5, 2)), LSTM(3, return_sequences=True), LSTM(2, return_sequences=True),
                        numbarnn.Bidirectional(GRU(2)), Dense(1)])
    model.compile("adam", "mse")
    model.fit(np.ones((4, 5, 2)), np.ones((4, 1)), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        config = json.loads(z.read("config.json"))
        weights = h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")
    assert config["module"] == "keras" and config["class_name"] == "Sequential"
    first, lstm = config["config"]["layers"][:2]
    assert first["class_name"] == "InputLayer" and first["config"]["batch_shape"] == [None, 5, 2]
    assert lstm["module"] == "keras.layers" and lstm["registered_name"] is None
    assert lstm["config"]["dtype"] == {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                                       "registered_name": None}  # fmt: skip
    assert lstm["config"]["kernel_initializer"]["module"] == "keras.initializers"
    assert lstm["build_config"] == {"input_shape": [None, 5, 2]}
    assert config["compile_config"]["optimizer"]["class_name"] == "Adam"
    with weights:
        assert weights["layers/lstm/cell/vars"].attrs["name"] == "lstm_cell"
        assert weights["layers/lstm_1/cell/vars/1"].shape == (2, 8)
        assert weights["layers/bidirectional/forward_layer/cell/vars/0"].shape == (2, 6)
        assert weights["layers/bidirectional/backward_layer/cell/vars/2"].shape == (2, 6)
        assert len(weights["layers/lstm/vars"]) == 0
        opt = weights["optimizer/vars"]
        assert opt["0"][()] == 1 and opt["1"].dtype == np.float32
        assert len(opt) == 2 + 2 * len(model.trainable_weights)


def test_a_resumed_fit_ends_where_an_uninterrupted_one_ends(tmp_path):
    x = np.random.default_rng(0).normal(size=(32, 6, 2)).astype(np.float32)
    y = x.sum(axis=1)

    def fresh():
        set_random_seed(3)
        model = Sequential([Input((6, 2)), GRU(4), Dense(2)])
        model.compile(numbarnn.optimizers.Adam(0.01), "mse")
        return model

    straight = fresh()
    straight.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    first = fresh()
    first.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    first.save(tmp_path / "m.keras")
    resumed = numbarnn.load_model(tmp_path / "m.keras")
    resumed.fit(x, y, epochs=1, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_save_paths_need_kerass_suffixes(tmp_path):
    model = Sequential([Input((3, 1)), LSTM(2)])
    with pytest.raises(ValueError, match=r"must end in '\.keras'"):
        model.save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"must end in '\.weights\.h5'"):
        model.save_weights(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"must end in '\.keras'"):
        numbarnn.callbacks.ModelCheckpoint(str(tmp_path / "m.numbarnn"))
    with pytest.raises(ValueError, match=r"must end in '\.weights\.h5'"):
        numbarnn.callbacks.ModelCheckpoint(str(tmp_path / "m.keras"), save_weights_only=True)


# -- custom objects ------------------------------------------------------------------------------
class Scale(Layer):
    """A user's layer: multiplies by a constant."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def compute_output_shape(self, input_shape):
        return input_shape

    def forward(self, x, mask=None, training=False, rng=None):
        return x * self.factor, mask, None

    def backward(self, cache, dy):
        return dy * self.factor, []

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_a_custom_layer_loads_only_with_custom_objects(tmp_path):
    model = Sequential([Input((4, 2)), Scale(3.0), LSTM(2)])
    x = np.ones((2, 4, 2), np.float32)
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match=r"m\.keras.*unknown layer class 'Scale'"):
        numbarnn.load_model(tmp_path / "m.keras")
    loaded = numbarnn.load_model(tmp_path / "m.keras", custom_objects={"Scale": Scale})
    assert loaded.layers[0].factor == 3.0
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# -- damaged and hostile files -------------------------------------------------------------------
def keras_file(tmp_path, config=None, weights=None, name="m.keras", drop=()):
    """A copy of the stacked_lstm reference file with its config or weights replaced."""
    with zipfile.ZipFile(DATA / "stacked_lstm.keras") as z:
        entries = {n: z.read(n) for n in z.namelist()}
    if config is not None:
        entries["config.json"] = config if isinstance(config, bytes) else json.dumps(config).encode()
    if weights is not None:
        entries["model.weights.h5"] = weights
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as z:
        for n, data in entries.items():
            if n not in drop:
                z.writestr(n, data)
    return path


def reference_config():
    with zipfile.ZipFile(DATA / "stacked_lstm.keras") as z:
        return json.loads(z.read("config.json"))


def edited_weights(edit):
    with zipfile.ZipFile(DATA / "stacked_lstm.keras") as z:
        buffer = io.BytesIO(z.read("model.weights.h5"))
    with h5py.File(buffer, "a") as f:
        edit(f)
    return buffer.getvalue()


def hostile_layer(class_name, module="keras.layers", **config):
    spec = reference_config()
    spec["config"]["layers"].insert(1, {"module": module, "class_name": class_name, "config": config,
                                        "registered_name": None})  # fmt: skip
    return spec


def replace_dataset(path, value):
    def edit(f):
        del f[path]
        f[path] = value

    return edit


def raw(tmp_path, data):
    path = tmp_path / "m.keras"
    path.write_bytes(data)
    return path


DAMAGED = {
    "empty": (lambda tmp: raw(tmp, b""), "is empty"),
    "random bytes": (lambda tmp: raw(tmp, np.random.default_rng(0).bytes(4096)), "neither a Keras"),
    "truncated": (lambda tmp: raw(tmp, (DATA / "stacked_lstm.keras").read_bytes()[:5000]), "damaged"),
    "bad json": (lambda tmp: keras_file(tmp, config=b'{"module": "keras", '), "not valid JSON"),
    "json array": (lambda tmp: keras_file(tmp, config=[1, 2]), "not an object"),
    "no config": (lambda tmp: keras_file(tmp, drop=("config.json",)), "without config.json"),
    "no weights": (lambda tmp: keras_file(tmp, drop=("model.weights.h5",)), "weights are missing"),
    "weights not hdf5": (lambda tmp: keras_file(tmp, weights=b"\x89HDF\r\n\x1a\nbroken"), "not a readable HDF5"),
    "lambda layer": (lambda tmp: keras_file(tmp, config=hostile_layer("Lambda", function="print('x')")),
                     "Lambda layer holds Python code"),  # fmt: skip
    "unknown class": (lambda tmp: keras_file(tmp, config=hostile_layer("system", module="os", command="touch x")),
                      "unknown layer class 'system'"),  # fmt: skip
    "unknown model": (lambda tmp: keras_file(tmp, config={**reference_config(), "class_name": "MyModel"}),
                      "unknown model class 'MyModel'"),  # fmt: skip
    "unsupported option": (lambda tmp: keras_file(tmp, config=hostile_layer("Dense", units=2, kernel_constraint={
        "module": "keras.constraints", "class_name": "NonNeg", "config": {}})), "kernel_constraint"),
    "wrong shape": (lambda tmp: keras_file(tmp, weights=edited_weights(replace_dataset(
        "layers/dense/vars/0", np.zeros((3, 3), np.float32)))), r"layers/dense/vars/0 has shape \(3, 3\)"),
    "too few arrays": (lambda tmp: keras_file(tmp, weights=edited_weights(
        lambda f: f.__delitem__("layers/dense/vars/1"))), "holds 1 arrays; the model has 2"),
    "extra group": (lambda tmp: keras_file(tmp, weights=edited_weights(
        lambda f: f.create_dataset("layers/ghost/vars/0", data=np.zeros(2)))), "no place for"),
    "string array": (lambda tmp: keras_file(tmp, weights=edited_weights(replace_dataset(
        "layers/dense/vars/1", np.array([b"ab", b"cd"])))), "not numbers"),
    "soft link": (lambda tmp: keras_file(tmp, weights=edited_weights(
        lambda f: f.__setitem__("layers/link", h5py.SoftLink("/layers/dense")))), "does not follow links"),
    "external link": (lambda tmp: keras_file(tmp, weights=edited_weights(
        lambda f: f.__setitem__("layers/ext", h5py.ExternalLink("/etc/passwd", "/x")))), "does not follow links"),
    "optimizer state of the wrong size": (lambda tmp: keras_file(tmp, weights=edited_weights(
        lambda f: f.__delitem__("optimizer/vars/5"))), "optimizer"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_a_damaged_or_hostile_file_is_a_value_error_naming_it(case, tmp_path, monkeypatch):
    make, message = DAMAGED[case]
    path = make(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message) as info:
        numbarnn.load_model(path)
    assert "m.keras" in str(info.value)
    assert not (tmp_path / "x").exists()  # nothing from the file ran


def test_a_weights_file_of_another_model_is_refused(tmp_path):
    model = Sequential([Input((6, 3)), LSTM(5), Dense(2)])
    with pytest.raises(ValueError, match=r"stacked_lstm\.weights\.h5.*holds 3 arrays|has shape"):
        model.load_weights(DATA / "stacked_lstm.weights.h5")
    with pytest.raises(ValueError, match="is a weights file"):
        numbarnn.load_model(DATA / "stacked_lstm.weights.h5")


def test_a_keras_file_whose_weights_start_where_a_user_block_ends_is_a_keras_file(tmp_path):
    # A .keras zip stores its weights uncompressed; when the config's length puts their HDF5 signature at
    # 4096 bytes (where HDF5 allows a user block to end; the config alone passes 2048), the file is still a
    # Keras file.
    from numbarnn.formats import keras_file

    model = Sequential([Input((4, 2)), LSTM(3), Dense(1)])
    saved = tmp_path / "m.keras"
    model.save(saved)
    with zipfile.ZipFile(saved) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    config = members.pop("config.json")
    weights = members.pop("model.weights.h5")
    assert weights[:8] == b"\x89HDF\r\n\x1a\n"
    path = tmp_path / "shifted.keras"

    def write(pad):  # the config padded with spaces (JSON allows them); returns where the weights start
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr("config.json", config + b" " * pad)
            zf.writestr("model.weights.h5", weights)
            for name, data in members.items():
                zf.writestr(name, data)
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("model.weights.h5")
        with open(path, "rb") as f:
            f.seek(info.header_offset + 26)
            n, m = np.frombuffer(f.read(4), "<u2")
        return info.header_offset + 30 + int(n) + int(m)

    assert write(4096 - write(0)) == 4096
    assert keras_file.identify(path) == "keras"
    loaded = numbarnn.load_model(path)
    x = np.random.default_rng(0).normal(size=(2, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
