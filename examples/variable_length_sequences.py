"""Sequences of different lengths, given as a list of arrays: no manual padding.

Each sequence is a noisy sine wave of random length (20 to 80 steps) with two
features (the signal and its first difference); the task is to tell fast from
slow waves. ``RNNClassifier`` pads the list and masks the padding inside, so a
sequence's prediction does not depend on what it was batched with: the script
checks that predicting the whole list equals predicting each sequence alone.

Run it as it is::

    python examples/variable_length_sequences.py
"""

import numpy as np

from numbarnn import RNNClassifier


def make_sequences(n, rng):
    """List of (length_i, 2) arrays and their labels ('fast' or 'slow')."""
    seqs, labels = [], []
    for _ in range(n):
        fast = rng.random() < 0.5
        period = rng.uniform(4, 8) if fast else rng.uniform(12, 24)
        length = int(rng.integers(20, 81))
        t = np.arange(length)
        signal = np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)) + rng.normal(scale=0.3, size=length)
        seqs.append(np.column_stack([signal, np.diff(signal, prepend=signal[0])]))
        labels.append("fast" if fast else "slow")
    return seqs, np.array(labels)


def main(n_train=400, max_iter=40, verbose=True):
    """Train; return (test accuracy, largest difference between batched and one-by-one probabilities)."""
    rng = np.random.default_rng(0)
    X_train, y_train = make_sequences(n_train, rng)
    X_test, y_test = make_sequences(200, rng)
    clf = RNNClassifier(cell="gru", hidden_layer_sizes=(16,), max_iter=max_iter, learning_rate_init=0.01,
                        random_state=0, dtype="float64")  # fmt: skip
    clf.fit(X_train, y_train)
    accuracy = clf.score(X_test, y_test)
    together = clf.predict_proba(X_test[:20])
    alone = np.vstack([clf.predict_proba([s]) for s in X_test[:20]])
    difference = float(np.abs(together - alone).max())
    if verbose:
        lengths = [len(s) for s in X_train]
        print(f"{n_train} training sequences of {min(lengths)} to {max(lengths)} steps, {clf.n_features_in_} features")
        print(f"test accuracy {accuracy:.3f}")
        print(f"batched vs one-by-one predictions differ by at most {difference:.1e}")
    return accuracy, difference


if __name__ == "__main__":
    main()
