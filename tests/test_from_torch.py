"""from_torch: numbarnn models built from PyTorch recurrent modules compute what the modules compute.

Evidence: tests/data/torch_reference/, written by tests/data/make_torch_reference.py
with torch, holds the state dicts of ``torch.nn.LSTM``, ``GRU`` and ``RNN`` (tanh
and relu) modules of two layers, one or two directions, either batch layout, with
and without biases, with an input and the module's output in float32 and float64.
The state dicts are read from .npz files with numpy alone, and from two
``.safetensors`` files (skipped without the safetensors package); ``predict`` must
agree within 1e-5 in float32 and 1e-12 in float64. The tests that pass a live torch
module skip when torch is not importable. Then every refusal, by its message.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

import numbarnn
from numbarnn.formats.pytorch import from_torch

DATA = Path(__file__).parent / "data" / "torch_reference"
TOL = {"float32": 1e-5, "float64": 1e-12}
DTYPES = ("float32", "float64")

# reference file -> (cell, nonlinearity) as from_torch takes them
FILES = {"lstm": ("lstm", None), "gru": ("gru", None), "rnn_tanh": ("rnn", "tanh"), "rnn_relu": ("rnn", "relu")}
LAYER_CLASS = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}


def _load(name):
    with np.load(DATA / f"{name}.npz", allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files}
    return arrays, json.loads(str(arrays.pop("meta")))["cases"]


REFERENCE = {name: _load(name) for name in (*FILES, "safetensors")}
CASES = [(name, case) for name in FILES for case in REFERENCE[name][1]]


def case_arrays(name, case):
    """The state dict (torch's keys), the other arrays (x, y, y64) and the module's config of one case."""
    arrays, cases = REFERENCE[name]
    prefix = case + "__"
    own = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
    others = {k: own.pop(k) for k in ("x", "y", "y64")}
    return own, others, cases[case]["config"]


def batch_first(a, config):
    """An array of the module's layout, batch-first."""
    return a if config["batch_first"] else a.transpose(1, 0, 2)


def dtype_of(model):
    """The dtype every weight of ``model`` holds."""
    (dtype,) = {w.dtype for w in model.get_weights()}
    return dtype


def worst_error(model, x, want, dtype):
    got = model.predict(x.astype(dtype), verbose=0)
    assert got.dtype == np.dtype(dtype)
    assert got.shape == want.shape
    return float(np.max(np.abs(got - want)))


def _state(cell="gru", layers=1, bidirectional=False, bias=True, F=3, H=4, seed=0, prefix=""):
    """A random state dict of numpy arrays, with torch's names and shapes."""
    G = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    rng = np.random.default_rng(seed)
    state = {}
    for layer in range(layers):
        for suffix in ("", "_reverse") if bidirectional else ("",):
            inputs = F if layer == 0 else H * (2 if bidirectional else 1)
            shapes = {"weight_ih": (G * H, inputs), "weight_hh": (G * H, H)}
            if bias:
                shapes.update({"bias_ih": (G * H,), "bias_hh": (G * H,)})
            for part, shape in shapes.items():
                state[f"{prefix}{part}_l{layer}{suffix}"] = rng.uniform(-1, 1, size=shape).astype(np.float32)
    return state


# -- the committed references ----------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, case", CASES, ids=[f"{n}-{c}" for n, c in CASES])
def test_state_dict_reproduces_torch(name, case, dtype):
    state, ref, config = case_arrays(name, case)
    cell, nonlinearity = FILES[name]
    model = from_torch(state, cell=cell, nonlinearity=nonlinearity, dtype=dtype)
    layers = model.layers
    assert len(layers) == config["num_layers"]
    for layer in layers:
        inner = layer.forward_layer if config["bidirectional"] else layer
        assert type(layer).__name__ == ("Bidirectional" if config["bidirectional"] else LAYER_CLASS[cell])
        assert type(inner).__name__ == LAYER_CLASS[cell]
        assert inner.use_bias == config["bias"]
        assert inner.units == config["hidden_size"]
    want = batch_first(ref["y64"] if dtype == "float64" else ref["y"], config)
    err = worst_error(model, batch_first(ref["x"], config), want, dtype)
    assert err < TOL[dtype], err


@pytest.mark.parametrize("name, case", CASES, ids=[f"{n}-{c}" for n, c in CASES])
def test_settings_given_explicitly_agree(name, case):
    state, ref, config = case_arrays(name, case)
    cell, nonlinearity = FILES[name]
    settings = {k: config[k] for k in ("num_layers", "bidirectional", "bias", "input_size", "hidden_size")}
    model = from_torch(state, cell=cell, nonlinearity=nonlinearity, **settings)
    inferred = from_torch(state, cell=cell, nonlinearity=nonlinearity)
    x = batch_first(ref["x"], config)
    np.testing.assert_array_equal(model.predict(x, verbose=0), inferred.predict(x, verbose=0))
    assert worst_error(model, x, batch_first(ref["y"], config), "float32") < TOL["float32"]


def test_default_dtype_follows_the_weights():
    state, ref, config = case_arrays("gru", "bi_steps_first_bias")
    assert dtype_of(from_torch(state, cell="gru")) == "float32"
    model = from_torch({k: v.astype(np.float64) for k, v in state.items()}, cell="gru")
    assert dtype_of(model) == "float64"
    err = worst_error(model, batch_first(ref["x"], config), batch_first(ref["y64"], config), "float64")
    assert err < TOL["float64"], err
    mixed = dict(state, weight_hh_l0=state["weight_hh_l0"].astype(np.float64))
    assert dtype_of(from_torch(mixed, cell="gru")) == "float32"


def test_an_rnns_nonlinearity_defaults_to_tanh():
    state, ref, _ = case_arrays("rnn_tanh", "single")
    model = from_torch(state, cell="simple_rnn")
    assert model.layers[0].activation == "tanh"
    assert worst_error(model, ref["x"], ref["y"], "float32") < TOL["float32"]
    relu, _, _ = case_arrays("rnn_relu", "single")
    assert from_torch(relu, cell="rnn", nonlinearity="relu").layers[0].activation == "relu"


# -- the conversion, block by block ------------------------------------------------------------
def test_gru_blocks_and_biases_are_keras_reset_after_ones():
    state = _state("gru", H=2)
    (layer,) = from_torch(state, cell="gru").layers
    assert layer.reset_after is True
    kernel, recurrent, bias = layer.get_weights()
    r, z, n = np.split(state["weight_ih_l0"], 3)
    np.testing.assert_array_equal(kernel, np.concatenate([z, r, n]).T)
    r, z, n = np.split(state["weight_hh_l0"], 3)
    np.testing.assert_array_equal(recurrent, np.concatenate([z, r, n]).T)
    assert bias.shape == (2, 6)
    for row, key in enumerate(("bias_ih_l0", "bias_hh_l0")):
        r, z, n = np.split(state[key], 3)
        np.testing.assert_array_equal(bias[row], np.concatenate([z, r, n]))


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_lstm_and_rnn_keep_torchs_blocks_and_sum_the_biases(cell):
    state = _state(cell, H=2)
    kernel, recurrent, bias = from_torch(state, cell=cell, dtype="float64").layers[0].get_weights()
    np.testing.assert_array_equal(kernel, state["weight_ih_l0"].T)  # LSTM i, f, g, o is Keras's i, f, c, o
    np.testing.assert_array_equal(recurrent, state["weight_hh_l0"].T)
    np.testing.assert_array_equal(bias, state["bias_ih_l0"].astype(np.float64) + state["bias_hh_l0"])


def test_no_torch_is_imported_for_a_state_dict(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # any import of torch now raises ImportError
    state, ref, _ = case_arrays("lstm", "single")
    assert worst_error(from_torch(state, cell="lstm"), ref["x"], ref["y"], "float32") < TOL["float32"]


def test_the_public_name():
    if not hasattr(numbarnn, "from_torch"):
        pytest.skip("numbarnn does not export from_torch (yet)")
    assert numbarnn.from_torch is from_torch


# -- .safetensors files -------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_safetensors_file(dtype):
    pytest.importorskip("safetensors")
    arrays, cases = REFERENCE["safetensors"]
    assert cases["lstm_bidirectional"]["config"]["bidirectional"] is True
    model = from_torch(DATA / "lstm_bidirectional.safetensors", cell="lstm", dtype=dtype)
    assert [type(layer).__name__ for layer in model.layers] == ["Bidirectional", "Bidirectional"]
    want = arrays["lstm_bidirectional__y64" if dtype == "float64" else "lstm_bidirectional__y"]
    err = worst_error(model, arrays["lstm_bidirectional__x"], want, dtype)
    assert err < TOL[dtype], err


@pytest.mark.parametrize("prefix", [None, "encoder", "encoder."], ids=["found", "no-dot", "dot"])
def test_safetensors_file_of_a_parent_module(prefix):
    pytest.importorskip("safetensors")
    arrays, cases = REFERENCE["safetensors"]
    assert {"head.weight", "head.bias", "encoder.weight_ih_l0"} <= set(cases["encoder_gru"]["keys"])
    model = from_torch(str(DATA / "encoder_gru.safetensors"), cell="gru", prefix=prefix)
    assert [type(layer).__name__ for layer in model.layers] == ["GRU", "GRU"]
    err = worst_error(model, arrays["encoder_gru__x"], arrays["encoder_gru__y"], "float32")
    assert err < TOL["float32"], err


def test_missing_safetensors_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r'pip install "numbarnn\[safetensors\]"'):
        from_torch(DATA / "lstm_bidirectional.safetensors", cell="lstm")


def test_file_refusals(tmp_path):
    with pytest.raises(ValueError, match=r"only \.safetensors files are read; got the path '.*model\.pt'.*torch\.load"):
        from_torch(tmp_path / "model.pt", cell="lstm")
    with pytest.raises(ValueError, match=r"only \.safetensors files are read; got the path 'weights\.npz'$"):
        from_torch("weights.npz", cell="lstm")
    with pytest.raises(FileNotFoundError, match="no such .safetensors file"):
        from_torch(tmp_path / "absent.safetensors", cell="lstm")
    pytest.importorskip("safetensors")
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(b"\x00\x01 not a safetensors file")
    with pytest.raises(ValueError, match="could not read .*damaged.safetensors.* as a safetensors file"):
        from_torch(damaged, cell="lstm")


# -- a live torch module (CI's interop step) ----------------------------------------------------------
MODULES = [(cls, extra, bidirectional, first, bias)
           for cls, extra in [("LSTM", {}), ("GRU", {}), ("RNN", {"nonlinearity": "tanh"}),
                              ("RNN", {"nonlinearity": "relu"})]
           for bidirectional in (False, True) for first in (False, True) for bias in (False, True)]  # fmt: skip


def _module_id(cls, extra, bidirectional, first, bias):
    return "-".join([cls, *extra.values(), "bi" if bidirectional else "uni",
                     "batch_first" if first else "steps_first", "bias" if bias else "no_bias"])  # fmt: skip


@pytest.mark.parametrize("cls, extra, bidirectional, first, bias", MODULES, ids=[_module_id(*m) for m in MODULES])
def test_torch_module(cls, extra, bidirectional, first, bias):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = getattr(torch.nn, cls)(3, 4, num_layers=2, bidirectional=bidirectional, batch_first=first, bias=bias,
                                    dropout=0.5, **extra)  # fmt: skip
    module.eval()
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype(np.float32)
    for dtype in DTYPES:
        module = module.double() if dtype == "float64" else module.float()
        xt = torch.from_numpy(x.astype(dtype))
        with torch.no_grad():
            want = module(xt if first else xt.transpose(0, 1))[0].numpy()
        model = from_torch(module)
        assert dtype_of(model) == dtype
        assert len(model.layers) == 2
        err = worst_error(model, x, want if first else want.transpose(1, 0, 2), dtype)
        assert err < TOL[dtype], (dtype, err)


def test_torch_module_in_a_parent_and_its_state_dict():
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    parent = torch.nn.Sequential(torch.nn.LSTM(3, 4, batch_first=True), torch.nn.Linear(4, 1))
    x = np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float32)
    with torch.no_grad():
        want = parent[0](torch.from_numpy(x))[0].numpy()
    model = from_torch(parent.state_dict(), cell="lstm")  # the keys are 0.weight_ih_l0, ..., 1.weight, 1.bias
    assert worst_error(model, x, want, "float32") < TOL["float32"]
    with pytest.raises(TypeError, match=r"obj must be a torch.nn.LSTM, GRU or RNN module; got torch.nn.*Sequential"):
        from_torch(parent)


def test_torch_module_refusals():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="proj_size=2"):
        from_torch(torch.nn.LSTM(3, 4, proj_size=2))
    with pytest.raises(ValueError, match="proj_size > 0"):
        from_torch(torch.nn.LSTM(3, 4, proj_size=2).state_dict(), cell="lstm")
    gru = torch.nn.GRU(3, 4, num_layers=2)
    with pytest.raises(ValueError, match="prefix applies to a state dict"):
        from_torch(gru, prefix="rnn.")
    with pytest.raises(ValueError, match="cell='lstm' disagrees with the module, whose cell is 'gru'"):
        from_torch(gru, cell="lstm")
    with pytest.raises(ValueError, match="num_layers=1 disagrees with the module, whose num_layers is 2"):
        from_torch(gru, num_layers=1)
    with pytest.raises(ValueError, match="nonlinearity applies to torch.nn.RNN only; the module is a GRU"):
        from_torch(gru, nonlinearity="relu")
    with pytest.raises(ValueError, match="nonlinearity='tanh' disagrees with the module, whose nonlinearity is 'relu'"):
        from_torch(torch.nn.RNN(3, 4, nonlinearity="relu"), nonlinearity="tanh")
    with pytest.raises(ValueError, match="num_layers must be a positive int; got 2.0"):
        from_torch(gru, num_layers=2.0)
    with pytest.raises(ValueError, match="bidirectional must be True or False; got 'no'"):
        from_torch(gru, bidirectional="no")
    assert from_torch(gru, cell="GRU", num_layers=2, bidirectional=False, hidden_size=4).layers[1].units == 4


# -- refusals -------------------------------------------------------------------------------------
def test_obj_of_another_kind_is_refused():
    with pytest.raises(TypeError, match=r"obj must be .* or the path of a \.safetensors file; got int"):
        from_torch(42, cell="lstm")
    with pytest.raises(TypeError, match="got numpy.ndarray"):
        from_torch(np.zeros((4, 3)), cell="rnn")


def test_cell_is_checked():
    state = _state("gru")
    with pytest.raises(ValueError, match="cell is required with a state dict or a file: 'lstm', 'gru' or 'rnn'"):
        from_torch(state)
    with pytest.raises(ValueError, match=r"unknown cell 'transformer'; expected one of 'lstm', 'gru', 'rnn'"):
        from_torch(state, cell="transformer")
    with pytest.raises(ValueError, match=r"a LSTM's weight_hh has shape \(4\*hidden_size, hidden_size\); found "
                                         r"shape \(12, 4\); that is the shape of a GRU's weight_hh: is cell='gru'\?"):
        from_torch(state, cell="lstm")
    with pytest.raises(ValueError, match=r"a RNN's weight_hh .* found shape \(16, 4\); .* LSTM's .* cell='lstm'"):
        from_torch(_state("lstm"), cell="rnn")


def test_keys_are_checked():
    state = _state("lstm", layers=2, bidirectional=True)
    with pytest.raises(ValueError, match=r"missing key bias_hh_l1_reverse \(for num_layers=2, bidirectional=True, "
                                         r"bias=True\)"):
        from_torch({k: v for k, v in state.items() if k != "bias_hh_l1_reverse"}, cell="lstm")
    with pytest.raises(ValueError, match="missing key weight_ih_l2 .for num_layers=3"):
        from_torch(state, cell="lstm", num_layers=3)
    with pytest.raises(ValueError, match=r"unexpected key\(s\) \['bias_hh_l1', .*\] for num_layers=1"):
        from_torch(state, cell="lstm", num_layers=1)
    with pytest.raises(ValueError, match=r"unexpected key\(s\) \['bias_hh_l0_reverse', .* bidirectional=False"):
        from_torch(state, cell="lstm", bidirectional=False)
    with pytest.raises(ValueError, match=r"unexpected key\(s\) \['bias_hh_l0', .*bias=False"):
        from_torch(state, cell="lstm", bias=False)
    plain = _state("lstm", bias=False)
    with pytest.raises(ValueError, match="missing key bias_ih_l0 .*bias=True"):
        from_torch(plain, cell="lstm", bias=True)
    with pytest.raises(ValueError, match="missing key weight_ih_l0_reverse .*bidirectional=True"):
        from_torch(plain, cell="lstm", bidirectional=True)
    with pytest.raises(ValueError, match="is a projection weight"):
        from_torch(dict(plain, weight_hr_l0=np.zeros((4, 4), np.float32)), cell="lstm")


def test_prefix_is_checked():
    two = {**_state(prefix="encoder."), **_state(prefix="decoder.", seed=1)}
    with pytest.raises(ValueError, match=r"several recurrent modules .*prefixes \['decoder.', 'encoder.'\]"):
        from_torch(two, cell="gru")
    encoder = from_torch(two, cell="gru", prefix="encoder")
    np.testing.assert_array_equal(encoder.layers[0].get_weights()[0][:, 4:8], two["encoder.weight_ih_l0"][:4].T)
    with pytest.raises(ValueError, match=r"missing key 'dec.weight_ih_l0' \(prefix='dec.'\); keys ending in "
                                         r"weight_ih_l0: \['decoder.weight_ih_l0', 'encoder.weight_ih_l0'\]"):
        from_torch(two, cell="gru", prefix="dec")
    with pytest.raises(ValueError, match="prefix must be a string such as 'rnn.'; got 3"):
        from_torch(two, cell="gru", prefix=3)
    with pytest.raises(ValueError, match=r"missing key 'weight_ih_l0' \(no key ends in it\); the keys found start "
                                         r"with \['head.bias', 'head.weight'\]"):
        from_torch({"head.weight": np.zeros((1, 4)), "head.bias": np.zeros(1)}, cell="gru")


def test_shapes_are_checked():
    state = _state("gru", layers=2)
    with pytest.raises(ValueError, match=r"weight_hh_l1: expected shape \(12, 4\) \(a GRU with input_size=3, "
                                         r"hidden_size=4, num_layers=2, bidirectional=False, bias=True\); found "
                                         r"shape \(12, 5\)"):
        from_torch(dict(state, weight_hh_l1=np.zeros((12, 5), np.float32)), cell="gru")
    with pytest.raises(ValueError, match=r"bias_ih_l0: expected shape \(12,\) .* found shape \(12, 1\)"):
        from_torch(dict(state, bias_ih_l0=np.zeros((12, 1), np.float32)), cell="gru")
    with pytest.raises(ValueError, match=r"weight_ih_l0: expected shape \(12, 5\) .*input_size=5.*"
                                         r" found shape \(12, 3\)"):
        from_torch(state, cell="gru", input_size=5)
    with pytest.raises(ValueError, match=r"weight_ih_l0: expected shape \(6, 3\) .*hidden_size=2.*"
                                         r" found shape \(12, 3\)"):
        from_torch(state, cell="gru", hidden_size=2)
    with pytest.raises(ValueError, match=r"weight_ih_l0: expected a 2-D weight; found shape \(12, 3, 1\)"):
        from_torch(dict(state, weight_ih_l0=state["weight_ih_l0"][..., None]), cell="gru")


def test_values_are_checked():
    state = _state("rnn")
    with pytest.raises(ValueError, match="weight_hh_l0: the weights must be finite numbers; found NaN or infinity"):
        from_torch(dict(state, weight_hh_l0=np.full((4, 4), np.nan, np.float32)), cell="rnn")
    with pytest.raises(ValueError, match="state dict entry 'bias_ih_l0' must hold real numbers; got dtype <U3"):
        from_torch(dict(state, bias_ih_l0="abc"), cell="rnn")
    with pytest.raises(ValueError, match="state dict entry 'bias_ih_l0' is not an array: list"):
        from_torch(dict(state, bias_ih_l0=[[1.0, 2.0], [3.0]]), cell="rnn")


@pytest.mark.parametrize("name", ["num_layers", "input_size", "hidden_size"])
@pytest.mark.parametrize("value", [0, -1, 2.0, "2", True])
def test_sizes_must_be_positive_ints(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a positive int; got {value!r}"):
        from_torch(_state("rnn"), cell="rnn", **{name: value})


@pytest.mark.parametrize("name", ["bidirectional", "bias"])
@pytest.mark.parametrize("value", [1, "yes"])
def test_flags_must_be_bools(name, value):
    with pytest.raises(ValueError, match=f"{name} must be True or False; got {value!r}"):
        from_torch(_state("rnn"), cell="rnn", **{name: value})


def test_nonlinearity_and_dtype_are_checked():
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'; got 'sigmoid'"):
        from_torch(_state("rnn"), cell="rnn", nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="nonlinearity applies to cell='rnn' only; got it with cell='lstm'"):
        from_torch(_state("lstm"), cell="lstm", nonlinearity="tanh")
    for dtype in ("float16", "int32", "double precision"):
        with pytest.raises(ValueError, match=f"dtype must be 'float32' or 'float64'; got '{dtype}'"):
            from_torch(_state("rnn"), cell="rnn", dtype=dtype)
    assert dtype_of(from_torch(_state("rnn"), cell="rnn", dtype=np.float64)) == "float64"
