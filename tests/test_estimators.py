"""RNNRegressor and RNNClassifier: scikit-learn's own checks, input forms, the contract, the ecosystem."""

import pickle
import subprocess
import sys
import warnings

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from numbarnn import RNNClassifier, RNNRegressor, SequenceScaler
from numbarnn import estimators as estimators_module

FAST = dict(hidden_layer_sizes=(16,), max_iter=200, learning_rate_init=0.01, batch_size=200, random_state=0)

# Default parameters, both dtypes: every check passes, none is expected to fail (the weighted fit
# equals the fit on repeated rows, and predictions do not depend on the rows' order, bit for bit).
@parametrize_with_checks([RNNRegressor(), RNNClassifier(), RNNRegressor(dtype="float64"), RNNClassifier(dtype="float64")])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def sum_problem(n=80, T=6, F=1, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, T, F))
    return X, X.sum(axis=(1, 2))


def quick(cls, **kw):
    params = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0, dtype="float64")
    params.update(kw)
    return cls(**params)


# -- input forms -------------------------------------------------------------------


def test_two_d_input_is_one_feature_per_step_and_fixes_the_length():
    X, y = sum_problem(F=1)
    a = quick(RNNRegressor).fit(X[:, :, 0], y)
    b = quick(RNNRegressor).fit(X, y)
    assert a.n_features_in_ == 6 and b.n_features_in_ == 1
    np.testing.assert_array_equal(a.predict(X[:, :, 0]), b.predict(X))
    with pytest.raises(ValueError, match="expecting 6 features"):
        a.predict(X[:, :4, 0])
    assert b.predict(np.random.rand(3, 11, 1)).shape == (3,)  # 3-D fits take any length


def test_variable_length_lists_are_exact():
    rng = np.random.default_rng(1)
    seqs = [rng.normal(size=(L, 2)) for L in (3, 7, 5, 1, 7, 4)]
    y = np.array([s[:, 0].sum() for s in seqs])
    reg = quick(RNNRegressor).fit(seqs, y)
    assert reg.n_features_in_ == 2
    together = reg.predict(seqs)
    alone = np.array([reg.predict(s[None])[0] for s in seqs])
    np.testing.assert_allclose(together, alone, rtol=1e-12, atol=1e-12)
    clf = quick(RNNClassifier).fit(seqs, y > 0)
    assert clf.predict(seqs).shape == (6,)


def test_a_regular_nested_list_is_an_array():
    X, y = sum_problem(n=20)
    as_list = X.tolist()
    a = quick(RNNRegressor).fit(as_list, y)
    b = quick(RNNRegressor).fit(X, y)
    np.testing.assert_array_equal(a.predict(as_list), b.predict(X))
    assert a._input_kind == "3d"


def test_dataframe_sets_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = sum_problem(F=1)
    df = pd.DataFrame(X[:, :, 0], columns=[f"t{i}" for i in range(6)])
    reg = quick(RNNRegressor).fit(df, y)
    assert list(reg.feature_names_in_) == list(df.columns)
    assert reg.predict(df).shape == (80,)


def test_sequence_output_regression_and_classification():
    X, _ = sum_problem(F=2)
    y_seq = np.cumsum(X[:, :, 0], axis=1)
    reg = quick(RNNRegressor, output="sequence").fit(X, y_seq)
    assert reg.predict(X).shape == (80, 6)
    reg2 = quick(RNNRegressor, output="sequence").fit(X, np.stack([y_seq, -y_seq], axis=2))
    assert reg2.predict(X).shape == (80, 6, 2)
    labels = np.where(X[:, :, 1] > 0.5, "hi", "lo")
    clf = quick(RNNClassifier, output="sequence").fit(X, labels)
    assert clf.predict(X).shape == (80, 6) and set(np.unique(clf.predict(X))) <= {"hi", "lo"}
    assert clf.predict_proba(X).shape == (80, 6, 2)
    assert 0 <= clf.score(X, labels) <= 1


def test_multioutput_regression():
    X, y = sum_problem()
    Y = np.stack([y, 2 * y, -y], axis=1)
    reg = quick(RNNRegressor).fit(X, Y)
    assert reg.predict(X).shape == (80, 3) and reg.n_outputs_ == 3


@pytest.mark.parametrize("labels", [np.array(["cat", "dog", "eel"]), np.array([3, 10, 7]), np.array([True, False])])
def test_any_label_type(labels):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5, 2))
    y = labels[rng.integers(0, len(labels), 60)]
    clf = quick(RNNClassifier).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, np.unique(labels))
    proba = clf.predict_proba(X)
    assert proba.shape == (60, len(labels))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    assert set(clf.predict(X)) <= set(labels)


def test_class_weight_balanced_and_dict():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4, 1))
    y = np.array(["a"] * 50 + ["b"] * 10)
    balanced = quick(RNNClassifier, class_weight="balanced", max_iter=30).fit(X, y)
    manual = quick(RNNClassifier, class_weight={"a": 60 / 100, "b": 60 / 20}, max_iter=30).fit(X, y)
    np.testing.assert_allclose(balanced.predict_proba(X), manual.predict_proba(X), rtol=1e-10)
    with pytest.raises(ValueError, match="not a class"):
        quick(RNNClassifier, class_weight={"z": 2.0}).fit(X, y)


# -- the contract ---------------------------------------------------------------------


def test_same_random_state_same_model_bit_for_bit():
    X, y = sum_problem()
    params = dict(dropout=0.2, recurrent_dropout=0.2, bidirectional=True, max_iter=4, batch_size=16, dtype="float32")
    a = quick(RNNRegressor, **params).fit(X, y)
    b = quick(RNNRegressor, **params).fit(X, y)
    for wa, wb in zip(a.model_.get_weights(), b.model_.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    c = quick(RNNRegressor, **{**params, "random_state": 1}).fit(X, y)
    assert not np.array_equal(a.predict(X), c.predict(X))


def test_pickle_and_joblib_in_a_new_process(tmp_path):
    X, y = sum_problem()
    reg = quick(RNNRegressor, cell="gru").fit(X, y)
    expected = reg.predict(X)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(reg)).predict(X), expected)
    joblib.dump(reg, tmp_path / "reg.joblib")
    np.save(tmp_path / "X.npy", X)
    code = (
        "import joblib, numpy as np, sys; "
        f"reg = joblib.load({str(tmp_path / 'reg.joblib')!r}); "
        f"np.save({str(tmp_path / 'pred.npy')!r}, reg.predict(np.load({str(tmp_path / 'X.npy')!r})))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "pred.npy"), expected)


def test_params_are_stored_as_given_and_validated_in_fit():
    rs = np.random.RandomState(3)
    est = RNNRegressor(hidden_layer_sizes=[4, "x"], random_state=rs)
    assert est.get_params()["random_state"] is rs
    X, y = sum_problem()
    with pytest.raises(TypeError, match="hidden_layer_sizes"):
        est.fit(X, y)
    for bad, exc in [({"cell": "rnn"}, ValueError), ({"dropout": 1.0}, ValueError), ({"optimizer": "lbfgs"}, ValueError),
                     ({"max_iter": 0}, ValueError), ({"batch_size": 2.5}, TypeError),
                     ({"output": "all"}, ValueError), ({"dtype": "float16"}, ValueError)]:  # fmt: skip
        with pytest.raises(exc):
            quick(RNNRegressor, **bad).fit(X, y)
    assert clone(quick(RNNRegressor, hidden_layer_sizes=(3, 2))).get_params()["hidden_layer_sizes"] == (3, 2)


def _fitted_attributes(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_") or k.startswith("_")}


@pytest.mark.parametrize("failure", ["keyboard", "nan", "error"])
def test_failed_fit_keeps_the_previous_state(failure, monkeypatch):
    X, y = sum_problem()
    reg = quick(RNNRegressor).fit(X, y)
    before_pred = reg.predict(X)
    before = _fitted_attributes(reg)
    if failure == "nan":
        reg.set_params(optimizer="sgd", learning_rate_init=1e12, max_iter=20, batch_size=8)
        with pytest.raises(ValueError, match="loss became"):
            reg.fit(X * 1e3, y)
    else:
        exc = KeyboardInterrupt if failure == "keyboard" else RuntimeError
        original = estimators_module._EpochMonitor.on_epoch_end

        def interrupt(self, epoch, logs=None):
            original(self, epoch, logs)
            if epoch == 2:
                raise exc("stop")

        monkeypatch.setattr(estimators_module._EpochMonitor, "on_epoch_end", interrupt)
        with pytest.raises(exc):
            reg.fit(X[:, :4], y)  # different data and n_features: nothing of it may stay
    assert _fitted_attributes(reg).keys() == before.keys()
    assert reg.n_features_in_ == 1 and reg.loss_curve_ is before["loss_curve_"]
    np.testing.assert_array_equal(reg.predict(X), before_pred)


def test_failed_first_fit_leaves_the_estimator_unfitted(monkeypatch):
    X, y = sum_problem()
    reg = quick(RNNRegressor)

    def boom(self, epoch, logs=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(estimators_module._EpochMonitor, "on_epoch_end", boom)
    with pytest.raises(KeyboardInterrupt):
        reg.fit(X, y)
    assert not any(k.endswith("_") for k in vars(reg))


def test_partial_fit_and_warm_start():
    X, y = sum_problem()
    labels = (y > 3).astype(int)
    clf = quick(RNNClassifier)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, labels)
    for _ in range(3):
        clf.partial_fit(X, labels, classes=[0, 1])
    assert clf.n_iter_ == 3 and clf.t_ == 240 and len(clf.loss_curve_) == 3
    with pytest.raises(ValueError, match="not among classes_"):
        clf.partial_fit(X, labels + 5)
    assert clf.n_iter_ == 3

    reg = quick(RNNRegressor, warm_start=True, max_iter=3, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
        first = reg.model_
        reg.fit(X, y)
    assert reg.n_iter_ == 6 and len(reg.loss_curve_) == 6 and reg.model_ is not first


def test_early_stopping_records_validation_scores():
    X, y = sum_problem(n=200)
    reg = quick(RNNRegressor, early_stopping=True, max_iter=60, n_iter_no_change=3, learning_rate_init=0.02)
    reg.fit(X, y)
    assert reg.best_loss_ is None and len(reg.validation_scores_) == reg.n_iter_
    assert reg.best_validation_score_ == max(reg.validation_scores_)
    plain = quick(RNNRegressor, max_iter=3).fit(X, y)
    assert plain.validation_scores_ is None and plain.best_loss_ == min(plain.loss_curve_)


def test_convergence_warning_and_verbose_progress(capsys):
    X, y = sum_problem()
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        quick(RNNRegressor, max_iter=2, tol=0).fit(X, y)
    quick(RNNRegressor, max_iter=2, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "2/2" in out and "loss: " in out


def test_loss_curve_plot_and_missing_matplotlib(monkeypatch):
    from numbarnn import plotting

    X, y = sum_problem()
    reg = quick(RNNRegressor, max_iter=3).fit(X, y)
    try:
        import matplotlib

        matplotlib.use("Agg")
        ax = plotting.plot_loss_curve(reg)
        assert len(ax.lines[0].get_xdata()) == 3
    except ImportError:
        pass
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"pip install 'numbarnn\[plot\]'"):
        plotting.plot_loss_curve(reg)


# -- the ecosystem ----------------------------------------------------------------------


def test_sequence_scaler_in_a_pipeline_on_3d_and_lists():
    X, y = sum_problem(F=3)
    X = X * [1.0, 100.0, 0.01] + [0.0, 50.0, -3.0]
    scaler = SequenceScaler().fit(X)
    Xs = scaler.transform(X)
    np.testing.assert_allclose(Xs.reshape(-1, 3).mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(Xs.reshape(-1, 3).std(axis=0), 1, rtol=1e-12)
    np.testing.assert_allclose(scaler.inverse_transform(Xs), X, rtol=1e-12)
    pipe = make_pipeline(SequenceScaler(), quick(RNNRegressor)).fit(X, y)
    assert pipe.predict(X).shape == (80,)
    seqs = [X[i, : 2 + i % 4] for i in range(10)]
    fitted = SequenceScaler().fit(seqs)
    pooled = np.concatenate(seqs)
    np.testing.assert_allclose(fitted.mean_, pooled.mean(axis=0))  # padding never enters the statistics
    assert [s.shape for s in fitted.transform(seqs)] == [s.shape for s in seqs]


def test_pipeline_with_sklearn_scaler_and_transformed_target():
    X, y = sum_problem(F=1)
    X2 = X[:, :, 0] * 100
    pipe = make_pipeline(StandardScaler(), quick(RNNRegressor)).fit(X2, y)
    scaled = StandardScaler().fit(X2).transform(X2)
    np.testing.assert_array_equal(pipe.predict(X2), quick(RNNRegressor).fit(scaled, y).predict(scaled))
    ttr = TransformedTargetRegressor(regressor=quick(RNNRegressor), transformer=StandardScaler()).fit(X, y * 1000)
    assert ttr.predict(X).shape == (80,)


def test_grid_search_and_cross_val_in_two_processes():
    X, y = sum_problem(n=60)
    grid = GridSearchCV(quick(RNNRegressor), {"cell": ["lstm", "gru"], "hidden_layer_sizes": [(4,), (8,)]}, cv=2,
                        n_jobs=2)  # fmt: skip
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 4 and hasattr(grid.best_estimator_, "model_")
    scores = cross_val_score(quick(RNNClassifier), X, y > 3, cv=3, n_jobs=2)
    assert scores.shape == (3,)


def _worker_threads(_):
    import numbarnn

    return numbarnn.get_num_threads()


def test_loky_workers_do_not_oversubscribe():
    from joblib import Parallel, delayed

    threads = Parallel(n_jobs=2, backend="loky")(delayed(_worker_threads)(i) for i in range(2))
    cpus = joblib.cpu_count()
    assert all(t <= max(cpus // 2, 1) for t in threads), threads


def test_dask_grid_search_on_a_local_cluster():
    distributed = pytest.importorskip("distributed")
    X, y = sum_problem(n=40)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster):
            with joblib.parallel_backend("dask"):
                grid = GridSearchCV(quick(RNNRegressor), {"cell": ["lstm", "simple"]}, cv=2).fit(X, y)
    assert len(grid.cv_results_["params"]) == 2 and hasattr(grid.best_estimator_, "model_")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_does_not_copy_an_input_of_the_working_dtype():
    import tracemalloc

    rng = np.random.default_rng(0)
    X = rng.normal(size=(16000, 50, 8)).astype(np.float32)  # 25.6 MB, C-contiguous float32
    y = X[:, :, 0].sum(axis=1)
    RNNRegressor(hidden_layer_sizes=(4,), max_iter=1).fit(X[:50], y[:50])  # compile outside the measurement
    tracemalloc.start()
    try:
        RNNRegressor(hidden_layer_sizes=(4,), max_iter=1).fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # what a fit allocates is a few batches' worth (about 5 MB here), not a copy of X
    assert peak < 0.4 * X.nbytes
