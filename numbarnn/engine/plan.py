"""Validate and lay out one engine call: weights once (reusable), then the batch.

:func:`plan_weights` checks a cell's weights and settings and puts them in the
layout its adaptor's kernels take; the result (:class:`WeightPlan`) holds plain
arrays and may be reused for any number of calls with the same weights.
:func:`plan_batch` checks one batch (sequences, initial states, mask, dropout
masks) against a weight plan and lays it out time-major, in reading order.
:func:`make_plan` does both, in the order the public functions check their
arguments. Every check raises ValueError or TypeError naming the argument.
"""

from dataclasses import dataclass

import numpy as np

from .._validation import as_float_array, as_mask, check_bool, check_choice, working_dtype
from ..kernels.nonlinear import CODES
from .cells import GATE_COUNTS, get_adaptor

__all__ = ["WeightPlan", "Plan", "plan_weights", "plan_batch", "make_plan"]


@dataclass(slots=True)
class WeightPlan:
    """A cell's checked weights in its kernels' layout, with its settings (internal).

    Attributes
    ----------
    adaptor : CellAdaptor
        The cell's engine adaptor (buffers, kernel calls, weight gradients).
    dtype : numpy dtype
        float32 or float64.
    units : int
        H.
    kernel : ndarray of shape (F, G*H)
    recurrent_kernel : ndarray of shape (H, G*H)
    bias_in : ndarray of shape (G*H,)
        Input bias (zeros without bias).
    bias_rec : ndarray of shape (3H,) for a reset_after GRU, else (0,)
    has_bias : bool
    act, ract : int
        Activation codes.
    layout : dict of str to ndarray
        The adaptor's derived arrays (split recurrent kernels; on the CPU, the kernels packed into panels).
    """

    adaptor: object
    dtype: np.dtype
    units: int
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias_in: np.ndarray
    bias_rec: np.ndarray
    has_bias: bool
    act: int
    ract: int
    layout: dict

    @property
    def cell(self):
        return self.adaptor.cell

    @property
    def n_features(self):
        return self.kernel.shape[0]


@dataclass(slots=True)
class Plan:
    """One call's checked, laid-out inputs (internal): a :class:`WeightPlan` and a batch.

    Attributes
    ----------
    weights : WeightPlan
    n_batch, n_steps, n_features : int
        B, T, F.
    reverse, return_sequences, zero_masked : bool
    xt : ndarray of shape (T, B, F)
        Dropped-out input, time-major, in reading order.
    states0 : tuple of ndarray of shape (B, H)
        ``(h0,)`` or ``(h0, c0)``.
    mask_t : uint8 ndarray of shape (T, B) in reading order, or (0, 0)
    rmask : ndarray of shape (B, H), or (0, 0)
    dmask : ndarray of shape (B, F), or None
    """

    weights: WeightPlan
    n_batch: int
    n_steps: int
    n_features: int
    reverse: bool
    return_sequences: bool
    zero_masked: bool
    xt: np.ndarray
    states0: tuple
    mask_t: np.ndarray
    rmask: np.ndarray
    dmask: object

    @property
    def adaptor(self):
        return self.weights.adaptor

    @property
    def cell(self):
        return self.weights.adaptor.cell

    @property
    def dtype(self):
        return self.weights.dtype

    @property
    def units(self):
        return self.weights.units


def _check_recurrent_kernel(recurrent_kernel, cell, dtype):
    G = GATE_COUNTS[cell]
    recurrent_kernel = as_float_array(recurrent_kernel, "recurrent_kernel", dtype, ndim=2)
    H = recurrent_kernel.shape[0]
    if H == 0 or recurrent_kernel.shape != (H, G * H):
        raise ValueError(
            f"recurrent_kernel must have shape (units, {G}*units) for a {cell} cell; "
            f"got shape {recurrent_kernel.shape}"
        )
    return recurrent_kernel, H


def plan_weights(kernel, recurrent_kernel, bias=None, *, cell="lstm", activation="tanh",
                 recurrent_activation="sigmoid", reset_after=True, dtype=None, n_features=None, device="cpu"):  # fmt: skip
    """Check a cell's weights and lay them out for its kernels.

    Parameters
    ----------
    kernel, recurrent_kernel, bias, cell, activation, recurrent_activation, reset_after, dtype
        As for :func:`numbarnn.rnn_forward`.
    n_features : int, optional
        The number of features the input will have, to check ``kernel`` against.
    device : {'cpu', 'cuda'}, default='cpu'
        Where the kernels run.

    Returns
    -------
    WeightPlan
    """
    check_choice(cell, "cell", GATE_COUNTS)
    check_choice(activation, "activation", CODES)
    check_choice(recurrent_activation, "recurrent_activation", CODES)
    reset_after = check_bool(reset_after, "reset_after")
    dtype = working_dtype(dtype, kernel)
    return _plan_weights(kernel, recurrent_kernel, bias, cell, activation, recurrent_activation, reset_after, dtype,
                         n_features, device)  # fmt: skip


def _plan_weights(kernel, recurrent_kernel, bias, cell, activation, recurrent_activation, reset_after, dtype,
                  n_features, device):  # fmt: skip
    adaptor = get_adaptor(cell, reset_after, device)
    G = adaptor.n_gates
    recurrent_kernel, H = _check_recurrent_kernel(recurrent_kernel, cell, dtype)
    kernel = as_float_array(kernel, "kernel", dtype, ndim=2)
    F = kernel.shape[0] if n_features is None else n_features
    if kernel.shape != (F, G * H):
        raise ValueError(
            f"kernel must have shape (features, {G}*units) = ({F}, {G * H}) for x with {F} features "
            f"and {H} units; got shape {kernel.shape}"
        )
    bias_in, bias_rec = adaptor.split_bias(bias, H, dtype)
    return WeightPlan(
        adaptor=adaptor,
        dtype=dtype,
        units=H,
        kernel=kernel,
        recurrent_kernel=recurrent_kernel,
        bias_in=bias_in,
        bias_rec=bias_rec,
        has_bias=bias is not None,
        act=CODES[activation],
        ract=CODES[recurrent_activation],
        layout=adaptor.layout(kernel, recurrent_kernel),
    )


def plan_batch(weights, x, initial_state=None, mask=None, dropout_mask=None, recurrent_dropout_mask=None, *,
               reverse=False, return_sequences=False, zero_output_for_mask=False, checked_x=False):  # fmt: skip
    """Check one batch against ``weights`` and lay it out time-major, in reading order.

    Parameters
    ----------
    weights : WeightPlan
    x : array-like of shape (batch, steps, features)
    initial_state, mask, dropout_mask, recurrent_dropout_mask, reverse, return_sequences, zero_output_for_mask
        As for :func:`numbarnn.rnn_forward`.
    checked_x : bool, default=False
        ``x`` is already a C-contiguous 3-D array of the working dtype, checked finite.

    Returns
    -------
    Plan
    """
    reverse = check_bool(reverse, "reverse")
    return_sequences = check_bool(return_sequences, "return_sequences")
    zero_masked = check_bool(zero_output_for_mask, "zero_output_for_mask")
    if not checked_x:
        x = _check_x(x, weights.dtype)
    return _plan_batch(weights, x, initial_state, mask, dropout_mask, recurrent_dropout_mask, reverse,
                       return_sequences, zero_masked)  # fmt: skip


def _check_x(x, dtype):
    x = as_float_array(x, "x", dtype, ndim=3)
    B, T, F = x.shape
    if B == 0:
        raise ValueError(f"x must hold at least one sequence; got shape {x.shape}")
    if T == 0:
        raise ValueError(f"x must hold sequences of at least one step; got shape {x.shape}")
    if F == 0:
        raise ValueError(f"x must have at least one feature per step; got shape {x.shape}")
    return x


def _plan_batch(weights, x, initial_state, mask, dropout_mask, recurrent_dropout_mask, reverse, return_sequences,
                zero_masked):  # fmt: skip
    dtype, H, cell = weights.dtype, weights.units, weights.cell
    B, T, F = x.shape
    if weights.n_features != F:
        G = weights.adaptor.n_gates
        raise ValueError(
            f"kernel must have shape (features, {G}*units) = ({F}, {G * H}) for x with {F} features "
            f"and {H} units; got shape {weights.kernel.shape}"
        )
    n_states = weights.adaptor.n_states
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
    return Plan(
        weights=weights,
        n_batch=B,
        n_steps=T,
        n_features=F,
        reverse=reverse,
        return_sequences=return_sequences,
        zero_masked=zero_masked,
        xt=xt,
        states0=states0,
        mask_t=mask_t,
        rmask=rmask,
        dmask=dmask,
    )


def make_plan(x, kernel, recurrent_kernel, bias, cell, initial_state, mask, dropout_mask, recurrent_dropout_mask,
              activation, recurrent_activation, reset_after, reverse, return_sequences, zero_output_for_mask,
              dtype, device="cpu"):  # fmt: skip
    """Check and lay out every argument of one public engine call; returns a :class:`Plan`."""
    check_choice(cell, "cell", GATE_COUNTS)
    check_choice(activation, "activation", CODES)
    check_choice(recurrent_activation, "recurrent_activation", CODES)
    reset_after = check_bool(reset_after, "reset_after")
    reverse = check_bool(reverse, "reverse")
    return_sequences = check_bool(return_sequences, "return_sequences")
    zero_masked = check_bool(zero_output_for_mask, "zero_output_for_mask")
    dtype = working_dtype(dtype, kernel)
    x = _check_x(x, dtype)
    weights = _plan_weights(kernel, recurrent_kernel, bias, cell, activation, recurrent_activation, reset_after,
                            dtype, x.shape[2], device)  # fmt: skip
    return _plan_batch(weights, x, initial_state, mask, dropout_mask, recurrent_dropout_mask, reverse,
                       return_sequences, zero_masked)  # fmt: skip
