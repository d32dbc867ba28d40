"""PyTorch recurrent weights in: :func:`from_torch` makes a numbarnn model from a ``torch.nn.LSTM``,
``GRU`` or ``RNN``, its state dict, or a ``.safetensors`` file of one.

torch is imported only when the object given is a torch module, and the
safetensors package only when a file is read: a state dict of numpy arrays
converts with numpy alone.

Weights are converted here, once, from torch's layout to Keras's (see
:func:`from_torch`); the model built is a :class:`~numbarnn.Sequential` of
ordinary numbarnn layers that reads batch-first input, whatever the torch
module's ``batch_first``.
"""

import collections.abc
import os
import re

import numpy as np

from ..layers import GRU, LSTM, Bidirectional, Input, SimpleRNN
from ..models.sequential import Sequential

__all__ = ["from_torch"]

_INSTALL_HINT = 'reading .safetensors files needs the safetensors package: pip install "numbarnn[safetensors]"'

# Accepted ``cell`` names -> (canonical name, number of gate blocks, numbarnn layer class).
_CELLS = {
    "lstm": ("lstm", 4, LSTM),
    "gru": ("gru", 3, GRU),
    "rnn": ("rnn", 1, SimpleRNN),
    "simple_rnn": ("rnn", 1, SimpleRNN),
    "simplernn": ("rnn", 1, SimpleRNN),
}
_CELL_BY_GATES = {4: "lstm", 3: "gru", 1: "rnn"}
_TORCH_NAMES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
_TORCH_MODES = {"LSTM": ("lstm", None), "GRU": ("gru", None), "RNN_TANH": ("rnn", "tanh"), "RNN_RELU": ("rnn", "relu")}
_NONLINEARITIES = ("tanh", "relu")
_KEY = re.compile(r"^(?P<prefix>.*?)(?P<kind>weight|bias)_(?P<part>ih|hh|hr)_l(?P<layer>\d+)(?P<reverse>_reverse)?$")


def from_torch(obj, *, cell=None, prefix=None, num_layers=None, bidirectional=None, bias=None, input_size=None,
               hidden_size=None, nonlinearity=None, dtype=None):  # fmt: skip
    """A numbarnn model computing what a PyTorch ``LSTM``, ``GRU`` or ``RNN`` computes.

    Parameters
    ----------
    obj : torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN, mapping, str or os.PathLike
        - a torch module (any ``num_layers``, ``bidirectional``, ``batch_first``, with or
          without biases; ``proj_size > 0`` is refused): its settings are read from it;
        - its state dict: a mapping of torch's names (``weight_ih_l0``, ``weight_hh_l0``,
          ``bias_ih_l0``, ``bias_hh_l0``, ``weight_ih_l0_reverse``, ...) to torch tensors
          or numpy arrays; keys that are not recurrent weights (a parent module's other
          layers) are left alone;
        - the path of a ``.safetensors`` file holding such a state dict (read with the
          safetensors package: ``pip install "numbarnn[safetensors]"``).
    cell : {'lstm', 'gru', 'rnn', 'simple_rnn'}, optional
        The module's class (``'rnn'`` and ``'simple_rnn'`` both mean ``torch.nn.RNN``);
        required for a state dict or a file, read from a module.
    prefix : str, optional
        The part of the keys before ``weight_ih_l0``, as in a parent module's state dict
        (``'rnn.'`` for ``rnn.weight_ih_l0``; the trailing dot may be left out). By default
        the one prefix found before ``weight_ih_l0``; a ValueError lists them when there
        are several. Not taken with a module.
    num_layers : int, optional
        By default the number of layers in the keys (``_l0``, ``_l1``, ...).
    bidirectional : bool, optional
        By default whether ``..._reverse`` keys are present.
    bias : bool, optional
        By default whether ``bias_*`` keys are present.
    input_size, hidden_size : int, optional
        By default from the shapes of ``weight_ih_l0`` and ``weight_hh_l0``.
    nonlinearity : {'tanh', 'relu'}, optional
        An RNN's activation, which a state dict does not hold: 'tanh' by default, as in torch.
    dtype : {'float32', 'float64'}, optional
        The model's dtype. By default float64 when every weight is float64, else float32.

    For a state dict or a file, the settings given are checked against the keys and
    shapes found, and what is not given is inferred from them; for a module they are
    checked against its settings.

    Returns
    -------
    Sequential
        ``Input(shape=(None, input_size))``, then per torch layer an ``LSTM``, ``GRU``
        (``reset_after=True``) or ``SimpleRNN`` with ``return_sequences=True``, in a
        ``Bidirectional(merge_mode='concat')`` when the module is bidirectional. Its
        ``predict(x)`` on ``x`` of shape (batch, steps, input_size) returns the module's
        full output sequence, batch-first: ``module(x)[0]`` of shape (batch, steps,
        D * hidden_size) with D = 2 when bidirectional, else 1 (transposed from
        (steps, batch, ...) when the module is not ``batch_first``), forward outputs
        then backward ones on the last axis, as torch concatenates them. The final
        states torch also returns are not outputs of the model.

    Raises
    ------
    TypeError
        When ``obj`` is none of the above.
    ValueError
        For an unknown ``cell``, a missing or unexpected key, a weight of the wrong shape
        (the key, the shape expected and the shape found are named), a setting that
        disagrees with the weights or the module, ``proj_size > 0``, or a path that is not
        a ``.safetensors`` file.
    FileNotFoundError
        For the path of a ``.safetensors`` file that does not exist.
    ImportError
        Reading a file without the safetensors package.

    Notes
    -----
    With ``G`` gate blocks of ``H = hidden_size`` rows each (LSTM 4, GRU 3, RNN 1) and
    ``F`` inputs to a layer (``input_size`` for the first, ``D * H`` after it), torch's
    ``weight_ih`` (G*H, F), ``weight_hh`` (G*H, H), ``bias_ih`` and ``bias_hh`` (G*H,)
    become Keras's weights as follows:

    - ``kernel`` (F, G*H) = ``weight_ih.T`` and ``recurrent_kernel`` (H, G*H) = ``weight_hh.T``;
    - LSTM: torch's gate blocks i, f, g, o are Keras's i, f, c, o; ``bias`` (4*H,) =
      ``bias_ih + bias_hh``;
    - GRU: torch's blocks r, z, n are reordered to Keras's z, r, h (in the kernels and
      the biases). torch's GRU applies the reset gate after the recurrent product, which
      is Keras's ``GRU(reset_after=True)``: its ``bias`` (2, 3*H) holds ``bias_ih`` in
      row 0 and ``bias_hh`` in row 1;
    - RNN: ``SimpleRNN(activation=nonlinearity)``, ``bias`` (H,) = ``bias_ih + bias_hh``;
    - ``bias=False``: ``use_bias=False`` and no bias weight.

    Sums of biases are computed in float64, then every weight is cast to ``dtype``.
    torch's ``dropout`` between layers acts only in training and is left out: the model
    predicts what the module computes in ``eval()`` mode (and in training mode without
    dropout).

    Examples
    --------
    A GRU's state dict as numpy arrays (``module.state_dict()`` works the same, with torch's tensors):

    >>> import numpy as np
    >>> from numbarnn import from_torch
    >>> rng = np.random.default_rng(0)
    >>> shapes = {"weight_ih_l0": (12, 3), "weight_hh_l0": (12, 4), "bias_ih_l0": (12,), "bias_hh_l0": (12,)}
    >>> state = {k: rng.standard_normal(s).astype("float32") for k, s in shapes.items()}
    >>> model = from_torch(state, cell="gru")
    >>> model.predict(np.zeros((2, 5, 3), dtype="float32"), verbose=0).shape
    (2, 5, 4)
    """
    settings = dict(cell=cell, num_layers=num_layers, bidirectional=bidirectional, bias=bias,
                    input_size=input_size, hidden_size=hidden_size, nonlinearity=nonlinearity)  # fmt: skip
    dtype = _check_dtype(dtype)
    if _is_torch_object(obj):
        if prefix is not None:
            raise ValueError("prefix applies to a state dict or a file, not to a torch module; leave it out")
        state, settings = _from_module(obj, settings)
        prefix = ""
    elif isinstance(obj, collections.abc.Mapping):
        state = obj
    elif isinstance(obj, (str, os.PathLike)):
        state = _load_safetensors(obj)
    else:
        raise TypeError(
            "obj must be a torch.nn.LSTM, GRU or RNN module, its state dict (a mapping of names to tensors or "
            f"arrays) or the path of a .safetensors file; got {_describe(obj)}"
        )
    spec = _read_spec(state, prefix, settings)
    return _build(spec, dtype)


# -- inputs -----------------------------------------------------------------
def _describe(obj):
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__qualname__


def _is_torch_object(obj):
    """Whether ``obj``'s class comes from torch (looked up by module name: torch is not imported)."""
    return any(str(getattr(c, "__module__", "")).split(".")[0] == "torch" for c in type(obj).__mro__)


def _from_module(module, settings):
    """The state dict and settings of a torch recurrent module, with the settings given checked against it."""
    import torch

    if not isinstance(module, torch.nn.RNNBase):
        raise TypeError(
            f"obj must be a torch.nn.LSTM, GRU or RNN module; got {_describe(module)} (for a module holding one, "
            "pass its state_dict(); the prefix before weight_ih_l0 is found by itself)"
        )
    if getattr(module, "proj_size", 0):
        raise ValueError(
            f"an LSTM with proj_size={module.proj_size} (a projected hidden state) has no Keras or numbarnn "
            "equivalent; only proj_size=0 is converted"
        )
    cell, nonlinearity = _TORCH_MODES[module.mode]  # RNNBase refuses any other mode
    found = dict(cell=cell, num_layers=int(module.num_layers), bidirectional=bool(module.bidirectional),
                 bias=bool(module.bias), input_size=int(module.input_size), hidden_size=int(module.hidden_size),
                 nonlinearity=nonlinearity)  # fmt: skip
    checks = dict(cell=lambda v, _: _check_cell(v)[0], num_layers=_check_int, bidirectional=_check_flag,
                  bias=_check_flag, input_size=_check_int, hidden_size=_check_int)  # fmt: skip
    for name, given in settings.items():
        if given is None:
            continue
        if name == "nonlinearity" and cell != "rnn":
            raise ValueError(f"nonlinearity applies to torch.nn.RNN only; the module is a {type(module).__name__}")
        if name in checks:
            given = checks[name](given, name)
        if given != found[name]:
            raise ValueError(f"{name}={given!r} disagrees with the module, whose {name} is {found[name]!r}")
    return module.state_dict(), found


def _load_safetensors(path):
    name = os.fspath(path)
    if not isinstance(name, str) or not name.endswith(".safetensors"):
        hint = ""
        if isinstance(name, str) and name.endswith((".pt", ".pth", ".bin", ".ckpt")):
            hint = (
                " (a .pt or .pth file is a pickle: load it with torch.load(path, weights_only=True) and pass "
                "the state dict, or save it with safetensors)"
            )
        raise ValueError(f"obj: only .safetensors files are read; got the path {name!r}{hint}")
    if not os.path.isfile(name):
        raise FileNotFoundError(f"no such .safetensors file: {name!r}")
    try:
        from safetensors.numpy import load_file
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    try:
        return load_file(name)
    except Exception as exc:  # a damaged file, or a dtype numpy lacks (bfloat16)
        raise ValueError(
            f"could not read {name!r} as a safetensors file of numpy arrays: {exc} (bfloat16 weights must be "
            "saved as float32 or float16)"
        ) from exc


def _as_array(value, key):
    if hasattr(value, "detach"):  # a torch tensor (or parameter): no torch import needed
        value = value.detach().cpu()
        try:
            return np.asarray(value.numpy())
        except TypeError:  # a dtype numpy lacks, such as bfloat16
            return np.asarray(value.float().numpy())
    try:
        arr = np.asarray(value)
    except Exception as exc:
        raise ValueError(f"state dict entry {key!r} is not an array: {_describe(value)}") from exc
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"state dict entry {key!r} must hold real numbers; got dtype {arr.dtype}")
    return arr


def _check_dtype(dtype):
    if dtype is None:
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in ("float32", "float64"):  # not `dt in (...)`: numpy takes None == float64
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    return dt


def _check_cell(cell):
    if cell is None:
        raise ValueError(
            "cell is required with a state dict or a file: 'lstm', 'gru' or 'rnn' (the torch module's class)"
        )
    if not isinstance(cell, str) or cell.lower() not in _CELLS:
        raise ValueError(f"unknown cell {cell!r}; expected one of 'lstm', 'gru', 'rnn', 'simple_rnn'")
    return _CELLS[cell.lower()]


def _check_int(value, name):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return int(value)


def _check_flag(value, name):
    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    raise ValueError(f"{name} must be True or False; got {value!r}")


# -- reading the keys ---------------------------------------------------------
def _choose_prefix(keys, prefix):
    if prefix is not None:
        if not isinstance(prefix, str):
            raise ValueError(f"prefix must be a string such as 'rnn.'; got {prefix!r}")
        if prefix and not prefix.endswith("."):
            prefix += "."
        if prefix + "weight_ih_l0" not in keys:
            found = sorted(k for k in keys if k.endswith("weight_ih_l0"))
            raise ValueError(
                f"missing key {prefix + 'weight_ih_l0'!r} (prefix={prefix!r}); keys ending in weight_ih_l0: "
                f"{found or 'none'}"
            )
        return prefix
    found = sorted(k[: -len("weight_ih_l0")] for k in keys if k.endswith("weight_ih_l0"))
    found = [p for p in found if p == "" or p.endswith(".")]
    if not found:
        shown = sorted(keys)[:8]
        raise ValueError(f"missing key 'weight_ih_l0' (no key ends in it); the keys found start with {shown}")
    if len(found) > 1:
        raise ValueError(
            f"several recurrent modules in the state dict (prefixes {found}); choose one with prefix=, "
            f"e.g. prefix={found[-1]!r}"
        )
    return found[0]


def _read_spec(state, prefix, settings):
    """Check the state dict against the settings; return the layers' settings and arrays."""
    keys = [k for k in state if isinstance(k, str)]
    prefix = _choose_prefix(keys, prefix)
    name, G, _ = _check_cell(settings["cell"])
    num_layers = _check_int(settings["num_layers"], "num_layers")
    input_size = _check_int(settings["input_size"], "input_size")
    hidden_size = _check_int(settings["hidden_size"], "hidden_size")
    bidirectional = _check_flag(settings["bidirectional"], "bidirectional")
    use_bias = _check_flag(settings["bias"], "bias")
    nonlinearity = settings["nonlinearity"]
    if nonlinearity is not None and name != "rnn":
        raise ValueError(f"nonlinearity applies to cell='rnn' only; got it with cell={settings['cell']!r}")
    if nonlinearity is None:
        nonlinearity = "tanh"
    if nonlinearity not in _NONLINEARITIES:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu'; got {nonlinearity!r}")

    own = {}  # (kind, part, layer, reverse) -> key, for the keys under the prefix
    for key in keys:
        match = _KEY.match(key)
        if match is None or match["prefix"] != prefix:
            continue
        own[(match["kind"], match["part"], int(match["layer"]), bool(match["reverse"]))] = key
    if any(part == "hr" for _, part, _, _ in own):
        key = next(k for (_, part, _, _), k in own.items() if part == "hr")
        raise ValueError(
            f"key {key!r} is a projection weight (an LSTM with proj_size > 0), which has no Keras or numbarnn "
            "equivalent; only proj_size=0 is converted"
        )
    inferred_layers = 1 + max(layer for _, _, layer, _ in own)
    num_layers = inferred_layers if num_layers is None else num_layers
    if bidirectional is None:
        bidirectional = any(rev for _, _, _, rev in own)
    if use_bias is None:
        use_bias = any(kind == "bias" for kind, _, _, _ in own)
    directions = (False, True) if bidirectional else (False,)
    parts = [("weight", "ih"), ("weight", "hh")] + ([("bias", "ih"), ("bias", "hh")] if use_bias else [])
    # in torch's order, so that the first missing key or wrong shape is the one reported
    wanted = [(kind, part, layer, rev) for layer in range(num_layers) for rev in directions for kind, part in parts]
    what = f"num_layers={num_layers}, bidirectional={bidirectional}, bias={use_bias}"
    for kind, part, layer, rev in wanted:
        if (kind, part, layer, rev) not in own:
            raise ValueError(f"missing key {prefix}{kind}_{part}_l{layer}{'_reverse' if rev else ''} (for {what})")
    extra = sorted(own[item] for item in set(own) - set(wanted))
    if extra:
        raise ValueError(f"unexpected key(s) {extra} for {what}; give the settings that match the state dict")

    arrays = {item: _as_array(state[own[item]], own[item]) for item in wanted}
    hh = arrays[("weight", "hh", 0, False)]
    hh_key = own[("weight", "hh", 0, False)]
    torch_name = _TORCH_NAMES[name]
    if hh.ndim != 2 or hh.shape[0] != G * hh.shape[1]:
        hint = ""
        if hh.ndim == 2 and hh.shape[1] and hh.shape[0] % hh.shape[1] == 0:
            other = _CELL_BY_GATES.get(hh.shape[0] // hh.shape[1])
            if other is not None and other != name:
                hint = f"; that is the shape of a {_TORCH_NAMES[other]}'s weight_hh: is cell={other!r}?"
        raise ValueError(
            f"{hh_key}: a {torch_name}'s weight_hh has shape ({G}*hidden_size, hidden_size); "
            f"found shape {hh.shape}{hint}"
        )
    H = hh.shape[1] if hidden_size is None else hidden_size
    ih = arrays[("weight", "ih", 0, False)]
    if ih.ndim != 2:
        raise ValueError(f"{own[('weight', 'ih', 0, False)]}: expected a 2-D weight; found shape {ih.shape}")
    F = ih.shape[1] if input_size is None else input_size
    D = len(directions)
    for (kind, part, layer, rev), arr in arrays.items():
        key = own[(kind, part, layer, rev)]
        if kind == "bias":
            expected = (G * H,)
        elif part == "hh":
            expected = (G * H, H)
        else:
            expected = (G * H, F if layer == 0 else D * H)
        if arr.shape != expected:
            raise ValueError(
                f"{key}: expected shape {expected} (a {torch_name} with input_size={F}, hidden_size={H}, "
                f"{what}); found shape {arr.shape}"
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"{key}: the weights must be finite numbers; found NaN or infinity")
    return dict(cell=name, num_layers=num_layers, directions=directions, bias=use_bias, input_size=F,
                hidden_size=H, nonlinearity=nonlinearity, arrays=arrays)  # fmt: skip


# -- conversion ----------------------------------------------------------------
def _keras_weights(spec, layer, rev, dtype):
    """Keras's [kernel, recurrent_kernel(, bias)] for one direction of one torch layer."""
    arrays, cell = spec["arrays"], spec["cell"]

    def blocks(a, axis):  # torch's GRU blocks r, z, n -> Keras's z, r, h
        if cell != "gru":
            return a
        r, z, n = np.split(a, 3, axis=axis)
        return np.concatenate([z, r, n], axis=axis)

    kernel = blocks(np.asarray(arrays[("weight", "ih", layer, rev)], np.float64).T, 1)
    recurrent = blocks(np.asarray(arrays[("weight", "hh", layer, rev)], np.float64).T, 1)
    weights = [kernel, recurrent]
    if spec["bias"]:
        b_ih = blocks(np.asarray(arrays[("bias", "ih", layer, rev)], np.float64), 0)
        b_hh = blocks(np.asarray(arrays[("bias", "hh", layer, rev)], np.float64), 0)
        weights.append(np.stack([b_ih, b_hh]) if cell == "gru" else b_ih + b_hh)
    return [np.ascontiguousarray(w, dtype=dtype) for w in weights]


def _build(spec, dtype):
    if dtype is None:
        all_double = all(a.dtype == np.float64 for a in spec["arrays"].values())
        dtype = np.dtype("float64" if all_double else "float32")
    _, _, layer_class = _CELLS[spec["cell"]]
    options = dict(units=spec["hidden_size"], use_bias=spec["bias"], return_sequences=True, dtype=dtype.name)
    if spec["cell"] == "rnn":
        options["activation"] = spec["nonlinearity"]
    if spec["cell"] == "gru":
        options["reset_after"] = True
    model = Sequential([Input(shape=(None, spec["input_size"]), dtype=dtype.name)])
    for layer in range(spec["num_layers"]):
        weights = []
        for rev in spec["directions"]:
            weights += _keras_weights(spec, layer, rev, dtype)
        recurrent = layer_class(**options)
        if len(spec["directions"]) == 2:
            recurrent = Bidirectional(recurrent, merge_mode="concat")
        model.add(recurrent)
        recurrent.set_weights(weights)
    return model
