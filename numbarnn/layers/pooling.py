"""Pooling over the steps: MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D.

As Keras 3 computes them (channels last). Windows of ``pool_size`` steps move
by ``strides`` (``pool_size`` by default); ``padding='same'`` pads as Conv1D
does (half before, the odd one after) and the padded positions take no part:
a max ignores them, an average divides by the number of real steps in its
window. (TensorFlow and JAX exclude them so; Keras's torch backend agrees when
the padding is even on both sides.)

Masks, as in Keras 3: the local poolings and GlobalMaxPooling1D ignore an
incoming mask and drop it (padded steps still take part in the max);
GlobalAveragePooling1D averages over the valid steps only and drops the mask
(its output has no steps). A sequence whose steps are all padding averages to
NaN there, as in Keras.
"""

import numpy as np

from .._validation import check_bool
from .base import Layer
from .convolutional import check_data_format, check_padding, one_int, output_length, padding_before

__all__ = ["AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "MaxPooling1D"]


class _Pooling1D(Layer):
    """Windows over the steps; subclasses reduce each window (max or average)."""

    input_ndim = 2

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = one_int(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else one_int(strides, "strides")
        self.padding = check_padding(padding, ("valid", "same"))
        self.data_format = check_data_format(data_format)

    def _output_steps(self, steps):
        return output_length(steps, self.pool_size, self.strides, 1, self.padding)

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        steps = self._output_steps(input_shape[0])
        if steps is not None and steps < 1:
            raise ValueError(
                f"layer {self.name!r} ({type(self).__name__}): {input_shape[0]} steps are fewer than "
                f"pool_size={self.pool_size} with padding='valid'"
            )

    def compute_output_shape(self, input_shape):
        return (self._output_steps(input_shape[0]), input_shape[1])

    def _windows(self, x):
        """Input positions (T_out, P) of every window, and which of them are real steps (not padding)."""
        T = x.shape[1]
        T_out = self._output_steps(T)
        if T_out < 1:
            raise ValueError(
                f"layer {self.name!r} ({type(self).__name__}): inputs of {T} steps are fewer than "
                f"pool_size={self.pool_size} with padding='valid'"
            )
        start = np.arange(T_out) * self.strides - padding_before(T, self.pool_size, self.strides, 1, self.padding)
        idx = start[:, None] + np.arange(self.pool_size)[None, :]
        valid = (idx >= 0) & (idx < T)
        return np.clip(idx, 0, T - 1), valid

    def get_config(self):
        return {
            **super().get_config(),
            "pool_size": [self.pool_size],
            "padding": self.padding,
            "strides": [self.strides],
            "data_format": self.data_format,
        }


class MaxPooling1D(_Pooling1D):
    """Maximum over windows of steps, per channel.

    Parameters
    ----------
    pool_size : int, default=2
    strides : int, optional
        Defaults to ``pool_size`` (windows that do not overlap).
    padding : {'valid', 'same'}, default='valid'
        ``'same'`` gives ``ceil(steps / strides)`` outputs; padded positions never win the max.
    data_format : {'channels_last'} or None
    input_shape, dtype, name : as for every layer

    Notes
    -----
    Input (batch, steps, channels), output (batch, out_steps, channels), float32
    or float64; no weights. The gradient goes to the first maximum of each
    window. The mask is dropped (as Keras 3 does).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.layers import MaxPooling1D
    >>> x = np.array([[[1.0], [3.0], [2.0], [0.0], [5.0]]])
    >>> MaxPooling1D(2)(x)[0, :, 0]
    array([3., 2.], dtype=float32)
    >>> MaxPooling1D(2, padding="same")(x)[0, :, 0]
    array([3., 2., 5.], dtype=float32)
    """

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        idx, valid = self._windows(x)
        vals = x[:, idx, :]  # (B, T_out, P, C)
        if not valid.all():
            vals = np.where(valid[None, :, :, None], vals, -np.inf)
        arg = vals.argmax(axis=2)  # (B, T_out, C): the first maximum
        out = np.take_along_axis(vals, arg[:, :, None, :], axis=2)[:, :, 0, :]
        return np.ascontiguousarray(out, dtype=self.dtype), None, (x.shape, idx, valid, arg)

    def backward(self, cache, dy):
        shape, idx, valid, arg = cache
        dx = np.zeros(shape, self.dtype)
        for j in range(idx.shape[1]):
            t = np.flatnonzero(valid[:, j])  # windows whose tap j is a real step: distinct positions, so += is safe
            dx[:, idx[t, j], :] += np.where(arg[:, t] == j, dy[:, t], 0)
        return dx, []


class AveragePooling1D(_Pooling1D):
    """Average over windows of steps, per channel.

    Parameters
    ----------
    pool_size : int, default=2
        Keras 3 gives it no default (Keras 2 gave 2); 2 here, so code of either runs.
    strides : int, optional
        Defaults to ``pool_size``.
    padding : {'valid', 'same'}, default='valid'
        With ``'same'``, a window that overhangs the sequence averages only its real steps.
    data_format : {'channels_last'} or None
    input_shape, dtype, name : as for every layer

    Notes
    -----
    Input (batch, steps, channels), output (batch, out_steps, channels), float32
    or float64; no weights. The mask is dropped (as Keras 3 does).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.layers import AveragePooling1D
    >>> x = np.array([[[1.0], [3.0], [2.0], [0.0], [5.0]]])
    >>> AveragePooling1D(2)(x)[0, :, 0]
    array([2., 1.], dtype=float32)
    >>> AveragePooling1D(3, strides=1, padding="same", dtype="float64")(x)[0, :, 0].round(3)
    array([2.   , 2.   , 1.667, 2.333, 2.5  ])
    """

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        idx, valid = self._windows(x)
        count = valid.sum(axis=1).astype(self.dtype)  # real steps per window
        w = valid.astype(self.dtype) / count[:, None]  # (T_out, P)
        out = np.einsum("btpc,tp->btc", x[:, idx, :], w)
        return out.astype(self.dtype, copy=False), None, (x.shape, idx, valid, w)

    def backward(self, cache, dy):
        shape, idx, valid, w = cache
        dx = np.zeros(shape, self.dtype)
        for j in range(idx.shape[1]):
            t = np.flatnonzero(valid[:, j])  # windows whose tap j is a real step: distinct positions, so += is safe
            dx[:, idx[t, j], :] += dy[:, t] * w[None, t, j, None]
        return dx, []


class _GlobalPooling1D(Layer):
    input_ndim = 2

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format)
        self.keepdims = check_bool(keepdims, "keepdims")

    def compute_output_shape(self, input_shape):
        return (1, input_shape[-1]) if self.keepdims else (input_shape[-1],)

    def _shape_out(self, out):
        return out[:, None, :] if self.keepdims else out

    def _shape_grad(self, dy):
        return dy[:, 0, :] if self.keepdims else dy

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling1D(_GlobalPooling1D):
    """Maximum over all steps, per channel.

    Parameters
    ----------
    data_format : {'channels_last'} or None
    keepdims : bool, default=False
        Keep the steps axis (length 1).
    input_shape, dtype, name : as for every layer

    Notes
    -----
    Input (batch, steps, channels); output (batch, channels), or (batch, 1,
    channels) with ``keepdims``; float32 or float64, no weights. As Keras 3's
    GlobalMaxPooling1D, it ignores an incoming mask (padded steps take part in
    the max) and drops it. The gradient goes to the first maximum.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.layers import GlobalMaxPooling1D
    >>> x = np.array([[[1.0, -2.0], [3.0, -1.0], [2.0, -5.0]]])
    >>> GlobalMaxPooling1D()(x)
    array([[ 3., -1.]], dtype=float32)
    """

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        arg = x.argmax(axis=1)  # (B, C)
        out = np.take_along_axis(x, arg[:, None, :], axis=1)[:, 0, :]
        return self._shape_out(out), None, (x.shape, arg)

    def backward(self, cache, dy):
        shape, arg = cache
        dx = np.zeros(shape, self.dtype)
        np.put_along_axis(dx, arg[:, None, :], self._shape_grad(dy)[:, None, :], axis=1)
        return dx, []


class GlobalAveragePooling1D(_GlobalPooling1D):
    """Average over all steps, per channel; with a mask, over the valid steps only.

    Parameters
    ----------
    data_format : {'channels_last'} or None
    keepdims : bool, default=False
        Keep the steps axis (length 1).
    input_shape, dtype, name : as for every layer

    Notes
    -----
    Input (batch, steps, channels) and an optional boolean mask (batch, steps);
    output (batch, channels), or (batch, 1, channels) with ``keepdims``; float32
    or float64, no weights. As in Keras 3, padded steps are left out of the
    average (``sum(x * mask) / sum(mask)``; a sequence with no valid step gives
    NaN) and no mask is passed on.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.layers import GlobalAveragePooling1D
    >>> x = np.array([[[1.0], [3.0], [8.0]]])
    >>> GlobalAveragePooling1D()(x)
    array([[4.]], dtype=float32)
    >>> GlobalAveragePooling1D()(x, mask=np.array([[True, True, False]]))
    array([[2.]], dtype=float32)
    """

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        if mask is None:
            w = np.full(x.shape[:2], 1.0 / x.shape[1], self.dtype)
            out = x.mean(axis=1, dtype=self.dtype)
        else:
            keep = np.asarray(mask, dtype=bool)
            if keep.shape != x.shape[:2]:
                raise ValueError(
                    f"layer {self.name!r} (GlobalAveragePooling1D): mask of shape {keep.shape} does not match "
                    f"inputs of shape {x.shape}; expected {x.shape[:2]}"
                )
            count = keep.sum(axis=1, keepdims=True).astype(self.dtype)  # (B, 1) valid steps
            with np.errstate(invalid="ignore", divide="ignore"):  # no valid step: NaN, as in Keras
                out = (np.where(keep[..., None], x, 0).sum(axis=1) / count).astype(self.dtype, copy=False)
                w = keep.astype(self.dtype) / count
        return self._shape_out(out), None, w

    def backward(self, cache, dy):
        w = cache
        return (self._shape_grad(dy)[:, None, :] * w[..., None]).astype(self.dtype, copy=False), []
