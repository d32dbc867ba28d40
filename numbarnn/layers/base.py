"""The Layer base class: weights in Keras's layout, shapes, masks, forward and backward.

A layer is built from an input shape without the batch axis; it then owns its
weight arrays (``layer.weights``, in Keras's order). Training calls
``forward(x, mask, training, rng)``, which returns the output, the output mask
and a cache, then ``backward(cache, dy)``, which returns the input gradient and
one gradient per weight. Layers hold only numpy arrays and plain settings, so a
model pickles and saves as arrays plus JSON.
"""

import numpy as np

from .. import backend, initializers, regularizers
from .._config import DTYPES
from .._serialization import serialize, snake_case
from .._names import unique_name
from .._validation import check_rate, check_units, is_integer
from .symbolic import LayerCall, SymbolicTensor, is_symbolic

__all__ = ["Layer", "check_units", "check_rate", "checked_weights"]

def checked_weights(owner, names, current, weights):
    """Check new weights against the live arrays they replace; return them as arrays.

    Raises ValueError naming ``owner`` and the weight when the count, a shape or a
    value (not a finite number) is wrong, before anything is changed.
    """
    weights = list(weights)
    if len(weights) != len(current):
        raise ValueError(
            f"{owner} expects {len(current)} weight arrays ({', '.join(names) or 'none'}); got {len(weights)}"
        )
    checked = []
    for name, w, new in zip(names, current, weights):
        arr = np.asarray(new)
        if arr.shape != w.shape:
            raise ValueError(f"{owner}: weight {name!r} must have shape {w.shape}; got shape {arr.shape}")
        if arr.dtype.kind not in "biuf" or not np.isfinite(arr).all():
            raise ValueError(f"{owner}: weight {name!r} must hold finite numbers")
        checked.append(arr)
    return checked


def _check_shape(shape, name, allow_none_first=False):
    if shape is None:
        return None
    if is_integer(shape):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of ints; got {shape!r}") from None
    if allow_none_first and not shape:
        raise ValueError(f"{name} must hold the batch size and the sample shape; got {shape!r}")
    for s in shape:
        if s is not None and (not is_integer(s) or s < 1):
            raise ValueError(f"{name} must hold positive ints (or None for a free length); got {shape!r}")
    return tuple(None if s is None else int(s) for s in shape)


class Layer:
    """Base class of every layer.

    Parameters
    ----------
    name : str, optional
        Unique by default ('lstm', 'lstm_1', ...).
    dtype : {'float32', 'float64'}, optional
        Dtype of the weights and of the computation; ``backend.floatx()`` ('float32') by default.
    input_shape : tuple of int, optional
        Shape of one sample (no batch axis), on the first layer of a model.
    trainable : bool, default=True
        Whether ``fit`` updates the weights.

    Attributes
    ----------
    weights : list of ndarray
        The weight arrays, in Keras's order (empty before the layer is built).
    built : bool
    """

    #: Number of axes of one input sample, or None when any number works.
    input_ndim = None
    #: Whether the input holds integer indices (Embedding) rather than numbers.
    integer_input = False

    def __init__(self, name=None, dtype=None, input_shape=None, trainable=True, **kwargs):
        batch_size = kwargs.pop("batch_size", None)
        if "batch_input_shape" in kwargs:
            batch_input_shape = _check_shape(kwargs.pop("batch_input_shape"), "batch_input_shape", allow_none_first=True)
            batch_size, input_shape = batch_input_shape[0], batch_input_shape[1:]
        if "input_dim" in kwargs:
            input_shape = (check_units(kwargs.pop("input_dim"), "input_dim"),)
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string; got {type(name).__name__}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        try:
            self.dtype = np.dtype(backend.floatx() if dtype is None else dtype)
        except TypeError:
            raise TypeError(f"dtype must be 'float32' or 'float64'; got {dtype!r}") from None
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
        self.input_shape = _check_shape(input_shape, "input_shape")
        #: The batch size fixed by ``batch_input_shape=`` or ``batch_size=`` (stateful layers), else None.
        self.batch_size = None if batch_size is None else check_units(batch_size, "batch_size")
        self.trainable = bool(trainable)
        self.built = False
        self.built_input_shape = None
        self._weight_names = []
        self._regularizers = {}
        self._calls = []  # the symbolic calls of this layer, in order (see symbolic.py)

    # -- weights -------------------------------------------------------------
    def add_weight(self, name, shape, initializer, regularizer=None):
        """Create a weight array from ``initializer`` and register it under ``name``."""
        value = initializers.get(initializer)(shape, self.dtype)
        setattr(self, name, value)
        self._weight_names.append(name)
        if regularizer is not None:
            self._regularizers[name] = regularizer
        return value

    @property
    def weights(self):
        """The layer's weight arrays (live, not copies), in Keras's order."""
        return [getattr(self, n) for n in self._weight_names]

    @property
    def weight_names(self):
        """The names of :attr:`weights`, in order ('kernel', 'recurrent_kernel', 'bias', ...)."""
        return list(self._weight_names)

    @property
    def trainable_weights(self):
        """The weights ``fit`` updates: all of them, or none when ``trainable`` is False."""
        return self.weights if self.trainable else []

    def get_weights(self):
        """Return copies of the weight arrays, in Keras's shapes and order.

        Returns
        -------
        list of ndarray
        """
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Set the weights from a list of arrays in Keras's shapes and order.

        Raises ValueError (and changes nothing) when the count, a shape or a value is wrong.
        Wrappers (Bidirectional, TimeDistributed) use this too: their ``weights`` are
        the wrapped layers' live arrays.
        """
        self._require_built("set_weights")
        current = self.weights
        for w, arr in zip(current, checked_weights(f"layer {self.name!r}", self._weight_names, current, weights)):
            w[...] = arr

    def count_params(self):
        """Number of weight values (trainable or not)."""
        self._require_built("count_params")
        return int(sum(w.size for w in self.weights))

    def regularization_penalty(self):
        """Sum of the weight penalties (0.0 without regularizers)."""
        return sum(reg(getattr(self, n)) for n, reg in self._regularizers.items())

    def add_regularization_gradients(self, grads):
        """Add each regularizer's gradient to the matching entry of ``grads`` (aligned with ``weights``)."""
        for n, reg in self._regularizers.items():
            i = self._weight_names.index(n)
            grads[i] = grads[i] + reg.gradient(getattr(self, n))
        return grads

    def _require_built(self, what):
        if not self.built:
            raise ValueError(
                f"layer {self.name!r} is not built yet, so {what} cannot run: give the model an input shape "
                f"(input_shape= on its first layer, an Input, or model.build) or fit it first"
            )

    # -- shapes and computation ---------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (one sample, no batch axis)."""
        self.built = True
        self.built_input_shape = tuple(input_shape)

    def unbuild(self):
        """Mark the layer (and any layer it wraps) as not built, so the next build makes new weights."""
        self.built = False
        self.built_input_shape = None

    def compute_output_shape(self, input_shape):
        """Shape of one output sample for one input sample of ``input_shape``."""
        return tuple(input_shape)

    def check_input_shape(self, input_shape):
        """Raise ValueError if ``input_shape`` cannot feed this layer."""
        if self.input_ndim is not None and len(input_shape) != self.input_ndim:
            raise ValueError(
                f"layer {self.name!r} ({type(self).__name__}) expects samples of {self.input_ndim} axes "
                f"(batch axis excluded); got samples of shape {tuple(input_shape)}"
            )

    def forward(self, x, mask=None, training=False, rng=None):
        """Return ``(outputs, output_mask, cache)`` for a batch ``x``; ``cache`` feeds :meth:`backward`."""
        raise NotImplementedError

    def backward(self, cache, dy):
        """Return ``(dx, grads)``: the input gradient (None for integer inputs) and one gradient per weight."""
        raise NotImplementedError

    # -- several inputs and outputs (the graph calls these) --------------------
    #: Whether the layer takes a list of inputs (merge layers) rather than one tensor.
    takes_list = False

    def forward_many(self, inputs, masks, training, rng):
        """Run the layer on a list of inputs; returns ``(outputs, output_masks, cache)`` as lists.

        The default runs :meth:`forward` on the single input; layers with several inputs
        (merges, a recurrent layer given initial states) or outputs (``return_state``) override it.
        """
        y, m, cache = self.forward(inputs[0], masks[0], training, rng)
        return [y], [m], cache

    def backward_many(self, cache, d_outputs):
        """Return ``(d_inputs, grads)`` from one gradient per output (None: no gradient reached it)."""
        dx, grads = self.backward(cache, d_outputs[0])
        return [dx], grads

    def compute_output_shapes(self, input_shapes):
        """The sample shape of each output for the sample shapes of the inputs (lists)."""
        return [self.compute_output_shape(input_shapes[0])]

    def build_for(self, input_shapes):
        """Check and build for the sample shapes of the inputs (a list), unless built already."""
        shape = input_shapes if self.takes_list else input_shapes[0]
        self.check_input_shape(shape)
        if not self.built:
            self.build(shape)
        elif not self.takes_list and (
            len(self.built_input_shape) != len(shape) or self.built_input_shape[-1] != shape[-1]
        ):
            raise ValueError(
                f"layer {self.name!r} was built for inputs of shape {self.built_input_shape}; here it would get {shape}"
            )

    # -- calling -------------------------------------------------------------
    def __call__(self, x, mask=None, training=False, **kwargs):
        """Apply the layer to a batch, building it on first use; returns the outputs.

        Called on symbolic tensors (``Input(...)`` or another layer's output), it records the
        call and returns symbolic outputs, from which a functional ``Model`` is made.
        """
        extra = self._call_extra_inputs(dict(kwargs))
        if is_symbolic(x) or is_symbolic(extra):
            return self._symbolic_call(x, extra)
        if self.takes_list:
            xs = [np.asarray(v) for v in x]
            if not self.built:
                self.build_for([v.shape[1:] for v in xs])
            masks = mask if isinstance(mask, (list, tuple)) else [mask] * len(xs)
            return self.forward_many(xs, list(masks), training, np.random.default_rng())[0][0]
        x = np.asarray(x)
        if not self.built:
            self.check_input_shape(x.shape[1:])
            self.build(x.shape[1:])
        inputs = [x] + [np.asarray(e) for e in extra]
        outs = self.forward_many(inputs, [mask] + [None] * len(extra), training, np.random.default_rng())[0]
        return outs[0] if len(outs) == 1 else outs

    def _call_extra_inputs(self, kwargs):
        """Tensors a call passes besides its main input (a recurrent layer's ``initial_state``).

        ``kwargs`` are the call's keyword arguments besides ``mask`` and ``training``; any that the
        layer does not take are a TypeError.
        """
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected call argument(s): {', '.join(sorted(kwargs))}")
        return []

    def _symbolic_call(self, x, extra):
        single = not isinstance(x, (list, tuple))
        main = [x] if single else list(x)
        if single and self.takes_list:
            raise TypeError(f"layer {self.name!r} ({type(self).__name__}) takes a list of tensors; got one")
        if not single and not self.takes_list:
            raise TypeError(f"layer {self.name!r} ({type(self).__name__}) takes one tensor; got a list of {len(main)}")
        inputs = main + list(extra)
        for t in inputs:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(
                    f"layer {self.name!r}: mix of symbolic tensors and arrays; got {type(t).__name__} beside "
                    "symbolic inputs (wrap constant inputs in an Input)"
                )
        shapes = [t.shape[1:] for t in inputs]
        self.build_for(shapes[: len(main)])
        out_shapes = self.compute_output_shapes(shapes)
        batch = inputs[0].shape[0]
        call = LayerCall(self, inputs, [(batch,) + tuple(s) for s in out_shapes], self.dtype.name, len(main), single)
        if not hasattr(self, "_calls"):
            self._calls = []
        self._calls.append(call)
        outs = call.outputs
        return outs[0] if len(outs) == 1 else list(outs)

    def _first_call(self, what):
        calls = getattr(self, "_calls", [])
        if not calls:
            raise AttributeError(f"layer {self.name!r} has not been called on a symbolic tensor, so it has no {what}")
        return calls[0]

    @property
    def input(self):
        """The symbolic input of the layer's first call (a list for several)."""
        call = self._first_call("input")
        return call.inputs[0] if len(call.inputs) == 1 else list(call.inputs)

    @property
    def output(self):
        """The symbolic output of the layer's first call (a list for several)."""
        call = self._first_call("output")
        return call.outputs[0] if len(call.outputs) == 1 else list(call.outputs)

    # -- config --------------------------------------------------------------
    def get_config(self):
        """Return the constructor arguments as a JSON-friendly dict."""
        config = {"name": self.name, "dtype": self.dtype.name, "trainable": self.trainable}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        """Create a layer (unbuilt) from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}, built={self.built}>"


def initializer_config(value):
    """JSON-friendly form of an initializer argument."""
    return serialize(initializers.get(value))


def regularizer_config(value):
    """JSON-friendly form of a regularizer argument (None stays None)."""
    return serialize(regularizers.get(value))
