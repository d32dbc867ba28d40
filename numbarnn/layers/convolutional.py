"""Conv1D: a 1-D convolution over the steps of a sequence, channels last, as Keras 3 computes it.

The compiled kernels (im2col plus one matrix product) are in
:mod:`numbarnn.kernels.conv1d`; this module checks the arguments, works out the
padding and the output length, applies the activation and keeps what the
backward pass needs. The padding rules, shared with the pooling layers:

- ``'valid'``: no padding; ``T_out = (T - span) // s + 1`` with ``span = d*(K-1) + 1``.
- ``'same'``: ``T_out = ceil(T / s)``; ``max((T_out - 1)*s + span - T, 0)`` zeros,
  half of them before the first step and the odd one after the last.
- ``'causal'`` (Conv1D only): ``span - 1`` zeros before the first step, so output
  ``t`` sees no input after step ``t*s``; ``T_out = ceil(T / s)``.
"""


import numpy as np

from .. import activations, initializers, regularizers
from .._validation import check_choice, check_int, is_integer
from ..kernels.conv1d import conv1d_backward, conv1d_forward
from .base import Layer, check_units, initializer_config, regularizer_config

__all__ = ["Conv1D"]


def one_int(value, name, low=1):
    """An int, or a tuple/list of one int (Keras writes ``kernel_size=(3,)``), at least ``low``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{name} must be an int or a tuple of one int; got {value!r}")
        value = value[0]
    return check_int(value, name, low=low)


def check_data_format(value):
    """Only channels last (Keras's default): inputs of shape (batch, steps, channels)."""
    if value not in (None, "channels_last"):
        raise ValueError(
            f"data_format must be 'channels_last' (inputs of shape (batch, steps, channels)); got {value!r}: "
            "transpose channels-first inputs with Permute((2, 1)) first"
        )
    return "channels_last"


def check_padding(value, choices):
    """A padding mode, case-insensitive as in Keras."""
    if isinstance(value, str):
        value = value.lower()
    return check_choice(value, "padding", choices)


def output_length(length, size, stride, dilation, padding):
    """Number of output steps for ``length`` input steps (None stays None)."""
    if length is None:
        return None
    span = dilation * (size - 1) + 1
    if padding == "valid":
        return (length - span) // stride + 1
    return (length + stride - 1) // stride  # 'same' and 'causal'


def padding_before(length, size, stride, dilation, padding):
    """Zeros padded before the first step (the rest of the padding goes after the last)."""
    span = dilation * (size - 1) + 1
    if padding == "valid":
        return 0
    if padding == "causal":
        return span - 1
    total = max((output_length(length, size, stride, dilation, padding) - 1) * stride + span - length, 0)
    return total // 2


class Conv1D(Layer):
    """1-D convolution over the steps: ``activation(conv(x, kernel) + bias)``, channels last.

    Parameters
    ----------
    filters : int
        Number of output channels.
    kernel_size : int or tuple of one int
        Length ``K`` of the window.
    strides : int or tuple of one int, default=1
    padding : {'valid', 'same', 'causal'}, default='valid'
        See the module docstring; ``'causal'`` pads ``dilation_rate*(K-1)`` zeros
        before the first step, so no output depends on a later input.
    data_format : {'channels_last'} or None, default=None
        Only channels last is supported.
    dilation_rate : int or tuple of one int, default=1
        Gap between the taps; ``strides`` and ``dilation_rate`` cannot both exceed 1 (as in Keras).
    groups : int, default=1
        Only 1 (no grouped convolution).
    activation : {'linear', 'relu', 'tanh', 'sigmoid', 'softmax', 'hard_sigmoid', 'softplus'} or None, default=None
    use_bias : bool, default=True
    kernel_initializer : default='glorot_uniform'
    bias_initializer : default='zeros'
    kernel_regularizer, bias_regularizer : optional
    input_shape, dtype, name : as for every layer

    Notes
    -----
    Input ndarray of shape (batch, steps, channels), float32 or float64; output
    (batch, out_steps, filters) in the layer's dtype. Weights as Keras 3 stores
    them: ``kernel`` (kernel_size, channels, filters) and ``bias`` (filters,).
    The mask is dropped, as Keras 3's Conv1D drops it: a convolution mixes
    padded steps with valid ones.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.layers import Conv1D
    >>> layer = Conv1D(4, 3, padding="causal")
    >>> layer(np.ones((2, 10, 5))).shape
    (2, 10, 4)
    >>> [w.shape for w in layer.get_weights()]
    [(3, 5, 4), (4,)]
    """

    input_ndim = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.filters = check_units(filters, "filters")
        self.kernel_size = one_int(kernel_size, "kernel_size")
        self.strides = one_int(strides, "strides")
        self.padding = check_padding(padding, ("valid", "same", "causal"))
        self.data_format = check_data_format(data_format)
        self.dilation_rate = one_int(dilation_rate, "dilation_rate")
        if self.strides > 1 and self.dilation_rate > 1:
            raise ValueError(
                f"strides > 1 is not supported together with dilation_rate > 1 (as in Keras); "
                f"got strides={self.strides}, dilation_rate={self.dilation_rate}"
            )
        if not is_integer(groups) or groups != 1:
            raise ValueError(f"groups must be 1 (grouped convolution is not supported); got {groups!r}")
        self.groups = 1
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def check_input_shape(self, input_shape):
        super().check_input_shape(input_shape)
        if input_shape[-1] is None:
            raise ValueError(f"layer {self.name!r} (Conv1D) needs a known number of channels; got {input_shape}")
        steps = self._output_steps(input_shape[0])
        if steps is not None and steps < 1:
            raise ValueError(
                f"layer {self.name!r} (Conv1D): {input_shape[0]} steps are too few for kernel_size="
                f"{self.kernel_size} with dilation_rate={self.dilation_rate} and padding='valid'"
            )

    def _output_steps(self, steps):
        return output_length(steps, self.kernel_size, self.strides, self.dilation_rate, self.padding)

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        self._weight_names, self._regularizers = [], {}
        shape = (self.kernel_size, input_shape[-1], self.filters)
        self.add_weight("kernel", shape, self.kernel_initializer, self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer, self.bias_regularizer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return (self._output_steps(input_shape[0]), self.filters)

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if x.ndim != 3 or x.shape[2] != self.kernel.shape[1]:
            raise ValueError(
                f"layer {self.name!r} (Conv1D) expects inputs of shape (batch, steps, {self.kernel.shape[1]}); "
                f"got shape {x.shape}"
            )
        B, T, C = x.shape
        T_out = self._output_steps(T)
        if T_out < 1:
            raise ValueError(
                f"layer {self.name!r} (Conv1D): inputs of {T} steps are too short for kernel_size="
                f"{self.kernel_size}, dilation_rate={self.dilation_rate}, padding='valid'"
            )
        pad = padding_before(T, self.kernel_size, self.strides, self.dilation_rate, self.padding)
        kernel = self.kernel.reshape(self.kernel_size * C, self.filters)
        bias = self.bias if self.use_bias else np.zeros(0, self.dtype)
        cols = np.empty((B * T_out, self.kernel_size * C), self.dtype)
        z = np.empty((B * T_out, self.filters), self.dtype)
        conv1d_forward(x, kernel, bias, self.strides, self.dilation_rate, pad, cols, z)
        y = activations.ACTIVATIONS[self.activation][0](z)
        return y.reshape(B, T_out, self.filters), None, (cols, x.shape, pad, y)

    def backward(self, cache, dy):
        cols, shape, pad, y = cache
        dz = activations.ACTIVATIONS[self.activation][1](y, dy.reshape(y.shape))
        dz = np.ascontiguousarray(dz, dtype=self.dtype)
        kernel = self.kernel.reshape(-1, self.filters)
        dx = np.empty(shape, self.dtype)
        dkernel = np.empty_like(kernel)
        dbias = np.empty(self.filters if self.use_bias else 0, self.dtype)
        conv1d_backward(cols, kernel, dz, self.strides, self.dilation_rate, pad, dx, dkernel, dbias)
        grads = [dkernel.reshape(self.kernel.shape)] + ([dbias] if self.use_bias else [])
        return dx, grads

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": [self.kernel_size],
            "strides": [self.strides],
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": [self.dilation_rate],
            "groups": self.groups,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": initializer_config(self.kernel_initializer),
            "bias_initializer": initializer_config(self.bias_initializer),
            "kernel_regularizer": regularizer_config(self.kernel_regularizer),
            "bias_regularizer": regularizer_config(self.bias_regularizer),
        }
