"""The recurrent engine's Python boundary: validate, lay out, call the kernels.

Three functions make up the engine:

- :func:`rnn_forward` runs a cell over a batch and keeps what the backward pass
  needs (a :class:`RNNTape`);
- :func:`rnn_backward` takes that tape and upstream gradients and returns the
  gradients of the inputs, the initial states and every weight;
- :func:`rnn_inference` runs the same forward pass and keeps nothing.

Weight layout. The public layout is Keras's: ``kernel`` (features, G*units),
``recurrent_kernel`` (units, G*units), ``bias`` (G*units,) or, for a GRU with
``reset_after=True``, (2, 3*units) holding the input and the recurrent bias;
gate blocks i, f, c, o (LSTM) and z, r, h (GRU). That row-major layout is also
the fastest for the kernels (a step's recurrent product is one
(batch, units) x (units, G*units) matrix product whose output rows hold every
gate of a unit close together), so the only conversions, all made here, are:
inputs and outputs go time-major ``(T, B, .)`` so a step's slice is contiguous;
the kernels compute each step's input projection ``x_t W + b`` just before its
recurrent product, so the projection of the whole sequence never goes through
memory; the backward pass gets the transposed recurrent kernel; a GRU with
``reset_after=False`` gets its recurrent kernel split into the z-r and h blocks.
All weight gradients are large matrix products over every step after the time
loop, so they do not depend on how the batch was split across threads.

Direction. ``reverse=True`` reads the sequence from its last step to its first
(the backward half of a bidirectional layer). Outputs stay aligned with the
input steps: ``outputs[:, t]`` is the state after reading step ``t``.

Masks. ``mask[b, t] == False`` marks a padded step: the state is carried
through unchanged and the step's output is that carried state, or zeros with
``zero_output_for_mask=True``.

Dropout. ``dropout_mask`` (batch, features) multiplies every step's input and
``recurrent_dropout_mask`` (batch, units) multiplies ``h_{t-1}`` wherever it
enters a recurrent matrix product (the GRU's carried term ``z * h_{t-1}`` uses
the undropped state). Callers draw the masks once per sequence (scaled by
``1 / (1 - rate)``, as Keras does), and they apply whenever they are given.

Memory. A training forward keeps, per sequence step and sample, F + 6H numbers
for an LSTM, F + 5H for a GRU and F + H for a SimpleRNN (F features, H units);
the backward pass allocates G*H + H + F more (G = 4, 3, 1) for the duration of
the call. Inference keeps the time-major copy of the input (F per step) and,
with ``return_sequences``, H outputs per step. All of it grows linearly with T.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import _threads
from ._validation import as_float_array, as_mask, check_bool, check_choice, working_dtype
from .kernels.activations import CODES
from .kernels.gru import gru_backward, gru_forward
from .kernels.lstm import lstm_backward, lstm_forward
from .kernels.simple_rnn import simple_backward, simple_forward

__all__ = ["rnn_forward", "rnn_backward", "rnn_inference", "RNNTape", "RNNGradients", "CELLS"]

# Number of gate blocks per cell type.
CELLS = {"lstm": 4, "gru": 3, "simple": 1}


@dataclass(frozen=True)
class _Plan:
    """Checked, laid-out inputs for one call (internal)."""

    cell: str
    dtype: np.dtype
    n_batch: int
    n_steps: int
    n_features: int
    units: int
    act: int
    ract: int
    reset_after: bool
    reverse: bool
    return_sequences: bool
    zero_masked: bool
    xt: np.ndarray  # (T, B, F) dropped-out input, time-major, in reading order
    kernel: np.ndarray  # (F, G*H)
    recurrent_kernel: np.ndarray  # (H, G*H)
    bias_in: np.ndarray  # (G*H,) input bias (zeros without bias)
    bias_rec: np.ndarray  # (3H,) recurrent bias of a reset_after GRU, else (0,)
    has_bias: bool
    states0: tuple  # (h0,) or (h0, c0), each (B, H)
    mask_t: np.ndarray  # (T, B) uint8 in reading order, or (0, 0)
    rmask: np.ndarray  # (B, H) or (0, 0)
    dmask: np.ndarray  # (B, F) or None


class RNNTape:
    """What :func:`rnn_forward` keeps for :func:`rnn_backward`.

    Treat it as opaque; it holds plain arrays only, time-major, in reading order.

    Attributes
    ----------
    cell : str
        'lstm', 'gru' or 'simple'.
    nbytes : int
        Memory held by the tape's own arrays, in bytes.
    """

    def __init__(self, plan, hs, cs, gates, us):
        self._plan = plan
        self._hs = hs
        self._cs = cs
        self._gates = gates
        self._us = us

    @property
    def cell(self):
        return self._plan.cell

    @property
    def nbytes(self):
        arrays = (self._plan.xt, self._hs, self._cs, self._gates, self._us)
        return int(sum(a.nbytes for a in arrays))


class RNNGradients(NamedTuple):
    """Gradients returned by :func:`rnn_backward`, shaped like the forward arguments.

    Attributes
    ----------
    x : ndarray of shape (batch, steps, features)
    initial_state : list of ndarray of shape (batch, units)
        ``[dh0, dc0]`` for an LSTM, ``[dh0]`` otherwise.
    kernel : ndarray of shape (features, G*units)
    recurrent_kernel : ndarray of shape (units, G*units)
    bias : ndarray of shape (G*units,) or (2, 3*units), or None without bias
    """

    x: np.ndarray
    initial_state: list
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: object


def _plan(
    x,
    kernel,
    recurrent_kernel,
    bias,
    cell,
    initial_state,
    mask,
    dropout_mask,
    recurrent_dropout_mask,
    activation,
    recurrent_activation,
    reset_after,
    reverse,
    return_sequences,
    zero_output_for_mask,
    dtype,
):
    check_choice(cell, "cell", CELLS)
    check_choice(activation, "activation", CODES)
    check_choice(recurrent_activation, "recurrent_activation", CODES)
    reset_after = check_bool(reset_after, "reset_after")
    reverse = check_bool(reverse, "reverse")
    return_sequences = check_bool(return_sequences, "return_sequences")
    zero_masked = check_bool(zero_output_for_mask, "zero_output_for_mask")
    dtype = working_dtype(dtype, kernel)
    G = CELLS[cell]

    x = as_float_array(x, "x", dtype, ndim=3)
    B, T, F = x.shape
    if B == 0:
        raise ValueError(f"x must hold at least one sequence; got shape {x.shape}")
    if T == 0:
        raise ValueError(f"x must hold sequences of at least one step; got shape {x.shape}")
    if F == 0:
        raise ValueError(f"x must have at least one feature per step; got shape {x.shape}")

    recurrent_kernel = as_float_array(recurrent_kernel, "recurrent_kernel", dtype, ndim=2)
    H = recurrent_kernel.shape[0]
    if H == 0 or recurrent_kernel.shape != (H, G * H):
        raise ValueError(
            f"recurrent_kernel must have shape (units, {G}*units) for a {cell} cell; "
            f"got shape {recurrent_kernel.shape}"
        )
    kernel = as_float_array(kernel, "kernel", dtype, ndim=2)
    if kernel.shape != (F, G * H):
        raise ValueError(
            f"kernel must have shape (features, {G}*units) = ({F}, {G * H}) for x with {F} features "
            f"and {H} units; got shape {kernel.shape}"
        )

    gru_after = cell == "gru" and reset_after
    if bias is None:
        bias_in = np.zeros(G * H, dtype)
        bias_rec = np.zeros(3 * H if gru_after else 0, dtype)
    elif gru_after:
        b = as_float_array(bias, "bias", dtype, shape=(2, 3 * H))
        bias_in, bias_rec = b[0].copy(), b[1].copy()
    else:
        bias_in = as_float_array(bias, "bias", dtype, shape=(G * H,))
        bias_rec = np.zeros(0, dtype)

    n_states = 2 if cell == "lstm" else 1
    if initial_state is None:
        states0 = tuple(np.zeros((B, H), dtype) for _ in range(n_states))
    else:
        if n_states == 1 and not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != n_states:
            raise ValueError(
                f"initial_state must be a list of {n_states} arrays of shape (batch, units) "
                f"for a {cell} cell; got {type(initial_state).__name__}"
                + (f" of length {len(initial_state)}" if isinstance(initial_state, (list, tuple)) else "")
            )
        states0 = tuple(
            as_float_array(s, f"initial_state[{i}]", dtype, shape=(B, H)) for i, s in enumerate(initial_state)
        )

    if mask is None:
        mask_t = np.zeros((0, 0), np.uint8)
    else:
        mask_t = as_mask(mask, "mask", (B, T)).T
        mask_t = np.ascontiguousarray(mask_t[::-1] if reverse else mask_t)
    dmask = None if dropout_mask is None else as_float_array(dropout_mask, "dropout_mask", dtype, shape=(B, F))
    if recurrent_dropout_mask is None:
        rmask = np.zeros((0, 0), dtype)
    else:
        rmask = as_float_array(recurrent_dropout_mask, "recurrent_dropout_mask", dtype, shape=(B, H))

    xd = x if dmask is None else x * dmask[:, None, :]
    xt = xd.transpose(1, 0, 2)
    xt = np.ascontiguousarray(xt[::-1] if reverse else xt)
    return _Plan(
        cell=cell,
        dtype=dtype,
        n_batch=B,
        n_steps=T,
        n_features=F,
        units=H,
        act=CODES[activation],
        ract=CODES[recurrent_activation],
        reset_after=reset_after,
        reverse=reverse,
        return_sequences=return_sequences,
        zero_masked=zero_masked,
        xt=xt,
        kernel=kernel,
        recurrent_kernel=recurrent_kernel,
        bias_in=bias_in,
        bias_rec=bias_rec,
        has_bias=bias is not None,
        states0=states0,
        mask_t=mask_t,
        rmask=rmask,
        dmask=dmask,
    )


def _empty3(dtype):
    return np.zeros((0, 0, 0), dtype)


def _chunks(p):
    G = CELLS[p.cell]
    return _threads.split_rows(p.n_batch, p.n_steps * G * p.units * (p.units + p.n_features))


def _gru_split(p):
    """Recurrent weights as the GRU kernel takes them: (ua, uh)."""
    H = p.units
    if p.reset_after:
        return p.recurrent_kernel, np.zeros((0, 0), p.dtype)
    return (
        np.ascontiguousarray(p.recurrent_kernel[:, : 2 * H]),
        np.ascontiguousarray(p.recurrent_kernel[:, 2 * H :]),
    )


def _run_forward(p, training):
    """Run the kernel; return (hs, h_last, c_last, cs, gates, us) in reading order."""
    T, B, H, G, dt = p.n_steps, p.n_batch, p.units, CELLS[p.cell], p.dtype
    keep_h = training or p.return_sequences
    hs = np.empty((T, B, H), dt) if keep_h else _empty3(dt)
    cs = np.empty((T, B, H), dt) if training and p.cell == "lstm" else _empty3(dt)
    gates = np.empty((T, B, G * H), dt) if training and p.cell != "simple" else _empty3(dt)
    us = np.empty((T, B, H), dt) if training and p.cell == "gru" and p.reset_after else _empty3(dt)
    h_last = np.empty((B, H), dt)
    c_last = np.empty((B, H), dt) if p.cell == "lstm" else None
    if p.cell == "lstm":
        h0, c0 = p.states0

        def step(b0, b1):
            lstm_forward(
                p.xt, p.kernel, p.bias_in, p.recurrent_kernel, h0, c0, p.mask_t, p.rmask, p.act, p.ract, b0, b1,
                hs, cs, gates, h_last, c_last,
            )  # fmt: skip

    elif p.cell == "gru":
        ua, uh = _gru_split(p)

        def step(b0, b1):
            gru_forward(
                p.xt, p.kernel, p.bias_in, ua, uh, p.bias_rec, p.states0[0], p.mask_t, p.rmask, p.act, p.ract,
                p.reset_after, b0, b1, hs, gates, us, h_last,
            )  # fmt: skip

    else:

        def step(b0, b1):
            simple_forward(
                p.xt, p.kernel, p.bias_in, p.recurrent_kernel, p.states0[0], p.mask_t, p.rmask, p.act, b0, b1,
                hs, h_last,
            )  # fmt: skip

    _threads.run_chunks(step, _chunks(p))
    return hs, h_last, c_last, cs, gates, us


def _outputs(p, hs, h_last, c_last):
    states = [h_last] if c_last is None else [h_last, c_last]
    if not p.return_sequences:
        return h_last.copy(), states
    seq = hs[::-1] if p.reverse else hs
    out = np.ascontiguousarray(seq.transpose(1, 0, 2))
    if p.zero_masked and p.mask_t.size:
        m = p.mask_t[::-1] if p.reverse else p.mask_t
        out *= m.T[:, :, None]
    return out, states


_DOC_ARGS = """
    x : array-like of shape (batch, steps, features)
        Input sequences; numbers of any real dtype (converted to the working dtype).
    kernel : array-like of shape (features, G*units)
        Input weights, gate blocks in Keras order (G = 4 for 'lstm', 3 for 'gru', 1 for 'simple').
    recurrent_kernel : array-like of shape (units, G*units)
        Recurrent weights.
    bias : array-like of shape (G*units,) or, for a GRU with ``reset_after``, (2, 3*units); optional
        ``None`` means no bias.
    cell : {'lstm', 'gru', 'simple'}, default='lstm'
    initial_state : list of array-like of shape (batch, units), optional
        ``[h0, c0]`` for an LSTM, ``[h0]`` (or ``h0``) otherwise; zeros by default.
    mask : array-like of bool of shape (batch, steps), optional
        False marks a padded step, which carries the state through unchanged."""

_DOC_DROPOUT = """
    dropout_mask : array-like of shape (batch, features), optional
        Multiplies every step's input.
    recurrent_dropout_mask : array-like of shape (batch, units), optional
        Multiplies ``h_{t-1}`` where it enters the recurrent products."""

_DOC_OPTIONS = """
    activation : {'tanh', 'relu', 'linear', 'sigmoid', 'hard_sigmoid'}, default='tanh'
    recurrent_activation : {'sigmoid', 'hard_sigmoid', 'tanh', 'relu', 'linear'}, default='sigmoid'
        Gate activation (LSTM and GRU only).
    reset_after : bool, default=True
        GRU form: reset gate after the recurrent product (two biases) or before.
    reverse : bool, default=False
        Read the sequence from its last step; outputs stay aligned with the input steps.
    return_sequences : bool, default=False
        Return every step's output, shape (batch, steps, units), or only the last
        (the final state), shape (batch, units).
    zero_output_for_mask : bool, default=False
        Masked steps output zeros instead of the carried state.
    dtype : {'float32', 'float64'}, optional
        Working dtype; by default the kernel's if it is float32 or float64, else float32.
"""


def rnn_forward(
    x,
    kernel,
    recurrent_kernel,
    bias=None,
    *,
    cell="lstm",
    initial_state=None,
    mask=None,
    dropout_mask=None,
    recurrent_dropout_mask=None,
    activation="tanh",
    recurrent_activation="sigmoid",
    reset_after=True,
    reverse=False,
    return_sequences=False,
    zero_output_for_mask=False,
    dtype=None,
):
    p = _plan(
        x, kernel, recurrent_kernel, bias, cell, initial_state, mask, dropout_mask, recurrent_dropout_mask,
        activation, recurrent_activation, reset_after, reverse, return_sequences, zero_output_for_mask, dtype,
    )  # fmt: skip
    with _threads.blas_single_thread():
        hs, h_last, c_last, cs, gates, us = _run_forward(p, training=True)
    outputs, states = _outputs(p, hs, h_last, c_last)
    return outputs, states, RNNTape(p, hs, cs, gates, us)


rnn_forward.__doc__ = (
    """Run a recurrent cell over a batch of sequences, keeping what the backward pass needs.

    Parameters
    ----------"""
    + _DOC_ARGS
    + _DOC_DROPOUT
    + _DOC_OPTIONS
    + """
    Returns
    -------
    outputs : ndarray of shape (batch, steps, units) or (batch, units)
    states : list of ndarray of shape (batch, units)
        Final states: ``[h, c]`` for an LSTM, ``[h]`` otherwise.
    tape : RNNTape
        Input to :func:`rnn_backward`.

    Notes
    -----
    Memory: the tape keeps, per step and sample, F + 6H numbers for an LSTM,
    F + 5H for a GRU and F + H for a SimpleRNN (``tape.nbytes`` tells); the
    backward pass allocates G*H + H + F more while it runs. Everything grows
    linearly with the number of steps.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn import rnn_forward, rnn_backward
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(2, 5, 3))
    >>> W, U = rng.normal(size=(3, 16)) * 0.3, rng.normal(size=(4, 16)) * 0.3
    >>> out, (h, c), tape = rnn_forward(x, W, U, np.zeros(16), cell="lstm")
    >>> out.shape, out.dtype
    ((2, 4), dtype('float64'))
    >>> grads = rnn_backward(tape, d_outputs=np.ones_like(out))
    >>> grads.kernel.shape
    (3, 16)
    """
)


def rnn_inference(
    x,
    kernel,
    recurrent_kernel,
    bias=None,
    *,
    cell="lstm",
    initial_state=None,
    mask=None,
    activation="tanh",
    recurrent_activation="sigmoid",
    reset_after=True,
    reverse=False,
    return_sequences=False,
    zero_output_for_mask=False,
    dtype=None,
):
    p = _plan(
        x, kernel, recurrent_kernel, bias, cell, initial_state, mask, None, None,
        activation, recurrent_activation, reset_after, reverse, return_sequences, zero_output_for_mask, dtype,
    )  # fmt: skip
    with _threads.blas_single_thread():
        hs, h_last, c_last, _, _, _ = _run_forward(p, training=False)
    return _outputs(p, hs, h_last, c_last)


rnn_inference.__doc__ = (
    """Run a recurrent cell over a batch of sequences for prediction; nothing is kept for training.

    Parameters
    ----------"""
    + _DOC_ARGS
    + _DOC_OPTIONS
    + """
    Returns
    -------
    outputs : ndarray of shape (batch, steps, units) or (batch, units)
    states : list of ndarray of shape (batch, units)
        Final states: ``[h, c]`` for an LSTM, ``[h]`` otherwise.
    """
)


def rnn_backward(tape, d_outputs=None, d_states=None):
    """Backpropagate through time from gradients on the outputs and final states.

    Parameters
    ----------
    tape : RNNTape
        From :func:`rnn_forward`.
    d_outputs : array-like shaped like the forward ``outputs``, optional
        Gradient of the loss with respect to the outputs; zeros if omitted.
    d_states : list of array-like of shape (batch, units), optional
        Gradient with respect to the final states (``[dh, dc]`` for an LSTM);
        ``None`` entries or an omitted list mean zeros.

    Returns
    -------
    grads : RNNGradients
        Gradients of ``x``, the initial states, ``kernel``, ``recurrent_kernel`` and ``bias``,
        in the working dtype.
    """
    if not isinstance(tape, RNNTape):
        raise TypeError(f"tape must be the RNNTape returned by rnn_forward; got {type(tape).__name__}")
    p = tape._plan
    T, B, H, F, G, dt = p.n_steps, p.n_batch, p.units, p.n_features, CELLS[p.cell], p.dtype
    n_states = 2 if p.cell == "lstm" else 1

    d_last = [np.zeros((B, H), dt) for _ in range(n_states)]
    if d_states is not None:
        if n_states == 1 and not isinstance(d_states, (list, tuple)):
            d_states = [d_states]
        if not isinstance(d_states, (list, tuple)) or len(d_states) != n_states:
            raise ValueError(f"d_states must be a list of {n_states} arrays of shape (batch, units) or None")
        for i, g in enumerate(d_states):
            if g is not None:
                d_last[i] = as_float_array(g, f"d_states[{i}]", dt, shape=(B, H)).copy()
    dhs = _empty3(dt)
    if d_outputs is not None:
        shape = (B, T, H) if p.return_sequences else (B, H)
        d_out = as_float_array(d_outputs, "d_outputs", dt, shape=shape)
        if p.return_sequences:
            seq = d_out.transpose(1, 0, 2)
            dhs = np.ascontiguousarray(seq[::-1] if p.reverse else seq)
        else:
            d_last[0] += d_out

    with _threads.blas_single_thread():
        return _backward(tape, p, d_last, dhs, T, B, H, F, G, dt)


def _backward(tape, p, d_last, dhs, T, B, H, F, G, dt):
    dz = np.empty((T, B, G * H), dt)
    dh0 = np.empty((B, H), dt)
    dc0 = np.empty((B, H), dt) if p.cell == "lstm" else None
    if p.cell == "lstm":
        ut = np.ascontiguousarray(p.recurrent_kernel.T)

        def step(b0, b1):
            lstm_backward(
                ut, p.states0[1], p.mask_t, p.rmask, p.act, p.ract, b0, b1, tape._cs, tape._gates, dhs,
                d_last[0], d_last[1], p.zero_masked, dz, dh0, dc0,
            )  # fmt: skip

    elif p.cell == "gru":
        ua, uh = _gru_split(p)
        uat, uht = np.ascontiguousarray(ua.T), np.ascontiguousarray(uh.T)

        def step(b0, b1):
            gru_backward(
                uat, uht, p.states0[0], p.mask_t, p.rmask, p.act, p.ract, p.reset_after, b0, b1, tape._hs,
                tape._gates, tape._us, dhs, d_last[0], p.zero_masked, dz, dh0,
            )  # fmt: skip

    else:
        ut = np.ascontiguousarray(p.recurrent_kernel.T)

        def step(b0, b1):
            simple_backward(ut, p.mask_t, p.rmask, p.act, b0, b1, tape._hs, dhs, d_last[0], p.zero_masked, dz, dh0)

    _threads.run_chunks(step, _chunks(p))

    # Weight gradients: one large product over all steps and samples each.
    dz2 = dz.reshape(T * B, G * H)
    d_kernel = _threads.matmul(p.xt.reshape(T * B, F).T, dz2)
    d_bias_in = dz2.sum(axis=0)
    hd = np.empty((T, B, H), dt)
    hd[0] = p.states0[0]
    hd[1:] = tape._hs[:-1]
    if p.rmask.size:
        hd *= p.rmask
    hd2 = hd.reshape(T * B, H)
    d_bias = None
    if p.cell == "gru" and p.reset_after:
        # The recurrent side sees the h block's gradient scaled by r.
        dzh_r = dz2[:, 2 * H :] * tape._gates.reshape(T * B, 3 * H)[:, H : 2 * H]
        d_rec = np.empty((H, 3 * H), dt)
        _threads.matmul(hd2.T, dz2[:, : 2 * H], out=d_rec[:, : 2 * H])
        _threads.matmul(hd2.T, dzh_r, out=d_rec[:, 2 * H :])
        if p.has_bias:
            d_bias = np.stack([d_bias_in, np.concatenate([d_bias_in[: 2 * H], dzh_r.sum(axis=0)])])
    elif p.cell == "gru":
        d_rec = np.empty((H, 3 * H), dt)
        _threads.matmul(hd2.T, dz2[:, : 2 * H], out=d_rec[:, : 2 * H])
        rhd = hd2 * tape._gates.reshape(T * B, 3 * H)[:, H : 2 * H]
        _threads.matmul(rhd.T, dz2[:, 2 * H :], out=d_rec[:, 2 * H :])
    else:
        d_rec = _threads.matmul(hd2.T, dz2)
    if d_bias is None and p.has_bias:
        d_bias = d_bias_in

    dxt = _threads.matmul(dz2, p.kernel.T).reshape(T, B, F)
    dx = np.ascontiguousarray((dxt[::-1] if p.reverse else dxt).transpose(1, 0, 2))
    if p.dmask is not None:
        dx *= p.dmask[:, None, :]
    d_init = [dh0] if dc0 is None else [dh0, dc0]
    return RNNGradients(dx, d_init, d_kernel, d_rec, d_bias)
