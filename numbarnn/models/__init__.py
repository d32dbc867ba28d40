"""Models: structure and configuration (:mod:`.sequential`), the layer graph (:mod:`.graph`),
training and inference shared by every model (:mod:`.trainer`), input preparation (:mod:`.data`)."""

from .sequential import Sequential

__all__ = ["Sequential"]
