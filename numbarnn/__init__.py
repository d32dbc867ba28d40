"""numbarnn: fast recurrent networks (LSTM, GRU, SimpleRNN) on the CPU with Numba.

- A Keras-style model API: :class:`Sequential` with the layers :class:`LSTM`,
  :class:`GRU`, :class:`SimpleRNN`, :class:`Bidirectional`, :class:`Dense`,
  :class:`Dropout`, :class:`Embedding`, :class:`Masking`,
  :class:`TimeDistributed`, :class:`RepeatVector`; optimizers, losses,
  callbacks, regularizers, initializers and utils in submodules named as Keras
  names them; :func:`load_model` for saved models.
- The engine underneath: :func:`rnn_forward`, :func:`rnn_backward` and
  :func:`rnn_inference` run a cell over a batch of sequences and backpropagate
  through time; :func:`set_num_threads` and :func:`get_num_threads` control
  parallelism.
"""

from . import callbacks, initializers, layers, losses, metrics, optimizers, regularizers, utils
from ._threads import get_num_threads, set_num_threads
from .layers import (
    GRU,
    LSTM,
    Activation,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Input,
    InputLayer,
    Masking,
    RepeatVector,
    SimpleRNN,
    TimeDistributed,
)
from .models import Sequential
from .engine import RNNGradients, RNNTape, rnn_backward, rnn_forward, rnn_inference
from .saving import load_model

__version__ = "0.1.0"

# The scikit-learn estimators import scikit-learn, which takes a while: load them on first use.
_LAZY = {"RNNRegressor": "estimators", "RNNClassifier": "estimators", "SequenceScaler": "preprocessing"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))

__all__ = [
    "RNNRegressor",
    "RNNClassifier",
    "SequenceScaler",
    "Sequential",
    "load_model",
    "Input",
    "InputLayer",
    "LSTM",
    "GRU",
    "SimpleRNN",
    "Bidirectional",
    "Dense",
    "Activation",
    "Dropout",
    "Embedding",
    "Masking",
    "Flatten",
    "TimeDistributed",
    "RepeatVector",
    "callbacks",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "optimizers",
    "regularizers",
    "utils",
    "rnn_forward",
    "rnn_backward",
    "rnn_inference",
    "RNNTape",
    "RNNGradients",
    "set_num_threads",
    "get_num_threads",
    "__version__",
]
