"""Model files: one zip of numpy arrays plus the architecture and compile settings as JSON.

Nothing is pickled, so loading a file runs no code from it. Layout: the entry
``config`` holds a JSON string; ``weight_0``, ``weight_1``, ... the weights in
Keras's order; ``optimizer_0``, ... the optimizer's step count and slots.
"""

import json
import os

import numpy as np

from . import losses, optimizers

__all__ = ["save_model", "load_model", "save_weights", "load_weights"]

FORMAT = "numbarnn.Sequential"
VERSION = 1


def _write(filepath, arrays):
    filepath = os.fspath(filepath)
    with open(filepath, "wb") as f:  # a file object keeps np.savez from appending '.npz'
        np.savez(f, **arrays)


def _read(filepath):
    filepath = os.fspath(filepath)
    try:
        with np.load(filepath, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{filepath!r} is not a numbarnn model file: {exc}") from exc


def save_model(model, filepath):
    """Write ``model`` (architecture, weights, optimizer state) to ``filepath``."""
    model._require_built("save")
    config = {
        "format": FORMAT,
        "version": VERSION,
        "model": model.get_config(),
        "input_shape": list(model._input_shape),
        "compile": model._compile_config(),
    }
    arrays = {f"weight_{i}": w for i, w in enumerate(model.weights)}
    if model.compiled and model.optimizer.built:
        arrays.update({f"optimizer_{i}": v for i, v in enumerate(model.optimizer.variables())})
    arrays["config"] = np.array(json.dumps(config))
    _write(filepath, arrays)


def _numbered(data, prefix):
    out, i = [], 0
    while f"{prefix}_{i}" in data:
        out.append(data[f"{prefix}_{i}"])
        i += 1
    return out


def load_model(filepath, compile=True):
    """Load a model written by ``Sequential.save``.

    Parameters
    ----------
    filepath : str or path-like
    compile : bool, default=True
        Restore the optimizer (with its state), loss and metrics, so training can continue.

    Returns
    -------
    Sequential
    """
    from .models import Sequential

    data = _read(filepath)
    if "config" not in data:
        raise ValueError(f"{os.fspath(filepath)!r} is not a numbarnn model file (no config entry)")
    config = json.loads(str(data["config"]))
    if config.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(filepath)!r} holds {config.get('format')!r}, not a numbarnn model")
    model = Sequential.from_config(config["model"])
    model._build(tuple(config["input_shape"]))
    model.set_weights(_numbered(data, "weight"))
    spec = config.get("compile")
    if compile and spec is not None:
        model.compile(optimizer=optimizers.get(spec["optimizer"]), loss=losses.get(spec["loss"]), metrics=spec["metrics"])
        state = _numbered(data, "optimizer")
        if state:
            model.optimizer.set_variables(state, model._trainable())
    return model


def save_weights(model, filepath):
    """Write only the weights of ``model`` to ``filepath``."""
    model._require_built("save_weights")
    arrays = {f"weight_{i}": w for i, w in enumerate(model.weights)}
    arrays["config"] = np.array(json.dumps({"format": FORMAT + ".weights", "version": VERSION}))
    _write(filepath, arrays)


def load_weights(model, filepath):
    """Set the weights of the built ``model`` from a file of :func:`save_weights` or :func:`save_model`."""
    model._require_built("load_weights")
    model.set_weights(_numbered(_read(filepath), "weight"))

