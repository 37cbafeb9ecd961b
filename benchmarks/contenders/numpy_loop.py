"""The tutorials' way: a Python loop over steps, forward and backward written out in NumPy.

W1/W4 follow Denny Britz's moons code (``delta3 = probs; delta3[range(n), y] -= 1``), W2 is
Trask's ``l2_delta = (y - l2) * l2 * (1 - l2)`` loop, and W3 is the batched form of the same
backprop over all members at once (matmul with a leading member axis).
Arithmetic stays in the workload's dtype (Python-float scalars do not promote under NEP 50).
"""

from __future__ import annotations

import numpy as np

from benchmarks.workloads import Workload


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _copy(init):
    return [{k: np.array(v, copy=True) for k, v in layer.items()} for layer in init]


def _softmax_classifier(spec: Workload, data, init, steps):
    """Britz's loop (tanh hidden, softmax output), with the numerically stable softmax."""
    X, y = data["X"], data["y"]
    (l1, l2) = _copy(init)
    W1, b1, W2, b2 = l1["w"], l1["b"], l2["w"], l2["b"]
    n = X.shape[0]
    rows = np.arange(n)
    scale = 1.0 if spec.loss == "sum_ce" else 1.0 / n
    lam, lr = spec.l2, spec.lr
    for _ in range(steps):
        # forward
        a1 = np.tanh(X @ W1 + b1)
        z2 = a1 @ W2 + b2
        e = np.exp(z2 - z2.max(axis=1, keepdims=True))
        probs = e / e.sum(axis=1, keepdims=True)
        # backward
        delta3 = probs
        delta3[rows, y] -= 1
        if scale != 1.0:
            delta3 *= scale
        dW2 = a1.T @ delta3
        db2 = delta3.sum(axis=0)
        delta2 = (delta3 @ W2.T) * (1 - a1 * a1)
        dW1 = X.T @ delta2
        db1 = delta2.sum(axis=0)
        dW2 += lam * W2
        dW1 += lam * W1
        # gradient descent
        W1 -= lr * dW1
        b1 -= lr * db1
        W2 -= lr * dW2
        b2 -= lr * db2
    return [{"w": W1, "b": b1}, {"w": W2, "b": b2}]


def _trask(spec: Workload, data, init, steps):
    """Trask's 3-layer loop: ``syn1 += l1.T.dot(l2_delta)`` is GD with lr 1 on half SSE."""
    X, y = data["X"], data["y"]
    syn0, syn1 = (layer["w"] for layer in _copy(init))
    lr = spec.lr
    for _ in range(steps):
        l1 = _sigmoid(X @ syn0)
        l2 = _sigmoid(l1 @ syn1)
        l2_delta = (y - l2) * (l2 * (1 - l2))
        l1_delta = (l2_delta @ syn1.T) * (l1 * (1 - l1))
        syn1 += lr * (l1.T @ l2_delta)
        syn0 += lr * (X.T @ l1_delta)
    return [{"w": syn0}, {"w": syn1}]


def _ensemble(spec: Workload, data, init, steps):
    """All members at once: weights (m, in, out), activations (m, n, width)."""
    X, y = data["X"], data["y"]
    (l1, l2) = _copy(init)
    W1, b1, W2, b2 = l1["w"], l1["b"], l2["w"], l2["b"]
    n_el = y.size  # MSE: mean over the n x out elements of each member
    lr = spec.lr
    Xt = np.ascontiguousarray(X.T)
    b1v, b2v = b1[:, None, :], b2[:, None, :]  # views: in-place updates reach b1, b2
    for _ in range(steps):
        h = _sigmoid(X @ W1 + b1v)  # (m, n, hidden)
        p = _sigmoid(h @ W2 + b2v)  # (m, n, 1)
        dz2 = (p - y) * (2.0 / n_el) * (p * (1 - p))
        dW2 = h.transpose(0, 2, 1) @ dz2  # (m, hidden, 1)
        db2 = dz2.sum(axis=1)
        dz1 = (dz2 @ W2.transpose(0, 2, 1)) * (h * (1 - h))
        dW1 = Xt @ dz1  # (in, n) @ (m, n, hidden) -> (m, in, hidden)
        db1 = dz1.sum(axis=1)
        W1 -= lr * dW1
        b1 -= lr * db1
        W2 -= lr * dW2
        b2 -= lr * db2
    return [{"w": W1, "b": b1}, {"w": W2, "b": b2}]


def train(spec: Workload, data, init, steps):
    with np.errstate(over="ignore"):  # exp overflow in the sigmoid saturates to 0/1 correctly
        if spec.ensemble:
            return _ensemble(spec, data, init, steps)
        if spec.output == "logits":
            return _softmax_classifier(spec, data, init, steps)
        if spec.loss == "half_sse":
            return _trask(spec, data, init, steps)
    raise NotImplementedError(spec.name)


TRAINERS = {"numpy": train}
