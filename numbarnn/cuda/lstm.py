"""LSTM forward and backward-through-time kernels on the CUDA device.

Equations (one step, row vectors, gate blocks in Keras order i, f, c, o)::

    z_t = x_t W + b + (h_{t-1} * m_r) U          (x_t W + b: zx, one GEMM for every step)
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

Layout: time-major ``(T, B, .)`` arrays in reading order, as on the CPU
(:mod:`numbarnn.kernels.lstm`). One launch runs the whole time loop; block
``q`` owns batch rows ``q*rows : (q+1)*rows``; a thread owns the same
(row, unit) pairs at every step, so ``c`` (and ``dc``) is only ever touched by
its owner, while ``h`` is read by every thread of its row: the forward pass
double-buffers ``h`` (one ``syncthreads`` a step), the backward pass
double-buffers ``dz`` (one ``syncthreads`` a step).

Shared memory (elements): forward ``[U (H*4H) if shared] [h: 2 x rows*H] [c: rows*H]``;
backward ``[U^T (4H*H) if shared] [dh: rows*H] [dc: rows*H] [dz: 2 x rows*4H]``.
"""

import numpy as np
from numba import cuda

from . import common
from .nonlinear import device_activations

__all__ = [
    "lstm_backward",
    "lstm_backward_device",
    "lstm_forward",
    "lstm_forward_device",
    "lstm_kernels",
]

_KERNELS = {}


def lstm_kernels(dtype):
    """The LSTM ``(forward, backward)`` CUDA kernels for one dtype.

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64.

    Returns
    -------
    forward, backward : CUDA kernels
        Launched by :func:`lstm_forward` and :func:`lstm_backward`.
    """
    dtype = np.dtype(dtype)
    if dtype in _KERNELS:
        return _KERNELS[dtype]
    nbtype = common._numba_type(dtype)
    activate, derivative = device_activations(dtype)
    zero = dtype.type(0.0)

    @cuda.jit
    def forward(zx, u, h0, c0, mask, has_mask, rmask, has_rdrop, act, ract, rows, u_shared,
                hs, keep_h, cs, gates, keep, h_last, c_last):  # fmt: skip
        sh = cuda.shared.array(0, nbtype)
        n_batch = h0.shape[0]
        H = h0.shape[1]
        G = 4 * H
        n_steps = zx.shape[0] // n_batch
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        b0 = cuda.blockIdx.x * rows
        pairs = rows * H
        off_h = H * G if u_shared else 0
        off_c = off_h + 2 * pairs
        if u_shared:
            for i in range(tid, H * G, nt):
                sh[i] = u[i // G, i % G]
        for idx in range(tid, pairs, nt):
            b = b0 + idx // H
            k = idx % H
            if b < n_batch:
                sh[off_h + idx] = h0[b, k]
                sh[off_c + idx] = c0[b, k]
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
                ck = sh[off_c + idx]
                if (not has_mask) or mask[t, b] != 0:
                    si = zero
                    sf = zero
                    sc = zero
                    so = zero
                    hb = cur + r * H
                    if u_shared:
                        for j in range(H):
                            hj = sh[hb + j]
                            if has_rdrop:
                                hj = hj * rmask[b, j]
                            w0 = j * G + k
                            si += hj * sh[w0]
                            sf += hj * sh[w0 + H]
                            sc += hj * sh[w0 + 2 * H]
                            so += hj * sh[w0 + 3 * H]
                    else:
                        for j in range(H):
                            hj = sh[hb + j]
                            if has_rdrop:
                                hj = hj * rmask[b, j]
                            si += hj * u[j, k]
                            sf += hj * u[j, H + k]
                            sc += hj * u[j, 2 * H + k]
                            so += hj * u[j, 3 * H + k]
                    row = t * n_batch + b
                    ig = activate(ract, zx[row, k] + si)
                    fg = activate(ract, zx[row, H + k] + sf)
                    gg = activate(act, zx[row, 2 * H + k] + sc)
                    og = activate(ract, zx[row, 3 * H + k] + so)
                    ck = fg * ck + ig * gg
                    hk = og * activate(act, ck)
                    sh[off_c + idx] = ck
                    if keep:
                        gates[t, b, k] = ig
                        gates[t, b, H + k] = fg
                        gates[t, b, 2 * H + k] = gg
                        gates[t, b, 3 * H + k] = og
                elif keep:
                    gates[t, b, k] = zero
                    gates[t, b, H + k] = zero
                    gates[t, b, 2 * H + k] = zero
                    gates[t, b, 3 * H + k] = zero
                sh[nxt + idx] = hk
                if keep_h:
                    hs[t, b, k] = hk
                if keep:
                    cs[t, b, k] = ck
            cuda.syncthreads()
        fin = off_h + (n_steps % 2) * pairs
        for idx in range(tid, pairs, nt):
            b = b0 + idx // H
            k = idx % H
            if b < n_batch:
                h_last[b, k] = sh[fin + idx]
                c_last[b, k] = sh[off_c + idx]

    @cuda.jit
    def backward(ut, c0, mask, has_mask, rmask, has_rdrop, act, ract, rows, u_shared, cs, gates, dhs, has_dhs,
                 dh_last, dc_last, zero_masked, dz, dh0, dc0):  # fmt: skip
        sh = cuda.shared.array(0, nbtype)
        n_batch = c0.shape[0]
        H = c0.shape[1]
        G = 4 * H
        n_steps = cs.shape[0]
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        b0 = cuda.blockIdx.x * rows
        pairs = rows * H
        off_dh = G * H if u_shared else 0
        off_dc = off_dh + pairs
        off_dz = off_dc + pairs
        if u_shared:
            for i in range(tid, G * H, nt):
                sh[i] = ut[i // H, i % H]
        for idx in range(tid, pairs, nt):
            b = b0 + idx // H
            k = idx % H
            if b < n_batch:
                sh[off_dh + idx] = dh_last[b, k]
                sh[off_dc + idx] = dc_last[b, k]
        cuda.syncthreads()
        for s in range(n_steps):
            t = n_steps - 1 - s
            zbuf = off_dz + (t % 2) * rows * G
            # Phase 1: the gate gradients of every (row, unit) pair.
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
                    dz[t, b, 3 * H + k] = zero
                    continue
                ig = gates[t, b, k]
                fg = gates[t, b, H + k]
                gg = gates[t, b, 2 * H + k]
                og = gates[t, b, 3 * H + k]
                cprev = cs[t - 1, b, k] if t > 0 else c0[b, k]
                ac = activate(act, cs[t, b, k])
                dck = sh[off_dc + idx] + dhk * og * derivative(act, ac)
                dzi = dck * gg * derivative(ract, ig)
                dzf = dck * cprev * derivative(ract, fg)
                dzc = dck * ig * derivative(act, gg)
                dzo = dhk * ac * derivative(ract, og)
                dz[t, b, k] = dzi
                dz[t, b, H + k] = dzf
                dz[t, b, 2 * H + k] = dzc
                dz[t, b, 3 * H + k] = dzo
                zr = zbuf + r * G
                sh[zr + k] = dzi
                sh[zr + H + k] = dzf
                sh[zr + 2 * H + k] = dzc
                sh[zr + 3 * H + k] = dzo
                sh[off_dc + idx] = dck * fg
            cuda.syncthreads()
            # Phase 2: dh_{t-1} = (dz U^T) * m_r for valid rows (dz is double-buffered: no second sync).
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
                sh[off_dh + idx] = acc
        for idx in range(tid, pairs, nt):
            b = b0 + idx // H
            k = idx % H
            if b < n_batch:
                dh0[b, k] = sh[off_dh + idx]
                dc0[b, k] = sh[off_dc + idx]

    _KERNELS[dtype] = (forward, backward)
    return forward, backward


def lstm_forward(xt, w, bias, u, h0, c0, mask, rmask, act, ract, hs, cs, gates, h_last, c_last):
    """Run an LSTM over a whole time-major batch on the device, filling the host buffers.

    Parameters
    ----------
    xt : ndarray of shape (T, B, F), float32 or float64
        Time-major input in reading order (dropout mask applied).
    w : ndarray of shape (F, 4H)
        Input kernel.
    bias : ndarray of shape (4H,)
    u : ndarray of shape (H, 4H)
        Recurrent kernel.
    h0, c0 : ndarray of shape (B, H)
        Initial states.
    mask : uint8 ndarray of shape (T, B), or (0, 0) for no mask
    rmask : ndarray of shape (B, H), or (0, 0) for no recurrent dropout
    act, ract : int
        Activation codes (:data:`numbarnn.kernels.nonlinear.CODES`).
    hs, cs : ndarray of shape (T, B, H), or (0, 0, 0)
        Receive ``h_t`` and ``c_t`` of every step when not empty.
    gates : ndarray of shape (T, B, 4H), or (0, 0, 0)
        Receives the activated gates i, f, g, o when not empty (training).
    h_last, c_last : ndarray of shape (B, H)
        Receive the final states.
    """
    T, B, F = xt.shape
    d_zx = common.project(xt.reshape(T * B, F), w, bias)
    d_hs, d_cs, d_gates = (common.empty_or_none(a) for a in (hs, cs, gates))
    d_h = cuda.device_array(h_last.shape, xt.dtype)
    d_c = cuda.device_array(c_last.shape, xt.dtype)
    lstm_forward_device(
        d_zx, common.to_device(u), common.to_device(h0), common.to_device(c0), common.device_or_none(mask),
        common.device_or_none(rmask), act, ract, d_hs, d_cs, d_gates, d_h, d_c,
    )  # fmt: skip
    common.copy_back(d_hs, hs)
    common.copy_back(d_cs, cs)
    common.copy_back(d_gates, gates)
    d_h.copy_to_host(h_last)
    d_c.copy_to_host(c_last)


def lstm_forward_device(zx, u, h0, c0, mask, rmask, act, ract, hs, cs, gates, h_last, c_last):
    """The LSTM recurrence on device arrays (the input projection already done).

    Parameters
    ----------
    zx : DeviceNDArray of shape (T*B, 4H)
        ``x_t W + b`` of every step, time-major in reading order.
    u : DeviceNDArray of shape (H, 4H)
    h0, c0 : DeviceNDArray of shape (B, H)
    mask : uint8 DeviceNDArray of shape (T, B), or None
    rmask : DeviceNDArray of shape (B, H), or None
    act, ract : int
    hs, cs : DeviceNDArray of shape (T, B, H), or None
        Receive every step's states (both, or neither: training keeps them).
    gates : DeviceNDArray of shape (T, B, 4H), or None (inference)
    h_last, c_last : DeviceNDArray of shape (B, H)
    """
    B, H = h0.shape
    fwd, _ = lstm_kernels(h0.dtype)
    dt = h0.dtype
    d_mask, has_mask = common.or_dummy(mask, 2, np.uint8)
    d_rmask, has_rdrop = common.or_dummy(rmask, 2, dt)
    d_hs, keep_h = common.or_dummy(hs, 3, dt)
    d_cs, _ = common.or_dummy(cs, 3, dt)
    d_gates, keep = common.or_dummy(gates, 3, dt)
    shape = common.recurrence_shape(B, H, 3 * H, 4 * H * H, dt)
    common.launch(fwd, shape)(
        zx, u, h0, c0, d_mask, has_mask, d_rmask, has_rdrop, act, ract, shape.rows, shape.weights_shared, d_hs,
        keep_h, d_cs, d_gates, keep, h_last, c_last,
    )  # fmt: skip


def lstm_backward(ut, c0, mask, rmask, act, ract, cs, gates, dhs, dh_last, dc_last, zero_masked, dz, dh0, dc0):
    """Backpropagate through an LSTM over a whole batch on the device, filling the host arrays.

    Parameters
    ----------
    ut : ndarray of shape (4H, H)
        Transposed recurrent kernel.
    c0 : ndarray of shape (B, H)
        Initial cell state.
    mask, rmask, act, ract
        As in :func:`lstm_forward`.
    cs : ndarray of shape (T, B, H)
    gates : ndarray of shape (T, B, 4H)
        Kept by :func:`lstm_forward` in training mode.
    dhs : ndarray of shape (T, B, H), or (0, 0, 0)
        Gradient of the loss with respect to each step's output.
    dh_last, dc_last : ndarray of shape (B, H)
        Gradient with respect to the final states.
    zero_masked : bool
        Masked steps output zeros (their output gradient is dropped).
    dz : ndarray of shape (T, B, 4H)
        Receives the gradient with respect to the gate pre-activations (zeros at masked steps).
    dh0, dc0 : ndarray of shape (B, H)
        Receive the gradient with respect to the initial states.
    """
    d_dz = cuda.device_array(dz.shape, dz.dtype)
    d_dh0 = cuda.device_array(dh0.shape, cs.dtype)
    d_dc0 = cuda.device_array(dc0.shape, cs.dtype)
    lstm_backward_device(
        common.to_device(ut), common.to_device(c0), common.device_or_none(mask), common.device_or_none(rmask), act,
        ract, common.to_device(cs), common.to_device(gates), common.device_or_none(dhs), common.to_device(dh_last),
        common.to_device(dc_last), zero_masked, d_dz, d_dh0, d_dc0,
    )  # fmt: skip
    d_dz.copy_to_host(dz)
    d_dh0.copy_to_host(dh0)
    d_dc0.copy_to_host(dc0)


def lstm_backward_device(ut, c0, mask, rmask, act, ract, cs, gates, dhs, dh_last, dc_last, zero_masked, dz, dh0, dc0):
    """Backpropagation through time on device arrays; arguments as :func:`lstm_backward`'s, on the device.

    ``mask``, ``rmask`` and ``dhs`` are None when absent; ``dz`` (T, B, 4H), ``dh0`` and
    ``dc0`` (B, H) receive the results.
    """
    _, B, H = cs.shape
    dt = cs.dtype
    _, bwd = lstm_kernels(dt)
    d_mask, has_mask = common.or_dummy(mask, 2, np.uint8)
    d_rmask, has_rdrop = common.or_dummy(rmask, 2, dt)
    d_dhs, has_dhs = common.or_dummy(dhs, 3, dt)
    shape = common.recurrence_shape(B, H, 10 * H, 4 * H * H, dt)
    common.launch(bwd, shape)(
        ut, c0, d_mask, has_mask, d_rmask, has_rdrop, act, ract, shape.rows, shape.weights_shared, cs, gates, d_dhs,
        has_dhs, dh_last, dc_last, bool(zero_masked), dz, dh0, dc0,
    )  # fmt: skip
