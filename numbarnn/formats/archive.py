"""numbarnn 0.1's model file: one zip of numpy arrays plus the configuration as JSON.

numbarnn now saves Keras 3 files (:mod:`.keras_file`); this format is read so that
files written by numbarnn 0.1 still load, and :func:`write_json` writes the
small JSON files callbacks keep beside their backups.

Nothing is pickled, so reading a file runs no code from it. Layout: the entry
``config`` holds a JSON string (``format``, ``version``, ``class_name``
('Sequential' or 'Functional'), ``model`` the model config, ``input_shape`` one sample's shape, ``compile`` the compile config or
null); ``weight_0``, ``weight_1``, ... the weights in Keras's order;
``optimizer_0``, ... the optimizer's step count and slots. A weights-only file
holds the weights and a config of format ``numbarnn.Sequential.weights``.

This module reads such files into dicts and arrays; building a model from them
is :func:`numbarnn.saving.load_model`'s business.
"""

import json
import os
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

from .atomic import write_atomically

__all__ = ["ModelFile", "read_model", "read_weights", "write_json", "read_json"]

FORMAT = "numbarnn.Sequential"


@dataclass
class ModelFile:
    """What a model file holds.

    Attributes
    ----------
    model_class : str
        'Sequential' or 'Functional' (files of numbarnn 0.1 hold Sequential models).
    model_config : dict
        The model's ``get_config()``.
    input_shape : tuple
        One sample's shape (no batch axis), None for a free length.
    compile_config : dict or None
        The model's ``get_compile_config()``.
    weights : list of ndarray
        In Keras's order.
    optimizer_variables : list of ndarray
        The optimizer's step count and slots; empty when it had not stepped.
    """

    model_class: str
    model_config: dict
    input_shape: tuple
    compile_config: object
    weights: list
    optimizer_variables: list


def _read(filepath):
    filepath = os.fspath(filepath)
    try:
        with np.load(filepath, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"{filepath!r} is not a numbarnn model file: {exc}") from exc


def _numbered(data, prefix):
    out, i = [], 0
    while f"{prefix}_{i}" in data:
        out.append(data[f"{prefix}_{i}"])
        i += 1
    return out


def read_model(filepath):
    """Read a numbarnn 0.1 model file; returns a :class:`ModelFile`.

    Raises
    ------
    ValueError
        ``filepath`` is not a numbarnn model file, or its content is damaged.
    """
    data = _read(filepath)
    where = repr(os.fspath(filepath))
    if "config" not in data:
        raise ValueError(f"{where} is not a numbarnn model file (no config entry)")
    try:
        config = json.loads(str(data["config"]))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{where}: its config entry is not valid JSON: {exc}") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise ValueError(f"{where} holds {found!r}, not a numbarnn model")
    try:
        stored = ModelFile(
            model_class=config.get("class_name", "Sequential"),
            model_config=config["model"],
            input_shape=tuple(config["input_shape"]),
            compile_config=config.get("compile"),
            weights=_numbered(data, "weight"),
            optimizer_variables=_numbered(data, "optimizer"),
        )
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{where}: its config entry lacks or mangles {exc}") from exc
    if not isinstance(stored.model_config, dict):
        raise ValueError(f"{where}: its model config is not a JSON object")
    return stored


def read_weights(filepath):
    """The weights of a numbarnn 0.1 model or weights file, in order."""
    return _numbered(_read(filepath), "weight")


def write_json(filepath, value):
    """Write ``value`` as JSON, through a temporary file renamed into place (:mod:`.atomic`)."""
    write_atomically(filepath, lambda f: json.dump(value, f), text=True)


def read_json(filepath):
    """Read a file of :func:`write_json`; ValueError naming the file when it is not valid JSON."""
    filepath = os.fspath(filepath)
    try:
        with open(filepath) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{filepath!r} is not a readable JSON file: {exc}") from exc
