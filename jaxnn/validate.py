"""Host-side checks at the public boundary: once per call, on concrete arrays, never per step.

`fit`, `fit_ensemble`, `check_grads` and `grad`/`value_and_grad`/`autodiff_grad` receive
concrete arrays before anything is compiled. What no trace-time check can see is checked here,
on the host:

* argument kinds (`require_layer`, `require_loss`, `require_regularizer`, `require_optimizer`):
  a ``TypeError`` that names the fix, e.g. ``losses.l2 is a factory: call it, e.g.
  losses.l2(0.01)``. These look only at Python objects, so they always run.
* data (`check_data`): a non-empty batch, finite ``x`` and ``target``, as many targets as
  examples, and the loss's own value check (class labels in ``0..classes-1``, targets in
  [0, 1] for the cross-entropies) against the model's output shape.
* params (`check_finite_params`): no NaN/inf in the initial params (a NaN there is not a
  divergence of training).

Cost, per call: one summing NumPy pass over ``x``, ``target`` and the params (on an
accelerator, after their copy to the host), and, when the target is class labels, one abstract
trace of the model for its number of classes (cached per model and shapes). Nothing runs per
training step, and nothing is compiled.

Under ``jit``/``vmap`` the arrays are tracers and these value checks skip silently; what still
runs there is every layer's and loss's *trace-time* check of shapes and dtypes. Impossible
values that reach a loss under a trace (a label out of range, BCE on logits) make its value and
gradient NaN, so they are never silent: `fit` reports them as a non-finite objective, and
`explain_nonfinite` turns that into the precise error on concrete arrays.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import layers, losses
from jaxnn.layers import Layer, apply_layer
from jaxnn.losses import Loss, Regularizer

# --------------------------------------------------------------------------------------------
# Traced or concrete
# --------------------------------------------------------------------------------------------


def is_traced(*trees) -> bool:
    """True when any leaf of ``trees`` is a tracer (we are inside ``jit``/``vmap``/``grad``)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(trees))


# --------------------------------------------------------------------------------------------
# Argument kinds
# --------------------------------------------------------------------------------------------

# What to write instead of an uncalled constructor or factory.
_LAYER_EXAMPLES = {
    "Dense": "Dense(3)",
    "mlp": "mlp([2, 3, 1])",
    "serial": "serial(Dense(3), Tanh())",
    "Dropout": "Dropout(0.5)",
    "Step": "Step()",
}
_LOSS_FACTORIES = {
    losses.binary_cross_entropy: "losses.binary_cross_entropy()",
    losses.softmax_cross_entropy: "losses.softmax_cross_entropy()",
}


def _describe(obj) -> str:
    """What a wrong argument is, in words a user recognises."""
    if isinstance(obj, Layer):
        return f"the Layer {obj!r}"
    if isinstance(obj, Loss):
        return f"the Loss {obj!r}"
    if isinstance(obj, Regularizer):
        return f"the Regularizer {obj!r}"
    if isinstance(obj, optax.GradientTransformation):
        return "an optax GradientTransformation"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return f"the function {getattr(obj, '__qualname__', obj)!r}"
    return f"{type(obj).__name__} {_short(obj)}"


def _short(obj) -> str:
    text = repr(obj)
    return text if len(text) <= 60 else text[:57] + "..."


def _layer_constructor_name(obj) -> str | None:
    """``"Tanh"`` when ``obj`` is one of jaxnn's layer constructors itself (not called)."""
    name = getattr(obj, "__name__", "")
    if not name or not callable(obj) or isinstance(obj, Layer):
        return None
    is_constructor = name[0].isupper() or name in ("mlp", "serial")
    return name if is_constructor and getattr(layers, name, None) is obj else None


def require_layer(obj, where: str, *, arg: str = "model") -> Layer:
    """``obj`` if it is a `Layer`, else a ``TypeError`` naming the fix.

    An uncalled constructor (``jaxnn.Tanh``) is told to call it; a list of layers is told to
    wrap it in ``jaxnn.serial``; a loss or optimizer in this place is named as such.
    """
    if isinstance(obj, Layer):
        return obj
    name = _layer_constructor_name(obj)
    if name is not None:
        example = _LAYER_EXAMPLES.get(name, f"{name}()")
        raise TypeError(
            f"{where}: {arg}=jaxnn.{name} is a Layer constructor: call it, e.g. jaxnn.{example}"
        )
    if isinstance(obj, list | tuple) and obj and all(isinstance(o, Layer) for o in obj):
        raise TypeError(
            f"{where}: {arg} must be one Layer, got a {type(obj).__name__} of {len(obj)} "
            "layers; combine them with jaxnn.serial(*layers)"
        )
    raise TypeError(
        f"{where}: {arg} must be a jaxnn Layer (e.g. jaxnn.mlp([2, 3, 1])), got {_describe(obj)}"
        + _order_hint(obj, where)
    )


def require_loss(obj, where: str, *, arg: str = "loss") -> Loss:
    """``obj`` if it is a `Loss`, else a ``TypeError`` naming the fix.

    ``losses.softmax_cross_entropy`` (uncalled) -> "losses.softmax_cross_entropy is a factory:
    call it, e.g. losses.softmax_cross_entropy()"; ``losses.l2`` or a Regularizer -> pass it as
    ``reg=``; a plain function -> wrap it in ``jaxnn.Loss(value, vjp)``.
    """
    if isinstance(obj, Loss):
        return obj
    if callable(obj) and obj in _LOSS_FACTORIES:
        example = _LOSS_FACTORIES[obj]
        raise TypeError(f"{where}: {arg}: {example[:-2]} is a factory: call it, e.g. {example}")
    if obj is losses.l2 or isinstance(obj, Regularizer):
        what = "losses.l2" if obj is losses.l2 else _describe(obj)
        raise TypeError(
            f"{where}: {arg} must be a Loss, got {what}, which is a regularizer: pass it as "
            "reg=losses.l2(0.01), and a loss such as losses.mse as the loss"
        )
    if inspect.isfunction(obj):
        raise TypeError(
            f"{where}: {arg} must be a jaxnn Loss, got {_describe(obj)}; a plain function has "
            "no hand-written gradient: use a built-in (e.g. losses.mse) or wrap it as "
            "jaxnn.Loss(value, vjp)"
        )
    raise TypeError(
        f"{where}: {arg} must be a jaxnn Loss (e.g. losses.mse or "
        f"losses.softmax_cross_entropy()), got {_describe(obj)}" + _order_hint(obj, where)
    )


def require_regularizer(obj, where: str, *, arg: str = "reg") -> Regularizer | None:
    """``obj`` if it is ``None`` or a `Regularizer`, else a ``TypeError`` naming the fix
    (``losses.l2`` uncalled -> "losses.l2 is a factory: call it, e.g. losses.l2(0.01)";
    a number -> ``losses.l2(number)``)."""
    if obj is None or isinstance(obj, Regularizer):
        return obj
    if obj is losses.l2:
        raise TypeError(f"{where}: {arg}: losses.l2 is a factory: call it, e.g. losses.l2(0.01)")
    if isinstance(obj, int | float | np.number) and not isinstance(obj, bool):
        raise TypeError(
            f"{where}: {arg} must be a Regularizer, got the number {obj!r}; "
            f"for weight decay pass {arg}=losses.l2({obj!r})"
        )
    raise TypeError(
        f"{where}: {arg} must be None or a Regularizer (e.g. losses.l2(0.01)), got {_describe(obj)}"
    )


def _optax_name(obj) -> str | None:
    """``"optax.sgd"`` for an optax factory function (or a wrapper of one), else ``None``."""
    module = getattr(obj, "__module__", "") or ""
    name = getattr(obj, "__name__", "")
    if module.split(".")[0] == "optax" and name and callable(obj):
        return f"optax.{name}"
    return None


def require_optimizer(obj, where: str, *, arg: str = "optimizer"):
    """``obj`` if it is an ``optax.GradientTransformation`` (anything with callable ``init``
    and ``update``), else a ``TypeError`` naming the fix (``optax.sgd`` uncalled -> "optax.sgd
    is a factory: call it, e.g. optax.sgd(0.1)")."""
    if isinstance(obj, optax.GradientTransformation) or (
        callable(getattr(obj, "init", None)) and callable(getattr(obj, "update", None))
    ):
        return obj
    name = _optax_name(obj)
    if name is not None:
        try:
            first = next(iter(inspect.signature(obj).parameters), "")
        except (TypeError, ValueError):
            first = ""
        example = f"{name}(0.1)" if first == "learning_rate" else f"{name}(...)"
        raise TypeError(f"{where}: {arg}: {name} is a factory: call it, e.g. {example}")
    raise TypeError(
        f"{where}: {arg} must be an optax.GradientTransformation (e.g. optax.sgd(0.1)), got "
        f"{_describe(obj)}" + _order_hint(obj, where)
    )


def _order_hint(obj, where: str) -> str:
    if isinstance(obj, Layer | Loss | Regularizer | optax.GradientTransformation):
        return f" (arguments in the wrong order? see help({where.split('(')[0]}))"
    return ""


# --------------------------------------------------------------------------------------------
# Data and params
# --------------------------------------------------------------------------------------------


def _host(a, where: str, name: str) -> np.ndarray:
    """``a`` as a NumPy array, or a ``TypeError`` for anything that is not real numbers."""
    try:
        host = np.asarray(a)
    except Exception as e:  # e.g. a ragged list
        raise TypeError(f"{where}: {name} must be an array of numbers, got {_short(a)}") from e
    # jnp.issubdtype knows ml_dtypes (bfloat16, float8), which NumPy files under "void"
    real = any(jnp.issubdtype(host.dtype, k) for k in (jnp.floating, jnp.integer, jnp.bool_))
    if not real:
        raise TypeError(
            f"{where}: {name} must hold real numbers (float, int or bool), got dtype {host.dtype}"
        )
    return host


def _all_finite(host: np.ndarray) -> bool:
    """True when no element is NaN/inf. One summing pass first (NaN and inf always reach the
    sum, and it allocates nothing); only a non-finite sum (or an overflow of huge finite
    values) pays for the exact element-wise test."""
    if not jnp.issubdtype(host.dtype, jnp.inexact):
        return True
    with np.errstate(all="ignore"):
        if np.isfinite(host.sum()):
            return True
    return bool(np.isfinite(host).all())


def _check_finite(host: np.ndarray, where: str, name: str) -> None:
    if not _all_finite(host):
        bad = ~np.isfinite(host)
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{where}: {name} contains {int(bad.sum())} NaN/inf value(s) (first at index "
            f"{index}: {host[index]}); this is bad data, not a divergence: clean or impute it"
        )


def _check_not_empty(shape: tuple, where: str, name: str) -> None:
    if 0 in shape:
        raise ValueError(
            f"{where}: {name} is empty (shape {shape}): an empty batch has no loss to train on"
        )


def _check_lengths(x_shape: tuple, t_shape: tuple, where: str) -> None:
    # A single example (x of shape (features,)) has no example axis to compare.
    if len(x_shape) >= 2 and len(t_shape) >= 1 and x_shape[0] != t_shape[0]:
        raise ValueError(
            f"{where}: x has {x_shape[0]} examples but target has {t_shape[0]} (x of shape "
            f"{x_shape}, target of shape {t_shape}); they must match along the first axis"
        )


@functools.lru_cache(maxsize=256)
def _cached_pred_struct(model, params_structs, x_struct):
    treedef, leaves = params_structs
    params = jax.tree.unflatten(treedef, [jax.ShapeDtypeStruct(s, d) for s, d in leaves])
    x = jax.ShapeDtypeStruct(*x_struct)
    return jax.eval_shape(lambda p, x: apply_layer(model, p, x), params, x)


def pred_struct(model: Layer, params, x, *, members: bool = False) -> jax.ShapeDtypeStruct:
    """The shape and dtype of ``model``'s output for ``params`` and ``x``, without running it.

    ``members=True``: ``params`` carry a leading ensemble axis (dropped). Cached per model
    and shapes, so a repeated call costs a dictionary look-up. Params that do not fit the
    model raise the layers' own ``ParamsError`` here, before anything compiles.
    """
    leaves, treedef = jax.tree.flatten(params)
    drop = 1 if members else 0
    key = (
        treedef,
        tuple((tuple(np.shape(leaf))[drop:], jax.numpy.result_type(leaf)) for leaf in leaves),
    )
    x_key = (tuple(np.shape(x)), jax.numpy.result_type(x))
    try:
        return _cached_pred_struct(model, key, x_key)
    except TypeError as e:
        if "unhashable" not in str(e):
            raise
        return _cached_pred_struct.__wrapped__(model, key, x_key)


def check_data(
    loss: Loss,
    x,
    target,
    *,
    where: str,
    model: Layer | None = None,
    params: Any = None,
    members: bool = False,
    names: tuple[str, str] = ("x", "target"),
) -> None:
    """Check concrete training data once, on the host; skip silently on traced values.

    Always (shapes only): ``x`` and ``target`` are non-empty and have the same length along
    the first axis (when ``x`` has one; a single example ``x`` of shape ``(features,)`` has
    none). On concrete values: both are real numbers and finite, and ``loss.check`` passes:
    targets in [0, 1] for the cross-entropies, class labels >= 0, and, when ``model`` and
    ``params`` are given (so the number of classes is known), labels below it.

    Args:
      where: the public function, for the message (e.g. ``"fit"``).
      members: ``params`` have a leading ensemble axis (`fit_ensemble`).
      names: what to call ``x`` and ``target`` in messages (e.g. ``("x_val", "target_val")``).

    Raises:
      ValueError / TypeError naming ``where``, the argument, and what is wrong.
    """
    x_name, t_name = names
    x_shape, t_shape = tuple(np.shape(x)), tuple(np.shape(target))
    _check_not_empty(x_shape, where, x_name)
    _check_not_empty(t_shape, where, t_name)
    _check_lengths(x_shape, t_shape, where)
    if is_traced(x, target):
        return
    x_host, t_host = _host(x, where, x_name), _host(target, where, t_name)
    _check_finite(x_host, where, x_name)
    _check_finite(t_host, where, t_name)
    check = getattr(loss, "check", None)
    if check is None:
        return
    pred = None  # unknown output shape: the loss checks what it can from the target alone
    # Only class labels need the output shape (their range is 0..classes-1); computing it
    # costs one abstract trace of the model on the first call per model and shapes.
    labels = jnp.issubdtype(t_host.dtype, jnp.integer)
    if labels and model is not None and params is not None and not is_traced(params):
        pred = pred_struct(model, params, x_host, members=members)
    try:
        check(pred, t_host)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def leaf_path(path) -> str:
    """``[0].w`` for ``(SequenceKey(0), DictKey('w'))``; ``""`` for the root."""
    parts = []
    for key in path:
        if isinstance(key, jax.tree_util.SequenceKey):
            parts.append(f"[{key.idx}]")
        elif isinstance(key, jax.tree_util.DictKey):
            parts.append(f".{key.key}")
        elif isinstance(key, jax.tree_util.GetAttrKey):
            parts.append(f".{key.name}")
        else:
            parts.append(str(key))
    return "".join(parts)


def check_finite_params(params, *, where: str, what: str = "the initial params") -> None:
    """``ValueError`` naming the leaf (``[0].w``) when a float leaf holds NaN/inf.

    Skips silently when any leaf is traced. A NaN in the initial params is reported as such,
    never later as a divergence of training.
    """
    if is_traced(params):
        return
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        host = np.asarray(leaf)
        if not _all_finite(host):
            count = int((~np.isfinite(host)).sum())
            leaf = leaf_path(path) or "(root)"
            raise ValueError(
                f"{where}: {what} contain {count} NaN/inf value(s) at leaf {leaf}; "
                "this is not a divergence of training: re-initialise them (e.g. "
                "model.init(key, input_shape))"
            )


def explain_nonfinite(
    model: Layer, loss: Loss, params, x, target, *, where: str, reg: Regularizer | None = None
) -> None:
    """Find out, eagerly on concrete arrays, why an objective is not finite at these params.

    For `fit` to call when the objective is NaN/inf before the first update (or for any caller
    that sees a non-finite value): raises the precise ``ValueError`` — NaN in the data or the
    params, a prediction the loss cannot take (BCE on logits), a label out of range, a
    non-finite model output or regularizer — or returns ``None`` when the inputs are valid
    (then it is a genuine divergence). Runs the model once, eagerly (evaluation mode).
    """
    check_finite_params(params, where=where)
    check_data(loss, x, target, where=where, model=model, params=params)
    pred = apply_layer(model, params, x)
    pred_host = np.asarray(pred)
    if not _all_finite(pred_host):
        raise ValueError(
            f"{where}: {model!r} outputs NaN/inf for these params and data (finite inputs): "
            "the params are too large for this model, or a layer overflows"
        )
    if loss.check is not None:
        try:
            loss.check(pred, np.asarray(target))
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
    if reg is not None and not np.isfinite(np.asarray(reg.value(params))).all():
        raise ValueError(f"{where}: the regularizer {reg!r} is not finite at these params")
    return None
