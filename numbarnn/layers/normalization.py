"""LayerNormalization and BatchNormalization, with Keras 3's weights, defaults and statistics.

LayerNormalization normalizes each sample over ``axis`` (the features by
default)::

    mean, var = mean and biased variance of x over axis
    y = (x - mean) / sqrt(var + epsilon) * gamma + beta

BatchNormalization normalizes each channel of ``axis`` over the batch and every
other axis. While training (``training=True`` and the layer trainable) it uses
the batch's mean and biased variance and updates, in ``forward``::

    moving_mean     = moving_mean * momentum + mean * (1 - momentum)
    moving_variance = moving_variance * momentum + var * (1 - momentum)

otherwise it uses the moving statistics. With a mask (batch, steps), as in
Keras 3, the statistics are taken over the valid steps only, each divided by
``(number of valid positions + 1e-7)``; every step, padded or not, is then
normalized with them, and the mask is passed on.

Backward, for ``xhat = (x - mean) * r`` with ``r = (var + epsilon)^(-1/2)``,
``g = dy * gamma``, the mask ``m`` (ones without one) and ``N = sum(m) (+ 1e-7)``
over the reduced axes::

    dgamma = sum(dy * xhat)        dbeta = sum(dy)
    dvar   = -r^3 / 2 * sum(g * (x - mean))
    dmean  = -r * sum(g) - 2 * dvar * sum(m * (x - mean)) / N
    dx     = g * r + m * (dmean + 2 * dvar * (x - mean)) / N

(With the moving statistics, ``dx = g * r`` alone.) LayerNormalization is the
unmasked case with the sums over the normalized axes of one sample.
"""

import numpy as np

from .. import initializers, regularizers
from .._validation import check_bool, check_float, is_integer
from .base import initializer_config, regularizer_config
from .base import Layer

__all__ = ["BatchNormalization", "LayerNormalization"]

# Keras's backend epsilon, added to the number of valid positions in masked statistics.
_MASKED_COUNT_EPSILON = 1e-7


def _sample_axes(axis, sample_ndim, owner):
    """Keras axes (batch axis 0 included, negative from the end) as sorted axes of one sample."""
    axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
    if not axes or not all(is_integer(a) for a in axes):
        raise TypeError(f"{owner}: axis must be an int or a list of ints; got {axis!r}")
    ndim = sample_ndim + 1
    out = []
    for a in axes:
        if not -ndim <= a < ndim or a % ndim == 0:
            raise ValueError(
                f"{owner}: axis {a} is not an axis of the samples (inputs have {ndim} axes with the batch axis "
                f"0, which cannot be normalized over); got axis={axis!r}"
            )
        out.append(a % ndim - 1)
    if len(set(out)) != len(out):
        raise ValueError(f"{owner}: axis holds the same axis twice; got axis={axis!r}")
    return sorted(out)


def _check_axis_config(axis):
    if isinstance(axis, (list, tuple)):
        if not axis or not all(is_integer(a) for a in axis):
            raise TypeError(f"axis must be an int or a non-empty list of ints; got {axis!r}")
        return [int(a) for a in axis]
    if not is_integer(axis):
        raise TypeError(f"axis must be an int or a list of ints; got {axis!r}")
    return int(axis)


class LayerNormalization(Layer):
    """Normalize each sample over ``axis``, then scale by ``gamma`` and shift by ``beta``.

    Parameters
    ----------
    axis : int or list of int, default=-1
        Axes of the full input (batch axis 0, which cannot be one of them) to
        normalize over, as in Keras.
    epsilon : float, default=1e-3
        Added to the variance.
    center : bool, default=True
        Add ``beta``.
    scale : bool, default=True
        Multiply by ``gamma``.
    beta_initializer : default='zeros'
    gamma_initializer : default='ones'
    beta_regularizer, gamma_regularizer : optional
    input_shape, dtype, name : as for every layer

    Notes
    -----
    Input of any shape (batch, ...), output of the same shape, float32 or
    float64. Weights in Keras's order: ``gamma`` then ``beta``, each of the
    shape of the normalized axes (``(features,)`` by default), only those that
    ``scale`` and ``center`` ask for. A mask is passed on unchanged (each step
    is normalized on its own).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.layers import LayerNormalization
    >>> y = LayerNormalization(epsilon=0.0, dtype="float64")(np.array([[1.0, 2.0, 3.0, 6.0]]))
    >>> bool(np.allclose(y.mean(), 0.0)), bool(np.allclose(y.std(), 1.0))
    (True, True)
    """

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.axis = _check_axis_config(axis)
        self.epsilon = check_float(epsilon, "epsilon", low=0.0)
        self.center = check_bool(center, "center")
        self.scale = check_bool(scale, "scale")
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def check_input_shape(self, input_shape):
        for a in _sample_axes(self.axis, len(input_shape), f"layer {self.name!r} (LayerNormalization)"):
            if input_shape[a] is None:
                raise ValueError(
                    f"layer {self.name!r} (LayerNormalization) needs a known size on the normalized axes; "
                    f"got input shape {tuple(input_shape)}"
                )

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        self._axes = _sample_axes(self.axis, len(input_shape), self.name)
        shape = tuple(input_shape[a] for a in self._axes)
        self._weight_names, self._regularizers = [], {}
        if self.scale:
            self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer)
        if self.center:
            self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer)
        super().build(input_shape)

    def _broadcast(self, w, ndim):
        """A weight of the normalized axes' shape, reshaped to broadcast against a (batch, ...) input."""
        shape = [1] * ndim
        for a, n in zip(self._axes, w.shape):
            shape[a + 1] = n
        return w.reshape(shape)

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        axes = tuple(a + 1 for a in self._axes)
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        var = (xc * xc).mean(axis=axes, keepdims=True)
        r = (1.0 / np.sqrt(var + self.dtype.type(self.epsilon))).astype(self.dtype, copy=False)
        xhat = xc * r
        y = xhat
        if self.scale:
            y = y * self._broadcast(self.gamma, x.ndim)
        if self.center:
            y = y + self._broadcast(self.beta, x.ndim)
        return y.astype(self.dtype, copy=False), mask, (xhat, r, axes)

    def backward(self, cache, dy):
        xhat, r, axes = cache
        dy = np.asarray(dy, dtype=self.dtype)
        others = tuple(a for a in range(dy.ndim) if a not in axes)
        grads = []
        g = dy
        if self.scale:
            grads.append((dy * xhat).sum(axis=others).reshape(self.gamma.shape))
            g = dy * self._broadcast(self.gamma, dy.ndim)
        if self.center:
            grads.append(dy.sum(axis=others).reshape(self.beta.shape))
        dx = r * (g - g.mean(axis=axes, keepdims=True) - xhat * (g * xhat).mean(axis=axes, keepdims=True))
        return dx.astype(self.dtype, copy=False), grads

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializer_config(self.beta_initializer),
            "gamma_initializer": initializer_config(self.gamma_initializer),
            "beta_regularizer": regularizer_config(self.beta_regularizer),
            "gamma_regularizer": regularizer_config(self.gamma_regularizer),
        }


class BatchNormalization(Layer):
    """Normalize each channel with batch statistics while training, moving statistics otherwise.

    Parameters
    ----------
    axis : int, default=-1
        The channel axis of the full input (not the batch axis 0).
    momentum : float, default=0.99
        Weight of the old value in the moving statistics' update.
    epsilon : float, default=1e-3
        Added to the variance.
    center : bool, default=True
        Add ``beta``.
    scale : bool, default=True
        Multiply by ``gamma``.
    beta_initializer : default='zeros'
    gamma_initializer : default='ones'
    moving_mean_initializer : default='zeros'
    moving_variance_initializer : default='ones'
    beta_regularizer, gamma_regularizer : optional
    input_shape, dtype, name : as for every layer

    Notes
    -----
    Input of any shape (batch, ...), output of the same shape, float32 or
    float64. Weights in Keras's order: ``gamma``, ``beta`` (each if asked
    for), ``moving_mean``, ``moving_variance``, all of shape (channels,); only
    ``gamma`` and ``beta`` are trainable (``trainable_weights``, the gradients
    ``backward`` returns, what an optimizer updates). ``forward`` with
    ``training=True`` on a trainable layer updates the moving statistics in
    place, with the biased batch variance as Keras uses; a layer with
    ``trainable=False`` always runs in inference mode, as in Keras. With a mask
    the statistics come from the valid steps only (see the module docstring);
    the mask is passed on.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.layers import BatchNormalization
    >>> bn = BatchNormalization(momentum=0.5, dtype="float64")
    >>> bn.build((2,))  # samples of 2 channels
    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> y, _, _ = bn.forward(x, training=True)
    >>> y.round(4)
    array([[-0.9995, -1.    ],
           [ 0.9995,  1.    ]])
    >>> bn.moving_mean, bn.moving_variance
    (array([ 1., 10.]), array([ 1. , 50.5]))
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        if not is_integer(axis):
            raise TypeError(f"axis must be an int; got {axis!r}")
        self.axis = int(axis)
        self.momentum = check_float(momentum, "momentum", 0.0, 1.0)
        self.epsilon = check_float(epsilon, "epsilon", low=0.0)
        self.center = check_bool(center, "center")
        self.scale = check_bool(scale, "scale")
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def check_input_shape(self, input_shape):
        (a,) = _sample_axes(self.axis, len(input_shape), f"layer {self.name!r} (BatchNormalization)")
        if input_shape[a] is None:
            raise ValueError(
                f"layer {self.name!r} (BatchNormalization) needs a known size on axis {self.axis}; "
                f"got input shape {tuple(input_shape)}"
            )

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        (self._channel_axis,) = _sample_axes(self.axis, len(input_shape), self.name)
        shape = (input_shape[self._channel_axis],)
        self._weight_names, self._regularizers = [], {}
        if self.scale:
            self.add_weight("gamma", shape, self.gamma_initializer, self.gamma_regularizer)
        if self.center:
            self.add_weight("beta", shape, self.beta_initializer, self.beta_regularizer)
        self.add_weight("moving_mean", shape, self.moving_mean_initializer)
        self.add_weight("moving_variance", shape, self.moving_variance_initializer)
        super().build(input_shape)

    @property
    def trainable_weights(self):
        """``gamma`` and ``beta`` (those that exist), or none when ``trainable`` is False; never the moving statistics."""
        if not self.trainable:
            return []
        return [getattr(self, n) for n in ("gamma", "beta") if n in self._weight_names]

    def _broadcast(self, v, ndim):
        shape = [1] * ndim
        shape[self._channel_axis + 1] = v.shape[0]
        return v.reshape(shape)

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        axes = tuple(a for a in range(x.ndim) if a != self._channel_axis + 1)
        m = None
        if training and self.trainable:
            if mask is not None:
                keep = np.asarray(mask, dtype=bool)
                if keep.shape != x.shape[:-1]:
                    raise ValueError(
                        f"layer {self.name!r} (BatchNormalization): the mask must have one axis less than the "
                        f"inputs; got mask of shape {keep.shape} for inputs of shape {x.shape}"
                    )
                m = np.broadcast_to(keep[..., None], x.shape).astype(self.dtype)
                n = m.sum(axis=axes, keepdims=True) + self.dtype.type(_MASKED_COUNT_EPSILON)
                mean = (m * x).sum(axis=axes, keepdims=True) / n
                xc = x - mean
                var = (m * xc * xc).sum(axis=axes, keepdims=True) / n
            else:
                n = self.dtype.type(x.size // x.shape[self._channel_axis + 1])
                mean = x.mean(axis=axes, keepdims=True)
                xc = x - mean
                var = (xc * xc).mean(axis=axes, keepdims=True)
            mom = self.dtype.type(self.momentum)
            rest = self.dtype.type(1.0 - self.momentum)
            self.moving_mean[...] = self.moving_mean * mom + mean.reshape(-1) * rest
            self.moving_variance[...] = self.moving_variance * mom + var.reshape(-1) * rest
        else:
            mean = self._broadcast(self.moving_mean, x.ndim)
            var = self._broadcast(self.moving_variance, x.ndim)
            xc, n = x - mean, None
        r = (1.0 / np.sqrt(var + self.dtype.type(self.epsilon))).astype(self.dtype, copy=False)
        xhat = xc * r
        y = xhat * self._broadcast(self.gamma, x.ndim) if self.scale else xhat
        if self.center:
            y = y + self._broadcast(self.beta, x.ndim)
        return y.astype(self.dtype, copy=False), mask, (xc, r, m, n, axes)

    def backward(self, cache, dy):
        xc, r, m, n, axes = cache
        dy = np.asarray(dy, dtype=self.dtype)
        grads = []
        g = dy
        if self.scale:
            grads.append((dy * xc * r).sum(axis=axes))
            g = dy * self._broadcast(self.gamma, dy.ndim)
        if self.center:
            grads.append(dy.sum(axis=axes))
        dx = g * r
        if n is not None:  # batch statistics: the mean and variance depend on x too
            dvar = -0.5 * r**3 * (g * xc).sum(axis=axes, keepdims=True)
            mx = xc if m is None else m * xc
            dmean = -r * g.sum(axis=axes, keepdims=True) - 2.0 * dvar * mx.sum(axis=axes, keepdims=True) / n
            dx = dx + (dmean + 2.0 * dvar * xc) / n * (1.0 if m is None else m)
        if not self.trainable:
            grads = []
        return dx.astype(self.dtype, copy=False), grads

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializer_config(self.beta_initializer),
            "gamma_initializer": initializer_config(self.gamma_initializer),
            "moving_mean_initializer": initializer_config(self.moving_mean_initializer),
            "moving_variance_initializer": initializer_config(self.moving_variance_initializer),
            "beta_regularizer": regularizer_config(self.beta_regularizer),
            "gamma_regularizer": regularizer_config(self.gamma_regularizer),
        }
