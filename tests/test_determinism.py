"""A row's prediction is bit-identical whatever the batch: its size, the row's position, the threads.

The invariant holds for models (every recurrent cell and form, Bidirectional, a
Dense head) and for the estimators' ``predict``, ``predict_proba`` and
``score``, in float32 and float64, on one or two threads, and when several
Python threads call ``predict`` on one fitted model at once.
"""

import threading

import numpy as np
import pytest

import numbarnn
from numbarnn import RNNClassifier, RNNRegressor
from numbarnn.layers import GRU, LSTM, Bidirectional, Dense, Input, SimpleRNN
from numbarnn.models import Sequential

BATCH_SIZES = (1, 3, 8, 9, 37, 256)
N, T, F = 300, 7, 3


@pytest.fixture
def threads():
    yield numbarnn.set_num_threads
    numbarnn.set_num_threads(None)


def _data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, T, F)).astype(dtype)


def _model(kind, dtype):
    recurrent = {
        "lstm": lambda: LSTM(24, dtype=dtype),
        "gru_after": lambda: GRU(24, dtype=dtype),
        "gru_before": lambda: GRU(24, reset_after=False, dtype=dtype),
        "simple": lambda: SimpleRNN(24, dtype=dtype),
        "bidirectional": lambda: Bidirectional(LSTM(16, return_sequences=True, dtype=dtype), dtype=dtype),
    }[kind]()
    model = Sequential([Input((T, F)), recurrent, Dense(5, activation="softmax", dtype=dtype)])
    model.build((None, T, F))
    return model


def _by_row(predict, X, batch_sizes=BATCH_SIZES):
    """Predictions of every row under each batch size, in a shuffled order, and one row at a time."""
    reference = predict(X, 256)
    perm = np.random.default_rng(1).permutation(len(X))
    results = {f"batch_size={bs}": predict(X, bs) for bs in batch_sizes}
    results["permuted"] = np.empty_like(reference)
    results["permuted"][perm] = predict(X[perm], 256)
    for i in (0, 5, len(X) - 1):
        results[f"row {i} alone"] = predict(X[i : i + 1], 1)
    return reference, results


def _assert_rows_equal(reference, results):
    for what, got in results.items():
        if got.shape[0] == 1:
            i = int(what.split()[1])
            np.testing.assert_array_equal(got[0], reference[i], err_msg=what)
        else:
            np.testing.assert_array_equal(got, reference, err_msg=what)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["lstm", "gru_after", "gru_before", "simple", "bidirectional"])
def test_model_predict_rows_do_not_depend_on_the_batch(threads, kind, dtype):
    model = _model(kind, dtype)
    X = _data(dtype)
    threads(2)
    reference, results = _by_row(lambda x, bs: model.predict(x, batch_size=bs, verbose=0), X)
    threads(1)
    results["one thread"] = model.predict(X, batch_size=256, verbose=0)
    _assert_rows_equal(reference, results)


def _fitted(estimator_class, dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, T, F))
    if estimator_class is RNNRegressor:
        y = X[:, :, 0].sum(axis=1)
    else:
        y = (X[:, -1, 1] > 0).astype(int)
    est = estimator_class(hidden_layer_sizes=(16,), max_iter=3, dtype=dtype, random_state=0)
    return est.fit(X, y), X, y


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("estimator_class", [RNNRegressor, RNNClassifier])
def test_estimator_predictions_do_not_depend_on_the_batch(threads, estimator_class, dtype):
    est = _fitted(estimator_class, dtype)[0]
    X = _data("float64", seed=3)  # the estimators cast to their dtype
    methods = ["predict"] + (["predict_proba"] if estimator_class is RNNClassifier else [])
    for method in methods:
        threads(2)
        reference, results = _by_row(lambda x, bs: getattr(est, method)(x), X, batch_sizes=())
        threads(1)
        results["one thread"] = getattr(est, method)(X)
        _assert_rows_equal(reference, results)
    # score: bit for bit on any thread count; for the rows in another order, up to the order of
    # scikit-learn's float64 sum over the rows (the predictions themselves are equal, see above)
    target = X[:, :, 0].sum(axis=1) if estimator_class is RNNRegressor else (X[:, -1, 1] > 0).astype(int)
    threads(2)
    score = est.score(X, target)
    threads(1)
    assert est.score(X, target) == score
    perm = np.random.default_rng(2).permutation(len(X))
    assert est.score(X[perm], target[perm]) == pytest.approx(score, rel=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_concurrent_predict_equals_serial(threads, dtype):
    threads(2)
    model = _model("lstm", dtype)
    inputs = [_data(dtype, seed=s) for s in range(4)]
    expected = [model.predict(x, batch_size=64, verbose=0) for x in inputs]
    results, errors = {}, []

    def work(s):
        try:
            for _ in range(3):
                results[s] = model.predict(inputs[s], batch_size=64, verbose=0)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    for s in range(4):
        np.testing.assert_array_equal(results[s], expected[s])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_concurrent_estimator_predict_equals_serial(threads):
    threads(2)
    est, X, _ = _fitted(RNNClassifier, "float32")
    expected = est.predict_proba(X)
    results, errors = [], []

    def work():
        try:
            for _ in range(3):
                results.append(est.predict_proba(X))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors and len(results) == 12
    for got in results:
        np.testing.assert_array_equal(got, expected)


def _exact_model(kind, dtype, seed=0):
    numbarnn.utils.set_random_seed(seed)
    model = _model(kind, dtype)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model._use_exact_row_sums()
    return model


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", ["lstm", "gru_before", "bidirectional"])
def test_exact_row_sums_make_weights_equal_repeated_rows(kind, dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(15, T, F)).astype(dtype)
    y = rng.integers(0, 5, (15, T) if kind == "bidirectional" else 15)  # per step, or per sequence
    sw = rng.integers(0, 5, 15)
    weighted, repeated = _exact_model(kind, dtype), _exact_model(kind, dtype)
    np.testing.assert_array_equal(weighted.get_weights()[0], repeated.get_weights()[0])
    weighted.fit(X, y, sample_weight=sw.astype(dtype), batch_size=15, epochs=4, shuffle=True, verbose=0, seed=1)
    Xr, yr = np.repeat(X, sw, axis=0), np.repeat(y, sw, axis=0)
    repeated.fit(Xr, yr, batch_size=len(Xr), epochs=4, shuffle=True, verbose=0, seed=2)
    for a, b in zip(weighted.get_weights(), repeated.get_weights()):
        if dtype == "float32":  # float64 sums of exact float32 products, rounded once: the same bits
            np.testing.assert_array_equal(a, b)
        else:  # float64's own products round: equal to its precision
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_exact_row_sums_agree_with_the_plain_ones():
    # Without sample weights the weighted mean is Keras's mean: the two modes differ only in rounding.
    X = _data("float64")[:40]
    y = np.random.default_rng(4).integers(0, 5, 40)
    exact = _exact_model("lstm", "float64")
    numbarnn.utils.set_random_seed(0)
    plain = _model("lstm", "float64")
    plain.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    for m in (exact, plain):
        m.fit(X, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(exact.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert exact._exact_row_sums and not plain._exact_row_sums


def test_exact_row_sums_refuse_layers_without_them():
    model = Sequential([Input((T, F)), numbarnn.layers.Conv1D(4, 3), LSTM(4), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.build((None, T, F))
    with pytest.raises(ValueError, match="does not support exact row sums"):
        model._use_exact_row_sums()
