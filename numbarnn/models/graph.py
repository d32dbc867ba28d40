"""A model's layers and their connections: nodes in call order, run forwards and backwards.

A :class:`Node` is one call of a layer; it reads values that are either model
inputs or earlier nodes' outputs (a *port* ``(source, index)``: ``source`` is a
node's position, or :data:`MODEL_INPUT` with ``index`` the input's position),
and produces one value per output. A :class:`LayerGraph` holds the nodes in an
order where every node comes after the nodes it reads, and names its output
ports. A ``Sequential`` is a chain; a functional ``Model`` is any such graph:
values read by several nodes (their gradients add up), layers with several
inputs (merges, a recurrent layer given initial states) or outputs
(``return_state``), and shared layers (one layer called twice: its weight
gradients add up).

Training runs :meth:`LayerGraph.forward`, which keeps every node's cache, then
:meth:`LayerGraph.backward`, which returns one gradient per trainable weight in
the order of :attr:`LayerGraph.layers`.
"""

import numpy as np

__all__ = ["Node", "LayerGraph", "MODEL_INPUT"]

#: The ``source`` of a port that is a model input.
MODEL_INPUT = -1


class Node:
    """One call of ``layer`` on the values at ``inbound`` (a list of ports), with ``n_outputs`` outputs."""

    __slots__ = ("layer", "inbound", "n_outputs")

    def __init__(self, layer, inbound, n_outputs=1):
        self.layer = layer
        self.inbound = list(inbound)
        self.n_outputs = n_outputs

    def __repr__(self):
        return f"Node({self.layer.name!r}, inbound={self.inbound}, n_outputs={self.n_outputs})"


class LayerGraph:
    """Nodes in call order, with the model's inputs and output ports.

    Parameters
    ----------
    nodes : list of Node
        Each inbound port is a model input or an output of an earlier node.
    n_inputs : int, default=1
    outputs : list of (int, int), optional
        The model's output ports; by default the last node's first output.
    """

    # Any layer may call BLAS, so a prediction holds it to one thread (see PlannedChain.blas_free_inference).
    blas_free_inference = False

    def __init__(self, nodes, n_inputs=1, outputs=None):
        self.nodes = list(nodes)
        self.n_inputs = n_inputs
        self.outputs = [(len(self.nodes) - 1, 0)] if outputs is None else [tuple(p) for p in outputs]
        for i, node in enumerate(self.nodes):
            for port in node.inbound:
                self._check_port(port, i, node.layer.name)
        for port in self.outputs:
            self._check_port(port, len(self.nodes), "the model output")
        seen, self._layers = set(), []
        for node in self.nodes:
            if id(node.layer) not in seen:
                seen.add(id(node.layer))
                self._layers.append(node.layer)

    def _check_port(self, port, before, what):
        src, idx = port
        ok = 0 <= idx < self.n_inputs if src == MODEL_INPUT else (0 <= src < before and idx < self.nodes[src].n_outputs)
        if not ok:
            raise ValueError(f"{what} reads {port}, which is not a model input or an earlier node's output")

    @classmethod
    def chain(cls, layers):
        """The graph of a stack: each layer reads the one before it."""
        return cls([Node(layer, [(i - 1, 0) if i else (MODEL_INPUT, 0)]) for i, layer in enumerate(layers)])

    def chain_layers(self):
        """The layers in call order if the graph is a chain (one input, one output, each node reading the
        one before with a single input), else None."""
        if self.n_inputs != 1 or self.outputs != [(len(self.nodes) - 1, 0)]:
            return None
        layers = []
        for i, node in enumerate(self.nodes):
            if node.inbound != [((i - 1) if i else MODEL_INPUT, 0)]:
                return None
            layers.append(node.layer)
        return layers

    @property
    def layers(self):
        """Each distinct layer once, in the order of its first call."""
        return list(self._layers)

    def _read(self, port, values, inputs):
        src, idx = port
        return inputs[idx] if src == MODEL_INPUT else values[src][idx]

    def output_shapes(self, sample_shapes):
        """The sample shape of each model output for input samples of ``sample_shapes`` (a list)."""
        shapes = []
        for node in self.nodes:
            shapes.append(node.layer.compute_output_shapes([self._read(p, shapes, sample_shapes) for p in node.inbound]))
        return [self._read(p, shapes, sample_shapes) for p in self.outputs]

    def build(self, sample_shapes):
        """Build every layer for input samples of ``sample_shapes`` (a list); returns the output sample shapes."""
        shapes = []
        for node in self.nodes:
            ins = [self._read(p, shapes, sample_shapes) for p in node.inbound]
            n_main = len(ins) if node.layer.takes_list else 1
            node.layer.build_for(ins[:n_main])
            shapes.append(node.layer.compute_output_shapes(ins))
        return [self._read(p, shapes, sample_shapes) for p in self.outputs]

    def forward(self, inputs, masks, training, rng):
        """Run every node on a batch (lists of input arrays and masks).

        Returns
        -------
        outputs, output_masks : list
            One per model output.
        caches : list
            One per node, for :meth:`backward`.
        """
        values, value_masks, caches = [], [], []
        for node in self.nodes:
            if len(node.inbound) == 1:  # most nodes: one input
                src, idx = node.inbound[0]
                xs = [inputs[idx] if src == MODEL_INPUT else values[src][idx]]
                ms = [masks[idx] if src == MODEL_INPUT else value_masks[src][idx]]
            else:
                xs = [self._read(p, values, inputs) for p in node.inbound]
                ms = [self._read(p, value_masks, masks) for p in node.inbound]
            ys, ym, cache = node.layer.forward_many(xs, ms, training, rng)
            values.append(ys)
            value_masks.append(ym)
            caches.append(cache)
        outs = [self._read(p, values, inputs) for p in self.outputs]
        out_masks = [self._read(p, value_masks, masks) for p in self.outputs]
        return outs, out_masks, caches

    def backward(self, caches, d_outputs, layers=None):
        """Backpropagate one gradient per model output (None: that output has no loss).

        Parameters
        ----------
        caches : list
            From :meth:`forward`.
        d_outputs : list of ndarray or None
        layers : list of Layer, optional
            The order of the returned gradients; :attr:`layers` by default.

        Returns
        -------
        list of ndarray
            One gradient per trainable weight of ``layers``, in order, regularizer
            gradients included (zeros for a weight no gradient reached).
        """
        pending = {}
        for port, d in zip(self.outputs, d_outputs):
            self._accumulate(pending, port, d)
        layer_grads = {}
        for i in range(len(self.nodes) - 1, -1, -1):
            node = self.nodes[i]
            ds = [pending.pop((i, k), None) for k in range(node.n_outputs)]
            if all(d is None for d in ds):
                continue
            d_inputs, grads = node.layer.backward_many(caches[i], ds)
            if node.layer.trainable and grads:
                key = id(node.layer)
                if key in layer_grads:
                    layer_grads[key] = [a + b for a, b in zip(layer_grads[key], grads)]
                else:
                    layer_grads[key] = list(grads)
            for port, d in zip(node.inbound, d_inputs):
                if port[0] != MODEL_INPUT:
                    self._accumulate(pending, port, d)
        return self.ordered_gradients(layer_grads, layers)

    def ordered_gradients(self, layer_grads, layers=None):
        """One gradient per trainable weight of ``layers`` (:attr:`layers` by default), in order.

        ``layer_grads`` maps ``id(layer)`` to that layer's weight gradients; a layer no
        gradient reached gets zeros. Each layer's regularizer gradients are added.
        """
        out = []
        for layer in self._layers if layers is None else layers:
            grads = layer_grads.get(id(layer))
            if grads is None:  # a layer no gradient reached (or one without trainable weights)
                grads = [np.zeros_like(w) for w in layer.trainable_weights]
                if not grads:
                    continue
            out.extend(layer.add_regularization_gradients(grads))
        return out

    @staticmethod
    def _accumulate(pending, port, d):
        if d is None:
            return
        pending[port] = d if port not in pending else pending[port] + d

    def regularization_penalty(self):
        """The sum of every layer's weight penalties."""
        return sum(layer.regularization_penalty() for layer in self._layers)
