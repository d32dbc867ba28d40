"""Every example runs in a short smoke mode."""

import numpy as np
import pytest

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


# The main-job examples (smoke mode: fewer epochs, less data).


def test_forecast_sunspots_runs():
    from examples import forecast_sunspots

    rnn_rmse, ar_rmse = forecast_sunspots.main(max_iter=3, verbose=False)
    assert np.isfinite(rnn_rmse) and 10 < ar_rmse < 40


def test_gunpoint_grid_search_runs():
    from examples import gunpoint_grid_search

    best, accuracy, baseline = gunpoint_grid_search.main(max_iter=2, cells=("gru",), sizes=((4,), (8,)), verbose=False)
    assert best["cell"] == "gru" and 0 <= accuracy <= 1 and baseline == pytest.approx(0.913, abs=0.001)


def test_variable_length_sequences_are_exact():
    from examples import variable_length_sequences

    accuracy, difference = variable_length_sequences.main(n_train=60, max_iter=3, verbose=False)
    assert 0 <= accuracy <= 1 and difference < 1e-12


def test_text_generation_runs_and_the_trigram_baseline_is_a_distribution():
    from examples import text_generation

    model = text_generation.TrigramModel(3).fit(np.array([0, 1, 2] * 50), np.array([0, 1, 2, 0, 1]))
    l3, l2, l1, l0 = model.weights
    assert l3 + l2 + l1 + l0 == pytest.approx(1.0)
    assert model.bits_per_char(np.array([0, 1, 2, 0, 1, 2])) < 0.6  # a predictable sequence costs few bits
    bits, baseline, samples = text_generation.main(n_chars=20_000, epochs=1, units=16, sample_length=10, verbose=False)
    assert np.isfinite(bits) and np.isfinite(baseline) and all(len(s) == 10 for s in samples.values())


def test_seq2seq_addition_runs_and_decodes():
    from examples import seq2seq_addition

    curve, seconds = seq2seq_addition.main(n_train=600, n_test=100, epochs=2, units=16, verbose=0)
    assert len(curve) == len(seconds) == 2 and all(0 <= a <= 1 for a in curve)
    enc, dec, target = seq2seq_addition.encode(["12+5   "], ["17  "])
    assert enc.shape == (1, 7, 13) and dec[0, 0, seq2seq_addition.START] == 1 and target[0, 0].argmax() == 1


def test_dask_incremental_trains_blockwise():
    pytest.importorskip("dask_ml")
    pytest.importorskip("distributed")
    from examples import dask_incremental

    accuracy, seconds, nbytes, peak = dask_incremental.main(**dask_incremental.SMALL, verbose=False)
    assert accuracy > 0.8 and seconds > 0 and nbytes == 20_000 * 25 * 32 * 4
