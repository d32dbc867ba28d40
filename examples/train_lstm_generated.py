"""Train an LSTM on generated data with the numbarnn engine and watch the loss fall.

The task is the classic first recurrent-network tutorial: read 10 random numbers
and predict their sum. The model is LSTM(32) followed by a Dense(1) head, trained
with mean squared error and Adam. It is written on the engine functions
(``rnn_forward``/``rnn_backward``) so every step of training is visible.

Run it as it is::

    python examples/train_lstm_generated.py
"""

import argparse
import time

import numpy as np

import numbarnn


def init_params(rng, n_features, units):
    """Keras's defaults: glorot-uniform kernel, orthogonal recurrent kernel, forget bias 1."""
    limit = np.sqrt(6.0 / (n_features + 4 * units))
    kernel = rng.uniform(-limit, limit, size=(n_features, 4 * units))
    q, _ = np.linalg.qr(rng.normal(size=(4 * units, units)))
    recurrent = q.T  # (units, 4*units) with orthonormal rows
    bias = np.zeros(4 * units)
    bias[units : 2 * units] = 1.0
    dense = rng.uniform(-np.sqrt(6.0 / (units + 1)), np.sqrt(6.0 / (units + 1)), size=(units, 1))
    params = {"kernel": kernel, "recurrent_kernel": recurrent, "bias": bias, "dense": dense, "dense_bias": np.zeros(1)}
    return {k: v.astype(np.float32) for k, v in params.items()}


def forward_backward(params, xb, yb):
    """One batch: return the loss and the gradient of every parameter."""
    out, _, tape = numbarnn.rnn_forward(xb, params["kernel"], params["recurrent_kernel"], params["bias"])
    pred = out @ params["dense"] + params["dense_bias"]
    err = pred - yb
    loss = float(np.mean(err**2))
    d_pred = 2.0 * err / err.size
    grads = numbarnn.rnn_backward(tape, d_outputs=d_pred @ params["dense"].T)
    return loss, {
        "kernel": grads.kernel,
        "recurrent_kernel": grads.recurrent_kernel,
        "bias": grads.bias,
        "dense": out.T @ d_pred,
        "dense_bias": d_pred.sum(axis=0),
    }


def predict(params, x):
    out, _ = numbarnn.rnn_inference(x, params["kernel"], params["recurrent_kernel"], params["bias"])
    return out @ params["dense"] + params["dense_bias"]


def main(epochs=25, n_train=1000, units=32, batch_size=32, seed=0, verbose=True):
    """Train and return the list of per-epoch training losses and the test MSE."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_train, 10, 1)).astype(np.float32)
    y = X.sum(axis=1)
    X_test = rng.random((200, 10, 1)).astype(np.float32)
    y_test = X_test.sum(axis=1)
    params = init_params(rng, 1, units)
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    lr, beta1, beta2, eps, step = 0.01, 0.9, 0.999, 1e-7, 0
    losses = []
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n_train)
        total = 0.0
        for i in range(0, n_train, batch_size):
            idx = order[i : i + batch_size]
            loss, grads = forward_backward(params, X[idx], y[idx])
            total += loss * len(idx)
            step += 1
            for k in params:  # Adam
                m[k] = beta1 * m[k] + (1 - beta1) * grads[k]
                v[k] = beta2 * v[k] + (1 - beta2) * grads[k] ** 2
                m_hat = m[k] / (1 - beta1**step)
                v_hat = v[k] / (1 - beta2**step)
                params[k] -= (lr * m_hat / (np.sqrt(v_hat) + eps)).astype(np.float32)
        losses.append(total / n_train)
        if verbose:
            print(f"epoch {epoch:3d}  train MSE {losses[-1]:.5f}  ({time.perf_counter() - start:.1f} s)")
    test_mse = float(np.mean((predict(params, X_test) - y_test) ** 2))
    if verbose:
        print(f"test MSE {test_mse:.5f} (predicting the mean would give {float(np.var(y_test)):.5f}); "
              f"{numbarnn.get_num_threads()} threads; first epoch includes compiling the kernels")
    return losses, test_mse


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=25, help="training epochs (default 25)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args()
    main(epochs=args.epochs, seed=args.seed)
