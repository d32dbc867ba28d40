"""numbarnn's model file: one zip of numpy arrays plus the configuration as JSON.

Nothing is pickled, so reading a file runs no code from it. Layout: the entry
``config`` holds a JSON string (``format``, ``version``, ``class_name``
('Sequential' or 'Functional'), ``model`` the model config, ``input_shape`` one sample's shape, ``compile`` the compile config or
null); ``weight_0``, ``weight_1``, ... the weights in Keras's order;
``optimizer_0``, ... the optimizer's step count and slots. A weights-only file
holds the weights and a config of format ``numbarnn.Sequential.weights``.

This module works on dicts and arrays only; building a model from them is the
model's own business (:func:`numbarnn.saving.load_model`).
"""

import json
import os
import uuid
from dataclasses import dataclass

import numpy as np

__all__ = ["ModelFile", "write_model", "read_model", "write_weights", "read_weights", "write_json", "read_json"]

FORMAT = "numbarnn.Sequential"
VERSION = 1


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


def _write(filepath, arrays):
    """Write to a temporary file beside ``filepath``, then rename it into place.

    A process killed at any moment leaves the previous complete file (renames are atomic);
    the temporary files such a kill leaves are removed by the next write of the same path.
    """
    filepath = os.fspath(filepath)
    folder, name = os.path.split(os.path.abspath(filepath))
    remove_stale_temporaries(folder, name)
    tmp = os.path.join(folder, f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as f:  # a file object keeps np.savez from appending '.npz'
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def remove_stale_temporaries(folder, name):
    """Remove the temporary files earlier, interrupted writes of ``name`` left in ``folder``."""
    prefix = f".{name}.tmp-"
    for entry in os.listdir(folder):
        if entry.startswith(prefix):
            try:
                os.remove(os.path.join(folder, entry))
            except OSError:
                pass


def _read(filepath):
    filepath = os.fspath(filepath)
    try:
        with np.load(filepath, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{filepath!r} is not a numbarnn model file: {exc}") from exc


def _numbered(data, prefix):
    out, i = [], 0
    while f"{prefix}_{i}" in data:
        out.append(data[f"{prefix}_{i}"])
        i += 1
    return out


def write_model(filepath, model_file):
    """Write a :class:`ModelFile` to ``filepath``."""
    config = {
        "format": FORMAT,
        "version": VERSION,
        "class_name": model_file.model_class,
        "model": model_file.model_config,
        "input_shape": list(model_file.input_shape),
        "compile": model_file.compile_config,
    }
    arrays = {f"weight_{i}": w for i, w in enumerate(model_file.weights)}
    arrays.update({f"optimizer_{i}": v for i, v in enumerate(model_file.optimizer_variables)})
    arrays["config"] = np.array(json.dumps(config))
    _write(filepath, arrays)


def read_model(filepath):
    """Read a file of :func:`write_model`; returns a :class:`ModelFile`.

    Raises
    ------
    ValueError
        ``filepath`` is not a numbarnn model file.
    """
    data = _read(filepath)
    if "config" not in data:
        raise ValueError(f"{os.fspath(filepath)!r} is not a numbarnn model file (no config entry)")
    config = json.loads(str(data["config"]))
    if config.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(filepath)!r} holds {config.get('format')!r}, not a numbarnn model")
    return ModelFile(
        model_class=config.get("class_name", "Sequential"),
        model_config=config["model"],
        input_shape=tuple(config["input_shape"]),
        compile_config=config.get("compile"),
        weights=_numbered(data, "weight"),
        optimizer_variables=_numbered(data, "optimizer"),
    )


def write_weights(filepath, weights):
    """Write only ``weights`` (a list of arrays in Keras's order) to ``filepath``."""
    arrays = {f"weight_{i}": w for i, w in enumerate(weights)}
    arrays["config"] = np.array(json.dumps({"format": FORMAT + ".weights", "version": VERSION}))
    _write(filepath, arrays)


def read_weights(filepath):
    """The weights of a file of :func:`write_weights` or :func:`write_model`, in order."""
    return _numbered(_read(filepath), "weight")


def write_json(filepath, value):
    """Write ``value`` as JSON, through a temporary file renamed into place (as :func:`write_model`)."""
    filepath = os.fspath(filepath)
    folder, name = os.path.split(os.path.abspath(filepath))
    remove_stale_temporaries(folder, name)
    tmp = os.path.join(folder, f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "w") as f:
            json.dump(value, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_json(filepath):
    """Read a file of :func:`write_json`; ValueError naming the file when it is not valid JSON."""
    filepath = os.fspath(filepath)
    try:
        with open(filepath) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{filepath!r} is not a readable JSON file: {exc}") from exc
