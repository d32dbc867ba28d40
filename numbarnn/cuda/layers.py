"""The built-in layers on the CUDA device: one device twin per layer, holding its
weights in device memory and running its forward and backward passes there.

A twin mirrors its host layer (:mod:`numbarnn.layers`) step for step, so a
model trained on the device gives the CPU's numbers to rounding:

* ``Dense``: ``y = act(x W + b)`` on the last axis (``dW = x^T dz``,
  ``db = sum dz``, ``dx = dz W^T``);
* ``LSTM``, ``GRU`` (both reset forms) and ``SimpleRNN``: the input
  projection of every step as one GEMM, then the cell's recurrence kernel
  (:mod:`numbarnn.cuda.lstm` and its siblings); the weight gradients are GEMMs
  over every step (``dW = x^T dz``, ``dU = h_{t-1}^T dz``), as the CPU engine's
  :mod:`numbarnn.engine.cells` computes them;
* ``Bidirectional``: two recurrent twins and the merge;
* ``Embedding``: a gather, and a deterministic scatter-add for its gradient;
* ``Dropout``: the CPU layer's mask, drawn from the same generator in the same
  order, applied on the device.

What comes from the host, once per batch: the inputs, the masks (computed from
the host inputs by a leading ``Masking`` or ``Embedding(mask_zero=True)``,
exactly as on the CPU) and the dropout masks. A twin's ``forward(x, mask,
training, rng)`` returns ``(y, mask, cache)`` with ``y`` a device array and
``mask`` a host boolean array or None; ``backward(cache, dy)`` returns ``(dx,
grads)``, device arrays, ``grads`` in the order of the layer's
``trainable_weights``.
"""

import numpy as np
from numba import cuda

from ..kernels.nonlinear import CODES
from ..layers.bidirectional import Bidirectional
from ..layers.core import Dense, Dropout, Embedding, Masking
from ..layers.recurrent import GRU, LSTM, RecurrentLayer, SimpleRNN
from . import common, ops
from .gru_after import gru_after_backward_device, gru_after_forward_device
from .gru_before import gru_before_backward_device, gru_before_forward_device
from .lstm import lstm_backward_device, lstm_forward_device
from .reshape import scale_steps, transpose
from .simple_rnn import simple_backward_device, simple_forward_device

__all__ = ["SUPPORTED_LAYERS", "DeviceLayer", "make_twin", "unsupported_reason"]

#: The layer classes that run on device="cuda".
SUPPORTED_LAYERS = (Dense, Dropout, Embedding, Masking, LSTM, GRU, SimpleRNN, Bidirectional)

_DENSE_CODES = {**CODES, "softmax": ops.SOFTMAX}


def _empty(shape, dtype):
    return cuda.device_array(shape, dtype)


def _recurrent_reason(layer):
    if not isinstance(layer, (LSTM, GRU, SimpleRNN)):
        return f"a recurrent layer of class {type(layer).__name__}"
    if layer.stateful:
        return "stateful=True"
    if layer.return_state:
        return "return_state=True"
    return None


def unsupported_reason(layer, position):
    """Why ``layer`` cannot run on device='cuda' at ``position`` in the chain (None: it can).

    Parameters
    ----------
    layer : Layer
    position : int
        Its place in the model's chain of layers (0 = the first).

    Returns
    -------
    str or None
    """
    if not isinstance(layer, SUPPORTED_LAYERS):
        return f"it is a {type(layer).__name__} layer, which has no CUDA implementation"
    if isinstance(layer, (Masking, Embedding)) and position != 0:
        return f"a {type(layer).__name__} layer runs on the device only as the model's first layer"
    if isinstance(layer, Dense) and layer.activation not in _DENSE_CODES:
        return f"activation {layer.activation!r} has no CUDA implementation"
    if isinstance(layer, Bidirectional):
        if layer.merge_mode not in ("concat", "sum", "ave", "mul"):
            return f"merge_mode={layer.merge_mode!r} is not supported on the device"
        for sub in (layer.forward_layer, layer.backward_layer):
            reason = _recurrent_reason(sub)
            if reason:
                return reason
    if isinstance(layer, RecurrentLayer):
        return _recurrent_reason(layer)
    return None


class DeviceLayer:
    """Base of the device twins: the host layer, its device weights, push and pull.

    Parameters
    ----------
    layer : Layer
        A built host layer.
    """

    #: The twin converts a device input of another dtype to its own (as the host layer does).
    converts_input = True

    def __init__(self, layer):
        self.layer = layer
        self.dtype = np.dtype(layer.dtype)
        self.weights = []  # device arrays, aligned with layer.weights
        self.push()

    @property
    def out_dtype(self):
        """The dtype of the twin's output (and of the gradient its backward takes)."""
        return self.dtype

    def push(self):
        """Copy the host layer's weights to the device (allocating on first use)."""
        host = self.layer.weights
        if len(self.weights) != len(host) or any(d.shape != h.shape for d, h in zip(self.weights, host)):
            self.weights = [cuda.to_device(np.ascontiguousarray(h)) for h in host]
        else:
            for d, h in zip(self.weights, host):
                d.copy_to_device(np.ascontiguousarray(h))

    def pull(self):
        """Copy the device weights into the host layer's arrays (in place)."""
        for d, h in zip(self.weights, self.layer.weights):
            h[...] = d.copy_to_host()

    @property
    def trainable_weights(self):
        """The device arrays of the layer's ``trainable_weights``."""
        return self.weights if self.layer.trainable else []

    def forward(self, x, mask, training, rng):
        raise NotImplementedError

    def backward(self, cache, dy):
        raise NotImplementedError


class DenseTwin(DeviceLayer):
    """``Dense`` on the device: weights [kernel (F, U), bias (U,)]."""

    def forward(self, x, mask, training, rng):
        layer = self.layer
        F, U = layer.kernel.shape
        lead = tuple(x.shape)[:-1]
        x2 = x.reshape(int(np.prod(lead)), F)
        z = _empty((x2.shape[0], U), self.dtype)
        ops.gemm(x2, self.weights[0], z, bias=self.weights[1] if layer.use_bias else None)
        code = _DENSE_CODES[layer.activation]
        y = z
        if code != CODES["linear"]:
            y = _empty(z.shape, self.dtype)
            ops.activate(code, z, y)
        return y.reshape(lead + (U,)), mask, (x2, y, lead)

    def backward(self, cache, dy):
        layer = self.layer
        x2, y, lead = cache
        F, U = layer.kernel.shape
        dy2 = dy.reshape(y.shape)
        code = _DENSE_CODES[layer.activation]
        if code != CODES["linear"]:
            dz = _empty(y.shape, self.dtype)
            ops.activation_backward(code, y, dy2, dz)
        else:
            dz = dy2
        d_kernel = _empty((F, U), self.dtype)
        ops.gemm(x2, dz, d_kernel, trans_a=True)
        grads = [d_kernel]
        if layer.use_bias:
            d_bias = _empty((U,), self.dtype)
            ops.column_sums(dz, d_bias)
            grads.append(d_bias)
        dx = _empty(x2.shape, self.dtype)
        ops.gemm(dz, self.weights[0], dx, trans_b=True)
        return dx.reshape(lead + (F,)), grads


class DropoutTwin(DeviceLayer):
    """``Dropout`` on the device: the CPU layer's mask (same generator, same draws), applied there.

    Values keep their dtype through it (the host layer's product promotes to the wider
    of the input's and its own; the device keeps the input's).
    """

    converts_input = False

    @property
    def out_dtype(self):
        return self._dtype_seen

    def forward(self, x, mask, training, rng):
        layer = self.layer
        self._dtype_seen = dt = np.dtype(x.dtype)
        if not training or layer.rate == 0:
            return x, mask, None
        own = self.dtype  # the host layer's mask is in its own dtype, then the product promotes
        keep = ((rng.random(tuple(x.shape)) >= layer.rate).astype(own) / own.type(1 - layer.rate)).astype(dt)
        d_keep = cuda.to_device(keep)
        y = _empty(tuple(x.shape), dt)
        ops.multiply(x, d_keep, y)
        return y, mask, d_keep

    def backward(self, cache, dy):
        if cache is None:
            return dy, []
        dx = _empty(tuple(dy.shape), np.dtype(dy.dtype))
        ops.multiply(dy, cache, dx)
        return dx, []


class EmbeddingTwin(DeviceLayer):
    """``Embedding`` (the model's first layer) on the device: host indices in, a gather out."""

    host_input = True

    def forward(self, x, mask, training, rng):
        layer = self.layer
        idx = layer.check_indices(x)
        out_mask = (idx != 0) if layer.mask_zero else mask
        flat = np.ascontiguousarray(idx.ravel(), dtype=np.int64)
        D = layer.output_dim
        out = _empty((flat.size, D), self.dtype)
        ops.gather_rows(self.weights[0], cuda.to_device(flat), out)
        return out.reshape(idx.shape + (D,)), out_mask, flat

    def backward(self, cache, dy):
        layer = self.layer
        order, starts, rows = ops.scatter_plan(cache)
        grad = _empty(layer.embeddings.shape, self.dtype)
        ops.scatter_rows(
            dy.reshape(cache.size, layer.output_dim), cuda.to_device(order), cuda.to_device(starts),
            cuda.to_device(rows), grad,
        )  # fmt: skip
        return None, [grad]


class MaskingTwin(DeviceLayer):
    """``Masking`` (the model's first layer): computed on the host from the host inputs, as on the CPU."""

    host_input = True

    def forward(self, x, mask, training, rng):
        y, keep, _ = self.layer.forward(x, mask, training, rng)
        return cuda.to_device(np.ascontiguousarray(y)), keep, None

    def backward(self, cache, dy):
        return None, []


# -- recurrent layers ----------------------------------------------------------
class RecurrentTwin(DeviceLayer):
    """``LSTM``, ``GRU`` or ``SimpleRNN`` on the device.

    Parameters
    ----------
    layer : RecurrentLayer
    aligned : bool, default=False
        Return sequences aligned with the input steps (inside ``Bidirectional``,
        as ``RecurrentLayer.run``); otherwise in the layer's reading order (what
        the layer itself outputs with ``go_backwards``).
    """

    def __init__(self, layer, aligned=False):
        self.aligned = aligned
        self.cell = layer.cell
        self.after = self.cell == "gru" and layer.reset_after
        self.n_gates = {"lstm": 4, "gru": 3, "simple": 1}[self.cell]
        super().__init__(layer)

    def push(self):
        layer = self.layer
        H = layer.units
        dt = np.dtype(layer.dtype)
        super().push()
        G = self.n_gates * H
        if not layer.use_bias:  # the kernels take a zero bias
            self._bias_in = ops.zeros((G,), dt)
            self._bias_rec = ops.zeros((G,), dt)
        self._ut = _empty((G, H), dt)
        if self.cell == "gru" and not self.after:
            self._uzr = _empty((H, 2 * H), dt)
            self._uh = _empty((H, H), dt)
            self._uzrt = _empty((2 * H, H), dt)
            self._uht = _empty((H, H), dt)

    def _bias(self):
        """``(bias_in (G*H,), bias_rec (G*H,))`` device views."""
        if not self.layer.use_bias:
            return self._bias_in, self._bias_rec
        b = self.weights[2]
        if self.after:
            return b[0], b[1]
        return b, None

    def _reverse(self):
        return self.layer.go_backwards

    def forward(self, x, mask, training, rng):
        layer = self.layer
        dt = self.dtype
        B, T, F = x.shape
        H = layer.units
        G = self.n_gates * H
        reverse = self._reverse()
        if mask is not None and mask.all():
            mask = None
        dmask = rmask = None
        if training:  # the CPU's masks, drawn from the same generator in the same order
            dmask, rmask = (None if m is None else cuda.to_device(m) for m in layer.draw_dropout_masks(rng, B, F))
        xt = _empty((T, B, F), dt)
        ops.time_major(x, xt, reverse)
        if dmask is not None:
            scale_steps(xt, dmask, xt, True)
        mask_t = None
        if mask is not None:
            m = mask.T[::-1] if reverse else mask.T
            mask_t = cuda.to_device(np.ascontiguousarray(m, dtype=np.uint8))
        W, U = self.weights[0], self.weights[1]
        bias_in, bias_rec = self._bias()
        zx = _empty((T * B, G), dt)
        ops.gemm(xt.reshape(T * B, F), W, zx, bias=bias_in)
        keep_seq = training or layer.return_sequences
        hs = _empty((T, B, H), dt) if keep_seq else None
        cs = _empty((T, B, H), dt) if training and self.cell == "lstm" else None
        gates = _empty((T, B, G), dt) if training and self.cell != "simple" else None
        us = _empty((T, B, H), dt) if training and self.after else None
        h0 = ops.zeros((B, H), dt)
        h_last = _empty((B, H), dt)
        act = CODES[layer.activation]
        ract = CODES[getattr(layer, "recurrent_activation", "sigmoid")]
        if self.cell == "lstm":
            c0 = ops.zeros((B, H), dt)
            lstm_forward_device(zx, U, h0, c0, mask_t, rmask, act, ract, hs, cs, gates, h_last, _empty((B, H), dt))
        elif self.after:
            gru_after_forward_device(zx, U, bias_rec, h0, mask_t, rmask, act, ract, hs, gates, us, h_last)
        elif self.cell == "gru":
            ops.copy_columns(U, 0, self._uzr)
            ops.copy_columns(U, 2 * H, self._uh)
            gru_before_forward_device(zx, self._uzr, self._uh, h0, mask_t, rmask, act, ract, hs, gates, h_last)
        else:
            simple_forward_device(zx, U, h0, mask_t, rmask, act, hs, h_last)
        zero_masked = bool(layer.zero_output_for_mask) and mask is not None
        out_mask = mask if layer.return_sequences else None
        if layer.return_sequences:
            out_reverse = reverse if self.aligned else False  # the layer's own go_backwards output is reading order
            out = _empty((B, T, H), dt)
            ops.batch_major(hs, out, out_reverse)
            if zero_masked:
                m = mask[:, ::-1] if reverse and not self.aligned else mask
                ops.multiply_rows(
                    out.reshape(B * T, H), cuda.to_device(np.ascontiguousarray(m, dtype=dt).ravel()),
                    out.reshape(B * T, H),
                )  # fmt: skip
            if reverse and not self.aligned and mask is not None:
                out_mask = np.ascontiguousarray(mask[:, ::-1])
        else:
            out = h_last
        cache = (xt, mask_t, dmask, rmask, hs, cs, gates, us, h0, zero_masked, (B, T, F))
        return out, out_mask, cache

    def backward(self, cache, dy):
        layer = self.layer
        dt = self.dtype
        xt, mask_t, dmask, rmask, hs, cs, gates, us, h0, zero_masked, (B, T, F) = cache
        H = layer.units
        G = self.n_gates * H
        reverse = self._reverse()
        dhs = None
        dh_last = ops.zeros((B, H), dt)
        if dy is not None:
            if layer.return_sequences:
                dhs = _empty((T, B, H), dt)
                ops.time_major(dy, dhs, reverse if self.aligned else False)
            else:
                ops.copy(dy, dh_last)
        dz = _empty((T, B, G), dt)
        dh0 = _empty((B, H), dt)
        act = CODES[layer.activation]
        ract = CODES[getattr(layer, "recurrent_activation", "sigmoid")]
        U = self.weights[1]
        if self.cell == "gru" and not self.after:
            transpose(self._uzr, self._uzrt)
            transpose(self._uh, self._uht)
        else:
            transpose(U, self._ut)
        if self.cell == "lstm":
            lstm_backward_device(  # c0 is zeros, as h0: the layers on the device start from zero states
                self._ut, h0, mask_t, rmask, act, ract, cs, gates, dhs, dh_last, ops.zeros((B, H), dt), zero_masked,
                dz, dh0, _empty((B, H), dt),
            )  # fmt: skip
        elif self.after:
            gru_after_backward_device(
                self._ut, h0, mask_t, rmask, act, ract, hs, gates, us, dhs, dh_last, zero_masked, dz, dh0
            )
        elif self.cell == "gru":
            gru_before_backward_device(
                self._uzrt, self._uht, h0, mask_t, rmask, act, ract, hs, gates, dhs, dh_last, zero_masked, dz, dh0
            )
        else:
            simple_backward_device(self._ut, mask_t, rmask, act, hs, dhs, dh_last, zero_masked, dz, dh0)
        grads = self._weight_gradients(xt, dz, hs, h0, rmask, gates, (B, T, F))
        dz2 = dz.reshape(T * B, G)
        dxt = _empty((T * B, F), dt)
        ops.gemm(dz2, self.weights[0], dxt, trans_b=True)
        dx = _empty((B, T, F), dt)
        ops.batch_major(dxt.reshape(T, B, F), dx, reverse)
        if dmask is not None:
            scale_steps(dx, dmask, dx, False)
        return dx, grads

    def _weight_gradients(self, xt, dz, hs, h0, rmask, gates, shape):
        """``[d_kernel, d_recurrent_kernel(, d_bias)]`` as :meth:`CellAdaptor.weight_gradients` forms them."""
        layer = self.layer
        dt = self.dtype
        B, T, F = shape
        H = layer.units
        G = self.n_gates * H
        N = T * B
        dz2 = dz.reshape(N, G)
        d_kernel = _empty((F, G), dt)
        ops.gemm(xt.reshape(N, F), dz2, d_kernel, trans_a=True)
        d_bias_in = _empty((G,), dt)
        ops.column_sums(dz2, d_bias_in)
        hd = _empty((T, B, H), dt)
        ops.shift_states(h0, hs, *common.or_dummy(rmask, 2, dt), hd)
        hd2 = hd.reshape(N, H)
        d_rec = _empty((H, G), dt)
        d_bias = d_bias_in
        if self.cell == "gru":
            dz_zr = _empty((N, 2 * H), dt)
            ops.copy_columns(dz2, 0, dz_zr)
            part = _empty((H, 2 * H), dt)
            ops.gemm(hd2, dz_zr, part, trans_a=True)
            ops.set_columns(d_rec, 0, part)
            gates2 = gates.reshape(N, G)
            h_part = _empty((H, H), dt)
            if self.after:  # the recurrent side sees the h block's gradient scaled by r
                dzh_r = _empty((N, H), dt)
                ops.multiply_columns(dz2, 2 * H, gates2, H, dzh_r)
                ops.gemm(hd2, dzh_r, h_part, trans_a=True)
                d_bias = _empty((2, G), dt)
                ops.copy(d_bias_in, d_bias[0])
                ops.copy(d_bias_in, d_bias[1])
                rec_h = _empty((1, H), dt)
                ops.column_sums(dzh_r, rec_h.reshape(H))
                ops.set_columns(d_bias[1:2], 2 * H, rec_h)
            else:
                rhd = _empty((N, H), dt)
                ops.multiply_columns(hd2, 0, gates2, H, rhd)
                dz_h = _empty((N, H), dt)
                ops.copy_columns(dz2, 2 * H, dz_h)
                ops.gemm(rhd, dz_h, h_part, trans_a=True)
            ops.set_columns(d_rec, 2 * H, h_part)
        else:
            ops.gemm(hd2, dz2, d_rec, trans_a=True)
        grads = [d_kernel, d_rec]
        if layer.use_bias:
            grads.append(d_bias)
        return grads


class BidirectionalTwin(DeviceLayer):
    """``Bidirectional`` on the device: a twin per direction (outputs aligned with the input steps) and the merge."""

    def __init__(self, layer):
        self.forward_twin = RecurrentTwin(layer.forward_layer, aligned=True)
        self.backward_twin = RecurrentTwin(layer.backward_layer, aligned=True)
        self.layer = layer
        self.dtype = np.dtype(layer.dtype)

    @property
    def weights(self):
        return self.forward_twin.weights + self.backward_twin.weights

    def push(self):
        self.forward_twin.push()
        self.backward_twin.push()

    def pull(self):
        self.forward_twin.pull()
        self.backward_twin.pull()

    def forward(self, x, mask, training, rng):
        yf, _, cf = self.forward_twin.forward(x, mask, training, rng)
        yb, _, cb = self.backward_twin.forward(x, mask, training, rng)
        mode = self.layer.merge_mode
        lead = tuple(yf.shape)[:-1]
        n = int(np.prod(lead))
        hf, hb = tuple(yf.shape)[-1], tuple(yb.shape)[-1]
        if mode == "concat":
            y = _empty(lead + (hf + hb,), self.dtype)
            ops.concat_last(yf.reshape(n, hf), yb.reshape(n, hb), y.reshape(n, hf + hb))
        else:
            y = _empty(yf.shape, self.dtype)
            if mode == "mul":
                ops.multiply(yf, yb, y)
            else:
                ops.add(yf, yb, y)
                if mode == "ave":
                    ops.scale(y, 0.5, y)
        out_mask = mask if self.layer.return_sequences else None
        return y, out_mask, (cf, cb, yf, yb)

    def backward(self, cache, dy):
        cf, cb, yf, yb = cache
        mode = self.layer.merge_mode
        if mode == "concat":
            lead = tuple(yf.shape)[:-1]
            n = int(np.prod(lead))
            hf, hb = tuple(yf.shape)[-1], tuple(yb.shape)[-1]
            dyf, dyb = _empty(yf.shape, self.dtype), _empty(yb.shape, self.dtype)
            ops.split_last(dy.reshape(n, hf + hb), dyf.reshape(n, hf), dyb.reshape(n, hb))
        elif mode == "sum":
            dyf = dyb = dy
        elif mode == "ave":
            dyf = _empty(dy.shape, self.dtype)
            ops.scale(dy, 0.5, dyf)
            dyb = dyf
        else:
            dyf, dyb = _empty(dy.shape, self.dtype), _empty(dy.shape, self.dtype)
            ops.multiply(dy, yb, dyf)
            ops.multiply(dy, yf, dyb)
        df, gf = self.forward_twin.backward(cf, dyf)
        db, gb = self.backward_twin.backward(cb, dyb)
        dx = _empty(df.shape, self.dtype)
        ops.add(df, db, dx)
        return dx, gf + gb


def make_twin(layer):
    """The device twin of a built host layer (its weights copied to the device).

    Parameters
    ----------
    layer : Layer
        One of :data:`SUPPORTED_LAYERS` (see :func:`unsupported_reason`).

    Returns
    -------
    DeviceLayer
    """
    if isinstance(layer, Bidirectional):
        return BidirectionalTwin(layer)
    if isinstance(layer, RecurrentLayer):
        return RecurrentTwin(layer)
    for cls, twin in ((Dense, DenseTwin), (Dropout, DropoutTwin), (Embedding, EmbeddingTwin), (Masking, MaskingTwin)):
        if isinstance(layer, cls):
            return twin(layer)
    raise TypeError(f"layer {layer.name!r} ({type(layer).__name__}) has no CUDA implementation")

