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

from jaxnn import validate
from jaxnn.gradcheck import _pair
from jaxnn.layers import Layer, apply_layer, vjp_layer
from jaxnn.losses import Loss, Regularizer

GradFn = Callable[[Any, jax.Array, jax.Array], Any]


def _add_reg(reg: Regularizer | None, params, value, grads):
    if reg is None:
        return value, grads
    return value + reg.value(params), jax.tree.map(jnp.add, grads, reg.grad(params))


def _like_params(grads, params):
    """Grads in the params' dtypes, as ``jax.vjp`` gives them (float64 data must not promote
    float32 params' gradients)."""
    return jax.tree.map(lambda g, p: jnp.asarray(g).astype(jnp.result_type(p)), grads, params)


def manual_parts(model: Layer, loss: Loss, *, reg: Regularizer | None = None):
    """``f(params, x, target, key=None) -> (objective, dparams, dx, pred)``, hand-written.

    One forward pass keeps each layer's ``backward``; the loss's ``backward`` seeds the chain
    with d(objective)/d(pred), and the layers' run in reverse, the tutorials' backprop.
    ``key`` reaches stochastic layers (Dropout); ``None`` is evaluation mode.
    """

    def parts(params, x, target, key=None):
        pred, backward = vjp_layer(model, params, x, key)
        value, loss_backward = loss.vjp(pred, target)
        # a user's backward returning only dx gets the checker's message, not an unpack error
        dparams, dx = _pair(backward(loss_backward(jnp.ones_like(value))), model.name)
        value, dparams = _add_reg(reg, params, value, dparams)
        return value, _like_params(dparams, params), dx, pred

    return parts


def _check_float_params(model: Layer, params, x, key) -> None:
    """``jax.grad`` refuses integer params with its own message, before any layer runs; run the
    layers' check first so the error names the layer and the leaf (`ParamsDtypeError`)."""
    if not all(
        jnp.issubdtype(jnp.result_type(leaf), jnp.floating) for leaf in jax.tree.leaves(params)
    ):
        apply_layer(model, params, x, key)


def _drop_dx(value, dparams, dx, pred):
    return value, dparams, pred


def value_grad_and_pred(model: Layer, loss: Loss, *, reg=None, backprop: str = "manual"):
    """``f(params, x, target, key=None) -> (objective, grads, pred)`` by either path, one pass.

    Training uses this so logging the objective (and accuracy from ``pred``) costs no second
    forward pass. ``backprop`` is ``"manual"`` (hand-written) or ``"autodiff"`` (``jax.grad``).
    """
    if backprop == "manual":
        parts = manual_parts(model, loss, reg=reg)
        return lambda params, x, target, key=None: _drop_dx(*parts(params, x, target, key))
    if backprop == "autodiff":

        def objective(params, x, target, key):
            pred = apply_layer(model, params, x, key)
            value = loss.value(pred, target)
            return (value if reg is None else value + reg.value(params)), pred

        def autodiff(params, x, target, key=None):
            _check_float_params(model, params, x, key)
            (value, pred), grads = jax.value_and_grad(objective, has_aux=True)(
                params, x, target, key
            )
            return value, grads, pred

        return autodiff
    raise ValueError(f"backprop must be 'manual' or 'autodiff', got {backprop!r}")


def _checked(where: str, model, loss, reg, backprop: str, pick) -> GradFn:
    """The public gradient functions: argument kinds are checked when they are built, the data
    on every call with concrete arrays (host-side, `jaxnn.validate`; skipped under ``jit``)."""
    validate.require_layer(model, where)
    validate.require_loss(loss, where)
    validate.require_regularizer(reg, where)
    f = value_grad_and_pred(model, loss, reg=reg, backprop=backprop)

    def call(params, x, target, *, key=None):
        if not validate.is_traced(params, x, target):
            validate.check_data(loss, x, target, where=where, model=model, params=params)
        return pick(f(params, x, target, key))

    return call


def value_and_grad(model: Layer, loss: Loss, *, reg: Regularizer | None = None) -> GradFn:
    """Hand-written path: ``f(params, x, target, *, key=None) -> (loss + reg, grads)``."""
    return _checked("jaxnn.value_and_grad", model, loss, reg, "manual", lambda out: out[:2])


def grad(model: Layer, loss: Loss, *, reg: Regularizer | None = None) -> GradFn:
    """Hand-written path: ``g(params, x, target, *, key=None) -> grads`` (like ``params``)."""
    return _checked("jaxnn.grad", model, loss, reg, "manual", lambda out: out[1])


def autodiff_grad(model: Layer, loss: Loss, *, reg: Regularizer | None = None) -> GradFn:
    """``jax.grad`` through ``model.apply``: ``g(params, x, target, *, key=None) -> grads``."""
    return _checked("jaxnn.autodiff_grad", model, loss, reg, "autodiff", lambda out: out[1])


def _zero_cotangent_for_ints(x, dx):
    """JAX wants a ``float0`` cotangent for integer primals (e.g. a truth table fed as ints)."""
    if jnp.issubdtype(jnp.asarray(x).dtype, jnp.integer) or jnp.asarray(x).dtype == jnp.bool_:
        return np.zeros(jnp.shape(x), dtype=jax.dtypes.float0)
    return dx


def _no_cotangent(key):
    """Keys are not differentiated: ``None`` for no key, ``float0`` zeros for a key array."""
    return None if key is None else np.zeros(jnp.shape(key), dtype=jax.dtypes.float0)


def manual_vjp(layer: Layer) -> Layer:
    """The same layer, but ``apply`` differentiates with the hand-written ``vjp``.

    ``jax.grad(lambda p: f(new.apply(p, x)))`` then runs our backward rule, so per-example
    gradients with ``vmap`` and any optax optimizer use the tutorial math. The backward pass
    re-runs the forward to rebuild the closure (custom_vjp residuals must be arrays); under
    ``jit`` XLA merges the repeated forward with the original one. A stochastic layer's key is
    a primal input too, so the backward rebuilds the very mask the forward drew.
    """

    @jax.custom_vjp
    def run(params, x, key):
        return apply_layer(layer, params, x, key)

    def forward(params, x, key):
        return apply_layer(layer, params, x, key), (params, x, key)

    def backward(residuals, dy):
        params, x, key = residuals
        _, layer_backward = vjp_layer(layer, params, x, key)
        dparams, dx = layer_backward(dy)
        dx = _zero_cotangent_for_ints(x, dx)
        return _like_params(dparams, params), dx, _no_cotangent(key)

    run.defvjp(forward, backward)

    if layer.stochastic:

        def apply(params, x, *, key=None):
            return run(params, x, key)
    else:

        def apply(params, x):
            return run(params, x, None)

    return layer._replace(apply=apply, name=f"manual_vjp({layer.name})")
