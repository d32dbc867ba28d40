"""Turn user input into C-contiguous arrays of the working dtype, or fail clearly.

Every check here raises ValueError or TypeError naming the argument, what was
expected and what was given, so nothing malformed reaches a compiled kernel.
"""

import numbers

import numpy as np

from ._config import DEFAULT_DTYPE, DTYPES


def working_dtype(dtype, like=None):
    """Resolve the working dtype: ``dtype`` if given, else ``like``'s if float32/64, else float32."""
    if dtype is None:
        like_dtype = getattr(like, "dtype", None)
        if like_dtype is not None and np.dtype(like_dtype) in DTYPES:
            return np.dtype(like_dtype)
        return DEFAULT_DTYPE
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be 'float32' or 'float64'; got {dtype!r}") from exc
    if resolved not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
    return resolved


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__}"


def as_float_array(value, name, dtype, ndim=None, shape=None, finite=True):
    """Return ``value`` as a C-contiguous array of ``dtype``.

    Parameters
    ----------
    value : array-like
        Numbers (float, int, bool, or an object array holding numbers).
    name : str
        The argument's name, for error messages.
    dtype : numpy dtype
        float32 or float64.
    ndim : int, optional
        Required number of dimensions.
    shape : tuple of (int or None), optional
        Required shape; ``None`` entries are free.
    finite : bool, default=True
        Reject NaN and infinity.

    Returns
    -------
    array : ndarray of ``dtype``, C-contiguous and writeable (a copy when a conversion was needed)
    """
    if value is None:
        raise TypeError(f"{name} must be an array of numbers; got None")
    original = value
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged nested sequences and other oddities
        raise ValueError(f"{name} must be a rectangular array of numbers; got {_describe(original)}: {exc}") from exc
    if arr.dtype.kind not in "biuf":
        if arr.dtype.kind == "O":
            try:
                arr = arr.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} must hold only numbers; got an object array that does not: {exc}") from exc
        else:
            raise TypeError(f"{name} must be an array of real numbers; got {_describe(arr)}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions; got {_describe(arr)}")
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            parts = ["any" if s is None else str(s) for s in shape]
            expected = "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
            raise ValueError(f"{name} must have shape {expected}; got shape {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not arr.flags.writeable:
        arr = arr.copy()  # read-only input (a memory map) would compile a second kernel signature
    if finite and arr.size and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return arr


def as_mask(value, name, shape):
    """Return a boolean-valued mask as a C-contiguous uint8 array of ``shape``.

    Accepts bool arrays and integer or float arrays holding only 0 and 1.
    """
    arr = np.asarray(value)
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}; got shape {arr.shape}")
    if arr.dtype == np.bool_:
        return np.ascontiguousarray(arr, dtype=np.uint8)
    if arr.dtype == np.uint8 and not arr.flags.writeable:
        arr = arr.copy()
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must be a boolean array; got {_describe(arr)}")
    if not np.isin(arr, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0/1 or True/False values")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def check_choice(value, name, choices):
    """Check that ``value`` is one of ``choices`` (a dict or sequence of strings)."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}; got {value!r}")
    return value


def check_bool(value, name):
    """Check that ``value`` is a bool (numpy bools included)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def is_integer(value):
    """True for Python and numpy integers, False for bools."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
