"""GRU kernels, ``reset_after=False`` form (the original GRU, one bias): forward and BPTT.

Gate blocks in Keras order z (update), r (reset), h (candidate). With
``hd = h_{t-1} * m_r`` (``m_r`` the recurrent dropout mask, ones when absent)
and ``zx = x_t W + b`` the input projection::

    z = ract(xz + hd Uz)             r = ract(xr + hd Ur)
    hh = act(xh + (r * hd) Uh)
    h_t = z * h_{t-1} + (1 - z) * hh

A masked step carries ``h`` through unchanged. Backward, with dh the gradient
reaching h_t::

    dhh' = dh * (1 - z) * act'(hh)        dz' = dh * (h_{t-1} - hh) * ract'(z)
    drh  = dhh' Uh^T
    dr'  = drh * hd * ract'(r)            dhd = [dz', dr'] Uzr^T + drh * r
    dh_{t-1} = dh * z + dhd * m_r

The recurrent kernel arrives split, each part packed into panels
(:mod:`numbarnn.kernels.panels`): ``uzrp`` its z and r blocks (H, 2H), ``uhp``
its h block (H, H), since the h block multiplies ``r * hd`` after the gates
are known.
"""

import numpy as np
from numba import njit

from .._config import JIT_OPTIONS
from .nonlinear import activate_block, derivative, derivative_block
from .panels import matmul_packed, project_step, projection_block
from .rows import add_output_grad, copy_row, is_valid, load_rows, recurrent_input, store_rows


@njit(**JIT_OPTIONS)
def gru_before_forward(xt, wp, bias, uzrp, uhp, h0, mask, rmask, act, ract, b0, b1, hs, gates, h_last):
    """Run a ``reset_after=False`` GRU over rows ``b0:b1`` of a time-major batch.

    Parameters
    ----------
    xt : ndarray of shape (T, B, F)
        Time-major input (dropout mask applied).
    wp : ndarray of shape (F * 3H,)
        Input kernel (F, 3H), packed by :func:`~numbarnn.kernels.panels.pack_panels`.
    bias : ndarray of shape (3H,)
    uzrp : ndarray of shape (H * 2H,)
        The z and r blocks of the recurrent kernel (H, 2H), packed.
    uhp : ndarray of shape (H * H,)
        The h block of the recurrent kernel (H, H), packed.
    h0 : ndarray of shape (B, H)
    mask : uint8 ndarray of shape (T, B), or (0, 0)
    rmask : ndarray of shape (B, H), or (0, 0)
    act, ract : int
    b0, b1 : int
    hs : ndarray of shape (T, B, H), or (0, 0, 0)
        Receives ``h_t`` of every step when not empty.
    gates : ndarray of shape (T, B, 3H), or (0, 0, 0)
        Receives z, r, hh when not empty (training).
    h_last : ndarray of shape (B, H)
    """
    n_steps = xt.shape[0]
    H = h0.shape[1]
    nb = b1 - b0
    keep_h = hs.shape[0] > 0
    keep = gates.shape[0] > 0
    zx = np.empty((nb, 3 * H), xt.dtype)  # this step's x_t @ w + bias
    zx_block = projection_block(xt, b0, b1, 3 * H)  # several steps' at once for fewer than four rows
    h = np.empty((nb, H), xt.dtype)
    hdb = np.empty((nb, H), xt.dtype)
    zr = np.empty((nb, 2 * H), xt.dtype)
    zb = np.empty((nb, H), xt.dtype)
    rhd = np.empty((nb, H), xt.dtype)
    rh = np.empty((nb, H), xt.dtype)
    grow = np.empty(3 * H, xt.dtype)  # one row's gates when they are not kept
    load_rows(h0, b0, h)
    for t in range(n_steps):
        # hd may be h itself: it is read (product, r * hd) before h is updated.
        hd = recurrent_input(h, rmask, b0, hdb)
        project_step(xt, t, b0, wp, bias, zx, zx_block)
        matmul_packed(hd, uzrp, zr)
        for bi in range(nb):
            b = b0 + bi
            if not is_valid(mask, t, b):
                for k in range(H):
                    rhd[bi, k] = 0.0
                if keep:
                    gates[t, b, :] = 0.0
                continue
            zxr = zx[bi]
            zrr = zr[bi]
            g3 = gates[t, b] if keep else grow
            for j in range(2 * H):
                g3[j] = zxr[j] + zrr[j]
            activate_block(ract, g3, 0, 2 * H)
            for k in range(H):
                zb[bi, k] = g3[k]
                rhd[bi, k] = g3[H + k] * hd[bi, k]
        matmul_packed(rhd, uhp, rh)
        for bi in range(nb):
            b = b0 + bi
            if not is_valid(mask, t, b):
                continue
            zxr = zx[bi]
            g3 = gates[t, b] if keep else grow
            # z comes from zb: without kept gates, grow is shared by every row.
            for k in range(H):
                g3[2 * H + k] = zxr[2 * H + k] + rh[bi, k]
            activate_block(act, g3, 2 * H, 3 * H)
            hr = h[bi]
            for k in range(H):
                z = zb[bi, k]
                hr[k] = z * hr[k] + (1.0 - z) * g3[2 * H + k]
        if keep_h:
            for bi in range(nb):
                copy_row(h[bi], hs[t, b0 + bi])
    store_rows(h, b0, h_last)


@njit(**JIT_OPTIONS)
def gru_before_backward(uzrtp, uhtp, h0, mask, rmask, act, ract, b0, b1, hs, gates, dhs, dh_last, zero_masked, dz, dh0):
    """Backpropagate through a ``reset_after=False`` GRU over rows ``b0:b1``.

    Parameters
    ----------
    uzrtp : ndarray of shape (2H * H,)
        Transpose of the z and r blocks (2H, H), packed by :func:`~numbarnn.kernels.panels.pack_panels`.
    uhtp : ndarray of shape (H * H,)
        Transpose of the h block (H, H), packed.
    h0, mask, rmask, act, ract, b0, b1
        As in :func:`gru_before_forward`.
    hs, gates : ndarray
        Stored by :func:`gru_before_forward` in training mode.
    dhs : ndarray of shape (T, B, H), or (0, 0, 0)
        Gradient with respect to each step's output.
    dh_last : ndarray of shape (B, H)
        Gradient with respect to the final state.
    zero_masked : bool
        Masked steps output zeros (their output gradient is dropped).
    dz : ndarray of shape (T, B, 3H)
        Receives the gradient with respect to the input projection zx.
    dh0 : ndarray of shape (B, H)
        Receives the gradient with respect to the initial state.
    """
    n_steps = gates.shape[0]
    H = h0.shape[1]
    nb = b1 - b0
    has_rdrop = rmask.shape[0] > 0
    dh = np.empty((nb, H), gates.dtype)
    direct = np.empty((nb, H), gates.dtype)
    dza = np.empty((nb, 2 * H), gates.dtype)
    dhhb = np.empty((nb, H), gates.dtype)
    drh = np.empty((nb, H), gates.dtype)
    dhd = np.empty((nb, H), gates.dtype)
    dg = np.empty(3 * H, gates.dtype)  # gate derivatives of one row
    dhh = np.empty(H, gates.dtype)  # gradient of one row's candidate pre-activation
    load_rows(dh_last, b0, dh)
    for t in range(n_steps - 1, -1, -1):
        for bi in range(nb):
            b = b0 + bi
            valid = is_valid(mask, t, b)
            add_output_grad(dhs, t, b, valid, zero_masked, dh[bi])
            if not valid:
                dza[bi, :] = 0.0
                dhhb[bi, :] = 0.0
                dz[t, b, :] = 0.0
                continue
            g3 = gates[t, b]
            hprev = hs[t - 1, b] if t > 0 else h0[b]
            dhr = dh[bi]
            dzr = dz[t, b]
            dzar = dza[bi]
            # One array written per loop, so that each loop vectorises (see lstm_backward).
            derivative_block(ract, g3, dg, 0, 2 * H)
            derivative_block(act, g3, dg, 2 * H, 3 * H)
            for k in range(H):
                dhh[k] = dhr[k] * (1.0 - g3[k]) * dg[2 * H + k]
            for k in range(H):
                dzr[k] = dhr[k] * (hprev[k] - g3[2 * H + k]) * dg[k]
            for k in range(H):
                dzr[2 * H + k] = dhh[k]
            direct_row = direct[bi]
            for k in range(H):
                direct_row[k] = dhr[k] * g3[k]
            for k in range(H):
                dzar[k] = dzr[k]
            copy_row(dhh, dhhb[bi])
        matmul_packed(dhhb, uhtp, drh)
        for bi in range(nb):
            b = b0 + bi
            if not is_valid(mask, t, b):
                continue
            for k in range(H):
                hp = hs[t - 1, b, k] if t > 0 else h0[b, k]
                hdk = hp * rmask[b, k] if has_rdrop else hp
                r = gates[t, b, H + k]
                drr = drh[bi, k] * hdk * derivative(ract, r)
                dza[bi, H + k] = drr
                dz[t, b, H + k] = drr
        matmul_packed(dza, uzrtp, dhd)
        for bi in range(nb):
            b = b0 + bi
            if not is_valid(mask, t, b):
                continue
            for k in range(H):
                g = dhd[bi, k] + drh[bi, k] * gates[t, b, H + k]
                if has_rdrop:
                    g *= rmask[b, k]
                dh[bi, k] = direct[bi, k] + g
    store_rows(dh, b0, dh0)
