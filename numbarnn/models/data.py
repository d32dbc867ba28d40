"""Input preparation for training and prediction: check arrays once per call, then slice batches.

Every function here raises ValueError or TypeError naming the argument. Nothing
converts a whole array to floats: each batch is converted by the first layer,
so a large bool or int array (one-hot text) is never copied whole.
"""

import numpy as np

from .._validation import check_bool, check_float, check_int, check_sample_weight, class_weight_per_sample

__all__ = ["prepare_x", "prepare_mask", "prepare_y", "prepare_sample_weight", "class_weights", "batches",
           "check_batch_size", "check_verbose", "check_fit_options"]  # fmt: skip


def describe_shape(shape):
    """'(samples, 10, 1)' for a sample shape (10, 1); None reads 'any'."""
    return "(samples, " + ", ".join("any" if s is None else str(s) for s in shape) + ")"


def prepare_x(x, input_shape, first_layer, name="x"):
    """Check ``x`` against the model's declared sample shape and first layer.

    Parameters
    ----------
    x : array-like of shape (samples, steps, features) or (samples, steps)
    input_shape : tuple or None
        The declared sample shape (no batch axis), None entries free; None when unknown.
    first_layer : Layer
        The layer that receives ``x`` (its ``input_ndim`` and ``integer_input``).
    name : str

    Returns
    -------
    ndarray
        ``x`` as an array (2-D input gains a feature axis where the model takes 3-D).
    """
    if x is None:
        raise TypeError(f"{name} must be an array of numbers; got None")
    try:
        arr = np.asarray(x)
    except Exception as exc:
        raise ValueError(f"{name} must be a rectangular array of numbers: {exc}") from exc
    if arr.dtype.kind == "O":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must hold numbers; got an object array that does not") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of numbers (float, int or bool); got dtype {arr.dtype}")
    if arr.ndim < 1 or arr.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample; got shape {arr.shape}")
    if not first_layer.integer_input and arr.dtype.kind == "f" and not all_finite(arr):
        raise ValueError(f"{name} contains NaN or infinity")
    ndim = len(input_shape) if input_shape is not None else first_layer.input_ndim
    if ndim == 2 and arr.ndim == 2:
        arr = arr[:, :, None]  # (samples, steps) is one feature per step
    if ndim is not None and arr.ndim - 1 != ndim:
        want = describe_shape(input_shape) if input_shape is not None else f"{ndim + 1}-D"
        raise ValueError(f"{name} must have shape {want} for this model; got shape {np.shape(x)}")
    if input_shape is not None:
        for s, a in zip(input_shape, arr.shape[1:]):
            if s is not None and s != a:
                raise ValueError(
                    f"{name} must have shape {describe_shape(input_shape)} for this model; got shape {np.shape(x)}"
                )
    if first_layer.integer_input:
        first_layer.check_indices(arr)
    return arr


def all_finite(arr, block=1 << 22):
    """Whether every value is finite, checked ``block`` values at a time (a memory map is never read whole)."""
    if arr.ndim == 0 or arr.size <= block:
        return bool(np.isfinite(arr).all())
    rows = max(1, block // max(1, arr[0].size))
    return all(np.isfinite(arr[i : i + rows]).all() for i in range(0, arr.shape[0], rows))


def prepare_mask(mask, x):
    """A (samples, steps) boolean mask for ``x``, or None."""
    if mask is None:
        return None
    m = np.asarray(mask)
    if x.ndim < 3 or m.shape != x.shape[:2]:
        raise ValueError(f"mask must have shape (samples, steps) = {x.shape[:2]}; got shape {m.shape}")
    if m.dtype != np.bool_:
        if m.dtype.kind not in "biuf" or not np.isin(m, (0, 1)).all():
            raise TypeError("mask must hold booleans (or 0/1)")
        m = m.astype(bool)
    return m


def prepare_y(y, n_samples, pred_shape, out_dtype, loss, name="y"):
    """Check targets against the prediction shape through the loss; returns them for the loss.

    Parameters
    ----------
    y : array-like
    n_samples : int
    pred_shape : tuple
        Shape of the predictions, batch axis included.
    out_dtype : numpy dtype
        The output layer's dtype.
    loss : Loss
    name : str
    """
    if y is None:
        raise TypeError(f"{name} must be an array of targets; got None")
    try:
        arr = np.asarray(y)
    except Exception as exc:
        raise ValueError(f"{name} must be a rectangular array of numbers: {exc}") from exc
    if arr.ndim < 1 or arr.shape[0] != n_samples:
        raise ValueError(
            f"x and {name} must hold the same number of samples; got {n_samples} and "
            f"{arr.shape[0] if arr.ndim else 'a scalar'}"
        )
    try:
        return arr, loss.check_target(arr, pred_shape, out_dtype)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}: {exc}") from None


def prepare_sample_weight(sample_weight, n, name="sample_weight"):
    """Per-sample or per-step weights as float64, or None."""
    return check_sample_weight(sample_weight, n, name)


def class_weights(class_weight, y):
    """Each sample's weight from ``class_weight`` (class index to weight) and targets ``y``.

    Targets of shape (samples,) or (samples, 1) hold class indices; (samples, classes) is one-hot.
    """
    y = np.asarray(y)
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict of class index to weight; got {type(class_weight).__name__}")
    if y.ndim > 2:
        raise ValueError("class_weight is not supported for sequence targets; use sample_weight")
    labels = y.argmax(axis=-1) if (y.ndim == 2 and y.shape[1] > 1) else np.round(y.reshape(len(y), -1)[:, 0])
    table = {}
    for k, v in class_weight.items():
        table[check_int(k.item() if isinstance(k, np.generic) else k, "class_weight keys")] = v
    return class_weight_per_sample(table, labels.astype(np.int64))


def batches(n, batch_size, order=None):
    """Index each batch: slices in order, or chunks of ``order`` (a permutation)."""
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size] if order is not None else slice(start, start + batch_size)


def check_batch_size(batch_size):
    """32 when None, else a positive int."""
    return 32 if batch_size is None else check_int(batch_size, "batch_size", low=1)


def check_verbose(verbose):
    """0, 1 or 2 ('auto' is 1)."""
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, float):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto'; got {verbose!r}")
    return int(verbose)


def check_fit_options(epochs, initial_epoch, shuffle, validation_split):
    """Check ``fit``'s scalar options; returns them normalised."""
    epochs = check_int(epochs, "epochs", low=0)
    initial_epoch = check_int(initial_epoch, "initial_epoch", low=0)
    shuffle = check_bool(shuffle, "shuffle")
    if isinstance(validation_split, bool):
        raise TypeError(f"validation_split must be a float in [0, 1); got {validation_split!r}")
    validation_split = check_float(validation_split, "validation_split", 0.0, 1.0, high_open=True)
    return epochs, initial_epoch, shuffle, validation_split
