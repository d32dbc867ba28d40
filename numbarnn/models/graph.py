"""A model's layers and their connections: nodes in call order, run forwards and backwards.

A :class:`Node` is one call of a layer on the output of another node (or on the
model's input); a :class:`LayerGraph` holds the nodes in an order where every
node comes after the nodes it reads. A ``Sequential`` is a chain of nodes; the
same graph runs a model whose layers branch (one output read by several
layers: their gradients add up) or share a layer (one layer called twice: its
weight gradients add up).

Training runs :meth:`LayerGraph.forward`, which keeps every node's cache, then
:meth:`LayerGraph.backward`, which returns one gradient per trainable weight in
the order of :attr:`LayerGraph.layers`.
"""

import numpy as np

__all__ = ["Node", "LayerGraph", "MODEL_INPUT"]

#: The ``inbound`` of a node that reads the model's input.
MODEL_INPUT = -1


class Node:
    """One call of ``layer`` on the output of node ``inbound`` (or :data:`MODEL_INPUT`)."""

    __slots__ = ("layer", "inbound")

    def __init__(self, layer, inbound):
        self.layer = layer
        self.inbound = inbound

    def __repr__(self):
        return f"Node({self.layer.name!r}, inbound={self.inbound})"


class LayerGraph:
    """Nodes in call order with one output node.

    Parameters
    ----------
    nodes : list of Node
        Each node's ``inbound`` is an earlier node's index or :data:`MODEL_INPUT`.
    output : int, optional
        Index of the node whose output is the model's; the last node by default.
    """

    def __init__(self, nodes, output=None):
        for i, node in enumerate(nodes):
            if not (node.inbound == MODEL_INPUT or 0 <= node.inbound < i):
                raise ValueError(f"node {i} ({node.layer.name!r}) reads node {node.inbound}, which does not come before it")
        self.nodes = list(nodes)
        self.output = len(self.nodes) - 1 if output is None else output

    @classmethod
    def chain(cls, layers):
        """The graph of a stack: each layer reads the one before it."""
        return cls([Node(layer, i - 1 if i else MODEL_INPUT) for i, layer in enumerate(layers)])

    @property
    def layers(self):
        """Each distinct layer once, in the order of its first call."""
        seen, out = set(), []
        for node in self.nodes:
            if id(node.layer) not in seen:
                seen.add(id(node.layer))
                out.append(node.layer)
        return out

    def output_shapes(self, sample_shape):
        """Each node's output sample shape for an input sample of ``sample_shape``."""
        shapes = []
        for node in self.nodes:
            shapes.append(node.layer.compute_output_shape(self._input_of(node, shapes, sample_shape)))
        return shapes

    def build(self, sample_shape):
        """Build every layer for inputs of ``sample_shape`` (one sample, no batch axis); returns the output shape."""
        shapes = []
        for node in self.nodes:
            layer, shape = node.layer, self._input_of(node, shapes, sample_shape)
            layer.check_input_shape(shape)
            if not layer.built:
                layer.build(shape)
            elif layer.built_input_shape[-1] != shape[-1] or len(layer.built_input_shape) != len(shape):
                raise ValueError(
                    f"layer {layer.name!r} was built for inputs of shape {layer.built_input_shape}; "
                    f"here it would get {shape}"
                )
            shapes.append(layer.compute_output_shape(shape))
        return shapes[self.output]

    @staticmethod
    def _input_of(node, values, model_input):
        return model_input if node.inbound == MODEL_INPUT else values[node.inbound]

    def forward(self, x, mask, training, rng):
        """Run every node on a batch; returns ``(output, output_mask, caches)``."""
        outs, masks, caches = [], [], []
        for node in self.nodes:
            h = self._input_of(node, outs, x)
            m = self._input_of(node, masks, mask)
            h, m, cache = node.layer.forward(h, m, training, rng)
            outs.append(h)
            masks.append(m)
            caches.append(cache)
        return outs[self.output], masks[self.output], caches

    def backward(self, caches, d_output):
        """Backpropagate ``d_output`` through the nodes.

        Returns
        -------
        list of ndarray
            One gradient per trainable weight of :attr:`layers`, in order, regularizer
            gradients included (zeros for a weight no gradient reached).
        """
        pending = {self.output: d_output}
        layer_grads = {}
        for i in range(len(self.nodes) - 1, -1, -1):
            if i not in pending:
                continue
            node = self.nodes[i]
            dx, grads = node.layer.backward(caches[i], pending.pop(i))
            if node.layer.trainable and grads:
                key = id(node.layer)
                if key in layer_grads:
                    layer_grads[key] = [a + b for a, b in zip(layer_grads[key], grads)]
                else:
                    layer_grads[key] = list(grads)
            if dx is not None and node.inbound != MODEL_INPUT:
                j = node.inbound
                pending[j] = dx if j not in pending else pending[j] + dx
        out = []
        for layer in self.layers:
            weights = layer.trainable_weights
            if not weights:
                continue
            grads = layer_grads.get(id(layer))
            if grads is None:
                grads = [np.zeros_like(w) for w in weights]
            out.extend(layer.add_regularization_gradients(grads))
        return out

    def regularization_penalty(self):
        """The sum of every layer's weight penalties."""
        return sum(layer.regularization_penalty() for layer in self.layers)
