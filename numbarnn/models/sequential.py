"""Sequential: a stack of layers (a chain of graph nodes) with its weights, configuration and summary.

Training and inference (compile, fit, evaluate, predict) come from
:class:`~numbarnn.models.trainer.Trainer`; the layers run through a
:class:`~numbarnn.models.graph.LayerGraph`, of which a Sequential is a chain.
"""

from ..formats import archive
from ..layers import InputLayer, Layer, deserialize
from ..layers import serialize as serialize_layer
from ..layers.base import checked_weights, unique_name
from .graph import LayerGraph
from .trainer import Trainer

__all__ = ["Sequential"]

class Sequential(Trainer):
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
    def input_shape(self):
        """The input's shape with the batch axis, ``(None, steps, features)``, or None while unknown."""
        return None if self._input_shape is None else (None, *self._input_shape)

    def add(self, layer):
        """Append a layer (or, first, an ``Input``); builds it when the input shape is known."""
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
        shape = self.graph.build(tuple(sample_shape)) if self._layers else tuple(sample_shape)
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

    def _ensure_built(self, x):
        if not self.built:
            shape = list(x.shape[1:])
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

    def _require_built(self, what):
        if not self.built:
            raise ValueError(
                f"the model is not built yet, so {what} cannot run: give the first layer input_shape=, "
                f"start with an Input, call build, or fit the model first"
            )

    # -- weights -------------------------------------------------------------
    @property
    def weights(self):
        """All weight arrays (live), layer by layer, in Keras's order."""
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self):
        """The weight arrays ``fit`` updates (live), in the order of :attr:`weights`."""
        return [w for layer in self._layers for w in layer.trainable_weights]

    def get_weights(self):
        """Copies of every layer's weights, in Keras's order.

        Returns
        -------
        list of ndarray
        """
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Set every layer's weights from a list in Keras's order; checks all shapes before changing any."""
        self._require_built("set_weights")
        current = self.weights
        names = [f"{layer.name}/{n}" for layer in self._layers for n in layer.weight_names]
        for w, arr in zip(current, checked_weights(f"model {self.name!r}", names, current, weights)):
            w[...] = arr

    def count_params(self):
        """Total number of weight values."""
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self._layers)

    # -- description ---------------------------------------------------------
    def summary(self, print_fn=None):
        """Print the layers, their output shapes and parameter counts, and the totals.

        Parameters
        ----------
        print_fn : callable, optional
            Called with each line; ``print`` by default.
        """
        print_fn = print_fn or print
        widths = (33, 26, 12)
        rule = "_" * sum(widths)
        print_fn(f'Model: "{self.name}"')
        print_fn(rule)
        print_fn("".join(h.ljust(w) for h, w in zip(("Layer (type)", "Output Shape", "Param #"), widths)))
        print_fn("=" * sum(widths))
        shape = self._input_shape
        total = trainable = 0
        for layer in self._layers:
            if self.built and shape is not None:
                shape = layer.compute_output_shape(shape)
                out = "(None, " + ", ".join("None" if s is None else str(s) for s in shape) + ")"
                n = layer.count_params()
                params = f"{n:,}"
            else:
                out, n, params = "?", 0, "0 (unbuilt)"
            total += n
            trainable += n if layer.trainable else 0
            print_fn("".join(c.ljust(w) for c, w in zip((f"{layer.name} ({type(layer).__name__})", out, params), widths)))
        print_fn("=" * sum(widths))
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {total - trainable:,}")
        print_fn(rule)

    # -- config and saving ---------------------------------------------------
    def get_config(self):
        """The model's architecture as a JSON-friendly dict."""
        layers = [serialize_layer(self._input_layer)] if self._input_layer is not None else []
        return {"name": self.name, "layers": layers + [serialize_layer(layer) for layer in self._layers]}

    @classmethod
    def from_config(cls, config):
        """Create an unbuilt model from :meth:`get_config`'s output."""
        return cls([deserialize(spec) for spec in config["layers"]], name=config.get("name"))

    def save(self, filepath):
        """Save architecture, weights and optimizer state to one file (a zip of arrays and JSON; no pickle).

        Load it with :func:`numbarnn.load_model`.
        """
        self._require_built("save")
        optimizer_variables = self.optimizer.variables() if self.compiled and self.optimizer.built else []
        archive.write_model(filepath, archive.ModelFile(
            model_config=self.get_config(),
            input_shape=self._input_shape,
            compile_config=self.get_compile_config(),
            weights=self.weights,
            optimizer_variables=optimizer_variables,
        ))  # fmt: skip

    def save_weights(self, filepath):
        """Save only the weights (a zip of arrays); load them with :meth:`load_weights`."""
        self._require_built("save_weights")
        archive.write_weights(filepath, self.weights)

    def load_weights(self, filepath):
        """Load weights saved by :meth:`save_weights` or :meth:`save` into this (built) model."""
        self._require_built("load_weights")
        self.set_weights(archive.read_weights(filepath))
