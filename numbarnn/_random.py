"""The package's random state: one generator, reset by ``utils.set_random_seed``.

Initializers without a seed and every ``fit`` without an explicit generator
draw from it, so one seed fixes the weights and the whole training run.
"""

import numpy as np

_STATE = {"rng": np.random.default_rng()}


def global_rng():
    """Return the package's global ``numpy.random.Generator``."""
    return _STATE["rng"]


def reseed(seed):
    """Replace the global generator by one seeded with ``seed``."""
    _STATE["rng"] = np.random.default_rng(seed)


def child_rng(seed=None):
    """A new generator: seeded with ``seed`` if given, else drawn from the global one."""
    if seed is None:
        seed = int(global_rng().integers(2**63))
    return np.random.default_rng(seed)
