"""Data that is not one array in memory: PyDataset, generators, memory maps; and two fits at once."""

import threading
import tracemalloc
import warnings

import numpy as np
import pytest

import numbarnn
from numbarnn import LSTM, Dense, Input, Sequential
from numbarnn.utils import PyDataset

RNG = np.random.default_rng(0)
X = RNG.normal(size=(64, 5, 2)).astype(np.float32)
Y = X.sum(axis=(1, 2))[:, None]


class Batches(PyDataset):
    """Four batches of 16 rows of X, Y; counts on_epoch_end calls."""

    def __init__(self, with_weights=False):
        super().__init__()
        self.ends, self.with_weights = 0, with_weights

    def __len__(self):
        return 4

    def __getitem__(self, i):
        rows = slice(16 * i, 16 * (i + 1))
        return (X[rows], Y[rows], np.ones(16)) if self.with_weights else (X[rows], Y[rows])

    def on_epoch_end(self):
        self.ends += 1


def model(seed=0):
    numbarnn.utils.set_random_seed(seed)
    m = Sequential([Input((5, 2)), LSTM(4), Dense(1)])
    m.compile(optimizer=numbarnn.optimizers.SGD(0.01), loss="mse", metrics=["mae"])
    return m


def test_a_pydataset_fit_equals_the_same_batches_from_arrays():
    a, b = model(), model()
    ds = Batches()
    history = a.fit(ds, epochs=2, verbose=0, validation_data=Batches(with_weights=True))
    b.fit(X, Y, batch_size=16, epochs=2, shuffle=False, verbose=0, validation_data=(X, Y))
    assert ds.ends == 2 and set(history.history) == {"loss", "mae", "val_loss", "val_mae"}
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert a.evaluate(Batches(), verbose=0) == pytest.approx(b.evaluate(X, Y, batch_size=16, verbose=0))
    np.testing.assert_array_equal(a.predict(Batches(), verbose=0), b.predict(X, verbose=0, batch_size=16))


def test_a_generator_with_steps_per_epoch_and_one_that_runs_out():
    def forever():
        while True:
            for i in range(4):
                yield X[16 * i : 16 * (i + 1)], Y[16 * i : 16 * (i + 1)]

    a, b = model(), model()
    a.fit(forever(), steps_per_epoch=4, epochs=2, verbose=0)
    b.fit(X, Y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model().fit(((X[:16], Y[:16]) for _ in range(2)), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 1
    assert model().predict((x for x in (X[:5], X[5:9])), verbose=0).shape == (9, 1)


def test_an_unbuilt_model_builds_from_the_first_batch_and_bad_batches_are_clear():
    m = Sequential([LSTM(3), Dense(1)])
    m.compile("adam", "mse")
    m.fit(Batches(), epochs=1, verbose=0)
    assert m.built and m.input_shape == (None, None, 2)  # a recurrent model takes any number of steps
    with pytest.raises(ValueError, match=r"each batch of x must be \(x, y\)"):
        m.fit(iter([X[:4]]), verbose=0)
    with pytest.raises(ValueError, match="x batch 2 x contains NaN"):
        m.fit(iter([(X[:4], Y[:4]), (np.full((4, 5, 2), np.nan), Y[:4])]), verbose=0)
    with pytest.raises(ValueError, match="y must be None"):
        m.fit(Batches(), Y, verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch is for a generator"):
        m.fit(X, Y, steps_per_epoch=2, verbose=0)


def _peak_fit_bytes(path, n):
    data = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, 10, 8))
    for i in range(0, n, 50_000):
        data[i : i + 50_000] = np.random.default_rng(i).normal(size=data[i : i + 50_000].shape)
    data.flush()
    del data
    x = np.load(path, mmap_mode="r")
    y = np.zeros((n, 1), np.float32)
    m = Sequential([Input((10, 8)), LSTM(2), Dense(1)])
    m.compile("sgd", "mse")
    m.train_on_batch(x[:8], y[:8])  # compile outside the measured fit
    tracemalloc.start()
    m.fit(x, y, batch_size=512, epochs=1, verbose=0)
    m.predict(x, batch_size=512, verbose=0)[:0]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, x.nbytes


def test_a_memory_map_trains_in_memory_that_does_not_grow_with_its_size(tmp_path):
    small, small_bytes = _peak_fit_bytes(tmp_path / "small.npy", 100_000)
    large, large_bytes = _peak_fit_bytes(tmp_path / "large.npy", 400_000)
    batch = 512 * 10 * 8 * 4
    print(f"memmap fit+predict: {small_bytes / 2**20:.0f} MiB file -> peak {small / 2**20:.1f} MiB traced; "
          f"{large_bytes / 2**20:.0f} MiB file -> peak {large / 2**20:.1f} MiB")  # fmt: skip
    # predict returns (n, 1) outputs: 4 bytes a sample; the permutation for shuffling 8 bytes a sample
    allowed = 64 * 2**20 + 4 * batch
    assert large < allowed
    assert large - small < 12 * (400_000 - 100_000) + 8 * 2**20  # outputs and index arrays only, not the data


def test_fit_from_two_threads_on_one_model_is_refused():
    m = model()
    started, release = threading.Event(), threading.Event()

    class Hold(numbarnn.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            started.set()
            release.wait(10)

    errors = []
    t = threading.Thread(target=lambda: m.fit(X, Y, epochs=1, verbose=0, callbacks=[Hold()]))
    t.start()
    started.wait(10)
    try:
        m.fit(X, Y, epochs=1, verbose=0)
    except RuntimeError as exc:
        errors.append(str(exc))
    release.set()
    t.join()
    assert errors and "already being trained" in errors[0]
    m.fit(X, Y, epochs=1, verbose=0)  # free again once the first fit ended


def test_model_checkpoint_every_n_batches_formats_epoch_and_batch(tmp_path):
    m = model()
    path = str(tmp_path / "ckpt-{epoch}-{batch}.keras")
    m.fit(X, Y, batch_size=16, epochs=2, shuffle=False, verbose=0,
          callbacks=[numbarnn.callbacks.ModelCheckpoint(path, save_freq=3)])  # fmt: skip
    # 4 batches an epoch, counted across epochs: after batches 3, 6 -> epoch 1 batch 3, epoch 2 batch 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-1-3.keras", "ckpt-2-2.keras"]
    best = str(tmp_path / "best.keras")
    m.fit(X, Y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[
        numbarnn.callbacks.ModelCheckpoint(best, monitor="loss", save_best_only=True, save_freq=1)])  # fmt: skip
    assert numbarnn.load_model(best).count_params() == m.count_params()
    with pytest.raises(ValueError, match="save_freq"):
        numbarnn.callbacks.ModelCheckpoint(path, save_freq=0)


def _dropout_model():
    numbarnn.utils.set_random_seed(3)
    m = Sequential([Input((5, 2)), LSTM(4, dropout=0.2, recurrent_dropout=0.2), Dense(1)])
    m.compile(optimizer="adam", loss="mse")
    return m


def test_backup_and_restore_resumes_bit_for_bit(tmp_path):
    full = _dropout_model()
    full.fit(X, Y, batch_size=8, epochs=4, verbose=0, seed=11)

    class Crash(numbarnn.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise RuntimeError("killed")

    backup = numbarnn.callbacks.BackupAndRestore(tmp_path / "backup")
    first = _dropout_model()
    with pytest.raises(RuntimeError, match="killed"):
        first.fit(X, Y, batch_size=8, epochs=4, verbose=0, seed=11, callbacks=[backup, Crash()])
    again = _dropout_model()  # a new process would build the model afresh, as here
    history = again.fit(X, Y, batch_size=8, epochs=4, verbose=0, seed=11, callbacks=[backup])
    assert len(history.history["loss"]) == 2  # only the epochs it ran
    for a, b in zip(again.get_weights(), full.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not (tmp_path / "backup" / "state.json").exists()  # deleted once the fit completed


KILL_SCRIPT = """
import sys, numpy as np, numbarnn
from numbarnn import Input, LSTM, Dense, Sequential
x = np.random.default_rng(0).normal(size=(512, 20, 8)).astype(np.float32)
y = x.sum(axis=(1, 2))[:, None]
m = Sequential([Input((20, 8)), LSTM(32), Dense(1)])
m.compile("adam", "mse")
print("started", flush=True)
m.fit(x, y, batch_size=8, epochs=1000, verbose=0, callbacks=[numbarnn.callbacks.ModelCheckpoint(sys.argv[1], save_freq=1)])
"""


def test_kill_minus_9_during_checkpointed_fit_leaves_a_loadable_file(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    path = tmp_path / "ckpt.keras"
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        deadline = time.time() + 120
        while not path.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # many saves later, kill it mid-stride
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    model = numbarnn.load_model(path)
    assert model.count_params() == 4 * 32 * (32 + 8) + 4 * 32 + 33
    numbarnn.Sequential([Input((20, 8)), LSTM(32), Dense(1)]).save(path)  # the next save clears stale temporaries
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.keras"]
