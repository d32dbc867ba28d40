"""Models from files and from other models: load_model, save_model, clone_model.

A file is read by :mod:`numbarnn.formats` (configs and arrays); the model is
then built through its public methods (``from_config``, ``build_from_config``,
``set_weights``, ``compile_from_config``, the optimizer's ``set_variables``).
"""

from ..formats import archive
from .functional import Model
from .sequential import Sequential

__all__ = ["load_model", "save_model", "clone_model"]

_MODEL_CLASSES = {"Sequential": Sequential, "Functional": Model}


def save_model(model, filepath):
    """Write ``model`` (architecture, weights, optimizer state) to ``filepath``; same as ``model.save``."""
    model.save(filepath)


def load_model(filepath, compile=True):
    """Load a model written by ``model.save`` (a ``Sequential`` or a functional ``Model``).

    Parameters
    ----------
    filepath : str or path-like
    compile : bool, default=True
        Restore the optimizer (with its state), loss and metrics, so training can continue.

    Returns
    -------
    Sequential or Model
    """
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
