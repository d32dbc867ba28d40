"""SimpleRNN (Elman) forward and backward-through-time kernels.

Equations (one step, row vectors)::

    h_t = act(x_t W + b + (h_{t-1} * m_r) U)

``m_r`` is the recurrent dropout mask (ones when absent); a masked step carries
``h`` through unchanged. Backward::

    dz = dh_t * act'(h_t)          dh_{t-1} = (dz U^T) * m_r
"""

import numpy as np
from numba import njit

from .._config import JIT_OPTIONS
from .nonlinear import activate_block, derivative_block
from .panels import matmul_packed, project_step, projection_block
from .rows import add_output_grad, carry_back, copy_row, is_valid, load_rows, recurrent_input, store_rows


@njit(**JIT_OPTIONS)
def simple_forward(xt, wp, bias, up, h0, mask, rmask, act, b0, b1, hs, h_last):
    """Run a SimpleRNN over rows ``b0:b1`` of a time-major batch.

    Parameters
    ----------
    xt : ndarray of shape (T, B, F)
        Time-major input (dropout mask applied).
    wp : ndarray of shape (F * H,)
        Input kernel (F, H), packed by :func:`~numbarnn.kernels.panels.pack_panels`.
    bias : ndarray of shape (H,)
    up : ndarray of shape (H * H,)
        Recurrent kernel (H, H), packed.
    h0 : ndarray of shape (B, H)
    mask : uint8 ndarray of shape (T, B), or (0, 0)
    rmask : ndarray of shape (B, H), or (0, 0)
    act : int
    b0, b1 : int
    hs : ndarray of shape (T, B, H), or (0, 0, 0)
        Receives ``h_t`` of every step when not empty (needed for training).
    h_last : ndarray of shape (B, H)
    """
    n_steps = xt.shape[0]
    H = h0.shape[1]
    nb = b1 - b0
    keep_h = hs.shape[0] > 0
    h = np.empty((nb, H), xt.dtype)
    hd = np.empty((nb, H), xt.dtype)
    zr = np.empty((nb, H), xt.dtype)
    zx = np.empty((nb, H), xt.dtype)  # this step's x_t @ w + bias
    zx_block = projection_block(xt, b0, b1, H)  # several steps' at once for fewer than four rows
    load_rows(h0, b0, h)
    for t in range(n_steps):
        project_step(xt, t, b0, wp, bias, zx, zx_block)
        matmul_packed(recurrent_input(h, rmask, b0, hd), up, zr)
        for bi in range(nb):
            b = b0 + bi
            if is_valid(mask, t, b):
                zxr = zx[bi]
                hr = h[bi]
                for k in range(H):
                    hr[k] = zxr[k] + zr[bi, k]
                activate_block(act, hr, 0, H)
            if keep_h:
                copy_row(h[bi], hs[t, b])
    store_rows(h, b0, h_last)


@njit(**JIT_OPTIONS)
def simple_backward(utp, mask, rmask, act, b0, b1, hs, dhs, dh_last, zero_masked, dz, dh0):
    """Backpropagate through a SimpleRNN over rows ``b0:b1``.

    Parameters
    ----------
    utp : ndarray of shape (H * H,)
        Transposed recurrent kernel (H, H), packed by :func:`~numbarnn.kernels.panels.pack_panels`.
    mask, rmask, act, b0, b1
        As in :func:`simple_forward`.
    hs : ndarray of shape (T, B, H)
        Stored by :func:`simple_forward`.
    dhs : ndarray of shape (T, B, H), or (0, 0, 0)
    dh_last : ndarray of shape (B, H)
    zero_masked : bool
    dz : ndarray of shape (T, B, H)
        Receives the gradient with respect to the pre-activation.
    dh0 : ndarray of shape (B, H)
    """
    n_steps = hs.shape[0]
    H = dh0.shape[1]
    nb = b1 - b0
    dh = np.empty((nb, H), hs.dtype)
    dzb = np.empty((nb, H), hs.dtype)
    dhd = np.empty((nb, H), hs.dtype)
    load_rows(dh_last, b0, dh)
    for t in range(n_steps - 1, -1, -1):
        for bi in range(nb):
            b = b0 + bi
            valid = is_valid(mask, t, b)
            add_output_grad(dhs, t, b, valid, zero_masked, dh[bi])
            if valid:
                dzr = dzb[bi]
                dhr = dh[bi]
                derivative_block(act, hs[t, b], dzr, 0, H)
                for k in range(H):
                    dzr[k] *= dhr[k]
            else:
                dzb[bi, :] = 0.0
            copy_row(dzb[bi], dz[t, b])
        matmul_packed(dzb, utp, dhd)
        carry_back(dhd, rmask, mask, t, b0, dh)
    store_rows(dh, b0, dh0)
