"""ONNX export: a numbarnn model, fitted estimator or Pipeline as one ONNX graph.

:func:`to_onnx` walks a model's public structure (``model.graph``: its nodes,
their layers and inbound ports; ``get_weights``; public layer settings) and
writes standard operators, so onnxruntime or any ONNX runtime serves it
without numbarnn. Nothing here imports a model or estimator class: models,
estimators and pipelines are told apart by their public attributes.

The recurrent layers become ONNX's ``LSTM``, ``GRU`` and ``RNN`` operators
with ``layout=0`` (time-major; onnxruntime refuses batch-first recurrent
operators), between ``Transpose`` nodes. Weights are converted from Keras's
layout, where ``kernel`` is (F, G*H) with gate blocks LSTM i, f, c, o and GRU
z, r, h, to ONNX's ``W`` (D, G*H, F), ``R`` (D, G*H, H) and ``B`` (D, 2*G*H) =
``[Wb, Rb]`` with gate blocks LSTM i, o, f, c and GRU z, r, h. A GRU with
``reset_after=True`` (numbarnn's default) is ``linear_before_reset=1``, and
its bias rows (input, recurrent) are ``Wb``, ``Rb``; with ``reset_after=False``
it is ``linear_before_reset=0`` and ``Rb`` is zero. ``Bidirectional`` is one
operator with ``direction="bidirectional"`` (two single-direction operators
when its two layers differ in cell, size or settings), its merge done by the
nodes after it. ``go_backwards`` is ``direction="reverse"``, and its
``return_sequences`` output is reversed in time, as Keras returns it.

Masks (``Masking``, ``Embedding(mask_zero=True)``) become ``sequence_lens``,
computed inside the graph: the number of valid steps of each sequence (for
``Masking``, steps where some feature differs from ``mask_value``; for an
``Embedding``, indices other than 0). A length says how many steps are valid,
not where they are, so the padding side is chosen at export:
``padding="pre"`` (the default, as ``pad_sequences`` pads) takes the valid
steps to be the last ones and runs the recurrent operator on sequences moved
to the front by ``ReverseSequence``; ``padding="post"`` takes them to be the
first ones and runs the operator on the input as it is. A mask with any other
pattern (padding on both sides, or gaps between valid steps), which numbarnn
follows step by step, cannot be expressed: the exported model then computes
something else. Masked ``return_sequences`` outputs are Keras's: a padded step
outputs the state carried through it (the last valid step's output, or the
initial state before the first valid step), not ONNX's zeros; inside a
``Bidirectional`` padded steps output zeros, as in Keras.

Estimators: a fitted ``RNNRegressor`` gives the output ``variable`` (float32,
(N, n_outputs), as skl2onnx names and shapes it); an ``RNNClassifier`` gives
``output_label`` (its ``classes_``, by ``ArgMax`` and ``Gather``) and
``output_probability`` (a float32 tensor (N, n_classes), no ZipMap). The
input ``X`` is float32 (N, steps, features); estimators fitted on 2-D input
are refused. A ``Pipeline`` of scalers with ``mean_`` and ``scale_``
(``SequenceScaler``) and a final estimator is one graph.

The whole graph computes in float32 (float64 models are exported with their
weights rounded to float32). Stateful layers, dropout in training mode and
layers without an exporter are refused with a ``ValueError`` naming the layer.
"""

import os

import numpy as np

__all__ = ["MIN_OPSET", "export", "to_onnx"]

#: The oldest opset written (Squeeze, Unsqueeze and ReduceSum take their axes as inputs from 13 on).
MIN_OPSET = 14

_INSTALL_HINT = 'ONNX export needs the onnx package: pip install "numbarnn[onnx]"'

# Keras gate blocks -> ONNX gate blocks, as indices of the blocks of a (.., G*H) weight.
_GATE_ORDER = {"lstm": (0, 3, 1, 2), "gru": (0, 1, 2), "simple": (0,)}  # LSTM ifco -> iofc; GRU zrh -> zrh
_OP_TYPE = {"lstm": "LSTM", "gru": "GRU", "simple": "RNN"}
_RNN_ACTIVATIONS = {  # numbarnn name -> (ONNX name, alpha, beta); alpha/beta None when the function takes none
    "tanh": ("Tanh", None, None),
    "sigmoid": ("Sigmoid", None, None),
    "relu": ("Relu", None, None),
    "linear": ("Affine", 1.0, 0.0),
    "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),  # Keras 3's: clip(x / 6 + 1/2, 0, 1)
}
_INT64_MIN = -(2**63)


def _require_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return onnx


# -- the graph being written ---------------------------------------------------
class _Mask:
    """A mask travelling with a value: ``keep`` names a float (B, T) tensor of 1 (valid) and 0, ``side`` the padding."""

    def __init__(self, keep, side):
        self.keep = keep
        self.side = side
        self.lens = {}  # valid steps per sequence, (B,), by ONNX element type, made on first use


class _Value:
    """A tensor in the graph being written, with the mask that numbarnn would pass along with it."""

    def __init__(self, name, mask=None):
        self.name = name
        self.mask = mask


class _Builder:
    """Collects nodes and constants; :meth:`op` adds one node and returns its output name(s)."""

    def __init__(self, onnx, opset, padding):
        self.onnx = onnx
        self.opset = opset
        self.padding = padding  # the side masks made here assume: 'pre' or 'post'
        self.nodes = []
        self.initializers = []
        self._count = 0

    def fresh(self, hint):
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value, hint="const", dtype=np.float32):
        arr = np.asarray(value)
        if arr.dtype.kind in "OUS":
            arr = np.array([str(v) for v in arr.ravel()], dtype=object).reshape(arr.shape)
        elif dtype is not None and arr.dtype != np.dtype(dtype):
            arr = arr.astype(dtype)
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def ints(self, values, hint="shape"):
        return self.const(np.asarray(values, dtype=np.int64), hint, np.int64)

    def op(self, op_type, inputs, n_outputs=1, hint=None, outputs=None, **attrs):
        if outputs is None:
            base = self.fresh(hint or op_type.lower())
            outputs = [base] if n_outputs == 1 else [f"{base}_{k}" for k in range(n_outputs)]
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), list(outputs), **attrs))
        return outputs[0] if len(outputs) == 1 else list(outputs)

    # Small compositions used throughout.
    def reduce(self, op_type, x, axes, keepdims):
        """``op_type`` over ``axes``: axes as an input for ReduceSum (opset 13+) and every Reduce from 18."""
        if op_type == "ReduceSum" or self.opset >= 18:
            return self.op(op_type, [x, self.ints(axes, "axes")], keepdims=int(keepdims))
        return self.op(op_type, [x], axes=list(axes), keepdims=int(keepdims))

    def unsqueeze(self, x, axes):
        return self.op("Unsqueeze", [x, self.ints(axes, "axes")])

    def squeeze(self, x, axes):
        return self.op("Squeeze", [x, self.ints(axes, "axes")])

    def reverse(self, x, axis):
        """``x`` with ``axis`` read from its end (all of it)."""
        return self.op("Slice", [x, self.ints([-1]), self.ints([_INT64_MIN]), self.ints([axis]), self.ints([-1])])

    def take(self, x, index, axis):
        """``x[..., index, ...]`` on ``axis``, that axis removed."""
        return self.op("Gather", [x, self.const(np.int64(index), "index", np.int64)], axis=axis)

    def activation(self, x, name):
        if name == "linear":
            return x
        if name == "relu":
            return self.op("Relu", [x])
        if name == "tanh":
            return self.op("Tanh", [x])
        if name == "sigmoid":
            return self.op("Sigmoid", [x])
        if name == "softmax":
            return self.op("Softmax", [x], axis=-1)
        if name == "hard_sigmoid":
            return self.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
        if name == "softplus":
            return self.op("Softplus", [x])
        raise ValueError(f"the activation {name!r} has no ONNX exporter")

    def lens(self, mask, bits=32):
        """The (B,) number of valid steps of ``mask``: int32 for the recurrent operators, int64 for ReverseSequence."""
        if bits not in mask.lens:
            total = self.reduce("ReduceSum", mask.keep, [1], keepdims=False)
            to = self.onnx.TensorProto.INT32 if bits == 32 else self.onnx.TensorProto.INT64
            mask.lens[bits] = self.op("Cast", [total], to=to, hint=f"sequence_lens{bits}")
        return mask.lens[bits]


# -- layers --------------------------------------------------------------------
def _layer_error(layer, why):
    return ValueError(f"layer {layer.name!r} ({type(layer).__name__}) cannot be exported to ONNX: {why}")


def _check_recurrent(layer):
    if getattr(layer, "stateful", False):
        raise _layer_error(layer, "it is stateful (the exported model could not carry its state between calls)")
    for what in ("activation", "recurrent_activation"):
        if getattr(layer, what, "tanh") not in _RNN_ACTIVATIONS:
            raise _layer_error(layer, f"{what} {getattr(layer, what)!r} has no ONNX recurrent activation")


def _onnx_weights(layer):
    """``(W, R, B)`` of one direction, ONNX layout: (G*H, F), (G*H, H), (2*G*H,)."""
    weights = layer.get_weights()
    kernel, recurrent = weights[0], weights[1]
    H, order = layer.units, _GATE_ORDER[layer.cell]
    G = len(order)

    def gates(w):  # (.., G*H) Keras blocks -> ONNX blocks
        return np.concatenate([w[..., k * H : (k + 1) * H] for k in order], axis=-1)

    W, R = gates(kernel).T, gates(recurrent).T
    if layer.use_bias:
        bias = weights[2]
        if bias.ndim == 2:  # GRU reset_after=True: rows (input bias, recurrent bias)
            B = np.concatenate([gates(bias[0]), gates(bias[1])])
        else:
            B = np.concatenate([gates(bias), np.zeros(G * H, bias.dtype)])
    else:
        B = np.zeros(2 * G * H, np.float32)
    return W, R, B


def _signature(layer):
    """What must agree for two layers to share one bidirectional operator."""
    return (layer.cell, layer.units, layer.use_bias, layer.activation, getattr(layer, "recurrent_activation", None),
            getattr(layer, "reset_after", None))  # fmt: skip


def _recurrent_op(b, x, directions, initial, return_sequences, zero_output):
    """One ONNX recurrent operator over ``directions``, a list of 1 or 2 ``(layer, reverse)`` pairs.

    ``x`` is a :class:`_Value` (B, T, F); ``initial`` one list of (B, H) state names (or None) per direction.
    Returns, per direction, ``(output, states)``: the aligned (B, T, H) sequence (Keras's carried
    values at padded steps unless ``zero_output``) or the (B, H) last output, and the final states.
    """
    first = directions[0][0]
    cell = first.cell
    mask = x.mask
    X = b.op("Transpose", [x.name], perm=[1, 0, 2], hint="time_major")
    lens = ""
    if mask is not None:
        lens = b.lens(mask)
        if mask.side == "pre":  # valid steps to the front, where ONNX expects them
            X = b.op("ReverseSequence", [b.reverse(X, 0), b.lens(mask, 64)], batch_axis=1, time_axis=0)
    Ws, Rs, Bs = zip(*(_onnx_weights(layer) for layer, _ in directions))
    inputs = [X, b.const(np.stack(Ws), "W"), b.const(np.stack(Rs), "R"), b.const(np.stack(Bs), "B"), lens]
    n_states = 2 if cell == "lstm" else 1
    if any(init for init in initial):
        for k in range(n_states):
            parts = [b.unsqueeze(init[k], [0]) for init in initial]
            inputs.append(parts[0] if len(parts) == 1 else b.op("Concat", parts, axis=0))
    attrs = {"hidden_size": first.units, "layout": 0}
    attrs["direction"] = "bidirectional" if len(directions) == 2 else ("reverse" if directions[0][1] else "forward")
    acts, alphas, betas = [], [], []
    for layer, _ in directions:
        names = [layer.activation] if cell == "simple" else [layer.recurrent_activation, layer.activation]
        if cell == "lstm":
            names.append(layer.activation)
        for name in names:
            onnx_name, alpha, beta = _RNN_ACTIVATIONS[name]
            acts.append(onnx_name)
            alphas.append(0.0 if alpha is None else alpha)
            betas.append(0.0 if beta is None else beta)
    attrs["activations"] = acts
    if any(name in ("Affine", "HardSigmoid") for name in acts):
        attrs["activation_alpha"], attrs["activation_beta"] = alphas, betas
    if cell == "gru":
        attrs["linear_before_reset"] = int(first.reset_after)
    outs = b.op(_OP_TYPE[cell], inputs, n_outputs=1 + 1 + (cell == "lstm"), hint=cell, **attrs)
    Y, finals = outs[0], outs[1:]
    results = []
    for d, (layer, reverse) in enumerate(directions):
        states = [b.take(s, d, 0) for s in finals]  # (B, H) each
        if not return_sequences:
            results.append((states[0], states))
            continue
        y = b.take(Y, d, 1)  # (T, B, H), aligned with the (compacted) steps
        if mask is not None and mask.side == "pre":
            y = b.reverse(b.op("ReverseSequence", [y, b.lens(mask, 64)], batch_axis=1, time_axis=0), 0)
        y = b.op("Transpose", [y], perm=[1, 0, 2])  # (B, T, H)
        if mask is not None and not zero_output:
            # A padded step outputs the state carried through it: the final one when it comes after every
            # valid step in reading order, else the initial one (zeros, what ONNX already gives, when none).
            after_valid = (not reverse) == (mask.side == "post")
            carry = states[0] if after_valid else (initial[d][0] if initial[d] else None)
            if carry is not None:
                keep = b.op("Cast", [b.unsqueeze(mask.keep, [2])], to=b.onnx.TensorProto.BOOL)
                y = b.op("Where", [keep, y, b.unsqueeze(carry, [1])])
        results.append((y, states))
    return results


def _reversed_mask(b, mask):
    if mask is None:
        return None
    return _Mask(b.reverse(mask.keep, 1), "post" if mask.side == "pre" else "pre")


def _export_recurrent(b, layer, ins):
    _check_recurrent(layer)
    x = ins[0]
    initial = [v.name for v in ins[1:]] or None
    zero = bool(getattr(layer, "zero_output_for_mask", False))
    ((y, states),) = _recurrent_op(b, x, [(layer, layer.go_backwards)], [initial], layer.return_sequences, zero)
    mask = None
    if layer.return_sequences:
        mask = x.mask
        if layer.go_backwards:  # Keras returns the outputs in reading order
            y = b.reverse(y, 1)
            mask = _reversed_mask(b, mask)
    outs = [_Value(y, mask)]
    if layer.return_state:
        outs += [_Value(s) for s in states]
    return outs


def _export_bidirectional(b, layer, ins):
    fl, bl = layer.forward_layer, layer.backward_layer
    for sub in (fl, bl):
        _check_recurrent(sub)
    x = ins[0]
    given = [v.name for v in ins[1:]]
    nf = 2 if fl.cell == "lstm" else 1
    init_f, init_b = (given[:nf] or None), (given[nf:] or None)
    seqs = layer.return_sequences
    pairs = [(fl, fl.go_backwards, init_f, bool(fl.zero_output_for_mask)),
             (bl, bl.go_backwards, init_b, bool(bl.zero_output_for_mask))]  # fmt: skip
    if fl.go_backwards and not bl.go_backwards:
        pairs = pairs[::-1]  # ONNX's order: the forward-reading direction first
    same = _signature(fl) == _signature(bl) and pairs[0][1] != pairs[1][1] and pairs[0][3] == pairs[1][3]
    same = same and (init_f is None) == (init_b is None)
    if same:
        results = _recurrent_op(b, x, [(p[0], p[1]) for p in pairs], [p[2] for p in pairs], seqs, pairs[0][3])
    else:
        results = [_recurrent_op(b, x, [(p[0], p[1])], [p[2]], seqs, p[3])[0] for p in pairs]
    by_layer = {id(p[0]): r for p, r in zip(pairs, results)}
    (yf, sf), (yb, sb) = by_layer[id(fl)], by_layer[id(bl)]
    mode = layer.merge_mode
    if mode == "concat":
        y = b.op("Concat", [yf, yb], axis=-1)
    elif mode == "sum":
        y = b.op("Add", [yf, yb])
    elif mode == "ave":
        y = b.op("Mul", [b.op("Add", [yf, yb]), b.const(np.float32(0.5))])
    elif mode == "mul":
        y = b.op("Mul", [yf, yb])
    else:
        raise _layer_error(layer, f"merge_mode {mode!r} has no exporter")
    outs = [_Value(y, x.mask if seqs else None)]
    if layer.return_state:
        outs += [_Value(s) for s in sf + sb]
    return outs


def _dense(b, layer, x):
    weights = dict(zip(layer.weight_names, layer.get_weights()))
    z = b.op("MatMul", [x, b.const(weights["kernel"], "kernel")])
    if layer.use_bias:
        z = b.op("Add", [z, b.const(weights["bias"], "bias")])
    return b.activation(z, layer.activation)


def _export_dense(b, layer, ins):
    return [_Value(_dense(b, layer, ins[0].name), ins[0].mask)]


def _export_identity(b, layer, ins):  # Dropout, SpatialDropout1D, InputLayer: identities in inference
    return [ins[0]]


def _export_activation(b, layer, ins):
    return [_Value(b.activation(ins[0].name, layer.activation), ins[0].mask)]


def _export_embedding(b, layer, ins):
    (table,) = layer.get_weights()
    idx = b.op("Cast", [ins[0].name], to=b.onnx.TensorProto.INT64)
    y = b.op("Gather", [b.const(table, "embeddings"), idx], axis=0)
    mask = ins[0].mask
    if layer.mask_zero:
        nonzero = b.op("Not", [b.op("Equal", [idx, b.const(np.int64(0), "zero", np.int64)])])
        mask = _Mask(b.op("Cast", [nonzero], to=b.onnx.TensorProto.FLOAT, hint="mask"), b.padding)
    return [_Value(y, mask)]


def _export_masking(b, layer, ins):
    x = ins[0]
    differs = b.op("Not", [b.op("Equal", [x.name, b.const(np.float32(layer.mask_value))])])
    keep = b.reduce("ReduceMax", b.op("Cast", [differs], to=b.onnx.TensorProto.FLOAT), [2], keepdims=False)
    if x.mask is not None:
        if x.mask.side != b.padding:
            raise _layer_error(layer, "it meets a mask padded on the other side")
        keep = b.op("Mul", [keep, x.mask.keep])
    y = b.op("Mul", [x.name, b.unsqueeze(keep, [2])])
    return [_Value(y, _Mask(keep, b.padding))]


def _export_time_distributed(b, layer, ins):
    inner, x = layer.layer, ins[0]
    if type(inner).__name__ in ("Dense", "Activation", "Dropout"):  # act on the last axis: any rank works
        return [_Value(_export_layer(b, inner, [_Value(x.name)])[0].name, x.mask)]
    sample = tuple(layer.built_input_shape[1:])
    if any(s is None for s in sample):
        raise _layer_error(layer, "its inner layer needs a fully known step shape")
    shape = b.op("Shape", [x.name])
    bt = b.op("Slice", [shape, b.ints([0]), b.ints([2]), b.ints([0])])
    flat = b.op("Reshape", [x.name, b.ints([-1, *sample])])
    y = _export_layer(b, inner, [_Value(flat)])[0].name
    out_sample = tuple(inner.compute_output_shape(sample))
    y = b.op("Reshape", [y, b.op("Concat", [bt, b.ints(list(out_sample))], axis=0)])
    return [_Value(y, x.mask)]


def _export_repeat_vector(b, layer, ins):
    y = b.op("Expand", [b.unsqueeze(ins[0].name, [1]), b.ints([1, layer.n, 1])])
    return [_Value(y)]


def _export_flatten(b, layer, ins):
    return [_Value(b.op("Reshape", [ins[0].name, b.ints([0, -1])]))]


def _export_reshape(b, layer, ins):
    return [_Value(b.op("Reshape", [ins[0].name, b.ints([0, *layer.target_shape])]))]


def _export_permute(b, layer, ins):
    return [_Value(b.op("Transpose", [ins[0].name], perm=[0, *layer.dims]))]


def _export_conv1d(b, layer, ins):
    weights = dict(zip(layer.weight_names, layer.get_weights()))
    K, d, s = layer.kernel_size, layer.dilation_rate, layer.strides
    span = d * (K - 1) + 1
    attrs = {"kernel_shape": [K], "strides": [s], "dilations": [d]}
    if layer.padding == "causal":
        attrs["pads"] = [span - 1, 0]
    elif layer.padding == "same":
        attrs["auto_pad"] = "SAME_UPPER"  # Keras's 'same': the odd zero goes after the last step
    inputs = [b.op("Transpose", [ins[0].name], perm=[0, 2, 1]), b.const(weights["kernel"].transpose(2, 1, 0), "W")]
    if layer.use_bias:
        inputs.append(b.const(weights["bias"], "bias"))
    z = b.op("Transpose", [b.op("Conv", inputs, **attrs)], perm=[0, 2, 1])
    return [_Value(b.activation(z, layer.activation))]


def _export_pooling(b, layer, ins):
    op = "MaxPool" if type(layer).__name__ == "MaxPooling1D" else "AveragePool"
    attrs = {"kernel_shape": [layer.pool_size], "strides": [layer.strides]}
    if layer.padding == "same":
        attrs["auto_pad"] = "SAME_UPPER"
    if op == "AveragePool":
        attrs["count_include_pad"] = 0  # the mean of the real steps in each window
    y = b.op(op, [b.op("Transpose", [ins[0].name], perm=[0, 2, 1])], **attrs)
    return [_Value(b.op("Transpose", [y], perm=[0, 2, 1]))]


def _export_global_pooling(b, layer, ins):
    x = ins[0]
    if type(layer).__name__ == "GlobalMaxPooling1D":
        y = b.reduce("ReduceMax", x.name, [1], layer.keepdims)
    elif x.mask is None:
        y = b.reduce("ReduceMean", x.name, [1], layer.keepdims)
    else:  # the mean of the valid steps
        total = b.reduce("ReduceSum", b.op("Mul", [x.name, b.unsqueeze(x.mask.keep, [2])]), [1], layer.keepdims)
        count = b.reduce("ReduceSum", x.mask.keep, [1], True)
        y = b.op("Div", [total, b.unsqueeze(count, [1]) if layer.keepdims else count])
    return [_Value(y)]


def _norm_axes(layer, axis):
    ndim = len(layer.built_input_shape) + 1
    return sorted(a % ndim for a in (axis if isinstance(axis, (list, tuple)) else [axis]))


def _broadcast_weight(w, axes, ndim):
    shape = [1] * ndim
    for a, n in zip(axes, w.shape):
        shape[a] = n
    return w.reshape(shape)


def _export_layer_normalization(b, layer, ins):
    weights = dict(zip(layer.weight_names, layer.get_weights()))
    axes, ndim = _norm_axes(layer, layer.axis), len(layer.built_input_shape) + 1
    x = ins[0].name
    xc = b.op("Sub", [x, b.reduce("ReduceMean", x, axes, True)])
    var = b.reduce("ReduceMean", b.op("Mul", [xc, xc]), axes, True)
    y = b.op("Div", [xc, b.op("Sqrt", [b.op("Add", [var, b.const(np.float32(layer.epsilon))])])])
    if "gamma" in weights:
        y = b.op("Mul", [y, b.const(_broadcast_weight(weights["gamma"], axes, ndim), "gamma")])
    if "beta" in weights:
        y = b.op("Add", [y, b.const(_broadcast_weight(weights["beta"], axes, ndim), "beta")])
    return [_Value(y, ins[0].mask)]


def _export_batch_normalization(b, layer, ins):
    weights = dict(zip(layer.weight_names, layer.get_weights()))
    axes, ndim = _norm_axes(layer, layer.axis), len(layer.built_input_shape) + 1
    r = 1.0 / np.sqrt(weights["moving_variance"].astype(np.float64) + layer.epsilon)
    scale = r * weights.get("gamma", 1.0)
    shift = weights.get("beta", 0.0) - weights["moving_mean"] * scale
    y = b.op("Mul", [ins[0].name, b.const(_broadcast_weight(np.asarray(scale), axes, ndim), "scale")])
    y = b.op("Add", [y, b.const(_broadcast_weight(np.asarray(shift), axes, ndim), "shift")])
    return [_Value(y, ins[0].mask)]


def _export_cropping(b, layer, ins):
    start, stop = layer.cropping
    y = b.op("Slice", [ins[0].name, b.ints([start]), b.ints([-stop if stop else 2**62]), b.ints([1])])
    return [_Value(y)]


def _export_zero_padding(b, layer, ins):
    before, after = layer.padding
    return [_Value(b.op("Pad", [ins[0].name, b.ints([0, before, 0, 0, after, 0])]))]


def _export_up_sampling(b, layer, ins):
    channels = layer.built_input_shape[-1]
    y = b.op("Expand", [b.unsqueeze(ins[0].name, [2]), b.ints([1, 1, layer.size, 1])])
    return [_Value(b.op("Reshape", [y, b.ints([0, -1, channels])]))]


def _merged_mask(b, layer, ins):
    masks = [v.mask for v in ins if v.mask is not None]
    if not masks:
        return None
    if len({m.side for m in masks}) > 1:
        raise _layer_error(layer, "it merges masks padded on different sides, which sequence lengths cannot express")
    keep = masks[0].keep
    for m in masks[1:]:
        keep = b.op("Mul", [keep, m.keep])
    return _Mask(keep, masks[0].side)


def _export_merge(b, layer, ins):
    kind = type(layer).__name__
    names = [v.name for v in ins]
    if kind == "Concatenate":
        y = b.op("Concat", names, axis=layer.axis)
    elif kind == "Subtract":
        y = b.op("Sub", names)
    else:
        y = names[0]
        for other in names[1:]:
            y = b.op("Mul" if kind == "Multiply" else "Add", [y, other])
        if kind == "Average":
            y = b.op("Mul", [y, b.const(np.float32(1.0 / len(names)))])
    return [_Value(y, _merged_mask(b, layer, ins))]


_EXPORTERS = {
    "LSTM": _export_recurrent,
    "GRU": _export_recurrent,
    "SimpleRNN": _export_recurrent,
    "Bidirectional": _export_bidirectional,
    "Dense": _export_dense,
    "Activation": _export_activation,
    "Dropout": _export_identity,
    "SpatialDropout1D": _export_identity,
    "InputLayer": _export_identity,
    "Embedding": _export_embedding,
    "Masking": _export_masking,
    "TimeDistributed": _export_time_distributed,
    "RepeatVector": _export_repeat_vector,
    "Flatten": _export_flatten,
    "Reshape": _export_reshape,
    "Permute": _export_permute,
    "Conv1D": _export_conv1d,
    "MaxPooling1D": _export_pooling,
    "AveragePooling1D": _export_pooling,
    "GlobalMaxPooling1D": _export_global_pooling,
    "GlobalAveragePooling1D": _export_global_pooling,
    "LayerNormalization": _export_layer_normalization,
    "BatchNormalization": _export_batch_normalization,
    "Cropping1D": _export_cropping,
    "ZeroPadding1D": _export_zero_padding,
    "UpSampling1D": _export_up_sampling,
    "Concatenate": _export_merge,
    "Add": _export_merge,
    "Subtract": _export_merge,
    "Multiply": _export_merge,
    "Average": _export_merge,
}


def _export_layer(b, layer, ins):
    exporter = _EXPORTERS.get(type(layer).__name__)
    if exporter is None:
        raise ValueError(
            f"layer {layer.name!r} ({type(layer).__name__}) has no ONNX exporter; exportable layers: "
            f"{', '.join(sorted(_EXPORTERS))}"
        )
    return exporter(b, layer, ins)


# -- models, estimators, pipelines ---------------------------------------------
def _is_model(obj):
    return hasattr(obj, "graph") and hasattr(obj, "layers") and hasattr(obj, "get_weights")


def _model_inputs(model):
    """``[(sample shape, integer input?)]`` per model input, from public attributes."""
    if not getattr(model, "built", True) or model.input_shape is None:
        raise ValueError("the model is not built yet: give it an input shape or fit it before exporting")
    graph = model.graph
    shapes = model.input_shape
    shapes = [shapes] if graph.n_inputs == 1 else list(shapes)
    integer = [False] * graph.n_inputs
    for node in graph.nodes:
        for src, idx in node.inbound:
            if src < 0 and getattr(node.layer, "integer_input", False):
                integer[idx] = True
    return [(tuple(s)[1:], i) for s, i in zip(shapes, integer)]


def _network(b, model, input_values):
    """Write ``model``'s graph on ``input_values`` (one :class:`_Value` per model input); its output names."""
    graph = model.graph
    values = {}

    def read(port):
        src, idx = port
        return input_values[idx] if src < 0 else values[src][idx]

    for i, node in enumerate(graph.nodes):
        outs = _export_layer(b, node.layer, [read(p) for p in node.inbound])
        if len(outs) != node.n_outputs:
            raise _layer_error(node.layer, f"its exporter gave {len(outs)} outputs, the layer has {node.n_outputs}")
        values[i] = outs
    return [read(p).name for p in graph.outputs]


def _tensor_info(b, name, elem_type, dims):
    return b.onnx.helper.make_tensor_value_info(name, elem_type, dims)


def _dims(sample, steps_name="steps"):
    dims = ["batch"]
    for k, s in enumerate(sample):
        dims.append(s if s is not None else (steps_name if k == 0 else f"dim_{k + 1}"))
    return dims


def _unique_names(names):
    out, seen = [], {}
    for n in names:
        n = str(n)
        seen[n] = seen.get(n, -1) + 1
        out.append(n if seen[n] == 0 else f"{n}_{seen[n]}")
    return out


def _export_model(b, model):
    onnx = b.onnx
    model._sync_host()  # a model trained on the GPU: its newest weights
    specs = _model_inputs(model)
    names = list(getattr(model, "input_names", None) or (["input"] if len(specs) == 1 else []))
    names = _unique_names(names if len(names) == len(specs) else [f"input_{k}" for k in range(len(specs))])
    inputs, values = [], []
    for name, (sample, integer) in zip(names, specs):
        elem = onnx.TensorProto.INT64 if integer else onnx.TensorProto.FLOAT
        inputs.append(_tensor_info(b, name, elem, _dims(sample)))
        values.append(_Value(name))
    outs = _network(b, model, values)
    out_shapes = model.graph.output_shapes([sample for sample, _ in specs])
    out_names = _unique_names(getattr(model, "output_names", None) or [f"output_{k}" for k in range(len(outs))])
    out_names = [n if n not in names else f"{n}_output" for n in out_names]
    outputs = []
    for src, name, shape in zip(outs, out_names, out_shapes):
        b.op("Identity", [src], outputs=[name])
        outputs.append(_tensor_info(b, name, onnx.TensorProto.FLOAT, _dims(shape)))
    return inputs, outputs


def _estimator_network(b, est, x_name):
    if not hasattr(est, "model_"):
        raise ValueError(f"{type(est).__name__} is not fitted yet: call fit before exporting it")
    model = est.model_
    ((sample, _),) = _model_inputs(model)
    if sample[-1] != getattr(est, "n_features_in_", sample[-1]):
        raise ValueError(
            f"{type(est).__name__} was fitted on 2-D input (samples, steps); ONNX export takes estimators fitted "
            f"on 3-D input (samples, steps, features): fit it on X[:, :, None]"
        )
    (y,) = _network(b, model, [_Value(x_name)])
    return y


def _export_estimator(b, est, steps):
    """``steps``: the scalers before ``est`` (objects with ``mean_`` and ``scale_``)."""
    onnx = b.onnx
    if not hasattr(est, "model_"):
        raise ValueError(f"{type(est).__name__} is not fitted yet: call fit before exporting it")
    ((sample, _),) = _model_inputs(est.model_)
    inputs = [_tensor_info(b, "X", onnx.TensorProto.FLOAT, _dims(sample))]
    x = "X"
    for name, step in steps:
        mean, scale = getattr(step, "mean_", None), getattr(step, "scale_", None)
        if scale is None or not hasattr(step, "transform"):
            raise ValueError(
                f"pipeline step {name!r} ({type(step).__name__}) has no ONNX exporter; exportable steps are "
                f"scalers with mean_ and scale_ (SequenceScaler) before a final RNNRegressor or RNNClassifier"
            )
        if mean is not None:
            x = b.op("Sub", [x, b.const(np.asarray(mean, np.float64).reshape(-1), "mean")])
        x = b.op("Div", [x, b.const(np.asarray(scale, np.float64).reshape(-1), "scale")])
    y = _estimator_network(b, est, x)
    (out_sample,) = est.model_.graph.output_shapes([sample])
    if hasattr(est, "classes_"):
        classes = np.asarray(est.classes_)
        proba = y
        if len(classes) == 2:  # one sigmoid unit: P(classes_[1])
            proba = b.op("Concat", [b.op("Sub", [b.const(np.float32(1.0)), y]), y], axis=-1)
        b.op("Identity", [proba], outputs=["output_probability"])
        arg = b.op("ArgMax", ["output_probability"], axis=-1, keepdims=0)
        if classes.dtype.kind in "iub":
            classes = classes.astype(np.int64)
        table = b.const(classes, "classes", None)
        b.op("Gather", [table, arg], outputs=["output_label"], axis=0)
        label_type = onnx.helper.np_dtype_to_tensor_dtype(classes.dtype) if classes.dtype.kind not in "OUS" \
            else onnx.TensorProto.STRING  # fmt: skip
        dims = _dims(out_sample[:-1] + (len(classes),))
        outputs = [_tensor_info(b, "output_label", label_type, dims[:-1]),
                   _tensor_info(b, "output_probability", onnx.TensorProto.FLOAT, dims)]  # fmt: skip
    else:
        b.op("Identity", [y], outputs=["variable"])
        outputs = [_tensor_info(b, "variable", onnx.TensorProto.FLOAT, _dims(out_sample))]
    return inputs, outputs


def to_onnx(obj, path, *, opset=17, padding="pre"):
    """Write a numbarnn model, a fitted estimator or a Pipeline ending in one as an ONNX model.

    Parameters
    ----------
    obj : Sequential, Model, RNNRegressor, RNNClassifier or Pipeline
        A built model; a fitted estimator (fitted on 3-D input); or a fitted
        ``Pipeline`` of ``SequenceScaler`` steps and a final estimator.
    path : str or os.PathLike, or None
        Where to write the ``.onnx`` file; None writes nothing (the model is returned).
    opset : int, default=17
        The ONNX opset, 14 or newer.
    padding : {'pre', 'post'}, default='pre'
        Where masked inputs (``Masking``, ``Embedding(mask_zero=True)``) will have their padding:
        'pre' before the valid steps (``pad_sequences``' default), 'post' after them. The
        exported model computes each sequence's number of valid steps and assumes that side;
        other mask patterns cannot be expressed.

    Returns
    -------
    onnx.ModelProto
        The model written. Inputs: a model's input names (int64 for an Embedding's input,
        float32 otherwise) or ``X`` for an estimator; outputs: a model's output names, or
        ``variable`` (regressor) or ``output_label`` and ``output_probability`` (classifier).

    Raises
    ------
    ImportError
        The onnx package is missing (``pip install "numbarnn[onnx]"``).
    ValueError
        A layer or pipeline step without an exporter (named), a stateful layer, an unfitted
        estimator, an estimator fitted on 2-D input, or a bad ``opset``/``padding``.
    """
    onnx = _require_onnx()
    if padding not in ("pre", "post"):
        raise ValueError(f"padding must be 'pre' or 'post'; got {padding!r}")
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be an int from {MIN_OPSET} to {newest}; got {opset!r}")
    b = _Builder(onnx, int(opset), padding)
    if _is_model(obj):
        inputs, outputs = _export_model(b, obj)
        name = getattr(obj, "name", "numbarnn")
    elif hasattr(obj, "steps") and isinstance(obj.steps, list) and obj.steps:
        steps = [(n, s) for n, s in obj.steps if s is not None and s != "passthrough"]
        inputs, outputs = _export_estimator(b, steps[-1][1], steps[:-1])
        name = "pipeline"
    elif hasattr(obj, "hidden_layer_sizes") or hasattr(obj, "model_"):
        inputs, outputs = _export_estimator(b, obj, [])
        name = type(obj).__name__
    else:
        raise TypeError(
            f"to_onnx takes a numbarnn model, a fitted RNNRegressor/RNNClassifier or a Pipeline ending in one; "
            f"got {type(obj).__name__}"
        )
    graph = onnx.helper.make_graph(b.nodes, str(name), inputs, outputs, b.initializers)
    opsets = [onnx.helper.make_opsetid("", int(opset))]
    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="numbarnn")
    proto.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(proto)
    if path is not None:
        onnx.save(proto, os.fspath(path))
    return proto


def export(model, path, format="onnx", **kwargs):
    """Keras 3's ``model.export(path, format="onnx")``: :func:`to_onnx` under that spelling.

    Parameters
    ----------
    model : Sequential or Model
    path : str or os.PathLike
    format : {'onnx'}, default='onnx'
        The only format numbarnn exports to.
    **kwargs
        ``opset`` and ``padding``, as for :func:`to_onnx`.
    """
    if format != "onnx":
        raise ValueError(f"export writes format='onnx' only; got format={format!r}")
    return to_onnx(model, path, **kwargs)
