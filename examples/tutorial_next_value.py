"""Keras tutorial 2, ported by changing its imports: predict the next value of a sequence as a class.

The integers 0..9 repeat in order; given one value, the model predicts the
next, one-hot encoded with ``to_categorical``, with a softmax head and
categorical cross-entropy, batch size 1, and validation data. It runs once
with an LSTM and once with a GRU.

Run it as it is::

    python examples/tutorial_next_value.py
"""

import numpy as np

from numbarnn import GRU, LSTM, Dense, Sequential
from numbarnn.utils import set_random_seed, to_categorical


def make_data(n=100):
    """Integers 0..9 in order as (n, 1, 1) inputs; the next integer, one-hot, as targets."""
    seq = np.arange(n + 1) % 10
    x = seq[:-1].reshape((n, 1, 1)) / 9.0
    y = to_categorical(seq[1:], num_classes=10)
    return x, y


def train(cell, epochs=100, verbose=2):
    """Fit one model; return its History and its test accuracy."""
    x_train, y_train = make_data(100)
    x_test, y_test = make_data(30)

    model = Sequential()
    model.add(cell(50, activation="tanh", input_shape=(1, 1)))
    model.add(Dense(10, activation="softmax"))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=1, validation_data=(x_test, y_test),
                        verbose=verbose)  # fmt: skip
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return history, accuracy


def main(epochs=100, verbose=2):
    """Train the LSTM and the GRU model; return {'LSTM': accuracy, 'GRU': accuracy}."""
    set_random_seed(3)
    results = {}
    for cell in (LSTM, GRU):
        _, results[cell.__name__] = train(cell, epochs, verbose)
    return results


if __name__ == "__main__":
    for name, accuracy in main(verbose=0).items():
        print(f"{name}: test accuracy {accuracy:.3f}")
