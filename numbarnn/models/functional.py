"""The functional Model: layers called on ``Input`` tensors, then ``Model(inputs, outputs)``.

The model walks the recorded layer calls back from its outputs (in Keras 3's
order: a depth-first walk from each output, then the layers sorted by their
distance from the outputs, farthest first, ties in the order the walk met
them) and turns them into a :class:`~numbarnn.models.graph.LayerGraph`. Layers
keep their weights: a model made from the tensors of another (an encoder from
an autoencoder, a seq2seq's inference models) shares them.
"""

from ..layers import InputLayer, deserialize
from ..layers import serialize as serialize_layer
from ..layers.base import unique_name
from ..layers.symbolic import SymbolicTensor, flatten
from .base import BaseModel
from .graph import MODEL_INPUT, LayerGraph, Node

__all__ = ["Model"]


def _trace(outputs):
    """Calls in topological order (inputs first), and each layer's first-visit index (Keras's walk)."""
    finished, in_progress, ordered, layer_index = set(), set(), [], {}

    def visit(tensor):
        call = tensor.call
        if id(call) in finished:
            return
        if id(call) in in_progress:
            raise ValueError(f"the graph has a cycle at layer {call.layer.name!r}")
        if id(call.layer) not in layer_index:
            layer_index[id(call.layer)] = len(layer_index)
        in_progress.add(id(call))
        for t in call.inputs:
            visit(t)
        in_progress.discard(id(call))
        finished.add(id(call))
        ordered.append(call)

    for t in outputs:
        visit(t)
    return ordered, layer_index


def _keras_layer_order(calls, layer_index, inputs):
    """``model.layers`` as Keras orders them: by depth from the outputs, farthest first."""
    depth = {}
    layer_depth = {}
    for call in reversed(calls):
        d = max(depth.setdefault(id(call), 0), layer_depth.get(id(call.layer), 0))
        layer_depth[id(call.layer)] = d
        depth[id(call)] = d
        for t in call.inputs:
            depth[id(t.call)] = max(d + 1, depth.get(id(t.call), 0))
    layers = {id(c.layer): c.layer for c in calls}
    for t in inputs:  # inputs no output depends on
        if id(t.layer) not in layer_depth:
            layer_depth[id(t.layer)], layer_index[id(t.layer)], layers[id(t.layer)] = 0, -1, t.layer
    return sorted(layers.values(), key=lambda layer: (-layer_depth[id(layer)], layer_index[id(layer)]))


class Model(BaseModel):
    """A model made of layers called on ``Input`` tensors, as Keras's functional ``Model``.

    Parameters
    ----------
    inputs : SymbolicTensor, or a list or dict of them
        Tensors made by :func:`numbarnn.Input`.
    outputs : SymbolicTensor, or a list or dict of them
        Tensors made by calling layers on the inputs (or on tensors made from them).
    name : str, optional

    Attributes
    ----------
    inputs, outputs : list of SymbolicTensor
    input, output : SymbolicTensor or list
        One tensor for a model with one input (output), else the list.
    layers : list of Layer
        The ``InputLayer`` s and layers, in the order Keras gives for the same graph.
    input_names, output_names : list of str
        The names of the input layers and of the layers producing the outputs; fit, evaluate
        and predict take dicts keyed by them.
    graph : LayerGraph

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn import Input, LSTM, Dense, Model
    >>> from numbarnn.layers import concatenate
    >>> a, b = Input(shape=(5, 2), name="a"), Input(shape=(3,), name="b")
    >>> h = concatenate([LSTM(4)(a), Dense(4)(b)])
    >>> model = Model([a, b], Dense(1, name="out")(h))
    >>> [layer.name for layer in model.layers][:2]
    ['a', 'b']
    >>> model.predict([np.zeros((2, 5, 2)), np.zeros((2, 3))], verbose=0).shape
    (2, 1)
    """

    file_class = "Functional"

    def __init__(self, inputs=None, outputs=None, name=None):
        if inputs is None or outputs is None:
            raise TypeError(
                "Model needs inputs and outputs, as Model(inputs, outputs) with tensors from Input(...); "
                "subclassing Model with a call method is not supported (write a Layer subclass instead)"
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string; got {type(name).__name__}")
        self.name = name or unique_name("functional")
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self.inputs = self._tensors(inputs, "inputs")
        self.outputs = self._tensors(outputs, "outputs")
        for t in self.inputs:
            if not isinstance(t.layer, InputLayer):
                raise ValueError(f"model inputs must come from Input(...); {t.name} is the output of {t.layer.name!r}")
        calls, layer_index = _trace(self.outputs)
        self._calls = [c for c in calls if not c.is_input]
        self._layers = _keras_layer_order(calls, layer_index, self.inputs)
        self._graph = self._make_graph()
        self.built = True
        self._init_trainer()

    @staticmethod
    def _tensors(value, what):
        tensors = flatten(value)
        bad = [t for t in tensors if not isinstance(t, SymbolicTensor)]
        if bad or not tensors:
            raise TypeError(
                f"Model {what} must be symbolic tensors (from Input(...) or a layer called on one); "
                f"got {type(bad[0]).__name__ if bad else 'nothing'}"
            )
        return tensors

    def _make_graph(self):
        position = {id(c): i for i, c in enumerate(self._calls)}
        inputs = {id(t): i for i, t in enumerate(self.inputs)}

        def port(t):
            if id(t) in inputs:
                return (MODEL_INPUT, inputs[id(t)])
            if id(t.call) not in position:
                raise ValueError(
                    f"graph disconnected: {t.name} comes from Input {t.layer.name!r}, which is not among the "
                    f"model's inputs {[i.name for i in self.inputs]}"
                )
            return (position[id(t.call)], t.index)

        nodes = [Node(c.layer, [port(t) for t in c.inputs], len(c.outputs)) for c in self._calls]
        return LayerGraph(nodes, n_inputs=len(self.inputs), outputs=[port(t) for t in self.outputs])

    # -- structure -----------------------------------------------------------
    @property
    def layers(self):
        """The input layers and layers, in Keras's order."""
        return list(self._layers)

    @property
    def graph(self):
        return self._graph

    @property
    def input(self):
        return self.inputs[0] if len(self.inputs) == 1 else list(self.inputs)

    @property
    def output(self):
        return self.outputs[0] if len(self.outputs) == 1 else list(self.outputs)

    @property
    def input_names(self):
        return [t.layer.name for t in self.inputs]

    @property
    def output_names(self):
        if isinstance(self._outputs_struct, dict):
            return list(self._outputs_struct)
        names, seen = [], {}
        for t in self.outputs:
            base = t.layer.name
            seen[base] = seen.get(base, -1) + 1
            names.append(base if seen[base] == 0 else f"{base}_{seen[base]}")
        return names

    @property
    def input_shape(self):
        shapes = [t.shape for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        shapes = [t.shape for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def _input_specs(self):
        consumers = {}
        for node in self._graph.nodes:
            for src, idx in node.inbound:
                if src == MODEL_INPUT:
                    consumers.setdefault(idx, node.layer)
        names = list(self._inputs_struct) if isinstance(self._inputs_struct, dict) else self.input_names
        return [(t.layer.shape, consumers.get(i, t.layer), names[i]) for i, t in enumerate(self.inputs)]

    def _output_layers(self):
        return [t.layer for t in self.outputs]

    def _ensure_built(self, xs):
        pass  # a functional model's layers are built when they are called on its tensors

    def _unbuild(self):
        pass

    def build(self, input_shape=None):
        """Nothing to do: a functional model is built when it is made (Keras's API)."""

    def get_build_config(self):
        return {"input_shape": [list(t.shape) for t in self.inputs]}

    def build_from_config(self, config):
        """Nothing to do: the graph in the config builds every layer."""

    def compute_output_shape(self, sample_shape):
        return self._graph.output_shapes([tuple(sample_shape)])[0]

    def _layer_output_shapes(self):
        out = []
        for layer in self._layers:
            calls = [c for c in getattr(layer, "_calls", []) if c in self._calls] if not isinstance(
                layer, InputLayer) else layer._calls  # fmt: skip
            out.append([o.shape[1:] for o in calls[0].outputs] if calls else None)
        return out

    # -- config --------------------------------------------------------------
    def _call_index(self):
        """Each call of the model, as (layer name, node index among the model's calls of that layer)."""
        counts, index = {}, {}
        for call in [t.call for t in self.inputs] + self._calls:
            if id(call) in index:
                continue
            n = counts.get(id(call.layer), 0)
            counts[id(call.layer)] = n + 1
            index[id(call)] = (call.layer.name, n)
        return index

    def get_config(self):
        """The graph as a JSON-friendly dict: each layer with the calls it makes, inputs and outputs."""
        index = self._call_index()

        def ref(t):
            name, n = index[id(t.call)]
            return [name, n, t.index]

        layers = []
        for layer in self._layers:
            calls = [c for c in self._calls if c.layer is layer]
            layers.append({
                **serialize_layer(layer),
                "name": layer.name,
                "inbound_nodes": [{"inputs": [ref(t) for t in c.inputs], "n_main": c.n_main,
                                   "list": not c.single_input} for c in calls],
            })  # fmt: skip

        def struct(value, convert):
            if isinstance(value, dict):
                return {k: convert(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return [convert(v) for v in value]
            return convert(value)

        return {"name": self.name, "layers": layers, "input_layers": struct(self._inputs_struct, ref),
                "output_layers": struct(self._outputs_struct, ref)}  # fmt: skip

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Make the model (with new weights) from :meth:`get_config`'s output, calling each layer again."""
        created, produced = {}, {}
        pending = []
        for spec in config["layers"]:
            layer = deserialize({"class_name": spec["class_name"], "config": spec["config"]})
            created[spec["name"]] = layer
            if isinstance(layer, InputLayer):
                produced[(spec["name"], 0)] = [layer.output]
            pending.extend((spec["name"], n, node) for n, node in enumerate(spec.get("inbound_nodes", [])))

        def tensor(ref):
            return produced[(ref[0], ref[1])][ref[2]]

        while pending:
            progress = False
            for item in list(pending):
                name, n, node = item
                refs = node["inputs"]
                if not all((r[0], r[1]) in produced for r in refs):
                    continue
                ins = [tensor(r) for r in refs]
                main, states = ins[: node["n_main"]], ins[node["n_main"] :]
                x = main if node["list"] else main[0]
                out = created[name](x, initial_state=states) if states else created[name](x)
                produced[(name, n)] = out if isinstance(out, list) else [out]
                pending.remove(item)
                progress = True
            if not progress:
                raise ValueError(f"the model config's graph cannot be rebuilt: layers {sorted({p[0] for p in pending})} "
                                 "read tensors no layer makes")  # fmt: skip

        def struct(value):
            if isinstance(value, dict):
                return {k: tensor(v) for k, v in value.items()}
            if value and isinstance(value[0], list):
                return [tensor(v) for v in value]
            return tensor(value)

        return cls(struct(config["input_layers"]), struct(config["output_layers"]), name=config.get("name"))
