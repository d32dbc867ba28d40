"""Model files written by numbarnn 0.1 (tests/data/numbarnn_0_1, see make_files.py there) still load:
the same predictions (to float32 rounding: numbarnn's products now add each sum in a fixed
order of their own, where 0.1 used BLAS), and training resumes from the saved optimizer state."""

import pathlib

import numpy as np
import pytest

import numbarnn

DATA = pathlib.Path(__file__).parent / "data" / "numbarnn_0_1"


@pytest.mark.parametrize("name", ["lstm", "bigru_masked"])
def test_a_numbarnn_0_1_file_loads_predicts_and_resumes(name):
    expected = np.load(DATA / f"{name}_expected.npz")
    model = numbarnn.load_model(DATA / f"{name}.numbarnn")
    np.testing.assert_allclose(model.predict(expected["x"], verbose=0), expected["pred"], rtol=1e-6, atol=1e-7)
    model.train_on_batch(expected["x"][:8], expected["y"][:8])
    after = model.get_weights()
    assert len(after) == len([k for k in expected.files if k.startswith("after_")])
    for i, w in enumerate(after):
        np.testing.assert_allclose(w, expected[f"after_{i}"], rtol=1e-6, atol=1e-7)


def test_weights_of_a_numbarnn_0_1_file_load_into_a_new_model():
    expected = np.load(DATA / "lstm_expected.npz")
    model = numbarnn.Sequential([numbarnn.LSTM(5, input_shape=(6, 3)), numbarnn.Dense(2)])
    model.load_weights(DATA / "lstm.numbarnn")
    np.testing.assert_allclose(model.predict(expected["x"], verbose=0), expected["pred"], rtol=1e-6, atol=1e-7)
