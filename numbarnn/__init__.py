"""numbarnn: fast recurrent networks (LSTM, GRU, SimpleRNN) on the CPU with Numba.

- A Keras-style model API: :class:`Sequential` and the functional :class:`Model` with the layers :class:`LSTM`,
  :class:`GRU`, :class:`SimpleRNN`, :class:`Bidirectional`, :class:`Dense`,
  :class:`Dropout`, :class:`Embedding`, :class:`Masking`,
  :class:`TimeDistributed`, :class:`RepeatVector`; optimizers, losses,
  callbacks, regularizers, initializers and utils in submodules named as Keras
  names them (``import numbarnn as keras`` resolves Keras's module layout);
  :func:`load_model` for saved models.
- The engine underneath: :func:`rnn_forward`, :func:`rnn_backward` and
  :func:`rnn_inference` run a cell over a batch of sequences and backpropagate
  through time; :func:`set_num_threads` and :func:`get_num_threads` control
  parallelism.
"""

from . import (
    activations,
    backend,
    callbacks,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
    preprocessing,
    regularizers,
    saving,
    utils,
)
from ._missing import missing_names
from ._threads import get_num_threads, set_num_threads
from .engine import RNNGradients, RNNTape, rnn_backward, rnn_forward, rnn_inference
from .formats.onnx_export import to_onnx
from .formats.pytorch import from_torch
from .layers import (
    GRU,
    LSTM,
    Activation,
    Add,
    Average,
    AveragePooling1D,
    BatchNormalization,
    Bidirectional,
    Concatenate,
    Conv1D,
    Cropping1D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    Input,
    InputLayer,
    LayerNormalization,
    Masking,
    MaxPooling1D,
    Multiply,
    Permute,
    RepeatVector,
    Reshape,
    SimpleRNN,
    SpatialDropout1D,
    Subtract,
    TimeDistributed,
    UpSampling1D,
    ZeroPadding1D,
)
from .models import Model, Sequential, clone_model, load_model, save_model

__version__ = "0.1.0"

# The scikit-learn estimators import scikit-learn, which takes a while: load them on first use.
_LAZY = {"RNNRegressor": ".estimators", "RNNClassifier": ".estimators", "SequenceScaler": ".preprocessing.scaler"}
__getattr__ = missing_names(__name__, _LAZY)


def __dir__():
    return sorted(list(globals()) + list(_LAZY))

__all__ = [
    "RNNRegressor",
    "RNNClassifier",
    "SequenceScaler",
    "Sequential",
    "Model",
    "load_model",
    "save_model",
    "clone_model",
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
    "Conv1D",
    "MaxPooling1D",
    "AveragePooling1D",
    "GlobalMaxPooling1D",
    "GlobalAveragePooling1D",
    "LayerNormalization",
    "BatchNormalization",
    "SpatialDropout1D",
    "Reshape",
    "Permute",
    "Cropping1D",
    "ZeroPadding1D",
    "UpSampling1D",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Concatenate",
    "activations",
    "backend",
    "models",
    "preprocessing",
    "saving",
    "callbacks",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "optimizers",
    "regularizers",
    "utils",
    "to_onnx",
    "from_torch",
    "rnn_forward",
    "rnn_backward",
    "rnn_inference",
    "RNNTape",
    "RNNGradients",
    "set_num_threads",
    "get_num_threads",
    "__version__",
]
