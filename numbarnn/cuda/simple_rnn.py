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

__all__ = ["simple_backward", "simple_forward", "simple_kernels"]

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
    H = u.shape[0]
    fwd, _ = simple_kernels(xt.dtype)
    d_zx = common.project(xt.reshape(T * B, F), w, bias)
    d_mask, has_mask = common.optional_input(mask, 2)
    d_rmask, has_rdrop = common.optional_input(rmask, 2)
    d_hs, keep_h = common.optional_output(hs)
    d_h = cuda.device_array((B, H), xt.dtype)
    shape = common.recurrence_shape(B, H, 2 * H, H * H, xt.dtype)
    common.launch(fwd, shape)(
        d_zx, common.to_device(u), common.to_device(h0), d_mask, has_mask, d_rmask, has_rdrop, act, shape.rows,
        shape.weights_shared, d_hs, keep_h, d_h,
    )  # fmt: skip
    common.copy_back(d_hs, hs)
    d_h.copy_to_host(h_last)


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
    _, B, H = hs.shape
    _, bwd = simple_kernels(hs.dtype)
    d_mask, has_mask = common.optional_input(mask, 2)
    d_rmask, has_rdrop = common.optional_input(rmask, 2)
    d_dhs, has_dhs = common.optional_input(dhs, 3)
    d_dz = cuda.device_array(dz.shape, dz.dtype)
    d_dh0 = cuda.device_array((B, H), hs.dtype)
    shape = common.recurrence_shape(B, H, 3 * H, H * H, hs.dtype)
    common.launch(bwd, shape)(
        common.to_device(ut), d_mask, has_mask, d_rmask, has_rdrop, act, shape.rows, shape.weights_shared,
        common.to_device(hs), d_dhs, has_dhs, common.to_device(dh_last), bool(zero_masked), d_dz, d_dh0,
    )  # fmt: skip
    d_dz.copy_to_host(dz)
    d_dh0.copy_to_host(dh0)
