"""Device-array building blocks for a training step that runs entirely on the GPU.

Every function takes numba device arrays (C-contiguous; the float arrays of one
call all float32 or all float64, the index arrays int64), launches its kernels
on the default stream and returns None, unless it says that it returns a host
scalar: then it copies that one number back. Nothing else crosses to or from
the host. Kernels are built once per dtype and every constant has the working
dtype, so a float32 kernel never computes in float64 (the float64 reductions
excepted, by design). ``op(a)`` below is ``a`` or ``a.T``; ``[+ ...]`` terms
are optional, ``(+)=`` means ``=`` or ``+=`` (``accumulate``)::

    gemm                  out = op(a) @ op(b) [+ bias] [+ out]
    column_sums           out[j] (+)= sum_i a[i, j]
    activate              out = f(z);   softmax: out[n] = exp(z[n] - max z[n]) / sum_k exp(z[n, k] - max z[n])
    activation_backward   out = dy * f'(x) (through y = f(x));   softmax: out = y * (dy - sum_k dy[n, k] y[n, k])
    add                   out = a + b
    multiply              out = a * b
    scale                 out = alpha * a
    fill                  a = value     (zeros: a new array of them)
    copy                  dst = src
    multiply_rows         out[n, k] = a[n, k] * s[n]
    time_major            out[t, b] = x[b, T-1-t if reverse else t]
    batch_major           out[b, t] = xt[T-1-t if reverse else t, b]
    copy_columns          out[n, j] = a[n, c0 + j]
    set_columns           out[n, c0 + j] (+)= a[n, j]
    multiply_columns      out[n, j] = a[n, a0 + j] * b[n, b0 + j]
    shift_states          out[0] = h0 [* rmask],  out[t] = hs[t-1] [* rmask]  (t >= 1)
    loss_rows             values[n] = scale[n] * loss(y_true[n], y_pred[n]),  grad[n] = scale[n] * dloss/dy_pred[n]
    sgd_update            m = momentum m - lr g;  w += m  (nesterov: w += momentum m - lr g);  no momentum: w -= lr g
    rmsprop_update        vel = rho vel + (1 - rho) g**2;  [avg = rho avg + (1 - rho) g];
                          inc = lr g / sqrt(vel + eps [- avg**2]);  [mom = momentum mom + inc];  w -= inc (or mom)
    adam_update           m += (1 - beta_1)(g - m);  v += (1 - beta_2)(g**2 - v);  [vhat = max(vhat, v)];
                          w -= alpha m / (sqrt(v or vhat) + eps)
    decay                 w -= factor * w
    clip_values           g = clip(g, -c, c)
    sum_squares           -> sum a**2  (host float, float64)
    sum_all               -> sum a     (host float, float64)
    add_penalty_gradient  g += l1 sign(w) + 2 l2 w
    penalty               -> l1 sum |w| + l2 sum w**2  (host float, float64)
    gather_rows           out[n] = table[idx[n]]
    scatter_rows          out = 0;  out[rows[u]] = sum_{k = starts[u]}^{starts[u+1]-1} dy[order[k]]
    scatter_plan          (host) order, starts, rows of idx, for scatter_rows
    concat_last           out = [a, b] along the last axis
    split_last            [da, db] = d along the last axis

The optimizer steps mirror :mod:`numbarnn.optimizers` operation for operation,
the losses :mod:`numbarnn.losses` (each loss value averaged over the last
axis, the categorical cross-entropy summed), the penalties
:mod:`numbarnn.regularizers`, the activations :mod:`numbarnn.activations` and
the codes of :data:`numbarnn.kernels.nonlinear.CODES` (plus :data:`SOFTMAX`).

Launches. Elementwise kernels are 1-D grid-stride loops (blocks of 128
threads); the row kernels (softmax, losses) give a row to a thread; ``gemm``
is a shared-memory tiled product like :func:`numbarnn.cuda.common.gemm_kernel`.
On the simulator the blocks are tiny (4 threads, at most 3 blocks) so that
grid-stride loops wrap and partial blocks and tiles run in the tests.

Determinism. No atomics: every sum is made by one thread in increasing index
order (a GEMM output over ``k``, a column sum over rows, a scattered row over
its occurrences), so results do not depend on the launch shape. The float64
totals (``sum_squares``, ``sum_all``, ``penalty``) run in one block: partial
sum ``p`` (of a fixed number of them) adds elements ``p, p + P, p + 2P, ...``
in order and one thread then adds the partial sums in order, whatever the
number of threads. (On a GPU, NVVM may fuse a multiply and an add into one
FMA, which rounds once; it does so the same way at every launch.)

Indices are not checked on the device (``gather_rows`` with an index outside
the table reads out of bounds): checking them would need a copy to the host.
"""

import math

import numpy as np
from numba import cuda, float64

from ..kernels import optim
from ..kernels.nonlinear import HARD_SIGMOID, LINEAR, RELU, SIGMOID, TANH
from ..losses import EPSILON
from . import common
from .nonlinear import device_activations

__all__ = [
    "LOSS_CODES",
    "SOFTMAX",
    "TILE",
    "activate",
    "activation_backward",
    "adam_update",
    "add",
    "add_penalty_gradient",
    "batch_major",
    "clip_values",
    "column_sums",
    "concat_last",
    "copy",
    "copy_columns",
    "decay",
    "fill",
    "gather_rows",
    "gemm",
    "loss_rows",
    "multiply",
    "multiply_columns",
    "multiply_rows",
    "ops_kernels",
    "penalty",
    "rmsprop_update",
    "scale",
    "scatter_plan",
    "scatter_rows",
    "set_columns",
    "sgd_update",
    "shift_states",
    "split_last",
    "sum_all",
    "sum_squares",
    "time_major",
    "zeros",
]

#: Activation code of the softmax along the last axis (2-D arrays), next to the codes of
#: :data:`numbarnn.kernels.nonlinear.CODES`.
SOFTMAX = 100

_ELEMENTWISE_CODES = (LINEAR, TANH, SIGMOID, HARD_SIGMOID, RELU)

_MSE, _MAE, _HUBER, _BCE, _CCE = 0, 1, 2, 3, 4

#: Loss names taken by :func:`loss_rows`, mapped to the kernel's codes.
LOSS_CODES = {
    "mse": _MSE,
    "mean_squared_error": _MSE,
    "mae": _MAE,
    "mean_absolute_error": _MAE,
    "huber": _HUBER,
    "huber_loss": _HUBER,
    "binary_crossentropy": _BCE,
    "categorical_crossentropy": _CCE,
}

_SUM, _SQUARES, _ABS = 0, 1, 2

# Threads of an elementwise block and most blocks of a grid-stride launch (tests may change them).
_BLOCK = 4 if common.SIMULATOR else 128
_MAX_BLOCKS = 3 if common.SIMULATOR else 2048

# Threads of the one block of a float64 total (tests may change it: the result does not depend on it).
_REDUCE_THREADS = 4 if common.SIMULATOR else 256
# Number of strided partial sums of a total: fixed, so the order of the additions depends on the size only.
_PARTS = 256

#: Side of the GEMM's thread block and shared-memory tiles (read at each call).
TILE = common.TILE

#: Run ``gemm`` as a grid-stride loop of one thread per output instead of the tiled kernel. The
#: simulator runs every CUDA thread as a Python thread and every ``syncthreads`` as a switch
#: between them, which makes the tiled kernel its slowest part; the two kernels add the same
#: products in the same order, so their results are bitwise equal (the tests check it), and
#: the model tests on the simulator take this one. A real GPU always takes the tiled kernel.
SIMPLE_GEMM = common.SIMULATOR

_KERNELS = {}
_GEMMS = {}


# --------------------------------------------------------------------------- kernels


def _gemm_kernel(dtype, tile):
    dtype = np.dtype(dtype)
    key = (dtype, tile)
    if key in _GEMMS:
        return _GEMMS[key]
    nbtype = common._numba_type(dtype)
    zero = dtype.type(0.0)
    padded = tile + 1  # a compile-time constant for the shared-array shape

    @cuda.jit
    def gemm_k(a, b, bias, has_bias, trans_a, trans_b, accumulate, out):
        # Logical tiles sa[r, c] = op(a)[row0 + r, k0 + c] and sb[r, c] = op(b)[k0 + r, col0 + c]; a
        # transposed operand is read with the thread's x index along its contiguous axis (coalesced)
        # and stored transposed. One column of padding avoids shared-memory bank conflicts.
        sa = cuda.shared.array((tile, padded), nbtype)
        sb = cuda.shared.array((tile, padded), nbtype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row0 = cuda.blockIdx.x * tile
        col0 = cuda.blockIdx.y * tile
        m = out.shape[0]
        n = out.shape[1]
        kk = b.shape[1] if trans_b else b.shape[0]
        row = row0 + ty
        col = col0 + tx
        acc = zero
        for k0 in range(0, kk, tile):
            if trans_a:  # a is (K, M)
                ka = k0 + ty
                ra = row0 + tx
                sa[tx, ty] = a[ka, ra] if ka < kk and ra < m else zero
            else:
                ka = k0 + tx
                sa[ty, tx] = a[row, ka] if row < m and ka < kk else zero
            if trans_b:  # b is (N, K)
                kb = k0 + tx
                cb = col0 + ty
                sb[tx, ty] = b[cb, kb] if cb < n and kb < kk else zero
            else:
                kb = k0 + ty
                sb[ty, tx] = b[kb, col] if kb < kk and col < n else zero
            cuda.syncthreads()
            for p in range(min(tile, kk - k0)):
                acc += sa[ty, p] * sb[p, tx]
            cuda.syncthreads()
        if row < m and col < n:
            if has_bias:
                acc = acc + bias[col]
            if accumulate:
                acc = acc + out[row, col]
            out[row, col] = acc

    _GEMMS[key] = gemm_k
    return gemm_k


def _simple_gemm_kernel(dtype):
    dtype = np.dtype(dtype)
    key = (dtype, "simple")
    if key in _GEMMS:
        return _GEMMS[key]
    zero = dtype.type(0.0)

    @cuda.jit
    def gemm_simple(a, b, bias, has_bias, trans_a, trans_b, accumulate, out):
        m = out.shape[0]
        n = out.shape[1]
        kk = b.shape[1] if trans_b else b.shape[0]
        for idx in range(cuda.grid(1), m * n, cuda.gridsize(1)):
            row = idx // n
            col = idx - row * n
            acc = zero
            for k in range(kk):
                av = a[k, row] if trans_a else a[row, k]
                bv = b[col, k] if trans_b else b[k, col]
                acc += av * bv
            if has_bias:
                acc = acc + bias[col]
            if accumulate:
                acc = acc + out[row, col]
            out[row, col] = acc

    _GEMMS[key] = gemm_simple
    return gemm_simple


def ops_kernels(dtype):
    """The CUDA kernels of this module for one dtype, by name (built once, compiled at first launch).

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64.

    Returns
    -------
    dict of str to CUDA kernel
        Every kernel but the GEMM's (``_gemm_kernel(dtype, TILE)``), for inspection and compile tests.
    """
    dtype = np.dtype(dtype)
    if dtype in _KERNELS:
        return _KERNELS[dtype]
    act, deriv = device_activations(dtype)
    zero = dtype.type(0.0)
    one = dtype.type(1.0)
    half = dtype.type(0.5)
    zero64 = np.float64(0.0)
    parts = _PARTS

    @cuda.jit(device=True, inline=True)
    def sign(x):
        # np.sign: -1, 0 or 1, NaN stays NaN.
        if x > zero:
            return one
        if x < zero:
            return -one
        if x == zero:
            return zero
        return x

    # -- elementwise, on flat views -------------------------------------------------------

    @cuda.jit
    def activate_k(code, z, out):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = act(code, z[i])

    @cuda.jit
    def derivative_k(code, y, dy, out):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = dy[i] * deriv(code, y[i])

    @cuda.jit
    def add_k(a, b, out):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = a[i] + b[i]

    @cuda.jit
    def multiply_k(a, b, out):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = a[i] * b[i]

    @cuda.jit
    def scale_k(a, alpha, out):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = alpha * a[i]

    @cuda.jit
    def fill_k(a, value):
        for i in range(cuda.grid(1), a.shape[0], cuda.gridsize(1)):
            a[i] = value

    @cuda.jit
    def copy_k(src, dst):
        for i in range(cuda.grid(1), dst.shape[0], cuda.gridsize(1)):
            dst[i] = src[i]

    @cuda.jit
    def clip_k(g, c):
        for i in range(cuda.grid(1), g.shape[0], cuda.gridsize(1)):
            g[i] = min(max(g[i], -c), c)

    @cuda.jit
    def decay_k(w, factor):
        for i in range(cuda.grid(1), w.shape[0], cuda.gridsize(1)):
            w[i] = w[i] - factor * w[i]

    @cuda.jit
    def penalty_gradient_k(w, g, l1, has_l1, two_l2, has_l2):
        for i in range(cuda.grid(1), g.shape[0], cuda.gridsize(1)):
            p = zero
            if has_l1:
                p = p + l1 * sign(w[i])
            if has_l2:
                p = p + two_l2 * w[i]
            g[i] = g[i] + p

    # -- optimizers (flat) -------------------------------------------------------------------

    # The rules of numbarnn.kernels.optim, compiled for the device: the CPU's operations in its order.
    sgd_rule = cuda.jit(device=True, inline=True)(optim.sgd_rule)
    rmsprop_rule = cuda.jit(device=True, inline=True)(optim.rmsprop_rule)
    adam_rule = cuda.jit(device=True, inline=True)(optim.adam_rule)

    @cuda.jit
    def sgd_k(w, g, m, lr, momentum, use_momentum, nesterov):
        for i in range(cuda.grid(1), w.shape[0], cuda.gridsize(1)):
            w[i], mi = sgd_rule(w[i], g[i], m[i], use_momentum, nesterov, lr, momentum)
            if use_momentum:
                m[i] = mi

    @cuda.jit
    def rmsprop_k(w, g, vel, mom, avg, lr, rho, one_minus_rho, momentum, use_momentum, epsilon, centered):
        for i in range(cuda.grid(1), w.shape[0], cuda.gridsize(1)):
            w[i], vel[i], mo, av = rmsprop_rule(
                w[i], g[i], vel[i], mom[i], avg[i], use_momentum, centered, rho, one_minus_rho, lr, momentum, epsilon
            )
            if use_momentum:
                mom[i] = mo
            if centered:
                avg[i] = av

    @cuda.jit
    def adam_k(w, g, m, v, vhat, alpha, one_minus_beta_1, one_minus_beta_2, epsilon, amsgrad):
        for i in range(cuda.grid(1), w.shape[0], cuda.gridsize(1)):
            w[i], m[i], v[i], vh = adam_rule(
                w[i], g[i], m[i], v[i], vhat[i], amsgrad, one_minus_beta_1, one_minus_beta_2, alpha, epsilon
            )
            if amsgrad:
                vhat[i] = vh

    # -- float64 totals: one block ---------------------------------------------------------

    @cuda.jit
    def total_k(a, kind, out, slot):
        partial = cuda.shared.array(parts, float64)
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        n = a.shape[0]
        for p in range(tid, parts, nt):
            acc = zero64
            if kind == _SQUARES:
                for i in range(p, n, parts):
                    x = float64(a[i])
                    acc += x * x
            elif kind == _ABS:
                for i in range(p, n, parts):
                    acc += abs(float64(a[i]))
            else:
                for i in range(p, n, parts):
                    acc += float64(a[i])
            partial[p] = acc
        cuda.syncthreads()
        if tid == 0:
            s = zero64
            for p in range(parts):
                s += partial[p]
            out[slot] = s

    # -- rows and columns ---------------------------------------------------------------------

    @cuda.jit
    def column_sums_k(a, out, accumulate):
        m = a.shape[0]
        for j in range(cuda.grid(1), a.shape[1], cuda.gridsize(1)):
            acc = zero
            for i in range(m):
                acc += a[i, j]
            if accumulate:
                acc = out[j] + acc
            out[j] = acc

    @cuda.jit
    def softmax_k(z, out):
        kk = out.shape[1]
        for n in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            mx = z[n, 0]
            for j in range(1, kk):
                mx = max(mx, z[n, j])
            s = zero
            for j in range(kk):
                e = math.exp(z[n, j] - mx)
                out[n, j] = e
                s += e
            for j in range(kk):
                out[n, j] = out[n, j] / s

    @cuda.jit
    def softmax_back_k(y, dy, out):
        kk = out.shape[1]
        for n in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            s = zero
            for j in range(kk):
                s += dy[n, j] * y[n, j]
            for j in range(kk):
                out[n, j] = y[n, j] * (dy[n, j] - s)

    @cuda.jit
    def multiply_rows_k(a, s, out):
        kk = out.shape[1]
        for i in range(cuda.grid(1), out.shape[0] * kk, cuda.gridsize(1)):
            n = i // kk
            j = i - n * kk
            out[n, j] = a[n, j] * s[n]

    @cuda.jit
    def time_major_k(x, out, reverse):
        n_steps, n_batch, f = out.shape
        bf = n_batch * f
        for i in range(cuda.grid(1), n_steps * bf, cuda.gridsize(1)):
            t = i // bf
            r = i - t * bf
            b = r // f
            j = r - b * f
            ts = n_steps - 1 - t if reverse else t
            out[t, b, j] = x[b, ts, j]

    @cuda.jit
    def batch_major_k(xt, out, reverse):
        n_batch, n_steps, f = out.shape
        tf = n_steps * f
        for i in range(cuda.grid(1), n_batch * tf, cuda.gridsize(1)):
            b = i // tf
            r = i - b * tf
            t = r // f
            j = r - t * f
            ts = n_steps - 1 - t if reverse else t
            out[b, t, j] = xt[ts, b, j]

    @cuda.jit
    def copy_columns_k(a, c0, out):
        w = out.shape[1]
        for i in range(cuda.grid(1), out.shape[0] * w, cuda.gridsize(1)):
            n = i // w
            j = i - n * w
            out[n, j] = a[n, c0 + j]

    @cuda.jit
    def set_columns_k(out, c0, a, accumulate):
        w = a.shape[1]
        for i in range(cuda.grid(1), a.shape[0] * w, cuda.gridsize(1)):
            n = i // w
            j = i - n * w
            if accumulate:
                out[n, c0 + j] = out[n, c0 + j] + a[n, j]
            else:
                out[n, c0 + j] = a[n, j]

    @cuda.jit
    def multiply_columns_k(a, a0, b, b0, out):
        w = out.shape[1]
        for i in range(cuda.grid(1), out.shape[0] * w, cuda.gridsize(1)):
            n = i // w
            j = i - n * w
            out[n, j] = a[n, a0 + j] * b[n, b0 + j]

    @cuda.jit
    def shift_states_k(h0, hs, rmask, has_rmask, out):
        n_steps, n_batch, h = out.shape
        bh = n_batch * h
        for i in range(cuda.grid(1), n_steps * bh, cuda.gridsize(1)):
            t = i // bh
            r = i - t * bh
            b = r // h
            j = r - b * h
            v = h0[b, j] if t == 0 else hs[t - 1, b, j]
            if has_rmask:
                v = v * rmask[b, j]
            out[t, b, j] = v

    @cuda.jit
    def concat_last_k(a, b, out):
        h1 = a.shape[1]
        w = out.shape[1]
        for i in range(cuda.grid(1), out.shape[0] * w, cuda.gridsize(1)):
            n = i // w
            j = i - n * w
            out[n, j] = a[n, j] if j < h1 else b[n, j - h1]

    @cuda.jit
    def split_last_k(d, da, db):
        h1 = da.shape[1]
        w = d.shape[1]
        for i in range(cuda.grid(1), d.shape[0] * w, cuda.gridsize(1)):
            n = i // w
            j = i - n * w
            if j < h1:
                da[n, j] = d[n, j]
            else:
                db[n, j - h1] = d[n, j]

    @cuda.jit
    def gather_rows_k(table, idx, out):
        d = out.shape[1]
        for i in range(cuda.grid(1), out.shape[0] * d, cuda.gridsize(1)):
            n = i // d
            j = i - n * d
            out[n, j] = table[idx[n], j]

    @cuda.jit
    def scatter_rows_k(dy, order, starts, rows, out):
        d = out.shape[1]
        for i in range(cuda.grid(1), rows.shape[0] * d, cuda.gridsize(1)):
            u = i // d
            j = i - u * d
            acc = zero
            for q in range(starts[u], starts[u + 1]):
                acc += dy[order[q], j]
            out[rows[u], j] = acc

    # -- losses: one thread a row ------------------------------------------------------------

    @cuda.jit
    def loss_rows_k(kind, yt, yp, scale, values, grad, from_logits, delta, half_dd, kf, two_over_k, eps, hi):
        kk = yp.shape[1]
        for n in range(cuda.grid(1), yp.shape[0], cuda.gridsize(1)):
            acc = zero
            if kind == _MSE:
                for j in range(kk):
                    diff = yp[n, j] - yt[n, j]
                    acc += diff * diff
                    grad[n, j] = diff * two_over_k
                value = acc / kf
            elif kind == _MAE:
                for j in range(kk):
                    diff = yp[n, j] - yt[n, j]
                    acc += abs(diff)
                    grad[n, j] = sign(diff) / kf
                value = acc / kf
            elif kind == _HUBER:
                for j in range(kk):
                    diff = yp[n, j] - yt[n, j]
                    a = abs(diff)
                    if a <= delta:
                        acc += half * diff * diff
                    else:
                        acc += delta * a - half_dd
                    grad[n, j] = min(max(diff, -delta), delta) / kf
                value = acc / kf
            elif kind == _BCE:
                if from_logits:
                    for j in range(kk):
                        z = yp[n, j]
                        y = yt[n, j]
                        e = math.exp(-abs(z))
                        acc += max(z, zero) - z * y + math.log1p(e)
                        p = one / (one + e) if z >= zero else e / (one + e)
                        grad[n, j] = (p - y) / kf
                else:
                    for j in range(kk):
                        q = yp[n, j]
                        y = yt[n, j]
                        p = min(max(q, eps), hi)
                        acc += -(y * math.log(p) + (one - y) * math.log1p(-p))
                        g = (p - y) / (p * (one - p))
                        if not (q > eps and q < hi):
                            g = zero
                        grad[n, j] = g / kf
                value = acc / kf
            else:  # categorical cross-entropy
                if from_logits:
                    mx = yp[n, 0]
                    for j in range(1, kk):
                        mx = max(mx, yp[n, j])
                    se = zero
                    sy = zero
                    for j in range(kk):
                        se += math.exp(yp[n, j] - mx)
                        sy += yt[n, j]
                    lse = math.log(se)
                    for j in range(kk):
                        s = yp[n, j] - mx
                        acc += yt[n, j] * (s - lse)
                        grad[n, j] = math.exp(s) / se * sy - yt[n, j]
                    value = -acc
                else:
                    s = zero
                    for j in range(kk):
                        s += yp[n, j]
                    t = zero
                    for j in range(kk):
                        q = yp[n, j] / s
                        qc = min(max(q, eps), hi)
                        acc += yt[n, j] * math.log(qc)
                        gq = -yt[n, j] / qc if q > eps and q < hi else zero
                        grad[n, j] = gq
                        t += gq * q
                    for j in range(kk):
                        grad[n, j] = (grad[n, j] - t) / s
                    value = -acc
            sc = scale[n]
            values[n] = sc * value
            for j in range(kk):
                grad[n, j] = sc * grad[n, j]

    found = dict(locals())
    kernels = {name[:-2]: obj for name, obj in found.items() if name.endswith("_k")}
    _KERNELS[dtype] = kernels
    return kernels


# --------------------------------------------------------------------------- host helpers


def _dtype(*arrays):
    """The common float dtype of device arrays (TypeError when they differ or are not float32/float64)."""
    dt = np.dtype(arrays[0].dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"the CUDA ops take float32 or float64 arrays; got {dt}")
    for a in arrays[1:]:
        if np.dtype(a.dtype) != dt:
            raise TypeError(f"arrays of one call must share a dtype; got {dt} and {np.dtype(a.dtype)}")
    return dt


def _int64(a, name):
    if np.dtype(a.dtype) != np.dtype(np.int64):
        raise TypeError(f"{name} must be int64; got {np.dtype(a.dtype)}")


def _shape(a):
    return tuple(int(s) for s in a.shape)


def _expect(a, shape, name):
    if _shape(a) != tuple(shape):
        raise ValueError(f"{name} has shape {_shape(a)}; expected {tuple(shape)}")


def _ndim(a, ndim, name):
    if len(_shape(a)) != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions; got shape {_shape(a)}")


def _flat(a, name="array"):
    """A 1-D view of a C-contiguous device array (no copy)."""
    if not a.is_c_contiguous():
        raise ValueError(f"{name} must be C-contiguous")
    return a if len(_shape(a)) == 1 else a.reshape(a.size)


def _launch(kernel, n):
    """``kernel`` configured for a grid-stride loop over ``n`` items."""
    block = _BLOCK
    grid = max(1, min(_MAX_BLOCKS, math.ceil(n / block)))
    return common._configure(kernel, grid, block, 0)


def _total(a, kind):
    """sum, sum of squares or sum of absolute values of device array ``a``, float64 on the host."""
    _dtype(a)
    if a.size == 0:
        return 0.0
    out = cuda.device_array(1, np.float64)
    kernel = ops_kernels(a.dtype)["total"]
    common._configure(kernel, 1, _REDUCE_THREADS, 0)(_flat(a, "a"), kind, out, 0)
    return float(out.copy_to_host()[0])


# --------------------------------------------------------------------------- products and sums


def gemm(a, b, out, bias=None, trans_a=False, trans_b=False, accumulate=False):
    """``out = op(a) @ op(b) [+ bias] [+ out]``, a shared-memory tiled product.

    Each output is one accumulator over ``k`` in increasing order, then ``+ bias[j]``,
    then ``+ out[i, j]`` (its old value) with ``accumulate``.

    Parameters
    ----------
    a : DeviceNDArray of shape (M, K), or (K, M) with ``trans_a``
    b : DeviceNDArray of shape (K, N), or (N, K) with ``trans_b``
    out : DeviceNDArray of shape (M, N)
        Written (or added to, with ``accumulate``).
    bias : DeviceNDArray of shape (N,), optional
    trans_a, trans_b : bool
        Take ``a.T`` (``b.T``) for ``op(a)`` (``op(b)``).
    accumulate : bool
        Add the product to ``out`` instead of overwriting it.

    All float arrays share one dtype, float32 or float64. K >= 1.
    """
    dt = _dtype(a, b, out) if bias is None else _dtype(a, b, out, bias)
    for name, x in (("a", a), ("b", b), ("out", out)):
        _ndim(x, 2, name)
    m, n = _shape(out)
    am, ak = _shape(a)[::-1] if trans_a else _shape(a)
    bk, bn = _shape(b)[::-1] if trans_b else _shape(b)
    if (am, bn) != (m, n) or ak != bk:
        raise ValueError(
            f"gemm shapes do not match: op(a) {(am, ak)}, op(b) {(bk, bn)}, out {(m, n)} "
            f"(trans_a={trans_a}, trans_b={trans_b})"
        )
    if ak < 1:
        raise ValueError("gemm needs K >= 1")
    if bias is not None:
        _expect(bias, (n,), "bias")
    if m == 0 or n == 0:
        return
    d_bias = bias if bias is not None else _flat(out, "out")  # unread when has_bias is False
    args = (a, b, d_bias, bias is not None, bool(trans_a), bool(trans_b), bool(accumulate), out)
    if SIMPLE_GEMM and common.SIMULATOR:
        _launch(_simple_gemm_kernel(dt), m * n)(*args)
        return
    tile = TILE
    kernel = _gemm_kernel(dt, tile)
    grid = (math.ceil(m / tile), math.ceil(n / tile))
    common._configure(kernel, grid, (tile, tile), 0)(*args)


def column_sums(a, out, accumulate=False):
    """``out[j] (+)= sum_i a[i, j]``, summed over ``i`` in increasing order by one thread a column.

    Parameters
    ----------
    a : DeviceNDArray of shape (M, N)
    out : DeviceNDArray of shape (N,)
    accumulate : bool
        ``out[j] += sum`` instead of ``out[j] = sum``.
    """
    _dtype(a, out)
    _ndim(a, 2, "a")
    _expect(out, (_shape(a)[1],), "out")
    if out.size:
        _launch(ops_kernels(a.dtype)["column_sums"], out.size)(a, out, bool(accumulate))


# --------------------------------------------------------------------------- activations


def _check_code(code):
    if code != SOFTMAX and code not in _ELEMENTWISE_CODES:
        raise ValueError(f"unknown activation code {code!r}: expected one of {_ELEMENTWISE_CODES} or SOFTMAX")
    return int(code)


def activate(code, z, out):
    """``out = f(z)`` for activation ``code``; softmax along the last axis for :data:`SOFTMAX`.

    Parameters
    ----------
    code : int
        LINEAR, TANH, SIGMOID, HARD_SIGMOID or RELU of :mod:`numbarnn.kernels.nonlinear`, or :data:`SOFTMAX`.
    z : DeviceNDArray, any shape (2-D (N, K) for SOFTMAX)
    out : DeviceNDArray, the shape of ``z``
        May be ``z`` itself.

    Softmax is ``exp(z - max) / sum(exp(z - max))`` per row, as :func:`numbarnn.activations.softmax`.
    """
    code = _check_code(code)
    _dtype(z, out)
    _expect(out, _shape(z), "out")
    if z.size == 0:
        return
    kernels = ops_kernels(z.dtype)
    if code == SOFTMAX:
        _ndim(z, 2, "z")
        _launch(kernels["softmax"], _shape(z)[0])(z, out)
    else:
        _launch(kernels["activate"], z.size)(code, _flat(z, "z"), _flat(out, "out"))


def activation_backward(code, y, dy, out):
    """``out = dy * f'(x)``, the derivative written through the output ``y = f(x)``.

    Parameters
    ----------
    code : int
        An activation code, as for :func:`activate`.
    y : DeviceNDArray, any shape (2-D (N, K) for SOFTMAX)
        The activation's output.
    dy : DeviceNDArray, the shape of ``y``
        Gradient with respect to ``y``.
    out : DeviceNDArray, the shape of ``y``
        Gradient with respect to the activation's input; may be ``dy``.

    For SOFTMAX, ``out[n] = y[n] * (dy[n] - sum_k dy[n, k] * y[n, k])`` (``numbarnn.activations._softmax_back``).
    """
    code = _check_code(code)
    _dtype(y, dy, out)
    _expect(dy, _shape(y), "dy")
    _expect(out, _shape(y), "out")
    if y.size == 0:
        return
    kernels = ops_kernels(y.dtype)
    if code == SOFTMAX:
        _ndim(y, 2, "y")
        _launch(kernels["softmax_back"], _shape(y)[0])(y, dy, out)
    else:
        _launch(kernels["derivative"], y.size)(code, _flat(y, "y"), _flat(dy, "dy"), _flat(out, "out"))


# --------------------------------------------------------------------------- elementwise


def _binary(name, a, b, out):
    _dtype(a, b, out)
    _expect(b, _shape(a), "b")
    _expect(out, _shape(a), "out")
    if a.size:
        _launch(ops_kernels(a.dtype)[name], a.size)(_flat(a, "a"), _flat(b, "b"), _flat(out, "out"))


def add(a, b, out):
    """``out = a + b`` elementwise.

    Parameters
    ----------
    a, b, out : DeviceNDArray, one shape and dtype (``out`` may be ``a`` or ``b``)
    """
    _binary("add", a, b, out)


def multiply(a, b, out):
    """``out = a * b`` elementwise.

    Parameters
    ----------
    a, b, out : DeviceNDArray, one shape and dtype (``out`` may be ``a`` or ``b``)
    """
    _binary("multiply", a, b, out)


def scale(a, alpha, out):
    """``out = alpha * a`` elementwise.

    Parameters
    ----------
    a : DeviceNDArray
    alpha : float
        Cast to the arrays' dtype.
    out : DeviceNDArray, the shape and dtype of ``a`` (may be ``a``)
    """
    dt = _dtype(a, out)
    _expect(out, _shape(a), "out")
    if a.size:
        _launch(ops_kernels(dt)["scale"], a.size)(_flat(a, "a"), dt.type(alpha), _flat(out, "out"))


def fill(a, value):
    """``a[...] = value``.

    Parameters
    ----------
    a : DeviceNDArray, float32 or float64
    value : float
        Cast to ``a``'s dtype.
    """
    dt = _dtype(a)
    if a.size:
        _launch(ops_kernels(dt)["fill"], a.size)(_flat(a, "a"), dt.type(value))


def zeros(shape, dtype):
    """A new device array of zeros.

    Parameters
    ----------
    shape : tuple of int
    dtype : float32 or float64

    Returns
    -------
    DeviceNDArray
    """
    a = cuda.device_array(shape, dtype)
    fill(a, 0.0)
    return a


def copy(src, dst):
    """``dst[...] = src`` (a device-to-device copy by a kernel).

    Parameters
    ----------
    src, dst : DeviceNDArray, one shape and dtype
    """
    _dtype(src, dst)
    _expect(dst, _shape(src), "dst")
    if src.size:
        _launch(ops_kernels(src.dtype)["copy"], src.size)(_flat(src, "src"), _flat(dst, "dst"))


def multiply_rows(a, s, out):
    """``out[n, k] = a[n, k] * s[n]``.

    Parameters
    ----------
    a : DeviceNDArray of shape (N, K)
    s : DeviceNDArray of shape (N,)
    out : DeviceNDArray of shape (N, K) (may be ``a``)
    """
    _dtype(a, s, out)
    _ndim(a, 2, "a")
    _expect(s, _shape(a)[:1], "s")
    _expect(out, _shape(a), "out")
    if a.size:
        _launch(ops_kernels(a.dtype)["multiply_rows"], a.size)(a, s, out)


# --------------------------------------------------------------------------- layouts


def time_major(x, out, reverse):
    """``out[t, b] = x[b, T-1-t if reverse else t]``: batch-major to time-major (reading order).

    Parameters
    ----------
    x : DeviceNDArray of shape (B, T, F)
    out : DeviceNDArray of shape (T, B, F)
    reverse : bool
        Read the steps backwards (a backward RNN's reading order).
    """
    _dtype(x, out)
    _ndim(x, 3, "x")
    n_batch, n_steps, f = _shape(x)
    _expect(out, (n_steps, n_batch, f), "out")
    if x.size:
        _launch(ops_kernels(x.dtype)["time_major"], x.size)(x, out, bool(reverse))


def batch_major(xt, out, reverse):
    """``out[b, t] = xt[T-1-t if reverse else t, b]``: the inverse of :func:`time_major`.

    Parameters
    ----------
    xt : DeviceNDArray of shape (T, B, F)
    out : DeviceNDArray of shape (B, T, F)
    reverse : bool
    """
    _dtype(xt, out)
    _ndim(xt, 3, "xt")
    n_steps, n_batch, f = _shape(xt)
    _expect(out, (n_batch, n_steps, f), "out")
    if xt.size:
        _launch(ops_kernels(xt.dtype)["batch_major"], xt.size)(xt, out, bool(reverse))


def copy_columns(a, c0, out):
    """``out[n, j] = a[n, c0 + j]`` for ``j < W``.

    Parameters
    ----------
    a : DeviceNDArray of shape (N, C)
    c0 : int
        First column; ``c0 + W <= C``.
    out : DeviceNDArray of shape (N, W)
    """
    _dtype(a, out)
    _ndim(a, 2, "a")
    _ndim(out, 2, "out")
    n, c = _shape(a)
    w = _shape(out)[1]
    _expect(out, (n, w), "out")
    if not 0 <= c0 <= c - w:
        raise ValueError(f"columns [{c0}, {c0 + w}) are not within the {c} columns of a")
    if out.size:
        _launch(ops_kernels(a.dtype)["copy_columns"], out.size)(a, int(c0), out)


def set_columns(out, c0, a, accumulate=False):
    """``out[n, c0 + j] (+)= a[n, j]`` for ``j < W``.

    Parameters
    ----------
    out : DeviceNDArray of shape (N, C)
    c0 : int
        First column; ``c0 + W <= C``.
    a : DeviceNDArray of shape (N, W)
    accumulate : bool
        Add to the columns instead of overwriting them.
    """
    _dtype(out, a)
    _ndim(out, 2, "out")
    _ndim(a, 2, "a")
    n, c = _shape(out)
    w = _shape(a)[1]
    _expect(a, (n, w), "a")
    if not 0 <= c0 <= c - w:
        raise ValueError(f"columns [{c0}, {c0 + w}) are not within the {c} columns of out")
    if a.size:
        _launch(ops_kernels(a.dtype)["set_columns"], a.size)(out, int(c0), a, bool(accumulate))


def multiply_columns(a, a0, b, b0, out):
    """``out[n, j] = a[n, a0 + j] * b[n, b0 + j]`` for ``j < W``.

    Parameters
    ----------
    a : DeviceNDArray of shape (N, Ca)
    a0 : int
        First column of ``a``; ``a0 + W <= Ca``.
    b : DeviceNDArray of shape (N, Cb)
    b0 : int
        First column of ``b``; ``b0 + W <= Cb``.
    out : DeviceNDArray of shape (N, W)
    """
    _dtype(a, b, out)
    for name, x in (("a", a), ("b", b), ("out", out)):
        _ndim(x, 2, name)
    n, w = _shape(out)
    for name, x, x0 in (("a", a, a0), ("b", b, b0)):
        if _shape(x)[0] != n or not 0 <= x0 <= _shape(x)[1] - w:
            raise ValueError(f"{name} of shape {_shape(x)} has no columns [{x0}, {x0 + w}) for {n} rows")
    if out.size:
        _launch(ops_kernels(a.dtype)["multiply_columns"], out.size)(a, int(a0), b, int(b0), out)


def shift_states(h0, hs, rmask, has_rmask, out):
    """The state entering each step: ``out[0] = h0``, ``out[t] = hs[t-1]`` (t >= 1), times ``rmask``.

    Parameters
    ----------
    h0 : DeviceNDArray of shape (B, H)
        Initial state.
    hs : DeviceNDArray of shape (T, B, H)
        State after each step.
    rmask : DeviceNDArray of shape (B, H)
        Recurrent dropout mask, or any (e.g. one-element) dummy when ``has_rmask`` is False.
    has_rmask : bool
    out : DeviceNDArray of shape (T, B, H)
        ``out[t, b] = (h0[b] if t == 0 else hs[t-1, b]) [* rmask[b]]``.
    """
    if has_rmask:
        _dtype(h0, hs, out, rmask)
    else:
        _dtype(h0, hs, out)
    _ndim(hs, 3, "hs")
    n_steps, n_batch, h = _shape(hs)
    _expect(h0, (n_batch, h), "h0")
    _expect(out, (n_steps, n_batch, h), "out")
    if has_rmask:
        _expect(rmask, (n_batch, h), "rmask")
    else:
        rmask = h0  # unread; keeps the kernel's argument types those of the masked call
    if out.size:
        _launch(ops_kernels(h0.dtype)["shift_states"], out.size)(h0, hs, rmask, bool(has_rmask), out)


def concat_last(a, b, out):
    """``out = [a, b]`` along the last axis.

    Parameters
    ----------
    a : DeviceNDArray of shape (N, H1)
    b : DeviceNDArray of shape (N, H2)
    out : DeviceNDArray of shape (N, H1 + H2)
    """
    _dtype(a, b, out)
    _ndim(a, 2, "a")
    _ndim(b, 2, "b")
    n, h1 = _shape(a)
    _expect(b, (n, _shape(b)[1]), "b")
    _expect(out, (n, h1 + _shape(b)[1]), "out")
    if out.size:
        _launch(ops_kernels(a.dtype)["concat_last"], out.size)(a, b, out)


def split_last(d, da, db):
    """``da = d[:, :H1]``, ``db = d[:, H1:]``: the inverse of :func:`concat_last`.

    Parameters
    ----------
    d : DeviceNDArray of shape (N, H1 + H2)
    da : DeviceNDArray of shape (N, H1)
    db : DeviceNDArray of shape (N, H2)
    """
    _dtype(d, da, db)
    _ndim(da, 2, "da")
    _ndim(db, 2, "db")
    n, h1 = _shape(da)
    _expect(db, (n, _shape(db)[1]), "db")
    _expect(d, (n, h1 + _shape(db)[1]), "d")
    if d.size:
        _launch(ops_kernels(d.dtype)["split_last"], d.size)(d, da, db)


# --------------------------------------------------------------------------- losses


def loss_rows(kind, y_true, y_pred, scale, values, grad, from_logits=False, delta=1.0):
    """Per-row loss values and their gradients with respect to ``y_pred``, each times ``scale[n]``.

    One thread a row computes what :mod:`numbarnn.losses` computes for that row
    (``values_and_gradient``): ``values[n] = scale[n] * loss_n`` and
    ``grad[n, :] = scale[n] * d loss_n / d y_pred[n, :]``.

    - ``"mse"``: ``mean((p - y)**2)``, gradient ``(p - y) * (2 / K)``;
    - ``"mae"``: ``mean|p - y|``, gradient ``sign(p - y) / K``;
    - ``"huber"``: ``mean(d**2 / 2 if |d| <= delta else delta |d| - delta**2 / 2)``, gradient
      ``clip(d, -delta, delta) / K`` with ``d = p - y``;
    - ``"binary_crossentropy"``: from logits ``mean(max(z, 0) - z y + log1p(exp(-|z|)))``, gradient
      ``(sigmoid(z) - y) / K``; else ``p`` clipped to ``[EPSILON, 1 - EPSILON]`` and
      ``-mean(y log p + (1 - y) log1p(-p))``, gradient ``(p - y) / (p (1 - p)) / K``, zero where clipped;
    - ``"categorical_crossentropy"``: from logits ``-sum(y log_softmax(z))``, gradient
      ``softmax(z) sum(y) - y``; else ``q = p / sum(p)`` clipped, ``-sum(y log q)``, gradient through
      the normalisation (zero where ``q`` is clipped).

    Parameters
    ----------
    kind : str
        A key of :data:`LOSS_CODES`: "mse", "mae", "huber", "binary_crossentropy" or "categorical_crossentropy".
    y_true, y_pred : DeviceNDArray of shape (N, K)
        Targets and predictions (one-hot or probability targets for the categorical loss).
    scale : DeviceNDArray of shape (N,)
        Row weights (e.g. sample weight / number of rows).
    values : DeviceNDArray of shape (N,)
        Written: the scaled loss of each row.
    grad : DeviceNDArray of shape (N, K)
        Written: the scaled gradient.
    from_logits : bool
        For the cross-entropies: ``y_pred`` holds logits.
    delta : float
        Huber's threshold (> 0).
    """
    try:
        code = LOSS_CODES[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown loss {kind!r}: expected one of {sorted(LOSS_CODES)}") from None
    dt = _dtype(y_true, y_pred, scale, values, grad)
    _ndim(y_pred, 2, "y_pred")
    n, kk = _shape(y_pred)
    _expect(y_true, (n, kk), "y_true")
    _expect(grad, (n, kk), "grad")
    _expect(scale, (n,), "scale")
    _expect(values, (n,), "values")
    if code == _HUBER and not delta > 0:
        raise ValueError(f"delta must be positive; got {delta!r}")
    if n == 0 or kk == 0:
        return
    c = dt.type
    _launch(ops_kernels(dt)["loss_rows"], n)(
        code, y_true, y_pred, scale, values, grad, bool(from_logits), c(delta), c(0.5 * delta * delta),
        c(kk), c(2.0 / kk), c(EPSILON), c(1 - EPSILON),
    )  # fmt: skip


# --------------------------------------------------------------------------- optimizers


def _update_arrays(w, g, *slots):
    dt = _dtype(w, g, *slots)
    _expect(g, _shape(w), "g")
    for s in slots:
        _expect(s, _shape(w), "slot")
    return dt


def sgd_update(w, g, m, lr, momentum, nesterov):
    """One :class:`numbarnn.optimizers.SGD` step on ``w``, in place.

    ``m = momentum * m - lr * g``, then ``w += m`` (``w += momentum * m - lr * g`` with
    ``nesterov``); without momentum ``w -= lr * g``.

    Parameters
    ----------
    w : DeviceNDArray, any shape
        Weights, updated in place.
    g : DeviceNDArray, the shape of ``w``
        Gradient.
    m : DeviceNDArray, the shape of ``w``
        Momentum slot, updated in place; ignored (may be a one-element dummy) when ``momentum == 0``.
    lr, momentum : float
    nesterov : bool
    """
    use_momentum = bool(momentum)
    dt = _update_arrays(w, g, m) if use_momentum else _update_arrays(w, g)
    if w.size == 0:
        return
    fw = _flat(w, "w")
    fm = _flat(m, "m") if use_momentum else fw
    c = dt.type
    _launch(ops_kernels(dt)["sgd"], w.size)(fw, _flat(g, "g"), fm, c(lr), c(momentum), use_momentum, bool(nesterov))


def rmsprop_update(w, g, vel, mom, avg, lr, rho, momentum, epsilon, centered):
    """One :class:`numbarnn.optimizers.RMSprop` step on ``w``, in place.

    ``vel = rho * vel + (1 - rho) * g**2``; ``den = vel + epsilon``; centered:
    ``avg = rho * avg + (1 - rho) * g``, ``den -= avg**2``; ``inc = lr * g / sqrt(den)``;
    with momentum ``mom = momentum * mom + inc``, ``w -= mom``, else ``w -= inc``.

    Parameters
    ----------
    w : DeviceNDArray, any shape
        Weights, updated in place.
    g : DeviceNDArray, the shape of ``w``
    vel : DeviceNDArray, the shape of ``w``
        Running average of ``g**2`` (slot "velocity"), updated.
    mom : DeviceNDArray, the shape of ``w``
        Slot "momentum", updated; a dummy when ``momentum == 0``.
    avg : DeviceNDArray, the shape of ``w``
        Slot "average_gradient", updated; a dummy unless ``centered``.
    lr, rho, momentum, epsilon : float
    centered : bool
    """
    use_momentum = bool(momentum)
    centered = bool(centered)
    slots = [vel] + [mom] * use_momentum + [avg] * centered
    dt = _update_arrays(w, g, *slots)
    if w.size == 0:
        return
    fvel = _flat(vel, "vel")
    fmom = _flat(mom, "mom") if use_momentum else fvel
    favg = _flat(avg, "avg") if centered else fvel
    c = dt.type
    _launch(ops_kernels(dt)["rmsprop"], w.size)(
        _flat(w, "w"), _flat(g, "g"), fvel, fmom, favg, c(lr), c(rho), c(1 - rho), c(momentum), use_momentum,
        c(epsilon), centered,
    )  # fmt: skip


def adam_update(w, g, m, v, vhat, alpha, beta_1, beta_2, epsilon, amsgrad):
    """One :class:`numbarnn.optimizers.Adam` step on ``w``, in place.

    ``m += (1 - beta_1) * (g - m)``; ``v += (1 - beta_2) * (g**2 - v)``; amsgrad:
    ``vhat = max(vhat, v)`` used for ``v``; ``w -= (alpha * m) / (sqrt(v) + epsilon)``.

    Parameters
    ----------
    w : DeviceNDArray, any shape
        Weights, updated in place.
    g : DeviceNDArray, the shape of ``w``
    m, v : DeviceNDArray, the shape of ``w``
        Slots "momentum" and "velocity", updated.
    vhat : DeviceNDArray, the shape of ``w``
        Slot "velocity_hat", updated; a dummy unless ``amsgrad``.
    alpha : float
        The bias-corrected step ``lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`` of step ``t``, from the host.
    beta_1, beta_2, epsilon : float
    amsgrad : bool
    """
    amsgrad = bool(amsgrad)
    dt = _update_arrays(w, g, m, v, *([vhat] * amsgrad))
    if w.size == 0:
        return
    fv = _flat(v, "v")
    fvhat = _flat(vhat, "vhat") if amsgrad else fv
    c = dt.type
    _launch(ops_kernels(dt)["adam"], w.size)(
        _flat(w, "w"), _flat(g, "g"), _flat(m, "m"), fv, fvhat, c(alpha), c(1 - beta_1), c(1 - beta_2), c(epsilon),
        amsgrad,
    )  # fmt: skip


def decay(w, factor):
    """Decoupled weight decay ``w -= factor * w``, in place.

    Parameters
    ----------
    w : DeviceNDArray, any shape
    factor : float
        ``lr * weight_decay``.
    """
    dt = _dtype(w)
    if w.size:
        _launch(ops_kernels(dt)["decay"], w.size)(_flat(w, "w"), dt.type(factor))


def clip_values(g, c):
    """``g = clip(g, -c, c)``, in place (the ``clipvalue`` option).

    Parameters
    ----------
    g : DeviceNDArray, any shape
    c : float
        Bound (> 0).
    """
    dt = _dtype(g)
    if g.size:
        _launch(ops_kernels(dt)["clip"], g.size)(_flat(g, "g"), dt.type(c))


def sum_squares(a):
    """``sum(a**2)``, accumulated in float64 in a fixed order (for ``clipnorm`` and ``global_clipnorm``).

    Parameters
    ----------
    a : DeviceNDArray, any shape, float32 or float64

    Returns
    -------
    float
        On the host (one number copied back).
    """
    return _total(a, _SQUARES)


def sum_all(a):
    """``sum(a)``, accumulated in float64 in a fixed order (e.g. the batch loss from ``values``).

    Parameters
    ----------
    a : DeviceNDArray, any shape, float32 or float64

    Returns
    -------
    float
        On the host (one number copied back).
    """
    return _total(a, _SUM)


# --------------------------------------------------------------------------- regularizers


def add_penalty_gradient(w, g, l1, l2):
    """``g += l1 * sign(w) + 2 * l2 * w``, the gradient of :class:`numbarnn.regularizers.L1L2`, in place.

    ``sign(0) = 0`` as ``np.sign``; a zero factor's term is left out.

    Parameters
    ----------
    w : DeviceNDArray, any shape
    g : DeviceNDArray, the shape of ``w``
    l1, l2 : float
    """
    dt = _update_arrays(w, g)
    if w.size and (l1 or l2):
        c = dt.type
        _launch(ops_kernels(dt)["penalty_gradient"], w.size)(
            _flat(w, "w"), _flat(g, "g"), c(l1), bool(l1), c(2.0 * l2), bool(l2)
        )


def penalty(w, l1, l2):
    """``l1 * sum|w| + l2 * sum w**2``, the value of :class:`numbarnn.regularizers.L1L2`.

    Parameters
    ----------
    w : DeviceNDArray, any shape
    l1, l2 : float

    Returns
    -------
    float
        On the host; both sums in float64, in a fixed order.
    """
    dt = _dtype(w)
    value = 0.0
    if w.size == 0 or not (l1 or l2):
        return value
    out = cuda.device_array(2, np.float64)
    kernel = common._configure(ops_kernels(dt)["total"], 1, _REDUCE_THREADS, 0)
    fw = _flat(w, "w")
    if l1:
        kernel(fw, _ABS, out, 0)
    if l2:
        kernel(fw, _SQUARES, out, 1)
    sums = out.copy_to_host()
    if l1:
        value += l1 * float(sums[0])
    if l2:
        value += l2 * float(sums[1])
    return value


# --------------------------------------------------------------------------- embedding


def gather_rows(table, idx, out):
    """``out[n] = table[idx[n]]`` (an embedding lookup).

    Parameters
    ----------
    table : DeviceNDArray of shape (V, D)
    idx : DeviceNDArray of shape (N,), int64
        Row indices in ``[0, V)`` (not checked).
    out : DeviceNDArray of shape (N, D)
    """
    _dtype(table, out)
    _int64(idx, "idx")
    _ndim(table, 2, "table")
    _ndim(idx, 1, "idx")
    _expect(out, (_shape(idx)[0], _shape(table)[1]), "out")
    if out.size:
        _launch(ops_kernels(table.dtype)["gather_rows"], out.size)(table, idx, out)


def scatter_plan(idx):
    """The grouping of the indices that :func:`scatter_rows` takes (host arrays).

    Parameters
    ----------
    idx : array_like of int, shape (N,)
        The indices of a :func:`gather_rows` call.

    Returns
    -------
    order : ndarray of shape (N,), int64
        Positions of ``idx`` sorted by index, stably (``np.argsort(idx, kind="stable")``): equal
        indices are adjacent, in their order of occurrence.
    starts : ndarray of shape (U + 1,), int64
        ``order[starts[u]:starts[u + 1]]`` are the positions holding ``rows[u]``.
    rows : ndarray of shape (U,), int64
        The distinct indices, increasing.
    """
    idx = np.asarray(idx).astype(np.int64, copy=False).ravel()
    order = np.argsort(idx, kind="stable").astype(np.int64, copy=False)
    sorted_idx = idx[order]
    if idx.size == 0:
        return order, np.zeros(1, np.int64), np.zeros(0, np.int64)
    first = np.flatnonzero(np.diff(sorted_idx)) + 1
    starts = np.concatenate(([0], first, [idx.size])).astype(np.int64)
    rows = sorted_idx[starts[:-1]].astype(np.int64, copy=False)
    return order, starts, rows


def scatter_rows(dy, order, starts, rows, out):
    """The gradient of :func:`gather_rows` with respect to the table: zero ``out``, then add rows of ``dy``.

    ``out[rows[u], j] = sum_{k = starts[u]}^{starts[u+1]-1} dy[order[k], j]`` in increasing ``k``
    (one thread an output element, no atomics); every other row of ``out`` is zero.

    Parameters
    ----------
    dy : DeviceNDArray of shape (N, D)
        Gradient with respect to the gathered rows.
    order : DeviceNDArray of shape (N,), int64
    starts : DeviceNDArray of shape (U + 1,), int64
    rows : DeviceNDArray of shape (U,), int64
        The plan from :func:`scatter_plan`, on the device.
    out : DeviceNDArray of shape (V, D)
        Written entirely.
    """
    _dtype(dy, out)
    for name, x in (("order", order), ("starts", starts), ("rows", rows)):
        _int64(x, name)
        _ndim(x, 1, name)
    _ndim(dy, 2, "dy")
    _ndim(out, 2, "out")
    d = _shape(dy)[1]
    u = _shape(rows)[0]
    _expect(out, (_shape(out)[0], d), "out")
    _expect(order, (_shape(dy)[0],), "order")
    _expect(starts, (u + 1,), "starts")
    if out.size == 0:
        return
    kernels = ops_kernels(dy.dtype)
    _launch(kernels["fill"], out.size)(_flat(out, "out"), np.dtype(dy.dtype).type(0.0))
    if u and d:
        _launch(kernels["scatter_rows"], u * d)(dy, order, starts, rows, out)
