"""GRU kernels, ``reset_after=True`` form, on the CUDA device: forward and BPTT.

Gate blocks in Keras order z (update), r (reset), h (candidate). With
``hd = h_{t-1} * m_r`` (``m_r`` the recurrent dropout mask, ones when absent),
``zx = x_t W + b`` the input projection (one GEMM for every step) and ``b'``
the recurrent bias::

    z = ract(xz + hd Uz + bz')       r = ract(xr + hd Ur + br')
    u = hd Uh + bh'                  hh = act(xh + r * u)
    h_t = z * h_{t-1} + (1 - z) * hh

A masked step carries ``h`` through unchanged. Backward, with dh the gradient
reaching h_t::

    dhh' = dh * (1 - z) * act'(hh)        dz' = dh * (h_{t-1} - hh) * ract'(z)
    dr'  = dhh' * u * ract'(r)            dhd = [dz', dr', dhh' * r] U^T
    dh_{t-1} = dh * z + dhd * m_r

Layout and launch as in :mod:`numbarnn.cuda.lstm`: time-major buffers in
reading order, one launch for the whole time loop, a block per chunk of batch
rows. The forward pass double-buffers ``h`` and the backward pass the
recurrent-side gradient ``[dz', dr', dhh' * r]``, one ``syncthreads`` a step each.

Shared memory (elements): forward ``[U (H*3H) if shared] [h: 2 x rows*H]``;
backward ``[U^T (3H*H) if shared] [dh: rows*H] [dza: 2 x rows*3H]``.
"""

import numpy as np
from numba import cuda

from . import common
from .nonlinear import device_activations

__all__ = [
    "gru_after_backward",
    "gru_after_backward_device",
    "gru_after_forward",
    "gru_after_forward_device",
    "gru_after_kernels",
]

_KERNELS = {}


def gru_after_kernels(dtype):
    """The ``reset_after`` GRU ``(forward, backward)`` CUDA kernels for one dtype.

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64.

    Returns
    -------
    forward, backward : CUDA kernels
        Launched by :func:`gru_after_forward` and :func:`gru_after_backward`.
    """
    dtype = np.dtype(dtype)
    if dtype in _KERNELS:
        return _KERNELS[dtype]
    nbtype = common._numba_type(dtype)
    activate, derivative = device_activations(dtype)
    zero = dtype.type(0.0)
    one = dtype.type(1.0)

    @cuda.jit
    def forward(zx, u, brec, h0, mask, has_mask, rmask, has_rdrop, act, ract, rows, u_shared,
                hs, keep_h, gates, us, keep, h_last):  # fmt: skip
        sh = cuda.shared.array(0, nbtype)
        n_batch = h0.shape[0]
        H = h0.shape[1]
        G = 3 * H
        n_steps = zx.shape[0] // n_batch
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        b0 = cuda.blockIdx.x * rows
        pairs = rows * H
        off_h = H * G if u_shared else 0
        if u_shared:
            for i in range(tid, H * G, nt):
                sh[i] = u[i // G, i % G]
        for idx in range(tid, pairs, nt):
            b = b0 + idx // H
            if b < n_batch:
                sh[off_h + idx] = h0[b, idx % H]
        cuda.syncthreads()
        for t in range(n_steps):
            cur = off_h + (t % 2) * pairs
            nxt = off_h + ((t + 1) % 2) * pairs
            for idx in range(tid, pairs, nt):
                r = idx // H
                k = idx - r * H
                b = b0 + r
                if b >= n_batch:
                    continue
                hk = sh[cur + idx]
                if (not has_mask) or mask[t, b] != 0:
                    sz = zero
                    sr = zero
                    su = zero
                    hb = cur + r * H
                    if u_shared:
                        for j in range(H):
                            hj = sh[hb + j]
                            if has_rdrop:
                                hj = hj * rmask[b, j]
                            w0 = j * G + k
                            sz += hj * sh[w0]
                            sr += hj * sh[w0 + H]
                            su += hj * sh[w0 + 2 * H]
                    else:
                        for j in range(H):
                            hj = sh[hb + j]
                            if has_rdrop:
                                hj = hj * rmask[b, j]
                            sz += hj * u[j, k]
                            sr += hj * u[j, H + k]
                            su += hj * u[j, 2 * H + k]
                    row = t * n_batch + b
                    zg = activate(ract, zx[row, k] + sz + brec[k])
                    rg = activate(ract, zx[row, H + k] + sr + brec[H + k])
                    uk = su + brec[2 * H + k]
                    hh = activate(act, zx[row, 2 * H + k] + rg * uk)
                    hk = zg * hk + (one - zg) * hh
                    if keep:
                        gates[t, b, k] = zg
                        gates[t, b, H + k] = rg
                        gates[t, b, 2 * H + k] = hh
                        us[t, b, k] = uk
                elif keep:
                    gates[t, b, k] = zero
                    gates[t, b, H + k] = zero
                    gates[t, b, 2 * H + k] = zero
                    us[t, b, k] = zero
                sh[nxt + idx] = hk
                if keep_h:
                    hs[t, b, k] = hk
            cuda.syncthreads()
        fin = off_h + (n_steps % 2) * pairs
        for idx in range(tid, pairs, nt):
            b = b0 + idx // H
            if b < n_batch:
                h_last[b, idx % H] = sh[fin + idx]

    @cuda.jit
    def backward(ut, h0, mask, has_mask, rmask, has_rdrop, act, ract, rows, u_shared, hs, gates, us, dhs, has_dhs,
                 dh_last, zero_masked, dz, dh0):  # fmt: skip
        sh = cuda.shared.array(0, nbtype)
        n_batch = h0.shape[0]
        H = h0.shape[1]
        G = 3 * H
        n_steps = gates.shape[0]
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        b0 = cuda.blockIdx.x * rows
        pairs = rows * H
        off_dh = G * H if u_shared else 0
        off_dz = off_dh + pairs
        if u_shared:
            for i in range(tid, G * H, nt):
                sh[i] = ut[i // H, i % H]
        for idx in range(tid, pairs, nt):
            b = b0 + idx // H
            if b < n_batch:
                sh[off_dh + idx] = dh_last[b, idx % H]
        cuda.syncthreads()
        for s in range(n_steps):
            t = n_steps - 1 - s
            zbuf = off_dz + (t % 2) * rows * G
            # Phase 1: gate gradients; dh holds the direct term dh * z afterwards.
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
                    dz[t, b, k] = zero
                    dz[t, b, H + k] = zero
                    dz[t, b, 2 * H + k] = zero
                    continue
                zg = gates[t, b, k]
                rg = gates[t, b, H + k]
                hh = gates[t, b, 2 * H + k]
                hprev = hs[t - 1, b, k] if t > 0 else h0[b, k]
                dhh = dhk * (one - zg) * derivative(act, hh)
                dzz = dhk * (hprev - hh) * derivative(ract, zg)
                drr = dhh * us[t, b, k] * derivative(ract, rg)
                dz[t, b, k] = dzz
                dz[t, b, H + k] = drr
                dz[t, b, 2 * H + k] = dhh
                zr = zbuf + r * G
                sh[zr + k] = dzz
                sh[zr + H + k] = drr
                sh[zr + 2 * H + k] = dhh * rg
                sh[off_dh + idx] = dhk * zg
            cuda.syncthreads()
            # Phase 2: dh_{t-1} = dh * z + ([dz', dr', dhh' * r] U^T) * m_r for valid rows.
            for idx in range(tid, pairs, nt):
                r = idx // H
                j = idx - r * H
                b = b0 + r
                if b >= n_batch or (has_mask and mask[t, b] == 0):
                    continue
                zr = zbuf + r * G
                acc = zero
                if u_shared:
                    for m in range(G):
                        acc += sh[zr + m] * sh[m * H + j]
                else:
                    for m in range(G):
                        acc += sh[zr + m] * ut[m, j]
                if has_rdrop:
                    acc = acc * rmask[b, j]
                sh[off_dh + idx] = sh[off_dh + idx] + acc
        for idx in range(tid, pairs, nt):
            b = b0 + idx // H
            if b < n_batch:
                dh0[b, idx % H] = sh[off_dh + idx]

    _KERNELS[dtype] = (forward, backward)
    return forward, backward


def gru_after_forward(xt, w, bias, u, brec, h0, mask, rmask, act, ract, hs, gates, us, h_last):
    """Run a ``reset_after`` GRU over a whole time-major batch on the device, filling the host buffers.

    Parameters
    ----------
    xt : ndarray of shape (T, B, F), float32 or float64
        Time-major input in reading order (dropout mask applied).
    w : ndarray of shape (F, 3H)
        Input kernel.
    bias : ndarray of shape (3H,)
        Input bias.
    u : ndarray of shape (H, 3H)
        Recurrent kernel.
    brec : ndarray of shape (3H,)
        Recurrent bias.
    h0 : ndarray of shape (B, H)
    mask : uint8 ndarray of shape (T, B), or (0, 0)
    rmask : ndarray of shape (B, H), or (0, 0)
    act, ract : int
        Activation codes.
    hs : ndarray of shape (T, B, H), or (0, 0, 0)
        Receives ``h_t`` of every step when not empty.
    gates : ndarray of shape (T, B, 3H), or (0, 0, 0)
        Receives z, r, hh when not empty (training).
    us : ndarray of shape (T, B, H), or (0, 0, 0)
        Receives ``u = hd Uh + bh'`` (training).
    h_last : ndarray of shape (B, H)
    """
    T, B, F = xt.shape
    d_zx = common.project(xt.reshape(T * B, F), w, bias)
    d_hs, d_gates, d_us = (common.empty_or_none(a) for a in (hs, gates, us))
    d_h = cuda.device_array(h_last.shape, xt.dtype)
    gru_after_forward_device(
        d_zx, common.to_device(u), common.to_device(brec), common.to_device(h0), common.device_or_none(mask),
        common.device_or_none(rmask), act, ract, d_hs, d_gates, d_us, d_h,
    )  # fmt: skip
    common.copy_back(d_hs, hs)
    common.copy_back(d_gates, gates)
    common.copy_back(d_us, us)
    d_h.copy_to_host(h_last)


def gru_after_forward_device(zx, u, brec, h0, mask, rmask, act, ract, hs, gates, us, h_last):
    """The ``reset_after`` GRU recurrence on device arrays (the input projection already done).

    Parameters
    ----------
    zx : DeviceNDArray of shape (T*B, 3H)
        ``x_t W + b`` of every step, time-major in reading order.
    u : DeviceNDArray of shape (H, 3H)
    brec : DeviceNDArray of shape (3H,)
    h0 : DeviceNDArray of shape (B, H)
    mask : uint8 DeviceNDArray of shape (T, B), or None
    rmask : DeviceNDArray of shape (B, H), or None
    act, ract : int
    hs : DeviceNDArray of shape (T, B, H), or None
    gates : DeviceNDArray of shape (T, B, 3H), or None (inference)
    us : DeviceNDArray of shape (T, B, H), or None (inference)
    h_last : DeviceNDArray of shape (B, H)
    """
    B, H = h0.shape
    dt = h0.dtype
    fwd, _ = gru_after_kernels(dt)
    d_mask, has_mask = common.or_dummy(mask, 2, np.uint8)
    d_rmask, has_rdrop = common.or_dummy(rmask, 2, dt)
    d_hs, keep_h = common.or_dummy(hs, 3, dt)
    d_gates, keep = common.or_dummy(gates, 3, dt)
    d_us, _ = common.or_dummy(us, 3, dt)
    shape = common.recurrence_shape(B, H, 2 * H, 3 * H * H, dt)
    common.launch(fwd, shape)(
        zx, u, brec, h0, d_mask, has_mask, d_rmask, has_rdrop, act, ract, shape.rows, shape.weights_shared, d_hs,
        keep_h, d_gates, d_us, keep, h_last,
    )  # fmt: skip


def gru_after_backward(ut, h0, mask, rmask, act, ract, hs, gates, us, dhs, dh_last, zero_masked, dz, dh0):
    """Backpropagate through a ``reset_after`` GRU over a whole batch on the device.

    Parameters
    ----------
    ut : ndarray of shape (3H, H)
        Transposed recurrent kernel.
    h0, mask, rmask, act, ract
        As in :func:`gru_after_forward`.
    hs : ndarray of shape (T, B, H)
    gates : ndarray of shape (T, B, 3H)
    us : ndarray of shape (T, B, H)
        Kept by :func:`gru_after_forward` in training mode.
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
    gru_after_backward_device(
        common.to_device(ut), common.to_device(h0), common.device_or_none(mask), common.device_or_none(rmask), act,
        ract, common.to_device(hs), common.to_device(gates), common.to_device(us), common.device_or_none(dhs),
        common.to_device(dh_last), zero_masked, d_dz, d_dh0,
    )  # fmt: skip
    d_dz.copy_to_host(dz)
    d_dh0.copy_to_host(dh0)


def gru_after_backward_device(ut, h0, mask, rmask, act, ract, hs, gates, us, dhs, dh_last, zero_masked, dz, dh0):
    """Backpropagation through time on device arrays; arguments as :func:`gru_after_backward`'s, on the device.

    ``mask``, ``rmask`` and ``dhs`` are None when absent; ``dz`` (T, B, 3H) and ``dh0`` (B, H)
    receive the results.
    """
    _, B, H = hs.shape
    dt = hs.dtype
    _, bwd = gru_after_kernels(dt)
    d_mask, has_mask = common.or_dummy(mask, 2, np.uint8)
    d_rmask, has_rdrop = common.or_dummy(rmask, 2, dt)
    d_dhs, has_dhs = common.or_dummy(dhs, 3, dt)
    shape = common.recurrence_shape(B, H, 7 * H, 3 * H * H, dt)
    common.launch(bwd, shape)(
        ut, h0, d_mask, has_mask, d_rmask, has_rdrop, act, ract, shape.rows, shape.weights_shared, hs, gates, us,
        d_dhs, has_dhs, dh_last, bool(zero_masked), dz, dh0,
    )  # fmt: skip
