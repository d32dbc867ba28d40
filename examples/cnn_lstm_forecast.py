"""Forecast yearly sunspot numbers with a CNN-LSTM, beside a plain LSTM and an autoregressive baseline.

All three see the same 12 past years (the windowing of forecast_sunspots.py)
and are fitted on the same years (up to 1945); each forecasts every year of
1946-2008 one year ahead from the observed past. The baseline is a linear
autoregression AR(12) fitted by least squares. The CNN-LSTM runs a causal
Conv1D over the window and halves it with MaxPooling1D, so its LSTM reads 6
steps of 16 learned features instead of 12 raw values; the plain LSTM reads
the raw window. Inputs and targets are standardized with the training years'
mean and spread. With some 230 training years, expect all three within a few
sunspots of each other (an RMSE near 20): the cycle is mostly linear
structure that AR already captures.

Run it as it is (about 10 s on 2 cores)::

    python examples/cnn_lstm_forecast.py
"""

import time

import numpy as np

from numbarnn import LSTM, Dense, Input, Sequential
from numbarnn.datasets import load_sunspots
from numbarnn.layers import Conv1D, MaxPooling1D
from numbarnn.optimizers import Adam
from numbarnn.utils import set_random_seed

WINDOW = 12  # past years each forecast sees (about one solar cycle)


def windows(values, years):
    """(X, y, target years): X[i] holds the WINDOW values before y[i]."""
    X = np.lib.stride_tricks.sliding_window_view(values[:-1], WINDOW)
    return X, values[WINDOW:], years[WINDOW:]


def cnn_lstm():
    return Sequential([
        Input((WINDOW, 1)),
        Conv1D(16, 3, padding="causal", activation="relu"),
        MaxPooling1D(2),
        LSTM(16),
        Dense(1),
    ])  # fmt: skip


def plain_lstm():
    return Sequential([Input((WINDOW, 1)), LSTM(16), Dense(1)])


def main(epochs=100, verbose=True):
    """Fit the three models; return {name: test RMSE in sunspot numbers}."""
    values, years = load_sunspots(return_years=True)
    X, y, target_years = windows(values, years)
    train = target_years <= 1945
    mean, std = values[years <= 1945].mean(), values[years <= 1945].std()
    Xs, ys = ((X - mean) / std)[..., None], (y - mean) / std

    def rmse(pred):
        return float(np.sqrt(np.mean((pred - y[~train]) ** 2)))

    results, seconds = {}, {}
    for name, make in (("CNN-LSTM", cnn_lstm), ("LSTM", plain_lstm)):
        set_random_seed(0)
        model = make()
        model.compile(optimizer=Adam(0.002), loss="mse")
        start = time.perf_counter()
        model.fit(Xs[train], ys[train], epochs=epochs, batch_size=16, verbose=0)
        seconds[name] = time.perf_counter() - start
        results[name] = rmse(model.predict(Xs[~train], verbose=0)[:, 0] * std + mean)
    # AR(WINDOW) by least squares, with an intercept
    A = np.column_stack([X, np.ones(len(X))])
    coef, *_ = np.linalg.lstsq(A[train], y[train], rcond=None)
    results[f"AR({WINDOW})"] = rmse(A[~train] @ coef)
    if verbose:
        print(f"years {target_years[train][0]}-{target_years[train][-1]} to fit, "
              f"{target_years[~train][0]}-{target_years[~train][-1]} to forecast one year ahead")  # fmt: skip
        for name, value in results.items():
            took = f" (fit in {seconds[name]:.1f} s)" if name in seconds else ""
            print(f"{name:9s} test RMSE {value:5.1f}{took}")
    return results


if __name__ == "__main__":
    main()
