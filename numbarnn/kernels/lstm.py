"""LSTM forward and backward-through-time kernels.

Equations (one step, row vectors, gate blocks in Keras order i, f, c, o)::

    z_t = x_t W + b + (h_{t-1} * m_r) U          (x_t W + b: zx, computed a step at a time)
    i = ract(z_i)    f = ract(z_f)    g = act(z_c)    o = ract(z_o)
    c_t = f * c_{t-1} + i * g
    h_t = o * act(c_t)

``m_r`` is the recurrent dropout mask (all ones when absent). A masked step
(``mask[t, b] == 0``) carries ``h`` and ``c`` through unchanged.

Backward, given dh_t (output and recurrent gradient) and dc_t::

    dc   = dc_t + dh_t * o * act'(act(c_t))
    dz_i = dc * g * ract'(i)        dz_f = dc * c_{t-1} * ract'(f)
    dz_c = dc * i * act'(g)         dz_o = dh_t * act(c_t) * ract'(o)
    dc_{t-1} = dc * f
    dh_{t-1} = (dz U^T) * m_r

Layout: time-major ``(T, B, .)`` arrays; each call owns batch rows
``b0:b1``, so calls on disjoint row ranges can run in parallel threads.
"""

import numpy as np
from numba import njit

from .._config import JIT_OPTIONS
from .nonlinear import SIGMOID, TANH, activate_block, activate_copy, derivative_block, fast_sigmoid, fast_tanh
from .panels import matmul_packed, project_step, projection_block
from .rows import add_output_grad, carry_back, copy_row, is_valid, load_rows, recurrent_input, store_rows


@njit(**JIT_OPTIONS)
def lstm_forward(xt, wp, bias, up, h0, c0, mask, rmask, act, ract, b0, b1, hs, cs, gates, h_last, c_last):
    """Run an LSTM over rows ``b0:b1`` of a time-major batch.

    Parameters
    ----------
    xt : ndarray of shape (T, B, F)
        Time-major input (dropout mask applied).
    wp : ndarray of shape (F * 4H,)
        Input kernel (F, 4H), packed by :func:`~numbarnn.kernels.panels.pack_panels`.
    bias : ndarray of shape (4H,)
    up : ndarray of shape (H * 4H,)
        Recurrent kernel (H, 4H), packed.
    h0, c0 : ndarray of shape (B, H)
        Initial states.
    mask : uint8 ndarray of shape (T, B), or (0, 0) for no mask
        1 where a step is valid.
    rmask : ndarray of shape (B, H), or (0, 0) for no recurrent dropout
    act, ract : int
        Activation codes (see ``nonlinear.CODES``).
    b0, b1 : int
        Batch rows handled by this call.
    hs : ndarray of shape (T, B, H), or (0, 0, 0)
        Receives ``h_t`` of every step when not empty.
    cs : ndarray of shape (T, B, H), or (0, 0, 0)
        Receives ``c_t`` of every step when not empty (training).
    gates : ndarray of shape (T, B, 4H), or (0, 0, 0)
        Receives the activated gates i, f, g, o when not empty (training).
    h_last, c_last : ndarray of shape (B, H)
        Receive the final states.
    """
    n_steps = xt.shape[0]
    H = h0.shape[1]
    nb = b1 - b0
    keep_h = hs.shape[0] > 0
    keep = gates.shape[0] > 0
    zx = np.empty((nb, 4 * H), xt.dtype)  # this step's x_t @ w + bias
    zx_block = projection_block(xt, b0, b1, 4 * H)  # several steps' at once for fewer than four rows
    fused = act == TANH and ract == SIGMOID  # the default: one vectorised loop per row
    h = np.empty((nb, H), xt.dtype)
    c = np.empty((nb, H), xt.dtype)
    hd = np.empty((nb, H), xt.dtype)
    zr = np.empty((nb, 4 * H), xt.dtype)
    grow = np.empty(4 * H, xt.dtype)  # one row's gates when they are not kept
    ac = np.empty(H, xt.dtype)
    load_rows(h0, b0, h)
    load_rows(c0, b0, c)
    for t in range(n_steps):
        project_step(xt, t, b0, wp, bias, zx, zx_block)
        matmul_packed(recurrent_input(h, rmask, b0, hd), up, zr)
        for bi in range(nb):
            b = b0 + bi
            if not is_valid(mask, t, b):
                if keep:
                    gates[t, b, :] = 0.0
            else:
                zxr = zx[bi]
                zrr = zr[bi]
                cr = c[bi]
                hr = h[bi]
                g4 = gates[t, b] if keep else grow
                if fused:
                    for k in range(H):
                        ig = fast_sigmoid(zxr[k] + zrr[k])
                        fg = fast_sigmoid(zxr[H + k] + zrr[H + k])
                        gg = fast_tanh(zxr[2 * H + k] + zrr[2 * H + k])
                        og = fast_sigmoid(zxr[3 * H + k] + zrr[3 * H + k])
                        ck = fg * cr[k] + ig * gg
                        cr[k] = ck
                        hr[k] = og * fast_tanh(ck)
                        g4[k] = ig
                        g4[H + k] = fg
                        g4[2 * H + k] = gg
                        g4[3 * H + k] = og
                else:
                    for j in range(4 * H):
                        g4[j] = zxr[j] + zrr[j]
                    activate_block(ract, g4, 0, 2 * H)
                    activate_block(act, g4, 2 * H, 3 * H)
                    activate_block(ract, g4, 3 * H, 4 * H)
                    for k in range(H):
                        cr[k] = g4[H + k] * cr[k] + g4[k] * g4[2 * H + k]
                    activate_copy(act, cr, ac)
                    for k in range(H):
                        hr[k] = g4[3 * H + k] * ac[k]
            if keep_h:
                copy_row(h[bi], hs[t, b])
            if keep:
                copy_row(c[bi], cs[t, b])
    store_rows(h, b0, h_last)
    store_rows(c, b0, c_last)


@njit(**JIT_OPTIONS)
def lstm_backward(
    utp, c0, mask, rmask, act, ract, b0, b1, cs, gates, dhs, dh_last, dc_last, zero_masked, dz, dh0, dc0
):
    """Backpropagate through an LSTM over rows ``b0:b1``.

    Parameters
    ----------
    utp : ndarray of shape (4H * H,)
        Transposed recurrent kernel (4H, H), packed by :func:`~numbarnn.kernels.panels.pack_panels`.
    c0 : ndarray of shape (B, H)
        Initial cell state.
    mask, rmask, act, ract, b0, b1
        As in :func:`lstm_forward`.
    cs, gates : ndarray
        Stored by :func:`lstm_forward` in training mode.
    dhs : ndarray of shape (T, B, H), or (0, 0, 0)
        Gradient of the loss with respect to each step's output.
    dh_last, dc_last : ndarray of shape (B, H)
        Gradient with respect to the final states.
    zero_masked : bool
        Masked steps output zeros (their output gradient is dropped) rather
        than the carried state.
    dz : ndarray of shape (T, B, 4H)
        Receives the gradient with respect to the gate pre-activations.
    dh0, dc0 : ndarray of shape (B, H)
        Receive the gradient with respect to the initial states.
    """
    n_steps = cs.shape[0]
    H = c0.shape[1]
    nb = b1 - b0
    dh = np.empty((nb, H), cs.dtype)
    dc = np.empty((nb, H), cs.dtype)
    dzb = np.empty((nb, 4 * H), cs.dtype)
    dhd = np.empty((nb, H), cs.dtype)
    ac = np.empty(H, cs.dtype)  # act(c_t) of one row
    dac = np.empty(H, cs.dtype)
    dg = np.empty(4 * H, cs.dtype)  # gate derivatives of one row
    dck = np.empty(H, cs.dtype)  # the cell-state gradient of one row
    load_rows(dh_last, b0, dh)
    load_rows(dc_last, b0, dc)
    for t in range(n_steps - 1, -1, -1):
        for bi in range(nb):
            b = b0 + bi
            valid = is_valid(mask, t, b)
            add_output_grad(dhs, t, b, valid, zero_masked, dh[bi])
            if not valid:
                dzb[bi, :] = 0.0
                continue
            g4 = gates[t, b]
            cprev = cs[t - 1, b] if t > 0 else c0[b]
            dhr = dh[bi]
            dcr = dc[bi]
            dzr = dzb[bi]
            # One array written per loop: a loop writing several arrays and reading
            # as many needs more runtime alias checks than LLVM allows, and stays
            # scalar (measured: 116-130 against 162-170 us per step at 32 rows, 128 units).
            activate_copy(act, cs[t, b], ac)
            derivative_block(act, ac, dac, 0, H)
            derivative_block(ract, g4, dg, 0, 2 * H)
            derivative_block(act, g4, dg, 2 * H, 3 * H)
            derivative_block(ract, g4, dg, 3 * H, 4 * H)
            for k in range(H):
                dck[k] = dcr[k] + dhr[k] * g4[3 * H + k] * dac[k]
            for k in range(H):
                dzr[k] = dck[k] * g4[2 * H + k] * dg[k]
            for k in range(H):
                dzr[H + k] = dck[k] * cprev[k] * dg[H + k]
            for k in range(H):
                dzr[2 * H + k] = dck[k] * g4[k] * dg[2 * H + k]
            for k in range(H):
                dzr[3 * H + k] = dhr[k] * ac[k] * dg[3 * H + k]
            for k in range(H):
                dcr[k] = dck[k] * g4[H + k]
        for bi in range(nb):
            copy_row(dzb[bi], dz[t, b0 + bi])
        matmul_packed(dzb, utp, dhd)
        carry_back(dhd, rmask, mask, t, b0, dh)
    store_rows(dh, b0, dh0)
    store_rows(dc, b0, dc0)
