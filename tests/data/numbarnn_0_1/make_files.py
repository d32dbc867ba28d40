"""Writes the numbarnn 0.1 model files that tests/test_saving_compat.py loads.

Run once with numbarnn 0.1 (the round-1 release) importable:
``PYTHONPATH=<numbarnn-0.1 checkout> python tests/data/numbarnn_0_1/make_files.py``.
It saves two small trained models (with their optimizer state), their inputs,
their predictions and the weights after one more training batch.
"""

import pathlib

import numpy as np

import numbarnn
from numbarnn import GRU, LSTM, Bidirectional, Dense, Masking, Sequential
from numbarnn.utils import set_random_seed

HERE = pathlib.Path(__file__).parent


def make(name, layers, x, y, loss):
    set_random_seed(0)
    model = Sequential(layers)
    model.compile(optimizer="adam", loss=loss)
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
    model.save(HERE / f"{name}.numbarnn")
    pred = model.predict(x, verbose=0)
    model.train_on_batch(x[:8], y[:8])
    np.savez(HERE / f"{name}_expected.npz", x=x, y=y, pred=pred,
             **{f"after_{i}": w for i, w in enumerate(model.get_weights())})


rng = np.random.default_rng(0)
x = rng.normal(size=(16, 6, 3)).astype(np.float32)
make("lstm", [LSTM(5, input_shape=(6, 3)), Dense(2)], x, rng.normal(size=(16, 2)).astype(np.float32), "mse")
xm = x.copy()
xm[:4, 4:] = 0.0  # padded tails
make("bigru_masked", [Masking(0.0, input_shape=(6, 3)), Bidirectional(GRU(4, return_sequences=True)), Dense(1)],
     xm, rng.normal(size=(16, 6, 1)).astype(np.float32), "mae")
print("numbarnn", numbarnn.__version__, "wrote", sorted(p.name for p in HERE.iterdir() if p.suffix != ".py"))
