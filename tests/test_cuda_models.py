"""Models and estimators with ``device="cuda"`` against the same ones on the CPU, on Numba's CUDA simulator.

As in :mod:`tests.test_cuda_sim`, the simulator is chosen when ``numba.cuda``
is first imported, so :class:`TestModelsOnSimulator` runs in a child process
started with ``NUMBA_ENABLE_CUDASIM=1`` (:func:`test_models_on_simulator`).
Each case builds one model twice, gives both the same weights, trains both
from the same seed for a few epochs (float64) and compares the losses, the
predictions and every weight. The error tests run in this process, without
the simulator.

Run with ``-s`` to see the largest difference per case.
"""

import importlib.util
import os
import pickle
import re
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import numbarnn as nb
from numbarnn import layers as L

SIM = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
HAS_NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None

sim_only = pytest.mark.skipif(
    not (SIM and HAS_NUMBA_CUDA), reason="needs numba-cuda and NUMBA_ENABLE_CUDASIM=1 set before numba is imported"
)

TOL = 1e-9  # float64; the bar is 1e-6
DIFFS = {}

B, T, F = 4, 3, 2


def _data(seed=0, n=B, classes=None, sequence=False, integer=False):
    rng = np.random.default_rng(seed)
    if integer:
        x = rng.integers(0, 5, size=(n, T))
        x[1, :1] = 0  # a padded step for mask_zero
    else:
        x = rng.normal(size=(n, T, F))
    shape = (n, T) if sequence else (n,)
    if classes:
        y = rng.integers(0, classes, size=shape)
    else:
        y = rng.normal(size=shape + (1,))
    return x, y


def _pair(build, compile_kwargs):
    """The same model on the CPU and on the device, with the same weights."""
    cpu, dev = build(), build()
    cpu.compile(device="cpu", **compile_kwargs())
    dev.compile(device="cuda", **compile_kwargs())
    dev.set_weights(cpu.get_weights())
    return cpu, dev


def _max_diff(a, b):
    return max(float(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)).max()) for x, y in zip(a, b))


def _check_pair(label, cpu, dev, x, y, epochs=2, batch_size=B, **fit_kwargs):
    hc = cpu.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, seed=3, **fit_kwargs)
    hd = dev.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, seed=3, **fit_kwargs)
    diffs = {
        "loss": _max_diff([hc.history["loss"]], [hd.history["loss"]]),
        "weights": _max_diff(cpu.get_weights(), dev.get_weights()),
        "predict": _max_diff([cpu.predict(x, verbose=0)], [dev.predict(x, verbose=0)]),
    }
    DIFFS[label] = max(diffs.values())
    for what, d in diffs.items():
        assert d <= TOL, f"{label}: {what} differs by {d:.2e}"
    return hc, hd


def _seq(*layers):
    return nb.Sequential([L.Input((T, F), dtype="float64"), *layers])


D = {"dtype": "float64"}


@sim_only
class TestModelsOnSimulator:
    @classmethod
    def teardown_class(cls):
        if DIFFS:
            print("\nlargest |cuda - cpu| (losses, weights, predictions), float64:")
            for label, d in DIFFS.items():
                print(f"  {label:<28} {d:.1e}")

    @pytest.mark.parametrize(
        "label, layer, optimizer",
        [
            ("lstm adam", lambda: L.LSTM(3, **D), lambda: nb.optimizers.Adam(0.05)),
            ("gru reset_after rmsprop", lambda: L.GRU(3, **D),
             lambda: nb.optimizers.RMSprop(0.02, momentum=0.5, centered=True)),
            ("gru reset_before sgd", lambda: L.GRU(3, reset_after=False, **D),
             lambda: nb.optimizers.SGD(0.1, momentum=0.9, nesterov=True)),
            ("simple relu adamw", lambda: L.SimpleRNN(3, activation="relu", **D),
             lambda: nb.optimizers.AdamW(0.05, amsgrad=True)),
        ],
    )  # fmt: skip
    def test_cells_and_optimizers(self, label, layer, optimizer):
        x, y = _data()
        cpu, dev = _pair(lambda: _seq(layer(), L.Dense(1, **D)), lambda: {"optimizer": optimizer(), "loss": "mse"})
        _check_pair(label, cpu, dev, x, y)

    @pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul"])
    def test_bidirectional_merges(self, merge_mode):
        x, y = _data(1)
        build = lambda: _seq(L.Bidirectional(L.SimpleRNN(2, **D), merge_mode=merge_mode), L.Dense(1, **D))
        cpu, dev = _pair(build, lambda: {"optimizer": nb.optimizers.Adam(0.05), "loss": "mse"})
        _check_pair(f"bidirectional {merge_mode}", cpu, dev, x, y)

    def test_stacked_bidirectional_softmax_head(self):
        x, y = _data(2, classes=3)
        build = lambda: _seq(
            L.Bidirectional(L.GRU(2, return_sequences=True, **D)), L.LSTM(2, **D), L.Dense(3, "softmax", **D)
        )
        cpu, dev = _pair(build, lambda: {"optimizer": nb.optimizers.Adam(0.05),
                                         "loss": "sparse_categorical_crossentropy",
                                         "metrics": ["accuracy"]})  # fmt: skip
        hc, hd = _check_pair("stacked, sparse cce", cpu, dev, x, y)
        assert hc.history["accuracy"] == hd.history["accuracy"]

    def test_masking_sequence_targets_and_go_backwards(self):
        x, y = _data(3, sequence=True)
        x[0, -1] = 0.0  # a padded last step
        x[2, 0] = 0.0  # a padded first step
        build = lambda: _seq(
            L.Masking(0.0), L.LSTM(3, return_sequences=True, go_backwards=True, **D), L.Dense(1, **D)
        )
        cpu, dev = _pair(build, lambda: {"optimizer": nb.optimizers.Adam(0.05), "loss": "mae"})
        _check_pair("masking, sequences, mae", cpu, dev, x, y, sample_weight=np.array([1.0, 2.0, 0.5, 1.0]))

    def test_embedding_mask_zero_sigmoid_clipnorm(self):
        x, y = _data(4, classes=2, integer=True)

        def build():
            return nb.Sequential([L.Input((T,), dtype="int64"), L.Embedding(5, 3, mask_zero=True, **D),
                                  L.GRU(3, **D), L.Dense(1, "sigmoid", **D)])  # fmt: skip

        cpu, dev = _pair(build, lambda: {"optimizer": nb.optimizers.Adam(0.1, clipnorm=0.05),
                                         "loss": "binary_crossentropy"})  # fmt: skip
        _check_pair("embedding, bce, clipnorm", cpu, dev, x, y.reshape(-1, 1).astype(float))

    def test_dropout_regularizers_huber_clip(self):
        x, y = _data(5, n=6)
        reg = nb.regularizers.L1L2(l1=1e-3, l2=1e-2)
        build = lambda: _seq(
            L.LSTM(3, dropout=0.3, recurrent_dropout=0.4, kernel_regularizer=reg, recurrent_regularizer=reg, **D),
            L.Dropout(0.5, **D), L.Dense(1, bias_regularizer=reg, **D),
        )
        for i, opt in enumerate([lambda: nb.optimizers.SGD(0.05, global_clipnorm=0.1),
                                 lambda: nb.optimizers.SGD(0.05, clipvalue=0.01)]):  # fmt: skip
            cpu, dev = _pair(build, lambda opt=opt: {"optimizer": opt(), "loss": "huber"})
            _check_pair(f"dropout, l1l2, huber [{i}]", cpu, dev, x, y, batch_size=3, shuffle=True)

    def test_categorical_crossentropy_from_logits_class_weight(self):
        x, y = _data(6, classes=3)
        onehot = np.eye(3)[y]
        build = lambda: _seq(L.GRU(3, **D), L.Dense(3, **D))
        cpu, dev = _pair(build, lambda: {"optimizer": nb.optimizers.RMSprop(0.05),
                                         "loss": nb.losses.CategoricalCrossentropy(from_logits=True)})  # fmt: skip
        _check_pair("cce from logits, class_weight", cpu, dev, x, onehot, class_weight={0: 1.0, 1: 2.0, 2: 0.5})

    def test_estimators(self):
        x, y = _data(7, n=8)
        kwargs = dict(hidden_layer_sizes=(3,), max_iter=3, batch_size=4, dtype="float64", random_state=0)
        cpu = nb.RNNRegressor(cell="gru", alpha=1e-3, **kwargs).fit(x, y.ravel(), sample_weight=np.arange(1, 9.0))
        dev = nb.RNNRegressor(cell="gru", alpha=1e-3, device="cuda", **kwargs).fit(
            x, y.ravel(), sample_weight=np.arange(1, 9.0)
        )
        d = _max_diff([cpu.predict(x)], [dev.predict(x)])
        assert d <= TOL and _max_diff([cpu.loss_curve_], [dev.loss_curve_]) <= TOL
        labels = np.array(["a", "b", "c", "a", "b", "c", "a", "b"])
        cpu = nb.RNNClassifier(bidirectional=True, dropout=0.2, **kwargs).fit(x, labels)
        dev = nb.RNNClassifier(bidirectional=True, dropout=0.2, device="cuda", **kwargs).fit(x, labels)
        d2 = _max_diff([cpu.predict_proba(x)], [dev.predict_proba(x)])
        assert d2 <= TOL and (cpu.predict(x) == dev.predict(x)).all()
        DIFFS["estimators"] = max(d, d2)
        assert dev.model_.device == "cuda"

    def test_weights_stay_on_the_device_until_read(self):
        x, y = _data(8)
        cpu, dev = _pair(lambda: _seq(L.LSTM(3, **D), L.Dense(1, **D)), lambda: {"optimizer": "adam", "loss": "mse"})
        layer = dev.layers[0]
        before = layer.kernel.copy()
        for _ in range(2):
            cpu.train_on_batch(x, y)
            dev.train_on_batch(x, y)
        assert np.array_equal(layer.kernel, before)  # nothing came back yet
        assert dev.optimizer.iterations == 2
        assert _max_diff(cpu.get_weights(), dev.get_weights()) <= TOL  # reading them brings them back
        assert not np.array_equal(layer.kernel, before)
        # Host weights set by the user go to the device.
        dev.set_weights(cpu.get_weights())
        assert _max_diff([cpu.predict(x, verbose=0)], [dev.predict_on_batch(x)]) <= TOL

    def test_failed_fit_rolls_back_on_the_device(self):
        x, y = _data(9)

        class Boom(nb.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if epoch == 1:
                    raise RuntimeError("boom")

        cpu, dev = _pair(lambda: _seq(L.GRU(3, **D), L.Dense(1, **D)), lambda: {"optimizer": "adam", "loss": "mse"})
        cpu.fit(x, y, epochs=1, batch_size=2, verbose=0, seed=1, shuffle=False)
        with pytest.raises(RuntimeError, match="boom"):
            dev.fit(x, y, epochs=3, batch_size=2, verbose=0, seed=1, shuffle=False, callbacks=[Boom()])
        assert _max_diff(cpu.get_weights(), dev.get_weights()) <= TOL  # the weights after epoch 1
        assert dev.optimizer.iterations == cpu.optimizer.iterations == 2
        # A non-finite loss: nothing is applied.
        kept = dev.get_weights()
        big = np.full_like(x, 1e300)
        with pytest.raises(ValueError, match="loss became"):
            dev.train_on_batch(big, y * 1e300)
        assert _max_diff(kept, dev.get_weights()) == 0.0

    def test_pickle_and_keras_file_carry_host_arrays(self, tmp_path):
        x, y = _data(10)
        model = _seq(L.LSTM(3, **D), L.Dense(1, **D))
        model.compile(optimizer="adam", loss="mse", device="cuda")
        model.fit(x, y, epochs=1, batch_size=2, verbose=0, seed=0)
        model.train_on_batch(x, y)  # newer weights on the device only
        expected = model.predict(x, verbose=0)
        clone = pickle.loads(pickle.dumps(model))
        assert clone.device == "cuda"
        np.testing.assert_allclose(clone.predict(x, verbose=0), expected, rtol=0, atol=1e-12)
        model.save(tmp_path / "m.keras")
        loaded = nb.load_model(tmp_path / "m.keras")
        assert loaded.device == "cpu"
        np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=0, atol=1e-12)
        out = os.environ.get("NUMBARNN_CUDA_PICKLE_DIR")
        if out:  # for test_cuda_model_predicts_on_a_machine_without_gpu
            with open(os.path.join(out, "model.pkl"), "wb") as f:
                pickle.dump(model, f)
            reg = nb.RNNRegressor(hidden_layer_sizes=(2,), max_iter=2, dtype="float64", random_state=0,
                                  device="cuda").fit(x, y.ravel())  # fmt: skip
            with open(os.path.join(out, "estimator.pkl"), "wb") as f:
                pickle.dump(reg, f)
            np.savez(os.path.join(out, "expected.npz"), x=x, model=expected, estimator=reg.predict(x))

    def test_unsupported_models_are_refused_at_compile(self):
        conv = nb.Sequential([L.Input((T, F)), L.Conv1D(2, 2), L.LSTM(2), L.Dense(1)])
        with pytest.raises(ValueError, match=r"'conv1d.*Conv1D.*device='cpu'"):
            conv.compile(optimizer="adam", loss="mse", device="cuda")
        assert not conv.compiled
        inp = nb.Input((T, F))
        a, b = L.LSTM(2)(inp), L.GRU(2)(inp)
        graph = nb.Model(inp, L.Dense(1)(L.Concatenate()([a, b])))
        with pytest.raises(ValueError, match="chain"):
            graph.compile(optimizer="adam", loss="mse", device="cuda")
        model = _seq(L.LSTM(2, **D), L.Dense(1, **D))
        model.compile(optimizer="sgd", loss="mse")
        with pytest.raises(ValueError, match="kl_divergence|no CUDA implementation"):
            model.compile(optimizer="adam", loss=_KL(), device="cuda")
        assert model.device == "cpu" and isinstance(model.optimizer, nb.optimizers.SGD)  # unchanged
        stateful = nb.Sequential([L.Input((T, F), batch_size=B), L.LSTM(2, stateful=True), L.Dense(1)])
        with pytest.raises(ValueError, match="stateful"):
            stateful.compile(optimizer="adam", loss="mse", device="cuda")


class _KL(nb.losses.Loss):
    def __init__(self):
        super().__init__("kl_divergence")

    def values_and_gradient(self, y_true, y_pred):
        return (y_pred - y_true).sum(axis=-1), np.ones_like(y_pred)


def _run_child(test, env_extra=None):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", f"{__file__}::{test}"]
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", **(env_extra or {})}
    start = time.perf_counter()
    proc = subprocess.run(cmd, check=False, env=env, cwd=root, capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    print(output[-6000:])
    print(f"child process: {time.perf_counter() - start:.1f} s")
    assert proc.returncode == 0, output[-6000:]
    assert re.search(r"\d+ passed", output), output[-2000:]
    assert not re.search(r"\d+ (failed|skipped|errors?)\b", output), output[-2000:]


@pytest.mark.skipif(SIM, reason="already running on the simulator")
@pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda is not installed")
def test_models_on_simulator():
    """Run :class:`TestModelsOnSimulator` in a child process with ``NUMBA_ENABLE_CUDASIM=1``."""
    _run_child("TestModelsOnSimulator")


def _gpu_usable():
    if not HAS_NUMBA_CUDA:
        return False
    from numba import cuda

    return bool(cuda.is_available())


@pytest.mark.skipif(SIM, reason="already running on the simulator")
@pytest.mark.skipif(not HAS_NUMBA_CUDA, reason="numba-cuda is not installed")
def test_cuda_model_predicts_on_a_machine_without_gpu(tmp_path):
    """A model and an estimator trained with device='cuda' (on the simulator) load here and predict on the CPU."""
    if _gpu_usable():
        pytest.skip("a usable GPU is present")
    _run_child(
        "TestModelsOnSimulator::test_pickle_and_keras_file_carry_host_arrays",
        {"NUMBARNN_CUDA_PICKLE_DIR": str(tmp_path)},
    )
    expected = np.load(tmp_path / "expected.npz")
    for name in ("model", "estimator"):
        with pytest.warns(RuntimeWarning, match=r"device='cuda'.*runs on the CPU"):
            with open(tmp_path / f"{name}.pkl", "rb") as f:
                obj = pickle.load(f)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # one warning, at load
            got = obj.predict(expected["x"], verbose=0) if name == "model" else obj.predict(expected["x"])
        np.testing.assert_allclose(got, expected[name], rtol=0, atol=1e-12)
    assert obj.model_.device == "cpu"


# -- errors, without the simulator ----------------------------------------------------------------
def test_unknown_device_is_a_value_error_listing_the_devices():
    model = nb.Sequential([L.Input((T, F)), L.LSTM(2), L.Dense(1)])
    with pytest.raises(ValueError, match=r"device must be one of \['cpu', 'cuda'\]; got 'gpu'"):
        model.compile(optimizer="adam", loss="mse", device="gpu")
    assert not model.compiled
    x, y = _data()
    est = nb.RNNRegressor(device="gpu", max_iter=1)
    with pytest.raises(ValueError, match=r"device must be one of \['cpu', 'cuda'\]; got 'gpu'"):
        est.fit(x, y.ravel())
    assert not hasattr(est, "model_")
    assert nb.RNNClassifier(device="cuda").get_params()["device"] == "cuda"


@pytest.mark.skipif(SIM, reason="the simulator makes device='cuda' usable")
def test_cuda_without_gpu_fails_at_compile_and_fit_with_the_fix():
    if _gpu_usable():
        pytest.skip("a usable GPU is present")
    expected = RuntimeError if HAS_NUMBA_CUDA else ImportError
    model = nb.Sequential([L.Input((T, F)), L.LSTM(2), L.Dense(1)])
    start = time.perf_counter()
    with pytest.raises(expected) as info:
        model.compile(optimizer="adam", loss="mse", device="cuda")
    message = str(info.value)
    assert 'device="cpu"' in message and "pip install" in message
    assert not model.compiled
    x, y = _data()
    est = nb.RNNClassifier(device="cuda", max_iter=1)
    with pytest.raises(expected):
        est.fit(x, (y.ravel() > 0).astype(int))
    assert not hasattr(est, "model_")
    assert time.perf_counter() - start < 60.0  # no hang
