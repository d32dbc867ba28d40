"""Write the PyTorch reference files in tests/data/torch_reference/ (run with torch installed).

Not part of the test suite: the tests read these files with numpy (and the
safetensors package for the two ``.safetensors`` files), without torch. To
rewrite them, in a virtualenv outside the repository::

    python3 -m venv /work/keras-env
    /work/keras-env/bin/pip install numpy safetensors torch==2.13.0
    /work/keras-env/bin/python tests/data/make_torch_reference.py

Files:

- ``lstm.npz``, ``gru.npz``, ``rnn_tanh.npz``, ``rnn_relu.npz``: one
  ``torch.nn.LSTM``, ``GRU`` or ``RNN`` per case: ``num_layers=2`` with every
  combination of ``bidirectional`` and ``bias`` (two of them ``batch_first``, two
  not), and one plain single-layer module. Keys are ``<case>__<what>``: ``<what>`` is a key of
  the module's ``state_dict()`` (float32, torch's names and shapes), or

  - ``x``: the input, float32, in the module's layout: (batch, steps, input_size)
    when ``batch_first``, else (steps, batch, input_size);
  - ``y``: ``module(x)[0]`` in ``eval()`` mode, float32, in the same layout, of
    shape (..., D * hidden_size) with D = 2 when bidirectional;
  - ``y64``: the same module in float64 (``module.double()``, the same weights)
    on ``x`` in float64.

  ``meta`` is a JSON string: the torch version, and per case the module's
  class and constructor arguments.
- ``lstm_bidirectional.safetensors``: the state dict of a bare two-layer
  bidirectional LSTM; ``encoder_gru.safetensors``: the state dict of a parent
  module holding a two-layer GRU as ``encoder`` beside a ``Linear`` as
  ``head`` (keys ``encoder.weight_ih_l0``, ..., ``head.weight``, ``head.bias``).
  ``safetensors.npz`` holds ``<file stem>__x``, ``__y``, ``__y64`` for each
  (batch-first modules) and a ``meta`` entry of the same form.

Sizes are small (input 3, hidden 4, 5 steps, batch 2) to keep the files a few
KB; the weights are drawn uniformly in [-1, 1]. Seeds are fixed (torch's for the
weights, numpy's for the inputs), so the files hold the same values on every run.
"""

import itertools
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_reference")
INPUT_SIZE, HIDDEN_SIZE, STEPS, BATCH = 3, 4, 5, 2

# file -> (torch class, extra constructor arguments)
CELLS = {
    "lstm": (torch.nn.LSTM, {}),
    "gru": (torch.nn.GRU, {}),
    "rnn_tanh": (torch.nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (torch.nn.RNN, {"nonlinearity": "relu"}),
}


def cases():
    """Case name -> constructor arguments (beyond the sizes) of every module in one cell's file.

    Two layers with every combination of ``bidirectional`` and ``bias``, each layout twice
    among them (the layout changes the input and output, not the weights), and one plain
    single-layer module.
    """
    out = {"single": {"num_layers": 1, "bidirectional": False, "batch_first": True, "bias": True}}
    for bidirectional, bias in itertools.product((False, True), repeat=2):
        batch_first = bidirectional != bias
        name = "_".join(["bi" if bidirectional else "uni", "batch_first" if batch_first else "steps_first",
                         "bias" if bias else "no_bias"])  # fmt: skip
        out[name] = {"num_layers": 2, "bidirectional": bidirectional, "batch_first": batch_first, "bias": bias}
    return out


def spread(module):
    """Draw every weight uniformly in [-1, 1], twice torch's default range for hidden size 4, so
    that the outputs are not small beside the tests' tolerance."""
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-1.0, 1.0)
    return module


def outputs(module, x):
    """``module(x)[0]`` in float32 and, with the module cast to float64, in float64 (numpy arrays)."""
    module.eval()
    with torch.no_grad():
        y = module(torch.from_numpy(x))[0].numpy()
        y64 = module.double()(torch.from_numpy(x.astype(np.float64)))[0].numpy()
    module.float()
    return y, y64


def sample(rng, batch_first):
    shape = (BATCH, STEPS, INPUT_SIZE) if batch_first else (STEPS, BATCH, INPUT_SIZE)
    return rng.standard_normal(shape).astype(np.float32)


def cell_file(name, cls, extra, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    arrays, meta = {}, {}
    for case, kwargs in cases().items():
        kwargs = {"input_size": INPUT_SIZE, "hidden_size": HIDDEN_SIZE, **extra, **kwargs}
        module = spread(cls(**kwargs))
        x = sample(rng, kwargs["batch_first"])
        y, y64 = outputs(module, x)
        for key, value in module.state_dict().items():
            arrays[f"{case}__{key}"] = value.numpy()
        arrays.update({f"{case}__x": x, f"{case}__y": y, f"{case}__y64": y64})
        meta[case] = {"class_name": cls.__name__, "config": kwargs}
    write(name, arrays, {"torch": torch.__version__, "cases": meta})


class Encoder(torch.nn.Module):
    """A GRU inside a larger module, so its state dict's keys carry the prefix ``encoder.``."""

    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.GRU(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(HIDDEN_SIZE, 1)


def safetensors_files(seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    lstm = spread(torch.nn.LSTM(INPUT_SIZE, HIDDEN_SIZE, num_layers=2, bidirectional=True, batch_first=True))
    parent = spread(Encoder())
    modules = {"lstm_bidirectional": (lstm, lstm), "encoder_gru": (parent, parent.encoder)}
    arrays, meta = {}, {}
    for stem, (saved, recurrent) in modules.items():
        path = os.path.join(OUT, f"{stem}.safetensors")
        save_file(saved.state_dict(), path, metadata={"format": "pt"})
        print(f"{path}: {os.path.getsize(path) / 1024:.1f} KB", file=sys.stderr)
        x = sample(rng, batch_first=True)
        y, y64 = outputs(recurrent, x)
        arrays.update({f"{stem}__x": x, f"{stem}__y": y, f"{stem}__y64": y64})
        config = {k: getattr(recurrent, k) for k in ("input_size", "hidden_size", "num_layers", "bidirectional",
                                                      "batch_first", "bias")}  # fmt: skip
        meta[stem] = {"class_name": type(recurrent).__name__, "config": config,
                      "keys": sorted(saved.state_dict())}  # fmt: skip
    write("safetensors", arrays, {"torch": torch.__version__, "cases": meta})


def write(name, arrays, meta):
    arrays = dict(arrays)
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    path = os.path.join(OUT, f"{name}.npz")
    np.savez_compressed(path, **arrays)
    print(f"{path}: {len(arrays) - 1} arrays, {os.path.getsize(path) / 1024:.1f} KB", file=sys.stderr)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    for seed, (name, (cls, extra)) in enumerate(CELLS.items()):
        cell_file(name, cls, extra, seed)
    safetensors_files(len(CELLS))


if __name__ == "__main__":
    main()
