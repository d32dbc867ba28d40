"""Bidirectional: one recurrent layer reads forwards, another backwards, outputs merged.

The weights are the forward layer's then the backward layer's, as in Keras.
Without ``backward_layer`` the backward direction is a copy of the layer's
configuration; a seeded initializer is then seeded apart for it, so the two
directions never start from the same weights.
With ``return_sequences`` the backward outputs are aligned with the input steps
before merging, and masked steps output zeros (Keras forces
``zero_output_for_mask`` for both directions).
"""

import numpy as np

from .base import Layer
from .recurrent import RecurrentLayer

__all__ = ["Bidirectional"]

MERGE_MODES = ("concat", "sum", "ave", "mul")


class Bidirectional(Layer):
    """Bidirectional wrapper for LSTM, GRU and SimpleRNN layers, as Keras's ``Bidirectional``.

    Parameters
    ----------
    layer : LSTM, GRU or SimpleRNN
        Its configuration is copied into the forward layer (and the backward one, unless given).
    merge_mode : {'concat', 'sum', 'ave', 'mul'}, default='concat'
        How the two directions' outputs combine; 'concat' doubles the last axis.
    backward_layer : LSTM, GRU or SimpleRNN, optional
        The backward direction, used as given: it must have the same ``return_sequences`` as
        ``layer`` and the opposite ``go_backwards``, and (unless merging by 'concat') as many units.
    input_shape : tuple (steps, features), optional
        Also taken from ``layer`` when given there.
    name : str, optional

    Attributes
    ----------
    forward_layer, backward_layer : RecurrentLayer

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn import GRU, Bidirectional
    >>> layer = Bidirectional(GRU(4, return_sequences=True))
    >>> layer(np.zeros((2, 6, 3))).shape
    (2, 6, 8)
    """

    exact_row_sums = True  # its weight gradients go through engine.reductions (see Trainer._use_exact_row_sums)

    input_ndim = 2

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        if not isinstance(layer, RecurrentLayer):
            raise TypeError(f"layer must be an LSTM, GRU or SimpleRNN layer; got {type(layer).__name__}")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"merge_mode must be one of {list(MERGE_MODES)}; got {merge_mode!r}")
        if kwargs.get("input_shape") is None and layer.input_shape is not None:
            kwargs["input_shape"] = layer.input_shape
        kwargs.setdefault("dtype", layer.dtype.name)
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        config = layer.get_config()
        config.pop("input_shape", None)
        config["dtype"] = self.dtype.name
        self.forward_layer = type(layer).from_config({**config, "name": "forward_" + layer.name})
        self._backward_given = backward_layer is not None
        if backward_layer is None:
            backward_layer = type(layer).from_config(
                {**_seeded_apart(config), "name": "backward_" + layer.name, "go_backwards": not layer.go_backwards}
            )
        else:
            _check_backward_layer(backward_layer, layer, merge_mode, self.dtype)
        self.backward_layer = backward_layer
        self.return_sequences = layer.return_sequences
        for sub in (self.forward_layer, self.backward_layer):
            sub.zero_output_for_mask = self.return_sequences

    @property
    def weights(self):
        return self.forward_layer.weights + self.backward_layer.weights

    @property
    def _weight_names(self):
        return [f"forward_{n}" for n in self.forward_layer.weight_names] + [
            f"backward_{n}" for n in self.backward_layer.weight_names
        ]

    @_weight_names.setter
    def _weight_names(self, value):
        pass  # the names come from the wrapped layers

    def regularization_penalty(self):
        return self.forward_layer.regularization_penalty() + self.backward_layer.regularization_penalty()

    def add_regularization_gradients(self, grads):
        n = len(self.forward_layer.weights)
        return self.forward_layer.add_regularization_gradients(
            grads[:n]
        ) + self.backward_layer.add_regularization_gradients(grads[n:])

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        self.forward_layer.build(input_shape)
        self.backward_layer.build(input_shape)
        super().build(input_shape)

    def unbuild(self):
        self.forward_layer.unbuild()
        self.backward_layer.unbuild()
        super().unbuild()

    def compute_output_shape(self, input_shape):
        shape = self.forward_layer.compute_output_shape(input_shape)
        if self.merge_mode == "concat":
            shape = shape[:-1] + (shape[-1] + self.backward_layer.units,)
        return shape

    @property
    def return_state(self):
        return self.forward_layer.return_state

    @property
    def stateful(self):
        return self.forward_layer.stateful

    def compute_output_shapes(self, input_shapes):
        out = [self.compute_output_shape(input_shapes[0])]
        if not self.return_state:
            return out
        fl, bl = self.forward_layer, self.backward_layer
        return out + [(fl.units,)] * fl.n_states + [(bl.units,)] * bl.n_states

    def _call_extra_inputs(self, kwargs):
        state = kwargs.pop("initial_state", None)
        if kwargs:
            raise TypeError(f"Bidirectional got unexpected call argument(s): {', '.join(sorted(kwargs))}")
        if state is None:
            return []
        states = list(state) if isinstance(state, (list, tuple)) else [state]
        n = self.forward_layer.n_states + self.backward_layer.n_states
        if len(states) != n:
            raise ValueError(
                f"layer {self.name!r} (Bidirectional) takes initial_state as a list of {n} tensors: the forward "
                f"layer's states, then the backward layer's; got {len(states)}"
            )
        return states

    def forward_many(self, inputs, masks, training, rng):
        x, mask, given = inputs[0], masks[0], list(inputs[1:])
        fl, bl = self.forward_layer, self.backward_layer
        nf = fl.n_states
        B = np.shape(x)[0]
        init_f = fl.initial_states(B, given[:nf])
        init_b = bl.initial_states(B, given[nf:])
        yf, sf, tf = fl.run(x, mask, training, rng, fl.go_backwards, init_f, with_states=True)
        yb, sb, tb = bl.run(x, mask, training, rng, bl.go_backwards, init_b, with_states=True)
        fl.keep_states(sf)
        bl.keep_states(sb)
        y, out_mask = self._merge(yf, yb, mask)
        cache = (tf, tb, yf, yb, len(given))
        if not self.return_state:
            return [y], [out_mask], cache
        states = [s.copy() for s in sf] + [s.copy() for s in sb]
        return [y] + states, [out_mask] + [None] * len(states), cache

    def backward_many(self, cache, d_outputs):
        tf, tb, yf, yb, n_given = cache
        dyf, dyb = self._split(d_outputs[0], yf, yb)
        nf = self.forward_layer.n_states
        d_sf = list(d_outputs[1 : 1 + nf]) or None
        d_sb = list(d_outputs[1 + nf :]) or None
        df, gf = self.forward_layer.gradients(tf, dyf, d_sf, with_initial=True)
        db, gb = self.backward_layer.gradients(tb, dyb, d_sb, with_initial=True)
        d_inputs = [df[0] + db[0]]
        if n_given:
            d_inputs += df[1:] + db[1:]
        return d_inputs, gf + gb

    def reset_states(self):
        """Forget both directions' carried states (stateful layers)."""
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    def reset_state(self):
        """Keras 3's name for :meth:`reset_states`."""
        self.reset_states()

    def get_states(self):
        return self.forward_layer.get_states(), self.backward_layer.get_states()

    def set_states(self, states):
        self.forward_layer.set_states(states[0])
        self.backward_layer.set_states(states[1])

    def _merge(self, yf, yb, mask):
        if self.merge_mode == "concat":
            y = np.concatenate([yf, yb], axis=-1)
        elif self.merge_mode == "sum":
            y = yf + yb
        elif self.merge_mode == "ave":
            y = (yf + yb) * self.dtype.type(0.5)
        else:
            y = yf * yb
        return y, (mask if self.return_sequences else None)

    def _split(self, dy, yf, yb):
        if dy is None:
            return None, None
        if self.merge_mode == "concat":
            H = yf.shape[-1]
            return dy[..., :H], dy[..., H:]
        if self.merge_mode == "sum":
            return dy, dy
        if self.merge_mode == "ave":
            half = dy * self.dtype.type(0.5)
            return half, half
        return dy * yb, dy * yf

    def forward(self, x, mask=None, training=False, rng=None):
        outs, masks, cache = self.forward_many([x], [mask], training, rng)
        return outs[0], masks[0], cache

    def backward(self, cache, dy):
        d_inputs, grads = self.backward_many(cache, [dy])
        return d_inputs[0], grads

    def get_config(self):
        config = super().get_config()
        layer_config = self.forward_layer.get_config()
        layer_config["name"] = layer_config["name"][len("forward_") :]
        config.update(
            layer={"class_name": type(self.forward_layer).__name__, "config": layer_config},
            merge_mode=self.merge_mode,
        )
        if self._backward_given:
            bl = self.backward_layer
            config["backward_layer"] = {"class_name": type(bl).__name__, "config": bl.get_config()}
        return config

    @classmethod
    def from_config(cls, config):
        from . import deserialize

        config = dict(config)
        layer = deserialize(config.pop("layer"))
        backward = config.pop("backward_layer", None)
        return cls(layer, backward_layer=None if backward is None else deserialize(backward), **config)


_INITIALIZER_KEYS = ("kernel_initializer", "recurrent_initializer", "bias_initializer")


def _seeded_apart(config):
    """``config`` with every seeded initializer given another seed, derived from its own."""
    config = dict(config)
    for key in _INITIALIZER_KEYS:
        spec = config.get(key)
        if isinstance(spec, dict) and (spec.get("config") or {}).get("seed") is not None:
            seed = int(spec["config"]["seed"])
            config[key] = {**spec, "config": {**spec["config"], "seed": (seed * 1_000_003 + 7) % (2**31 - 1)}}
    return config


def _check_backward_layer(backward_layer, layer, merge_mode, dtype):
    if not isinstance(backward_layer, RecurrentLayer):
        raise TypeError(
            f"backward_layer must be an LSTM, GRU or SimpleRNN layer; got {type(backward_layer).__name__}"
        )
    if backward_layer.return_sequences != layer.return_sequences:
        raise ValueError(
            f"backward_layer must have the same return_sequences as layer ({layer.return_sequences}); "
            f"got {backward_layer.return_sequences}"
        )
    if backward_layer.go_backwards == layer.go_backwards:
        raise ValueError(
            f"backward_layer must read the other way: go_backwards={not layer.go_backwards}; "
            f"got {backward_layer.go_backwards}"
        )
    if merge_mode != "concat" and backward_layer.units != layer.units:
        raise ValueError(
            f"merge_mode={merge_mode!r} needs a backward_layer with {layer.units} units, as layer; "
            f"got {backward_layer.units}"
        )
    if backward_layer.dtype != dtype:
        raise ValueError(f"backward_layer must have dtype {dtype.name}; got {backward_layer.dtype.name}")
