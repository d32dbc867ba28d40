"""The few ``keras.backend`` calls recurrent-network scripts make: clear_session, floatx, set_floatx.

numbarnn has one backend (numpy arrays and Numba kernels); these calls only
reset layer names and set the default dtype of new layers.
"""

import numpy as np

from ._config import DTYPES
from ._missing import missing_names
from ._names import reset_names

__all__ = ["clear_session", "floatx", "set_floatx", "backend"]

_STATE = {"floatx": "float32"}


def floatx():
    """The default dtype of new layers: 'float32' unless :func:`set_floatx` changed it."""
    return _STATE["floatx"]


def set_floatx(value):
    """Set the default dtype of new layers: 'float32' or 'float64'."""
    try:
        dtype = np.dtype(value)
    except TypeError:
        dtype = None
    if dtype not in DTYPES:
        raise ValueError(f"set_floatx takes 'float32' or 'float64'; got {value!r}")
    _STATE["floatx"] = dtype.name


def clear_session():
    """Start layer names afresh ('lstm', 'lstm_1', ... count from zero again), as Keras does."""
    reset_names()


def backend():
    """The backend's name: 'numbarnn'."""
    return "numbarnn"


__getattr__ = missing_names(__name__)
