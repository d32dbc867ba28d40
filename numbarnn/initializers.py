"""Weight initializers, by name or as objects, with Keras's names, defaults and maths.

An initializer is called with a shape and a dtype and returns a new array. With
``seed`` it returns the same values every call; without, it draws from the
package's global generator (see :func:`numbarnn.utils.set_random_seed`).
"""

import math

import numpy as np

from ._missing import missing_names
from ._random import global_rng
from ._serialization import make_registry, resolve

__all__ = [
    "Initializer",
    "Zeros",
    "Ones",
    "Constant",
    "RandomUniform",
    "RandomNormal",
    "TruncatedNormal",
    "VarianceScaling",
    "GlorotUniform",
    "GlorotNormal",
    "HeUniform",
    "HeNormal",
    "LecunUniform",
    "LecunNormal",
    "Orthogonal",
    "Identity",
    "get",
]


def _fans(shape):
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def _truncated(rng, shape, mean, stddev):
    """Normal draws, redrawn until within two standard deviations of the mean."""
    out = rng.normal(size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return mean + stddev * out


class Initializer:
    """Base class: ``init(shape, dtype='float32')`` returns an ndarray of that shape and dtype."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"seed must be an int or None; got {seed!r}")
        self.seed = seed

    def _rng(self):
        return np.random.default_rng(self.seed) if self.seed is not None else global_rng()

    def __call__(self, shape, dtype="float32"):
        shape = tuple(int(s) for s in shape)
        return np.ascontiguousarray(self._sample(shape), dtype=np.dtype(dtype))

    def _sample(self, shape):
        raise NotImplementedError

    def get_config(self):
        """Return the constructor arguments as a JSON-friendly dict."""
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        """Create an initializer from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros."""

    def __init__(self):
        super().__init__()

    def _sample(self, shape):
        return np.zeros(shape)

    def get_config(self):
        return {}


class Ones(Zeros):
    """All ones."""

    def _sample(self, shape):
        return np.ones(shape)


class Constant(Initializer):
    """Every value equal to ``value``."""

    def __init__(self, value=0.0):
        super().__init__()
        self.value = float(value)

    def _sample(self, shape):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    """Uniform on [minval, maxval)."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)

    def _sample(self, shape):
        return self._rng().uniform(self.minval, self.maxval, size=shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    """Normal with ``mean`` and ``stddev``."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def _sample(self, shape):
        return self._rng().normal(self.mean, self.stddev, size=shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """Normal with ``mean`` and ``stddev``, values beyond two standard deviations redrawn."""

    def _sample(self, shape):
        return _truncated(self._rng(), shape, self.mean, self.stddev)


class VarianceScaling(Initializer):
    """Scale / fan variance: the family behind Glorot, He and LeCun.

    Parameters
    ----------
    scale : float, default=1.0
    mode : {'fan_in', 'fan_out', 'fan_avg'}, default='fan_in'
    distribution : {'truncated_normal', 'untruncated_normal', 'uniform'}, default='truncated_normal'
    seed : int, optional
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        super().__init__(seed)
        if not scale > 0:
            raise ValueError(f"scale must be positive; got {scale!r}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"mode must be 'fan_in', 'fan_out' or 'fan_avg'; got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(
                f"distribution must be 'truncated_normal', 'untruncated_normal' or 'uniform'; got {distribution!r}"
            )
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def _sample(self, shape):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, size=shape)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), size=shape)
        # Standard deviation of a unit normal truncated at two standard deviations.
        return _truncated(rng, shape, 0.0, math.sqrt(variance) / 0.87962566103423978)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, "seed": self.seed}


def _variance_scaling_preset(name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config, "__doc__": doc})


GlorotUniform = _variance_scaling_preset(
    "GlorotUniform", 1.0, "fan_avg", "uniform", "Uniform on +-sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."
)
GlorotNormal = _variance_scaling_preset(
    "GlorotNormal", 1.0, "fan_avg", "truncated_normal", "Truncated normal, stddev sqrt(2 / (fan_in + fan_out))."
)
HeUniform = _variance_scaling_preset("HeUniform", 2.0, "fan_in", "uniform", "Uniform on +-sqrt(6 / fan_in).")
HeNormal = _variance_scaling_preset("HeNormal", 2.0, "fan_in", "truncated_normal", "Truncated normal, stddev sqrt(2 / fan_in).")
LecunUniform = _variance_scaling_preset("LecunUniform", 1.0, "fan_in", "uniform", "Uniform on +-sqrt(3 / fan_in).")
LecunNormal = _variance_scaling_preset(
    "LecunNormal", 1.0, "fan_in", "truncated_normal", "Truncated normal, stddev sqrt(1 / fan_in)."
)
for _cls in (GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal):
    _cls.__module__ = __name__


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times ``gain``: the QR factor of a normal draw, signs fixed.

    The shape is read as (prod(shape[:-1]), shape[-1]); the rows or the columns,
    whichever are fewer, come out orthonormal.
    """

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = float(gain)

    def _sample(self, shape):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of at least 2 dimensions; got {shape}")
        rows, cols = int(np.prod(shape[:-1])), shape[-1]
        a = self._rng().normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only)."""

    def __init__(self, gain=1.0):
        super().__init__()
        self.gain = float(gain)

    def _sample(self, shape):
        if len(shape) != 2:
            raise ValueError(f"Identity needs a 2-D shape; got {shape}")
        return self.gain * np.eye(*shape)

    def get_config(self):
        return {"gain": self.gain}


_REGISTRY = make_registry(
    Zeros, Ones, Constant, RandomUniform, RandomNormal, TruncatedNormal, VarianceScaling,
    GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal, Identity,
    aliases={"uniform": RandomUniform, "normal": RandomNormal, "zero": Zeros, "one": Ones},
)  # fmt: skip


def get(identifier):
    """Return an :class:`Initializer` from a name, a config dict or an instance.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn import initializers
    >>> init = initializers.get("glorot_uniform")
    >>> init((3, 4)).shape
    (3, 4)
    >>> q = initializers.Orthogonal(seed=0)((4, 4), dtype="float64")
    >>> bool(abs(q.T @ q - np.eye(4)).max() < 1e-12)
    True
    """
    return resolve(identifier, "initializer", _REGISTRY, Initializer)

__getattr__ = missing_names(__name__)
