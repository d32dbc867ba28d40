"""Optimizers against Keras's update equations written out here; clipping; regularizers; utils."""

import math

import numpy as np
import pytest

from numbarnn import optimizers, regularizers
from numbarnn.utils import pad_sequences, set_random_seed, to_categorical


def grads_at(w):
    """A fixed, non-linear gradient field, so successive steps differ."""
    return [np.sin(3 * x) + 0.5 * x for x in w]


def run(opt, steps=4):
    w = [np.array([0.3, -1.2, 2.0]), np.array([[0.5, -0.25], [1.5, 0.1]])]
    for _ in range(steps):
        opt.apply(grads_at(w), w)
    return w


def reference(rule, steps=4, **hp):
    """The same run with the update rules written from the Keras 3 source's equations."""
    w = [np.array([0.3, -1.2, 2.0]), np.array([[0.5, -0.25], [1.5, 0.1]])]
    state = [dict(m=np.zeros_like(x), v=np.zeros_like(x), a=np.zeros_like(x), vh=np.zeros_like(x)) for x in w]
    for t in range(1, steps + 1):
        g = grads_at(w)
        for x, gi, s in zip(w, g, state):
            lr = hp["lr"]
            if rule == "sgd":
                mom = hp.get("momentum", 0.0)
                if mom:
                    s["m"] = mom * s["m"] - lr * gi
                    x += (mom * s["m"] - lr * gi) if hp.get("nesterov") else s["m"]
                else:
                    x -= lr * gi
            elif rule == "rmsprop":
                rho, eps = hp.get("rho", 0.9), 1e-7
                s["v"] = rho * s["v"] + (1 - rho) * gi**2
                den = s["v"] + eps
                if hp.get("centered"):
                    s["a"] = rho * s["a"] + (1 - rho) * gi
                    den = den - s["a"] ** 2
                inc = lr * gi / np.sqrt(den)
                if hp.get("momentum"):
                    s["m"] = hp["momentum"] * s["m"] + inc
                    x -= s["m"]
                else:
                    x -= inc
            else:  # adam / adamw
                b1, b2, eps = 0.9, 0.999, 1e-7
                if hp.get("weight_decay"):
                    x -= lr * hp["weight_decay"] * x
                s["m"] = s["m"] + (gi - s["m"]) * (1 - b1)
                s["v"] = s["v"] + (gi**2 - s["v"]) * (1 - b2)
                v = s["v"]
                if hp.get("amsgrad"):
                    s["vh"] = np.maximum(s["vh"], s["v"])
                    v = s["vh"]
                alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
                x -= alpha * s["m"] / (np.sqrt(v) + eps)
    return w


CASES = [
    (optimizers.SGD(), "sgd", dict(lr=0.01)),
    (optimizers.SGD(0.1, momentum=0.9), "sgd", dict(lr=0.1, momentum=0.9)),
    (optimizers.SGD(0.1, momentum=0.8, nesterov=True), "sgd", dict(lr=0.1, momentum=0.8, nesterov=True)),
    (optimizers.RMSprop(), "rmsprop", dict(lr=0.001)),
    (optimizers.RMSprop(0.01, rho=0.8, momentum=0.5, centered=True), "rmsprop",
     dict(lr=0.01, rho=0.8, momentum=0.5, centered=True)),
    (optimizers.Adam(), "adam", dict(lr=0.001)),
    (optimizers.Adam(0.05, amsgrad=True), "adam", dict(lr=0.05, amsgrad=True)),
    (optimizers.AdamW(0.01), "adam", dict(lr=0.01, weight_decay=0.004)),
]  # fmt: skip


@pytest.mark.parametrize("case", range(len(CASES)), ids=[type(c[0]).__name__ for c in CASES])
def test_update_rules_match_keras_equations(case):
    opt, rule, hp = CASES[case]
    opt = type(opt).from_config(opt.get_config())  # a fresh copy per run
    got, expected = run(opt), reference(rule, **hp)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
    assert opt.iterations == 4


def test_keras_defaults_by_name():
    assert optimizers.get("sgd").get_config()["learning_rate"] == 0.01
    assert optimizers.get("rmsprop").get_config()["rho"] == 0.9
    adam = optimizers.get("Adam").get_config()
    assert (adam["learning_rate"], adam["beta_1"], adam["beta_2"], adam["epsilon"]) == (0.001, 0.9, 0.999, 1e-7)
    assert optimizers.get("adamw").weight_decay == 0.004
    assert isinstance(optimizers.get({"class_name": "RMSprop", "config": {"learning_rate": 0.1}}), optimizers.RMSprop)


def test_clipping():
    g = [np.array([3.0, 4.0]), np.array([12.0])]  # norms 5 and 12; global 13
    for kwargs, expected in [
        (dict(clipnorm=1.0), [np.array([0.6, 0.8]), np.array([1.0])]),
        (dict(clipvalue=3.5), [np.array([3.0, 3.5]), np.array([3.5])]),
        (dict(global_clipnorm=6.5), [np.array([1.5, 2.0]), np.array([6.0])]),
        (dict(clipnorm=100.0), g),
    ]:
        w = [np.zeros(2), np.zeros(1)]
        optimizers.SGD(learning_rate=1.0, **kwargs).apply([x.copy() for x in g], w)
        for got, exp in zip(w, expected):
            np.testing.assert_allclose(-got, exp, rtol=1e-12)
    with pytest.raises(ValueError, match="only one of"):
        optimizers.Adam(clipnorm=1.0, clipvalue=1.0)


@pytest.mark.parametrize("kwargs, exc", [({"learning_rate": -1}, ValueError), ({"learning_rate": "fast"}, TypeError),
                                         ({"beta_1": 1.0}, ValueError), ({"clipnorm": 0}, ValueError)])  # fmt: skip
def test_bad_optimizer_arguments(kwargs, exc):
    with pytest.raises(exc):
        optimizers.Adam(**kwargs)


def test_optimizer_state_round_trip():
    opt = optimizers.Adam(0.1)
    w = run(opt, steps=2)
    state = opt.get_state()
    after = run_from(opt, w, 2)
    opt.set_state(state)
    again = run_from(opt, w, 2)
    for a, b in zip(after, again):
        np.testing.assert_array_equal(a, b)


def run_from(opt, w, steps):
    w = [x.copy() for x in w]
    for _ in range(steps):
        opt.apply(grads_at(w), w)
    return w


def test_regularizers_values_and_gradients():
    w = np.array([[1.0, -2.0], [0.5, 0.0]])
    assert regularizers.L2(0.1)(w) == pytest.approx(0.1 * 5.25)
    assert regularizers.L1(0.1)(w) == pytest.approx(0.1 * 3.5)
    reg = regularizers.get({"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0.2}})
    assert reg(w) == pytest.approx(0.35 + 1.05)
    eps = 1e-6
    for i, j in [(0, 0), (0, 1), (1, 0)]:
        d = np.zeros_like(w)
        d[i, j] = eps
        fd = (reg(w + d) - reg(w - d)) / (2 * eps)
        assert reg.gradient(w)[i, j] == pytest.approx(fd, rel=1e-6)
    assert regularizers.get("l2").l2 == 0.01
    with pytest.raises(ValueError):
        regularizers.L2(-1.0)


def test_to_categorical():
    out = to_categorical(np.array([[1], [0], [3]]))
    assert out.shape == (3, 4) and out.dtype == np.float32
    np.testing.assert_array_equal(out.argmax(axis=1), [1, 0, 3])
    assert to_categorical([[0, 1], [2, 2]], num_classes=3).shape == (2, 2, 3)
    with pytest.raises(ValueError, match="num_classes"):
        to_categorical([0, 5], num_classes=3)
    with pytest.raises(ValueError, match=">= 0"):
        to_categorical([-1, 0])
    with pytest.raises(TypeError):
        to_categorical(["a"])


def test_pad_sequences_as_keras():
    seqs = [[1, 2, 3, 4], [5], [], [6, 7]]
    np.testing.assert_array_equal(pad_sequences(seqs), [[1, 2, 3, 4], [0, 0, 0, 5], [0, 0, 0, 0], [0, 0, 6, 7]])
    np.testing.assert_array_equal(
        pad_sequences(seqs, maxlen=3, padding="post", truncating="pre", value=-1),
        [[2, 3, 4], [5, -1, -1], [-1, -1, -1], [6, 7, -1]],
    )
    np.testing.assert_array_equal(pad_sequences(seqs, maxlen=2, truncating="post")[0], [1, 2])
    steps = [np.ones((3, 2)), np.full((1, 2), 2.0)]
    out = pad_sequences(steps, dtype="float32", padding="post")
    assert out.shape == (2, 3, 2) and out.dtype == np.float32 and out[1, 1:].sum() == 0 and out[1, 0, 0] == 2
    with pytest.raises(ValueError, match="padding"):
        pad_sequences(seqs, padding="middle")
    with pytest.raises(ValueError, match="step shape"):
        pad_sequences([np.ones((2, 2)), np.ones((2, 3))])


def test_set_random_seed():
    set_random_seed(3)
    a = (np.random.rand(), __import__("random").random())
    set_random_seed(3)
    assert (np.random.rand(), __import__("random").random()) == a
    with pytest.raises(ValueError):
        set_random_seed(-1)


def _numpy_step(opt, i, g, v, lr, slots):
    """One step as whole-array numpy expressions (what the compiled loops of kernels/optim.py replace)."""
    if isinstance(opt, optimizers.Adam):
        t = opt.iterations + 1
        alpha = lr * math.sqrt(1 - opt.beta_2**t) / (1 - opt.beta_1**t)
        m, vel = slots["momentum"][i], slots["velocity"][i]
        m += (1 - opt.beta_1) * (g - m)
        vel += (1 - opt.beta_2) * (g * g - vel)
        if opt.amsgrad:
            vhat = slots["velocity_hat"][i]
            np.maximum(vhat, vel, out=vhat)
            vel = vhat
        v -= (alpha * m) / (np.sqrt(vel) + opt.epsilon)
    elif isinstance(opt, optimizers.RMSprop):
        vel = slots["velocity"][i]
        vel *= opt.rho
        vel += (1 - opt.rho) * g * g
        den = vel + opt.epsilon
        if opt.centered:
            avg = slots["average_gradient"][i]
            avg *= opt.rho
            avg += (1 - opt.rho) * g
            den -= avg * avg
        inc = lr * g / np.sqrt(den)
        if opt.momentum:
            mom = slots["momentum"][i]
            mom *= opt.momentum
            mom += inc
            v -= mom
        else:
            v -= inc
    elif opt.momentum:
        m = slots["momentum"][i]
        m *= opt.momentum
        m -= lr * g
        v += (opt.momentum * m - lr * g) if opt.nesterov else m
    else:
        v -= lr * g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", range(len(CASES)), ids=[type(c[0]).__name__ for c in CASES])
def test_compiled_updates_equal_numpy_bit_for_bit(case, dtype):
    """The compiled per-weight loops give the bits of numpy's array expressions, in either dtype."""
    opt = type(CASES[case][0]).from_config(CASES[case][0].get_config())
    rng = np.random.default_rng(case)
    ws = [rng.normal(size=(7, 5)).astype(dtype), rng.normal(size=13).astype(dtype)]
    ref = [w.copy() for w in ws]
    opt.build(ws)
    slots = {k: [s.copy() for s in v] for k, v in opt._slots.items()}
    for _ in range(5):
        gs = [rng.normal(size=w.shape).astype(dtype) for w in ws]
        for i, (g, v) in enumerate(zip(gs, ref)):
            if opt.weight_decay:
                v -= (opt.learning_rate * opt.weight_decay) * v
            _numpy_step(opt, i, g, v, opt.learning_rate, slots)
        opt.apply(gs, ws)
    for got, expected in zip(ws, ref):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, expected)
    for name, arrays in slots.items():
        for got, expected in zip(opt._slots[name], arrays):
            np.testing.assert_array_equal(got, expected)


def test_updates_reach_weights_that_are_not_contiguous():
    big = np.ones((4, 6))
    w = big[:, ::2]
    optimizers.SGD(0.1, momentum=0.5).apply([np.ones_like(w)], [w])
    np.testing.assert_array_equal(big[:, ::2], 0.9)
    np.testing.assert_array_equal(big[:, 1::2], 1.0)
