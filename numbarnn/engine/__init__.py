"""The recurrent engine: validated Python boundary, one adaptor per cell, compiled kernels.

- :mod:`.api`: the public :func:`rnn_forward`, :func:`rnn_backward`, :func:`rnn_inference`;
- :mod:`.plan`: validation and layout (a weight plan reusable across calls, then a batch);
- :mod:`.cells`: one adaptor per cell (LSTM, GRU in each reset form, SimpleRNN) owning its
  buffers, kernel calls and weight-gradient rule, and the device seam.
"""

from .api import RNNGradients, RNNTape, rnn_backward, rnn_forward, rnn_inference
from .cells import GATE_COUNTS, get_adaptor

__all__ = ["rnn_forward", "rnn_backward", "rnn_inference", "RNNTape", "RNNGradients", "GATE_COUNTS", "get_adaptor"]
