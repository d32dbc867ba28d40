"""Keras tutorial 4, ported by changing its imports: forecast a noisy sine wave from a window.

Windows of 20 past values (one feature) predict the next value; an
``LSTM(units=50)`` and a ``Dense(1)`` head, MSE, Adam, 10 epochs, and
``model.evaluate`` on the held-out end of the series, compared with the naive
forecast that repeats the last value.

Run it as it is::

    python examples/tutorial_regression.py
"""

import numpy as np

from numbarnn import LSTM, Dense, Sequential
from numbarnn.utils import set_random_seed

timesteps, features = 20, 1


def make_windows(series, timesteps):
    """(n, timesteps, 1) windows and the value following each."""
    X = np.lib.stride_tricks.sliding_window_view(series[:-1], timesteps)[..., None]
    y = series[timesteps:]
    return X, y


def main(epochs=10, n_points=3000, verbose=1):
    """Train; return (test MSE of the model, test MSE of the naive last-value forecast)."""
    set_random_seed(0)
    rng = np.random.default_rng(0)
    t = np.arange(n_points)
    series = np.sin(2 * np.pi * t / 50) + 0.5 * np.sin(2 * np.pi * t / 23) + rng.normal(scale=0.1, size=n_points)
    X, y = make_windows(series, timesteps)
    split = int(0.8 * len(X))
    X_train, y_train, X_test, y_test = X[:split], y[:split], X[split:], y[split:]

    model = Sequential()
    model.add(LSTM(units=50, input_shape=(timesteps, features)))
    model.add(Dense(1))
    model.compile(loss="mse", optimizer="adam")
    model.fit(X_train, y_train, epochs=epochs, batch_size=32, verbose=verbose)

    loss = model.evaluate(X_test, y_test, verbose=0)
    naive = float(np.mean((X_test[:, -1, 0] - y_test) ** 2))
    return loss, naive


if __name__ == "__main__":
    loss, naive = main()
    print(f"test MSE {loss:.4f} (naive last-value forecast: {naive:.4f})")
