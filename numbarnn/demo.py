"""The main job: train recurrent models on real data shipped with numbarnn and compare with baselines.

Two problems, each against the textbook baseline on the same split:

- airline passengers (Box & Jenkins): forecast the last 36 months from the first
  108, 36 months ahead without seeing any test value (a recursive forecast),
  against the seasonal-naive forecast (repeat the last observed year);
- GunPoint (UCR): classify the 150 test series after training on the 50
  training series, against 1-nearest-neighbour with Euclidean distance.

Run it with ``numbarnn demo`` or ``python -m numbarnn demo``.
"""

import time
import warnings

import numpy as np

from . import _threads
from .datasets import load_airline, load_gunpoint

__all__ = ["forecast_airline", "classify_gunpoint", "run_demo"]

#: Months of context the forecaster reads.
WINDOW = 24
#: Values of a GunPoint series gathered into one step (150 values -> 30 steps of 5).
FRAME = 5


def seasonal_naive_rmse(series, n_train, horizon, season=12):
    """RMSE of repeating the last observed season over the ``horizon`` after ``n_train`` values."""
    last = series[n_train - season : n_train]
    forecast = last[np.arange(horizon) % season]
    return float(np.sqrt(np.mean((forecast - series[n_train : n_train + horizon]) ** 2)))


def forecast_airline(cell="lstm", epochs=300, seed=0, verbose=0):
    """Fit on the first 108 months, forecast the last 36 recursively.

    The model reads 24 months of seasonal differences of the log passengers
    (``log y_t - log y_{t-12}``, the year-on-year growth), scaled by a
    StandardScaler in the same Pipeline, and predicts the next month's; each
    forecast is fed back as input for the month after.

    Returns
    -------
    dict with keys 'rmse', 'baseline_rmse', 'forecast' (36,), 'truth' (36,),
    'train' (108,), 'fit_seconds', 'estimator'
    """
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .estimators import RNNRegressor

    series = load_airline()
    n_train, horizon = 108, 36
    logs = np.log(series[:n_train])
    growth = logs[12:] - logs[:-12]
    X = np.lib.stride_tricks.sliding_window_view(growth[:-1], WINDOW)
    y = growth[WINDOW:]
    model = make_pipeline(
        StandardScaler(),
        RNNRegressor(cell=cell, hidden_layer_sizes=(32,), max_iter=epochs, learning_rate_init=0.01, batch_size=16,
                     tol=1e-6, n_iter_no_change=50, random_state=seed, verbose=verbose),  # fmt: skip
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a ConvergenceWarning at max_iter is expected here
        model.fit(X, y)
    fit_seconds = time.perf_counter() - start
    g, z = list(growth), list(logs)
    for _ in range(horizon):
        step = float(model.predict(np.array(g[-WINDOW:])[None])[0])
        g.append(step)
        z.append(z[-12] + step)
    forecast = np.exp(np.array(z[n_train:]))
    truth = series[n_train:]
    return {
        "rmse": float(np.sqrt(np.mean((forecast - truth) ** 2))),
        "baseline_rmse": seasonal_naive_rmse(series, n_train, horizon),
        "forecast": forecast,
        "truth": truth,
        "train": series[:n_train],
        "fit_seconds": fit_seconds,
        "estimator": model[-1],
    }


def one_nn_accuracy(X_train, y_train, X_test, y_test):
    """Accuracy of 1-nearest-neighbour classification with Euclidean distance."""
    a, b = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)
    d = (b**2).sum(1)[:, None] - 2 * b @ a.T + (a**2).sum(1)[None, :]
    return float(np.mean(y_train[d.argmin(axis=1)] == y_test))


def classify_gunpoint(cell="lstm", epochs=200, seed=0, verbose=0):
    """Fit on the 50 training series, score on the 150 test series.

    Each series of 150 values is read as 30 steps of 5 consecutive values.

    Returns
    -------
    dict with keys 'accuracy', 'baseline_accuracy', 'fit_seconds', 'estimator'
    """
    from .estimators import RNNClassifier

    X_train, y_train, X_test, y_test = load_gunpoint()
    n_steps = X_train.shape[1] // FRAME
    clf = RNNClassifier(cell=cell, hidden_layer_sizes=(32,), max_iter=epochs, learning_rate_init=0.01, batch_size=16,
                        tol=1e-6, n_iter_no_change=50, random_state=seed, verbose=verbose)  # fmt: skip
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X_train.reshape(len(X_train), n_steps, FRAME), y_train)
    fit_seconds = time.perf_counter() - start
    accuracy = clf.score(X_test.reshape(len(X_test), n_steps, FRAME), y_test)
    return {
        "accuracy": float(accuracy),
        "baseline_accuracy": one_nn_accuracy(X_train, y_train, X_test, y_test),
        "fit_seconds": fit_seconds,
        "estimator": clf,
    }


def _blas_description():
    import scipy.linalg.cython_blas  # noqa: F401  (the BLAS the kernels call: load it so it is listed)
    from threadpoolctl import threadpool_info

    libs = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not libs:
        return "no BLAS found by threadpoolctl"
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')} kernels)" for i in libs)


def _plot(path, airline, gunpoint):
    from .plotting import _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    months = np.arange(144)
    axes[0].plot(months[:108], airline["train"], color="0.4", label="training months")
    axes[0].plot(months[108:], airline["truth"], color="k", label="truth")
    axes[0].plot(months[108:], airline["forecast"], color="tab:red", label="forecast")
    axes[0].set_title(f"Airline passengers: RMSE {airline['rmse']:.1f} (seasonal naive {airline['baseline_rmse']:.1f})")
    axes[0].set_xlabel("month since January 1949")
    axes[0].legend()
    for ax, result, name in ((axes[1], airline, "airline"), (axes[2], gunpoint, "GunPoint")):
        ax.plot(result["estimator"].loss_curve_)
        ax.set_title(f"{name}: training loss")
        ax.set_xlabel("epoch")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def run_demo(cell="lstm", epochs=None, seed=0, plot=None, verbose=1, print_fn=print):
    """Run both problems and print the scores beside the baselines, with timings.

    Parameters
    ----------
    cell : {'lstm', 'gru', 'simple'}, default='lstm'
    epochs : int, optional
        Maximum epochs of each fit (300 for the forecaster, 200 for the classifier by default).
    seed : int, default=0
    plot : str or path-like, optional
        Save the forecast and the loss curves to this image file (needs matplotlib).
    verbose : int, default=1
        1 shows a progress bar while each model trains.

    Returns
    -------
    dict with the two problems' results
    """
    if plot is not None:
        from .plotting import _pyplot

        _pyplot()  # fail now, not after training, if matplotlib is missing
    print_fn(f"numbarnn demo: cell={cell}, seed={seed}, threads={_threads.get_num_threads()}, BLAS: {_blas_description()}")
    print_fn("")
    print_fn("1. Airline passengers: forecast the last 36 months from the first 108 (recursive, no test value seen)")
    airline = forecast_airline(cell, 300 if epochs is None else epochs, seed, verbose)
    verdict = "beats" if airline["rmse"] < airline["baseline_rmse"] else "does not beat"
    print_fn(f"   RNNRegressor RMSE {airline['rmse']:.1f} {verdict} the seasonal-naive RMSE {airline['baseline_rmse']:.1f}")
    print_fn(f"   fit time {airline['fit_seconds']:.1f} s (compilation included), {airline['estimator'].n_iter_} epochs")
    print_fn("")
    print_fn("2. GunPoint: classify 150 test series after training on 50")
    gunpoint = classify_gunpoint(cell, 200 if epochs is None else epochs, seed, verbose)
    verdict = "reaches" if gunpoint["accuracy"] >= gunpoint["baseline_accuracy"] else "does not reach"
    print_fn(f"   RNNClassifier accuracy {gunpoint['accuracy']:.3f} {verdict} 1-nearest-neighbour's "
             f"{gunpoint['baseline_accuracy']:.3f}")  # fmt: skip
    print_fn(f"   fit time {gunpoint['fit_seconds']:.1f} s (compilation included), {gunpoint['estimator'].n_iter_} epochs")
    if plot is not None:
        _plot(plot, airline, gunpoint)
        print_fn(f"\nsaved the forecast and the loss curves to {plot}")
    return {"airline": airline, "gunpoint": gunpoint}
