"""numbarnn.dask: Incremental and ParallelPostFit on 3-D Dask arrays, over a LocalCluster of two worker processes."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("dask_ml")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import dask  # noqa: E402
from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402

from numbarnn import RNNClassifier, RNNRegressor, SequenceScaler  # noqa: E402
from numbarnn.dask import Incremental, ParallelPostFit  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # distributed's notes on ports and memory
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, env={"NUMBARNN_NUM_THREADS": "1"})  # fmt: skip
    with cluster, distributed.Client(cluster) as c:
        yield c


def _problem(n=600, steps=6, features=3, seed=0):
    """Sequences of normal noise, labelled by the sign of the sum of their first feature."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, steps, features)).astype(np.float32)
    return X, (X[:, :, 0].sum(axis=1) > 0).astype(np.int64)


def _shuffled_blocks(n_blocks, random_state):
    """The order in which Incremental visits the blocks (its shuffle_blocks draw)."""
    order = np.arange(n_blocks)
    np.random.RandomState(random_state).shuffle(order)
    return order


@pytest.fixture(scope="module")
def fitted_classifier():
    X, y = _problem(300, seed=1)
    return RNNClassifier(cell="gru", hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y, classes=[0, 1])


def test_incremental_trains_a_classifier_as_partial_fit_on_each_block(client):
    X, y = _problem(1412)
    X_test, y_test = X[900:], y[900:]  # 512 samples: two chunks of 256, the estimator's prediction batch
    dX, dy = da.from_array(X[:900], chunks=(150, -1, -1)), da.from_array(y[:900], chunks=150)
    params = dict(cell="gru", hidden_layer_sizes=(8,), learning_rate_init=0.02, random_state=0)
    clf = Incremental(RNNClassifier(**params), random_state=0)
    clf.fit(dX, dy, classes=[0, 1])
    for _ in range(3):
        clf.partial_fit(dX, dy)
    assert clf.estimator_.n_iter_ == 4 * 6 and clf.estimator_.t_ == 4 * 900  # one epoch per block, 4 passes
    assert list(clf.classes_) == [0, 1] and clf.n_features_in_ == 3
    accuracy = clf.score(da.from_array(X_test, chunks=(256, -1, -1)), y_test)
    assert accuracy > 0.85  # chance is about 0.5
    assert accuracy == clf.estimator_.score(X_test, y_test)
    # The same partial_fit calls, block by block in this process (with all its threads), train the same model.
    local = RNNClassifier(**params)
    for i in np.concatenate([_shuffled_blocks(6, 0)] * 4):
        local.partial_fit(X[150 * i : 150 * (i + 1)], y[150 * i : 150 * (i + 1)], classes=[0, 1])
    np.testing.assert_array_equal(clf.predict_proba(X_test), local.predict_proba(X_test))


def test_incremental_trains_a_regressor_with_sample_weight(client):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(1000, 5, 2)).astype(np.float32)
    y = X[:, :, 0].mean(axis=1) + 0.5 * X[:, -1, 1]
    dX = da.from_array(X[:800], chunks=(200, 5, 2))
    dy = da.from_array(y[:800], chunks=100)  # rechunked to X's rows
    w = np.where(np.arange(800) % 2, 0.0, 1.0)  # NumPy weights, cut into X's row blocks: every other sample counts
    reg = Incremental(RNNRegressor(hidden_layer_sizes=(8,), learning_rate_init=0.02, random_state=0), random_state=1)
    reg.fit(dX, dy, sample_weight=w)
    for _ in range(4):
        reg.partial_fit(dX, dy, sample_weight=w)
    assert reg.estimator_.n_iter_ == 5 * 4
    r2 = reg.score(da.from_array(X[800:], chunks=(100, 5, 2)), y[800:])
    assert r2 > 0.5
    # Chunks of 100 are predicted in other batches than the 200 samples together: float32 rounding differs.
    assert r2 == pytest.approx(reg.estimator_.score(X[800:], y[800:]), rel=1e-6)
    local = RNNRegressor(hidden_layer_sizes=(8,), learning_rate_init=0.02, random_state=0)
    for i in np.concatenate([_shuffled_blocks(4, 1)] * 5):
        rows = slice(200 * i, 200 * (i + 1))
        local.partial_fit(X[rows], y[rows], sample_weight=w[rows])
    np.testing.assert_array_equal(reg.predict(X[800:]), local.predict(X[800:]))


class _Recorder(ClassifierMixin, BaseEstimator):
    """Records what each partial_fit call receives."""

    def fit(self, X, y, **kwargs):
        del self.calls_
        return self.partial_fit(X, y, **kwargs)

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        self.calls_ = getattr(self, "calls_", []) + [(type(X), X.shape, X[:, 0, 0].copy(), y.copy(),
                                                      sample_weight.copy(), list(classes))]  # fmt: skip
        return self


def test_incremental_hands_whole_aligned_blocks_to_partial_fit_in_turn():
    ids = np.arange(50, dtype=np.float64)
    X = np.broadcast_to(ids[:, None, None], (50, 4, 3)).copy()
    dX = da.from_array(X, chunks=((10, 20, 5, 15), 4, 3))
    y = da.from_array(ids.astype(np.int64), chunks=7)
    with dask.config.set(scheduler="synchronous"):
        calls = Incremental(_Recorder(), random_state=0).fit(dX, y, classes=[0, 1], sample_weight=ids * 2).calls_
    assert len(calls) == 4
    starts = [int(c[2][0]) for c in calls]
    assert sorted(starts) == [0, 10, 30, 35] and starts != [0, 10, 30, 35]  # all blocks, shuffled
    for kind, shape, x_ids, y_block, w_block, classes in calls:
        assert kind is np.ndarray and shape[1:] == (4, 3)
        assert np.array_equal(x_ids, y_block) and np.array_equal(w_block, 2 * x_ids) and classes == [0, 1]
    with dask.config.set(scheduler="synchronous"):
        calls = Incremental(_Recorder(), shuffle_blocks=False).fit(dX, y, classes=[0, 1], sample_weight=ids).calls_
    assert [int(c[2][0]) for c in calls] == [0, 10, 30, 35]


def test_parallel_post_fit_matches_the_estimator(client, fitted_classifier):
    clf = fitted_classifier
    X, y = _problem(600, seed=3)
    wrapped = ParallelPostFit(clf)
    # Chunks of 256 rows are the batches the estimator predicts in: the same bits.
    dX = da.from_array(X, chunks=(256, -1, -1))
    proba = wrapped.predict_proba(dX)
    assert proba.shape == (600, 2) and proba.chunks == ((256, 256, 88), (2,)) and proba.dtype == np.float64
    assert type(proba._meta) is np.ndarray and proba._meta.dtype == np.float64 and proba._meta.ndim == 2
    np.testing.assert_array_equal(proba.compute(), clf.predict_proba(X))
    np.testing.assert_array_equal(wrapped.predict_log_proba(dX).compute(), clf.predict_log_proba(X))
    labels = wrapped.predict(dX)
    assert labels.shape == (600,) and labels.chunks == ((256, 256, 88),) and labels.dtype == clf.classes_.dtype
    np.testing.assert_array_equal(labels.compute(), clf.predict(X))
    assert wrapped.score(dX, da.from_array(y, chunks=100)) == clf.score(X, y)
    assert wrapped.score(dX, y, compute=False).compute() == clf.score(X, y)
    assert ParallelPostFit(clf, scoring="accuracy").score(dX, y) == pytest.approx(clf.score(X, y), abs=1e-12)
    # Other chunks: other batches, and float32 rounding may differ in the last bits.
    dX = da.from_array(X, chunks=(70, -1, -1))
    proba = wrapped.predict_proba(dX)
    assert proba.chunks == ((70,) * 8 + (40,), (2,))
    np.testing.assert_allclose(proba.compute(), clf.predict_proba(X), rtol=0, atol=1e-6)


def test_parallel_post_fit_output_shapes_follow_predict(client):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(90, 7, 2))
    dX = da.from_array(X, chunks=(40, 7, 2))
    for y in (X.cumsum(axis=1)[:, :, 0], X.cumsum(axis=1)):  # (n, steps) and (n, steps, 2) targets
        reg = RNNRegressor(hidden_layer_sizes=(4,), output="sequence", random_state=0).partial_fit(X, y)
        pred = ParallelPostFit(reg).predict(dX)
        assert pred.shape == y.shape and pred.chunks[0] == (40, 40, 10) and pred.dtype == np.float64
        np.testing.assert_allclose(pred.compute(), reg.predict(X), rtol=0, atol=1e-6)
    X2 = X[:, :, 0]  # 2-D: one feature per step
    reg = RNNRegressor(hidden_layer_sizes=(4,), random_state=0).partial_fit(X2, X2.sum(axis=1))
    pred = ParallelPostFit(reg).predict(da.from_array(X2, chunks=(30, 7)))
    assert pred.shape == (90,) and pred.chunks == ((30, 30, 30),)
    np.testing.assert_allclose(pred.compute(), reg.predict(X2), rtol=0, atol=1e-6)
    scaler = SequenceScaler().fit(X)
    Xt = ParallelPostFit(scaler).transform(dX)
    assert Xt.chunks == dX.chunks
    np.testing.assert_array_equal(Xt.compute(), scaler.transform(X))


def test_a_given_meta_sets_the_output_type_and_dtype(fitted_classifier):
    X, _ = _problem(40)
    dX = da.from_array(X, chunks=(20, -1, -1))
    wrapped = ParallelPostFit(fitted_classifier, predict_meta=np.array([], dtype=np.int8),
                              predict_proba_meta=np.empty((0, 0), dtype=np.float32))  # fmt: skip
    labels, proba = wrapped.predict(dX), wrapped.predict_proba(dX)
    assert labels.dtype == np.int8 and labels._meta.dtype == np.int8 and labels.shape == (40,)
    assert proba.dtype == np.float32 and proba.shape == (40, 2) and proba.chunks == ((20, 20), (2,))


def test_arrays_chunked_along_steps_or_features_are_refused(fitted_classifier):
    X, y = _problem(40)
    for chunks in ((20, 3, 3), (20, 6, 1)):
        dX = da.from_array(X, chunks=chunks)
        with pytest.raises(ValueError, match=r"chunked along its first axis .* chunks \(20, .*rechunk"):
            Incremental(RNNClassifier()).fit(dX, y, classes=[0, 1])
        with pytest.raises(ValueError, match=r"X must be chunked along its first axis"):
            ParallelPostFit(fitted_classifier).predict(dX)
    with pytest.raises(ValueError, match="same number of samples; got 40 and 39"):
        Incremental(RNNClassifier()).fit(da.from_array(X, chunks=(20, -1, -1)), y[:39], classes=[0, 1])


def test_numpy_input_passes_straight_to_the_estimator(fitted_classifier):
    X, y = _problem(120, seed=5)
    params = dict(hidden_layer_sizes=(4,), random_state=0)
    wrapped = Incremental(RNNClassifier(**params)).fit(X, y, classes=[0, 1])
    direct = RNNClassifier(**params).partial_fit(X, y, classes=[0, 1])
    assert isinstance(wrapped.predict_proba(X), np.ndarray)
    np.testing.assert_array_equal(wrapped.predict_proba(X), direct.predict_proba(X))
    post = ParallelPostFit(fitted_classifier)
    assert isinstance(post.predict(X), np.ndarray)
    np.testing.assert_array_equal(post.predict(X), fitted_classifier.predict(X))
    np.testing.assert_array_equal(post.predict_log_proba(X), fitted_classifier.predict_log_proba(X))
    assert post.score(X, y) == fitted_classifier.score(X, y)


def test_numbarnn_does_not_import_dask_and_a_missing_dask_ml_names_the_extra():
    code = "import sys, numbarnn; numbarnn.RNNClassifier; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
    code = "import sys; sys.modules['dask_ml'] = None; import numbarnn.dask"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode != 0
    assert 'ImportError: numbarnn.dask needs dask and dask-ml: pip install "numbarnn[dask]"' in run.stderr
