"""Turn estimator input into (samples, steps, features) arrays and masks.

Accepted: a 2-D array (samples, steps) read as one feature per step, a 3-D
array (samples, steps, features), or a list of 2-D arrays (steps_i, features)
of different lengths, which is padded at the end and masked. A nested list
that numpy turns into a regular numeric array is that array.
"""

import numpy as np
import scipy.sparse as sp


def is_ragged(X):
    """True for a list/tuple of sequences that does not form a regular numeric array."""
    if not isinstance(X, (list, tuple)) or len(X) == 0:
        return False
    try:
        arr = np.asarray(X)
    except ValueError:
        return True  # inhomogeneous shapes
    return arr.dtype == object and all(hasattr(s, "__len__") for s in X)


def pad_ragged(X, dtype, name="X"):
    """Pad a list of sequences at the end.

    Returns
    -------
    X3 : ndarray of shape (samples, max_steps, features)
    mask : ndarray of bool of shape (samples, max_steps)
    """
    seqs = []
    for i, s in enumerate(X):
        if sp.issparse(s):
            raise TypeError(f"{name}[{i}] is sparse; dense sequences are required")
        try:
            a = np.asarray(s, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}[{i}] must be an array of numbers: {exc}") from None
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
            raise ValueError(
                f"{name}[{i}] must be a non-empty 2-D array (steps, features) or 1-D (steps,); got shape {a.shape}"
            )
        if not np.isfinite(a).all():
            raise ValueError(f"Input {name}[{i}] contains NaN or infinity.")
        seqs.append(a)
    n_features = {a.shape[1] for a in seqs}
    if len(n_features) != 1:
        raise ValueError(f"every sequence in {name} must have the same number of features; got {sorted(n_features)}")
    T = max(a.shape[0] for a in seqs)
    out = np.zeros((len(seqs), T, seqs[0].shape[1]), dtype)
    mask = np.zeros((len(seqs), T), bool)
    for i, a in enumerate(seqs):
        out[i, : len(a)] = a
        mask[i, : len(a)] = True
    return out, mask


def pad_targets(y, lengths, name="y"):
    """Pad a list of per-step targets (length_i,) or (length_i, k) to (samples, max_steps[, k])."""
    if len(y) != len(lengths):
        raise ValueError(f"{name} has {len(y)} sequences but X has {len(lengths)}")
    arrays = [np.asarray(a) for a in y]
    for i, (a, n) in enumerate(zip(arrays, lengths)):
        if a.ndim == 0 or a.shape[0] != n:
            raise ValueError(f"{name}[{i}] must have {n} steps, as X[{i}] has; got shape {a.shape}")
    tail = {a.shape[1:] for a in arrays}
    if len(tail) != 1:
        raise ValueError(f"every sequence in {name} must have the same shape per step; got {sorted(tail)}")
    T = max(lengths)
    out = np.zeros((len(arrays), T) + arrays[0].shape[1:], arrays[0].dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out
