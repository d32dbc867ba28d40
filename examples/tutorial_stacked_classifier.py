"""Keras tutorial 3, ported by changing its imports: a stacked LSTM binary classifier.

Sequences of 8 steps with 16 features; the label says whether the sequence's
first feature trends upward. Two stacked LSTM layers, a sigmoid head, binary
cross-entropy, RMSprop, ``validation_split``, and ``evaluate`` returning the
loss and the accuracy.

Run it as it is::

    python examples/tutorial_stacked_classifier.py
"""

import numpy as np

from numbarnn import LSTM, Dense, Sequential
from numbarnn.utils import set_random_seed

timesteps, data_dim = 8, 16


def make_data(n, rng):
    """Random walks whose first feature drifts up (label 1) or down (label 0)."""
    labels = rng.integers(0, 2, n)
    drift = np.where(labels == 1, 0.3, -0.3)[:, None]
    X = rng.normal(size=(n, timesteps, data_dim))
    X[:, :, 0] = np.cumsum(rng.normal(scale=0.5, size=(n, timesteps)) + drift, axis=1)
    return X, labels


def main(epochs=10, n_train=2000, verbose=1):
    """Train; return (test loss, test accuracy)."""
    set_random_seed(0)
    rng = np.random.default_rng(0)
    X_train, y_train = make_data(n_train, rng)
    X_test, y_test = make_data(500, rng)

    model = Sequential()
    model.add(LSTM(32, return_sequences=True, input_shape=(timesteps, data_dim)))
    model.add(LSTM(32))
    model.add(Dense(1, activation="sigmoid"))
    model.compile(loss="binary_crossentropy", optimizer="rmsprop", metrics=["accuracy"])
    model.summary()

    model.fit(X_train, y_train, batch_size=64, epochs=epochs, validation_split=0.1, verbose=verbose)
    score, acc = model.evaluate(X_test, y_test, batch_size=64, verbose=0)
    return score, acc


if __name__ == "__main__":
    score, acc = main()
    print(f"test loss {score:.4f}, test accuracy {acc:.3f}")
