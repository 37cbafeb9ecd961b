"""Losses and regularizers, each with its gradient written by hand beside its value.

A `Loss` is ``(value, vjp)``: ``value(pred, target) -> scalar`` and
``vjp(pred, target) -> (value, backward)`` with ``backward(dvalue) -> dpred``.
A `Regularizer` is ``(value, grad)`` on the params pytree.

Shapes are checked at trace time: a target that does not match the prediction raises a
`ValueError` naming the loss, never a silent broadcast.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp

from jaxnn.layers import is_weight_path

Reduction = Literal["mean", "sum"]


class Loss(NamedTuple):
    """A loss as pure functions.

    Attributes:
      value: ``value(pred, target) -> scalar``.
      vjp: ``vjp(pred, target) -> (value, backward)``; ``backward(dvalue) -> dpred``.
      name: used in error messages and reports.
      accuracy: for classification losses, ``accuracy(pred, target) -> fraction correct``
        (training logs it beside the loss); ``None`` for regression losses.
    """

    value: Callable[[jax.Array, jax.Array], jax.Array]
    vjp: Callable[[jax.Array, jax.Array], tuple[jax.Array, Callable]]
    name: str = "Loss"
    accuracy: Callable[[jax.Array, jax.Array], jax.Array] | None = None


class Regularizer(NamedTuple):
    """A penalty on params: ``value(params) -> scalar``, ``grad(params) -> pytree like params``."""

    value: Callable[[Any], jax.Array]
    grad: Callable[[Any], Any]


def _check_same_shape(name: str, pred, target):
    pred, target = jnp.asarray(pred), jnp.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(
            f"{name}: pred and target must have the same shape, got pred {pred.shape} "
            f"and target {target.shape}"
        )
    if not jnp.issubdtype(pred.dtype, jnp.floating):
        raise TypeError(f"{name}: pred must be floating point, got dtype {pred.dtype}")
    return pred, target.astype(pred.dtype)


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in ("mean", "sum"):
        raise ValueError(f"{name}: reduction must be 'mean' or 'sum', got {reduction!r}")


def _squared_error(name: str, scale: Callable[[jax.Array], float]) -> Loss:
    """``scale(pred) * Σ (pred − target)²``; gradient ``2·scale·(pred − target)``."""

    def value(pred, target):
        pred, target = _check_same_shape(name, pred, target)
        return scale(pred) * jnp.sum((pred - target) ** 2)

    def vjp(pred, target):
        pred, target = _check_same_shape(name, pred, target)
        err = pred - target
        c = scale(pred)
        return c * jnp.sum(err**2), lambda g: g * 2 * c * err

    return Loss(value, vjp, name=name)


sse = _squared_error("sse", lambda pred: 1.0)
"""Σ(pred − target)²: James Loy's loss; its gradient is ``2·(pred − target)``."""

half_sse = _squared_error("half_sse", lambda pred: 0.5)
"""½·Σ(pred − target)²: gradient ``pred − target``, Trask's and Lins's ``err`` term."""

mse = _squared_error("mse", lambda pred: 1.0 / max(pred.size, 1))
"""Mean squared error over all elements: gradient ``2·(pred − target)/n``."""


def _log_clamped(p, eps):
    """log(p) for p ≥ eps, continued linearly below eps so value and slope stay finite at 0.

    The slope of this function is ``1 / max(p, eps)``, which is what the hand-written
    gradient uses. (The inner ``maximum`` keeps ``log`` away from 0 in both branches.)
    """
    return jnp.where(p >= eps, jnp.log(jnp.maximum(p, eps)), jnp.log(eps) + (p - eps) / eps)


def binary_cross_entropy(reduction: Reduction = "mean") -> Loss:
    """Cross-entropy on probabilities: ``−[t·log p + (1−t)·log(1−p)]``, mean or summed.

    Safe at p = 0 and p = 1: the log is continued linearly below the dtype's epsilon, so the
    value and its gradient ``−t/p + (1−t)/(1−p)`` (with p clamped in the denominators) are
    finite; where a term's weight is 0 (t = 0 or t = 1) that term contributes exactly 0.
    """
    name = f"binary_cross_entropy({reduction!r})"
    _check_reduction(name, reduction)

    def scale(pred):
        return 1.0 / max(pred.size, 1) if reduction == "mean" else 1.0

    def value(pred, target):
        pred, target = _check_same_shape(name, pred, target)
        eps = jnp.finfo(pred.dtype).eps
        per = -(target * _log_clamped(pred, eps) + (1 - target) * _log_clamped(1 - pred, eps))
        return scale(pred) * jnp.sum(per)

    def vjp(pred, target):
        pred, target = _check_same_shape(name, pred, target)
        eps = jnp.finfo(pred.dtype).eps

        def backward(g):
            dpred = -target / jnp.maximum(pred, eps) + (1 - target) / jnp.maximum(1 - pred, eps)
            return g * scale(pred) * dpred

        return value(pred, target), backward

    return Loss(value, vjp, name=name, accuracy=_threshold_accuracy)


def _threshold_accuracy(prob, target):
    """Fraction of probabilities on the right side of 0.5."""
    return jnp.mean((jnp.asarray(prob) > 0.5) == (jnp.asarray(target) > 0.5))


def _onehot_target(name: str, logits, target):
    """Integer labels with one dim fewer than the logits, or a one-hot (same shape) target."""
    logits, target = jnp.asarray(logits), jnp.asarray(target)
    if not jnp.issubdtype(logits.dtype, jnp.floating):
        raise TypeError(f"{name}: logits must be floating point, got dtype {logits.dtype}")
    if logits.ndim < 1:
        raise ValueError(f"{name}: logits need a class axis, got shape {logits.shape}")
    if target.shape == logits.shape:
        return target.astype(logits.dtype)
    if target.shape == logits.shape[:-1] and jnp.issubdtype(target.dtype, jnp.integer):
        return jax.nn.one_hot(target, logits.shape[-1], dtype=logits.dtype)
    raise ValueError(
        f"{name}: target must be integer labels of shape {logits.shape[:-1]} or one-hot of "
        f"shape {logits.shape}, got {target.dtype} of shape {target.shape}"
    )


def softmax_cross_entropy(reduction: Reduction = "mean") -> Loss:
    """Cross-entropy of softmax(logits) against labels (integer, or one-hot).

    ``value = Σ_examples [logsumexp(z) − Σ_c onehot_c·z_c]``, divided by the number of examples
    for ``"mean"``; stable for logits of any size. Hand-written gradient:
    ``softmax(z) − onehot``, scaled by the reduction.
    """
    name = f"softmax_cross_entropy({reduction!r})"
    _check_reduction(name, reduction)

    def scale(logits):
        n_examples = logits.size // logits.shape[-1]
        return 1.0 / max(n_examples, 1) if reduction == "mean" else 1.0

    def value(logits, target):
        onehot = _onehot_target(name, logits, target)
        log_probs = jax.nn.log_softmax(logits, axis=-1)
        return -scale(logits) * jnp.sum(onehot * log_probs)

    def vjp(logits, target):
        onehot = _onehot_target(name, logits, target)
        log_probs = jax.nn.log_softmax(logits, axis=-1)
        value_ = -scale(logits) * jnp.sum(onehot * log_probs)
        # A one-hot row sums to 1, so d/dz of logsumexp(z) − onehot·z is softmax(z) − onehot.
        # (For soft targets that do not sum to 1 the exact rule is softmax·Σt − t.)
        total = jnp.sum(onehot, axis=-1, keepdims=True)

        def backward(g):
            return g * scale(logits) * (jnp.exp(log_probs) * total - onehot)

        return value_, backward

    def accuracy(logits, target):
        labels = jnp.argmax(_onehot_target(name, logits, target), axis=-1)
        return jnp.mean(jnp.argmax(logits, axis=-1) == labels)

    return Loss(value, vjp, name=name, accuracy=accuracy)


def l2(lam) -> Regularizer:
    """Weight decay ``lam/2 · Σ w²`` over the ``"w"`` leaves only (biases are not decayed).

    Gradient (hand-written): ``lam · w`` on the ``"w"`` leaves, zeros elsewhere. ``lam`` may be a
    traced value, so a sweep over regularisation strength can be vmapped.
    """

    def value(params):
        leaves = [
            jnp.sum(leaf**2)
            for path, leaf in jax.tree_util.tree_leaves_with_path(params)
            if is_weight_path(path)
        ]
        if not leaves:
            return jnp.zeros(())
        total = sum(leaves)
        return (0.5 * lam * total).astype(total.dtype)  # a float64 lam keeps float32 params

    def grad(params):
        return jax.tree_util.tree_map_with_path(
            # Cast lam so a float64 strength never promotes float32 params.
            lambda path, leaf: (
                jnp.asarray(lam, leaf.dtype) * leaf
                if is_weight_path(path)
                else jnp.zeros_like(leaf)
            ),
            params,
        )

    return Regularizer(value, grad)
