"""Keras's ``preprocessing.sequence`` module: :func:`pad_sequences`."""

from .._missing import missing_names
from ..utils import pad_sequences

__all__ = ["pad_sequences"]

__getattr__ = missing_names(__name__)
