"""numbarnn: fast recurrent networks (LSTM, GRU, SimpleRNN) on the CPU with Numba.

The engine: :func:`rnn_forward`, :func:`rnn_backward` and :func:`rnn_inference`
run a cell over a batch of sequences and backpropagate through time;
:func:`set_num_threads` and :func:`get_num_threads` control parallelism.
"""

from ._threads import get_num_threads, set_num_threads
from .recurrent import RNNGradients, RNNTape, rnn_backward, rnn_forward, rnn_inference

__version__ = "0.1.0"

__all__ = [
    "rnn_forward",
    "rnn_backward",
    "rnn_inference",
    "RNNTape",
    "RNNGradients",
    "set_num_threads",
    "get_num_threads",
    "__version__",
]
