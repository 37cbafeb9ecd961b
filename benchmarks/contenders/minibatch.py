"""What every minibatch contender (W5, W6) shares: the epoch/batch bookkeeping over the shared
data order, and the Python training loop that Flax, Equinox and plain-JAX users write.

The loop is the one in JAX's own MNIST example and the Flax/Equinox tutorials: NumPy arrays on
the host, each batch gathered there (``x[idx]``) and handed to a jitted step, and after each
epoch a jitted evaluation on the held-out set whose numbers are pulled to the host (to log
them), which waits for the epoch's work to finish. One loop for every framework, so their rows
differ only in what the framework does inside the step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmarks.workloads import Workload


def epochs_and_batches(spec: Workload, data, steps: int) -> tuple[int, int]:
    """``(epochs, updates per epoch)`` for a run of ``steps`` updates (whole epochs only)."""
    spe = spec.steps_per_epoch(len(data["X"]))
    if steps % spe:
        raise ValueError(f"{spec.name}: steps={steps} is not a whole number of {spe}-step epochs")
    return steps // spe, spe


def batch_indices(order: np.ndarray, spe: int, batch_size: int) -> np.ndarray:
    """One epoch's order ``(..., n)`` -> ``(..., spe, batch_size)``; the remainder is skipped."""
    return order[..., : spe * batch_size].reshape(*order.shape[:-1], spe, batch_size)


def python_loop(
    spec: Workload,
    data,
    steps: int,
    state,
    step: Callable,
    evaluate: Callable,
) -> tuple[object, list[tuple[float, float]]]:
    """Run ``state = step(state, x_batch, y_batch)`` over the shared data order and
    ``evaluate(state, x_val, y_val) -> (loss, accuracy)`` after every epoch.

    For an ensemble every member gets its own batch: ``x_batch`` is ``(members, B, features)``.
    Returns the final state and the per-epoch held-out ``(loss, accuracy)`` (member means).
    """
    epochs, spe = epochs_and_batches(spec, data, steps)
    x, y, xv, yv = data["X"], data["y"], data["X_val"], data["y_val"]
    orders = data["orders"]
    history = []
    for e in range(epochs):
        order = orders[:, e] if spec.ensemble else orders[e]
        idx = batch_indices(order, spe, spec.batch_size)
        for i in range(spe):
            rows = idx[..., i, :]
            state = step(state, x[rows], y[rows])
        loss, acc = evaluate(state, xv, yv)
        history.append((float(np.mean(loss)), float(np.mean(acc))))
    return state, history
