"""Keras's addition recipe as an encoder-decoder: learn to add two numbers of up to 3 digits, from text.

A question such as ``"535+61 "`` (padded to 7 characters, fed reversed, as the
Keras recipe does) is read by an LSTM encoder whose final states
(``return_state=True``) start an LSTM decoder (``initial_state=``) that writes
the answer (up to 4 characters) one character at a time. Training feeds the
decoder the true previous character (teacher forcing); prediction uses separate
inference models built from the trained layers, and decodes greedily. Only the
imports differ from a Keras script (``numbarnn`` for ``keras``).

Run it as it is (about two minutes on two cores)::

    python examples/seq2seq_addition.py
"""

import time

import numpy as np

from numbarnn import Input, Model
from numbarnn.layers import LSTM, Dense
from numbarnn.optimizers import Adam
from numbarnn.utils import set_random_seed

DIGITS = 3
MAXLEN = DIGITS + 1 + DIGITS  # "123+456"
ANSWER = DIGITS + 1  # "579 " (up to 4 characters)
CHARS = "0123456789+ "
START = len(CHARS)  # the decoder's start-of-answer token
VOCAB = len(CHARS) + 1


def make_questions(n, rng):
    """``n`` distinct pairs (a, b) with a + b as the question, padded as Keras pads them."""
    seen, questions, answers = set(), [], []
    while len(questions) < n:
        a, b = (int(rng.integers(0, 10 ** rng.integers(1, DIGITS + 1))) for _ in range(2))
        key = tuple(sorted((a, b)))
        if key in seen:
            continue
        seen.add(key)
        questions.append(f"{a}+{b}".ljust(MAXLEN))
        answers.append(str(a + b).ljust(ANSWER))
    return questions, answers


def one_hot(texts, length):
    x = np.zeros((len(texts), length, VOCAB), np.float32)
    for i, text in enumerate(texts):
        for t, ch in enumerate(text):
            x[i, t, CHARS.index(ch)] = 1.0
    return x


def encode(questions, answers):
    """Encoder input (reversed question), decoder input (start token + answer[:-1]), decoder target."""
    enc = one_hot([q[::-1] for q in questions], MAXLEN)
    target = one_hot(answers, ANSWER)
    dec = np.zeros_like(target)
    dec[:, 0, START] = 1.0
    dec[:, 1:] = target[:, :-1]
    return enc, dec, target


def build(units):
    encoder_inputs = Input(shape=(None, VOCAB), name="question")
    _, state_h, state_c = LSTM(units, return_state=True, name="encoder")(encoder_inputs)
    decoder_inputs = Input(shape=(None, VOCAB), name="answer_so_far")
    decoder_lstm = LSTM(units, return_sequences=True, return_state=True, name="decoder")
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    decoder_dense = Dense(VOCAB, activation="softmax", name="next_char")
    model = Model([encoder_inputs, decoder_inputs], decoder_dense(decoder_outputs))

    # Inference models made from the trained layers (they share the weights).
    encoder_model = Model(encoder_inputs, [state_h, state_c])
    h_in, c_in = Input(shape=(units,), name="h_in"), Input(shape=(units,), name="c_in")
    step_out, h_out, c_out = decoder_lstm(decoder_inputs, initial_state=[h_in, c_in])
    decoder_model = Model([decoder_inputs, h_in, c_in], [decoder_dense(step_out), h_out, c_out])
    return model, encoder_model, decoder_model


def decode(encoder_model, decoder_model, enc):
    """Greedy decoding: feed back the most likely character, ANSWER times."""
    h, c = encoder_model.predict(enc, batch_size=512, verbose=0)
    token = np.zeros((len(enc), 1, VOCAB), np.float32)
    token[:, 0, START] = 1.0
    out = []
    for _ in range(ANSWER):
        probs, h, c = decoder_model.predict([token, h, c], batch_size=512, verbose=0)
        idx = probs[:, -1].argmax(axis=-1)
        out.append(idx)
        token = np.zeros_like(token)
        token[np.arange(len(enc)), 0, idx] = 1.0
    return ["".join(CHARS[i] if i < len(CHARS) else "?" for i in row) for row in np.stack(out, axis=1)]


def main(n_train=45_000, n_test=2_000, epochs=30, units=128, batch_size=128, learning_rate=0.005, time_limit=170,
         verbose=1, seed=0):  # fmt: skip
    """Train (until 0.99 exact-match, ``epochs`` or ``time_limit`` seconds of training), then return
    (exact-match accuracy on the held-out pairs after each epoch, seconds per epoch)."""
    set_random_seed(seed)
    rng = np.random.default_rng(seed)
    questions, answers = make_questions(n_train + n_test, rng)
    enc, dec, target = encode(questions, answers)
    model, encoder_model, decoder_model = build(units)
    model.compile(optimizer=Adam(learning_rate=learning_rate, clipnorm=1.0), loss="categorical_crossentropy",
                  metrics=["accuracy"])  # fmt: skip
    test = slice(n_train, None)
    curve, seconds = [], []
    for epoch in range(epochs):
        start = time.perf_counter()
        model.fit([enc[:n_train], dec[:n_train]], target[:n_train], batch_size=batch_size, epochs=1, verbose=0)
        seconds.append(time.perf_counter() - start)
        guesses = decode(encoder_model, decoder_model, enc[test])
        curve.append(float(np.mean([g == a for g, a in zip(guesses, answers[n_train:])])))
        if verbose:
            print(f"epoch {epoch + 1:2d}: exact-match accuracy {curve[-1]:.3f} on {n_test} held-out pairs "
                  f"({seconds[-1]:.1f} s)", flush=True)  # fmt: skip
        if curve[-1] >= 0.99 or sum(seconds) > time_limit:
            break
    if verbose:
        for q, a, g in list(zip(questions[n_train:], answers[n_train:], guesses))[:5]:
            print(f"  {q} = {a}  predicted {g}  {'ok' if g == a else 'wrong'}")
        print(f"total training time {sum(seconds):.0f} s")
    return curve, seconds


if __name__ == "__main__":
    main()
