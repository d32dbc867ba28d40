"""``import numbarnn`` stays light: the optional extras and the heavy neighbours load only when used.

Each check reads ``sys.modules`` in a fresh interpreter right after ``import numbarnn``
(this process has long since imported most of them). benchmarks/benchmarks/bench_startup.py
times the same import and fails on the same list.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Optional extras (h5py, onnx, onnxruntime, numba-cuda, dask, matplotlib, safetensors) and
# frameworks numbarnn only converts from or compares with (torch, keras).
LAZY = ("h5py", "onnx", "onnxruntime", "numba.cuda", "numba_cuda", "dask", "distributed", "matplotlib", "torch",
        "keras", "safetensors")  # fmt: skip

_CODE = "import sys, json, numbarnn; print(json.dumps(sorted(m for m in {names!r} if m in sys.modules)))"


@pytest.fixture(scope="module")
def loaded():
    """The modules of LAZY that a fresh ``python -c 'import numbarnn'`` has in ``sys.modules``."""
    root = Path(__file__).resolve().parents[1]  # import the package under test, as the tests do
    proc = subprocess.run([sys.executable, "-c", _CODE.format(names=LAZY)], cwd=root, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", LAZY)
def test_not_imported_by_import_numbarnn(loaded, module):
    assert module not in loaded, f"import numbarnn imported {module}; import it where it is used instead"
