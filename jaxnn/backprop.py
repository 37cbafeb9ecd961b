"""Two ways to the same gradient: the hand-written chain of `vjp`s, and `jax.grad`.

* `grad` / `value_and_grad` — backprop as the tutorials write it: one forward pass that keeps
  each layer's ``backward``, the loss's ``backward`` first, then the layers' in reverse.
* `autodiff_grad` — ``jax.grad`` through ``apply``: the reference the hand-written path is
  checked against.
* `manual_vjp` — a layer whose ``apply`` is a ``jax.custom_vjp`` running the hand-written rule,
  so ``jax.grad``, ``vmap`` (per-example gradients) and optax all use our math.

(The module is not called ``grad.py`` so that ``jaxnn.grad`` stays the function.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.layers import Layer
from jaxnn.losses import Loss, Regularizer

GradFn = Callable[[Any, jax.Array, jax.Array], Any]


def _add_reg(reg: Regularizer | None, params, value, grads):
    if reg is None:
        return value, grads
    return value + reg.value(params), jax.tree.map(jnp.add, grads, reg.grad(params))


def manual_parts(model: Layer, loss: Loss, *, reg: Regularizer | None = None):
    """``f(params, x, target) -> (objective, dparams, dx, pred)`` by the hand-written chain.

    One forward pass keeps each layer's ``backward``; the loss's ``backward`` seeds the chain
    with d(objective)/d(pred), and the layers' run in reverse, the tutorials' backprop.
    """

    def parts(params, x, target):
        pred, backward = model.vjp(params, x)
        value, loss_backward = loss.vjp(pred, target)
        dparams, dx = backward(loss_backward(jnp.ones_like(value)))
        value, dparams = _add_reg(reg, params, value, dparams)
        return value, dparams, dx, pred

    return parts


def _drop_dx(value, dparams, dx, pred):
    return value, dparams, pred


def value_grad_and_pred(model: Layer, loss: Loss, *, reg=None, backprop: str = "manual"):
    """``f(params, x, target) -> (objective, grads, pred)`` by either path, in one pass.

    Training uses this so logging the objective (and accuracy from ``pred``) costs no second
    forward pass. ``backprop`` is ``"manual"`` (hand-written) or ``"autodiff"`` (``jax.grad``).
    """
    if backprop == "manual":
        parts = manual_parts(model, loss, reg=reg)
        return lambda params, x, target: _drop_dx(*parts(params, x, target))
    if backprop == "autodiff":

        def objective(params, x, target):
            pred = model.apply(params, x)
            value = loss.value(pred, target)
            return (value if reg is None else value + reg.value(params)), pred

        def autodiff(params, x, target):
            (value, pred), grads = jax.value_and_grad(objective, has_aux=True)(params, x, target)
            return value, grads, pred

        return autodiff
    raise ValueError(f"backprop must be 'manual' or 'autodiff', got {backprop!r}")


def value_and_grad(model: Layer, loss: Loss, *, reg: Regularizer | None = None) -> GradFn:
    """Hand-written path: ``f(params, x, target) -> (loss + reg, grads)``."""
    f = value_grad_and_pred(model, loss, reg=reg, backprop="manual")
    return lambda params, x, target: f(params, x, target)[:2]


def grad(model: Layer, loss: Loss, *, reg: Regularizer | None = None) -> GradFn:
    """Hand-written path: ``g(params, x, target) -> grads`` (same structure as ``params``)."""
    f = value_grad_and_pred(model, loss, reg=reg, backprop="manual")
    return lambda params, x, target: f(params, x, target)[1]


def autodiff_grad(model: Layer, loss: Loss, *, reg: Regularizer | None = None) -> GradFn:
    """``jax.grad`` through ``model.apply``: ``g(params, x, target) -> grads``."""
    f = value_grad_and_pred(model, loss, reg=reg, backprop="autodiff")
    return lambda params, x, target: f(params, x, target)[1]


def _zero_cotangent_for_ints(x, dx):
    """JAX wants a ``float0`` cotangent for integer primals (e.g. a truth table fed as ints)."""
    if jnp.issubdtype(jnp.asarray(x).dtype, jnp.integer) or jnp.asarray(x).dtype == jnp.bool_:
        return np.zeros(jnp.shape(x), dtype=jax.dtypes.float0)
    return dx


def manual_vjp(layer: Layer) -> Layer:
    """The same layer, but ``apply`` differentiates with the hand-written ``vjp``.

    ``jax.grad(lambda p: f(new.apply(p, x)))`` then runs our backward rule, so per-example
    gradients with ``vmap`` and any optax optimizer use the tutorial math. The backward pass
    re-runs the forward to rebuild the closure (custom_vjp residuals must be arrays); under
    ``jit`` XLA merges the repeated forward with the original one.
    """

    @jax.custom_vjp
    def apply(params, x):
        return layer.apply(params, x)

    def forward(params, x):
        return layer.apply(params, x), (params, x)

    def backward(residuals, dy):
        params, x = residuals
        _, layer_backward = layer.vjp(params, x)
        dparams, dx = layer_backward(dy)
        return dparams, _zero_cotangent_for_ints(x, dx)

    apply.defvjp(forward, backward)
    return layer._replace(apply=apply, name=f"manual_vjp({layer.name})")
