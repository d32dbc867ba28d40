"""Optimizers with Keras 3's names, defaults and update rules: SGD, RMSprop, Adam, AdamW.

An optimizer updates a list of weight arrays in place from a list of gradients.
Every one takes ``clipnorm`` (per-array norm), ``clipvalue`` (per element) or
``global_clipnorm`` (over all arrays), at most one of them, and
``weight_decay`` (decoupled: ``w -= lr * weight_decay * w`` before the step).
Its state (step count and slot arrays) can be read and restored, so a failed
``fit`` can roll back to the last completed epoch.
"""

import math

import numpy as np

from ._missing import missing_names
from ._serialization import make_registry, resolve
from ._validation import check_float, check_rate
from .kernels import optim

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "get"]


class Optimizer:
    """Base class.

    Parameters
    ----------
    learning_rate : float
    clipnorm, clipvalue, global_clipnorm : float, optional
        Gradient clipping; at most one may be set.
    weight_decay : float, optional
        Decoupled weight decay.
    name : str, optional
    """

    def __init__(self, learning_rate, clipnorm=None, clipvalue=None, global_clipnorm=None, weight_decay=None, name=None):
        self.learning_rate = check_float(learning_rate, "learning_rate", 0.0, low_open=True)
        clips = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        given = [k for k, v in clips.items() if v is not None]
        if len(given) > 1:
            raise ValueError(f"only one of clipnorm, clipvalue and global_clipnorm can be set; got {given}")
        self.clipnorm = None if clipnorm is None else check_float(clipnorm, "clipnorm", 0.0, low_open=True)
        self.clipvalue = None if clipvalue is None else check_float(clipvalue, "clipvalue", 0.0, low_open=True)
        self.global_clipnorm = (
            None if global_clipnorm is None else check_float(global_clipnorm, "global_clipnorm", 0.0, low_open=True)
        )
        self.weight_decay = None if weight_decay is None else check_float(weight_decay, "weight_decay", 0.0)
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._slots = None
        self._n_variables = 0

    # -- state ---------------------------------------------------------------
    def _slot_names(self):
        return ()

    @property
    def slot_names(self):
        """The names of the per-weight slots (``'momentum'``, ``'velocity'``, ...), in :meth:`variables` order."""
        return tuple(self._slot_names())

    def build(self, variables):
        """Create the slot arrays (momenta, averages) for ``variables``, as zeros, and reset the step count."""
        self._slots = {name: [np.zeros_like(v) for v in variables] for name in self._slot_names()}
        self._n_variables = len(variables)
        self.iterations = 0

    @property
    def built(self):
        """Whether :meth:`build` has run."""
        return self._slots is not None

    def get_state(self):
        """Copy of the whole state, for :meth:`set_state`."""
        slots = None if self._slots is None else {k: [s.copy() for s in v] for k, v in self._slots.items()}
        return (self.iterations, slots, self._n_variables, self.learning_rate)

    def set_state(self, state):
        """Restore a state from :meth:`get_state`."""
        self.iterations, slots, self._n_variables, self.learning_rate = state
        self._slots = None if slots is None else {k: [s.copy() for s in v] for k, v in slots.items()}

    def variables(self):
        """The state as a flat list of arrays: the step count, then every slot array."""
        out = [np.array(self.iterations, np.int64)]
        for name in self._slot_names():
            out.extend((self._slots or {}).get(name, ()))
        return out

    def set_variables(self, arrays, variables):
        """Restore the state from :meth:`variables` output, for weights shaped like ``variables``."""
        self.build(variables)
        expected = 1 + len(self._slot_names()) * len(variables)
        if len(arrays) != expected:
            raise ValueError(f"optimizer state holds {len(arrays)} arrays; expected {expected}")
        self.iterations = int(arrays[0])
        k = 1
        for name in self._slot_names():
            for s in self._slots[name]:
                if arrays[k].shape != s.shape:
                    raise ValueError(f"optimizer state array {k} has shape {arrays[k].shape}; expected {s.shape}")
                s[...] = arrays[k]
                k += 1

    # -- updates -------------------------------------------------------------
    def _clip(self, grads):
        if self.clipvalue is not None:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            out = []
            for g in grads:
                norm = math.sqrt(float(np.square(g, dtype=np.float64).sum()))
                out.append(g * (self.clipnorm / norm) if norm > self.clipnorm else g)
            return out
        if self.global_clipnorm is not None:
            norm = math.sqrt(sum(float(np.square(g, dtype=np.float64).sum()) for g in grads))
            if norm > self.global_clipnorm:
                return [g * (self.global_clipnorm / norm) for g in grads]
        return grads

    def apply(self, grads, variables):
        """Update ``variables`` in place from ``grads`` (lists of arrays of the same shapes)."""
        if self._slots is None or self._n_variables != len(variables):
            self.build(variables)
        grads = self._clip(grads)
        lr = self.learning_rate
        for i, (g, v) in enumerate(zip(grads, variables)):
            if self.weight_decay:
                v -= (lr * self.weight_decay) * v
            self._update(i, g.astype(v.dtype, copy=False), v, lr)
        self.iterations += 1

    def _update(self, i, g, v, lr):
        raise NotImplementedError

    # -- config --------------------------------------------------------------
    def get_config(self):
        """Return the constructor arguments as a JSON-friendly dict."""
        return {
            "name": self.name,
            "learning_rate": self.learning_rate,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
            "weight_decay": self.weight_decay,
        }

    @classmethod
    def from_config(cls, config):
        """Create an optimizer from :meth:`get_config`'s output."""
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(learning_rate={self.learning_rate!r})"


class _flat:
    """``with _flat(*arrays) as flats``: flat C-contiguous views for the compiled updates (copies of any
    array that is not contiguous, written back at the end)."""

    __slots__ = ("arrays", "flats", "copied")

    def __init__(self, *arrays):
        self.arrays = arrays
        self.copied = not all(a.flags.c_contiguous for a in arrays)
        self.flats = [np.ascontiguousarray(a).reshape(-1) for a in arrays] if self.copied else [
            a.reshape(-1) for a in arrays
        ]

    def __enter__(self):
        return self.flats

    def __exit__(self, *exc):
        if self.copied:
            _write_back(self.arrays, self.flats)
        return False


def _write_back(arrays, flats):
    seen = set()
    for a, f in zip(arrays, flats):  # (an array passed twice stands in for an unused slot: written once)
        if id(a) not in seen and not np.may_share_memory(a, f):
            a[...] = f.reshape(a.shape)
        seen.add(id(a))


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    ``m = momentum * m - lr * g``; ``w += m`` (or ``w += momentum * m - lr * g`` with
    ``nesterov``); without momentum ``w -= lr * g``.
    """

    def _slot_names(self):
        return ("momentum",) if self.momentum else ()

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.momentum = check_rate(momentum, "momentum")
        self.nesterov = bool(nesterov)

    def _update(self, i, g, v, lr):
        m = self._slots["momentum"][i] if self.momentum else v
        k = np.array([lr, self.momentum], v.dtype)
        with _flat(v, g, m) as (fv, fg, fm):
            optim.sgd_update(fv, fg, fm, bool(self.momentum), self.nesterov, k)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop: ``a = rho * a + (1 - rho) * g**2``; ``w -= lr * g / sqrt(a + epsilon)``.

    ``centered`` subtracts the squared running mean of the gradient inside the
    root; ``momentum`` accumulates the increments.
    """

    def _slot_names(self):
        return ("velocity",) + ("momentum",) * bool(self.momentum) + ("average_gradient",) * self.centered

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.rho = check_rate(rho, "rho")
        self.momentum = check_rate(momentum, "momentum")
        self.epsilon = check_float(epsilon, "epsilon", 0.0, low_open=True)
        self.centered = bool(centered)

    def _update(self, i, g, v, lr):
        vel = self._slots["velocity"][i]
        mom = self._slots["momentum"][i] if self.momentum else vel
        avg = self._slots["average_gradient"][i] if self.centered else vel
        k = np.array([self.rho, 1 - self.rho, lr, self.momentum, self.epsilon], v.dtype)
        with _flat(v, g, vel, mom, avg) as (fv, fg, fvel, fmom, favg):
            optim.rmsprop_update(fv, fg, fvel, fmom, favg, bool(self.momentum), self.centered, k)

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), in Keras's form.

    ``m += (1 - beta_1) * (g - m)``; ``v += (1 - beta_2) * (g**2 - v)``;
    ``w -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)``;
    ``amsgrad`` uses the running maximum of ``v``.
    """

    def _slot_names(self):
        return ("momentum", "velocity") + ("velocity_hat",) * self.amsgrad

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.beta_1 = check_rate(beta_1, "beta_1")
        self.beta_2 = check_rate(beta_2, "beta_2")
        self.epsilon = check_float(epsilon, "epsilon", 0.0, low_open=True)
        self.amsgrad = bool(amsgrad)

    def _update(self, i, g, v, lr):
        t = self.iterations + 1
        alpha = lr * math.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        m, vel = self._slots["momentum"][i], self._slots["velocity"][i]
        vhat = self._slots["velocity_hat"][i] if self.amsgrad else vel
        k = np.array([1 - self.beta_1, 1 - self.beta_2, alpha, self.epsilon], v.dtype)
        with _flat(v, g, m, vel, vhat) as (fv, fg, fm, fvel, fvhat):
            optim.adam_update(fv, fg, fm, fvel, fvhat, self.amsgrad, k)

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019); ``weight_decay=0.004`` as Keras."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **kwargs):  # fmt: skip
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs)


_REGISTRY = make_registry(SGD, RMSprop, Adam, AdamW)


def get(identifier):
    """Return an :class:`Optimizer` from a name ('sgd', 'rmsprop', 'adam', 'adamw'), a config dict or an instance.

    Examples
    --------
    >>> from numbarnn import optimizers
    >>> optimizers.get("adam").learning_rate
    0.001
    """
    return resolve(identifier, "optimizer", _REGISTRY, Optimizer, allow_none=False)

__getattr__ = missing_names(__name__)
