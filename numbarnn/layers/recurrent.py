"""LSTM, GRU and SimpleRNN layers: Keras's arguments and weights, the engine's kernels.

Each layer's forward and backward pass over a whole batch is one call into
the engine (:func:`numbarnn.rnn_forward`, :func:`numbarnn.rnn_backward`, or
:func:`numbarnn.rnn_inference` when not training). Weights are Keras's:
``kernel`` (features, G*units), ``recurrent_kernel`` (units, G*units) and
``bias`` (G*units,), or (2, 3*units) for a GRU with ``reset_after=True``; gate
blocks i, f, c, o (LSTM) and z, r, h (GRU).

Dropout masks are drawn once per sequence and reused at every step, as Keras
does: ``dropout`` on the inputs, ``recurrent_dropout`` on ``h_{t-1}`` where it
enters the recurrent products.

``go_backwards=True`` reads the sequence from its end and, with
``return_sequences``, returns the outputs in reading order (reversed), as
Keras does; the mask passed on is reversed with them.
"""

import numpy as np

from .. import activations, initializers, regularizers
from ..kernels.nonlinear import CODES
from ..engine import GATE_COUNTS, rnn_backward, rnn_forward, rnn_inference
from .._validation import check_bool, check_rate, check_units
from .base import Layer, initializer_config, regularizer_config

__all__ = ["LSTM", "GRU", "SimpleRNN"]


class RecurrentLayer(Layer):
    """Shared base of LSTM, GRU and SimpleRNN (see those for the parameters)."""

    exact_row_sums = True  # its weight gradients go through engine.reductions (see Trainer._use_exact_row_sums)

    cell = None
    input_ndim = 2

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        return_sequences=False,
        go_backwards=False,
        return_state=False,
        stateful=False,
        unroll=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_units(units)
        self.activation = activations.get(activation, "activation", CODES)
        self.recurrent_activation = activations.get(recurrent_activation, "recurrent_activation", CODES)
        self.use_bias = check_bool(use_bias, "use_bias")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.dropout = check_rate(dropout, "dropout")
        self.recurrent_dropout = check_rate(recurrent_dropout, "recurrent_dropout")
        self.return_sequences = check_bool(return_sequences, "return_sequences")
        self.go_backwards = check_bool(go_backwards, "go_backwards")
        self.return_state = check_bool(return_state, "return_state")
        self.stateful = check_bool(stateful, "stateful")
        self._states = None  # a stateful layer's last states, carried into the next batch
        self.unroll = check_bool(unroll, "unroll")  # accepted for compatibility; the compiled loop never unrolls
        self.seed = seed
        self.zero_output_for_mask = False

    # -- weights -------------------------------------------------------------
    def _bias_value(self, H):
        return self.bias_initializer((GATE_COUNTS[self.cell] * H,), self.dtype)

    def build(self, input_shape):
        self.check_input_shape(input_shape)
        F, H, G = input_shape[-1], self.units, GATE_COUNTS[self.cell]
        if F is None:
            raise ValueError(f"layer {self.name!r} needs a known number of features; got input shape {input_shape}")
        self._weight_names, self._regularizers = [], {}
        self.add_weight("kernel", (F, G * H), self.kernel_initializer, self.kernel_regularizer)
        self.add_weight("recurrent_kernel", (H, G * H), self.recurrent_initializer, self.recurrent_regularizer)
        if self.use_bias:
            self.bias = np.ascontiguousarray(self._bias_value(H), dtype=self.dtype)
            self._weight_names.append("bias")
            if self.bias_regularizer is not None:
                self._regularizers["bias"] = self.bias_regularizer
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], self.units)
        return (self.units,)

    @property
    def n_states(self):
        """2 for an LSTM (h and c), else 1 (h)."""
        return 2 if self.cell == "lstm" else 1

    def compute_output_shapes(self, input_shapes):
        out = [self.compute_output_shape(input_shapes[0])]
        return out + [(self.units,)] * self.n_states if self.return_state else out

    # -- states --------------------------------------------------------------
    def _call_extra_inputs(self, kwargs):
        state = kwargs.pop("initial_state", None)
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected call argument(s): {', '.join(sorted(kwargs))}")
        if state is None:
            return []
        states = list(state) if isinstance(state, (list, tuple)) else [state]
        if len(states) != self.n_states:
            raise ValueError(
                f"layer {self.name!r} ({type(self).__name__}) takes initial_state as a list of {self.n_states} "
                f"tensor(s) of shape (batch, {self.units}); got {len(states)}"
            )
        return states

    def _symbolic_call(self, x, extra):
        if self.stateful and self.batch_size is None:
            first = x[0] if isinstance(x, (list, tuple)) else x
            self.batch_size = first.shape[0]
        return super()._symbolic_call(x, extra)

    def initial_states(self, batch, given):
        """The states a batch starts from: ``given`` (a list), a stateful layer's carried ones, or None (zeros)."""
        if not self.stateful:
            return given or None
        fixed = self.batch_size or (None if self._states is None else self._states[0].shape[0])
        if fixed is not None and batch != fixed:
            raise ValueError(
                f"stateful layer {self.name!r} works on batches of {fixed} sequences (each carries its state into "
                f"the same row of the next batch); got a batch of {batch}. Use batch_size={fixed} with as many "
                f"samples as a multiple of it, or reset_states() before changing the batch size."
            )
        if given:
            return given
        return None if self._states is None else [s.copy() for s in self._states]

    def keep_states(self, states):
        """Carry ``states`` into the next batch (stateful layers only)."""
        if self.stateful:
            self._states = [np.array(s, dtype=self.dtype, copy=True) for s in states]

    def reset_states(self, states=None):
        """Forget a stateful layer's carried states (or set them: a list of (batch, units) arrays)."""
        if not self.stateful:
            raise ValueError(f"layer {self.name!r} is not stateful; give it stateful=True to carry states")
        if states is None:
            self._states = None
            return
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if len(states) != self.n_states or any(np.ndim(s) != 2 or np.shape(s)[1] != self.units for s in states):
            raise ValueError(f"states must be a list of {self.n_states} arrays of shape (batch, {self.units})")
        self.keep_states(states)

    def reset_state(self):
        """Keras 3's name for :meth:`reset_states`: forget the carried states."""
        self.reset_states()

    @property
    def states(self):
        """A stateful layer's carried states (copies), or None."""
        return None if self._states is None else [s.copy() for s in self._states]

    def get_states(self):
        """Snapshot of the carried states (for rolling back a failed fit)."""
        return self.states

    def set_states(self, states):
        """Restore a snapshot of :meth:`get_states`."""
        self._states = None if states is None else [s.copy() for s in states]

    # -- computation ---------------------------------------------------------
    def _engine_options(self, mask, reverse):
        return dict(
            cell=self.cell,
            mask=mask,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
            reset_after=getattr(self, "reset_after", True),
            reverse=reverse,
            return_sequences=self.return_sequences,
            zero_output_for_mask=self.zero_output_for_mask,
            dtype=self.dtype,
        )

    def run(self, x, mask, training, rng, reverse, initial_state=None, with_states=False):
        """Run the engine; outputs aligned with the input steps.

        Returns ``(outputs, tape or None)``, or ``(outputs, states, tape or None)`` with ``with_states``.
        """
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if mask is not None and mask.all():
            mask = None
        bias = self.bias if self.use_bias else None
        options = self._engine_options(mask, reverse)
        if initial_state is not None:
            options["initial_state"] = list(initial_state)
        if not training:
            out, states = rnn_inference(x, self.kernel, self.recurrent_kernel, bias, **options)
            return (out, states, None) if with_states else (out, None)
        dmask, rmask = self.draw_dropout_masks(rng, x.shape[0], x.shape[2])
        out, states, tape = rnn_forward(
            x, self.kernel, self.recurrent_kernel, bias, dropout_mask=dmask, recurrent_dropout_mask=rmask, **options
        )
        return (out, states, tape) if with_states else (out, tape)

    def draw_dropout_masks(self, rng, batch, features):
        """A training batch's input and recurrent dropout masks, drawn from ``rng`` in that order.

        Returns
        -------
        dropout_mask : ndarray of shape (batch, features), or None without input dropout
        recurrent_dropout_mask : ndarray of shape (batch, units), or None without recurrent dropout
            Kept entries are ``1 / (1 - rate)``, dropped ones 0, in the layer's dtype.
        """
        dmask = rmask = None
        if self.dropout > 0:
            keep = rng.random((batch, features)) >= self.dropout
            dmask = keep.astype(self.dtype) / self.dtype.type(1 - self.dropout)
        if self.recurrent_dropout > 0:
            keep = rng.random((batch, self.units)) >= self.recurrent_dropout
            rmask = keep.astype(self.dtype) / self.dtype.type(1 - self.recurrent_dropout)
        return dmask, rmask

    def gradients(self, tape, dy, d_states=None, with_initial=False):
        """(dx, grads) from a tape of :meth:`run` and the gradient on its aligned outputs.

        ``d_states`` are gradients on the final states; with ``with_initial`` the
        initial states' gradients come back too, as ``([dx, *d_initial], grads)``.
        """
        g = rnn_backward(tape, d_outputs=dy, d_states=d_states)
        grads = [g.kernel, g.recurrent_kernel] + ([g.bias] if self.use_bias else [])
        return ([g.x] + list(g.initial_state) if with_initial else g.x), grads

    def forward(self, x, mask=None, training=False, rng=None):
        out, tape = self.run(x, mask, training, rng, reverse=self.go_backwards)
        out_mask = mask if self.return_sequences else None
        if self.go_backwards and self.return_sequences:
            out = np.ascontiguousarray(out[:, ::-1])
            out_mask = None if mask is None else np.ascontiguousarray(mask[:, ::-1])
        return out, out_mask, tape

    def backward(self, cache, dy):
        if self.go_backwards and self.return_sequences:
            dy = dy[:, ::-1]
        return self.gradients(cache, dy)

    def forward_many(self, inputs, masks, training, rng):
        if len(inputs) == 1 and not self.stateful and not self.return_state:  # the common case, kept short
            out, out_mask, tape = self.forward(inputs[0], masks[0], training, rng)
            return [out], [out_mask], (tape, 0)
        x, mask, given = inputs[0], masks[0], list(inputs[1:])
        init = self.initial_states(np.shape(x)[0], given)
        out, states, tape = self.run(x, mask, training, rng, self.go_backwards, init, with_states=True)
        self.keep_states(states)
        out_mask = mask if self.return_sequences else None
        if self.go_backwards and self.return_sequences:
            out = np.ascontiguousarray(out[:, ::-1])
            out_mask = None if mask is None else np.ascontiguousarray(mask[:, ::-1])
        if not self.return_state:
            return [out], [out_mask], (tape, len(given))
        return [out] + [s.copy() for s in states], [out_mask] + [None] * len(states), (tape, len(given))

    def backward_many(self, cache, d_outputs):
        tape, n_given = cache
        dy = d_outputs[0]
        if dy is not None and self.go_backwards and self.return_sequences:
            dy = dy[:, ::-1]
        d_states = list(d_outputs[1:]) or None
        d_inputs, grads = self.gradients(tape, dy, d_states, with_initial=True)
        return d_inputs[: 1 + n_given], grads

    # -- config --------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            activation=self.activation,
            use_bias=self.use_bias,
            kernel_initializer=initializer_config(self.kernel_initializer),
            recurrent_initializer=initializer_config(self.recurrent_initializer),
            bias_initializer=initializer_config(self.bias_initializer),
            kernel_regularizer=regularizer_config(self.kernel_regularizer),
            recurrent_regularizer=regularizer_config(self.recurrent_regularizer),
            bias_regularizer=regularizer_config(self.bias_regularizer),
            dropout=self.dropout,
            recurrent_dropout=self.recurrent_dropout,
            return_sequences=self.return_sequences,
            return_state=self.return_state,
            go_backwards=self.go_backwards,
            stateful=self.stateful,
            seed=self.seed,
        )
        return config


class LSTM(RecurrentLayer):
    """Long short-term memory layer (Hochreiter & Schmidhuber, 1997), as Keras's ``LSTM``.

    ``i, f, o = sigmoid(x W_{i,f,o} + h U_{i,f,o} + b)``, ``g = tanh(x W_c + h U_c + b_c)``,
    ``c' = f * c + i * g``, ``h' = o * tanh(c')``.

    Parameters
    ----------
    units : int
        Size of the state ``h`` (and ``c``).
    activation : {'tanh', 'relu', 'linear', 'sigmoid', 'hard_sigmoid'} or None, default='tanh'
        Activation of the candidate and output (None means 'linear').
    recurrent_activation : {'sigmoid', 'hard_sigmoid', 'tanh', 'relu', 'linear'}, default='sigmoid'
        Gate activation.
    use_bias : bool, default=True
    kernel_initializer : str, dict or Initializer, default='glorot_uniform'
    recurrent_initializer : str, dict or Initializer, default='orthogonal'
    bias_initializer : str, dict or Initializer, default='zeros'
    unit_forget_bias : bool, default=True
        Start the forget gate's bias at one.
    kernel_regularizer, recurrent_regularizer, bias_regularizer : str, dict or Regularizer, optional
    dropout : float in [0, 1), default=0.0
        Share of input features dropped while training (one mask per sequence).
    recurrent_dropout : float in [0, 1), default=0.0
        Share of ``h_{t-1}`` units dropped in the recurrent products while training.
    return_sequences : bool, default=False
        Output every step, shape (batch, steps, units), or only the last, (batch, units).
    go_backwards : bool, default=False
        Read the sequence backwards.
    input_shape : tuple (steps, features), optional
        On the first layer of a model; ``steps`` may be None.
    dtype : {'float32', 'float64'}, default='float32'
    name : str, optional
    seed : int, optional
        Accepted for Keras compatibility; dropout draws from the model's generator.
    unroll : bool, default=False
        Accepted for Keras compatibility; the compiled time loop is used either way.

    Input: float array of shape (batch, steps, features); output as ``return_sequences`` says.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn import LSTM
    >>> layer = LSTM(8, return_sequences=True)
    >>> layer(np.zeros((2, 5, 3))).shape
    (2, 5, 8)
    >>> [w.shape for w in layer.get_weights()]
    [(3, 32), (8, 32), (32,)]
    """
    cell = "lstm"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, **kwargs):  # fmt: skip
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)  # fmt: skip
        self.unit_forget_bias = check_bool(unit_forget_bias, "unit_forget_bias")

    def _bias_value(self, H):
        if not self.unit_forget_bias:
            return super()._bias_value(H)
        init = self.bias_initializer
        return np.concatenate([init((H,), self.dtype), np.ones(H, self.dtype), init((2 * H,), self.dtype)])

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": self.recurrent_activation,
                "unit_forget_bias": self.unit_forget_bias}  # fmt: skip


class GRU(RecurrentLayer):
    """Gated recurrent unit layer (Cho et al., 2014), as Keras's ``GRU``.

    ``z, r = sigmoid(x W_{z,r} + h U_{z,r} + b)``; with ``reset_after=True`` (Keras's default)
    ``g = tanh(x W_h + b_h + r * (h U_h + b'_h))``, else ``g = tanh(x W_h + (r * h) U_h + b_h)``;
    ``h' = z * h + (1 - z) * g``.

    Parameters
    ----------
    units : int
        Size of the state ``h`` (and ``c``).
    activation : {'tanh', 'relu', 'linear', 'sigmoid', 'hard_sigmoid'} or None, default='tanh'
        Activation of the candidate and output (None means 'linear').
    recurrent_activation : {'sigmoid', 'hard_sigmoid', 'tanh', 'relu', 'linear'}, default='sigmoid'
        Gate activation.
    use_bias : bool, default=True
    kernel_initializer : str, dict or Initializer, default='glorot_uniform'
    recurrent_initializer : str, dict or Initializer, default='orthogonal'
    bias_initializer : str, dict or Initializer, default='zeros'
    reset_after : bool, default=True
        Apply the reset gate after the recurrent product; the bias then has shape (2, 3*units).
    kernel_regularizer, recurrent_regularizer, bias_regularizer : str, dict or Regularizer, optional
    dropout : float in [0, 1), default=0.0
        Share of input features dropped while training (one mask per sequence).
    recurrent_dropout : float in [0, 1), default=0.0
        Share of ``h_{t-1}`` units dropped in the recurrent products while training.
    return_sequences : bool, default=False
        Output every step, shape (batch, steps, units), or only the last, (batch, units).
    go_backwards : bool, default=False
        Read the sequence backwards.
    input_shape : tuple (steps, features), optional
        On the first layer of a model; ``steps`` may be None.
    dtype : {'float32', 'float64'}, default='float32'
    name : str, optional
    seed : int, optional
        Accepted for Keras compatibility; dropout draws from the model's generator.
    unroll : bool, default=False
        Accepted for Keras compatibility; the compiled time loop is used either way.

    Input: float array of shape (batch, steps, features); output as ``return_sequences`` says.
    """
    cell = "gru"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 reset_after=True, **kwargs):  # fmt: skip
        super().__init__(units, activation, recurrent_activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)  # fmt: skip
        self.reset_after = check_bool(reset_after, "reset_after")

    def _bias_value(self, H):
        shape = (2, 3 * H) if self.reset_after else (3 * H,)
        return self.bias_initializer(shape, self.dtype)

    def get_config(self):
        return {**super().get_config(), "recurrent_activation": self.recurrent_activation,
                "reset_after": self.reset_after}  # fmt: skip


class SimpleRNN(RecurrentLayer):
    """Fully connected recurrent layer, as Keras's ``SimpleRNN``: ``h' = activation(x W + h U + b)``.
    Parameters
    ----------
    units : int
        Size of the state ``h`` (and ``c``).
    activation : {'tanh', 'relu', 'linear', 'sigmoid', 'hard_sigmoid'} or None, default='tanh'
        Activation of the candidate and output (None means 'linear').
    use_bias : bool, default=True
    kernel_initializer : str, dict or Initializer, default='glorot_uniform'
    recurrent_initializer : str, dict or Initializer, default='orthogonal'
    bias_initializer : str, dict or Initializer, default='zeros'
    kernel_regularizer, recurrent_regularizer, bias_regularizer : str, dict or Regularizer, optional
    dropout : float in [0, 1), default=0.0
        Share of input features dropped while training (one mask per sequence).
    recurrent_dropout : float in [0, 1), default=0.0
        Share of ``h_{t-1}`` units dropped in the recurrent products while training.
    return_sequences : bool, default=False
        Output every step, shape (batch, steps, units), or only the last, (batch, units).
    go_backwards : bool, default=False
        Read the sequence backwards.
    input_shape : tuple (steps, features), optional
        On the first layer of a model; ``steps`` may be None.
    dtype : {'float32', 'float64'}, default='float32'
    name : str, optional
    seed : int, optional
        Accepted for Keras compatibility; dropout draws from the model's generator.
    unroll : bool, default=False
        Accepted for Keras compatibility; the compiled time loop is used either way.

    Input: float array of shape (batch, steps, features); output as ``return_sequences`` says.
    """
    cell = "simple"

    def __init__(self, units, activation="tanh", use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros", **kwargs):  # fmt: skip
        super().__init__(units, activation, "sigmoid", use_bias, kernel_initializer, recurrent_initializer,
                         bias_initializer, **kwargs)  # fmt: skip


