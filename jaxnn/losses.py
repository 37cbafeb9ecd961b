"""Losses and regularizers, each with its gradient written by hand beside its value.

A `Loss` is ``(value, vjp)``: ``value(pred, target) -> scalar`` and
``vjp(pred, target) -> (value, backward)`` with ``backward(dvalue) -> dpred``.
A `Regularizer` is ``(value, grad)`` on the params pytree.

Losses and regularizers are data: the built-in ones carry a ``spec`` (a hashable,
JSON-serialisable description of the call that made them), compare and hash by it, print as
that call (``softmax_cross_entropy(reduction='sum')``, ``l2(0.01)``, ``sse``) and are rebuilt
from it by `from_spec`.

What is checked, and when (bad input is never silent):

* At trace time (always, also under ``jit``/``vmap``): shapes and dtypes. A target that does
  not match the prediction, an empty batch, integer or bool predictions, float class labels,
  and ``softmax_cross_entropy`` on a single logit column raise ``ValueError``/``TypeError``
  naming the loss.
* On concrete arrays (eager calls, and once per call at the boundary of ``fit``,
  ``check_grads``, ``grad`` through `jaxnn.validate`): values. Class labels outside
  ``0..classes-1``, targets outside [0, 1] for the cross-entropies, and
  ``binary_cross_entropy`` predictions outside [0, 1] (logits) raise ``ValueError``.
* Under ``jit``/``vmap`` values cannot raise, so those same impossible values make the loss
  and its gradient **NaN** (never a clipped, plausible number): training then stops with the
  divergence error at the first step, and ``jax.debug`` users see NaN, not a silent 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.layers import is_weight_path

Reduction = Literal["mean", "sum"]
Spec = tuple


# --------------------------------------------------------------------------------------------
# The two types: compared by spec when they have one, by identity otherwise
# --------------------------------------------------------------------------------------------


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if a.spec is not None and b.spec is not None:
        return a.spec == b.spec
    return a is b


def _hash(obj) -> int:
    if obj.spec is not None:
        return hash((type(obj).__name__, obj.spec))
    return object.__hash__(obj)


class Loss(NamedTuple):
    """A loss as pure functions.

    Attributes:
      value: ``value(pred, target) -> scalar``.
      vjp: ``vjp(pred, target) -> (value, backward)``; ``backward(dvalue) -> dpred``.
      name: used in error messages, reports and ``repr``.
      accuracy: for classification losses, ``accuracy(pred, target) -> fraction correct``
        (training logs it beside the loss); ``None`` for regression losses.
      spec: ``None`` or a hashable, JSON-serialisable description of the call that built the
        loss, e.g. ``("softmax_cross_entropy", (("reduction", "sum"),))``. Losses with a spec
        compare and hash by it; without one, by identity.
      check: ``None`` or ``check(pred, target) -> None``, a host-side check of *concrete*
        values that raises ``ValueError`` (labels out of range, ...). ``pred`` may be a
        ``jax.ShapeDtypeStruct`` when only its shape is known (`jaxnn.validate.check_data`
        calls it before anything runs), or ``None`` when not even that is known (then only
        the target is checked); never called on traced values.
    """

    value: Callable[[jax.Array, jax.Array], jax.Array]
    vjp: Callable[[jax.Array, jax.Array], tuple[jax.Array, Callable]]
    name: str = "Loss"
    accuracy: Callable[[jax.Array, jax.Array], jax.Array] | None = None
    spec: Spec | None = None
    check: Callable[[Any, Any], None] | None = None

    def __eq__(self, other):
        return _same(self, other)

    def __ne__(self, other):
        return not _same(self, other)

    def __hash__(self):
        return _hash(self)

    def __repr__(self):
        return self.name


class Regularizer(NamedTuple):
    """A penalty on params: ``value(params) -> scalar``, ``grad(params) -> pytree like params``.

    ``name`` and ``spec`` work as for `Loss` (``l2(0.01) == l2(0.01)``).
    """

    value: Callable[[Any], jax.Array]
    grad: Callable[[Any], Any]
    name: str = "Regularizer"
    spec: Spec | None = None

    def __eq__(self, other):
        return _same(self, other)

    def __ne__(self, other):
        return not _same(self, other)

    def __hash__(self):
        return _hash(self)

    def __repr__(self):
        return self.name


def _replace_dropping_spec(original):
    """``_replace`` that keeps the spec only when nothing but ``name`` changes: a loss with a
    patched ``value`` is other math and must not compare equal to (or share a compiled program
    with) the original. (NamedTuple forbids defining ``_replace`` in the class body.)"""

    def _replace(self, **changes):
        if "spec" not in changes and set(changes) - {"name"}:
            changes["spec"] = None
        return original(self, **changes)

    _replace.__doc__ = original.__doc__
    return _replace


Loss._replace = _replace_dropping_spec(Loss._replace)
Regularizer._replace = _replace_dropping_spec(Regularizer._replace)


# --------------------------------------------------------------------------------------------
# Shared checks
# --------------------------------------------------------------------------------------------


def _is_concrete(*arrays) -> bool:
    return not any(isinstance(a, jax.core.Tracer) for a in arrays)


def _run_host_check(check, pred, target) -> None:
    """Value checks on concrete inputs only (eager calls); under a trace they cannot run."""
    if _is_concrete(pred, target):
        check(pred, target)


def _check_pred(name: str, pred) -> jax.Array:
    pred = jnp.asarray(pred)
    if not jnp.issubdtype(pred.dtype, jnp.floating):
        raise TypeError(
            f"{name}: predictions must be floating point, got dtype {pred.dtype}; "
            "pass the model's output, not labels or a mask"
        )
    if pred.size == 0:
        raise ValueError(
            f"{name}: empty batch (predictions of shape {pred.shape}); a loss over no "
            "examples is undefined"
        )
    return pred


def _check_same_shape(name: str, pred, target):
    pred, target = jnp.asarray(pred), jnp.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(
            f"{name}: pred and target must have the same shape, got pred {pred.shape} "
            f"and target {target.shape}"
        )
    pred = _check_pred(name, pred)
    if not (jnp.issubdtype(target.dtype, jnp.number) or target.dtype == jnp.bool_):
        raise TypeError(f"{name}: target must be numeric, got dtype {target.dtype}")
    return pred, target.astype(pred.dtype)


def _check_reduction(name: str, reduction) -> None:
    if not isinstance(reduction, str):
        raise TypeError(
            f"{name}: reduction must be 'mean' or 'sum', got {type(reduction).__name__}; "
            f"{name}(...) builds a Loss: evaluate it with loss.value(pred, target)"
        )
    if reduction not in ("mean", "sum"):
        raise ValueError(f"{name}: reduction must be 'mean' or 'sum', got {reduction!r}")


def _call_name(factory: str, reduction: str) -> str:
    """The short repr: default arguments are left out."""
    return f"{factory}()" if reduction == "mean" else f"{factory}(reduction={reduction!r})"


def _span(a: np.ndarray) -> str:
    return f"[{a.min():.4g}, {a.max():.4g}]"


def _first_index(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _check_unit_interval(name: str, what: str, values, hint: str) -> None:
    """Concrete ``values`` must lie in [0, 1] (NaN is left to the finiteness checks)."""
    a = np.asarray(values)
    outside = (a < 0) | (a > 1)
    if outside.any():
        raise ValueError(
            f"{name}: {what} must lie in [0, 1], got values in {_span(a[~np.isnan(a)])} "
            f"(first at index {_first_index(outside)}); {hint}"
        )


# --------------------------------------------------------------------------------------------
# Squared errors
# --------------------------------------------------------------------------------------------


def _squared_error(name: str, scale: Callable[[jax.Array], float]) -> Loss:
    """``scale(pred) * Σ (pred − target)²``; gradient ``2·scale·(pred − target)``."""

    def value(pred, target):
        pred, target = _check_same_shape(name, pred, target)
        return scale(pred) * jnp.sum((pred - target) ** 2)

    def vjp(pred, target):
        pred, target = _check_same_shape(name, pred, target)
        err = pred - target
        c = scale(pred)
        return c * jnp.sum(err**2), lambda g: (g * 2 * c * err).astype(pred.dtype)

    return Loss(value, vjp, name=name, spec=(name, ()))


sse = _squared_error("sse", lambda pred: 1.0)
"""Σ(pred − target)²: James Loy's loss; its gradient is ``2·(pred − target)``."""

half_sse = _squared_error("half_sse", lambda pred: 0.5)
"""½·Σ(pred − target)²: gradient ``pred − target``, Trask's and Lins's ``err`` term."""

mse = _squared_error("mse", lambda pred: 1.0 / pred.size)
"""Mean squared error over all elements: gradient ``2·(pred − target)/n``."""


# --------------------------------------------------------------------------------------------
# Binary cross-entropy (on probabilities)
# --------------------------------------------------------------------------------------------


def _log_clamped(p, eps):
    """log(p) for p ≥ eps, continued linearly below eps so value and slope stay finite at 0.

    The slope of this function is ``1 / max(p, eps)``, which is what the hand-written
    gradient uses. (The inner ``maximum`` keeps ``log`` away from 0 in both branches.)
    """
    return jnp.where(p >= eps, jnp.log(jnp.maximum(p, eps)), jnp.log(eps) + (p - eps) / eps)


def _in_unit_interval(a):
    return (a >= 0) & (a <= 1)


def _bce_check(name: str):
    def check(pred, target):
        _check_unit_interval(
            name,
            "targets",
            target,
            "for ±1 labels pass (target + 1) / 2; for class labels use softmax_cross_entropy()",
        )
        if pred is not None and not isinstance(pred, jax.ShapeDtypeStruct):
            _check_unit_interval(
                name,
                "predictions (probabilities)",
                pred,
                "these look like logits: end the model with a Sigmoid, e.g. "
                "mlp(..., output_activation='sigmoid')",
            )

    return check


def binary_cross_entropy(reduction: Reduction = "mean") -> Loss:
    """Cross-entropy on probabilities: ``−[t·log p + (1−t)·log(1−p)]``, mean or summed.

    ``pred`` and ``target`` have the same shape; ``"mean"`` averages over all elements. Safe at
    p = 0 and p = 1: the log is continued linearly below the dtype's epsilon, so the value and
    its gradient ``−t/p + (1−t)/(1−p)`` (with p clamped in the denominators) are finite; where
    a term's weight is 0 (t = 0 or t = 1) that term contributes exactly 0.

    ``pred`` must be probabilities and ``target`` in [0, 1]: on concrete arrays anything else
    (logits, ±1 labels) raises ``ValueError``; under ``jit``/``vmap`` it makes the value and
    the gradient NaN (not clipped: a clipped loss would train silently on nonsense).
    """
    factory = "binary_cross_entropy"
    _check_reduction(factory, reduction)
    name = _call_name(factory, reduction)
    check = _bce_check(name)

    def scale(pred):
        return 1.0 / pred.size if reduction == "mean" else 1.0

    def inputs(pred, target):
        pred, target = _check_same_shape(name, pred, target)
        _run_host_check(check, pred, target)
        # NaN, not a plausible number, where the inputs are impossible (see the docstring).
        valid = _in_unit_interval(pred) & _in_unit_interval(target)
        return pred, target, valid

    def value(pred, target):
        pred, target, valid = inputs(pred, target)
        eps = jnp.finfo(pred.dtype).eps
        per = -(target * _log_clamped(pred, eps) + (1 - target) * _log_clamped(1 - pred, eps))
        # times NaN, not where(valid, per, nan): jax.grad must see NaN there too, not 0
        return scale(pred) * jnp.sum(per * jnp.where(valid, 1.0, jnp.nan).astype(per.dtype))

    def vjp(pred, target):
        pred, target, valid = inputs(pred, target)
        eps = jnp.finfo(pred.dtype).eps

        def backward(g):
            dpred = -target / jnp.maximum(pred, eps) + (1 - target) / jnp.maximum(1 - pred, eps)
            dpred = jnp.where(valid, dpred, jnp.nan)
            return (g * scale(pred) * dpred).astype(pred.dtype)

        return value(pred, target), backward

    spec = (factory, (("reduction", reduction),))
    return Loss(value, vjp, name=name, accuracy=_threshold_accuracy, spec=spec, check=check)


def _threshold_accuracy(prob, target):
    """Fraction of probabilities on the right side of 0.5."""
    return jnp.mean((jnp.asarray(prob) > 0.5) == (jnp.asarray(target) > 0.5))


# --------------------------------------------------------------------------------------------
# Softmax cross-entropy (on logits)
# --------------------------------------------------------------------------------------------


def _check_logits(name: str, logits) -> jax.Array:
    logits = _check_pred(name, logits)
    if logits.ndim < 1:
        raise ValueError(f"{name}: logits need a class axis, got shape {logits.shape}")
    _check_classes(name, logits.shape)
    return logits


def _check_classes(name: str, shape: tuple[int, ...]) -> None:
    if shape[-1] == 1:
        raise ValueError(
            f"{name}: logits have a single column (shape {shape}): softmax over one "
            "class is always 1, so this loss is always 0 and never trains; give the model 2 "
            "outputs, or use binary_cross_entropy() with a Sigmoid output for one unit"
        )


def _target_error(name: str, logits, target) -> ValueError:
    n, labels_shape = logits.shape[-1], logits.shape[:-1]
    got = f"got {target.dtype} of shape {target.shape}"
    expected = f"integer labels of shape {labels_shape} or one-hot of shape {logits.shape}"
    if target.shape == labels_shape:  # right shape, wrong dtype
        how = "target.astype(jnp.int32)" if jnp.issubdtype(target.dtype, jnp.floating) else ""
        return ValueError(
            f"{name}: target of shape {target.shape} looks like class labels but has dtype "
            f"{target.dtype}; labels must be integers in 0..{n - 1}"
            + (f" (pass {how})" if how else "")
        )
    if target.shape == (*labels_shape, 1):
        return ValueError(
            f"{name}: target must be {expected}, {got}; drop the trailing axis of length 1 "
            "(e.g. target[..., 0])"
        )
    return ValueError(f"{name}: target must be {expected}, {got}")


def _ce_check(name: str):
    def check(pred, target):
        target = np.asarray(target)
        n = np.inf if pred is None else pred.shape[-1]  # unknown: only labels < 0 are known bad
        if pred is not None:
            _check_classes(name, tuple(pred.shape))
        if target.shape == tuple(np.shape(pred)) or (
            pred is None and jnp.issubdtype(target.dtype, jnp.floating)
        ):
            _check_unit_interval(
                name,
                "one-hot or probability targets",
                target,
                "for class labels pass integers of one dimension fewer",
            )
            return
        if target.size and np.issubdtype(target.dtype, np.integer):
            outside = (target < 0) | (target >= n)
            if outside.any():
                index = _first_index(outside)
                if pred is None:
                    classes, allowed = "any number of classes", "0..classes-1"
                else:
                    classes, allowed = f"{n} classes (logits of shape {pred.shape})", f"0..{n - 1}"
                raise ValueError(
                    f"{name}: class label {target[index]} at index {index} is out of range "
                    f"for {classes}; labels must be in {allowed} (an out-of-range label "
                    "would drop out of the loss)"
                )

    return check


def _onehot_target(name: str, logits, target):
    """One-hot float target (rows of NaN where a label is out of range, see the module doc).

    ``target`` is integer labels with one dim fewer than the logits, or a one-hot / probability
    target of the logits' shape.
    """
    target = jnp.asarray(target)
    n = logits.shape[-1]
    if target.shape == logits.shape:
        onehot = target.astype(logits.dtype)
        return jnp.where(_in_unit_interval(onehot), onehot, jnp.nan)
    if target.shape == logits.shape[:-1] and jnp.issubdtype(target.dtype, jnp.integer):
        valid = (target >= 0) & (target < n)
        onehot = jax.nn.one_hot(target, n, dtype=logits.dtype)
        return jnp.where(valid[..., None], onehot, jnp.nan)
    raise _target_error(name, logits, target)


def softmax_cross_entropy(reduction: Reduction = "mean") -> Loss:
    """Cross-entropy of softmax(logits) against labels (integer, or one-hot).

    ``logits`` has shape ``(..., classes)`` with ``classes >= 2``; ``target`` is integer labels
    of shape ``(...)`` or a one-hot / probability target of the logits' shape.
    ``value = Σ_examples [logsumexp(z) − Σ_c onehot_c·z_c]``, divided by the number of examples
    for ``"mean"``; stable for logits of any size. Hand-written gradient:
    ``softmax(z) − onehot``, scaled by the reduction.

    Labels outside ``0..classes-1`` (or targets outside [0, 1]) raise ``ValueError`` on
    concrete arrays and make the value and gradient NaN under ``jit``/``vmap``: they are never
    silently dropped.
    """
    factory = "softmax_cross_entropy"
    _check_reduction(factory, reduction)
    name = _call_name(factory, reduction)
    check = _ce_check(name)

    def scale(logits):
        return 1.0 / (logits.size // logits.shape[-1]) if reduction == "mean" else 1.0

    def inputs(logits, target):
        logits = _check_logits(name, logits)
        onehot = _onehot_target(name, logits, target)  # shape/dtype errors first, then values
        _run_host_check(check, logits, target)
        return logits, onehot

    def value(logits, target):
        logits, onehot = inputs(logits, target)
        log_probs = jax.nn.log_softmax(logits, axis=-1)
        return -scale(logits) * jnp.sum(onehot * log_probs)

    def vjp(logits, target):
        logits, onehot = inputs(logits, target)
        log_probs = jax.nn.log_softmax(logits, axis=-1)
        value_ = -scale(logits) * jnp.sum(onehot * log_probs)
        # A one-hot row sums to 1, so d/dz of logsumexp(z) − onehot·z is softmax(z) − onehot.
        # (For soft targets that do not sum to 1 the exact rule is softmax·Σt − t.)
        total = jnp.sum(onehot, axis=-1, keepdims=True)

        def backward(g):
            dlogits = g * scale(logits) * (jnp.exp(log_probs) * total - onehot)
            return dlogits.astype(logits.dtype)

        return value_, backward

    def accuracy(logits, target):
        labels = jnp.argmax(_onehot_target(name, logits, target), axis=-1)
        return jnp.mean(jnp.argmax(logits, axis=-1) == labels)

    spec = (factory, (("reduction", reduction),))
    return Loss(value, vjp, name=name, accuracy=accuracy, spec=spec, check=check)


# --------------------------------------------------------------------------------------------
# l2
# --------------------------------------------------------------------------------------------


def _lam_spec(lam) -> float | None:
    """``float(lam)`` when ``lam`` is a concrete real scalar (it then joins the spec); ``None``
    when it is traced (a vmapped sweep); errors for anything that is not a strength."""
    if isinstance(lam, jax.core.Tracer):
        return None
    if isinstance(lam, bool) or not isinstance(
        lam, int | float | np.number | np.ndarray | jax.Array
    ):
        raise TypeError(f"l2: lam must be a real number, got {type(lam).__name__} {lam!r}")
    a = np.asarray(lam)
    if a.shape != () or not (
        np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)
    ):
        raise TypeError(f"l2: lam must be a real scalar, got {a.dtype} of shape {a.shape}")
    value = float(a)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"l2: lam must be finite and >= 0, got {value!r}")
    return value


def l2(lam) -> Regularizer:
    """Weight decay ``lam/2 · Σ w²`` over the ``"w"`` leaves only (biases are not decayed).

    Gradient (hand-written): ``lam · w`` on the ``"w"`` leaves, zeros elsewhere. ``lam`` may be a
    traced value, so a sweep over regularisation strength can be vmapped; such a regularizer
    has no spec (``spec is None``) and compares by identity.
    """
    lam_value = _lam_spec(lam)

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

    if lam_value is None:
        return Regularizer(value, grad, name="l2(<traced>)")
    return Regularizer(value, grad, name=f"l2({lam_value!r})", spec=("l2", (("lam", lam_value),)))


# --------------------------------------------------------------------------------------------
# Specs: rebuild losses and regularizers from their description
# --------------------------------------------------------------------------------------------

_CONSTRUCTORS: dict[str, Callable[..., Loss | Regularizer]] = {
    "sse": lambda: sse,
    "half_sse": lambda: half_sse,
    "mse": lambda: mse,
    "binary_cross_entropy": binary_cross_entropy,
    "softmax_cross_entropy": softmax_cross_entropy,
    "l2": l2,
}


def register_loss(name: str, constructor: Callable[..., Loss | Regularizer]) -> None:
    """Let `from_spec` rebuild a user's loss or regularizer whose spec is
    ``(name, ((arg, value), ...))``: it calls ``constructor(**dict(args))``."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_loss: name must be a non-empty str, got {name!r}")
    if not callable(constructor):
        raise TypeError(f"register_loss: constructor must be callable, got {constructor!r}")
    if name in _CONSTRUCTORS and _CONSTRUCTORS[name] is not constructor:
        raise ValueError(f"register_loss: {name!r} is already registered")
    _CONSTRUCTORS[name] = constructor


def _freeze(obj):
    """Lists (as JSON gives them back) to tuples, recursively, so specs compare and hash."""
    if isinstance(obj, list | tuple):
        return tuple(_freeze(o) for o in obj)
    return obj


def from_spec(spec) -> Loss | Regularizer:
    """The loss or regularizer that ``spec`` describes (``json.loads`` output is accepted).

    ``from_spec(loss.spec) == loss`` for every built-in loss and for ``l2``. Raises
    ``ValueError`` for a malformed spec or an unknown name.
    """
    spec = _freeze(spec)
    ok = (
        isinstance(spec, tuple)
        and len(spec) == 2
        and isinstance(spec[0], str)
        and isinstance(spec[1], tuple)
        and all(isinstance(kv, tuple) and len(kv) == 2 and isinstance(kv[0], str) for kv in spec[1])
    )
    if not ok:
        raise ValueError(f"losses.from_spec: expected (name, ((arg, value), ...)), got {spec!r}")
    name, args = spec
    if name not in _CONSTRUCTORS:
        raise ValueError(
            f"losses.from_spec: unknown loss or regularizer {name!r}; known: "
            f"{sorted(_CONSTRUCTORS)} (register your own with losses.register_loss)"
        )
    return _CONSTRUCTORS[name](**dict(args))
