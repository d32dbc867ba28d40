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


# -- typed scalars --------------------------------------------------------------
def check_int(value, name, low=None, high=None):
    """An int (not a bool) in ``[low, high]``; TypeError or ValueError naming ``name``."""
    if not is_integer(value):
        raise TypeError(f"{name} must be an int; got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            bound = f">= {low}"
        elif low is None:
            bound = f"<= {high}"
        else:
            bound = f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an int {bound}; got {value!r}")
    return int(value)


def check_float(value, name, low=None, high=None, low_open=False, high_open=False):
    """A finite real number (not a bool) in the interval; returned as a float.

    ``low_open`` / ``high_open`` exclude the bounds.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number; got {value!r}")
    value = float(value)
    bad = not np.isfinite(value)
    if low is not None:
        bad = bad or value < low or (low_open and value == low)
    if high is not None:
        bad = bad or value > high or (high_open and value == high)
    if bad:
        lo = "(" if low_open or low is None else "["
        hi = ")" if high_open or high is None else "]"
        interval = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
        raise ValueError(f"{name} must be a finite number in {interval}; got {value!r}")
    return value


def check_rate(value, name):
    """A dropout-style rate: a number in [0, 1)."""
    return check_float(value, name, 0.0, 1.0, high_open=True)


def check_units(value, name="units"):
    """A positive int (a layer size, a count)."""
    return check_int(value, name, low=1)


# -- per-sample weights ---------------------------------------------------------
def check_sample_weight(sample_weight, n, name="sample_weight", per_step=True):
    """Per-sample (or, with ``per_step``, per-step) weights as float64, or None.

    Parameters
    ----------
    sample_weight : array-like of shape (n,) or (n, steps), or None
    n : int
        Number of samples.
    name : str
    per_step : bool, default=True
        Accept (n, steps) weights (sequence outputs).

    Returns
    -------
    ndarray of float64 of shape (n,) or (n, steps), or None
    """
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers; got dtype {w.dtype}")
    ndims = (1, 2) if per_step else (1,)
    if w.ndim not in ndims or w.shape[0] != n:
        want = "(samples,) or (samples, steps)" if per_step else "(samples,)"
        raise ValueError(f"{name} must have shape {want} with {n} samples; got {w.shape}")
    w = w.astype(np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"{name} must hold finite numbers >= 0")
    return w


def class_weight_per_sample(class_weight, labels, name="class_weight"):
    """The weight of each sample's class, from a dict of class label to weight.

    Parameters
    ----------
    class_weight : dict
        Class label (an int index, or any label held in ``labels``) to a finite number >= 0.
    labels : ndarray of shape (n,)
        Each sample's class.

    Returns
    -------
    ndarray of float64 of shape (n,)
    """
    if not isinstance(class_weight, dict):
        raise TypeError(f"{name} must be a dict of class to weight; got {type(class_weight).__name__}")
    table = {}
    for k, v in class_weight.items():
        table[k.item() if isinstance(k, np.generic) else k] = check_float(v, f"{name}[{k!r}]", 0.0)
    present = [c.item() if isinstance(c, np.generic) else c for c in np.unique(labels)]
    missing = sorted(c for c in present if c not in table)
    if missing:
        raise ValueError(f"{name} has no weight for class(es) {missing}")
    return np.array([table[c.item() if isinstance(c, np.generic) else c] for c in labels], np.float64)


# -- parameter constraints, in the spirit of scikit-learn's _parameter_constraints --------------
class Interval:
    """Numbers of ``kind`` (int or float) between ``low`` and ``high`` (None: unbounded).

    ``closed`` is 'both', 'left', 'right' or 'neither'.
    """

    def __init__(self, kind, low, high, closed="both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts_type(self, value):
        if self.kind is int:
            return is_integer(value)
        return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))

    def check(self, value, name):
        if self.kind is int:
            low = None if self.low is None else self.low + (self.closed in ("right", "neither"))
            high = None if self.high is None else self.high - (self.closed in ("left", "neither"))
            check_int(value, name, low, high)
        else:
            check_float(value, name, self.low, self.high, low_open=self.closed in ("right", "neither"),
                        high_open=self.closed in ("left", "neither"))  # fmt: skip

    def __str__(self):
        kind = "an int" if self.kind is int else "a number"
        return f"{kind} in {self.low}..{self.high}"


class Options:
    """One of a fixed set of values (strings, dtypes)."""

    def __init__(self, values):
        self.values = tuple(values)

    def accepts_type(self, value):
        return isinstance(value, (str, type, np.dtype))

    def check(self, value, name):
        try:
            ok = value in self.values
        except TypeError:
            ok = False
        if not ok:
            raise ValueError(f"{name} must be one of {[str(v) for v in self.values]}; got {value!r}")

    def __str__(self):
        return f"one of {[str(v) for v in self.values]}"


class Boolean:
    """True or False (numpy bools too)."""

    def accepts_type(self, value):
        return isinstance(value, (bool, np.bool_))

    def check(self, value, name):
        check_bool(value, name)

    def __str__(self):
        return "True or False"


class NoneOr:
    """None, or a value the wrapped constraint accepts."""

    def __init__(self, inner):
        self.inner = inner

    def accepts_type(self, value):
        return value is None or self.inner.accepts_type(value)

    def check(self, value, name):
        if value is not None:
            self.inner.check(value, name)

    def __str__(self):
        return f"None or {self.inner}"


def validate_params(params, constraints):
    """Check each of ``params`` (a dict) against its entry in ``constraints``.

    Parameters
    ----------
    params : dict of str to object
    constraints : dict of str to constraint
        An :class:`Interval`, :class:`Options`, :class:`Boolean`, :class:`NoneOr` or a callable
        ``check(value, name)`` that raises for a bad value. Names without an entry are not checked.

    Raises
    ------
    TypeError
        A value of the wrong type.
    ValueError
        A value of the right type outside what is allowed.
    """
    for name, constraint in constraints.items():
        if name not in params:
            continue
        value = params[name]
        if callable(constraint) and not hasattr(constraint, "check"):
            constraint(value, name)
            continue
        if not constraint.accepts_type(value):
            raise TypeError(f"{name} must be {constraint}; got {value!r}")
        constraint.check(value, name)
