"""Keras tutorial 5, ported by changing its imports: a character-level language model.

Shakespeare's works (shipped with numbarnn, ``numbarnn.datasets.load_text``)
are cut into 40-character windows with step 3; X is a one-hot bool array
(n, 40, n_chars) and y the next character, one-hot (n, n_chars). An LSTM(128),
Dropout(0.2) and a softmax head are trained with RMSprop; after every epoch the
loss is shown in bits per character, and text is generated character by
character with ``model.predict(x, verbose=0)[0]``, greedily and with
temperature sampling.

Run it as it is (a few minutes on two cores)::

    python examples/tutorial_char_lm.py
"""

import math
import sys

import numpy as np

from numbarnn import LSTM, Dense, Dropout, Sequential
from numbarnn.callbacks import LambdaCallback
from numbarnn.datasets import load_text
from numbarnn.optimizers import RMSprop
from numbarnn.utils import set_random_seed

maxlen, step = 40, 3


def sample(preds, temperature=1.0, rng=None):
    """Draw an index from a probability array, sharpened (t < 1) or flattened (t > 1)."""
    preds = np.asarray(preds).astype("float64")
    if temperature == 0:
        return int(np.argmax(preds))
    preds = np.log(np.maximum(preds, 1e-12)) / temperature
    probas = np.exp(preds - preds.max())
    probas /= probas.sum()
    return int((rng or np.random).choice(len(probas), p=probas))


def generate(model, text, chars, char_indices, length=400, temperature=1.0, rng=None):
    """Generate ``length`` characters after a seed window from ``text``."""
    start = len(text) // 2
    sentence = text[start : start + maxlen]
    generated = []
    for _ in range(length):
        x_pred = np.zeros((1, maxlen, len(chars)), dtype=bool)
        for t, char in enumerate(sentence):
            x_pred[0, t, char_indices[char]] = True
        preds = model.predict(x_pred, verbose=0)[0]
        next_char = chars[sample(preds, temperature, rng)]
        generated.append(next_char)
        sentence = sentence[1:] + next_char
    return "".join(generated)


def main(n_chars_text=100_000, epochs=4, batch_size=128, gen_length=400, verbose=1):
    """Train; return the per-epoch losses in bits per character and the generated samples."""
    set_random_seed(42)
    text = load_text()[:n_chars_text]
    chars = sorted(set(text))
    char_indices = {c: i for i, c in enumerate(chars)}
    sentences = [text[i : i + maxlen] for i in range(0, len(text) - maxlen, step)]
    next_chars = [text[i + maxlen] for i in range(0, len(text) - maxlen, step)]
    x = np.zeros((len(sentences), maxlen, len(chars)), dtype=bool)
    y = np.zeros((len(sentences), len(chars)), dtype=bool)
    for i, sentence in enumerate(sentences):
        for t, char in enumerate(sentence):
            x[i, t, char_indices[char]] = True
        y[i, char_indices[next_chars[i]]] = True
    if verbose:
        print(f"{len(text)} characters, {len(chars)} distinct, {len(sentences)} windows")

    model = Sequential()
    model.add(LSTM(128, input_shape=(maxlen, len(chars))))
    model.add(Dropout(0.2))
    model.add(Dense(len(chars), activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer=RMSprop(learning_rate=0.01))

    def show_bits(epoch, logs):
        if verbose:
            print(f"epoch {epoch + 1}: {logs['loss'] / math.log(2):.3f} bits per character")

    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                        callbacks=[LambdaCallback(on_epoch_end=show_bits)])  # fmt: skip
    bits = [loss / math.log(2) for loss in history.history["loss"]]

    rng = np.random.default_rng(0)
    samples = {}
    for temperature in (0, 0.5, 1.0):
        samples[temperature] = generate(model, text, chars, char_indices, gen_length, temperature, rng)
    return bits, samples


if __name__ == "__main__":
    bits, samples = main()
    for temperature, text in samples.items():
        label = "greedy" if temperature == 0 else f"temperature {temperature}"
        sys.stdout.write(f"\n--- {label} ---\n{text}\n")
