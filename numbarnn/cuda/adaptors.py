"""The engine's cell adaptors on the CUDA device.

Each class subclasses its CPU adaptor (:mod:`numbarnn.engine.cells`), so the
layout (bias split, split recurrent kernels), the buffers, the weight-gradient
rule and the host code around them (outputs, ``dx``) are the CPU's; only
:meth:`forward` and :meth:`backward` differ: they run the whole batch through
the device kernels of :mod:`numbarnn.cuda` and fill the same host arrays, with
the same contents, as the CPU kernels. The weight-gradient products stay the
inherited host ones.
"""

import numpy as np

from ..engine.cells import GRUAfterAdaptor, GRUBeforeAdaptor, LSTMAdaptor, SimpleAdaptor
from .gru_after import gru_after_backward, gru_after_forward
from .gru_before import gru_before_backward, gru_before_forward
from .lstm import lstm_backward, lstm_forward
from .simple_rnn import simple_backward, simple_forward

__all__ = ["CudaGRUAfterAdaptor", "CudaGRUBeforeAdaptor", "CudaLSTMAdaptor", "CudaSimpleAdaptor"]


def _grad_arrays(adaptor, p):
    T, B, H, dt = p.n_steps, p.n_batch, p.units, p.dtype
    dz = np.empty((T, B, adaptor.n_gates * H), dt)
    d_init = [np.empty((B, H), dt) for _ in range(adaptor.n_states)]
    return dz, d_init


class CudaLSTMAdaptor(LSTMAdaptor):
    """LSTM on the CUDA device: gates i, f, c, o; states h and c.

    ``forward(p, buf)`` fills the :class:`~numbarnn.engine.cells.ForwardBuffers`
    ``buf`` (hs, cs (T, B, H), gates (T, B, 4H), states [h, c] (B, H)) from
    plan ``p``; ``backward(p, buf, dhs, d_last)`` returns ``(dz (T, B, 4H),
    [dh0, dc0] (B, H))``, host arrays of the plan's dtype.
    """

    device = "cuda"
    packed = False  # its kernels read the plain layout

    def forward(self, p, buf):
        """Run the forward kernels over the whole batch of plan ``p``, filling the host buffers ``buf``."""
        w = p.weights
        h0, c0 = p.states0
        lstm_forward(
            p.xt, w.kernel, w.bias_in, w.recurrent_kernel, h0, c0, p.mask_t, p.rmask, w.act, w.ract,
            buf.hs, buf.cs, buf.gates, buf.states[0], buf.states[1],
        )  # fmt: skip

    def backward(self, p, buf, dhs, d_last):
        """Backpropagate through the whole batch; return ``(dz (T, B, 4H), [dh0, dc0])``."""
        w = p.weights
        dz, d_init = _grad_arrays(self, p)
        lstm_backward(
            self.backward_layout(p)["ut"], p.states0[1], p.mask_t, p.rmask, w.act, w.ract, buf.cs, buf.gates, dhs,
            d_last[0], d_last[1], p.zero_masked, dz, d_init[0], d_init[1],
        )  # fmt: skip
        return dz, d_init


class CudaGRUAfterAdaptor(GRUAfterAdaptor):
    """``reset_after=True`` GRU on the CUDA device.

    ``forward(p, buf)`` fills hs, us (T, B, H), gates (T, B, 3H) and states [h]
    (B, H); ``backward(p, buf, dhs, d_last)`` returns ``(dz (T, B, 3H), [dh0] (B, H))``.
    """

    device = "cuda"
    packed = False  # its kernels read the plain layout

    def forward(self, p, buf):
        """Run the forward kernels over the whole batch of plan ``p``, filling the host buffers ``buf``."""
        w = p.weights
        gru_after_forward(
            p.xt, w.kernel, w.bias_in, w.recurrent_kernel, w.bias_rec, p.states0[0], p.mask_t, p.rmask, w.act,
            w.ract, buf.hs, buf.gates, buf.us, buf.states[0],
        )  # fmt: skip

    def backward(self, p, buf, dhs, d_last):
        """Backpropagate through the whole batch; return ``(dz (T, B, 3H), [dh0])``."""
        w = p.weights
        dz, d_init = _grad_arrays(self, p)
        gru_after_backward(
            self.backward_layout(p)["ut"], p.states0[0], p.mask_t, p.rmask, w.act, w.ract, buf.hs, buf.gates, buf.us,
            dhs, d_last[0], p.zero_masked, dz, d_init[0],
        )  # fmt: skip
        return dz, d_init


class CudaGRUBeforeAdaptor(GRUBeforeAdaptor):
    """``reset_after=False`` GRU on the CUDA device (recurrent kernel split into its z-r and h blocks).

    ``forward(p, buf)`` fills hs (T, B, H), gates (T, B, 3H) and states [h] (B, H);
    ``backward(p, buf, dhs, d_last)`` returns ``(dz (T, B, 3H), [dh0] (B, H))``.
    """

    device = "cuda"
    packed = False  # its kernels read the plain layout

    def forward(self, p, buf):
        """Run the forward kernels over the whole batch of plan ``p``, filling the host buffers ``buf``."""
        w = p.weights
        gru_before_forward(
            p.xt, w.kernel, w.bias_in, w.layout["uzr"], w.layout["uh"], p.states0[0], p.mask_t, p.rmask, w.act,
            w.ract, buf.hs, buf.gates, buf.states[0],
        )  # fmt: skip

    def backward(self, p, buf, dhs, d_last):
        """Backpropagate through the whole batch; return ``(dz (T, B, 3H), [dh0])``."""
        w = p.weights
        dz, d_init = _grad_arrays(self, p)
        layout = self.backward_layout(p)
        gru_before_backward(
            layout["uzrt"], layout["uht"], p.states0[0], p.mask_t, p.rmask, w.act, w.ract, buf.hs, buf.gates, dhs,
            d_last[0], p.zero_masked, dz, d_init[0],
        )  # fmt: skip
        return dz, d_init


class CudaSimpleAdaptor(SimpleAdaptor):
    """SimpleRNN on the CUDA device.

    ``forward(p, buf)`` fills hs (T, B, H) and states [h] (B, H);
    ``backward(p, buf, dhs, d_last)`` returns ``(dz (T, B, H), [dh0] (B, H))``.
    """

    device = "cuda"
    packed = False  # its kernels read the plain layout

    def forward(self, p, buf):
        """Run the forward kernels over the whole batch of plan ``p``, filling the host buffers ``buf``."""
        w = p.weights
        simple_forward(
            p.xt, w.kernel, w.bias_in, w.recurrent_kernel, p.states0[0], p.mask_t, p.rmask, w.act, buf.hs,
            buf.states[0],
        )  # fmt: skip

    def backward(self, p, buf, dhs, d_last):
        """Backpropagate through the whole batch; return ``(dz (T, B, H), [dh0])``."""
        w = p.weights
        dz, d_init = _grad_arrays(self, p)
        simple_backward(
            self.backward_layout(p)["ut"], p.mask_t, p.rmask, w.act, buf.hs, dhs, d_last[0], p.zero_masked, dz,
            d_init[0],
        )  # fmt: skip
        return dz, d_init
