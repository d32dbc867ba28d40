"""Compile settings shared by every kernel: one place, so no kernel hard-codes a flag.

FASTMATH leaves out ``nnan`` and ``ninf`` on purpose: with them LLVM may assume
no NaN or infinity exists and fold away the checks that catch them.
The test suite checks this set and that forward errors stay within tolerance.
"""

import numpy as np

# Fast-math flags for every @njit (no nnan/ninf: NaN and inf must stay observable).
FASTMATH = frozenset({"contract", "nsz", "arcp", "reassoc"})

# Keyword arguments of every compiled kernel.
JIT_OPTIONS = dict(cache=True, nogil=True, fastmath=set(FASTMATH), error_model="numpy")

# The matrix products inside the time loops (kernels/linalg.py): no fast-math at all, so no
# contraction into FMA and no reassociation. Each output element is then one sum in a fixed
# order, and a row's result does not depend on how many rows share the call or where it sits.
EXACT_JIT_OPTIONS = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")

# The two working dtypes; float32 is the default for speed.
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
DEFAULT_DTYPE = np.dtype(np.float32)
