"""Start-up: ``import numbarnn`` and a first training step in a fresh interpreter.

Each sample runs in a new Python process (asv's ``timeraw_``):

- warm: Numba's cache where the installed package keeps it, filled by an
  earlier process, as on every run after the first;
- cold: an empty cache directory of the benchmark's own (``NUMBA_CACHE_DIR``),
  as on the first use after install.

The data are made in the untimed part of each sample; the timed part is the
import and the training, compilation or cache loading included.
"""

import os
import shutil
import subprocess
import sys
import tempfile

# Untimed: where Numba caches (before numba is imported) and the data.
_SETUP = """
import os, shutil
cache = {cache!r}
if cache:
    shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(cache)
    os.environ["NUMBA_CACHE_DIR"] = cache
import numpy as np
rng = np.random.default_rng(0)
x = rng.normal(size=(32, 10, 1)).astype(np.float32)
y = x.sum(axis=1)
"""

# The performance issue's S1 model (LSTM(64) and Dense(1), Adam, MSE): one training step.
_S1_STEP = """
import numbarnn
model = numbarnn.Sequential([numbarnn.LSTM(64, input_shape=(10, 1)), numbarnn.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.train_on_batch(x, y)
"""

# Everything a default LSTM estimator compiles: fit (with its validation of the
# data and the early-stopping machinery left at defaults) and predict.
_ESTIMATOR = """
from numbarnn import RNNRegressor
RNNRegressor(max_iter=2).fit(x, y.ravel()).predict(x)
"""


class StartUp:
    """Seconds from a fresh interpreter to a trained step, with a warm and a cold Numba cache."""

    timeout = 600
    number = 1
    repeat = (1, 3, 300.0)

    def setup(self):
        self.cold_cache = tempfile.mkdtemp(prefix="numbarnn-asv-cache-")
        # Make sure the package's own cache holds what the warm benchmarks load.
        code = _SETUP.format(cache="") + _S1_STEP + _ESTIMATOR
        subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ))

    def teardown(self):
        shutil.rmtree(self.cold_cache, ignore_errors=True)

    def _raw(self, stmt, cold):
        return stmt, _SETUP.format(cache=self.cold_cache if cold else "")

    def timeraw_import_and_s1_step_warm(self):
        return self._raw(_S1_STEP, cold=False)

    def timeraw_import_and_s1_step_cold(self):
        return self._raw(_S1_STEP, cold=True)

    def timeraw_import_and_estimator_fit_warm(self):
        return self._raw(_ESTIMATOR, cold=False)

    def timeraw_import_and_estimator_fit_cold(self):
        return self._raw(_ESTIMATOR, cold=True)


# Modules ``import numbarnn`` must not load (optional extras, and frameworks it only converts
# from or compares with); tests/test_lazy_imports.py checks the same list.
_LAZY = ("h5py", "onnx", "onnxruntime", "numba.cuda", "numba_cuda", "dask", "distributed", "matplotlib", "torch",
         "keras", "safetensors")  # fmt: skip

_IMPORT_ONLY = """
import sys
import numbarnn
loaded = [m for m in {lazy!r} if m in sys.modules]
if loaded:
    raise RuntimeError("import numbarnn loaded " + ", ".join(loaded))
"""


class ImportOnly:
    """Seconds for a bare ``import numbarnn`` in a fresh interpreter; fails if it loads an extra of _LAZY."""

    timeout = 120
    number = 1
    repeat = (1, 5, 60.0)

    def timeraw_import_numbarnn_lazy_extras(self):
        return _IMPORT_ONLY.format(lazy=_LAZY)
