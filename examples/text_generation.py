"""Character-level text generation on Shakespeare, against a 3-gram character model.

The efficient way to train a character model: every step of every training
sequence predicts the next character (``return_sequences=True`` and a Dense
layer on every step), so one sequence of 50 characters gives 50 training
targets instead of one. The text is ``numbarnn.datasets.load_text()``; the
first 90% of the slice used is for training, the last 10% is held out.

The baseline is a 3-gram character model fitted on the same training text:
the probability of a character given the two before it, interpolated with the
2-gram, 1-gram and uniform models (weights chosen on the end of the training
text). Both are scored in bits per character on the held-out text; the script
then prints samples at temperatures 0.5 and 1.0.

Run it as it is (about four minutes on two cores)::

    python examples/text_generation.py
"""

import math
import time

import numpy as np

from numbarnn import LSTM, Dense, Embedding, Sequential
from numbarnn.datasets import load_text
from numbarnn.losses import SparseCategoricalCrossentropy
from numbarnn.optimizers import Adam
from numbarnn.utils import set_random_seed

SEQ_LEN = 50


class TrigramModel:
    """Interpolated 3-gram character model with add-one counts at each order."""

    def __init__(self, n_symbols):
        self.V = n_symbols

    def fit(self, codes, tune):
        V = self.V
        self.c1 = np.bincount(codes, minlength=V) + 1.0
        self.c2 = np.ones((V, V))
        np.add.at(self.c2, (codes[:-1], codes[1:]), 1.0)
        self.c3 = {}
        keys = codes[:-2] * V + codes[1:-1]
        for k, nxt in zip(keys.tolist(), codes[2:].tolist()):
            self.c3.setdefault(k, {}).setdefault(nxt, 0)
            self.c3[k][nxt] += 1
        best = None
        for l3 in (0.4, 0.5, 0.6, 0.7, 0.8):
            for l2 in (0.1, 0.2, 0.3):
                l1 = 1.0 - l3 - l2 - 0.01
                if l1 <= 0:
                    continue
                self.weights = (l3, l2, l1, 0.01)
                bits = self.bits_per_char(tune)
                if best is None or bits < best[0]:
                    best = (bits, self.weights)
        self.weights = best[1]
        return self

    def bits_per_char(self, codes):
        l3, l2, l1, l0 = self.weights
        V = self.V
        p1 = self.c1 / self.c1.sum()
        p2 = self.c2 / self.c2.sum(axis=1, keepdims=True)
        total = 0.0
        for a, b, c in zip(codes[:-2].tolist(), codes[1:-1].tolist(), codes[2:].tolist()):
            counts = self.c3.get(a * V + b)
            p3 = counts.get(c, 0) / sum(counts.values()) if counts else 0.0
            total -= math.log2(l3 * p3 + l2 * p2[b, c] + l1 * p1[c] + l0 / V)
        return total / (len(codes) - 2)


def model_bits_per_char(model, codes):
    """Bits per character of ``model`` on ``codes``, read in chunks of SEQ_LEN steps from a zero state."""
    n = (len(codes) - 1) // SEQ_LEN
    x = codes[: n * SEQ_LEN].reshape(n, SEQ_LEN)
    y = codes[1 : n * SEQ_LEN + 1].reshape(n, SEQ_LEN)
    logits = model.predict(x, batch_size=64, verbose=0).astype(np.float64)
    logits -= logits.max(axis=-1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_p, y[..., None], axis=-1)
    return float(-picked.mean() / math.log(2))


def sample(model, seed_codes, length, temperature, rng):
    """Generate ``length`` codes after ``seed_codes``, reading the last SEQ_LEN codes each step."""
    codes = list(seed_codes)
    for _ in range(length):
        logits = model.predict(np.array(codes[-SEQ_LEN:])[None], verbose=0)[0, -1].astype(np.float64)
        p = np.exp((logits - logits.max()) / temperature)
        codes.append(int(rng.choice(len(p), p=p / p.sum())))
    return codes[len(seed_codes) :]


def main(n_chars=1_000_000, epochs=10, units=128, sample_length=300, verbose=True):
    """Train; return (model bits/char, 3-gram bits/char, {temperature: sample})."""
    set_random_seed(0)
    text = load_text()[:n_chars]
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    codes = np.array([index[c] for c in text], dtype=np.int64)
    split = int(0.9 * len(codes))
    train, held_out = codes[:split], codes[split:]

    tune = int(0.95 * len(train))
    trigram = TrigramModel(len(chars)).fit(train[:tune], train[tune:])
    baseline = trigram.bits_per_char(held_out)

    n = (len(train) - 1) // SEQ_LEN
    X = train[: n * SEQ_LEN].reshape(n, SEQ_LEN)
    Y = train[1 : n * SEQ_LEN + 1].reshape(n, SEQ_LEN)
    model = Sequential([Embedding(len(chars), 32), LSTM(units, return_sequences=True), Dense(len(chars))])
    model.compile(optimizer=Adam(0.005, clipnorm=1.0), loss=SparseCategoricalCrossentropy(from_logits=True))
    start = time.perf_counter()
    history = model.fit(X, Y, batch_size=64, epochs=epochs, verbose=2 if verbose else 0)
    seconds = time.perf_counter() - start
    bits = model_bits_per_char(model, held_out)

    rng = np.random.default_rng(0)
    samples = {}
    for temperature in (0.5, 1.0):
        out = sample(model, held_out[:SEQ_LEN], sample_length, temperature, rng)
        samples[temperature] = "".join(chars[c] for c in out)
    if verbose:
        train_bits = [loss / math.log(2) for loss in history.history["loss"]]
        print(f"{len(text):,} characters ({len(chars)} distinct), {len(train):,} to train, {len(held_out):,} held out")
        print(f"training loss per epoch (bits/char): {', '.join(f'{b:.3f}' for b in train_bits)}; {seconds:.0f} s")
        verdict = "beats" if bits < baseline else "does not beat"
        print(f"held-out bits per character: LSTM({units}) {bits:.3f} {verdict} the 3-gram model's {baseline:.3f}")
        for temperature, text_out in samples.items():
            print(f"\n--- temperature {temperature} ---\n{text_out}")
    return bits, baseline, samples


if __name__ == "__main__":
    main()
