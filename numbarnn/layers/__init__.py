"""Keras-style layers: recurrent (LSTM, GRU, SimpleRNN, Bidirectional) and core (Dense, Dropout, ...)."""

from .base import Layer
from .bidirectional import Bidirectional
from .core import Activation, Dense, Dropout, Embedding, Flatten, Input, InputLayer, Masking, RepeatVector, TimeDistributed
from .recurrent import GRU, LSTM, SimpleRNN

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
]

_CLASSES = {
    cls.__name__: cls
    for cls in (InputLayer, LSTM, GRU, SimpleRNN, Bidirectional, Dense, Activation, Dropout, Embedding, Masking,
                Flatten, TimeDistributed, RepeatVector)  # fmt: skip
}


def deserialize(spec):
    """Create a layer from ``{'class_name': ..., 'config': ...}``."""
    if not isinstance(spec, dict) or spec.get("class_name") not in _CLASSES:
        raise ValueError(f"unknown layer in config: {spec.get('class_name') if isinstance(spec, dict) else spec!r}")
    return _CLASSES[spec["class_name"]].from_config(spec.get("config") or {})


def serialize(layer):
    """Return ``{'class_name': ..., 'config': ...}`` for a layer."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}
