"""Collection settings for the whole tree: the CUDA package's modules (their doctests) need numba-cuda."""

import importlib.util

collect_ignore_glob = ["tests/data/*.py", "tests/data/*/*.py"]
if importlib.util.find_spec("numba_cuda") is None:
    collect_ignore_glob.append("numbarnn/cuda/*.py")
