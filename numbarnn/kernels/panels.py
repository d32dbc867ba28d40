"""The product inside the time loops on panel-packed weights, in register tiles.

``matmul_packed(a, bp, out)`` computes ``out = a @ b`` from ``bp = pack_panels(b)``.
It gives the same bits as :func:`numbarnn.kernels.linalg.matmul_into` (each
output element is ``((0 + a[i, 0] b[0, j]) + a[i, 1] b[1, j]) + ...``, added in
``p`` order, no fused multiply-adds), so a row's result still does not depend on
the rows beside it; only the loops are arranged for speed.

The packed layout: ``b``'s columns are cut into panels ``PANEL_BYTES`` wide (64
bytes: ``w`` = 16 float32 or 8 float64 values), and each panel's ``k x w`` block is
stored contiguously, panel after panel; the columns left over (``n % w``) follow,
as a ``k x (n % w)`` row-major block. The whole is one flat array of ``k * n``
values.

A tile keeps its outputs in up to eight 32-byte vector registers while it runs
down ``k`` (four rows by one panel; for the rows left over, three rows by one
panel, two by two, or one row by four panels), loading each panel row once and
broadcasting each ``a[i, p]``: Numba's loops cannot be made to
hold a tile in registers, so the tile is written as LLVM vector code
(``_make_tile``, a Numba intrinsic). Packing makes the tile's loads contiguous;
reading the same columns straight from ``b`` (a stride of a whole row per
``p``) was slower than the plain loop.

Measured (float32, one thread, the performance shapes' per-step products;
``benchmarks/step_product.py``): 75-119% of numpy's one-thread rate for the same
product, against 48-80% for ``matmul_into``; float64 1.1-1.7x faster than
``matmul_into``. A single row runs at about the plain loop's rate: it is bound by
the loads of ``b``, which no tile saves.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .._config import EXACT_JIT_OPTIONS

__all__ = [
    "PANEL_BYTES", "matmul_packed", "pack_panels", "panel_width", "project_rows_packed", "projection_block",
    "project_step",
]

# One panel row: two 32-byte vectors (AVX registers; two halves of an AVX-512 register).
PANEL_BYTES = 64
_VECTOR_BYTES = 32


def panel_width(dtype):
    """Columns in a panel for ``dtype``: 16 for float32, 8 for float64."""
    return PANEL_BYTES // np.dtype(dtype).itemsize


def pack_panels(b):
    """Pack ``b`` (shape (k, n), float32 or float64) into the flat panel layout of :func:`matmul_packed`.

    Parameters
    ----------
    b : ndarray of shape (k, n)
        Any strides (a transposed view packs as its values).

    Returns
    -------
    ndarray of shape (k * n,), ``b``'s dtype, C-contiguous
        The full panels, each a ``(k, w)`` block (``w = panel_width(dtype)``), then the ``(k, n % w)`` rest.
    """
    out = np.empty(b.shape[0] * b.shape[1], b.dtype)
    _pack_into(b, out)
    return out


@njit(**EXACT_JIT_OPTIONS)
def _pack_into(b, out):
    # One compiled pass: 2-3 microseconds for a 64 x 256 kernel (numpy's reshapes took 10).
    k, n = b.shape
    w = PANEL_BYTES // out.itemsize
    full = n // w
    rest = n - full * w
    q = 0
    for s in range(full):
        for p in range(k):
            dst = out[q : q + w]
            src = b[p, s * w : s * w + w]
            for c in range(w):
                dst[c] = src[c]
            q += w
    for p in range(k):
        dst = out[q : q + rest]
        src = b[p, full * w :]
        for c in range(rest):
            dst[c] = src[c]
        q += rest


def _make_tile(rows, panels):
    """An intrinsic ``tile(a, i, bp, j, out)``: ``out[i:i+rows, panels j..j+panels-1] = a[i:i+rows] @ b``.

    ``a`` (m, k) and ``out`` (m, n) are C-contiguous 2-D arrays, ``bp`` the packed
    1-D array of the same dtype; ``j`` counts panels. The sums are the exact
    ``acc = acc + a[r, p] * b[p, c]`` of the plain loop (no fast-math flags).
    """

    @intrinsic
    def tile(typingctx, a, i, bp, j, out):
        arrays = (a, bp, out)
        if not all(isinstance(t, types.Array) and t.layout == "C" for t in arrays):
            return None
        if (a.ndim, bp.ndim, out.ndim) != (2, 1, 2) or not isinstance(a.dtype, types.Float):
            return None
        if not (a.dtype == bp.dtype == out.dtype) or not all(isinstance(t, types.Integer) for t in (i, j)):
            return None

        def codegen(context, builder, signature, args):
            aty, ity, bty, jty, oty = signature.args
            A = context.make_array(aty)(context, builder, args[0])
            Bp = context.make_array(bty)(context, builder, args[2])
            O = context.make_array(oty)(context, builder, args[4])
            i0 = context.cast(builder, args[1], ity, types.intp)
            j0 = context.cast(builder, args[3], jty, types.intp)
            fty = context.get_value_type(aty.dtype)
            size = context.get_abi_sizeof(fty)
            lanes = _VECTOR_BYTES // size
            width = PANEL_BYTES // size
            per_panel = width // lanes
            vty = ir.VectorType(fty, lanes)
            vptr = vty.as_pointer()
            intp = context.get_value_type(types.intp)
            k = cgutils.unpack_tuple(builder, A.shape, 2)[1]
            n = cgutils.unpack_tuple(builder, O.shape, 2)[1]
            zero = ir.Constant(vty, [ir.Constant(fty, 0.0)] * lanes)
            # Allocas in the entry block, promoted to registers by LLVM.
            acc = [[cgutils.alloca_once_value(builder, zero) for _ in range(panels * per_panel)] for _ in range(rows)]
            undef = ir.Constant(vty, ir.Undefined)
            splat = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
            lane0 = ir.Constant(ir.IntType(32), 0)
            a_rows = [builder.mul(builder.add(i0, intp(r)), k) for r in range(rows)]
            starts = [builder.mul(builder.mul(builder.add(j0, intp(s)), k), intp(width)) for s in range(panels)]
            with cgutils.for_range(builder, k) as loop:
                p = loop.index
                at = builder.mul(p, intp(width))
                bv = []
                for s in range(panels):
                    for v in range(per_panel):
                        ptr = builder.gep(Bp.data, [builder.add(builder.add(starts[s], at), intp(v * lanes))])
                        bv.append(builder.load(builder.bitcast(ptr, vptr), align=size))
                for r in range(rows):
                    x = builder.load(builder.gep(A.data, [builder.add(a_rows[r], p)]))
                    xs = builder.shuffle_vector(builder.insert_element(undef, x, lane0), undef, splat)
                    for q, b in enumerate(bv):
                        builder.store(builder.fadd(builder.load(acc[r][q]), builder.fmul(xs, b)), acc[r][q])
            for r in range(rows):
                row = builder.mul(builder.add(i0, intp(r)), n)
                for s in range(panels):
                    col = builder.mul(builder.add(j0, intp(s)), intp(width))
                    for v in range(per_panel):
                        ptr = builder.gep(O.data, [builder.add(builder.add(row, col), intp(v * lanes))])
                        builder.store(builder.load(acc[r][s * per_panel + v]), builder.bitcast(ptr, vptr), align=size)
            return context.get_dummy_value()

        return types.void(a, i, bp, j, out), codegen

    return tile


# Blocks of four rows go over b's panels a group at a time when b is larger than this (measured on the S4
# recurrent product, 128 x 512 x 2048 float32: 1.44-1.58x; b's of 1 MB and under gained nothing).
_GROUP_ABOVE_BYTES = 1 << 20
_GROUP_BYTES = 32768

_tile_4x1 = _make_tile(4, 1)  # four rows, one panel
_tile_3x1 = _make_tile(3, 1)  # the last three rows: each panel row loaded once for the three
_tile_2x2 = _make_tile(2, 2)  # the last two rows, two panels
_tile_1x4 = _make_tile(1, 4)  # one row, four panels
_tile_1x1 = _make_tile(1, 1)


@njit(**EXACT_JIT_OPTIONS)
def matmul_packed(a, bp, out):
    """Write ``a @ b`` into ``out`` from ``bp = pack_panels(b)``, each row independently of the others.

    Bit for bit the result of :func:`numbarnn.kernels.linalg.matmul_into` on
    ``b``: blocks of four rows run in four-row tiles (a group of panels at a time
    for every block when ``b`` exceeds 1 MB), the three or two rows left
    in three- or two-row tiles (so a panel row is loaded once for them rather
    than once a row: 1.2-1.5x on a B=2 or 3 prediction), a last single row in
    one-row tiles, the columns after the last full panel in a plain loop; every
    path adds ``a[i, p] * b[p, j]`` to zero in ``p`` order.

    Parameters
    ----------
    a : ndarray of shape (m, k), C-contiguous
    bp : ndarray of shape (k * n,), C-contiguous
        ``pack_panels(b)`` for ``b`` of shape (k, n), ``a``'s dtype.
    out : ndarray of shape (m, n), C-contiguous, overwritten

    Raises
    ------
    ValueError
        ``bp`` does not hold ``k * n`` values.
    """
    m, k = a.shape
    n = out.shape[1]
    if bp.shape[0] != k * n:
        raise ValueError("matmul_packed: bp must hold k * n values (pack_panels of a (k, n) matrix)")
    w = PANEL_BYTES // a.itemsize
    full = n // w
    rest = n - full * w
    head = full * w * k
    # Blocks of four rows go over all the panels, or, when b is larger than a core's L2, over a group of
    # panels (_GROUP_BYTES of them) before the next group, so that a group is read from memory once rather
    # than once per block of rows. (Each tile call site is inlined code that takes long to compile: one each.)
    g = max(1, full) if k * n * a.itemsize <= _GROUP_ABOVE_BYTES else max(1, _GROUP_BYTES // (k * PANEL_BYTES))
    i = m - m % 4
    for j0 in range(0, full, g):
        for r in range(0, i, 4):
            for j in range(j0, min(full, j0 + g)):
                _tile_4x1(a, r, bp, j, out)
    if m - i == 3:
        for j in range(full):
            _tile_3x1(a, i, bp, j, out)
        i += 3
    elif m - i == 2:
        for j in range(0, full - 1, 2):
            _tile_2x2(a, i, bp, j, out)
        if full % 2:  # the last panel, a row at a time
            for r in range(i, m):
                _tile_1x1(a, r, bp, full - 1, out)
        i = m
    while i < m:
        j = 0
        while j + 4 <= full:
            _tile_1x4(a, i, bp, j, out)
            j += 4
        while j < full:
            _tile_1x1(a, i, bp, j, out)
            j += 1
        i += 1
    if rest > 0:
        c0 = full * w
        for r in range(m):
            o = out[r]
            for c in range(rest):
                o[c0 + c] = 0.0
            for p in range(k):
                x = a[r, p]
                q = head + p * rest
                for c in range(rest):
                    o[c0 + c] += x * bp[q + c]


@njit(**EXACT_JIT_OPTIONS)
def project_rows_packed(x, b0, wp, bias, out):
    """Write ``x[b0:b0 + m] @ w + bias`` into ``out`` (shape (m, n)) from ``wp = pack_panels(w)``.

    The input projection inside the time loop: one step's (or, for a batch of
    fewer than four rows, a block of steps', see :func:`project_step`), so the
    projection of the whole sequence never goes through memory.

    Parameters
    ----------
    x : ndarray of shape (B, k), C-contiguous
        One time step of the (time-major) input.
    b0 : int
        First batch row.
    wp : ndarray of shape (k * n,)
        ``pack_panels(w)`` for the input kernel ``w`` of shape (k, n).
    bias : ndarray of shape (n,)
    out : ndarray of shape (m, n), C-contiguous, overwritten
    """
    matmul_packed(x[b0 : b0 + out.shape[0]], wp, out)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] += bias[j]


# A batch of fewer rows than a tile's four (the latency path) projects its input this many values at a time.
_BLOCK_VALUES = 16384


@njit(**EXACT_JIT_OPTIONS)
def projection_block(xt, b0, b1, n):
    """The buffer :func:`project_step` fills for rows ``b0:b1`` of ``xt`` (T, B, F) and ``n`` outputs a row.

    Fewer than four rows, all of the batch, with at least four features, are
    projected several steps at a time: a block of up to ``_BLOCK_VALUES``
    values, a whole number of steps (at least one). Otherwise the block is
    empty and each step is projected on its own (with fewer features a step's
    projection loads too little of the kernel for the block to pay: 8% slower
    at F=1).

    Returns
    -------
    ndarray of shape (steps * (b1 - b0), n), ``xt``'s dtype, or (0, n)
    """
    nb = b1 - b0
    if nb >= 4 or nb != xt.shape[1] or xt.shape[2] < 4:
        return np.empty((0, n), xt.dtype)
    steps = min(xt.shape[0], max(1, _BLOCK_VALUES // (nb * n)))
    return np.empty((steps * nb, n), xt.dtype)


@njit(inline="always", **EXACT_JIT_OPTIONS)  # (as a call, 40 ns a step: 8% of a one-feature, 32-unit kernel)
def project_step(xt, t, b0, wp, bias, zx, block):
    """Write step ``t``'s input projection ``xt[t, b0:b0 + m] @ w + bias`` into ``zx`` (shape (m, n)).

    With an empty ``block`` it is computed straight into ``zx``. Otherwise (a
    batch of fewer than four rows, see :func:`projection_block`) the
    projections of the block's steps are computed together when ``t`` starts a
    block, as rows of one product (the tiles of four rows load each panel row
    once for four steps rather than once a step), and step ``t``'s rows are
    copied into ``zx``. Each row is the same :func:`project_rows_packed` sum
    either way, so the bits are the same.

    Parameters
    ----------
    xt : ndarray of shape (T, B, F), C-contiguous
    t, b0 : int
    wp : ndarray of shape (F * n,)
        ``pack_panels(w)``.
    bias : ndarray of shape (n,)
    zx : ndarray of shape (m, n), C-contiguous, overwritten
    block : ndarray of shape (steps * m, n) or (0, n), from :func:`projection_block`
    """
    m = zx.shape[0]
    blocked = block.shape[0] > 0
    i = t % (block.shape[0] // m) if blocked else 0
    if i == 0:  # (one call site of the product for both cases: each is inlined, and compiling it takes seconds)
        if blocked:
            t1 = min(t + block.shape[0] // m, xt.shape[0])
            src, dst, start = xt[t:t1].reshape(((t1 - t) * m, xt.shape[2])), block[: (t1 - t) * m], 0
        else:
            src, dst, start = xt[t], zx, b0
        project_rows_packed(src, start, wp, bias, dst)
    if blocked:  # (an explicit loop: a slice assignment measured 5-15% slower on the whole kernel)
        for r in range(m):
            row, into = block[i * m + r], zx[r]
            for j in range(zx.shape[1]):
                into[j] = row[j]
