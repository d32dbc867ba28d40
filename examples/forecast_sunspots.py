"""Forecast yearly sunspot numbers from a window of past years, against an autoregressive baseline.

Both models see the same 12 past years and are fitted on the same years
(up to 1945); both forecast each year of 1946-2008 one year ahead from the
observed past. The baseline is a linear autoregression AR(12) fitted by least
squares; the recurrent model is an ``RNNRegressor`` with inputs and target
scaled inside the estimator (a Pipeline and a TransformedTargetRegressor).

Run it as it is::

    python examples/forecast_sunspots.py
"""

import time
import warnings

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from numbarnn import RNNRegressor
from numbarnn.datasets import load_sunspots

WINDOW = 12


def main(max_iter=200, verbose=True):
    """Fit both models; return (RNN test RMSE, AR test RMSE)."""
    values, years = load_sunspots(return_years=True)
    X = np.lib.stride_tricks.sliding_window_view(values[:-1], WINDOW)
    y = values[WINDOW:]
    target_years = years[WINDOW:]
    train = target_years <= 1945
    rnn = TransformedTargetRegressor(
        regressor=make_pipeline(
            StandardScaler(),
            RNNRegressor(cell="gru", hidden_layer_sizes=(16,), max_iter=max_iter, learning_rate_init=0.005,
                         batch_size=16, random_state=0),
        ),
        transformer=StandardScaler(),
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rnn.fit(X[train], y[train])
    seconds = time.perf_counter() - start
    ar = LinearRegression().fit(X[train], y[train])

    def rmse(pred):
        return float(np.sqrt(np.mean((pred - y[~train]) ** 2)))

    rnn_rmse, ar_rmse = rmse(rnn.predict(X[~train])), rmse(ar.predict(X[~train]))
    if verbose:
        print(f"years {target_years[train][0]}-{target_years[train][-1]} to fit, "
              f"{target_years[~train][0]}-{target_years[~train][-1]} to forecast one year ahead")  # fmt: skip
        print(f"GRU RNNRegressor: RMSE {rnn_rmse:.1f} (fit in {seconds:.1f} s)")
        print(f"AR({WINDOW}) baseline:  RMSE {ar_rmse:.1f}")
    return rnn_rmse, ar_rmse


if __name__ == "__main__":
    main()
