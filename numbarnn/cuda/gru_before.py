"""GRU kernels, ``reset_after=False`` form (one bias), on the CUDA device: forward and BPTT.

Gate blocks in Keras order z (update), r (reset), h (candidate). With
``hd = h_{t-1} * m_r`` (``m_r`` the recurrent dropout mask, ones when absent)
and ``zx = x_t W + b`` the input projection (one GEMM for every step)::

    z = ract(xz + hd Uz)             r = ract(xr + hd Ur)
    hh = act(xh + (r * hd) Uh)
    h_t = z * h_{t-1} + (1 - z) * hh

A masked step carries ``h`` through unchanged. Backward, with dh the gradient
reaching h_t::

    dhh' = dh * (1 - z) * act'(hh)        dz' = dh * (h_{t-1} - hh) * ract'(z)
    drh  = dhh' Uh^T
    dr'  = drh * hd * ract'(r)            dhd = [dz', dr'] Uzr^T + drh * r
    dh_{t-1} = dh * z + dhd * m_r

The recurrent kernel arrives split, as on the CPU: ``uzr`` (H, 2H) holds its z
and r blocks, ``uh`` (H, H) its h block, which multiplies ``r * hd`` once
every r of the row is known. So a forward step has two phases (gates z, r and
``r * hd``; then the candidate and the new state) and a backward step three
(``dz'``, ``dhh'``; then ``drh`` and ``dr'``; then ``dh_{t-1}``), each ending
with a ``syncthreads``. Layout and launch as in :mod:`numbarnn.cuda.lstm`.

Shared memory (elements): forward ``[Uzr (H*2H), Uh (H*H) if shared] [h, r*hd, z: rows*H each]``;
backward ``[Uzr^T (2H*H), Uh^T (H*H) if shared] [dh: rows*H] [dza: rows*2H] [dhh, drh: rows*H each]``.
"""

import numpy as np
from numba import cuda

from . import common
from .nonlinear import device_activations

__all__ = [
    "gru_before_backward",
    "gru_before_backward_device",
    "gru_before_forward",
    "gru_before_forward_device",
    "gru_before_kernels",
]

_KERNELS = {}


def gru_before_kernels(dtype):
    """The ``reset_after=False`` GRU ``(forward, backward)`` CUDA kernels for one dtype.

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64.

    Returns
    -------
    forward, backward : CUDA kernels
        Launched by :func:`gru_before_forward` and :func:`gru_before_backward`.
    """
    dtype = np.dtype(dtype)
    if dtype in _KERNELS:
        return _KERNELS[dtype]
    nbtype = common._numba_type(dtype)
    activate, derivative = device_activations(dtype)
    zero = dtype.type(0.0)
    one = dtype.type(1.0)

    @cuda.jit
    def forward(zx, uzr, uh, h0, mask, has_mask, rmask, has_rdrop, act, ract, rows, u_shared,
                hs, keep_h, gates, keep, h_last):  # fmt: skip
        sh = cuda.shared.array(0, nbtype)
        n_batch = h0.shape[0]
        H = h0.shape[1]
        H2 = 2 * H
        n_steps = zx.shape[0] // n_batch
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        b0 = cuda.blockIdx.x * rows
        pairs = rows * H
        off_uh = H * H2
        off_h = 3 * H * H if u_shared else 0
        off_rhd = off_h + pairs
        off_z = off_rhd + pairs
        if u_shared:
            for i in range(tid, H * H2, nt):
                sh[i] = uzr[i // H2, i % H2]
            for i in range(tid, H * H, nt):
                sh[off_uh + i] = uh[i // H, i % H]
        for idx in range(tid, pairs, nt):
            b = b0 + idx // H
            if b < n_batch:
                sh[off_h + idx] = h0[b, idx % H]
        cuda.syncthreads()
        for t in range(n_steps):
            # Phase 1: z, r and r * hd.
            for idx in range(tid, pairs, nt):
                r = idx // H
                k = idx - r * H
                b = b0 + r
                if b >= n_batch:
                    continue
                if has_mask and mask[t, b] == 0:
                    sh[off_rhd + idx] = zero
                    if keep:
                        gates[t, b, k] = zero
                        gates[t, b, H + k] = zero
                        gates[t, b, 2 * H + k] = zero
                    continue
                sz = zero
                sr = zero
                hb = off_h + r * H
                if u_shared:
                    for j in range(H):
                        hj = sh[hb + j]
                        if has_rdrop:
                            hj = hj * rmask[b, j]
                        sz += hj * sh[j * H2 + k]
                        sr += hj * sh[j * H2 + H + k]
                else:
                    for j in range(H):
                        hj = sh[hb + j]
                        if has_rdrop:
                            hj = hj * rmask[b, j]
                        sz += hj * uzr[j, k]
                        sr += hj * uzr[j, H + k]
                row = t * n_batch + b
                zg = activate(ract, zx[row, k] + sz)
                rg = activate(ract, zx[row, H + k] + sr)
                hdk = sh[off_h + idx]
                if has_rdrop:
                    hdk = hdk * rmask[b, k]
                sh[off_rhd + idx] = rg * hdk
                sh[off_z + idx] = zg
                if keep:
                    gates[t, b, k] = zg
                    gates[t, b, H + k] = rg
            cuda.syncthreads()
            # Phase 2: the candidate hh = act(xh + (r * hd) Uh) and the new state.
            for idx in range(tid, pairs, nt):
                r = idx // H
                k = idx - r * H
                b = b0 + r
                if b >= n_batch:
                    continue
                if (not has_mask) or mask[t, b] != 0:
                    s = zero
                    rb = off_rhd + r * H
                    if u_shared:
                        for j in range(H):
                            s += sh[rb + j] * sh[off_uh + j * H + k]
                    else:
                        for j in range(H):
                            s += sh[rb + j] * uh[j, k]
                    hh = activate(act, zx[t * n_batch + b, 2 * H + k] + s)
                    zg = sh[off_z + idx]
                    sh[off_h + idx] = zg * sh[off_h + idx] + (one - zg) * hh
                    if keep:
                        gates[t, b, 2 * H + k] = hh
                if keep_h:
                    hs[t, b, k] = sh[off_h + idx]
            cuda.syncthreads()
        for idx in range(tid, pairs, nt):
            b = b0 + idx // H
            if b < n_batch:
                h_last[b, idx % H] = sh[off_h + idx]

    @cuda.jit
    def backward(uzrt, uht, h0, mask, has_mask, rmask, has_rdrop, act, ract, rows, u_shared, hs, gates, dhs,
                 has_dhs, dh_last, zero_masked, dz, dh0):  # fmt: skip
        sh = cuda.shared.array(0, nbtype)
        n_batch = h0.shape[0]
        H = h0.shape[1]
        H2 = 2 * H
        n_steps = gates.shape[0]
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        b0 = cuda.blockIdx.x * rows
        pairs = rows * H
        off_uht = H2 * H
        off_dh = 3 * H * H if u_shared else 0
        off_dza = off_dh + pairs
        off_dhh = off_dza + 2 * pairs
        off_drh = off_dhh + pairs
        if u_shared:
            for i in range(tid, H2 * H, nt):
                sh[i] = uzrt[i // H, i % H]
            for i in range(tid, H * H, nt):
                sh[off_uht + i] = uht[i // H, i % H]
        for idx in range(tid, pairs, nt):
            b = b0 + idx // H
            if b < n_batch:
                sh[off_dh + idx] = dh_last[b, idx % H]
        cuda.syncthreads()
        for s in range(n_steps):
            t = n_steps - 1 - s
            # Phase 1: dz' and dhh'; dh holds the direct term dh * z afterwards.
            for idx in range(tid, pairs, nt):
                r = idx // H
                k = idx - r * H
                b = b0 + r
                if b >= n_batch:
                    continue
                valid = (not has_mask) or mask[t, b] != 0
                dhk = sh[off_dh + idx]
                if has_dhs and (valid or not zero_masked):
                    dhk += dhs[t, b, k]
                if not valid:
                    sh[off_dh + idx] = dhk
                    sh[off_dhh + idx] = zero
                    dz[t, b, k] = zero
                    dz[t, b, H + k] = zero
                    dz[t, b, 2 * H + k] = zero
                    continue
                zg = gates[t, b, k]
                hh = gates[t, b, 2 * H + k]
                hprev = hs[t - 1, b, k] if t > 0 else h0[b, k]
                dhh = dhk * (one - zg) * derivative(act, hh)
                dzz = dhk * (hprev - hh) * derivative(ract, zg)
                dz[t, b, k] = dzz
                dz[t, b, 2 * H + k] = dhh
                sh[off_dza + r * H2 + k] = dzz
                sh[off_dhh + idx] = dhh
                sh[off_dh + idx] = dhk * zg
            cuda.syncthreads()
            # Phase 2: drh = dhh' Uh^T and dr' = drh * hd * ract'(r).
            for idx in range(tid, pairs, nt):
                r = idx // H
                k = idx - r * H
                b = b0 + r
                if b >= n_batch or (has_mask and mask[t, b] == 0):
                    continue
                acc = zero
                hb = off_dhh + r * H
                if u_shared:
                    for m in range(H):
                        acc += sh[hb + m] * sh[off_uht + m * H + k]
                else:
                    for m in range(H):
                        acc += sh[hb + m] * uht[m, k]
                hdk = hs[t - 1, b, k] if t > 0 else h0[b, k]
                if has_rdrop:
                    hdk = hdk * rmask[b, k]
                drr = acc * hdk * derivative(ract, gates[t, b, H + k])
                sh[off_dza + r * H2 + H + k] = drr
                dz[t, b, H + k] = drr
                sh[off_drh + idx] = acc
            cuda.syncthreads()
            # Phase 3: dh_{t-1} = dh * z + ([dz', dr'] Uzr^T + drh * r) * m_r.
            for idx in range(tid, pairs, nt):
                r = idx // H
                k = idx - r * H
                b = b0 + r
                if b >= n_batch or (has_mask and mask[t, b] == 0):
                    continue
                acc = zero
                zb = off_dza + r * H2
                if u_shared:
                    for m in range(H2):
                        acc += sh[zb + m] * sh[m * H + k]
                else:
                    for m in range(H2):
                        acc += sh[zb + m] * uzrt[m, k]
                g = acc + sh[off_drh + idx] * gates[t, b, H + k]
                if has_rdrop:
                    g = g * rmask[b, k]
                sh[off_dh + idx] = sh[off_dh + idx] + g
            cuda.syncthreads()
        for idx in range(tid, pairs, nt):
            b = b0 + idx // H
            if b < n_batch:
                dh0[b, idx % H] = sh[off_dh + idx]

    _KERNELS[dtype] = (forward, backward)
    return forward, backward


def gru_before_forward(xt, w, bias, uzr, uh, h0, mask, rmask, act, ract, hs, gates, h_last):
    """Run a ``reset_after=False`` GRU over a whole time-major batch on the device, filling the host buffers.

    Parameters
    ----------
    xt : ndarray of shape (T, B, F), float32 or float64
        Time-major input in reading order (dropout mask applied).
    w : ndarray of shape (F, 3H)
        Input kernel.
    bias : ndarray of shape (3H,)
    uzr : ndarray of shape (H, 2H)
        The z and r blocks of the recurrent kernel.
    uh : ndarray of shape (H, H)
        The h block of the recurrent kernel.
    h0 : ndarray of shape (B, H)
    mask : uint8 ndarray of shape (T, B), or (0, 0)
    rmask : ndarray of shape (B, H), or (0, 0)
    act, ract : int
        Activation codes.
    hs : ndarray of shape (T, B, H), or (0, 0, 0)
        Receives ``h_t`` of every step when not empty.
    gates : ndarray of shape (T, B, 3H), or (0, 0, 0)
        Receives z, r, hh when not empty (training).
    h_last : ndarray of shape (B, H)
    """
    T, B, F = xt.shape
    d_zx = common.project(xt.reshape(T * B, F), w, bias)
    d_hs, d_gates = (common.empty_or_none(a) for a in (hs, gates))
    d_h = cuda.device_array(h_last.shape, xt.dtype)
    gru_before_forward_device(
        d_zx, common.to_device(uzr), common.to_device(uh), common.to_device(h0), common.device_or_none(mask),
        common.device_or_none(rmask), act, ract, d_hs, d_gates, d_h,
    )  # fmt: skip
    common.copy_back(d_hs, hs)
    common.copy_back(d_gates, gates)
    d_h.copy_to_host(h_last)


def gru_before_forward_device(zx, uzr, uh, h0, mask, rmask, act, ract, hs, gates, h_last):
    """The ``reset_after=False`` GRU recurrence on device arrays (the input projection already done).

    Parameters
    ----------
    zx : DeviceNDArray of shape (T*B, 3H)
        ``x_t W + b`` of every step, time-major in reading order.
    uzr : DeviceNDArray of shape (H, 2H)
    uh : DeviceNDArray of shape (H, H)
    h0 : DeviceNDArray of shape (B, H)
    mask : uint8 DeviceNDArray of shape (T, B), or None
    rmask : DeviceNDArray of shape (B, H), or None
    act, ract : int
    hs : DeviceNDArray of shape (T, B, H), or None
    gates : DeviceNDArray of shape (T, B, 3H), or None (inference)
    h_last : DeviceNDArray of shape (B, H)
    """
    B, H = h0.shape
    dt = h0.dtype
    fwd, _ = gru_before_kernels(dt)
    d_mask, has_mask = common.or_dummy(mask, 2, np.uint8)
    d_rmask, has_rdrop = common.or_dummy(rmask, 2, dt)
    d_hs, keep_h = common.or_dummy(hs, 3, dt)
    d_gates, keep = common.or_dummy(gates, 3, dt)
    shape = common.recurrence_shape(B, H, 3 * H, 3 * H * H, dt)
    common.launch(fwd, shape)(
        zx, uzr, uh, h0, d_mask, has_mask, d_rmask, has_rdrop, act, ract, shape.rows, shape.weights_shared, d_hs,
        keep_h, d_gates, keep, h_last,
    )  # fmt: skip


def gru_before_backward(uzrt, uht, h0, mask, rmask, act, ract, hs, gates, dhs, dh_last, zero_masked, dz, dh0):
    """Backpropagate through a ``reset_after=False`` GRU over a whole batch on the device.

    Parameters
    ----------
    uzrt : ndarray of shape (2H, H)
        Transpose of ``uzr``.
    uht : ndarray of shape (H, H)
        Transpose of ``uh``.
    h0, mask, rmask, act, ract
        As in :func:`gru_before_forward`.
    hs : ndarray of shape (T, B, H)
    gates : ndarray of shape (T, B, 3H)
        Kept by :func:`gru_before_forward` in training mode.
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
    d_dz = cuda.device_array(dz.shape, dz.dtype)
    d_dh0 = cuda.device_array(dh0.shape, hs.dtype)
    gru_before_backward_device(
        common.to_device(uzrt), common.to_device(uht), common.to_device(h0), common.device_or_none(mask),
        common.device_or_none(rmask), act, ract, common.to_device(hs), common.to_device(gates),
        common.device_or_none(dhs), common.to_device(dh_last), zero_masked, d_dz, d_dh0,
    )  # fmt: skip
    d_dz.copy_to_host(dz)
    d_dh0.copy_to_host(dh0)


def gru_before_backward_device(uzrt, uht, h0, mask, rmask, act, ract, hs, gates, dhs, dh_last, zero_masked, dz, dh0):
    """Backpropagation through time on device arrays; arguments as :func:`gru_before_backward`'s, on the device.

    ``mask``, ``rmask`` and ``dhs`` are None when absent; ``dz`` (T, B, 3H) and ``dh0`` (B, H)
    receive the results.
    """
    _, B, H = hs.shape
    dt = hs.dtype
    _, bwd = gru_before_kernels(dt)
    d_mask, has_mask = common.or_dummy(mask, 2, np.uint8)
    d_rmask, has_rdrop = common.or_dummy(rmask, 2, dt)
    d_dhs, has_dhs = common.or_dummy(dhs, 3, dt)
    shape = common.recurrence_shape(B, H, 5 * H, 3 * H * H, dt)
    common.launch(bwd, shape)(
        uzrt, uht, h0, d_mask, has_mask, d_rmask, has_rdrop, act, ract, shape.rows, shape.weights_shared, hs, gates,
        d_dhs, has_dhs, dh_last, bool(zero_masked), dz, dh0,
    )  # fmt: skip
