"""Sums over a batch's rows in training: the weight and bias gradients, plain or exact.

Plain (Keras-style ``fit``): products in the working dtype, cut into blocks of a
fixed size (:func:`numbarnn._threads.matmul`), so the result does not depend on
the thread count.

Exact (the estimators, see :func:`exact_row_sums`): the loss gradient reaching
each row is the row's own, unweighted (scaled by one constant for the batch),
and the sample weight of row ``b`` multiplies its term here, in the sum.
Float32 products are exact in float64, so each sum is taken in float64 and
rounded once to the working dtype: its result then depends on neither the
order of the rows nor on whether a sample appears once with weight ``k`` or
``k`` times with weight 1 (to float64's rounding, far below float32's). That
is what makes a weighted fit equal a fit on repeated rows, and a fit on
shuffled rows equal one on sorted rows.

Rows are laid out time-major (``(T, B, .)`` flattened, row ``t * B + b``: the
recurrent layers) or batch-major (``(B, ..., .)`` flattened: Dense), and the
weight of a row is the weight of its sample ``b``.
"""

import contextlib
import contextvars

import numpy as np

from .. import _threads

__all__ = ["exact_row_sums", "row_weights", "rows_gram", "rows_sum"]

_ROW_WEIGHTS = contextvars.ContextVar("numbarnn_row_weights", default=None)


@contextlib.contextmanager
def exact_row_sums(sample_weight):
    """Within this block, :func:`rows_gram` and :func:`rows_sum` are exact and weighted.

    Parameters
    ----------
    sample_weight : ndarray of shape (B,)
        One weight per sample of the batch being backpropagated (ones for none).
    """
    token = _ROW_WEIGHTS.set(np.asarray(sample_weight, np.float64))
    try:
        yield
    finally:
        _ROW_WEIGHTS.reset(token)


def row_weights():
    """The sample weights set by :func:`exact_row_sums`, or None outside it."""
    return _ROW_WEIGHTS.get()


def _per_row(w, n_rows, time_major):
    B = w.shape[0]
    if n_rows % B:
        raise ValueError(f"{n_rows} rows cannot be split among {B} samples")
    return np.tile(w, n_rows // B) if time_major else np.repeat(w, n_rows // B)


def rows_gram(a, b, time_major):
    """``a.T @ b``: the sum over rows of each row's outer product, shape (k, n).

    Parameters
    ----------
    a : ndarray of shape (R, k)
    b : ndarray of shape (R, n), same dtype
    time_major : bool
        Row layout (see the module docstring), used for the weights.

    Returns
    -------
    ndarray of shape (k, n), the dtype of ``a``
    """
    w = _ROW_WEIGHTS.get()
    if w is None:
        return _threads.matmul(a.T, b)
    wr = _per_row(w, a.shape[0], time_major)
    bw = b.astype(np.float64) * wr[:, None]
    return (a.astype(np.float64).T @ bw).astype(a.dtype)


def rows_sum(b, time_major):
    """The sum of ``b``'s rows, shape (n,): a bias gradient.

    Parameters
    ----------
    b : ndarray of shape (R, n)
    time_major : bool

    Returns
    -------
    ndarray of shape (n,), ``b``'s dtype
    """
    w = _ROW_WEIGHTS.get()
    if w is None:
        return b.sum(axis=0)
    wr = _per_row(w, b.shape[0], time_major)
    return (wr @ b.astype(np.float64)).astype(b.dtype)
