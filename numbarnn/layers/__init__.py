"""Keras-style layers: recurrent (LSTM, GRU, SimpleRNN, Bidirectional), core (Dense, Dropout, ...),
convolution and pooling, normalization, and reshaping."""

from .._missing import missing_names
from .base import Layer
from .bidirectional import Bidirectional
from .convolutional import Conv1D
from .core import (
    Activation,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    Input,
    InputLayer,
    Masking,
    RepeatVector,
    TimeDistributed,
)
from .merging import Add, Average, Concatenate, Multiply, Subtract, add, average, concatenate, multiply, subtract
from .normalization import BatchNormalization, LayerNormalization
from .pooling import AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from .recurrent import GRU, LSTM, SimpleRNN
from .reshaping import Cropping1D, Lambda, Permute, Reshape, SpatialDropout1D, UpSampling1D, ZeroPadding1D

__all__ = [
    "Layer",
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
    "Lambda",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Concatenate",
    "add",
    "subtract",
    "multiply",
    "average",
    "concatenate",
]

_CLASSES = {
    cls.__name__: cls
    for cls in (InputLayer, LSTM, GRU, SimpleRNN, Bidirectional, Dense, Activation, Dropout, Embedding, Masking,
                Flatten, TimeDistributed, RepeatVector, Conv1D, MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D,
                GlobalAveragePooling1D, LayerNormalization, BatchNormalization, SpatialDropout1D, Reshape, Permute,
                Cropping1D, ZeroPadding1D, UpSampling1D, Lambda, Add, Subtract, Multiply, Average, Concatenate)  # fmt: skip
}


def deserialize(spec):
    """Create a layer from ``{'class_name': ..., 'config': ...}``."""
    if not isinstance(spec, dict) or spec.get("class_name") not in _CLASSES:
        raise ValueError(f"unknown layer in config: {spec.get('class_name') if isinstance(spec, dict) else spec!r}")
    return _CLASSES[spec["class_name"]].from_config(spec.get("config") or {})


def serialize(layer):
    """Return ``{'class_name': ..., 'config': ...}`` for a layer."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}

__getattr__ = missing_names(__name__)
