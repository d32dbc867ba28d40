"""One adaptor per cell: what the engine does for an LSTM, a GRU (each reset form) and a SimpleRNN.

An adaptor owns, for its cell, the layout its kernels take (bias split, split
recurrent kernels, and on the CPU every kernel packed into the panels of the
register-tiled product, :mod:`numbarnn.kernels.panels`), the buffers a forward pass fills, the kernel calls over a
block of batch rows, and the weight-gradient rule after the backward loop. The
engine (:mod:`numbarnn.engine.api`) calls only the adaptor's methods, so it has
no per-cell branches.

The device seam: :meth:`CellAdaptor.forward` and :meth:`CellAdaptor.backward`
run a whole batch. On the CPU they cut the batch into one block of rows per
thread and call the row kernels (:meth:`forward_rows`, :meth:`backward_rows`)
on each; another device registers adaptors (:func:`register_adaptor`) whose
``forward`` and ``backward`` launch its own kernels on the same arrays, and the
engine's dispatch stays as it is.

Weight gradients are large matrix products over every step after the time
loop (:mod:`numbarnn.engine.reductions`), so they do not depend on how the
batch was split across threads.
"""

from dataclasses import dataclass

import numpy as np

from .. import _threads
from .._validation import as_float_array
from .reductions import rows_gram, rows_sum
from ..kernels.gru_after import gru_after_backward, gru_after_forward
from ..kernels.gru_before import gru_before_backward, gru_before_forward
from ..kernels.lstm import lstm_backward, lstm_forward
from ..kernels.panels import pack_panels
from ..kernels.simple_rnn import simple_backward, simple_forward

__all__ = [
    "GATE_COUNTS", "DEVICES", "CellAdaptor", "ForwardBuffers", "check_device", "get_adaptor", "register_adaptor",
]

#: Number of gate blocks of each cell's weights.
GATE_COUNTS = {"lstm": 4, "gru": 3, "simple": 1}

#: The devices an engine call may run on ('cuda' needs the ``cuda`` extra and a GPU).
DEVICES = ("cpu", "cuda")


def _empty3(dtype):
    return np.zeros((0, 0, 0), dtype)


@dataclass
class ForwardBuffers:
    """What a forward pass writes, time-major in reading order (internal).

    Attributes
    ----------
    hs : ndarray of shape (T, B, H), or (0, 0, 0) when neither training nor returning sequences
    cs : ndarray of shape (T, B, H) (LSTM, training), else (0, 0, 0)
    gates : ndarray of shape (T, B, G*H) (LSTM and GRU, training), else (0, 0, 0)
    us : ndarray of shape (T, B, H) (reset_after GRU, training), else (0, 0, 0)
    states : list of ndarray of shape (B, H)
        The final states, ``[h, c]`` or ``[h]``.
    """

    hs: np.ndarray
    cs: np.ndarray
    gates: np.ndarray
    us: np.ndarray
    states: list

    @property
    def nbytes(self):
        return int(sum(a.nbytes for a in (self.hs, self.cs, self.gates, self.us)))


class CellAdaptor:
    """Base of the cell adaptors: the CPU's way of running a batch, and the shared gradient steps.

    Subclasses set ``cell``, ``n_gates``, ``n_states`` and the ``keeps_*`` flags,
    and write :meth:`forward_rows`, :meth:`backward_rows` and :meth:`recurrent_gradient`.
    """

    cell = None
    n_gates = 1
    n_states = 1
    device = "cpu"
    keeps_cells = False  # training keeps c_t (LSTM)
    keeps_gates = False  # training keeps the activated gates
    keeps_us = False  # training keeps the recurrent candidate term (reset_after GRU)
    packed = True  # the kernels take the weights packed into panels (the CPU's; a device's may not)

    # -- layout --------------------------------------------------------------
    def split_bias(self, bias, H, dtype):
        """Return ``(bias_in (G*H,), bias_rec)`` from the public bias (None: zeros)."""
        if bias is None:
            return np.zeros(self.n_gates * H, dtype), np.zeros(0, dtype)
        return as_float_array(bias, "bias", dtype, shape=(self.n_gates * H,)), np.zeros(0, dtype)

    def layout(self, kernel, recurrent_kernel):
        """Derived arrays the forward kernel takes: the kernels packed into panels (none when not ``packed``)."""
        if not self.packed:
            return {}
        return {"wp": pack_panels(kernel), "up": pack_panels(recurrent_kernel)}

    # -- forward -------------------------------------------------------------
    def forward_buffers(self, p, training):
        """Allocate the :class:`ForwardBuffers` of one forward pass of plan ``p``."""
        T, B, H, dt = p.n_steps, p.n_batch, p.units, p.dtype
        hs = np.empty((T, B, H), dt) if training or p.return_sequences else _empty3(dt)
        cs = np.empty((T, B, H), dt) if training and self.keeps_cells else _empty3(dt)
        gates = np.empty((T, B, self.n_gates * H), dt) if training and self.keeps_gates else _empty3(dt)
        us = np.empty((T, B, H), dt) if training and self.keeps_us else _empty3(dt)
        states = [np.empty((B, H), dt) for _ in range(self.n_states)]
        return ForwardBuffers(hs, cs, gates, us, states)

    def chunks(self, p):
        """Blocks of batch rows, one per thread, sized by the work of a row."""
        G = self.n_gates
        return _threads.split_rows(p.n_batch, p.n_steps * G * p.units * (p.units + p.n_features))

    def forward(self, p, buf):
        """Run the forward kernel over the whole batch of ``p``, filling ``buf``."""

        def step(b0, b1):
            self.forward_rows(p, buf, b0, b1)

        _threads.run_chunks(step, self.chunks(p))

    def forward_rows(self, p, buf, b0, b1):
        raise NotImplementedError

    # -- backward ------------------------------------------------------------
    def backward(self, p, buf, dhs, d_last):
        """Backpropagate through the whole batch; return ``(dz (T, B, G*H), [dh0(, dc0)])``."""
        T, B, H, dt = p.n_steps, p.n_batch, p.units, p.dtype
        dz = np.empty((T, B, self.n_gates * H), dt)
        d_init = [np.empty((B, H), dt) for _ in range(self.n_states)]
        layout = self.backward_layout(p)

        def step(b0, b1):
            self.backward_rows(p, buf, layout, dhs, d_last, dz, d_init, b0, b1)

        _threads.run_chunks(step, self.chunks(p))
        return dz, d_init

    def backward_layout(self, p):
        """The transposed recurrent kernel the backward kernel takes: packed (``utp``) or plain (``ut``)."""
        ut = p.weights.recurrent_kernel.T
        return {"utp": pack_panels(ut)} if self.packed else {"ut": np.ascontiguousarray(ut)}

    def backward_rows(self, p, buf, layout, dhs, d_last, dz, d_init, b0, b1):
        raise NotImplementedError

    # -- weight gradients ----------------------------------------------------
    def weight_gradients(self, p, buf, dz):
        """Return ``(d_kernel, d_recurrent_kernel, d_bias or None)`` in the public layout."""
        T, B, H, F, G = p.n_steps, p.n_batch, p.units, p.n_features, self.n_gates
        dz2 = dz.reshape(T * B, G * H)
        d_kernel = rows_gram(p.xt.reshape(T * B, F), dz2, time_major=True)
        d_bias_in = rows_sum(dz2, time_major=True)
        hd = np.empty((T, B, H), p.dtype)
        hd[0] = p.states0[0]
        hd[1:] = buf.hs[:-1]
        if p.rmask.size:
            hd *= p.rmask
        d_rec, d_bias = self.recurrent_gradient(p, buf, dz2, hd.reshape(T * B, H), d_bias_in)
        if not p.weights.has_bias:
            d_bias = None
        return d_kernel, d_rec, d_bias

    def recurrent_gradient(self, p, buf, dz2, hd2, d_bias_in):
        """``(d_recurrent_kernel, d_bias)`` from dz (T*B, G*H) and the dropped-out h_{t-1} (T*B, H)."""
        return rows_gram(hd2, dz2, time_major=True), d_bias_in


class LSTMAdaptor(CellAdaptor):
    """LSTM: gates i, f, c, o; states h and c; keeps c_t and the gates for training."""

    cell = "lstm"
    n_gates = 4
    n_states = 2
    keeps_cells = True
    keeps_gates = True

    def forward_rows(self, p, buf, b0, b1):
        w = p.weights
        h0, c0 = p.states0
        lstm_forward(
            p.xt, w.layout["wp"], w.bias_in, w.layout["up"], h0, c0, p.mask_t, p.rmask, w.act, w.ract, b0, b1,
            buf.hs, buf.cs, buf.gates, buf.states[0], buf.states[1],
        )  # fmt: skip

    def backward_rows(self, p, buf, layout, dhs, d_last, dz, d_init, b0, b1):
        w = p.weights
        lstm_backward(
            layout["utp"], p.states0[1], p.mask_t, p.rmask, w.act, w.ract, b0, b1, buf.cs, buf.gates, dhs,
            d_last[0], d_last[1], p.zero_masked, dz, d_init[0], d_init[1],
        )  # fmt: skip


class GRUAfterAdaptor(CellAdaptor):
    """GRU with ``reset_after=True``: an input and a recurrent bias, (2, 3H); keeps the gates and u."""

    cell = "gru"
    n_gates = 3
    keeps_gates = True
    keeps_us = True

    def split_bias(self, bias, H, dtype):
        if bias is None:
            return np.zeros(3 * H, dtype), np.zeros(3 * H, dtype)
        b = as_float_array(bias, "bias", dtype, shape=(2, 3 * H))
        return b[0].copy(), b[1].copy()

    def forward_rows(self, p, buf, b0, b1):
        w = p.weights
        gru_after_forward(
            p.xt, w.layout["wp"], w.bias_in, w.layout["up"], w.bias_rec, p.states0[0], p.mask_t, p.rmask, w.act,
            w.ract, b0, b1, buf.hs, buf.gates, buf.us, buf.states[0],
        )  # fmt: skip

    def backward_rows(self, p, buf, layout, dhs, d_last, dz, d_init, b0, b1):
        w = p.weights
        gru_after_backward(
            layout["utp"], p.states0[0], p.mask_t, p.rmask, w.act, w.ract, b0, b1, buf.hs, buf.gates, buf.us, dhs,
            d_last[0], p.zero_masked, dz, d_init[0],
        )  # fmt: skip

    def recurrent_gradient(self, p, buf, dz2, hd2, d_bias_in):
        # The recurrent side sees the h block's gradient scaled by r.
        H, dt = p.units, p.dtype
        dzh_r = dz2[:, 2 * H :] * buf.gates.reshape(-1, 3 * H)[:, H : 2 * H]
        d_rec = np.empty((H, 3 * H), dt)
        d_rec[:, : 2 * H] = rows_gram(hd2, dz2[:, : 2 * H], time_major=True)
        d_rec[:, 2 * H :] = rows_gram(hd2, dzh_r, time_major=True)
        d_bias = None
        if p.weights.has_bias:
            d_bias = np.stack([d_bias_in, np.concatenate([d_bias_in[: 2 * H], rows_sum(dzh_r, time_major=True)])])
        return d_rec, d_bias


class GRUBeforeAdaptor(CellAdaptor):
    """GRU with ``reset_after=False``: one bias; the recurrent kernel split into its z-r and h blocks."""

    cell = "gru"
    n_gates = 3
    keeps_gates = True

    def layout(self, kernel, recurrent_kernel):
        H = recurrent_kernel.shape[0]
        uzr, uh = recurrent_kernel[:, : 2 * H], recurrent_kernel[:, 2 * H :]
        if not self.packed:
            return {"uzr": np.ascontiguousarray(uzr), "uh": np.ascontiguousarray(uh)}
        return {"wp": pack_panels(kernel), "uzrp": pack_panels(uzr), "uhp": pack_panels(uh)}

    def forward_rows(self, p, buf, b0, b1):
        w = p.weights
        gru_before_forward(
            p.xt, w.layout["wp"], w.bias_in, w.layout["uzrp"], w.layout["uhp"], p.states0[0], p.mask_t, p.rmask,
            w.act, w.ract, b0, b1, buf.hs, buf.gates, buf.states[0],
        )  # fmt: skip

    def backward_layout(self, p):
        H = p.units
        u = p.weights.recurrent_kernel
        uzrt, uht = u[:, : 2 * H].T, u[:, 2 * H :].T
        if not self.packed:
            return {"uzrt": np.ascontiguousarray(uzrt), "uht": np.ascontiguousarray(uht)}
        return {"uzrtp": pack_panels(uzrt), "uhtp": pack_panels(uht)}

    def backward_rows(self, p, buf, layout, dhs, d_last, dz, d_init, b0, b1):
        w = p.weights
        gru_before_backward(
            layout["uzrtp"], layout["uhtp"], p.states0[0], p.mask_t, p.rmask, w.act, w.ract, b0, b1, buf.hs,
            buf.gates, dhs, d_last[0], p.zero_masked, dz, d_init[0],
        )  # fmt: skip

    def recurrent_gradient(self, p, buf, dz2, hd2, d_bias_in):
        H, dt = p.units, p.dtype
        d_rec = np.empty((H, 3 * H), dt)
        d_rec[:, : 2 * H] = rows_gram(hd2, dz2[:, : 2 * H], time_major=True)
        rhd = hd2 * buf.gates.reshape(-1, 3 * H)[:, H : 2 * H]
        d_rec[:, 2 * H :] = rows_gram(rhd, dz2[:, 2 * H :], time_major=True)
        return d_rec, d_bias_in


class SimpleAdaptor(CellAdaptor):
    """SimpleRNN: one block, one state; training keeps only h_t."""

    cell = "simple"

    def forward_rows(self, p, buf, b0, b1):
        w = p.weights
        simple_forward(
            p.xt, w.layout["wp"], w.bias_in, w.layout["up"], p.states0[0], p.mask_t, p.rmask, w.act, b0, b1,
            buf.hs, buf.states[0],
        )  # fmt: skip

    def backward_rows(self, p, buf, layout, dhs, d_last, dz, d_init, b0, b1):
        w = p.weights
        simple_backward(
            layout["utp"], p.mask_t, p.rmask, w.act, b0, b1, buf.hs, dhs, d_last[0], p.zero_masked, dz, d_init[0]
        )


# (device, cell, reset_after) -> adaptor; reset_after is ignored (None) for the cells that have no such form.
_ADAPTORS = {
    ("cpu", "lstm", None): LSTMAdaptor(),
    ("cpu", "gru", True): GRUAfterAdaptor(),
    ("cpu", "gru", False): GRUBeforeAdaptor(),
    ("cpu", "simple", None): SimpleAdaptor(),
}


def _key(device, cell, reset_after):
    return (device, cell, bool(reset_after) if cell == "gru" else None)


def register_adaptor(adaptor, device, cell, reset_after=None):
    """Make ``adaptor`` the one :func:`get_adaptor` returns for ``cell`` on ``device``."""
    _ADAPTORS[_key(device, cell, reset_after)] = adaptor


def get_adaptor(cell, reset_after=True, device="cpu"):
    """The adaptor of ``cell`` (and GRU form) on ``device``.

    Parameters
    ----------
    cell : {'lstm', 'gru', 'simple'}
    reset_after : bool, default=True
        GRU form; ignored for the other cells.
    device : str, default='cpu'

    Returns
    -------
    CellAdaptor
    """
    key = _key(device, cell, reset_after) if isinstance(device, str) else None
    if key not in _ADAPTORS:
        check_device(device)  # an unknown device, or a device whose package registers its adaptors
    try:
        return _ADAPTORS[key]
    except KeyError:
        raise ValueError(f"no {cell!r} cell on device {device!r}") from None


def check_device(device):
    """Raise unless ``device`` can run here; a non-CPU device's package is imported (and registers its adaptors).

    Raises
    ------
    ValueError
        ``device`` is not one of :data:`DEVICES` (the message lists them).
    ImportError, RuntimeError
        As :func:`load_device`.
    """
    if not isinstance(device, str) or device not in DEVICES:
        raise ValueError(f"device must be one of {list(DEVICES)}; got {device!r}")
    if device != "cpu":
        load_device(device)


def load_device(device):
    """Import the package of a non-CPU ``device``, which registers its adaptors.

    Raises
    ------
    ImportError
        The device's optional extra is not installed, with the ``pip install`` hint.
    RuntimeError
        The extra is installed but the device cannot be used (no GPU, no driver).
    """
    if device == "cuda":
        import importlib

        module = importlib.import_module("numbarnn.cuda")
        module.require_device()
