"""Plain-numpy references for the Keras layers and losses, written from Keras's definitions.

Independent of ``numbarnn``: Python loops and elementwise formulas, float64
throughout. The recurrent cells themselves come from ``tests/reference.py``;
this module adds what a layer does around them (go_backwards, return_sequences,
Bidirectional merging), the non-recurrent layers, the losses and the weight
penalties.
"""

import numpy as np

from . import reference

EPSILON = 1e-7  # Keras's backend epsilon, used to clip probabilities


# -- activations ----------------------------------------------------------------
def activation(name, z):
    """Keras's activation ``name`` applied to ``z`` (softmax over the last axis)."""
    z = np.asarray(z, dtype=float)
    if name in (None, "linear"):
        return z.copy()
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "tanh":
        return (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "softmax":
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)
    if name == "hard_sigmoid":  # Keras 3: relu6(z + 3) / 6
        return np.minimum(np.maximum(z + 3.0, 0.0), 6.0) / 6.0
    if name == "softplus":
        return np.log(1.0 + np.exp(z))
    raise ValueError(name)


# -- non-recurrent layers ---------------------------------------------------------
def dense(x, kernel, bias=None, act=None):
    """``act(x @ kernel + bias)`` on the last axis, one output unit at a time."""
    x = np.asarray(x, dtype=float)
    z = np.zeros(x.shape[:-1] + (kernel.shape[1],))
    for u in range(kernel.shape[1]):
        z[..., u] = (x * kernel[:, u]).sum(axis=-1) + (0.0 if bias is None else bias[u])
    return activation(act, z)


def embedding(indices, table):
    """Row ``table[i]`` for every index ``i``."""
    indices = np.asarray(indices)
    out = np.zeros(indices.shape + (table.shape[1],))
    for pos in np.ndindex(indices.shape):
        out[pos] = table[int(indices[pos])]
    return out


def masking(x, mask_value=0.0):
    """Keras's Masking: (outputs with masked steps zeroed, mask of steps with any feature != mask_value)."""
    x = np.asarray(x, dtype=float)
    B, T, _ = x.shape
    keep = np.zeros((B, T), bool)
    out = np.zeros_like(x)
    for i in range(B):
        for t in range(T):
            keep[i, t] = any(v != mask_value for v in x[i, t])
            if keep[i, t]:
                out[i, t] = x[i, t]
    return out, keep


def repeat_vector(x, n):
    """(B, F) to (B, n, F), every step a copy of the input."""
    x = np.asarray(x, dtype=float)
    out = np.zeros((x.shape[0], n, x.shape[1]))
    for t in range(n):
        out[:, t] = x
    return out


def time_distributed(fn, x):
    """Apply ``fn`` to every step ``x[:, t]`` and stack the results on axis 1."""
    return np.stack([fn(x[:, t]) for t in range(x.shape[1])], axis=1)


# -- recurrent layers -------------------------------------------------------------
def rnn_layer(cell, x, W, U, b=None, *, mask=None, go_backwards=False, return_sequences=False,
              activation="tanh", recurrent_activation="sigmoid", reset_after=True, zero_output=False):  # fmt: skip
    """A Keras recurrent layer's output, built on the reference cell.

    With ``go_backwards`` the sequence is read from its end and, with
    ``return_sequences``, the outputs come in reading order (reversed), as Keras
    returns them.
    """
    x = np.asarray(x, dtype=float)
    out, h, _, _ = reference.forward(
        cell, x, np.asarray(W, float), np.asarray(U, float), None if b is None else np.asarray(b, float),
        mask=mask, activation=activation, recurrent_activation=recurrent_activation, reset_after=reset_after,
        reverse=go_backwards, zero_output=zero_output,
    )  # fmt: skip
    if not return_sequences:
        return h
    return out[:, ::-1] if go_backwards else out


def merge(mode, a, b):
    """Keras's Bidirectional merge of the forward output ``a`` and the backward output ``b``."""
    if mode == "concat":
        return np.concatenate([a, b], axis=-1)
    if mode == "sum":
        return a + b
    if mode == "ave":
        return (a + b) / 2.0
    if mode == "mul":
        return a * b
    raise ValueError(mode)


def bidirectional(cell, x, forward_weights, backward_weights, merge_mode, *, mask=None, return_sequences=False,
                  **kw):  # fmt: skip
    """Keras's Bidirectional: the backward layer reads reversed, its sequence is flipped back before merging.

    With ``return_sequences`` Keras makes both directions output zeros at masked steps.
    """
    zero = return_sequences and mask is not None
    yf = rnn_layer(cell, x, *forward_weights, mask=mask, return_sequences=return_sequences, zero_output=zero, **kw)
    yb = rnn_layer(cell, x, *backward_weights, mask=mask, go_backwards=True, return_sequences=return_sequences,
                   zero_output=zero, **kw)  # fmt: skip
    if return_sequences:
        yb = yb[:, ::-1]
    return merge(merge_mode, yf, yb)


# -- losses (values per sample or step: the mean over the last axis, Keras's definitions) ---------
def mse(y, p):
    return ((np.asarray(y, float) - p) ** 2).mean(axis=-1)


def mae(y, p):
    return np.abs(np.asarray(y, float) - p).mean(axis=-1)


def huber(y, p, delta=1.0):
    e = np.abs(np.asarray(p, float) - y)
    return np.where(e <= delta, 0.5 * e**2, delta * e - 0.5 * delta**2).mean(axis=-1)


def binary_crossentropy(y, p, from_logits=False):
    y = np.asarray(y, float)
    if from_logits:  # no clipping: Keras uses the exact sigmoid cross-entropy
        s = 1.0 / (1.0 + np.exp(-np.asarray(p, float)))
        return -(y * np.log(s) + (1.0 - y) * np.log(1.0 - s)).mean(axis=-1)
    p = np.clip(p, EPSILON, 1.0 - EPSILON)
    return -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)).mean(axis=-1)


def categorical_crossentropy(y, p, from_logits=False):
    """``-sum(y log p)``; probabilities are first renormalised to sum to one, then clipped."""
    y = np.asarray(y, float)
    if from_logits:  # no clipping: Keras uses the exact log-softmax
        return -(y * np.log(activation("softmax", p))).sum(axis=-1)
    p = p / p.sum(axis=-1, keepdims=True)
    p = np.clip(p, EPSILON, 1.0 - EPSILON)
    return -(y * np.log(p)).sum(axis=-1)


def sparse_categorical_crossentropy(labels, p, from_logits=False):
    labels = np.asarray(labels).astype(int)
    one_hot = np.zeros(np.shape(p))
    for pos in np.ndindex(labels.shape):
        one_hot[pos + (labels[pos],)] = 1.0
    return categorical_crossentropy(one_hot, p, from_logits)


def reduce_loss(values, sample_weight=None, mask=None):
    """Keras's ``sum_over_batch_size``: sum of weighted values over the number of (unmasked) values."""
    values = np.asarray(values, float)
    w = np.ones(values.shape)
    if sample_weight is not None:
        sw = np.asarray(sample_weight, float)
        w = w * sw.reshape(sw.shape + (1,) * (values.ndim - sw.ndim))
    count = values.size
    if mask is not None:
        w = w * mask
        count = int(np.sum(mask))
    return float((values * w).sum() / count)


def penalty(w, l1=0.0, l2=0.0):
    """Keras's L1L2 penalty: ``l1 * sum|w| + l2 * sum w**2``."""
    w = np.asarray(w, float)
    return l1 * np.abs(w).sum() + l2 * (w * w).sum()
