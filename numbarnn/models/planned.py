"""A chain model's batches on plans made once: the recurrent layers checked and laid out once per fit.

The layer-by-layer path (:meth:`LayerGraph.forward` and ``backward``) goes
through each recurrent layer's public engine call, which checks the weights
(shapes, dtypes, a finite scan of every array), lays them out, allocates the
buffers of the pass and, going back, checks the gradients and computes the
input gradient of every layer. :class:`PlannedChain` runs the same compiled
kernels in the same order on the same numbers, so its results are identical
bit for bit, and leaves out:

- the per-call checks of the weights: each recurrent layer's
  :class:`~numbarnn.engine.plan.WeightPlan` is made once and, before each batch,
  only refreshed (the derived layouts and split biases, from the live arrays the
  optimizer updates in place); it is made again if a weight array is replaced;
- the allocation of the forward buffers, kept for the batch shape while ``fit``
  runs (and between calls of ``train_on_batch``), dropped when ``fit`` ends;
- the input gradient of the first layer, which nothing reads.

The inputs and the gradients reaching a recurrent layer are checked as on
the layer-by-layer path (a non-finite value raises the same error).

It runs a model whose layers form a chain (one input, one output, each layer
reading the one before through a single input and output): the recurrent
layers (``LSTM``, ``GRU``, ``SimpleRNN``; not ``stateful``) on their plans,
every other layer (``Dense``, ``Dropout``, ``Masking``, ``Embedding``,
``Bidirectional``, ``TimeDistributed``, custom layers...) through its own code,
as the graph runs it. Other models keep the layer-by-layer path.
"""

import numpy as np

from .._validation import as_float_array
from ..engine.api import backward_of, outputs_of
from ..engine.plan import plan_batch, plan_weights
from ..layers.core import Dense
from ..layers.recurrent import GRU, LSTM, SimpleRNN

__all__ = ["PlannedChain"]


class _LayerStep:
    """A layer run through its own code, as the graph runs it (one input, one output)."""

    __slots__ = ("layer",)

    def __init__(self, layer):
        self.layer = layer

    def forward(self, x, mask, training, rng):
        ys, ms, cache = self.layer.forward_many([x], [mask], training, rng)
        return ys[0], ms[0], cache

    def backward(self, cache, dy, need_dx):
        d_inputs, grads = self.layer.backward_many(cache, [dy])
        return d_inputs[0], grads


class _RecurrentStep:
    """A recurrent layer on a weight plan made once, with its training buffers kept for one batch shape."""

    __slots__ = ("layer", "_plan", "_arrays", "_buffers")

    def __init__(self, layer):
        self.layer = layer
        self._plan = None
        self._arrays = None
        self._buffers = None  # (batch shape, ForwardBuffers) of the last training batch

    def weights(self):
        """The layer's :class:`WeightPlan`, checked on first use and refreshed from the live arrays after."""
        layer = self.layer
        bias = layer.bias if layer.use_bias else None
        arrays = (layer.kernel, layer.recurrent_kernel, bias)
        p = self._plan
        if p is None or any(a is not b for a, b in zip(arrays, self._arrays)):
            p = plan_weights(
                layer.kernel, layer.recurrent_kernel, bias, cell=layer.cell, activation=layer.activation,
                recurrent_activation=layer.recurrent_activation, reset_after=getattr(layer, "reset_after", True),
                dtype=layer.dtype,
            )  # fmt: skip
            if p.kernel is not layer.kernel or p.recurrent_kernel is not layer.recurrent_kernel:
                return p  # converted copies: a fresh plan every batch (the layer-by-layer path's cost)
            self._plan, self._arrays = p, arrays
            return p
        a = p.adaptor
        p.bias_in, p.bias_rec = a.split_bias(bias, p.units, p.dtype)
        p.layout = a.layout(p.kernel, p.recurrent_kernel)
        return p

    def _forward_buffers(self, p, training):
        """Training keeps the buffers of one batch shape (``fit`` runs in one thread at a time, and the
        backward pass has read a batch's buffers before the next batch writes them; a shorter last batch
        replaces them, so no more is held than one step needs); prediction, which may run in several
        threads at once, allocates its own."""
        if not training:
            return p.adaptor.forward_buffers(p, False)
        key = (p.n_steps, p.n_batch, p.return_sequences)
        if self._buffers is None or self._buffers[0] != key:
            self._buffers = None  # freed before the new ones are allocated
            self._buffers = (key, p.adaptor.forward_buffers(p, True))
        return self._buffers[1]

    def release(self):
        """Drop the kept training buffers."""
        self._buffers = None

    def forward(self, x, mask, training, rng):
        layer = self.layer
        x = np.ascontiguousarray(x, dtype=layer.dtype)  # checked (3-D, finite) by plan_batch, as on the layer path
        if mask is not None and mask.all():
            mask = None
        dmask, rmask = layer.draw_dropout_masks(rng, x.shape[0], x.shape[2]) if training else (None, None)
        p = plan_batch(self.weights(), x, None, mask, dmask, rmask, reverse=layer.go_backwards,
                       return_sequences=layer.return_sequences,
                       zero_output_for_mask=layer.zero_output_for_mask)  # fmt: skip
        buf = self._forward_buffers(p, training)
        p.adaptor.forward(p, buf)
        out, _ = outputs_of(p, buf)
        out_mask = mask if layer.return_sequences else None
        if layer.go_backwards and layer.return_sequences:
            out = np.ascontiguousarray(out[:, ::-1])
            out_mask = None if mask is None else np.ascontiguousarray(mask[:, ::-1])
        return out, out_mask, ((p, buf) if training else None)

    def backward(self, cache, dy, need_dx):
        layer = self.layer
        p, buf = cache
        B, H, dt = p.n_batch, p.units, p.dtype
        d_last = [np.zeros((B, H), dt) for _ in range(p.adaptor.n_states)]
        dhs = np.zeros((0, 0, 0), dt)
        if dy is not None:
            shape = (B, p.n_steps, H) if p.return_sequences else (B, H)
            dy = as_float_array(dy, "d_outputs", dt, shape=shape)  # a non-finite gradient stops here, as before
            if p.return_sequences:
                if layer.go_backwards:  # the outputs were flipped back to the input's order
                    dy = dy[:, ::-1]
                seq = dy.transpose(1, 0, 2)
                dhs = np.ascontiguousarray(seq[::-1] if p.reverse else seq)
            else:
                d_last[0] += dy
        g = backward_of(p, buf, dhs, d_last, need_dx)
        return g.x, [g.kernel, g.recurrent_kernel] + ([g.bias] if layer.use_bias else [])


def _plannable(layer):
    """The built-in recurrent layers (not a subclass, which may change how they run), not stateful."""
    return type(layer) in (LSTM, GRU, SimpleRNN) and not layer.stateful and not layer.return_state


class PlannedChain:
    """A chain model's forward and backward passes on kept plans (internal; see the module docstring).

    Mirrors :meth:`LayerGraph.forward` and :meth:`LayerGraph.backward` for a
    model with one input and one output, so the trainer calls it in their place
    (with BLAS held to one thread, as for the graph, except for a prediction
    that calls no BLAS: see ``blas_free_inference``).

    Parameters
    ----------
    model : Sequential or Model
        Built; :meth:`for_model` says whether it can be planned.
    layers : list of Layer
        The chain, in call order.
    """

    def __init__(self, model, layers):
        self.model = model
        self.layers = layers
        self.steps = [_RecurrentStep(layer) if _plannable(layer) else _LayerStep(layer) for layer in layers]
        # Inference through recurrent layers and Dense runs numbarnn's own products alone (no BLAS call), so
        # it needs no hold of BLAS to one thread (a few microseconds a call, a twentieth of a B=1 prediction).
        self.blas_free_inference = all(isinstance(s, _RecurrentStep) or type(s.layer) is Dense for s in self.steps)

    @classmethod
    def for_model(cls, model, cached=None):
        """A :class:`PlannedChain` for ``model`` (``cached`` if it still fits), or None when it cannot be planned."""
        layers = model.graph.chain_layers()
        if layers is None or not layers or not any(_plannable(layer) for layer in layers):
            return None
        if cached is not None and len(cached.layers) == len(layers) and all(
            a is b for a, b in zip(cached.layers, layers)
        ):
            return cached
        if len({id(layer) for layer in layers}) != len(layers):
            return None  # a layer called twice: its gradients add up, as only the graph does
        if any(layer.takes_list or node.n_outputs != 1 for layer, node in zip(layers, model.graph.nodes)):
            return None
        return cls(model, layers)

    def release(self):
        """Drop every kept training buffer (the end of ``fit``); the weight plans stay."""
        for step in self.steps:
            if isinstance(step, _RecurrentStep):
                step.release()

    def forward(self, inputs, masks, training, rng):
        """As :meth:`LayerGraph.forward`: ``([output], [output mask], caches)``."""
        x, mask = inputs[0], masks[0]
        caches = []
        for step in self.steps:
            x, mask, cache = step.forward(x, mask, training, rng)
            caches.append(cache)
        return [x], [mask], caches

    def backward(self, caches, d_outputs, layers=None):
        """As :meth:`LayerGraph.backward`: one gradient per trainable weight of ``layers``, penalties added."""
        d = d_outputs[0]
        by_layer = {}
        for i in range(len(self.steps) - 1, -1, -1):
            if d is None:
                break
            step = self.steps[i]
            d, grads = step.backward(caches[i], d, i > 0)
            if step.layer.trainable and grads:
                by_layer[id(step.layer)] = grads
        return self.model.graph.ordered_gradients(by_layer, layers)
