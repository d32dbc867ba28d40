"""Row-wise pieces every cell kernel shares: loading and storing a chunk's
rows, the recurrent input ``h * m_r``, and carrying a gradient back one step.

All are inlined into the cell kernels; ``b0`` is the chunk's first batch row.
"""

from numba import njit

from .._config import JIT_OPTIONS as _HELPER


@njit(**_HELPER)
def load_rows(src, b0, dst):
    """dst[i] = src[b0 + i] for every row of ``dst`` (shape (nb, H))."""
    for i in range(dst.shape[0]):
        for k in range(dst.shape[1]):
            dst[i, k] = src[b0 + i, k]


@njit(**_HELPER)
def store_rows(src, b0, dst):
    """dst[b0 + i] = src[i] for every row of ``src`` (shape (nb, H))."""
    for i in range(src.shape[0]):
        for k in range(src.shape[1]):
            dst[b0 + i, k] = src[i, k]


@njit(**_HELPER)
def copy_row(src, dst):
    """dst[k] = src[k] for every k of ``dst``.

    An explicit loop: slice assignment would compile Numba's shape-mismatch
    error formatting into every kernel, seconds of first-use compilation.
    """
    for k in range(dst.shape[0]):
        dst[k] = src[k]


@njit(**_HELPER)
def recurrent_input(h, rmask, b0, hd):
    """Return ``h * rmask[b0:]`` written into ``hd``, or ``h`` itself without a mask."""
    if rmask.shape[0] == 0:
        return h
    for i in range(h.shape[0]):
        for k in range(h.shape[1]):
            hd[i, k] = h[i, k] * rmask[b0 + i, k]
    return hd


@njit(**_HELPER)
def is_valid(mask, t, b):
    """True unless ``mask`` is given and marks step ``t`` of sequence ``b`` as padding."""
    return mask.shape[0] == 0 or mask[t, b] != 0


@njit(**_HELPER)
def carry_back(dhd, rmask, mask, t, b0, dh):
    """dh_{t-1} = dhd * m_r for rows whose step t is valid; padded rows keep dh."""
    has_rdrop = rmask.shape[0] > 0
    for i in range(dh.shape[0]):
        b = b0 + i
        if not is_valid(mask, t, b):
            continue
        for k in range(dh.shape[1]):
            dh[i, k] = dhd[i, k] * rmask[b, k] if has_rdrop else dhd[i, k]


@njit(**_HELPER)
def add_output_grad(dhs, t, b, valid, zero_masked, dh_row):
    """Add step t's output gradient of sequence b to ``dh_row`` (shape (H,)).

    Skipped when no output gradient was given, and for padded steps whose
    output is zeros (their output does not depend on the state).
    """
    if dhs.shape[0] == 0 or (zero_masked and not valid):
        return
    for k in range(dh_row.shape[0]):
        dh_row[k] += dhs[t, b, k]
