"""Engine speed and memory: forward (inference), forward + backward, per cell and dtype."""

import numpy as np

from numbarnn import rnn_backward, rnn_forward, rnn_inference

from .common import engine_problem

# (B, T, F, H): the recurrent layer of the performance shapes S1, S3 and S4, and L1's single sequence.
SHAPES = {"S1": (32, 10, 1, 64), "S3": (64, 100, 8, 128), "S4": (256, 50, 64, 512), "L1": (1, 100, 8, 64)}


class Engine:
    params = (["lstm", "gru", "simple"], ["float32", "float64"], list(SHAPES))
    param_names = ["cell", "dtype", "shape"]
    timeout = 600

    def setup(self, cell, dtype, shape):
        self.x, self.W, self.U, self.b = engine_problem(cell, dtype, *SHAPES[shape])
        self.kw = dict(cell=cell, return_sequences=False)
        out, _, tape = rnn_forward(self.x, self.W, self.U, self.b, **self.kw)  # compile outside timing
        self.d_out = np.ones_like(out)
        rnn_backward(tape, d_outputs=self.d_out)
        rnn_inference(self.x, self.W, self.U, self.b, **self.kw)

    def time_inference(self, cell, dtype, shape):
        rnn_inference(self.x, self.W, self.U, self.b, **self.kw)

    def time_forward_backward(self, cell, dtype, shape):
        _, _, tape = rnn_forward(self.x, self.W, self.U, self.b, **self.kw)
        rnn_backward(tape, d_outputs=self.d_out)

    def peakmem_forward_backward(self, cell, dtype, shape):
        _, _, tape = rnn_forward(self.x, self.W, self.U, self.b, **self.kw)
        rnn_backward(tape, d_outputs=self.d_out)



class StepProduct:
    """One thread's share of a step's recurrent LSTM product, h (rows, H) @ U (H, 4H), float32:
    the register-tiled product on packed weights against the plain loop it replaced (the same bits).
    ``benchmarks/step_product.py`` sets both against numpy's rate for the same product."""

    # shape -> (rows one thread runs, H)
    SHAPES = {"S1": (32, 64), "S3": (32, 128), "S4": (128, 512), "L1": (1, 64)}
    params = (list(SHAPES), ["packed", "plain"])
    param_names = ["shape", "path"]

    def setup(self, shape, path):
        from numbarnn.kernels.linalg import matmul_into
        from numbarnn.kernels.panels import matmul_packed, pack_panels

        m, H = self.SHAPES[shape]
        rng = np.random.default_rng(0)
        self.a = rng.normal(size=(m, H)).astype(np.float32)
        b = (rng.normal(size=(H, 4 * H)) / np.sqrt(H)).astype(np.float32)
        self.out = np.empty((m, 4 * H), np.float32)
        self.fn, self.b = (matmul_packed, pack_panels(b)) if path == "packed" else (matmul_into, b)
        self.fn(self.a, self.b, self.out)  # compile outside timing

    def time_product(self, shape, path):
        self.fn(self.a, self.b, self.out)
