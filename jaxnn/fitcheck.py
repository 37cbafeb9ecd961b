"""Host-side checks of a `fit`/`fit_ensemble` call, run once per call before compiling.

What is checked: the argument types (an uncalled factory such as ``losses.l2`` or
``optax.sgd`` gets a ``TypeError`` that names the call to make), and, when the arrays are
concrete (not traced by an outer ``jit``/``vmap``): non-empty batches, matching example
counts, finite data and initial params (a NaN there is reported as such, not later as a
divergence), and the loss's own check of the targets (class labels in range, BCE targets in
[0, 1]) against the model's output shape. Under ``jit``/``vmap`` only the trace-time shape
checks of layers and losses run. Nothing here runs per step.
"""

from __future__ import annotations

import inspect
from typing import Any

import jax
import numpy as np

from jaxnn.layers import Layer, apply_layer
from jaxnn.losses import Loss, Regularizer

# What to write instead of an uncalled factory.
_EXAMPLES = {
    "l2": "losses.l2(0.01)",
    "softmax_cross_entropy": "losses.softmax_cross_entropy()",
    "binary_cross_entropy": "losses.binary_cross_entropy()",
    "mlp": "mlp([2, 3, 1])",
    "Dense": "Dense(3)",
}


def _factory_error(who: str, arg: str, value, expected: str) -> TypeError:
    module = (getattr(value, "__module__", "") or "").split(".")[0]
    name = getattr(value, "__name__", repr(value))
    qualified = (
        f"{'optax' if module == 'optax' else 'losses' if arg in ('loss', 'reg') else module}.{name}"
    )
    if module == "optax":
        example = f"optax.{name}(0.01)"
    else:
        example = _EXAMPLES.get(name, f"{qualified}(...)")
    return TypeError(
        f"{who}: {arg}={qualified} is a factory: call it, e.g. {example} ({arg} must be {expected})"
    )


def check_types(who: str, model, loss, optimizer, reg, backprop) -> None:
    """``TypeError``/``ValueError`` for arguments of the wrong kind, naming the fix."""
    wanted = (
        ("model", model, Layer, "a jaxnn Layer"),
        ("loss", loss, Loss, "a jaxnn Loss, e.g. losses.mse"),
    )
    for arg, value, kind, expected in wanted:
        if not isinstance(value, kind):
            if callable(value) and not isinstance(value, tuple):
                raise _factory_error(who, arg, value, expected)
            raise TypeError(f"{who}: {arg} must be {expected}, got {type(value).__name__}")
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        expected = "an optax.GradientTransformation, e.g. optax.sgd(0.1)"
        if callable(optimizer) and inspect.isfunction(optimizer):
            raise _factory_error(who, "optimizer", optimizer, expected)
        raise TypeError(f"{who}: optimizer must be {expected}, got {type(optimizer).__name__}")
    if reg is not None and not isinstance(reg, Regularizer):
        expected = "None or a jaxnn Regularizer, e.g. losses.l2(0.01)"
        if isinstance(reg, Loss):
            raise TypeError(f"{who}: reg={reg!r} is a Loss; reg must be {expected}")
        if callable(reg):
            raise _factory_error(who, "reg", reg, expected)
        raise TypeError(f"{who}: reg must be {expected}, got {type(reg).__name__}")
    if backprop not in ("manual", "autodiff"):
        raise ValueError(f"{who}: backprop must be 'manual' or 'autodiff', got {backprop!r}")


def is_concrete(*trees) -> bool:
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(trees))


def check_data(who: str, model: Layer, loss: Loss, params, x, target, *, name="", members=False):
    """Checks of concrete data (skipped when anything is traced). ``name`` prefixes the
    argument names (``"val_"`` for validation data); ``members``: params have a member axis."""
    if not is_concrete(params, x, target):
        return
    xs = f"{name}x" if name else "x"
    ts = f"{name}target" if name else "target"
    for label, a in ((xs, x), (ts, target)):
        _check_batch(who, label, a)
    if np.shape(x)[0] != np.shape(target)[0]:
        raise ValueError(
            f"{who}: {xs} and {ts} need the same number of examples, got {xs} of shape "
            f"{np.shape(x)} and {ts} of shape {np.shape(target)}"
        )
    check = getattr(loss, "check", None)
    if check is not None:

        def forward(p, x):
            return apply_layer(model, p, x)

        if members:
            forward = jax.vmap(forward, in_axes=(0, None))
        pred = jax.eval_shape(forward, params, x)
        if members:
            pred = jax.ShapeDtypeStruct(pred.shape[1:], pred.dtype)
        check(pred, np.asarray(target))


def _check_batch(who: str, label: str, a) -> None:
    shape = np.shape(a)
    if len(shape) == 0 or shape[0] == 0:
        raise ValueError(
            f"{who}: {label} must hold at least one example along its leading axis, got shape "
            f"{shape} (an empty batch has no loss to train on)"
        )
    host = np.asarray(a)
    if np.issubdtype(host.dtype, np.inexact) and not np.isfinite(host).all():
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(host))[0])
        raise ValueError(
            f"{who}: {label} contains NaN/inf (first at index {index}, value {host[index]}); "
            "this is bad data, not a divergence: clean or impute it before training"
        )


def check_params_finite(who: str, params: Any) -> None:
    """Initial params must be finite (a NaN there is not a divergence of training)."""
    if not is_concrete(params):
        return
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        host = np.asarray(leaf)
        if np.issubdtype(host.dtype, np.inexact) and not np.isfinite(host).all():
            raise ValueError(
                f"{who}: the initial params contain NaN/inf at leaf "
                f"{jax.tree_util.keystr(path)}; this is not a divergence of training: "
                "re-initialise them (e.g. model.init(key, input_shape))"
            )
