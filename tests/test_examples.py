"""Every example runs in a short smoke mode."""

import numpy as np

from examples import train_lstm_generated


def test_train_lstm_generated_loss_falls():
    losses, test_mse = train_lstm_generated.main(epochs=3, n_train=256, verbose=False)
    assert np.isfinite(losses).all() and np.isfinite(test_mse)
    assert losses[-1] < losses[0]


# The five Keras tutorial scripts, ported by changing their imports (fewer epochs where noted).


def test_tutorial_sequence_sum_reaches_the_stated_quality():
    from examples import tutorial_sequence_sum

    per_epoch, mse = tutorial_sequence_sum.main(epochs=30, verbose=0)  # the script runs 100
    assert per_epoch > 0
    assert mse < 0.01


def test_tutorial_next_value_lstm_and_gru_learn():
    from examples import tutorial_next_value

    results = tutorial_next_value.main(epochs=40, verbose=0)  # the script runs 100
    assert set(results) == {"LSTM", "GRU"}
    assert min(results.values()) >= 0.5  # chance is 0.1


def test_tutorial_stacked_classifier_runs(capsys):
    from examples import tutorial_stacked_classifier

    score, acc = tutorial_stacked_classifier.main(epochs=2, n_train=500, verbose=0)
    assert np.isfinite(score) and acc > 0.6  # chance is about 0.5
    assert "Total params: 14,625" in capsys.readouterr().out


def test_tutorial_regression_runs():
    from examples import tutorial_regression

    loss, naive = tutorial_regression.main(epochs=2, n_points=600, verbose=0)
    assert np.isfinite(loss) and np.isfinite(naive)


def test_tutorial_char_lm_loss_falls_and_generates():
    from examples import tutorial_char_lm

    bits, samples = tutorial_char_lm.main(n_chars_text=10_000, epochs=2, gen_length=20, verbose=0)
    assert len(bits) == 2 and bits[1] < bits[0]
    assert set(samples) == {0, 0.5, 1.0} and all(len(s) == 20 for s in samples.values())
