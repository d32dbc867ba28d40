"""Write the Keras 3 reference files in tests/data/keras_layers/ (run with Keras 3, torch backend).

Not part of the test suite: the tests read the .npz files with numpy only. To
rewrite them, in a virtualenv outside the repository::

    python3 -m venv /tmp/keras-env
    /tmp/keras-env/bin/pip install torch keras
    KERAS_BACKEND=torch /tmp/keras-env/bin/python tests/data/make_keras_layers.py

Every file holds float32 arrays and a JSON string ``meta`` (the Keras and
torch versions, and per case the layer or model built). Keys are
``<case>__<what>``:

- ``x``, ``target``: the input and a fixed target of the output's shape;
- ``w``: the weights, in ``get_weights`` order, set before anything runs, raveled
  and concatenated into one array (the meta entry ``shapes`` splits it: one
  array per weight would cost more in zip headers than in values);
- ``y``: the output in inference (``training=False``);
- ``dx``: the gradient of ``mean((y - target)**2)`` (over every value, no
  loss mask) with respect to ``x`` with ``training=True`` (torch autograd),
  through Masking for masked inputs;
- ``loss``, ``after``: the loss of one ``train_on_batch`` step with
  ``SGD(learning_rate=0.1)`` and MSE, and every weight after it (moving
  statistics included), packed as ``w`` (neither for a layer without weights);
- for the cases trained on several batches: ``xs``, ``targets`` (one per
  batch), ``losses``, and ``after`` the weights after the last batch.

Seeds are fixed (numpy's generator for every array, Keras's for anything
else), so the files come out the same on every run.
"""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
import torch
from keras import layers

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_layers")
LR = 0.1

# name -> (layer class, constructor arguments, sample shape, how the input is made)
# Inputs: 'normal' N(0, 1); 'masked' with the trailing steps of some sequences all zero
# (the model then starts with Masking(0.0)); 'int' indices for an Embedding.
LAYER_CASES = {
    "conv1d": {
        "conv_valid": ("Conv1D", {"filters": 5, "kernel_size": 3}, (12, 3)),
        "conv_same_even_kernel_relu": (
            "Conv1D",
            {"filters": 5, "kernel_size": 4, "padding": "same", "activation": "relu"},
            (12, 3),
        ),
        "conv_causal_dilation2_tanh": (
            "Conv1D",
            {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2, "activation": "tanh"},
            (12, 2),
        ),
        "conv_strides2_same_odd": (
            "Conv1D",
            {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"},
            (11, 3),
        ),
        "conv_strides2_valid_nobias": (
            "Conv1D",
            {"filters": 3, "kernel_size": 2, "strides": 2, "use_bias": False},
            (11, 3),
        ),
        "conv_strides3_causal": (
            "Conv1D",
            {"filters": 3, "kernel_size": 4, "strides": 3, "padding": "causal"},
            (10, 2),
        ),
        "conv_dilation2_valid": ("Conv1D", {"filters": 4, "kernel_size": 3, "dilation_rate": 2}, (12, 3)),
        "conv_dilation2_same_sigmoid": (
            "Conv1D",
            {"filters": 3, "kernel_size": 3, "dilation_rate": 2, "padding": "same", "activation": "sigmoid"},
            (9, 2),
        ),
        "conv_kernel1": ("Conv1D", {"filters": 6, "kernel_size": 1}, (7, 4)),
    },
    "pooling": {
        "max_default": ("MaxPooling1D", {}, (10, 3)),
        "max_pool3_strides2_valid": ("MaxPooling1D", {"pool_size": 3, "strides": 2}, (10, 3)),
        "max_pool3_strides2_same": ("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, (10, 3)),
        "max_pool2_strides1_same": ("MaxPooling1D", {"pool_size": 2, "strides": 1, "padding": "same"}, (7, 2)),
        "max_pool2_odd_length": ("MaxPooling1D", {"pool_size": 2}, (9, 2)),
        "avg_pool2": ("AveragePooling1D", {"pool_size": 2}, (10, 3)),  # Keras 3 gives pool_size no default
        "avg_pool3_strides2_valid": ("AveragePooling1D", {"pool_size": 3, "strides": 2}, (10, 3)),
        # even padding on both sides: Keras's torch backend then excludes the padded positions
        "avg_pool3_strides1_same": ("AveragePooling1D", {"pool_size": 3, "strides": 1, "padding": "same"}, (8, 3)),
        "avg_pool5_strides2_same": ("AveragePooling1D", {"pool_size": 5, "strides": 2, "padding": "same"}, (9, 2)),
        "gmax_default": ("GlobalMaxPooling1D", {}, (7, 3)),
        "gmax_keepdims": ("GlobalMaxPooling1D", {"keepdims": True}, (7, 3)),
        "gmax_masked_ignores_mask": ("GlobalMaxPooling1D", {}, (7, 3), "masked"),
        "gavg_default": ("GlobalAveragePooling1D", {}, (7, 3)),
        "gavg_keepdims": ("GlobalAveragePooling1D", {"keepdims": True}, (7, 3)),
        "gavg_masked": ("GlobalAveragePooling1D", {}, (7, 3), "masked"),
    },
    "normalization": {
        "ln_default": ("LayerNormalization", {}, (5, 4)),
        "ln_no_center": ("LayerNormalization", {"center": False}, (5, 4)),
        "ln_no_scale": ("LayerNormalization", {"scale": False}, (5, 4)),
        "ln_neither_eps1e-5": ("LayerNormalization", {"center": False, "scale": False, "epsilon": 1e-5}, (5, 4)),
        "ln_axes_1_2": ("LayerNormalization", {"axis": [1, 2]}, (5, 4)),
        "ln_masked_passes_mask": ("LayerNormalization", {}, (6, 3), "masked"),
        "bn_default": ("BatchNormalization", {}, (5, 4)),
        "bn_2d_momentum0.9": ("BatchNormalization", {"momentum": 0.9}, (4,)),
        "bn_no_center": ("BatchNormalization", {"center": False, "epsilon": 1e-2}, (5, 4)),
        "bn_no_scale": ("BatchNormalization", {"scale": False}, (5, 4)),
        "bn_axis1": ("BatchNormalization", {"axis": 1}, (5, 4)),
        "bn_masked": ("BatchNormalization", {"momentum": 0.8}, (6, 3), "masked"),
    },
    "reshaping": {
        "spatial_dropout_inference": ("SpatialDropout1D", {"rate": 0.3}, (6, 4), "normal", False),
        "reshape_minus1": ("Reshape", {"target_shape": (-1, 2)}, (6, 4)),
        "reshape_flat": ("Reshape", {"target_shape": (24,)}, (6, 4)),
        "permute_21": ("Permute", {"dims": (2, 1)}, (6, 4)),
        "cropping_1_2": ("Cropping1D", {"cropping": (1, 2)}, (7, 3)),
        "cropping_default": ("Cropping1D", {}, (7, 3)),
        "zero_padding_2_1": ("ZeroPadding1D", {"padding": (2, 1)}, (5, 3)),
        "zero_padding_default": ("ZeroPadding1D", {}, (5, 3)),
        "up_sampling_3": ("UpSampling1D", {"size": 3}, (4, 3)),
    },
}
BATCH = 4


def numpy(t):
    """A Keras (torch) tensor as a float32 numpy array."""
    return keras.ops.convert_to_numpy(t).astype("float32")


def _to_jsonable(value):
    if isinstance(value, tuple):
        return list(value)
    return value


def masked_input(rng, shape):
    """Normal values with trailing steps of some sequences all zero (Masking's padding)."""
    x = rng.normal(size=(BATCH,) + shape).astype("float32")
    lengths = [shape[0], shape[0] - 2, 2, shape[0] - 1][:BATCH]
    for i, n in enumerate(lengths):
        x[i, n:] = 0.0
    return x


def pack(weights):
    """One flat float32 array of every weight, and the shapes that split it again."""
    flat = np.concatenate([np.ravel(w) for w in weights]) if weights else np.zeros(0)
    return flat.astype("float32"), [list(np.shape(w)) for w in weights]


def random_weights(layer, rng):
    """Random weights for every variable of ``layer``; variances stay positive."""
    out = []
    for v in layer.weights:
        w = rng.normal(size=tuple(v.shape)).astype("float32") * 0.5
        if "variance" in v.name:
            w = (np.abs(w) + 0.5).astype("float32")
        out.append(w)
    return out


def build_model(cls, kwargs, shape, kind):
    inp = keras.Input(shape=shape)
    h = layers.Masking(0.0)(inp) if kind == "masked" else inp
    layer = getattr(layers, cls)(**kwargs)
    return keras.Model(inp, layer(h)), layer


def layer_case(arrays, meta, name, spec, rng):
    cls, kwargs, shape = spec[:3]
    kind = spec[3] if len(spec) > 3 else "normal"
    train = spec[4] if len(spec) > 4 else True
    x = masked_input(rng, shape) if kind == "masked" else rng.normal(size=(BATCH,) + shape).astype("float32")
    model, layer = build_model(cls, kwargs, shape, kind)
    weights = random_weights(layer, rng)
    layer.set_weights(weights)
    y = numpy(model(x, training=False))
    target = rng.normal(size=y.shape).astype("float32")
    arrays[f"{name}__x"] = x
    arrays[f"{name}__y"] = y
    arrays[f"{name}__target"] = target
    flat, shapes = pack(weights)
    if shapes:  # no empty arrays for the layers without weights
        arrays[f"{name}__w"] = flat
    if train:
        xt = torch.tensor(x, requires_grad=True)
        # through Masking too for masked inputs; a plain mean over every output value (no loss mask)
        loss = torch.mean((model(xt, training=True) - torch.tensor(target)) ** 2)
        loss.backward()
        arrays[f"{name}__dx"] = xt.grad.numpy().astype("float32")
        layer.set_weights(weights)  # a training call moved BatchNormalization's statistics
    if train:
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=LR), loss="mse")
        arrays[f"{name}__loss"] = np.float32(model.train_on_batch(x, target))
        if shapes:
            arrays[f"{name}__after"] = pack(layer.get_weights())[0]
    meta[name] = {"class_name": cls, "config": {k: _to_jsonable(v) for k, v in kwargs.items()},
                  "input": kind, "shapes": shapes, "trained": bool(train)}  # fmt: skip


def bn_several_batches(arrays, meta, rng):
    """BatchNormalization alone, trained on 5 batches (moving statistics move 5 times), with and without a mask."""
    for name, kind in (("bn_five_batches", "normal"), ("bn_five_batches_masked", "masked")):
        shape = (6, 3)
        model, layer = build_model("BatchNormalization", {"momentum": 0.7}, shape, kind)
        weights = random_weights(layer, rng)
        layer.set_weights(weights)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=LR), loss="mse")
        xs, ts = [], []
        for _ in range(5):
            x = masked_input(rng, shape) if kind == "masked" else rng.normal(size=(BATCH,) + shape).astype("float32")
            x = (x * 2.0 + 1.5).astype("float32") if kind == "normal" else x
            t = rng.normal(size=(BATCH,) + shape).astype("float32")
            model.train_on_batch(x, t)
            xs.append(x)
            ts.append(t)
        arrays[f"{name}__xs"] = np.stack(xs)
        arrays[f"{name}__targets"] = np.stack(ts)
        arrays[f"{name}__w"], shapes = pack(weights)
        arrays[f"{name}__after"] = pack(layer.get_weights())[0]
        meta[name] = {"class_name": "BatchNormalization", "config": {"momentum": 0.7}, "input": kind, "batches": 5,
                      "shapes": shapes}  # fmt: skip


# -- models ------------------------------------------------------------------------------
def cnn_lstm():
    """Conv1D -> MaxPooling1D -> LSTM -> Dense: a forecaster of the next value from 24 past ones."""
    return keras.Sequential([
        keras.Input((24, 1)),
        layers.Conv1D(8, 3, padding="causal", activation="relu"),
        layers.MaxPooling1D(2),
        layers.LSTM(8),
        layers.Dense(1),
    ]), lambda rng: rng.normal(size=(8, 24, 1)).astype("float32")  # fmt: skip


def text_classifier(rate):
    """Embedding -> SpatialDropout1D -> Bidirectional(LSTM, return_sequences) -> GlobalMaxPooling1D -> Dense."""
    return keras.Sequential([
        keras.Input((20,), dtype="int32"),
        layers.Embedding(30, 8),
        layers.SpatialDropout1D(rate),
        layers.Bidirectional(layers.LSTM(6, return_sequences=True)),
        layers.GlobalMaxPooling1D(),
        layers.Dense(1, activation="sigmoid"),
    ]), lambda rng: rng.integers(0, 30, size=(8, 20)).astype("int32")  # fmt: skip


def normalized_stack():
    """LSTM -> LayerNormalization -> LSTM -> BatchNormalization -> LSTM -> Dense."""
    return keras.Sequential([
        keras.Input((10, 3)),
        layers.LSTM(8, return_sequences=True),
        layers.LayerNormalization(),
        layers.LSTM(6, return_sequences=True),
        layers.BatchNormalization(momentum=0.9),
        layers.LSTM(4),
        layers.Dense(2),
    ]), lambda rng: rng.normal(size=(8, 10, 3)).astype("float32")  # fmt: skip


def model_case(arrays, meta, name, make, rng, steps, note, infer_model=None):
    """Inference output (of ``infer_model`` when given: same weights), then ``steps`` SGD steps on fresh batches."""
    model, make_x = make
    weights = random_weights(model, rng)
    model.set_weights(weights)
    x = make_x(rng)
    if infer_model is not None:
        infer_model.set_weights(weights)
        y = numpy(infer_model(x, training=False))
    else:
        y = numpy(model(x, training=False))
    arrays[f"{name}__x"] = x
    arrays[f"{name}__y"] = y
    arrays[f"{name}__w"], shapes = pack(weights)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=LR), loss="mse")
    xs, ts, losses = [], [], []
    for _ in range(steps):
        xb = make_x(rng)
        tb = rng.normal(size=y.shape).astype("float32") * 0.5 + (0.5 if "classifier" in name else 0.0)
        losses.append(model.train_on_batch(xb, tb))
        xs.append(xb)
        ts.append(tb)
    arrays[f"{name}__xs"] = np.stack(xs)
    arrays[f"{name}__targets"] = np.stack(ts)
    arrays[f"{name}__losses"] = np.asarray(losses, "float32")
    arrays[f"{name}__after"] = pack(model.get_weights())[0]
    meta[name] = {"layers": [type(layer).__name__ for layer in model.layers], "steps": steps, "note": note,
                  "shapes": shapes}  # fmt: skip


def main():
    keras.utils.set_random_seed(0)
    os.makedirs(OUT, exist_ok=True)
    versions = {"keras": keras.__version__, "torch": torch.__version__, "backend": keras.backend.backend()}
    for group, cases in LAYER_CASES.items():
        rng = np.random.default_rng(sum(map(ord, group)))
        arrays, meta = {}, {}
        for name, spec in cases.items():
            layer_case(arrays, meta, name, spec, rng)
        if group == "normalization":
            bn_several_batches(arrays, meta, rng)
        write(group, arrays, {"versions": versions, "cases": meta})
    rng = np.random.default_rng(2024)
    arrays, meta = {}, {}
    model_case(arrays, meta, "cnn_lstm", cnn_lstm(), rng, 1, "one SGD step")
    # inference with the dropout rate the model is built with; training with rate 0, since dropout masks are random
    model_case(arrays, meta, "text_classifier", text_classifier(0.0), rng, 1,
               "inference with SpatialDropout1D(0.25) (the identity), one SGD step with rate 0 (random masks)",
               infer_model=text_classifier(0.25)[0])  # fmt: skip
    model_case(arrays, meta, "normalized_stack", normalized_stack(), rng, 1, "one SGD step")
    model_case(arrays, meta, "normalized_stack_4_steps", normalized_stack(), rng, 4,
               "four SGD steps: BatchNormalization's moving statistics move four times")  # fmt: skip
    write("models", arrays, {"versions": versions, "cases": meta})


def write(group, arrays, meta):
    arrays = dict(arrays)
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    path = os.path.join(OUT, f"{group}.npz")
    np.savez_compressed(path, **arrays)
    print(f"{path}: {len(arrays) - 1} arrays, {os.path.getsize(path) / 1024:.1f} KB", file=sys.stderr)


if __name__ == "__main__":
    main()
