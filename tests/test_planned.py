"""Planned batches (numbarnn.models.planned) give the layer-by-layer path's numbers, bit for bit.

Each case trains two copies of one model from the same weights and seed, one
with ``plan_steps`` (the default) and one without, for several epochs in
float64, and compares the weights, the optimizer's state, the losses and the
predictions exactly. Cases cover every cell and form, stacks, masks (a Masking
layer and fit's ``mask``), input and recurrent dropout and a Dropout layer,
go_backwards, layers that keep their own path (Bidirectional, Embedding,
TimeDistributed), every optimizer with clipping and regularisers, and the
estimators' exact weighted sums. Predictions on kept plans and buffers (the
latency path) are compared with the layer-by-layer path the same way.
"""

import numpy as np
import pytest

from numbarnn import RNNRegressor, optimizers, regularizers
from numbarnn.engine.api import backward_of
from numbarnn.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Input,
    Masking,
    SimpleRNN,
    TimeDistributed,
)
from numbarnn.models import Model, Sequential
from numbarnn.models import planned as planned_module
from numbarnn.models.planned import PlannedChain, _DenseStep, _DropoutStep, _LayerStep, _RecurrentStep
from numbarnn.models.trainer import Trainer

N, T, F = 40, 6, 3
DT = "float64"


def _data(seed=0, masked=False, indices=False):
    rng = np.random.default_rng(seed)
    if indices:
        x = rng.integers(1, 20, size=(N, T))
        x[:, -2:] *= rng.random((N, 2)) < 0.5  # some trailing zeros for mask_zero
        return x, rng.normal(size=(N, 2))
    x = rng.normal(size=(N, T, F))
    if masked:
        x[::3, -2:] = 0.0
    return x, rng.normal(size=(N, 2))


MODELS = {
    "lstm": lambda: [LSTM(8, dtype=DT), Dense(2, dtype=DT)],
    "gru-after": lambda: [GRU(8, dtype=DT), Dense(2, dtype=DT)],
    "gru-before": lambda: [GRU(8, reset_after=False, dtype=DT), Dense(2, dtype=DT)],
    "simple": lambda: [SimpleRNN(8, dtype=DT), Dense(2, dtype=DT)],
    "stacked": lambda: [
        LSTM(8, return_sequences=True, dtype=DT),
        GRU(6, return_sequences=True, go_backwards=True, dtype=DT),
        SimpleRNN(5, dtype=DT),
        Dense(2, activation="tanh", dtype=DT),
    ],
    "dropout": lambda: [
        LSTM(8, dropout=0.3, recurrent_dropout=0.2, return_sequences=True, dtype=DT),
        Dropout(0.25, dtype=DT),
        GRU(6, dropout=0.1, recurrent_dropout=0.3, dtype=DT),
        Dense(2, dtype=DT),
    ],
    "masking": lambda: [
        Masking(0.0, dtype=DT),
        LSTM(8, return_sequences=True, dtype=DT),
        GRU(6, go_backwards=True, dtype=DT),
        Dense(2, dtype=DT),
    ],
    "regularized": lambda: [
        LSTM(8, kernel_regularizer=regularizers.L2(0.01), recurrent_regularizer=regularizers.L1(0.001), dtype=DT),
        Dense(2, kernel_regularizer=regularizers.L1L2(0.001, 0.01), dtype=DT),
    ],
    "own-paths": lambda: [
        Bidirectional(LSTM(4, return_sequences=True, dtype=DT), dtype=DT),
        TimeDistributed(Dense(5, activation="relu", dtype=DT), dtype=DT),
        GRU(6, dtype=DT),
        Dense(2, dtype=DT),
    ],
}

OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True, clipnorm=1.0),
    "rmsprop": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True, clipvalue=0.5),
    "adam": lambda: optimizers.Adam(0.01, amsgrad=True, global_clipnorm=2.0),
    "adamw": lambda: optimizers.AdamW(0.01),
}


def _pair(layers_fn, input_shape, optimizer="adam", loss="mse", **compile_kw):
    """Two models with the same weights, one planned and one layer by layer."""
    models = []
    for planned in (True, False):
        model = Sequential([Input(input_shape, dtype=DT if len(input_shape) == 2 else "int64"), *layers_fn()])
        model.plan_steps = planned
        opt = OPTIMIZERS[optimizer]() if isinstance(optimizer, str) and optimizer in OPTIMIZERS else optimizer
        model.compile(opt, loss, **compile_kw)
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    return models


def _assert_same(planned, layered):
    for a, b in zip(planned.get_weights(), layered.get_weights()):
        np.testing.assert_array_equal(a, b)
    pa, pb = planned.optimizer.get_state(), layered.optimizer.get_state()
    np.testing.assert_equal(pa, pb)


def _fit_both(models, x, y, **kw):
    histories = [m.fit(x, y, batch_size=16, epochs=3, verbose=0, seed=7, **kw).history for m in models]
    assert histories[0] == histories[1]
    _assert_same(*models)


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_planned_fit_equals_layer_path(kind):
    x, y = _data(masked=kind == "masking")
    models = _pair(MODELS[kind], (T, F))
    assert isinstance(models[0]._cpu_runner(), PlannedChain)
    assert models[1]._cpu_runner() is models[1].graph
    _fit_both(models, x, y)
    np.testing.assert_array_equal(models[0].predict(x, verbose=0), models[1].predict(x, verbose=0))
    assert models[0].evaluate(x, y, verbose=0) == models[1].evaluate(x, y, verbose=0)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_planned_fit_equals_layer_path_every_optimizer(optimizer):
    x, y = _data(1)
    _fit_both(_pair(MODELS["dropout"], (T, F), optimizer), x, y)


def test_planned_fit_with_mask_argument_and_sample_weights():
    x, y = _data(2)
    mask = np.ones((N, T), bool)
    mask[1::4, 3:] = False
    w = np.random.default_rng(3).random(N)
    _fit_both(_pair(MODELS["stacked"], (T, F)), x, y, mask=mask, sample_weight=w)


def test_planned_fit_with_embedding_and_metrics():
    x, y = _data(4, indices=True)
    labels = (y[:, 0] > 0).astype(int)

    def layers():
        return [Embedding(20, 4, mask_zero=True, dtype=DT), LSTM(6, dtype=DT), Dense(2, activation="softmax", dtype=DT)]

    models = _pair(layers, (T,), "rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
    _fit_both(models, x, labels, validation_split=0.25)


def test_planned_train_on_batch_and_float32():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(9, T, F)).astype("float32"), rng.normal(size=(9, 1)).astype("float32")
    models = []
    for planned in (True, False):
        model = Sequential([Input((T, F)), GRU(7, return_sequences=True), LSTM(5), Dense(1)])
        model.plan_steps = planned
        model.compile("adam", "mse")
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    for _ in range(4):
        assert models[0].train_on_batch(x, y) == models[1].train_on_batch(x, y)
    assert models[0]._cpu_runner() is models[0]._planned
    _assert_same(*models)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_planned_estimator_exact_sums(monkeypatch):
    rng = np.random.default_rng(6)
    x, y, w = rng.normal(size=(30, T, F)), rng.normal(size=30), rng.integers(1, 4, 30).astype(float)
    kw = dict(cell="gru", hidden_layer_sizes=(6, 4), max_iter=3, random_state=0, dtype="float64", batch_size=8)
    planned = RNNRegressor(**kw).fit(x, y, sample_weight=w)
    assert isinstance(planned.model_.__dict__.get("_planned"), PlannedChain)
    monkeypatch.setattr(Trainer, "plan_steps", False)
    layered = RNNRegressor(**kw).fit(x, y, sample_weight=w)
    _assert_same(planned.model_, layered.model_)
    np.testing.assert_array_equal(planned.predict(x), layered.predict(x))


def test_planned_weights_replaced_mid_fit_are_used():
    x, y = _data(8)
    models = _pair(MODELS["lstm"], (T, F))
    for m in models:
        m.fit(x, y, batch_size=16, epochs=1, verbose=0, seed=1)
    fresh = [np.full_like(w, 0.01) for w in models[0].get_weights()]
    lstm = models[0].layers[0]
    lstm.kernel = fresh[0].copy()  # a new array object: the kept plan must notice
    models[1].layers[0].kernel = fresh[0].copy()
    _fit_both(models, x, y)


def test_which_models_are_planned():
    def seq(*layers, batch_size=None):
        return Sequential([Input((T, F), batch_size=batch_size), *layers])

    assert PlannedChain.for_model(seq(Bidirectional(LSTM(4)), Dense(2))) is None  # no top-level recurrent layer
    assert PlannedChain.for_model(seq(LSTM(4, stateful=True), batch_size=4)) is None  # carries its states
    inp = Input((T, F))
    assert PlannedChain.for_model(Model(inp, LSTM(4, return_state=True)(inp))) is None  # several outputs
    shared = LSTM(3, return_sequences=True)
    inp = Input((T, 3))
    assert PlannedChain.for_model(Model(inp, shared(shared(inp)))) is None  # one layer called twice
    a, b = Input((T, F)), Input((T, F))
    assert PlannedChain.for_model(Model([a, b], Dense(1)(Concatenate()([LSTM(2)(a), LSTM(2)(b)])))) is None
    inp = Input((T, F))
    chain = Model(inp, Dense(2)(LSTM(4)(inp)))
    runner = PlannedChain.for_model(chain)
    assert [type(s) for s in runner.steps] == [_RecurrentStep, _DenseStep]
    assert PlannedChain.for_model(chain, runner) is runner  # kept while the layers are the same


def test_backward_without_input_gradient():
    from numbarnn import rnn_forward

    rng = np.random.default_rng(0)
    x, k, u = rng.normal(size=(3, 4, 2)), rng.normal(size=(2, 12)), rng.normal(size=(4, 12))
    _, _, tape = rnn_forward(x, k, u, cell="gru")
    d = [np.ones((3, 4))]
    full = backward_of(tape.plan, tape.buffers, np.zeros((0, 0, 0)), [a.copy() for a in d])
    short = backward_of(tape.plan, tape.buffers, np.zeros((0, 0, 0)), [a.copy() for a in d], need_dx=False)
    assert short.x is None and full.x.shape == x.shape
    np.testing.assert_array_equal(short.kernel, full.kernel)
    np.testing.assert_array_equal(short.recurrent_kernel, full.recurrent_kernel)


def test_training_buffers_are_one_batch_shape_and_dropped_after_fit():
    x, y = _data(9)
    model = _pair(MODELS["stacked"], (T, F))[0]
    model.fit(x[:30], y[:30], batch_size=16, epochs=1, verbose=0)  # batches of 16 and 14
    steps = [s for s in model._planned.steps if isinstance(s, _RecurrentStep)]
    assert len(steps) == 3 and all(s._buffers is None for s in steps)
    model.train_on_batch(x[:16], y[:16])
    assert all(s._buffers[0][1] == 16 for s in steps)  # kept between train_on_batch calls
    model.train_on_batch(x[:5], y[:5])
    assert all(s._buffers[0][1] == 5 for s in steps)  # replaced, not added


def test_non_finite_values_between_layers_raise_as_on_the_layer_path():
    x, _ = _data(10)
    errors = []
    for planned in (True, False):
        model = Sequential([Input((T, F)), Dense(4), LSTM(3)])
        model.plan_steps = planned
        model.layers[0].kernel[...] = 3e38  # float32 overflow: the LSTM's input is infinite
        with pytest.raises(ValueError) as info:
            model.predict(x, verbose=0)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


# -- predictions on kept plans and buffers ----------------------------------
PREDICTION_MODELS = {
    "stacked": MODELS["stacked"],
    "dropout": MODELS["dropout"],
    "gru-before": MODELS["gru-before"],
    "dense-first": lambda: [
        Dense(5, activation="relu", dtype=DT),
        GRU(6, go_backwards=True, return_sequences=True, dtype=DT),
        Dense(3, activation="softmax", dtype=DT),
    ],
    "float32-after-float64": lambda: [LSTM(7, return_sequences=True, dtype=DT), LSTM(4), Dense(2)],
}


def _prediction_pair(kind):
    models = _pair(PREDICTION_MODELS[kind], (T, F))
    assert models[0]._cpu_runner().blas_free_inference  # takes the prediction path
    return models


def _predictions(model, x):
    return [
        model.predict(x, batch_size=16, verbose=0),  # batches of 16, 16 and 8: two kept shapes
        model.predict(x, batch_size=16, verbose=0),  # again, on the kept buffers
        model.predict_on_batch(x[:5]),
        model(x[3:4]),
        model.predict_on_batch(x[:5]),
    ]


@pytest.mark.parametrize("kind", sorted(PREDICTION_MODELS))
def test_prediction_path_equals_layer_path(kind):
    x, y = _data(11)
    planned, layered = _prediction_pair(kind)
    for a, b in zip(_predictions(planned, x), _predictions(layered, x)):
        assert a.flags.c_contiguous and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert len(planned._planned._predictions) == 2
    if kind != "dense-first":
        assert planned.evaluate(x, y, batch_size=16, verbose=0) == layered.evaluate(x, y, batch_size=16, verbose=0)
    # a weight changed in place, and weights set anew, are read on the next call
    for model in (planned, layered):
        model.layers[0].kernel[...] *= 1.5
    np.testing.assert_array_equal(planned.predict_on_batch(x[:5]), layered.predict_on_batch(x[:5]))
    weights = [w * 0.5 for w in planned.get_weights()]
    for model in (planned, layered):
        model.set_weights(weights)
    np.testing.assert_array_equal(planned.predict(x, verbose=0), layered.predict(x, verbose=0))


def test_prediction_returns_arrays_of_its_own():
    x, _ = _data(12)
    model = _prediction_pair("stacked")[0]
    before = x.copy()
    for i in range(4):
        model.predict_on_batch(x[i : i + 1])  # one sequence is time-major as it is: kept buffers are not x
    np.testing.assert_array_equal(x, before)
    for kind in ("gru-before", "float32-after-float64"):  # ends on a linear Dense (its product's buffer)
        model = _prediction_pair(kind)[0]
        first = model.predict_on_batch(x[:4])
        kept = first.copy()
        model.predict_on_batch(x[4:8])  # the same shape: the same kept buffers
        np.testing.assert_array_equal(first, kept)
    model = Sequential([Input((T, F), dtype=DT), GRU(3, return_sequences=True, dtype=DT)])
    first = model.predict_on_batch(x[:4])  # ends on a recurrent layer: its kept hidden states
    kept = first.copy()
    model.predict_on_batch(x[4:8])
    np.testing.assert_array_equal(first, kept)


def test_prediction_keeps_the_last_two_shapes_and_only_small_buffers(monkeypatch):
    x, _ = _data(13)
    model = _prediction_pair("stacked")[0]
    for n in (4, 5, 6, 5):
        model.predict_on_batch(x[:n])
    assert [key[0][0] for key in model._planned._predictions] == [6, 5]  # the last two, most recent last
    monkeypatch.setattr(planned_module, "_KEPT_BYTES", 1000)
    expected = model.predict_on_batch(x)  # 40 sequences: over the limit, so not kept
    assert [key[0][0] for key in model._planned._predictions] == [6, 5]
    np.testing.assert_array_equal(model.predict_on_batch(x), expected)


def test_which_chains_take_the_prediction_path():
    def runner(*layers):
        return PlannedChain.for_model(Sequential([Input((T, F)), *layers]))

    chain = runner(Dense(4), LSTM(3, return_sequences=True), Dropout(0.5), GRU(2), Dense(1))
    assert [type(s) for s in chain.steps] == [_DenseStep, _RecurrentStep, _DropoutStep, _RecurrentStep, _DenseStep]
    assert chain.blas_free_inference
    assert not runner(Masking(0.0), LSTM(3)).blas_free_inference  # a Masking layer keeps the layer path
    assert not runner(LSTM(3, return_sequences=True), TimeDistributed(Dense(2))).blas_free_inference


def test_prediction_with_a_mask_takes_the_layer_path():
    x, _ = _data(14)
    planned, layered = _prediction_pair("stacked")
    mask = np.ones((N, T), bool)
    mask[::4, -2:] = False
    a = planned.predict(x, verbose=0, mask=mask)
    np.testing.assert_array_equal(a, layered.predict(x, verbose=0, mask=mask))
    assert not planned._planned._predictions  # nothing kept for a masked prediction
    full = planned.predict(x, verbose=0, mask=np.ones((N, T), bool))  # an all-true mask is no mask
    np.testing.assert_array_equal(full, layered.predict(x, verbose=0))


def test_concurrent_predictions_get_their_own_buffers():
    import threading

    x, _ = _data(15)
    model = _prediction_pair("stacked")[0]
    expected = [model.predict_on_batch(x[i : i + 4]) for i in range(0, N, 4)]
    results, errors = {}, []
    barrier = threading.Barrier(4)

    def work(t):
        try:
            barrier.wait()
            for _ in range(20):
                for j, i in enumerate(range(0, N, 4)):
                    out = model.predict_on_batch(x[i : i + 4])
                    if not np.array_equal(out, expected[j]):
                        results[t] = False
                        return
            results[t] = True
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors and results == {t: True for t in range(4)}
