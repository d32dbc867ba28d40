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


class LazyGenerator:
    """A ``numpy.random.Generator`` made by ``make()`` on first use.

    A training step hands one to every layer; a model without dropout never
    draws from it, and so never pays for seeding a generator.

    Parameters
    ----------
    make : callable
        Returns the generator; called at most once.
    """

    __slots__ = ("_make", "_rng")

    def __init__(self, make):
        self._make = make
        self._rng = None

    def __getattr__(self, name):
        if self._rng is None:
            self._rng = self._make()
        return getattr(self._rng, name)
