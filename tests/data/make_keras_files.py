"""Write the Keras 3 model files in tests/data/keras_files/ (run with Keras 3, torch backend).

Not part of the test suite: ``tests/test_keras_files.py`` reads what this
script wrote with numbarnn alone (Keras, TensorFlow and torch not importable).
To rewrite the files, in a virtualenv outside the repository::

    python3 -m venv /tmp/keras-env
    /tmp/keras-env/bin/pip install torch keras h5py
    KERAS_BACKEND=torch /tmp/keras-env/bin/python tests/data/make_keras_files.py

For every case ``<name>`` it writes ``<name>.keras`` (``model.save``; cases in
``WEIGHTS_ONLY`` also ``<name>.weights.h5``, from ``model.save_weights``) and
``<name>.npz`` holding float32 arrays (int32 for token inputs):

- ``x0``, ``x1``, ...: the model's inputs (a batch of 4);
- ``pred0``, ``pred1``, ...: Keras's predictions for them (one per model output);
- compiled cases, trained by ``fit`` on ``x``/``y`` for 2 batches so that the
  optimizer holds state: ``y0``, ... the targets of one more ``train_on_batch``
  step taken after saving, and ``after_0``, ``after_1``, ... every weight after it
  (``model.get_weights()`` order), so a loader's optimizer state can be checked
  by taking the same step.

Layer sizes are tiny so the folder stays small. Seeds are fixed.
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
from keras import layers

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_files")
BATCH = 4
WEIGHTS_ONLY = ("stacked_lstm", "encoder_decoder")


def rng(seed):
    return np.random.default_rng(seed)


def sequential(cases):
    """Sequential models: (name, layers, input shape, input kind, compile arguments or None)."""
    cases["stacked_lstm"] = ([layers.Input((6, 3)), layers.LSTM(4, return_sequences=True), layers.LSTM(3),
                              layers.Dense(2)], "normal", {"optimizer": "adam", "loss": "mse", "metrics": ["mae"]})
    cases["gru_reset_after"] = ([layers.Input((5, 2)), layers.GRU(3, reset_after=True, return_sequences=True),
                                 layers.TimeDistributed(layers.Dense(2))], "normal",
                                {"optimizer": keras.optimizers.SGD(0.05, momentum=0.9), "loss": "mae"})
    cases["gru_reset_before"] = ([layers.Input((5, 2)), layers.GRU(3, reset_after=False, go_backwards=True),
                                  layers.Dense(1, activation="sigmoid")], "normal",
                                 {"optimizer": keras.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
                                  "loss": "binary_crossentropy", "metrics": ["accuracy"]})
    cases["simple_rnn"] = ([layers.Input((5, 2)), layers.SimpleRNN(3, activation="relu", return_sequences=True),
                            layers.SimpleRNN(2), layers.Dense(1)], "normal", None)
    cases["bidirectional"] = ([layers.Input((5, 2)),
                               layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode="concat"),
                               layers.Bidirectional(layers.GRU(2, return_sequences=True), merge_mode="sum"),
                               layers.Bidirectional(layers.SimpleRNN(2, return_sequences=True), merge_mode="ave"),
                               layers.Bidirectional(layers.LSTM(2), merge_mode="mul"), layers.Dense(1)], "normal",
                              {"optimizer": keras.optimizers.AdamW(0.01, amsgrad=True), "loss": "huber"})
    cases["embedding_mask"] = ([layers.Input((7,), dtype="int32"), layers.Embedding(9, 3, mask_zero=True),
                                layers.LSTM(3, return_sequences=True), layers.GRU(2),
                                layers.Dense(3, activation="softmax")],
                               "tokens", {"optimizer": "adam", "loss": "sparse_categorical_crossentropy",
                                          "metrics": ["accuracy"]})
    cases["masking"] = ([layers.Input((6, 2)), layers.Masking(0.0),
                         layers.Bidirectional(layers.GRU(2, return_sequences=True)), layers.GlobalAveragePooling1D(),
                         layers.Dense(1)], "masked", None)
    cases["conv_norm"] = ([layers.Input((12, 2)), layers.Conv1D(3, 3, padding="causal", dilation_rate=2),
                           layers.Conv1D(3, 2, strides=2, padding="same", activation="relu"),
                           layers.BatchNormalization(), layers.MaxPooling1D(2), layers.LayerNormalization(),
                           layers.AveragePooling1D(2, padding="same"), layers.LSTM(2, return_sequences=True),
                           layers.GlobalMaxPooling1D(), layers.Dense(1)], "normal",
                          {"optimizer": "adam", "loss": "mse"})
    cases["reshaping"] = ([layers.Input((6, 2)), layers.SpatialDropout1D(0.2), layers.ZeroPadding1D((1, 2)),
                           layers.Cropping1D((2, 1)), layers.UpSampling1D(2), layers.Permute((2, 1)),
                           layers.Reshape((6, 4)), layers.Conv1D(2, 1, activation="tanh"), layers.Flatten(),
                           layers.Dense(3), layers.Activation("relu"), layers.Dropout(0.1), layers.RepeatVector(2),
                           layers.SimpleRNN(2)], "normal", None)
    return cases


def functional():
    """Functional models: name -> (model, input kinds, compile arguments or None)."""
    cases = {}
    enc_in = keras.Input((5, 2), name="encoder_input")
    dec_in = keras.Input((4, 3), name="decoder_input")
    _, h, c = layers.LSTM(3, return_state=True, name="encoder")(enc_in)
    seq = layers.LSTM(3, return_sequences=True, name="decoder")(dec_in, initial_state=[h, c])
    out = layers.Dense(3, activation="softmax", name="next_token")(seq)
    cases["encoder_decoder"] = (keras.Model([enc_in, dec_in], out), ("normal", "normal"),
                                {"optimizer": "adam", "loss": "categorical_crossentropy", "metrics": ["accuracy"]})

    a = keras.Input((5, 2), name="a")
    b = keras.Input((3,), name="b")
    ha = layers.GRU(3, name="gru_a")(a)
    hb = layers.Dense(3, name="dense_b")(b)
    shared = layers.Dense(3, activation="tanh", name="shared")
    merged = layers.Concatenate()([layers.Add()([ha, hb]), layers.Subtract()([ha, hb]), layers.Multiply()([ha, hb]),
                                   layers.Average()([shared(ha), shared(hb)])])
    out1 = layers.Dense(1, name="value")(merged)
    out2 = layers.Dense(2, activation="softmax", name="label")(merged)
    cases["merges"] = (keras.Model([a, b], [out1, out2]), ("normal", "normal"), None)
    cases["merges_compiled"] = (keras.Model([a, b], [out1, out2]), ("normal", "normal"),
                                {"optimizer": "sgd", "loss": ["mse", "categorical_crossentropy"],
                                 "loss_weights": [1.0, 0.5]})
    return cases


def make_input(kind, shape, r):
    if kind == "tokens":
        x = r.integers(1, 9, (BATCH, *shape)).astype(np.int32)
        for i in range(BATCH):
            x[i, 7 - i:] = 0  # padded at the end, by a different amount in each row
        return x
    x = r.standard_normal((BATCH, *shape)).astype(np.float32)
    if kind == "masked":
        for i in range(BATCH):
            x[i, shape[0] - i:] = 0.0
    return x


def make_targets(model, r):
    ys = []
    for out in model.outputs:
        shape = (BATCH, *out.shape[1:])
        if model.loss in ("sparse_categorical_crossentropy",):
            ys.append(r.integers(0, shape[-1], shape[:-1]).astype(np.int32))
        elif out.shape[-1] > 1 and "softmax" in str(out._keras_history[0].get_config().get("activation")):
            ys.append(np.eye(shape[-1], dtype=np.float32)[r.integers(0, shape[-1], shape[:-1])])
        elif "sigmoid" in str(out._keras_history[0].get_config().get("activation")):
            ys.append(r.integers(0, 2, shape).astype(np.float32))
        else:
            ys.append(r.standard_normal(shape).astype(np.float32))
    return ys


def write(name, model, kinds, compile_args, seed):
    r = rng(seed)
    xs = [make_input(kind, t.shape[1:], r) for kind, t in zip(kinds, model.inputs)]
    arrays = {}
    if compile_args is not None:
        model.compile(**compile_args)
        for _ in range(2):
            model.train_on_batch(xs, make_targets(model, r))
    for i, w in enumerate(model.get_weights()):  # random weights, so every value matters
        if "moving_variance" in model.weights[i].path:
            w = r.uniform(0.5, 1.5, w.shape).astype(np.float32)
        elif compile_args is None or "moving_mean" in model.weights[i].path:
            w = (0.5 * r.standard_normal(w.shape)).astype(np.float32)
        model.weights[i].assign(w)
    model.save(os.path.join(OUT, f"{name}.keras"))
    if name in WEIGHTS_ONLY:
        model.save_weights(os.path.join(OUT, f"{name}.weights.h5"))
    preds = model.predict(xs, verbose=0)
    preds = preds if isinstance(preds, list) else [preds]
    arrays.update({f"x{i}": x for i, x in enumerate(xs)})
    arrays.update({f"pred{i}": np.asarray(p) for i, p in enumerate(preds)})
    if compile_args is not None:
        ys = make_targets(model, r)
        model.train_on_batch(xs, ys)
        arrays.update({f"y{i}": y for i, y in enumerate(ys)})
        arrays.update({f"after_{i}": w for i, w in enumerate(model.get_weights())})
    np.savez_compressed(os.path.join(OUT, f"{name}.npz"), **arrays)


def main():
    os.makedirs(OUT, exist_ok=True)
    keras.utils.set_random_seed(0)
    for seed, (name, (stack, kind, compile_args)) in enumerate(sequential({}).items()):
        write(name, keras.Sequential(stack, name=name), [kind], compile_args, seed)
    for seed, (name, (model, kinds, compile_args)) in enumerate(functional().items(), start=100):
        write(name, model, kinds, compile_args, seed)
    with open(os.path.join(OUT, "versions.json"), "w") as f:
        json.dump({"keras": keras.__version__, "backend": keras.backend.backend()}, f)


if __name__ == "__main__":
    main()
