"""What the layers around a recurrent layer cost per training step, on the Python path (no compiled step yet).

Medians of 300 train_on_batch calls, the models alternating: an S1 LSTM with and without four
light layers (Permute), and a CNN-LSTM forecaster against its LSTM alone on the pooled input.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/layer_cost.py
"""
import time, numpy as np
from numbarnn import LSTM, Dense, Sequential, Input, Conv1D, MaxPooling1D
from numbarnn.layers import Permute
rng = np.random.default_rng(0)
x = rng.random((32, 10, 1), dtype=np.float32); y = rng.random((32, 1), dtype=np.float32)
def model(extra):
    m = Sequential([Input((10, 1))] + [Permute((1, 2)) for _ in range(extra)] + [LSTM(64), Dense(1)]); m.compile("adam", "mse"); return m
a, b = model(0), model(4)
xc = rng.random((32, 24, 1), dtype=np.float32)
c = Sequential([Input((24, 1)), Conv1D(8, 3, padding="causal", activation="relu"), MaxPooling1D(2), LSTM(64), Dense(1)]); c.compile("adam", "mse")
d = Sequential([Input((12, 8)), LSTM(64), Dense(1)]); d.compile("adam", "mse")
xd = rng.random((32, 12, 8), dtype=np.float32)
for m, xx in ((a, x), (b, x), (c, xc), (d, xd)):
    for _ in range(20): m.train_on_batch(xx, y)
ta, tb, tc, td = [], [], [], []
for _ in range(300):
    for m, xx, t in ((a, x, ta), (b, x, tb), (c, xc, tc), (d, xd, td)):
        t0 = time.perf_counter(); m.train_on_batch(xx, y); t.append(time.perf_counter() - t0)
med = lambda t: np.median(t) * 1e3
print(f"S1 LSTM step {med(ta):.3f} ms; with 4 Permute layers {med(tb):.3f} ms -> {(med(tb)-med(ta))/4*1e3:.0f} us per layer")
print(f"Conv1D+MaxPooling1D+LSTM(64) on (32,24,1) {med(tc):.3f} ms; LSTM(64) alone on its (32,12,8) input {med(td):.3f} ms")
