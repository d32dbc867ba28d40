"""Save and load models (Keras's ``keras.saving``): the public functions.

The files are read and written by :mod:`numbarnn.formats`; :func:`load_model`
builds the model through its public methods (see :mod:`numbarnn.models.loading`).
"""

from ._missing import missing_names
from .models.loading import load_model, save_model

__all__ = ["save_model", "load_model", "save_weights", "load_weights"]


def save_weights(model, filepath):
    """Write the weights of ``model`` as a Keras 3 ``.weights.h5`` file; same as ``model.save_weights``."""
    model.save_weights(filepath)


def load_weights(model, filepath):
    """Set the weights of the built ``model`` from a ``.weights.h5`` or ``.keras`` file; same as ``model.load_weights``."""
    model.load_weights(filepath)

__getattr__ = missing_names(__name__)
