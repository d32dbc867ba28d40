"""Models: a stack (:mod:`.sequential`) or a functional graph (:mod:`.functional`) over one base
(:mod:`.base`: weights, summary, files), the layer graph (:mod:`.graph`), training and inference
shared by every model (:mod:`.trainer`), input checks (:mod:`.data`) and loading (:mod:`.loading`)."""

from .._missing import missing_names
from .functional import Model
from .loading import clone_model, load_model, save_model
from .sequential import Sequential

__all__ = ["Sequential", "Model", "load_model", "save_model", "clone_model"]

__getattr__ = missing_names(__name__)
