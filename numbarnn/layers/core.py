"""Core layers: Input, Dense, Activation, Dropout, Embedding, Masking, Flatten, TimeDistributed, RepeatVector."""

import numpy as np

from .. import _threads, activations, initializers, regularizers
from .._validation import check_rate, check_units
from ..engine.reductions import rows_gram, rows_sum
from .base import Layer, _check_shape, initializer_config, regularizer_config
from .symbolic import LayerCall

__all__ = [
    "Input",
    "InputLayer",
    "Dense",
    "Activation",
    "Dropout",
    "Embedding",
    "Masking",
    "Flatten",
    "TimeDistributed",
    "RepeatVector",
]


class InputLayer(Layer):
    """A model's input: its sample shape, dtype and (for stateful models) fixed batch size.

    ``Input(...)`` makes one and returns its symbolic tensor.

    Parameters
    ----------
    shape : tuple of int
        Shape of one sample, no batch axis; the number of steps may be None.
    batch_size : int, optional
        A fixed batch size (stateful recurrent layers need one).
    dtype : str, optional
        Input dtype hint; 'int32'/'int64' for index input to an Embedding.
    name : str, optional
    batch_shape : tuple, optional
        ``(batch_size, *shape)`` in one, instead of ``shape`` and ``batch_size``.

    Attributes
    ----------
    shape : tuple
        The sample shape.
    batch_shape : tuple
        ``(batch_size or None, *shape)``.
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, input_shape=None, batch_shape=None):
        shape = shape if shape is not None else input_shape
        if batch_shape is not None:
            if shape is not None or batch_size is not None:
                raise ValueError("give Input either batch_shape, or shape (and batch_size), not both")
            batch_shape = _check_shape(batch_shape, "batch_shape", allow_none_first=True)
            batch_size, shape = batch_shape[0], batch_shape[1:]
        if shape is None:
            raise ValueError("Input needs a shape, e.g. Input(shape=(steps, features))")
        super().__init__(name=name, input_shape=_check_shape(shape, "shape"))
        self.shape = self.input_shape
        self.batch_size = None if batch_size is None else check_units(batch_size, "batch_size")
        self.input_dtype = dtype
        self.built = True
        self.built_input_shape = self.shape
        self._calls = [LayerCall(self, [], [self.batch_shape], dtype or "float32", 0, True)]

    @property
    def batch_shape(self):
        return (self.batch_size,) + tuple(self.shape)

    def get_config(self):
        return {"shape": list(self.shape), "batch_size": self.batch_size, "dtype": self.input_dtype, "name": self.name}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None,
          optional=False):  # fmt: skip
    """The input of a model, as Keras 3's ``Input``: a symbolic tensor to call layers on.

    Use it first in a ``Sequential([Input(shape=(steps, features)), LSTM(32), ...])``, or call
    layers on it and make a ``Model(inputs, outputs)``.

    Parameters
    ----------
    shape : tuple of int
        Shape of one sample, without the batch axis; the number of steps may be None.
    batch_size : int, optional
        A fixed batch size (stateful recurrent layers need one).
    dtype : str, optional
        'float32', 'float64', or an integer dtype for indices into an Embedding.
    sparse, tensor, optional
        Keras arguments numbarnn does not support; giving them raises ValueError.
    batch_shape : tuple, optional
        ``(batch_size, *shape)`` in one.
    name : str, optional

    Returns
    -------
    SymbolicTensor
        Of shape ``(batch_size, *shape)``.

    Examples
    --------
    >>> from numbarnn import Input
    >>> Input(shape=(10, 3)).shape
    (None, 10, 3)
    """
    if sparse:
        raise ValueError("Input(sparse=True) is not supported: numbarnn layers take dense arrays")
    if tensor is not None:
        raise ValueError("Input(tensor=...) is not supported: numbarnn builds models from Input shapes only")
    if optional:
        raise ValueError("Input(optional=True) is not supported: every model input must be given")
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape)
    return layer.output


class Dense(Layer):
    """Fully connected layer on the last axis: ``activation(x @ kernel + bias)``.

    After ``return_sequences=True`` it acts on every time step.

    Parameters
    ----------
    units : int
    activation : {'linear', 'relu', 'tanh', 'sigmoid', 'softmax', 'hard_sigmoid', 'softplus'} or None, default=None
    use_bias : bool, default=True
    kernel_initializer : default='glorot_uniform'
    bias_initializer : default='zeros'
    kernel_regularizer, bias_regularizer : optional
    input_shape, dtype, name : as for every layer

    Input (batch, ..., features), output (batch, ..., units); weights ``kernel``
    (features, units) and ``bias`` (units,).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn import Dense
    >>> Dense(3, activation="softmax")(np.zeros((2, 4))).sum(axis=1)
    array([1., 1.], dtype=float32)
    """

    exact_row_sums = True  # its weight gradients go through engine.reductions (see Trainer._use_exact_row_sums)

    input_ndim = None

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def check_input_shape(self, input_shape):
        if len(input_shape) < 1 or input_shape[-1] is None:
            raise ValueError(f"layer {self.name!r} (Dense) needs inputs with a known last axis; got {input_shape}")

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        self._weight_names, self._regularizers = [], {}
        self.add_weight("kernel", (input_shape[-1], self.units), self.kernel_initializer, self.kernel_regularizer)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def forward(self, x, mask=None, training=False, rng=None):
        x2, y = self.outputs_of_rows(x)
        return y.reshape(x.shape[:-1] + (self.units,)), mask, (x2, y)

    def outputs_of_rows(self, x, out=None):
        """The layer's outputs for ``x`` as rows: ``(x2, y)``, x2 of shape (rows, features), y (rows, units).

        ``out`` (shape (rows, units), the layer's dtype) receives the product
        (a kept buffer; ``y`` is then ``out`` itself for a linear activation).
        """
        x = np.asarray(x, dtype=self.dtype)
        x2 = x.reshape(-1, x.shape[-1])
        z = _threads.rows_matmul(x2, self.kernel, out=out)  # each row on its own: bits independent of the batch
        if self.use_bias:
            z += self.bias
        return x2, activations.ACTIVATIONS[self.activation][0](z)

    def backward(self, cache, dy):
        x2, y = cache
        dz = activations.ACTIVATIONS[self.activation][1](y, dy.reshape(y.shape))
        dz = np.asarray(dz, dtype=self.dtype)
        grads = [rows_gram(x2, dz, time_major=False)] + ([rows_sum(dz, time_major=False)] if self.use_bias else [])
        dx = _threads.rows_matmul(dz, self.kernel.T).reshape(dy.shape[:-1] + (x2.shape[1],))
        return dx, grads

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": initializer_config(self.kernel_initializer),
            "bias_initializer": initializer_config(self.bias_initializer),
            "kernel_regularizer": regularizer_config(self.kernel_regularizer),
            "bias_regularizer": regularizer_config(self.bias_regularizer),
        }


class Activation(Layer):
    """Apply an activation elementwise (softmax on the last axis); no weights."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def forward(self, x, mask=None, training=False, rng=None):
        y = activations.ACTIVATIONS[self.activation][0](np.asarray(x, dtype=self.dtype))
        return y, mask, y

    def backward(self, cache, dy):
        return activations.ACTIVATIONS[self.activation][1](cache, dy), []

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class Dropout(Layer):
    """Zero a share ``rate`` of the inputs while training, scaling the rest by 1/(1-rate); identity otherwise.

    Parameters
    ----------
    rate : float in [0, 1)
    seed : int, optional
        Accepted for Keras compatibility; masks come from the model's generator.
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = check_rate(rate, "rate")
        if noise_shape is not None:
            raise ValueError("noise_shape is not supported; Dropout draws one value per input element")
        self.seed = seed

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        if not training or self.rate == 0:
            return x, mask, None
        keep = (rng.random(x.shape) >= self.rate).astype(self.dtype) / self.dtype.type(1 - self.rate)
        return x * keep, mask, keep

    def backward(self, cache, dy):
        return (dy if cache is None else dy * cache), []

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class Embedding(Layer):
    """Map integer indices to dense vectors: input (batch, steps) ints, output (batch, steps, output_dim).

    Parameters
    ----------
    input_dim : int
        Vocabulary size; indices must lie in [0, input_dim).
    output_dim : int
    embeddings_initializer : default='uniform' (uniform on [-0.05, 0.05])
    embeddings_regularizer : optional
    mask_zero : bool, default=False
        Treat index 0 as padding: the mask passed on is ``x != 0``.
    input_length : int, optional
        Keras 2's way to give the number of steps.
    """

    input_ndim = 1
    integer_input = True

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 mask_zero=False, input_length=None, **kwargs):  # fmt: skip
        if input_length is not None and kwargs.get("input_shape") is None:
            kwargs["input_shape"] = (input_length,)
        super().__init__(**kwargs)
        self.input_dim = check_units(input_dim, "input_dim")
        self.output_dim = check_units(output_dim, "output_dim")
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.mask_zero = bool(mask_zero)

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        self._weight_names, self._regularizers = [], {}
        self.add_weight(
            "embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer, self.embeddings_regularizer
        )
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def check_indices(self, x):
        """Return ``x`` as an intp array of valid indices, or raise ValueError/TypeError."""
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"layer {self.name!r} (Embedding) needs integer indices; got dtype {x.dtype}")
        if x.dtype.kind == "f" and x.size and not np.all(np.isfinite(x) & (x == np.round(x))):
            raise ValueError(f"layer {self.name!r} (Embedding) needs integer indices; got non-integral values")
        if x.size and (x.min() < 0 or x.max() >= self.input_dim):
            raise ValueError(
                f"layer {self.name!r} (Embedding) needs indices in [0, {self.input_dim}); "
                f"got values from {x.min()} to {x.max()}"
            )
        return x.astype(np.intp)

    def forward(self, x, mask=None, training=False, rng=None):
        idx = self.check_indices(x)
        out_mask = (idx != 0) if self.mask_zero else mask
        return self.embeddings[idx], out_mask, idx

    def backward(self, cache, dy):
        grad = np.zeros_like(self.embeddings)
        np.add.at(grad, cache.ravel(), dy.reshape(-1, self.output_dim))
        return None, [grad]

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializer_config(self.embeddings_initializer),
            "embeddings_regularizer": regularizer_config(self.embeddings_regularizer),
            "mask_zero": self.mask_zero,
        }


class Masking(Layer):
    """Mark steps whose features all equal ``mask_value`` as padding for the layers after it.

    Input and output (batch, steps, features); masked steps are set to zero, and
    recurrent layers carry their state through them exactly.
    """

    input_ndim = 2

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = float(mask_value)

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        keep = np.any(x != self.mask_value, axis=-1)
        if mask is not None:
            keep &= mask
        return x * keep[..., None], keep, keep

    def backward(self, cache, dy):
        return dy * cache[..., None], []

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}


class Flatten(Layer):
    """Reshape each sample to one axis: (batch, a, b, ...) to (batch, a*b*...); drops the mask."""

    def compute_output_shape(self, input_shape):
        if any(s is None for s in input_shape):
            raise ValueError(f"layer {self.name!r} (Flatten) needs a fully known input shape; got {input_shape}")
        return (int(np.prod(input_shape)),)

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        return x.reshape(x.shape[0], -1), None, x.shape

    def backward(self, cache, dy):
        return dy.reshape(cache), []


class RepeatVector(Layer):
    """Repeat each input vector ``n`` times: (batch, features) to (batch, n, features)."""

    input_ndim = 1

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        self.n = check_units(n, "n")

    def compute_output_shape(self, input_shape):
        return (self.n,) + tuple(input_shape)

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x, dtype=self.dtype)
        return np.repeat(x[:, None, :], self.n, axis=1), None, None

    def backward(self, cache, dy):
        return dy.sum(axis=1), []

    def get_config(self):
        return {**super().get_config(), "n": self.n}


class TimeDistributed(Layer):
    """Apply a layer to every time step: input (batch, steps, ...), the inner layer sees (batch*steps, ...).

    Parameters
    ----------
    layer : Layer
        For example ``Dense``; its weights are shared by all steps.
    """

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer) or isinstance(layer, InputLayer):
            raise TypeError(f"layer must be a Layer instance; got {type(layer).__name__}")
        if kwargs.get("input_shape") is None and layer.input_shape is not None:
            kwargs["input_shape"] = layer.input_shape
        kwargs.setdefault("dtype", layer.dtype.name)  # the wrapper computes in the wrapped layer's dtype
        super().__init__(**kwargs)
        self.layer = layer

    def check_input_shape(self, input_shape):
        if len(input_shape) < 2:
            raise ValueError(
                f"layer {self.name!r} (TimeDistributed) needs inputs of shape (steps, ...); got {input_shape}"
            )
        self.layer.check_input_shape(tuple(input_shape[1:]))

    @property
    def weights(self):
        return self.layer.weights

    @property
    def _weight_names(self):
        return self.layer.weight_names

    @_weight_names.setter
    def _weight_names(self, value):
        pass  # the names are the inner layer's

    def regularization_penalty(self):
        return self.layer.regularization_penalty()

    def add_regularization_gradients(self, grads):
        return self.layer.add_regularization_gradients(grads)

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        self.layer.build(tuple(input_shape[1:]))
        super().build(input_shape)

    def unbuild(self):
        self.layer.unbuild()
        super().unbuild()

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(self.layer.compute_output_shape(tuple(input_shape[1:])))

    def forward(self, x, mask=None, training=False, rng=None):
        x = np.asarray(x)
        B, T = x.shape[:2]
        y, _, cache = self.layer.forward(x.reshape((B * T,) + x.shape[2:]), None, training, rng)
        return y.reshape((B, T) + y.shape[1:]), mask, (cache, x.shape)

    def backward(self, cache, dy):
        inner, shape = cache
        B, T = dy.shape[:2]
        dx, grads = self.layer.backward(inner, dy.reshape((B * T,) + dy.shape[2:]))
        return (None if dx is None else dx.reshape(shape)), grads

    def get_config(self):
        config = super().get_config()
        config["layer"] = {"class_name": type(self.layer).__name__, "config": self.layer.get_config()}
        return config

    @classmethod
    def from_config(cls, config):
        from . import deserialize

        config = dict(config)
        return cls(deserialize(config.pop("layer")), **config)
