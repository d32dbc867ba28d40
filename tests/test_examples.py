"""Every example runs in a short smoke mode."""

import numpy as np

from examples import train_lstm_generated


def test_train_lstm_generated_loss_falls():
    losses, test_mse = train_lstm_generated.main(epochs=3, n_train=256, verbose=False)
    assert np.isfinite(losses).all() and np.isfinite(test_mse)
    assert losses[-1] < losses[0]
