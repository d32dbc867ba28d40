"""Preprocessing: :class:`SequenceScaler` (scikit-learn) and Keras's ``preprocessing.sequence``.

``SequenceScaler`` imports scikit-learn, so it loads on first use.
"""

from .._missing import missing_names
from . import sequence

__all__ = ["SequenceScaler", "sequence"]

__getattr__ = missing_names(__name__, {"SequenceScaler": ".scaler"})
