"""Save and load models: the public functions, built on the file formats and the models' public methods.

:func:`save_model` and :func:`save_weights` are the model's own ``save`` and
``save_weights``; :func:`load_model` reads a file (:mod:`numbarnn.formats`)
and builds the model through its public methods (``from_config``,
``build_from_config``, ``set_weights``, ``compile_from_config``, the
optimizer's ``set_variables``).
"""

from .formats import archive
from .models import Sequential

__all__ = ["save_model", "load_model", "save_weights", "load_weights"]


def save_model(model, filepath):
    """Write ``model`` (architecture, weights, optimizer state) to ``filepath``; same as ``model.save``."""
    model.save(filepath)


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
    stored = archive.read_model(filepath)
    model = Sequential.from_config(stored.model_config)
    model.build_from_config({"input_shape": [None, *stored.input_shape]})
    model.set_weights(stored.weights)
    if compile and stored.compile_config is not None:
        model.compile_from_config(stored.compile_config)
        if stored.optimizer_variables:
            model.optimizer.set_variables(stored.optimizer_variables, model.trainable_weights)
    return model


def save_weights(model, filepath):
    """Write only the weights of ``model`` to ``filepath``; same as ``model.save_weights``."""
    model.save_weights(filepath)


def load_weights(model, filepath):
    """Set the weights of the built ``model`` from a file of :func:`save_weights` or :func:`save_model`."""
    model.load_weights(filepath)
