"""SequenceScaler: standardise each feature of sequence data, fitted on the training sequences.

scikit-learn's scalers take 2-D input; sequences are 3-D (samples, steps,
features) or lists of (steps_i, features) arrays. This scaler pools every valid
step of every training sequence per feature, so a Pipeline can hold the scaler
and an RNN estimator on 3-D data. Padding in lists never enters the statistics.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from .._sequences import is_ragged

__all__ = ["SequenceScaler"]


class SequenceScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Standardise every feature of sequences: ``(x - mean_) / scale_`` over all steps.

    Parameters
    ----------
    with_mean : bool, default=True
        Centre each feature.
    with_std : bool, default=True
        Scale each feature to unit variance (features with zero variance keep scale 1).

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,)
    var_ : ndarray of shape (n_features,)
    scale_ : ndarray of shape (n_features,)
    n_features_in_ : int
        Features per step (for 2-D input, read as one feature per step: 1).
    n_samples_seen_ : int
        Steps pooled per feature.

    Input ``X``: (n_samples, n_timesteps, n_features), (n_samples, n_timesteps) (one
    feature per step), or a list of (n_timesteps_i, n_features) arrays; the output
    has the same form.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn import SequenceScaler
    >>> X = np.arange(24, dtype=float).reshape(2, 4, 3)
    >>> Xs = SequenceScaler().fit_transform(X)
    >>> np.allclose(Xs.reshape(-1, 3).mean(axis=0), 0), np.allclose(Xs.reshape(-1, 3).std(axis=0), 1)
    (True, True)
    """

    def __init__(self, with_mean=True, with_std=True):
        self.with_mean = with_mean
        self.with_std = with_std

    def _steps(self, X):
        """(all valid steps as (n_steps, n_features), a function rebuilding X's form from such rows)."""
        if sp.issparse(X):
            raise TypeError("SequenceScaler needs dense input; got a sparse matrix")
        if is_ragged(X):
            seqs = [check_array(np.asarray(s, dtype=float).reshape(len(s), -1), input_name="X") for s in X]
            lengths = np.cumsum([len(s) for s in seqs])[:-1]
            return np.concatenate(seqs), lambda rows: np.split(rows, lengths)
        arr = check_array(X, allow_nd=True, dtype=(np.float64, np.float32), input_name="X")
        if arr.ndim == 2:
            return arr.reshape(-1, 1), lambda rows: rows.reshape(arr.shape)
        if arr.ndim != 3:
            raise ValueError(f"X must be 2-D or 3-D, or a list of sequences; got {arr.ndim} dimensions")
        return arr.reshape(-1, arr.shape[2]), lambda rows: rows.reshape(arr.shape)

    def fit(self, X, y=None):
        """Compute each feature's mean and standard deviation over all steps of ``X``.

        Returns
        -------
        self
        """
        rows, _ = self._steps(X)
        self.mean_ = rows.mean(axis=0) if self.with_mean else np.zeros(rows.shape[1])
        self.var_ = rows.var(axis=0)
        scale = np.sqrt(self.var_)
        self.scale_ = np.where(scale > 10 * np.finfo(float).eps, scale, 1.0) if self.with_std else np.ones(rows.shape[1])
        self.n_features_in_ = rows.shape[1]
        self.n_samples_seen_ = rows.shape[0]
        return self

    def _apply(self, X, forward):
        check_is_fitted(self, "mean_")
        rows, rebuild = self._steps(X)
        if rows.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {rows.shape[1]} features per step, but SequenceScaler is expecting {self.n_features_in_}"
            )
        out = (rows - self.mean_) / self.scale_ if forward else rows * self.scale_ + self.mean_
        return rebuild(out.astype(rows.dtype, copy=False))

    def transform(self, X):
        """Scale ``X``; returns the same form (3-D, 2-D or a list of arrays)."""
        return self._apply(X, True)

    def inverse_transform(self, X):
        """Undo :meth:`transform`."""
        return self._apply(X, False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags
