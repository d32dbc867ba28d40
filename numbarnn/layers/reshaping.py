"""Layers that move values around: SpatialDropout1D, Reshape, Permute, Cropping1D, ZeroPadding1D, UpSampling1D.

Each backward is the forward's adjoint (the same moves, reversed). Masks as in
Keras 3: SpatialDropout1D passes the mask on (it is a Dropout); Reshape,
Permute, Cropping1D, ZeroPadding1D and UpSampling1D do not support masking in
Keras 3 and drop it. ``Lambda`` exists only to refuse: it would run arbitrary
code that a saved model cannot hold safely.
"""

import numpy as np

from .._validation import check_int, is_integer
from .base import Layer, check_rate
from .convolutional import check_data_format

__all__ = ["Cropping1D", "Lambda", "Permute", "Reshape", "SpatialDropout1D", "UpSampling1D", "ZeroPadding1D"]


def _int_pair(value, name):
    """(a, b) from an int (both sides) or a pair of non-negative ints."""
    if is_integer(value):
        value = (value, value)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be an int or a tuple of two ints; got {value!r}")
    return tuple(check_int(v, name, low=0) for v in value)


class SpatialDropout1D(Layer):
    """Dropout of whole channels: one keep/drop draw per sequence and channel, shared by all steps.

    Parameters
    ----------
    rate : float in [0, 1)
        Share of the channels set to zero while training; the others are scaled by ``1 / (1 - rate)``.
    seed : int, optional
        Accepted for Keras compatibility; the masks come from the generator
        passed to ``forward`` (the model's).
    input_shape, dtype, name : as for every layer

    Notes
    -----
    Input and output (batch, steps, channels), float32 or float64. The identity
    when not training. The mask is passed on, as in Keras 3.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.layers import SpatialDropout1D
    >>> layer = SpatialDropout1D(0.5)
    >>> x = np.ones((2, 4, 3))
    >>> bool((layer(x) == 1).all())  # not training: the identity
    True
    >>> y, _, _ = layer.forward(x, training=True, rng=np.random.default_rng(0))
    >>> bool((y == y[:, :1, :]).all())  # one draw per sequence and channel
    True
    >>> sorted(set(y.ravel().tolist()))
    [0.0, 2.0]
    """

    input_ndim = 2

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate(rate, "rate")
        if seed is not None and not is_integer(seed):
            raise TypeError(f"seed must be an int or None; got {seed!r}")
        self.seed = seed

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        if not training or self.rate == 0:
            return x, mask, None
        if rng is None:
            raise ValueError(f"layer {self.name!r} (SpatialDropout1D) needs a random generator while training")
        keep = (rng.random((x.shape[0], 1, x.shape[2])) >= self.rate).astype(self.dtype)
        keep /= self.dtype.type(1.0 - self.rate)
        return x * keep, mask, keep

    def backward(self, cache, dy):
        return (dy if cache is None else dy * cache), []

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (one entry may be -1: whatever the rest leaves).

    Parameters
    ----------
    target_shape : tuple of int
        Shape of one output sample, batch axis excluded.
    input_shape, dtype, name : as for every layer

    Notes
    -----
    Input (batch, ...), output (batch, *target_shape), in C order as numpy and
    Keras reshape. The mask is dropped (as Keras 3 does).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.layers import Reshape
    >>> Reshape((-1, 2))(np.zeros((3, 4, 3))).shape
    (3, 6, 2)
    """

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            target = tuple(target_shape)
        except TypeError:
            raise TypeError(f"target_shape must be a tuple of ints; got {target_shape!r}") from None
        if not all(is_integer(s) and (s > 0 or s == -1) for s in target) or list(target).count(-1) > 1:
            raise ValueError(f"target_shape must hold positive ints and at most one -1; got {target_shape!r}")
        self.target_shape = tuple(int(s) for s in target)

    def _resolve(self, input_shape):
        if any(s is None for s in input_shape):
            return tuple(None if s == -1 else s for s in self.target_shape)
        size = int(np.prod(input_shape))
        known = int(np.prod([s for s in self.target_shape if s != -1]))
        if -1 in self.target_shape:
            if size % known:
                raise ValueError(
                    f"layer {self.name!r} (Reshape): samples of shape {tuple(input_shape)} ({size} values) cannot "
                    f"be reshaped to {self.target_shape}"
                )
            return tuple(size // known if s == -1 else s for s in self.target_shape)
        if size != known:
            raise ValueError(
                f"layer {self.name!r} (Reshape): samples of shape {tuple(input_shape)} ({size} values) cannot be "
                f"reshaped to {self.target_shape} ({known} values)"
            )
        return self.target_shape

    def check_input_shape(self, input_shape):
        self._resolve(input_shape)

    def compute_output_shape(self, input_shape):
        return self._resolve(input_shape)

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        return x.reshape((x.shape[0],) + self._resolve(x.shape[1:])), None, x.shape

    def backward(self, cache, dy):
        return dy.reshape(cache), []

    def get_config(self):
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Permute(Layer):
    """Permute the axes of each sample; ``dims`` numbers them from 1 (the batch axis stays first).

    Parameters
    ----------
    dims : tuple of int
        A permutation of ``1, ..., n``: ``(2, 1)`` swaps steps and features.
    input_shape, dtype, name : as for every layer

    Notes
    -----
    Input (batch, d_1, ..., d_n), output (batch, d_dims[0], ..., d_dims[n-1]).
    The mask is dropped (as Keras 3 does).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.layers import Permute
    >>> Permute((2, 1))(np.zeros((3, 5, 2))).shape
    (3, 2, 5)
    """

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            dims = tuple(dims)
        except TypeError:
            raise TypeError(f"dims must be a tuple of ints; got {dims!r}") from None
        if not all(is_integer(d) for d in dims) or sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"dims must be a permutation of 1, ..., {len(dims)} (axes counted from 1); got {dims!r}")
        self.dims = tuple(int(d) for d in dims)
        self.input_ndim = len(self.dims)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[d - 1] for d in self.dims)

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        return np.ascontiguousarray(x.transpose((0,) + self.dims)), None, None

    def backward(self, cache, dy):
        return np.ascontiguousarray(dy.transpose(np.argsort((0,) + self.dims))), []

    def get_config(self):
        return {**super().get_config(), "dims": list(self.dims)}


class Cropping1D(Layer):
    """Remove steps at the start and the end of each sequence.

    Parameters
    ----------
    cropping : int or tuple of two int, default=(1, 1)
        Steps removed before and after (one int: the same at both ends).
    input_shape, dtype, name : as for every layer

    Notes
    -----
    Input (batch, steps, features), output (batch, steps - before - after,
    features). The mask is dropped (as Keras 3 does).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.layers import Cropping1D
    >>> Cropping1D((1, 2))(np.arange(6.0).reshape(1, 6, 1))[0, :, 0]
    array([1., 2., 3.], dtype=float32)
    """

    input_ndim = 2

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _int_pair(cropping, "cropping")

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        if input_shape[0] is not None and input_shape[0] <= sum(self.cropping):
            raise ValueError(
                f"layer {self.name!r} (Cropping1D): cropping={self.cropping} leaves no step of {input_shape[0]}"
            )

    def compute_output_shape(self, input_shape):
        steps = None if input_shape[0] is None else input_shape[0] - sum(self.cropping)
        return (steps, input_shape[1])

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        self.check_input_shape(x.shape[1:])
        a, b = self.cropping
        return x[:, a : x.shape[1] - b], None, x.shape

    def backward(self, cache, dy):
        dx = np.zeros(cache, self.dtype)
        dx[:, self.cropping[0] : cache[1] - self.cropping[1]] = dy
        return dx, []

    def get_config(self):
        return {**super().get_config(), "cropping": list(self.cropping)}


class ZeroPadding1D(Layer):
    """Add zero steps at the start and the end of each sequence.

    Parameters
    ----------
    padding : int or tuple of two int, default=1
        Zero steps added before and after (one int: the same at both ends).
    data_format : {'channels_last'} or None
    input_shape, dtype, name : as for every layer

    Notes
    -----
    Input (batch, steps, features), output (batch, before + steps + after,
    features). The mask is dropped (as Keras 3 does).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.layers import ZeroPadding1D
    >>> ZeroPadding1D((2, 1))(np.ones((1, 2, 1)))[0, :, 0]
    array([0., 0., 1., 1., 0.], dtype=float32)
    """

    input_ndim = 2

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.padding = _int_pair(padding, "padding")
        self.data_format = check_data_format(data_format)

    def compute_output_shape(self, input_shape):
        steps = None if input_shape[0] is None else input_shape[0] + sum(self.padding)
        return (steps, input_shape[1])

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        return np.pad(x, ((0, 0), self.padding, (0, 0))), None, x.shape[1]

    def backward(self, cache, dy):
        return np.ascontiguousarray(dy[:, self.padding[0] : self.padding[0] + cache]), []

    def get_config(self):
        return {**super().get_config(), "padding": list(self.padding), "data_format": self.data_format}


class UpSampling1D(Layer):
    """Repeat each step ``size`` times: (batch, steps, features) to (batch, steps * size, features).

    Parameters
    ----------
    size : int, default=2
    input_shape, dtype, name : as for every layer

    Notes
    -----
    The mask is dropped (as Keras 3 does).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.layers import UpSampling1D
    >>> UpSampling1D(2)(np.array([[[1.0], [2.0]]]))[0, :, 0]
    array([1., 1., 2., 2.], dtype=float32)
    """

    input_ndim = 2

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        self.size = check_int(size, "size", low=1)

    def compute_output_shape(self, input_shape):
        steps = None if input_shape[0] is None else input_shape[0] * self.size
        return (steps, input_shape[1])

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        return np.repeat(x, self.size, axis=1), None, None

    def backward(self, cache, dy):
        B, T, C = dy.shape
        return dy.reshape(B, T // self.size, self.size, C).sum(axis=2), []

    def get_config(self):
        return {**super().get_config(), "size": self.size}


class Lambda(Layer):
    """Refused: Keras's ``Lambda`` wraps a Python function, which a saved model cannot hold safely.

    Loading such a model would have to run code from the file. Write a
    :class:`~numbarnn.layers.Layer` subclass with ``forward`` and ``backward``
    instead (its class is then part of your code, not of the file).

    Raises
    ------
    TypeError
        Always.

    Examples
    --------
    >>> from numbarnn.layers import Lambda
    >>> Lambda(lambda x: 2 * x)
    Traceback (most recent call last):
    ...
    TypeError: Lambda is not supported: it runs arbitrary Python code, which a saved model cannot hold safely (loading it would run code from the file). Write a numbarnn.layers.Layer subclass with forward() and backward() instead.
    """

    def __init__(self, *args, **kwargs):
        raise TypeError(
            "Lambda is not supported: it runs arbitrary Python code, which a saved model cannot hold safely "
            "(loading it would run code from the file). Write a numbarnn.layers.Layer subclass with forward() "
            "and backward() instead."
        )
