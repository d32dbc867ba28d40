"""Keras's data helpers: ``to_categorical``, ``pad_sequences`` and ``set_random_seed``."""

import random

import numpy as np

from ._missing import missing_names
from ._random import reseed
from ._validation import is_integer

__all__ = ["to_categorical", "pad_sequences", "set_random_seed", "PyDataset"]


def set_random_seed(seed):
    """Seed Python's ``random``, numpy's global generator and numbarnn's own generator.

    After it, building and training a model gives identical weights and an
    identical training run (at a fixed thread count).

    Parameters
    ----------
    seed : int
        A non-negative integer.
    """
    if not is_integer(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    reseed(seed)


def to_categorical(x, num_classes=None):
    """One-hot encode integer class labels.

    Parameters
    ----------
    x : array-like of int of shape (...,) or (..., 1)
        Class indices in ``[0, num_classes)``.
    num_classes : int, optional
        Number of classes; ``max(x) + 1`` by default.

    Returns
    -------
    ndarray of float32 of shape (..., num_classes)

    Examples
    --------
    >>> from numbarnn.utils import to_categorical
    >>> to_categorical([0, 2, 1], num_classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    """
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise TypeError(f"x must hold integer class indices; got dtype {x.dtype}")
    if x.size and (x.dtype.kind == "f" and not np.all(np.isfinite(x) & (x == np.round(x)))):
        raise ValueError("x must hold integer class indices; got non-integral values")
    x = x.astype(np.int64)
    if x.ndim > 1 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.size and x.min() < 0:
        raise ValueError(f"x must hold class indices >= 0; got {x.min()}")
    if num_classes is None:
        num_classes = int(x.max()) + 1 if x.size else 0
    elif not is_integer(num_classes) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer; got {num_classes!r}")
    elif x.size and x.max() >= num_classes:
        raise ValueError(f"x holds class index {x.max()}, which is not below num_classes={num_classes}")
    out = np.zeros(x.shape + (int(num_classes),), np.float32)
    np.put_along_axis(out, x[..., None], 1.0, axis=-1)
    return out


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pad (or truncate) a list of sequences to one length, as Keras does.

    Parameters
    ----------
    sequences : list of array-like
        Each of shape (length,) or (length, *step_shape); all with the same step shape.
    maxlen : int, optional
        Output length; the longest sequence's length by default.
    dtype : str or numpy dtype, default='int32'
    padding : {'pre', 'post'}, default='pre'
        Pad before or after each sequence.
    truncating : {'pre', 'post'}, default='pre'
        Drop steps from the beginning or the end of sequences longer than ``maxlen``.
    value : float or str, default=0.0
        Padding value.

    Returns
    -------
    ndarray of shape (len(sequences), maxlen, *step_shape)

    Examples
    --------
    >>> from numbarnn.utils import pad_sequences
    >>> pad_sequences([[1, 2, 3], [4, 5]], maxlen=3)
    array([[1, 2, 3],
           [0, 4, 5]], dtype=int32)
    >>> pad_sequences([[1, 2, 3], [4, 5]], maxlen=2, padding="post", truncating="post")
    array([[1, 2],
           [4, 5]], dtype=int32)
    """
    if padding not in ("pre", "post"):
        raise ValueError(f"padding must be 'pre' or 'post'; got {padding!r}")
    if truncating not in ("pre", "post"):
        raise ValueError(f"truncating must be 'pre' or 'post'; got {truncating!r}")
    if isinstance(sequences, np.ndarray) and sequences.dtype != object and sequences.ndim >= 2:
        sequences = list(sequences)
    if not hasattr(sequences, "__len__"):
        raise TypeError(f"sequences must be a list of sequences; got {type(sequences).__name__}")
    arrays = []
    for i, s in enumerate(sequences):
        if not hasattr(s, "__len__"):
            raise ValueError(f"sequences[{i}] must be a sequence; got {type(s).__name__}")
        arrays.append(np.asarray(s))
    step_shape = next((a.shape[1:] for a in arrays if len(a)), ())
    for i, a in enumerate(arrays):
        if len(a) and a.shape[1:] != step_shape:
            raise ValueError(f"sequences[{i}] has step shape {a.shape[1:]}; expected {step_shape} as the others")
    if maxlen is None:
        maxlen = max((len(a) for a in arrays), default=0)
    elif not is_integer(maxlen) or maxlen < 1:
        raise ValueError(f"maxlen must be a positive integer or None; got {maxlen!r}")
    out = np.full((len(arrays), int(maxlen)) + step_shape, value, dtype=dtype)
    for i, a in enumerate(arrays):
        if not len(a):
            continue
        a = a[-maxlen:] if truncating == "pre" else a[:maxlen]
        if padding == "post":
            out[i, : len(a)] = a
        else:
            out[i, maxlen - len(a) :] = a
    return out


class PyDataset:
    """Batches by index, as Keras 3's ``keras.utils.PyDataset``: subclass it for data that is not one array.

    Write ``__len__`` (the number of batches in an epoch) and ``__getitem__(index)`` returning
    one batch: ``(x, y)`` or ``(x, y, sample_weight)`` for ``fit`` and ``evaluate``, or ``x`` for
    ``predict``; optionally ``on_epoch_end`` (called after every epoch of ``fit``). ``fit``,
    ``evaluate`` and ``predict`` read one batch at a time, in index order.

    Parameters
    ----------
    workers, use_multiprocessing, max_queue_size
        Keras's loading options; accepted for compatibility, batches are read in the calling thread.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.utils import PyDataset
    >>> class Windows(PyDataset):
    ...     def __len__(self):
    ...         return 4
    ...     def __getitem__(self, i):
    ...         x = np.full((8, 5, 1), float(i))
    ...         return x, x.sum(axis=1)
    >>> len(Windows()), Windows()[2][0].shape
    (4, (8, 5, 1))
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __len__(self):
        raise NotImplementedError("a PyDataset subclass must define __len__ (the number of batches)")

    def __getitem__(self, index):
        raise NotImplementedError("a PyDataset subclass must define __getitem__(index), returning one batch")

    def on_epoch_end(self):
        """Called after every epoch of ``fit``; does nothing unless overridden (to reshuffle, say)."""


__getattr__ = missing_names(__name__)
