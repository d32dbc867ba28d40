"""Models from files and from other models: load_model, save_model, clone_model.

A file is read by :mod:`numbarnn.formats` (configs and arrays: :mod:`~numbarnn.formats.keras_file`
for Keras 3 files, :mod:`~numbarnn.formats.archive` for numbarnn 0.1's); the model is built
from the config by :mod:`~numbarnn.formats.keras_config`, through the layers' and models'
public constructors.
"""

import os

from ..formats import archive, keras_config, keras_file
from .functional import Model
from .sequential import Sequential

__all__ = ["load_model", "save_model", "clone_model"]

_MODEL_CLASSES = {"Sequential": Sequential, "Functional": Model}


def save_model(model, filepath):
    """Write ``model`` (architecture, weights, optimizer state) as a ``.keras`` file; same as ``model.save``."""
    model.save(filepath)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a ``Sequential`` or functional ``Model`` from a Keras 3 ``.keras`` file (Keras's or numbarnn's).

    Files written by numbarnn 0.1 load too. Keras, TensorFlow and PyTorch are not needed.

    Parameters
    ----------
    filepath : str or path-like
    custom_objects : dict of str to class, optional
        Your own layer (or optimizer) classes, by the class or registered name the file
        gives them; numbarnn's own classes need no entry.
    compile : bool, default=True
        Restore the optimizer (with its state), loss and metrics, so training continues
        where it stopped.
    safe_mode : bool, default=True
        Keras's argument, accepted for its scripts: numbarnn never unpickles or evaluates
        anything from a file, whatever its value (a ``Lambda`` layer is always refused).

    Returns
    -------
    Sequential or Model

    Raises
    ------
    ValueError
        The file is missing, empty, damaged or not a model file; it names a class numbarnn
        does not know (a ``Lambda`` layer, a custom class not in ``custom_objects``); or its
        weights do not fit its architecture. The message names the file.
    """
    if not isinstance(safe_mode, bool):
        raise TypeError(f"safe_mode must be True or False; got {type(safe_mode).__name__}")
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"custom_objects must be a dict of names to classes; got {type(custom_objects).__name__}")
    where = repr(os.fspath(filepath))
    kind = keras_file.identify(filepath)
    if kind == "numbarnn-0.1":
        return _load_numbarnn_0_1(filepath, compile)
    if kind == "weights":
        raise ValueError(f"{where} is a weights file (.weights.h5), not a model: build the model, then call "
                         "model.load_weights on it")  # fmt: skip
    config, _, weights = keras_file.read_model(filepath)
    with weights:
        try:
            model = keras_config.model_from_keras(config, _MODEL_CLASSES, custom_objects, compile=compile)
        except (ValueError, TypeError, KeyError, IndexError, RecursionError) as exc:
            raise ValueError(f"{where}: {exc}") from exc
        keras_config.load_weight_groups(model, weights, include_optimizer=compile)
    return model


def _load_numbarnn_0_1(filepath, compile):
    stored = archive.read_model(filepath)
    cls = _MODEL_CLASSES.get(stored.model_class)
    if cls is None:
        raise ValueError(f"{filepath!r} holds a model of class {stored.model_class!r}, which numbarnn does not know")
    model = cls.from_config(stored.model_config)
    model.build_from_config({"input_shape": [None, *stored.input_shape]})
    model.set_weights(stored.weights)
    if compile and stored.compile_config is not None:
        model.compile_from_config(stored.compile_config)
        if stored.optimizer_variables:
            model.optimizer.set_variables(stored.optimizer_variables, model.trainable_weights)
    return model


def clone_model(model):
    """A new model of the same architecture with freshly initialised weights (Keras's ``clone_model``).

    Parameters
    ----------
    model : Sequential or Model

    Returns
    -------
    Sequential or Model
        Not compiled; its layers are new objects.
    """
    if not isinstance(model, (Sequential, Model)):
        raise TypeError(f"clone_model takes a Sequential or a Model; got {type(model).__name__}")
    clone = type(model).from_config(model.get_config())
    build = model.get_build_config()
    if build is not None:
        clone.build_from_config(build)
    return clone
