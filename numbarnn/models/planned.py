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

A prediction through a chain of recurrent layers, ``Dense`` and ``Dropout``
layers (the latency path) also keeps, for each of the last two input shapes,
every layer's plan and buffers: a call copies its input into the first
layer's kept time-major array, runs each kernel into kept buffers and
allocates only the packed weights (packed again from the live arrays each
call, since an in-place change to a weight array cannot be seen without
reading it) and the output it returns.

It runs a model whose layers form a chain (one input, one output, each layer
reading the one before through a single input and output): the recurrent
layers (``LSTM``, ``GRU``, ``SimpleRNN``; not ``stateful``) on their plans,
every other layer (``Dense``, ``Dropout``, ``Masking``, ``Embedding``,
``Bidirectional``, ``TimeDistributed``, custom layers...) through its own code,
as the graph runs it. Other models keep the layer-by-layer path.
"""

import collections
import math
import threading

import numpy as np

from .._validation import as_float_array
from ..engine.api import backward_of, outputs_of
from ..engine.plan import plan_batch, plan_weights
from ..layers.core import Dense, Dropout
from ..layers.recurrent import GRU, LSTM, SimpleRNN

__all__ = ["PlannedChain"]

# A prediction keeps its plans and buffers for this many input shapes (a batch size and the last,
# shorter batch of a ``predict``), each only when its buffers take at most _KEPT_BYTES.
_KEPT_SHAPES = 2
_KEPT_BYTES = 4 << 20


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


class _DenseStep(_LayerStep):
    """A ``Dense`` layer; a prediction writes its product into a kept buffer (the same bits as ``Dense.forward``)."""

    __slots__ = ()

    def predict_buffers(self, x):
        """The product's buffer for an input like ``x`` (..., features)."""
        return np.empty((x.size // x.shape[-1], self.layer.units), self.layer.dtype)

    def predict(self, kept, x, checked):
        y = self.layer.outputs_of_rows(x, out=kept)[1]
        return y.reshape(x.shape[:-1] + (self.layer.units,))


class _DropoutStep(_LayerStep):
    """A ``Dropout`` layer: the identity in a prediction."""

    __slots__ = ()

    def predict_buffers(self, x):
        return None

    def predict(self, kept, x, checked):
        return np.asarray(x, dtype=self.layer.dtype)


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

    def predict_buffers(self, x):
        """``(Plan, ForwardBuffers)`` of a prediction over inputs like ``x`` (B, T, F), checked as ``forward``."""
        layer = self.layer
        p = plan_batch(self.weights(), np.ascontiguousarray(x, dtype=layer.dtype), reverse=layer.go_backwards,
                       return_sequences=layer.return_sequences,
                       zero_output_for_mask=layer.zero_output_for_mask)  # fmt: skip
        if np.may_share_memory(p.xt, x):
            p.xt = p.xt.copy()  # (one sequence's x is already time-major: the plan's would be the caller's array)
        return p, p.adaptor.forward_buffers(p, False)

    def predict(self, kept, x, checked):
        """The outputs of a prediction over ``x`` (no mask), as ``forward`` gives them, as a view of ``kept``.

        ``x`` is copied into the plan's time-major input; it is checked finite
        unless ``checked`` (the model's input, which the trainer checked) and
        still of the working dtype.
        """
        p, buf = kept
        p.weights = self.weights()
        if x.dtype != p.dtype:
            x, checked = as_float_array(x, "x", p.dtype, ndim=3), True  # the layer path's check of a conversion
        src = x.transpose(1, 0, 2)
        xt = p.xt
        np.copyto(xt, src[::-1] if p.reverse else src)
        if not checked and not math.isfinite(xt.sum()) and not np.isfinite(xt).all():
            as_float_array(xt, "x", p.dtype)  # raises the layer path's error
        p.adaptor.forward(p, buf)
        # outputs_of's order flipped back for go_backwards: the hidden states in reading order
        return buf.hs.transpose(1, 0, 2) if p.return_sequences else buf.states[0]

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


def _step(layer):
    """The step that runs ``layer`` in a chain."""
    if _plannable(layer):
        return _RecurrentStep(layer)
    if type(layer) is Dense:
        return _DenseStep(layer)
    if type(layer) is Dropout:
        return _DropoutStep(layer)
    return _LayerStep(layer)


def _arrays_of(kept):
    """The arrays of one step's kept prediction buffers."""
    if kept is None:
        return []
    if isinstance(kept, np.ndarray):
        return [kept]
    p, buf = kept
    return [p.xt, buf.hs, *buf.states]


def _kept_bytes(kept):
    return sum(a.nbytes for k in kept for a in _arrays_of(k))


def _holds(kept, y):
    return any(np.may_share_memory(a, y) for a in _arrays_of(kept))


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
        self.steps = [_step(layer) for layer in layers]
        # A chain of recurrent layers, Dense and Dropout predicts on plans and buffers kept per input shape
        # (``_predict``). It runs numbarnn's own products alone (no BLAS call), so it needs no hold of BLAS to
        # one thread (a few microseconds a call, a twentieth of a B=1 prediction).
        self.blas_free_inference = all(hasattr(s, "predict") for s in self.steps)
        self._predictions = collections.OrderedDict()  # (shape, dtype) of the input -> kept per step
        self._prediction_lock = threading.Lock()

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
        """Drop every kept training buffer (the end of ``fit``); the weight plans and prediction buffers stay."""
        for step in self.steps:
            if isinstance(step, _RecurrentStep):
                step.release()

    def _predict(self, x):
        """A prediction's output for ``x`` (the model's checked input) on plans and buffers kept per input shape.

        Runs the steps' ``predict``: each recurrent layer copies its input into
        its kept time-major array and runs its kernel into its kept buffers, a
        Dense layer writes its product into its kept buffer; only the packed
        weights (refreshed from the live arrays, as for a training batch) and
        the returned output are new arrays. Another thread predicting at the same
        time gets buffers of its own. The kernels and their order are those of
        ``forward``, so the bits are the same.
        """
        key = (x.shape, x.dtype)
        lock = self._prediction_lock
        mine = lock.acquire(blocking=False)
        try:
            kept = self._predictions.get(key) if mine else None
            new = kept is None
            if new:
                kept = []
            y = x
            for i, step in enumerate(self.steps):
                if new:  # plans the shape (and checks it as forward does) on its first call
                    kept.append(step.predict_buffers(y))
                y = step.predict(kept[i], y, checked=y is x)
            if not new:
                self._predictions.move_to_end(key)
            elif mine and _kept_bytes(kept) <= _KEPT_BYTES:
                self._predictions[key] = kept
                while len(self._predictions) > _KEPT_SHAPES:
                    self._predictions.popitem(last=False)
            return y.copy() if any(_holds(k, y) for k in kept) else y
        finally:
            if mine:
                lock.release()

    def forward(self, inputs, masks, training, rng):
        """As :meth:`LayerGraph.forward`: ``([output], [output mask], caches)``."""
        x, mask = inputs[0], masks[0]
        if not training and self.blas_free_inference and (mask is None or mask.all()):
            return [self._predict(x)], [None], [None] * len(self.steps)
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
