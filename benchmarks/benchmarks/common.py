"""Seeded, cached data makers shared by the benchmarks. Append only: never change a maker."""

import functools

import numpy as np

GATES = {"lstm": 4, "gru": 3, "simple": 1}


@functools.lru_cache(maxsize=None)
def engine_problem(cell, dtype, B, T, F, H, seed=0):
    """Inputs and Keras-layout weights for one engine call; read-only arrays."""
    rng = np.random.default_rng(seed)
    G = GATES[cell]
    x = rng.normal(size=(B, T, F)).astype(dtype)
    W = (rng.normal(size=(F, G * H)) / np.sqrt(F)).astype(dtype)
    U = (rng.normal(size=(H, G * H)) / np.sqrt(H)).astype(dtype)
    b = np.zeros((2, 3 * H) if cell == "gru" else (G * H,), dtype)
    for a in (x, W, U, b):
        a.setflags(write=False)
    return x, W, U, b


# The performance issue's shapes: (B, T, F, hidden layer sizes, head units, head activation, loss).
MODEL_SHAPES = {
    "S1": (32, 10, 1, (64,), 1, None, "mse"),
    "S2": (128, 40, 60, (128,), 60, "softmax", "categorical_crossentropy"),
    "S3": (64, 100, 8, (128,), 1, None, "mse"),
    "S4": (256, 50, 64, (512,), 1, None, "mse"),
    "S5": (64, 8, 16, (32, 32), 1, "sigmoid", "binary_crossentropy"),
    "L1": (1, 100, 8, (64,), 1, None, "mse"),
    "L2": (1024, 50, 8, (128,), 1, None, "mse"),
    # Neighbours of the named shapes, so that no optimisation serves only those: stacked small
    # layers (N1, N4) and small batches over long sequences (N2, N3).
    "N1": (32, 20, 8, (32, 32, 32), 1, None, "mse"),
    "N2": (16, 200, 8, (64,), 1, None, "mse"),
    "N3": (8, 400, 4, (32,), 1, None, "mse"),
    "N4": (64, 30, 16, (64, 64), 1, None, "mse"),
    # The latency shape L1 with 3 and 8 sequences: the small-batch path's row tiles (three rows; two
    # blocks of four).
    "N5": (3, 100, 8, (64,), 1, None, "mse"),
    "N6": (8, 100, 8, (64,), 1, None, "mse"),
}


def model_data(shape, dtype, seed=0):
    """One batch (x, y) for ``shape``: normal inputs; one-hot, 0/1 or normal targets as the loss needs."""
    B, T, F, _, out, _, loss = MODEL_SHAPES[shape]
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(B, T, F)).astype(dtype)
    if loss == "categorical_crossentropy":
        y = np.eye(out, dtype=dtype)[rng.integers(0, out, B)]
    elif loss == "binary_crossentropy":
        y = (rng.random((B, 1)) < 0.5).astype(dtype)
    else:
        y = rng.normal(size=(B, out)).astype(dtype)
    return x, y


def model_problem(cell, dtype, shape, seed=0):
    """A compiled Sequential for ``shape`` (Adam, the shape's head and loss) and one batch (x, y) for it."""
    import numbarnn

    B, T, F, sizes, out, act, loss = MODEL_SHAPES[shape]
    x, y = model_data(shape, dtype, seed)
    numbarnn.utils.set_random_seed(seed)
    layer = {"lstm": numbarnn.LSTM, "gru": numbarnn.GRU, "simple": numbarnn.SimpleRNN}[cell]
    layers = [layer(h, return_sequences=i < len(sizes) - 1, dtype=dtype, **({"input_shape": (T, F)} if i == 0 else {}))
              for i, h in enumerate(sizes)]  # fmt: skip
    model = numbarnn.Sequential(layers + [numbarnn.Dense(out, activation=act, dtype=dtype)])
    model.compile(optimizer="adam", loss=loss)
    return model, x, y
