"""The engine's public functions: run a cell over a batch, backpropagate through time.

- :func:`rnn_forward` runs a cell over a batch and keeps what the backward pass
  needs (an :class:`RNNTape`);
- :func:`rnn_backward` takes that tape and upstream gradients and returns the
  gradients of the inputs, the initial states and every weight;
- :func:`rnn_inference` runs the same forward pass and keeps nothing.

Each call is: a plan (:mod:`.plan`: validate, lay out), then the cell's adaptor
(:mod:`.cells`: buffers, kernels, weight gradients). Nothing here depends on
the cell.

Weight layout. The public layout is Keras's: ``kernel`` (features, G*units),
``recurrent_kernel`` (units, G*units), ``bias`` (G*units,) or, for a GRU with
``reset_after=True``, (2, 3*units) holding the input and the recurrent bias;
gate blocks i, f, c, o (LSTM) and z, r, h (GRU). That row-major layout is also
the fastest for the kernels (a step's recurrent product is one
(batch, units) x (units, G*units) matrix product whose output rows hold every
gate of a unit close together), so the only conversions, all made in the plan
and the adaptors, are: inputs and outputs go time-major ``(T, B, .)`` so a
step's slice is contiguous; the kernels compute each step's input projection
``x_t W + b`` just before its recurrent product, so the projection of the whole
sequence never goes through memory; the backward pass gets the transposed
recurrent kernel; a GRU with ``reset_after=False`` gets its recurrent kernel
split into the z-r and h blocks.

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

from typing import NamedTuple

import numpy as np

from .. import _threads
from .._validation import as_float_array
from .plan import make_plan

__all__ = ["rnn_forward", "rnn_backward", "rnn_inference", "RNNTape", "RNNGradients"]


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

    def __init__(self, plan, buffers):
        self.plan = plan
        self.buffers = buffers

    @property
    def cell(self):
        return self.plan.cell

    @property
    def nbytes(self):
        return int(self.plan.xt.nbytes + self.buffers.nbytes)


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


def run_forward(p, training):
    """Run plan ``p`` forward; return its :class:`~numbarnn.engine.cells.ForwardBuffers`."""
    buf = p.adaptor.forward_buffers(p, training)
    with _threads.blas_single_thread():
        p.adaptor.forward(p, buf)
    return buf


def outputs_of(p, buf):
    """The public ``(outputs, states)`` of a forward pass: batch-major, aligned with the input steps."""
    states = list(buf.states)
    if not p.return_sequences:
        return states[0].copy(), states
    seq = buf.hs[::-1] if p.reverse else buf.hs
    out = np.ascontiguousarray(seq.transpose(1, 0, 2))
    if p.zero_masked and p.mask_t.size:
        m = p.mask_t[::-1] if p.reverse else p.mask_t
        out *= m.T[:, :, None]
    return out, states


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
    device="cpu",
):
    """Run a recurrent cell over a batch of sequences, keeping what the backward pass needs.

    Parameters
    ----------
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
        False marks a padded step, which carries the state through unchanged.
    dropout_mask : array-like of shape (batch, features), optional
        Multiplies every step's input.
    recurrent_dropout_mask : array-like of shape (batch, units), optional
        Multiplies ``h_{t-1}`` where it enters the recurrent products.
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
    device : {'cpu', 'cuda'}, default='cpu'
        Where the kernels run; 'cuda' needs ``pip install "numbarnn[cuda]"`` and a GPU. Inputs
        and results are host numpy arrays either way, and :func:`rnn_backward` runs where its
        tape's forward pass ran.

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
    p = make_plan(
        x, kernel, recurrent_kernel, bias, cell, initial_state, mask, dropout_mask, recurrent_dropout_mask,
        activation, recurrent_activation, reset_after, reverse, return_sequences, zero_output_for_mask, dtype,
        device,
    )  # fmt: skip
    buf = run_forward(p, training=True)
    outputs, states = outputs_of(p, buf)
    return outputs, states, RNNTape(p, buf)


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
    device="cpu",
):
    """Run a recurrent cell over a batch of sequences for prediction; nothing is kept for training.

    Parameters
    ----------
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
        False marks a padded step, which carries the state through unchanged.
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
    device : {'cpu', 'cuda'}, default='cpu'
        Where the kernels run; 'cuda' needs ``pip install "numbarnn[cuda]"`` and a GPU. Inputs
        and results are host numpy arrays either way, and :func:`rnn_backward` runs where its
        tape's forward pass ran.

    Returns
    -------
    outputs : ndarray of shape (batch, steps, units) or (batch, units)
    states : list of ndarray of shape (batch, units)
        Final states: ``[h, c]`` for an LSTM, ``[h]`` otherwise.
    """
    p = make_plan(
        x, kernel, recurrent_kernel, bias, cell, initial_state, mask, None, None,
        activation, recurrent_activation, reset_after, reverse, return_sequences, zero_output_for_mask, dtype,
        device,
    )  # fmt: skip
    return outputs_of(p, run_forward(p, training=False))


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
    p = tape.plan
    T, B, H, dt = p.n_steps, p.n_batch, p.units, p.dtype
    n_states = p.adaptor.n_states

    d_last = [np.zeros((B, H), dt) for _ in range(n_states)]
    if d_states is not None:
        if n_states == 1 and not isinstance(d_states, (list, tuple)):
            d_states = [d_states]
        if not isinstance(d_states, (list, tuple)) or len(d_states) != n_states:
            raise ValueError(f"d_states must be a list of {n_states} arrays of shape (batch, units) or None")
        for i, g in enumerate(d_states):
            if g is not None:
                d_last[i] = as_float_array(g, f"d_states[{i}]", dt, shape=(B, H)).copy()
    dhs = np.zeros((0, 0, 0), dt)
    if d_outputs is not None:
        shape = (B, T, H) if p.return_sequences else (B, H)
        d_out = as_float_array(d_outputs, "d_outputs", dt, shape=shape)
        if p.return_sequences:
            seq = d_out.transpose(1, 0, 2)
            dhs = np.ascontiguousarray(seq[::-1] if p.reverse else seq)
        else:
            d_last[0] += d_out

    with _threads.blas_single_thread():
        return backward_of(p, tape.buffers, dhs, d_last)


def backward_of(p, buf, dhs, d_last, need_dx=True):
    """BPTT through the adaptor, then the weight and input gradients in the public layout.

    Without ``need_dx`` the input gradient is not computed (``x`` is None).
    """
    T, B, F = p.n_steps, p.n_batch, p.n_features
    a = p.adaptor
    dz, d_init = a.backward(p, buf, dhs, d_last)
    d_kernel, d_rec, d_bias = a.weight_gradients(p, buf, dz)
    if not need_dx:
        return RNNGradients(None, d_init, d_kernel, d_rec, d_bias)
    dz2 = dz.reshape(T * B, a.n_gates * p.units)
    dxt = _threads.rows_matmul(dz2, p.weights.kernel.T).reshape(T, B, F)  # each row on its own
    dx = np.ascontiguousarray((dxt[::-1] if p.reverse else dxt).transpose(1, 0, 2))
    if p.dmask is not None:
        dx *= p.dmask[:, None, :]
    return RNNGradients(dx, d_init, d_kernel, d_rec, d_bias)
