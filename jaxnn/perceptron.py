"""The perceptron learning rule, online and in order, as one compiled program.

A perceptron fires (outputs 1) where its weighted sum exceeds a threshold and outputs 0
otherwise::

    y = 1 if w·x (+ b) > threshold else 0

Training visits the examples one at a time, in the order given, and after each one moves the
weights by ``w += lr * (t - y) * x`` (and ``b += lr * (t - y)`` when a bias input of 1 is used).
The weights change only on a mistake. This is the rule of the perceptron tutorial (Bernd Klein,
python-course.eu); `train` runs it, with no Python loop, as a scan over epochs around a scan
over examples, under one ``jax.jit``.

Params are a dict ``{"w": (d,)}``, plus ``"b": ()`` when a bias is used. Every function is pure,
so `init` and `train` can be ``jax.vmap``-ed over keys, initial weights or learning rates.

The same rule is gradient descent. Take ``half_sse`` = ½(y − t)² of the unit step ``y`` of
``s = w·x + b``. The step's derivative is 0 almost everywhere, so its true gradient teaches
nothing; the straight-through rule of `jaxnn.Step` passes the cotangent through instead, and
the gradient becomes ``(y − t)·x`` for ``w`` and ``(y − t)`` for ``b``. One step of SGD with
learning rate ``lr`` and batch size 1 is then exactly ``w += lr * (t - y) * x``; an epoch of
`train` is one in-order pass of that SGD (``tests/test_perceptron.py`` checks this).

Two details worth knowing when reproducing the tutorial:

* ``(t - y)`` is −1, 0 or +1, so the update equals the tutorial's ``error * x[i] * lr`` bit for
  bit in float64 (the code is arranged so that a fused multiply-add cannot change that). The
  weighted sum ``w·x`` itself may be evaluated with FMAs and so differ from NumPy's in the last
  bit; that can change an output only when the sum lies within rounding of the threshold.
* The tutorial's trained perceptrons fire at ``w·x >= 0`` while its fixed-weight AND gate uses
  ``> 0.5``. This module always uses ``> threshold`` (as `jaxnn.Step` does); the two differ only
  when the weighted sum is exactly the threshold, which random float weights essentially never
  produce.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Params = dict[str, jax.Array]

# Fixed weights and threshold for the logic gates: AND is the tutorial's; OR keeps the same
# weights and lowers the threshold so a single active input is enough.
GATES: dict[str, tuple[tuple[float, float], float]] = {
    "and": ((0.5, 0.5), 0.5),
    "or": ((0.5, 0.5), 0.0),
}

# The four rows of a two-input truth table, in the tutorial's order.
_TRUTH_INPUTS = ((0, 0), (0, 1), (1, 0), (1, 1))


def init(
    key: jax.Array,
    n_inputs: int,
    *,
    bias: bool = False,
    low: float = -1.0,
    high: float = 1.0,
    dtype=jnp.float32,
) -> Params:
    """Weights drawn uniformly from ``[low, high)``; the tutorial uses ``[-1, 1)``.

    Returns ``{"w": (n_inputs,)}``, plus ``"b": ()`` when ``bias``. With a bias, ``n_inputs + 1``
    values are drawn at once and the last is the bias weight, as the tutorial draws them.
    """
    if not isinstance(n_inputs, int) or n_inputs < 1:
        raise ValueError(f"perceptron.init: n_inputs must be a positive int, got {n_inputs!r}")
    draws = jax.random.uniform(key, (n_inputs + int(bias),), dtype, low, high)
    params = {"w": draws[:n_inputs]}
    if bias:
        params["b"] = draws[n_inputs]
    return params


def fixed_gate(weights, *, bias=None, dtype=jnp.float32) -> Params:
    """Params with hand-chosen weights (and optionally a bias), e.g. a logic gate.

    ``predict(fixed_gate([0.5, 0.5]), x, threshold=0.5)`` is AND; see `GATES`.
    """
    params = {"w": jnp.asarray(weights, dtype)}
    if params["w"].ndim != 1:
        raise ValueError(
            f"perceptron.fixed_gate: weights must be 1-D, got shape {params['w'].shape}"
        )
    if bias is not None:
        params["b"] = jnp.asarray(bias, dtype)
    return params


def _check_params(params: Params, where: str) -> None:
    if not isinstance(params, dict) or "w" not in params or not set(params) <= {"w", "b"}:
        keys = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(f"perceptron.{where}: expected params {{'w'[, 'b']}}, got {keys}")
    w = params["w"]
    if jnp.ndim(w) != 1:
        raise ValueError(f"perceptron.{where}: params['w'] must be 1-D, got shape {jnp.shape(w)}")
    if "b" in params and jnp.ndim(params["b"]) != 0:
        raise ValueError(
            f"perceptron.{where}: params['b'] must be a scalar, got shape {jnp.shape(params['b'])}"
        )


def _inputs(params: Params, x, where: str, *, batched: bool) -> jax.Array:
    """``x`` cast to the weights' dtype (inputs are often ints), its feature axis checked."""
    x = jnp.asarray(x)
    if not (jnp.issubdtype(x.dtype, jnp.number) or x.dtype == jnp.bool_):
        raise TypeError(f"perceptron.{where}: expected numeric inputs, got dtype {x.dtype}")
    d = params["w"].shape[0]
    ok_ndim = (2,) if batched else (1, 2)
    if x.ndim not in ok_ndim or x.shape[-1] != d:
        want = f"(n, {d})" if batched else f"({d},) or (n, {d})"
        raise ValueError(f"perceptron.{where}: expected x of shape {want}, got {tuple(x.shape)}")
    return x.astype(params["w"].dtype)


def _labels(y, n: int, where: str) -> jax.Array:
    y = jnp.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"perceptron.{where}: expected y of shape ({n},), got {tuple(y.shape)}")
    if not (jnp.issubdtype(y.dtype, jnp.number) or y.dtype == jnp.bool_):
        raise TypeError(f"perceptron.{where}: expected 0/1 labels, got dtype {y.dtype}")
    return y


def _fires(params: Params, x: jax.Array, threshold) -> jax.Array:
    """Bool: the weighted sum is above ``threshold``. Works for ``x`` of shape (d,) or (n, d)."""
    # Multiply then sum (not a dot), as the tutorial does, so float64 sums round the same way.
    s = jnp.sum(x * params["w"], axis=-1)
    if "b" in params:
        s = s + params["b"]
    return s > threshold


def predict(params: Params, x, *, threshold=0.0) -> jax.Array:
    """Unit-step output: int32 scalar for ``x`` of shape (d,), int32 (n,) for (n, d)."""
    _check_params(params, "predict")
    x = _inputs(params, x, "predict", batched=False)
    return _fires(params, x, threshold).astype(jnp.int32)


def evaluate(params: Params, x, y, threshold=0.0) -> tuple[jax.Array, jax.Array]:
    """``(n_correct, n_wrong)`` as int32 scalars for the set ``x`` (n, d), labels ``y`` (n,)."""
    _check_params(params, "evaluate")
    x = _inputs(params, x, "evaluate", batched=True)
    y = _labels(y, x.shape[0], "evaluate")
    correct = jnp.sum(predict(params, x, threshold=threshold) == y, dtype=jnp.int32)
    return correct, x.shape[0] - correct


def truth_table(params: Params, threshold=0.0) -> tuple[jax.Array, jax.Array]:
    """The four two-input rows ``[0 0] … [1 1]`` (int32 (4, 2)) and the outputs (int32 (4,)).

    Print a row as ``print(np.asarray(inputs[i]), int(outputs[i]))`` to get ``[0 1] 0``.
    """
    _check_params(params, "truth_table")
    inputs = jnp.asarray(_TRUTH_INPUTS, jnp.int32)
    return inputs, predict(params, inputs, threshold=threshold)


def train(
    params: Params, x, y, *, learning_rate=0.1, epochs: int = 1, threshold=0.0
) -> tuple[Params, dict[str, jax.Array]]:
    """Run the perceptron rule over ``x`` (n, d) with 0/1 labels ``y`` (n,), online and in order.

    Each epoch visits every example once, in order, updating after each one. ``learning_rate``
    and ``threshold`` may be traced (e.g. vmapped); ``epochs`` is static.

    Labels other than 0 and 1 (e.g. ±1) raise ``ValueError`` when ``y`` is concrete; under
    ``jit``/``vmap`` they make the returned params NaN (never a silent non-learning run).

    Returns ``(params, history)``: params keep their dtype; ``history["errors"]`` (int32
    (epochs,)) counts the examples misclassified, when visited, during each epoch;
    ``history["correct"]`` (int32 (epochs,)) counts the correct predictions on the whole set
    with the params at the end of each epoch.
    """
    if not isinstance(y, jax.core.Tracer):  # host-side, once per call
        labels = np.asarray(y)
        if labels.size and not np.isin(labels, (0, 1)).all():
            raise ValueError(
                f"perceptron.train: labels must be 0 or 1, got values {np.unique(labels)[:5]}; "
                "for ±1 labels pass (y + 1) // 2"
            )
    return _train(params, x, y, learning_rate=learning_rate, epochs=epochs, threshold=threshold)


@functools.partial(jax.jit, static_argnames=("epochs",))
def _train(params: Params, x, y, *, learning_rate, epochs: int, threshold):
    """`train`'s compiled body."""
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"perceptron.train: epochs must be a non-negative int, got {epochs!r}")
    _check_params(params, "train")
    dtype = params["w"].dtype
    if not jnp.issubdtype(dtype, jnp.floating) or any(v.dtype != dtype for v in params.values()):
        dtypes = {k: str(v.dtype) for k, v in params.items()}
        raise TypeError(f"perceptron.train: params must share one float dtype, got {dtypes}")
    x = _inputs(params, x, "train", batched=True)
    y = _labels(y, x.shape[0], "train")
    # Labels other than 0/1 (e.g. ±1) cannot raise here: they make the params NaN, not silent.
    targets = jnp.where((y == 0) | (y == 1), y.astype(dtype), jnp.nan)
    lr = jnp.asarray(learning_rate).astype(dtype)

    def visit(p, example):
        xi, ti = example
        error = ti - _fires(p, xi, threshold).astype(dtype)  # -1, 0 or 1
        # Round lr * x first, then add ±1 times it. Written as `w + (lr * error) * x`, XLA may
        # fuse the multiply and add into one FMA (one rounding instead of the tutorial's two);
        # here the multiply next to the add is by -1, 0 or 1, which is exact, so an FMA cannot
        # change the result.
        new = {"w": p["w"] + error * (lr * xi)}
        if "b" in p:
            new["b"] = p["b"] + error * lr  # the bias input is 1
        return new, error != 0

    def epoch(p, _):
        p, wrong = lax.scan(visit, p, (x, targets))
        correct, _ = evaluate(p, x, y, threshold)
        return p, (jnp.sum(wrong, dtype=jnp.int32), correct)

    params, (errors, correct) = lax.scan(epoch, params, None, length=epochs)
    return params, {"errors": errors, "correct": correct}
