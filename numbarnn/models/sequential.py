"""Sequential: a stack of layers (a chain of graph nodes) with its weights, configuration and summary.

Training and inference (compile, fit, evaluate, predict) come from
:class:`~numbarnn.models.trainer.Trainer`; the layers run through a
:class:`~numbarnn.models.graph.LayerGraph`, of which a Sequential is a chain.
"""

from ..layers import Input, InputLayer, Layer, deserialize
from ..layers import serialize as serialize_layer
from ..layers.base import unique_name
from ..layers.symbolic import SymbolicTensor
from .graph import LayerGraph
from .base import BaseModel

__all__ = ["Sequential"]

class Sequential(BaseModel):
    """A linear stack of layers, trained with Keras's API.

    Parameters
    ----------
    layers : list of Layer, optional
        May start with ``Input(shape)``; or give ``input_shape=`` to the first layer.
    name : str, optional

    Attributes
    ----------
    layers : list of Layer
    graph : LayerGraph
        The layers as a chain of nodes.
    optimizer : Optimizer or None
        Set by :meth:`compile`.
    loss : Loss or None
    history : History or None
        The last :meth:`fit`'s history.
    stop_training : bool
        Set to True by a callback to end training after the current epoch.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn import Sequential, LSTM, Dense
    >>> from numbarnn.utils import set_random_seed
    >>> set_random_seed(0)
    >>> X = np.random.default_rng(0).random((64, 10, 1))
    >>> y = X.sum(axis=1)
    >>> model = Sequential([LSTM(16, input_shape=(10, 1)), Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> history = model.fit(X, y, epochs=2, batch_size=16, verbose=0)
    >>> sorted(history.history)
    ['loss']
    >>> model.predict(X[:3], verbose=0).shape
    (3, 1)
    """

    file_class = "Sequential"

    def __init__(self, layers=None, name=None):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string; got {type(name).__name__}")
        self.name = name or unique_name("sequential")
        self._layers = []
        self._graph = None  # the chain of self._layers, made again when they change
        self._input_layer = None
        self._input_shape = None
        self.built = False
        self._init_trainer()
        if layers is not None:
            if isinstance(layers, Layer):
                layers = [layers]
            for layer in layers:
                self.add(layer)

    # -- structure -----------------------------------------------------------
    @property
    def layers(self):
        """The model's layers, in order (an ``Input`` is not one)."""
        return list(self._layers)

    @property
    def graph(self):
        """The layers as a :class:`~numbarnn.models.graph.LayerGraph` chain."""
        if getattr(self, "_graph", None) is None:  # (models pickled before the graph existed have none)
            self._graph = LayerGraph.chain(self._layers)
        return self._graph

    @property
    def inputs(self):
        """``[input tensor]`` once built, as Keras's Sequential has (its layers then have ``input``/``output``)."""
        return [self._symbolic()[0]]

    @property
    def outputs(self):
        """``[output tensor]`` once built."""
        return [self._symbolic()[1]]

    @property
    def input(self):
        return self.inputs[0]

    @property
    def output(self):
        return self.outputs[0]

    def _symbolic(self):
        self._require_built("inputs and outputs")
        cached = getattr(self, "_tensors", None)
        if cached is None or cached[2] is not self.graph:
            layer = self._input_layer
            inp = layer.output if layer is not None else Input(shape=self._input_shape, name=f"{self.name}_input")
            x = inp
            for lay in self._layers:
                x = lay(x)
            cached = self._tensors = (inp, x, self.graph)
        return cached[:2]

    @property
    def input_shape(self):
        """The input's shape with the batch axis, ``(None, steps, features)``, or None while unknown."""
        return None if self._input_shape is None else (None, *self._input_shape)

    def add(self, layer):
        """Append a layer (or, first, an ``Input``); builds it when the input shape is known."""
        if isinstance(layer, SymbolicTensor) and isinstance(layer.layer, InputLayer):
            layer = layer.layer
        if isinstance(layer, InputLayer):
            if self._layers or self._input_layer is not None:
                raise ValueError("an Input can only be the first element of a Sequential model")
            self._input_layer = layer
            self._input_shape = layer.shape
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add takes a Layer (e.g. LSTM, Dense); got {type(layer).__name__}")
        if any(layer is other for other in self._layers):
            raise ValueError(f"layer {layer.name!r} is already in the model")
        if not self._layers and self._input_shape is None and layer.input_shape is not None:
            self._input_shape = layer.input_shape
        self._layers.append(layer)
        self._graph = None
        if self._input_shape is not None:
            try:
                self._build(self._input_shape)
            except Exception:
                self._layers.pop()
                self._graph = None
                raise

    def pop(self):
        """Remove the last layer."""
        if not self._layers:
            raise ValueError("there is no layer to pop")
        self._layers.pop()
        self._graph = None
        self.built = bool(self._layers) and self.built

    def _build(self, sample_shape):
        fixed = self._input_layer.batch_size if self._input_layer is not None else None
        for layer in self._layers:  # Input(batch_shape=...) fixes the batch of stateful layers
            if fixed is not None and getattr(layer, "stateful", False) and layer.batch_size is None:
                layer.batch_size = fixed
        shape = self.graph.build([tuple(sample_shape)])[0] if self._layers else tuple(sample_shape)
        self._input_shape = tuple(sample_shape)
        self.built = bool(self._layers)
        return shape

    def build(self, input_shape=None):
        """Create every layer's weights for inputs of ``input_shape`` (batch axis included, as Keras).

        Parameters
        ----------
        input_shape : tuple, optional
            For example ``(None, 10, 1)``; by default the shape the model was declared with.
        """
        if input_shape is None:
            if self._input_shape is None:
                raise ValueError("build needs an input_shape, e.g. model.build((None, steps, features))")
            sample = self._input_shape
        else:
            try:
                sample = tuple(input_shape)[1:]
            except TypeError:
                raise TypeError(f"input_shape must be a tuple; got {input_shape!r}") from None
            if not sample:
                raise ValueError(f"input_shape must include the batch axis, e.g. (None, 10, 1); got {input_shape!r}")
        if not self._layers:
            raise ValueError("the model has no layers to build")
        self._build(sample)

    def get_build_config(self):
        """``{'input_shape': [None, *sample_shape]}`` once built (Keras 3's name), else None."""
        if not self.built:
            return None
        return {"input_shape": [None, *self._input_shape]}

    def build_from_config(self, config):
        """Build from :meth:`get_build_config`'s output."""
        self.build(tuple(config["input_shape"]))

    def compute_output_shape(self, sample_shape):
        """Shape of one output sample for one input sample of ``sample_shape`` (no batch axis)."""
        shape = tuple(sample_shape)
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def _layer_output_shapes(self):
        if not self.built or self._input_shape is None:
            return [None] * len(self._layers)
        shape, out = self._input_shape, []
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
            out.append([shape])
        return out

    @property
    def output_names(self):
        """The name of the model's one output: its last layer's."""
        return [self._layers[-1].name] if self._layers else ["output"]

    def _input_specs(self):
        """``[(sample shape or None, first layer, name)]`` for the model's one input."""
        name = self._input_layer.name if self._input_layer is not None else "input"
        return [(self._input_shape, self._layers[0], name)]

    def _output_layers(self):
        return [self._layers[-1]]

    def _ensure_built(self, xs):
        if not self.built:
            shape = list(xs[0].shape[1:])
            if self._layers[0].input_ndim == 2 and len(shape) == 2:
                shape[0] = None  # recurrent models take any number of steps
            self._build(tuple(shape))

    def _unbuild(self):
        for layer in self._layers:
            layer.unbuild()
        self.built = False
        self._input_shape = self._input_layer.shape if self._input_layer is not None else (
            self._layers[0].input_shape if self._layers else None
        )

    # -- config and saving ---------------------------------------------------
    def get_config(self):
        """The model's architecture as a JSON-friendly dict."""
        layers = [serialize_layer(self._input_layer)] if self._input_layer is not None else []
        return {"name": self.name, "layers": layers + [serialize_layer(layer) for layer in self._layers]}

    @classmethod
    def from_config(cls, config):
        """Create an unbuilt model from :meth:`get_config`'s output."""
        return cls([deserialize(spec) for spec in config["layers"]], name=config.get("name"))
