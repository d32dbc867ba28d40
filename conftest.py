"""Collection settings for the whole tree.

- The scripts under tests/data write the reference files; they run by hand, in an
  environment with Keras or an older numbarnn, never as tests.
- tests/keras_scripts holds Keras scripts that tests/test_keras_scripts.py ports and runs.
- The CUDA package's modules (their doctests) need numba-cuda.
"""

import importlib.util

collect_ignore_glob = ["tests/data/*.py", "tests/data/*/*.py", "tests/keras_scripts/*.py"]
if importlib.util.find_spec("numba_cuda") is None:
    collect_ignore_glob.append("numbarnn/cuda/*.py")
if importlib.util.find_spec("dask_ml") is None or importlib.util.find_spec("distributed") is None:
    collect_ignore_glob.append("numbarnn/dask.py")  # the dask extra is optional
