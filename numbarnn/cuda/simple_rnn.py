"""SimpleRNN (Elman) forward and backward-through-time kernels on the CUDA device.

Equations (one step, row vectors)::

    h_t = act(x_t W + b + (h_{t-1} * m_r) U)

``m_r`` is the recurrent dropout mask (ones when absent); a masked step carries
``h`` through unchanged. ``x_t W + b`` is one GEMM for every step. Backward::

    dz = dh_t * act'(h_t)          dh_{t-1} = (dz U^T) * m_r

Layout and launch as in :mod:`numbarnn.cuda.lstm`: time-major buffers in
reading order, one launch for the whole time loop, a block per chunk of batch
rows; ``h`` (forward) and ``dz`` (backward) are double-buffered in shared
memory, one ``syncthreads`` a step.

Shared memory (elements): forward ``[U (H*H) if shared] [h: 2 x rows*H]``;
backward ``[U^T (H*H) if shared] [dh: rows*H] [dz: 2 x rows*H]``.
"""

import numpy as np
from numba import cuda

from . import common
from .nonlinear import device_activations

__all__ = [
    "simple_backward",
    "simple_backward_device",
    "simple_forward",
    "simple_forward_device",
    "simple_kernels",
]

_KERNELS = {}


def simple_kernels(dtype):
    """The SimpleRNN ``(forward, backward)`` CUDA kernels for one dtype.

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64.

    Returns
    -------
    forward, backward : CUDA kernels
        Launched by :func:`simple_forward` and :func:`simple_backward`.
    """
    dtype = np.dtype(dtype)
    if dtype in _KERNELS:
        return _KERNELS[dtype]
    nbtype = common._numba_type(dtype)
    activate, derivative = device_activations(dtype)
    zero = dtype.type(0.0)

    @cuda.jit
    def forward(zx, u, h0, mask, has_mask, rmask, has_rdrop, act, rows, u_shared, hs, keep_h, h_last):
        sh = cuda.shared.array(0, nbtype)
        n_batch = h0.shape[0]
        H = h0.shape[1]
        n_steps = zx.shape[0] // n_batch
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        b0 = cuda.blockIdx.x * rows
        pairs = rows * H
        off_h = H * H if u_shared else 0
        if u_shared:
            for i in range(tid, H * H, nt):
                sh[i] = u[i // H, i % H]
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
                    acc = zero
                    hb = cur + r * H
                    if u_shared:
                        for j in range(H):
                            hj = sh[hb + j]
                            if has_rdrop:
                                hj = hj * rmask[b, j]
                            acc += hj * sh[j * H + k]
                    else:
                        for j in range(H):
                            hj = sh[hb + j]
                            if has_rdrop:
                                hj = hj * rmask[b, j]
                            acc += hj * u[j, k]
                    hk = activate(act, zx[t * n_batch + b, k] + acc)
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
    def backward(ut, mask, has_mask, rmask, has_rdrop, act, rows, u_shared, hs, dhs, has_dhs, dh_last, zero_masked,
                 dz, dh0):  # fmt: skip
        sh = cuda.shared.array(0, nbtype)
        n_batch = hs.shape[1]
        H = hs.shape[2]
        n_steps = hs.shape[0]
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        b0 = cuda.blockIdx.x * rows
        pairs = rows * H
        off_dh = H * H if u_shared else 0
        off_dz = off_dh + pairs
        if u_shared:
            for i in range(tid, H * H, nt):
                sh[i] = ut[i // H, i % H]
        for idx in range(tid, pairs, nt):
            b = b0 + idx // H
            if b < n_batch:
                sh[off_dh + idx] = dh_last[b, idx % H]
        cuda.syncthreads()
        for s in range(n_steps):
            t = n_steps - 1 - s
            zbuf = off_dz + (t % 2) * pairs
            # Phase 1: dz = dh * act'(h_t).
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
                if valid:
                    d = derivative(act, hs[t, b, k]) * dhk
                    dz[t, b, k] = d
                    sh[zbuf + idx] = d
                else:
                    dz[t, b, k] = zero
                    sh[off_dh + idx] = dhk
            cuda.syncthreads()
            # Phase 2: dh_{t-1} = (dz U^T) * m_r for valid rows (dz double-buffered: no second sync).
            for idx in range(tid, pairs, nt):
                r = idx // H
                j = idx - r * H
                b = b0 + r
                if b >= n_batch or (has_mask and mask[t, b] == 0):
                    continue
                zr = zbuf + r * H
                acc = zero
                if u_shared:
                    for m in range(H):
                        acc += sh[zr + m] * sh[m * H + j]
                else:
                    for m in range(H):
                        acc += sh[zr + m] * ut[m, j]
                if has_rdrop:
                    acc = acc * rmask[b, j]
                sh[off_dh + idx] = acc
        for idx in range(tid, pairs, nt):
            b = b0 + idx // H
            if b < n_batch:
                dh0[b, idx % H] = sh[off_dh + idx]

    _KERNELS[dtype] = (forward, backward)
    return forward, backward


def simple_forward(xt, w, bias, u, h0, mask, rmask, act, hs, h_last):
    """Run a SimpleRNN over a whole time-major batch on the device, filling the host buffers.

    Parameters
    ----------
    xt : ndarray of shape (T, B, F), float32 or float64
        Time-major input in reading order (dropout mask applied).
    w : ndarray of shape (F, H)
        Input kernel.
    bias : ndarray of shape (H,)
    u : ndarray of shape (H, H)
        Recurrent kernel.
    h0 : ndarray of shape (B, H)
    mask : uint8 ndarray of shape (T, B), or (0, 0)
    rmask : ndarray of shape (B, H), or (0, 0)
    act : int
        Activation code.
    hs : ndarray of shape (T, B, H), or (0, 0, 0)
        Receives ``h_t`` of every step when not empty (needed for training).
    h_last : ndarray of shape (B, H)
    """
    T, B, F = xt.shape
    d_zx = common.project(xt.reshape(T * B, F), w, bias)
    d_hs = common.empty_or_none(hs)
    d_h = cuda.device_array(h_last.shape, xt.dtype)
    simple_forward_device(
        d_zx, common.to_device(u), common.to_device(h0), common.device_or_none(mask), common.device_or_none(rmask),
        act, d_hs, d_h,
    )  # fmt: skip
    common.copy_back(d_hs, hs)
    d_h.copy_to_host(h_last)


def simple_forward_device(zx, u, h0, mask, rmask, act, hs, h_last):
    """The SimpleRNN recurrence on device arrays (the input projection already done).

    Parameters
    ----------
    zx : DeviceNDArray of shape (T*B, H)
        ``x_t W + b`` of every step, time-major in reading order.
    u : DeviceNDArray of shape (H, H)
    h0 : DeviceNDArray of shape (B, H)
    mask : uint8 DeviceNDArray of shape (T, B), or None
    rmask : DeviceNDArray of shape (B, H), or None
    act : int
    hs : DeviceNDArray of shape (T, B, H), or None
    h_last : DeviceNDArray of shape (B, H)
    """
    B, H = h0.shape
    dt = h0.dtype
    fwd, _ = simple_kernels(dt)
    d_mask, has_mask = common.or_dummy(mask, 2, np.uint8)
    d_rmask, has_rdrop = common.or_dummy(rmask, 2, dt)
    d_hs, keep_h = common.or_dummy(hs, 3, dt)
    shape = common.recurrence_shape(B, H, 2 * H, H * H, dt)
    common.launch(fwd, shape)(
        zx, u, h0, d_mask, has_mask, d_rmask, has_rdrop, act, shape.rows, shape.weights_shared, d_hs, keep_h, h_last
    )


def simple_backward(ut, mask, rmask, act, hs, dhs, dh_last, zero_masked, dz, dh0):
    """Backpropagate through a SimpleRNN over a whole batch on the device.

    Parameters
    ----------
    ut : ndarray of shape (H, H)
        Transposed recurrent kernel.
    mask, rmask, act
        As in :func:`simple_forward`.
    hs : ndarray of shape (T, B, H)
        Kept by :func:`simple_forward`.
    dhs : ndarray of shape (T, B, H), or (0, 0, 0)
        Gradient with respect to each step's output.
    dh_last : ndarray of shape (B, H)
        Gradient with respect to the final state.
    zero_masked : bool
        Masked steps output zeros (their output gradient is dropped).
    dz : ndarray of shape (T, B, H)
        Receives the gradient with respect to the pre-activation.
    dh0 : ndarray of shape (B, H)
        Receives the gradient with respect to the initial state.
    """
    d_dz = cuda.device_array(dz.shape, dz.dtype)
    d_dh0 = cuda.device_array(dh0.shape, hs.dtype)
    simple_backward_device(
        common.to_device(ut), common.device_or_none(mask), common.device_or_none(rmask), act, common.to_device(hs),
        common.device_or_none(dhs), common.to_device(dh_last), zero_masked, d_dz, d_dh0,
    )  # fmt: skip
    d_dz.copy_to_host(dz)
    d_dh0.copy_to_host(dh0)


def simple_backward_device(ut, mask, rmask, act, hs, dhs, dh_last, zero_masked, dz, dh0):
    """Backpropagation through time on device arrays; arguments as :func:`simple_backward`'s, on the device.

    ``mask``, ``rmask`` and ``dhs`` are None when absent; ``dz`` (T, B, H) and ``dh0`` (B, H)
    receive the results.
    """
    _, B, H = hs.shape
    dt = hs.dtype
    _, bwd = simple_kernels(dt)
    d_mask, has_mask = common.or_dummy(mask, 2, np.uint8)
    d_rmask, has_rdrop = common.or_dummy(rmask, 2, dt)
    d_dhs, has_dhs = common.or_dummy(dhs, 3, dt)
    shape = common.recurrence_shape(B, H, 3 * H, H * H, dt)
    common.launch(bwd, shape)(
        ut, d_mask, has_mask, d_rmask, has_rdrop, act, shape.rows, shape.weights_shared, hs, d_dhs, has_dhs, dh_last,
        bool(zero_masked), dz, dh0,
    )  # fmt: skip
