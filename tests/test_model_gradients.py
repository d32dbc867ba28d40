"""One training step through whole models against central differences of the loss, in float64.

The analytic gradient is what ``train_on_batch`` applies: with ``SGD(learning_rate=1.0)``
the weight change is minus the gradient, so the training path is tested end to
end. The numeric gradient differentiates an independent loss: the model's
inference output (dropout is off, so it equals the training output) fed to the
plain-numpy Keras losses of tests/reference_layers.py, plus the regularizers'
penalties computed from their factors. The loss values themselves are checked
against the same formulas.
"""

import numpy as np
import pytest

from numbarnn import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Embedding,
    Input,
    Masking,
    RepeatVector,
    Sequential,
    SimpleRNN,
    TimeDistributed,
    losses,
    regularizers,
)
from numbarnn.optimizers import SGD

from . import reference_layers as ref
from .conftest import record_error

EPS = 1e-6
TOL = 1e-6
F64 = "float64"


def randomize(model, seed, scale=0.5):
    """Random weights (biases too), so no gradient is zero by symmetry."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape) * scale for w in model.weights])


def numeric_gradients(model, total_loss):
    """Central differences of ``total_loss()`` with respect to every weight value, perturbed in place."""
    grads = []
    for w in model.weights:
        g = np.zeros(w.shape)
        for i in range(w.size):
            old = w.flat[i]
            w.flat[i] = old + EPS
            up = total_loss()
            w.flat[i] = old - EPS
            down = total_loss()
            w.flat[i] = old
            g.flat[i] = (up - down) / (2 * EPS)
        grads.append(g)
    return grads


def check_training_step(model, x, y, loss, reference_loss, label, *, sample_weight=None, penalties=None):
    """Compare one ``train_on_batch`` step with SGD(1.0) against the numeric gradient of the reference loss.

    reference_loss(pred) -> float is the data loss; ``penalties`` maps an index in
    ``model.weights`` to its (l1, l2) factors.
    """
    penalties = penalties or {}
    model.compile(optimizer=SGD(learning_rate=1.0), loss=loss)

    def total_loss():
        pred = model.predict(x, verbose=0)
        weights = model.weights
        return reference_loss(pred) + sum(ref.penalty(weights[k], *f) for k, f in penalties.items())

    expected_value = total_loss()
    numeric = numeric_gradients(model, total_loss)
    before = model.get_weights()
    value = model.train_on_batch(x, y, sample_weight=sample_weight)
    analytic = [b - a for b, a in zip(before, model.get_weights())]

    value_err = abs(value - expected_value) / max(1.0, abs(expected_value))
    record_error((label, True), "training loss value", F64, value_err)
    assert value_err < 1e-12, f"{label}: train_on_batch loss {value!r}, reference {expected_value!r}"

    assert len(analytic) == len(numeric)
    for k, (a, n) in enumerate(zip(analytic, numeric)):
        assert np.abs(n).max() > 0, f"{label}: weight {k} has a zero numeric gradient; the check would be empty"
        err = float(np.abs(a - n).max() / np.abs(n).max())
        record_error((label, True), "train step gradient vs central diff", F64, err)
        assert err < TOL, f"{label}: weight {k} {a.shape}: relative gradient error {err:.3g}"


def away_from(values, kinks, margin=1e-3):
    """Assert that no value lies within ``margin`` of a kink (the central difference needs smoothness there)."""
    d = min(float(np.abs(np.asarray(values) - k).min()) for k in kinks)
    assert d > margin, f"a value lies {d:.2g} from a kink; pick another seed"


# -- stacks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("use_bias", [True, False])
def test_lstm_dense_mse(use_bias):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 5, 2)), rng.normal(size=(4, 1))
    model = Sequential([Input((5, 2)), LSTM(3, use_bias=use_bias, dtype=F64), Dense(1, dtype=F64)])
    randomize(model, 1)
    check_training_step(model, x, y, "mse", lambda p: ref.reduce_loss(ref.mse(y, p)), "lstm-dense")


def test_gru_stack_softmax_categorical_crossentropy():
    """GRU(return_sequences, go_backwards, reset_after) -> GRU(reset_after=False) -> Dense(3, softmax)."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 5, 2))
    y = np.eye(3)[rng.integers(0, 3, size=4)]
    model = Sequential([
        Input((5, 2)),
        GRU(3, return_sequences=True, go_backwards=True, dtype=F64),
        GRU(3, reset_after=False, dtype=F64),
        Dense(3, activation="softmax", dtype=F64),
    ])  # fmt: skip
    randomize(model, 3)
    check_training_step(model, x, y, "categorical_crossentropy",
                        lambda p: ref.reduce_loss(ref.categorical_crossentropy(y, p)), "gru-gru-softmax")  # fmt: skip


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave", "mul"])
def test_bidirectional_lstm_sigmoid_binary_crossentropy(merge_mode, return_sequences):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 4, 2))
    y = rng.integers(0, 2, size=(3, 4, 1) if return_sequences else (3, 1)).astype(float)
    model = Sequential([
        Input((4, 2)),
        Bidirectional(LSTM(2, return_sequences=return_sequences, dtype=F64), merge_mode=merge_mode),
        Dense(1, activation="sigmoid", dtype=F64),
    ])  # fmt: skip
    randomize(model, 5)
    check_training_step(model, x, y, "binary_crossentropy", lambda p: ref.reduce_loss(ref.binary_crossentropy(y, p)),
                        f"bidirectional-{merge_mode}")  # fmt: skip


@pytest.mark.parametrize("from_logits", [False, True])
def test_embedding_mask_zero_lstm_sparse_categorical_crossentropy(from_logits):
    rng = np.random.default_rng(6)
    x = rng.integers(1, 6, size=(4, 5))
    x[0, :2] = 0  # pre-padded
    x[1, 3:] = 0  # post-padded
    y = rng.integers(0, 4, size=4)
    model = Sequential([
        Input((5,)),
        Embedding(6, 2, mask_zero=True, dtype=F64),
        LSTM(3, dtype=F64),
        Dense(4, activation=None if from_logits else "softmax", dtype=F64),
    ])  # fmt: skip
    randomize(model, 7)
    loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    check_training_step(model, x, y, loss,
                        lambda p: ref.reduce_loss(ref.sparse_categorical_crossentropy(y, p, from_logits)),
                        "embedding-lstm-sparse")  # fmt: skip


def test_embedding_padding_row_gets_no_gradient():
    rng = np.random.default_rng(6)
    x = rng.integers(1, 6, size=(3, 4))
    x[0, :2] = 0
    model = Sequential(
        [Input((4,)), Embedding(6, 2, mask_zero=True, dtype=F64), GRU(2, dtype=F64), Dense(1, dtype=F64)]
    )
    randomize(model, 8)
    model.compile(optimizer=SGD(learning_rate=1.0), loss="mse")
    table = model.layers[0].get_weights()[0]
    model.train_on_batch(x, rng.normal(size=(3, 1)))
    after = model.layers[0].get_weights()[0]
    np.testing.assert_array_equal(after[0], table[0])
    assert np.abs(after[1:] - table[1:]).max() > 0


@pytest.mark.parametrize("sample_weight", [None, "samples", "steps"])
def test_masking_simple_rnn_time_distributed_masked_mse(sample_weight):
    """Masked steps are left out of the loss, and its mean is over the unmasked steps only."""
    rng = np.random.default_rng(9)
    B, T, F = 4, 5, 2
    x = rng.normal(size=(B, T, F))
    x[0, 3:] = 0.0
    x[2, :2] = 0.0
    mask = np.ones((B, T), bool)
    mask[0, 3:] = False
    mask[2, :2] = False
    y = rng.normal(size=(B, T, 2))
    sw = {None: None, "samples": rng.random(B) + 0.5, "steps": rng.random((B, T)) + 0.5}[sample_weight]
    model = Sequential([
        Input((T, F)),
        Masking(dtype=F64),
        SimpleRNN(3, return_sequences=True, dtype=F64),
        TimeDistributed(Dense(2, dtype=F64)),
    ])  # fmt: skip
    randomize(model, 10)
    check_training_step(model, x, y, "mse", lambda p: ref.reduce_loss(ref.mse(y, p), sw, mask),
                        "masking-simple-td", sample_weight=sw)  # fmt: skip


def test_repeat_vector_encoder_decoder():
    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 3, 2))
    model = Sequential([
        Input((4, 2)),
        LSTM(3, dtype=F64),
        RepeatVector(3, dtype=F64),
        LSTM(3, return_sequences=True, dtype=F64),
        TimeDistributed(Dense(2, dtype=F64)),
    ])  # fmt: skip
    randomize(model, 12)
    check_training_step(model, x, y, "mse", lambda p: ref.reduce_loss(ref.mse(y, p)), "encoder-decoder")


KINKS = {"relu": [0.0], "hard_sigmoid": [-3.0, 3.0]}


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh", "sigmoid", "softmax", "hard_sigmoid", "softplus"])
def test_dense_activations(activation):
    rng = np.random.default_rng(13)
    x = rng.normal(size=(5, 3)) * 2
    y = np.eye(3)[rng.integers(0, 3, size=5)]
    hidden = Dense(4, activation=activation, dtype=F64)
    model = Sequential([Input((3,)), hidden, Dense(3, activation="softmax", dtype=F64)])
    randomize(model, 14, scale=1.0)
    if activation in KINKS:
        away_from(ref.dense(x, *hidden.get_weights()), KINKS[activation])
    check_training_step(model, x, y, "categorical_crossentropy",
                        lambda p: ref.reduce_loss(ref.categorical_crossentropy(y, p)),
                        f"dense-{activation}")  # fmt: skip


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "softmax"])
def test_recurrent_then_dense_activation(activation):
    rng = np.random.default_rng(15)
    x, y = rng.normal(size=(4, 3, 2)), rng.random(size=(4, 3))
    hidden = Dense(3, activation=activation, dtype=F64)
    model = Sequential([Input((3, 2)), GRU(3, dtype=F64), hidden])
    randomize(model, 16, scale=1.0)
    if activation in KINKS:
        h = model.layers[0](x)
        away_from(ref.dense(h, *hidden.get_weights()), KINKS[activation])
    check_training_step(model, x, y, "mse", lambda p: ref.reduce_loss(ref.mse(y, p)), f"gru-dense-{activation}")


@pytest.mark.parametrize("loss", ["mae", "huber"])
def test_mae_and_huber(loss):
    rng = np.random.default_rng(17)
    x, y = rng.normal(size=(5, 4, 2)), rng.normal(size=(5, 3))
    model = Sequential([Input((4, 2)), LSTM(3, dtype=F64), Dense(3, dtype=F64)])
    randomize(model, 18)
    delta = 0.4
    diff = model.predict(x, verbose=0) - y
    if loss == "mae":
        away_from(diff, [0.0])
        obj, fn = "mae", lambda p: ref.reduce_loss(ref.mae(y, p))
    else:
        away_from(np.abs(diff), [delta])
        assert (np.abs(diff) < delta).any() and (np.abs(diff) > delta).any()  # both branches are exercised
        obj, fn = losses.Huber(delta=delta), lambda p: ref.reduce_loss(ref.huber(y, p, delta))
    check_training_step(model, x, y, obj, fn, f"lstm-dense-{loss}")


def test_regularizers_add_their_penalty_and_gradient():
    rng = np.random.default_rng(19)
    x, y = rng.normal(size=(4, 3, 2)), rng.normal(size=(4, 2))
    model = Sequential([
        Input((3, 2)),
        LSTM(3, kernel_regularizer=regularizers.L1L2(l1=0.01, l2=0.02), recurrent_regularizer=regularizers.L2(0.03),
             bias_regularizer=regularizers.L1(0.02), dtype=F64),
        Dense(2, kernel_regularizer=regularizers.L1L2(l1=0.05, l2=0.01), bias_regularizer="l2", dtype=F64),
    ])  # fmt: skip
    randomize(model, 20)
    penalties = {0: (0.01, 0.02), 1: (0.0, 0.03), 2: (0.02, 0.0), 3: (0.05, 0.01), 4: (0.0, 0.01)}
    away_from(np.concatenate([w.ravel() for w in model.weights]), [0.0], margin=1e-4)  # the L1 kink
    assert model._penalty() > 0.01
    check_training_step(model, x, y, "mse", lambda p: ref.reduce_loss(ref.mse(y, p)), "regularized-lstm",
                        penalties=penalties)  # fmt: skip


def test_regularizers_in_wrappers_and_embedding():
    rng = np.random.default_rng(21)
    x = rng.integers(0, 5, size=(3, 4))
    y = rng.normal(size=(3, 4, 1))
    model = Sequential([
        Input((4,)),
        Embedding(5, 2, embeddings_regularizer=regularizers.L2(0.02), dtype=F64),
        Bidirectional(GRU(2, return_sequences=True, kernel_regularizer=regularizers.L1L2(l1=0.01, l2=0.03),
                          dtype=F64), merge_mode="sum"),
        TimeDistributed(Dense(1, kernel_regularizer=regularizers.L1(0.04), dtype=F64)),
    ])  # fmt: skip
    randomize(model, 22)
    # weights: embeddings, forward (kernel, recurrent, bias), backward (kernel, recurrent, bias), dense (kernel, bias)
    penalties = {0: (0.0, 0.02), 1: (0.01, 0.03), 4: (0.01, 0.03), 7: (0.04, 0.0)}
    away_from(np.concatenate([w.ravel() for w in model.weights]), [0.0], margin=1e-4)
    check_training_step(model, x, y, "mse", lambda p: ref.reduce_loss(ref.mse(y, p)), "regularized-wrappers",
                        penalties=penalties)  # fmt: skip


# -- loss values -----------------------------------------------------------------------------------
def _loss_case(name, shape, rng):
    """(Loss instance, y_true, y_pred, reference values function) for a prediction of ``shape``."""
    k = shape[-1]
    if name in ("mse", "mae", "huber"):
        y, p = rng.normal(size=shape), rng.normal(size=shape)
        fn = {"mse": ref.mse, "mae": ref.mae, "huber": lambda a, b: ref.huber(a, b, 0.7)}[name]
        obj = losses.Huber(delta=0.7) if name == "huber" else losses.get(name)
        return obj, y, p, fn
    logits = name.endswith("logits")
    if name.startswith("binary"):
        y = rng.integers(0, 2, size=shape).astype(float)
        p = rng.normal(size=shape) * 3 if logits else rng.random(shape)
        if not logits:
            p.flat[0], p.flat[1] = 0.0, 1.0  # clipped to [1e-7, 1 - 1e-7]
        return losses.BinaryCrossentropy(from_logits=logits), y, p, lambda a, b: ref.binary_crossentropy(a, b, logits)
    labels = rng.integers(0, k, size=shape[:-1])
    p = rng.normal(size=shape) * 2 if logits else rng.random(shape) * 2  # not normalised: Keras renormalises
    if not logits and k > 1:
        p.flat[0] = 0.0  # clipped (with one class the normalised probability is 1, clipped too)
    if name.startswith("sparse"):
        return (losses.SparseCategoricalCrossentropy(from_logits=logits), labels, p,
                lambda a, b: ref.sparse_categorical_crossentropy(a, b, logits))  # fmt: skip
    y = np.eye(k)[labels]
    return (losses.CategoricalCrossentropy(from_logits=logits), y, p,
            lambda a, b: ref.categorical_crossentropy(a, b, logits))  # fmt: skip


LOSS_NAMES = ["mse", "mae", "huber", "binary", "binary-logits", "categorical", "categorical-logits", "sparse",
              "sparse-logits"]  # fmt: skip


@pytest.mark.parametrize("shape", [(6, 3), (4, 5, 3), (5, 1)])
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_loss_values_match_keras_definitions(name, shape):
    rng = np.random.default_rng(23)
    obj, y, p, fn = _loss_case(name, shape, rng)
    expected_values = fn(y, p)
    assert expected_values.shape == shape[:-1]
    got = obj(y, p)
    err = abs(got - ref.reduce_loss(expected_values)) / max(1.0, abs(got))
    record_error(("loss-" + name, True), "loss value", F64, err)
    assert err < 1e-12, f"{name}: {got} vs {ref.reduce_loss(expected_values)}"
    sw = rng.random(shape[0]) + 0.2
    got_w = obj(y, p, sample_weight=sw)
    assert abs(got_w - ref.reduce_loss(expected_values, sw)) < 1e-12 * max(1.0, abs(got_w))


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_loss_gradients_match_central_differences(name):
    """Each loss's gradient (per value, with respect to the prediction) away from clipping and kinks."""
    rng = np.random.default_rng(24)
    obj, y, p, _ = _loss_case(name, (4, 3), rng)
    if not name.endswith("logits") and name not in ("mse", "mae", "huber"):
        p = np.clip(p, 0.05, 0.95) if name.startswith("binary") else p + 0.1
    y_checked = obj.check_target(y, p.shape, np.float64)
    r = rng.normal(size=p.shape[:-1])
    _, grad = obj.values_and_gradient(y_checked, p)
    numeric = np.zeros_like(p)
    for i in range(p.size):
        q = p.copy()
        q.flat[i] += EPS
        up = (obj.values_and_gradient(y_checked, q)[0] * r).sum()
        q.flat[i] -= 2 * EPS
        down = (obj.values_and_gradient(y_checked, q)[0] * r).sum()
        numeric.flat[i] = (up - down) / (2 * EPS)
    err = float(np.abs(grad * r[:, None] - numeric).max() / np.abs(numeric).max())
    record_error(("loss-" + name, True), "loss gradient vs central diff", F64, err)
    assert err < TOL, f"{name}: relative gradient error {err:.3g}"


def test_evaluate_masked_weighted_loss():
    """evaluate: masked steps excluded, sample weights applied, mean over the unmasked steps."""
    rng = np.random.default_rng(25)
    B, T = 5, 4
    x = rng.normal(size=(B, T, 2))
    x[1, 2:] = 0.0
    x[3, :1] = 0.0
    mask = np.any(x != 0, axis=-1)
    y = rng.integers(0, 3, size=(B, T))
    sw = rng.random(B) + 0.5
    model = Sequential([
        Input((T, 2)),
        Masking(dtype=F64),
        GRU(3, return_sequences=True, dtype=F64),
        TimeDistributed(Dense(3, activation="softmax", dtype=F64)),
    ])  # fmt: skip
    randomize(model, 26)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    p = model.predict(x, verbose=0)
    values = ref.sparse_categorical_crossentropy(y, p)
    got = model.evaluate(x, y, sample_weight=sw, batch_size=B, verbose=0)
    expected = ref.reduce_loss(values, sw, mask)
    assert abs(got - expected) < 1e-12, (got, expected)
    # without the mask the mean would differ: the check is not vacuous
    assert abs(ref.reduce_loss(values, sw) - expected) > 1e-3
