"""Keras tutorial 1, ported by changing its imports: learn the sum of a sequence.

An LSTM reads 10 random numbers in [0, 1) and predicts their sum. The Keras
original imports ``from keras.models import Sequential`` and
``from keras.layers import LSTM, Dense``; everything below those lines is the
tutorial's code.

Run it as it is::

    python examples/tutorial_sequence_sum.py
"""

import time

import numpy as np

from numbarnn import LSTM, Dense, Sequential
from numbarnn.utils import set_random_seed


def main(epochs=100, n_samples=1000, verbose=2):
    """Train, then return (seconds per epoch, MSE on 1000 new sequences)."""
    set_random_seed(7)
    X = np.random.rand(n_samples, 10, 1)
    y = X.sum(axis=1)

    model = Sequential()
    model.add(LSTM(64, input_shape=(10, 1)))
    model.add(Dense(1))
    model.compile(optimizer="adam", loss="mse")

    start = time.perf_counter()
    model.fit(X, y, epochs=epochs, batch_size=32, verbose=verbose)
    per_epoch = (time.perf_counter() - start) / epochs

    X_new = np.random.rand(1000, 10, 1)
    mse = float(np.mean((model.predict(X_new, verbose=0) - X_new.sum(axis=1)) ** 2))
    return per_epoch, mse


if __name__ == "__main__":
    per_epoch, mse = main()
    print(f"time per epoch: {per_epoch * 1e3:.1f} ms (first epoch includes loading the compiled kernels)")
    print(f"MSE on new sequences: {mse:.5f} (target: below 0.01)")
