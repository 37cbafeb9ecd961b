"""`check_vjp`: check ANY JAX function's hand-written backward, not only jaxnn layers.

For a function with a ``jax.custom_vjp`` (or a user's ``(forward, backward)`` pair) it runs
the same three-way comparison as `check_grads`, per argument leaf:

* the hand-written rule (``jax.vjp`` of the custom function, or ``backward(res, dy)``);
* ``jax.vjp`` through the plain math: the undecorated ``f.fun`` of a custom_vjp/custom_jvp,
  ``forward``'s output for a pair, or ``primal=`` when given;
* float64 finite differences of that plain math, entry by entry;

through the scalar ``⟨c, f(*args)⟩`` for a fixed random cotangent ``c``. The rule is also run
under ``jit`` (against the eager result) and under ``vmap`` over a batch of perturbed
arguments (against one call per example): a rule that breaks only under ``vmap`` is a classic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.gradengine import (
    empty_plan,
    fd_verdict,
    is_float,
    leaf_row,
    leaf_stencils,
    make_plan,
    program,
    split_float,
    tol_for,
)
from jaxnn.gradreport import GradReport, LeafCheck, agreement, format_index, ratio_hint, worst_entry

__all__ = ["check_vjp"]

_BATCH = 3  # examples in the vmap check
_TRACER_ERRORS = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
)


def check_vjp(
    f: Callable | tuple[Callable, Callable],
    *args: Any,
    primal: Callable | None = None,
    static_argnums: Sequence[int] = (),
    finite_differences: bool = True,
    check_vmap: bool = True,
    seed: int = 0,
    max_fd_entries: int = 1024,
) -> GradReport:
    """Check a hand-written VJP against ``jax.vjp`` of the plain math and finite differences.

    Args:
      f: a function decorated with ``jax.custom_vjp`` (or ``custom_jvp``, or any function
        whose ``jax.vjp`` you want checked, with ``primal=``), or a pair
        ``(forward, backward)`` in ``custom_vjp``'s convention: ``forward(*args) -> (y,
        residuals)``, ``backward(residuals, dy) -> tuple`` of one cotangent per argument.
      *args: the point to check at (arrays or pytrees of arrays).
      primal: the same math without the custom rule; default ``f.fun`` (the undecorated
        function) or the pair's ``forward(*args)[0]``.
      static_argnums: arguments that are not differentiated (held fixed).
      finite_differences: set False to skip the float64 finite differences.
      check_vmap: also run the rule under ``vmap`` on a batch of perturbed arguments.

    Returns:
      A `GradReport` with a row per floating-point leaf of the differentiated arguments
      (``arg0``, ``arg1.w``, ...); failing rows say whether the rule, the primal math, or only
      the rule under ``jit``/``vmap`` is wrong, with ratio hints and the worst entry.

    Raises:
      TypeError: ``f`` has no hand-written rule to compare (pass ``primal=``), or the backward
        returns the wrong number or structure of cotangents (named with the fix).
    """
    rule, reference, label = _rule_and_reference(f, primal)
    static = tuple(sorted(int(i) for i in static_argnums))
    args = tuple(jax.tree.map(jnp.asarray, a) if i not in static else a
                 for i, a in enumerate(args))  # fmt: skip
    dyn_idx = tuple(i for i in range(len(args)) if i not in static)
    dyn = tuple(args[i] for i in dyn_idx)

    def full(d):
        merged = list(args)
        for i, a in zip(dyn_idx, d, strict=True):
            merged[i] = a
        return merged

    def hand(d, c):
        _, cts = rule(full(d), c, dyn_idx)
        fl, _ = split_float(tuple(d))
        grads = [g for g, a in zip(jax.tree.leaves(cts), jax.tree.leaves(tuple(d)), strict=False)
                 if is_float(a)]  # fmt: skip
        return grads if len(grads) == len(fl) else jax.tree.leaves(cts)

    def value(d, c):
        return _inner(c, reference(*full(d)))

    with jax.enable_x64(True), jax.default_matmul_precision("highest"):
        y_struct = jax.eval_shape(lambda d: reference(*full(d)), dyn)
    c = _cotangent(y_struct, seed)
    float_leaves, _ = split_float(dyn)
    if finite_differences:
        plan, dir_leaf = make_plan(float_leaves, max_entries=max_fd_entries, n_directions=2,
                                   seed=seed)  # fmt: skip
    else:
        plan, dir_leaf = empty_plan(float_leaves)

    def extras(d, cc):
        return {"y": (rule(full(d), cc, dyn_idx)[0], reference(*full(d)))}

    problems: dict[int, list[str]] = {}
    suspects: list[str] = []
    eager = _eager(hand, dyn, c, label)
    run = jax.jit(program(value, hand, extras))
    try:
        with jax.enable_x64(True), jax.default_matmul_precision("highest"):
            out = jax.device_get(run(dyn, c, plan))
        jit_grads = out["hand"]
    except _TRACER_ERRORS as err:
        reason = str(err).strip().splitlines()[0][:160]
        suspects.append(f"the rule fails under jit (works eagerly): {type(err).__name__}: {reason}")
        with jax.enable_x64(True), jax.default_matmul_precision("highest"):
            out = jax.device_get(jax.jit(program(value, lambda d, cc: eager, None))(dyn, c, plan))
        jit_grads = None
        for k in range(len(float_leaves)):
            problems.setdefault(k, []).append("fails under jit")
    dtype, tol = tol_for(_dtype(float_leaves))
    names = _names(dyn, dyn_idx)
    if jit_grads is not None:
        for k, (a, b) in enumerate(zip(jit_grads, eager, strict=False)):
            if not agreement(a, b, tol)[2]:
                problems.setdefault(k, []).append("jit ≠ eager")
                suspects.append(f"{names[k]}: the rule under jit ≠ eager ({ratio_hint(a, b)})")
    if check_vmap:
        _vmap_check(hand, dyn, c, tol, names, problems, suspects, seed)
    rows = _rows(out, plan, dir_leaf, float_leaves, names, tol, problems, finite_differences)
    if out["extras"] is not None:
        rows += _forward_rows(out["extras"]["y"], tol, suspects)
    if any(not r.counted_ok for r in rows):
        suspects = list(dict.fromkeys(suspects))
    else:
        suspects = []
    return GradReport(
        tuple(rows), dtype, tol, label, "⟨random cotangent, f(*args)⟩", (), tuple(suspects),
        title="check_vjp",
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# The rule, the reference, and how to call them
# --------------------------------------------------------------------------------------------


def _rule_and_reference(f, primal):
    """``(rule(args, c, dyn_idx) -> (y, cotangents), reference(*args) -> y, label)``."""
    if isinstance(f, tuple | list):
        if len(f) != 2 or not all(callable(g) for g in f):
            raise TypeError("check_vjp: a hand-written rule is a pair (forward, backward)")
        forward, backward = f
        label = f"({_name(forward)}, {_name(backward)})"

        def pair_rule(args, c, dyn_idx):
            y, res = forward(*args)
            cts = backward(res, c)
            if not isinstance(cts, tuple | list):
                cts = (cts,) if len(args) == 1 else cts
            if not isinstance(cts, tuple | list) or len(cts) != len(args):
                got = (
                    f"an array of shape {tuple(cts.shape)}"
                    if hasattr(cts, "shape")
                    else f"a {type(cts).__name__} of length {len(cts)}"
                )
                raise TypeError(
                    f"check_vjp: {_name(backward)} returned {got}; it must return a tuple with "
                    f"one cotangent per argument of {_name(forward)} ({len(args)}), e.g. "
                    "`return (dx, dw)`, as jax.custom_vjp requires"
                )
            for i in dyn_idx:
                want, got_s = jax.tree.structure(args[i]), jax.tree.structure(cts[i])
                if want != got_s:
                    raise TypeError(
                        f"check_vjp: {_name(backward)}'s cotangent for argument {i} has "
                        f"structure {got_s}, expected the argument's {want}"
                    )
            return y, tuple(cts[i] for i in dyn_idx)

        return pair_rule, primal or (lambda *a: forward(*a)[0]), label
    if not callable(f):
        raise TypeError(f"check_vjp: f must be a function or a (forward, backward) pair, got "
                        f"{type(f).__name__}")  # fmt: skip
    reference = primal or getattr(f, "fun", None)
    if reference is None:
        raise TypeError(
            f"check_vjp: {_name(f)} has no custom rule to check against its plain math: pass "
            "a jax.custom_vjp function, a (forward, backward) pair, or primal=<the same math "
            "without the custom rule>"
        )

    def custom_rule(args, c, dyn_idx):
        def g(*d):
            merged = list(args)
            for i, a in zip(dyn_idx, d, strict=True):
                merged[i] = a
            return f(*merged)

        y, pullback = jax.vjp(g, *(args[i] for i in dyn_idx))
        return y, pullback(c)

    return custom_rule, reference, _name(f)


def _name(fn) -> str:
    inner = getattr(fn, "fun", fn)
    return getattr(inner, "__name__", type(fn).__name__)


def _inner(c, y):
    """``Σ ⟨c, y⟩`` over the float leaves of the output."""
    total = 0.0
    for ci, yi in zip(jax.tree.leaves(c), jax.tree.leaves(y), strict=True):
        if ci is not None and is_float(yi):
            total = total + jnp.sum(ci.astype(yi.dtype) * yi)
    return total


def _cotangent(y_struct, seed: int):
    """A fixed random cotangent shaped like the output (zeros for non-float leaves)."""
    rng = np.random.default_rng(seed + 1)
    leaves, treedef = jax.tree.flatten(y_struct)
    out = []
    for leaf in leaves:
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            out.append(jnp.asarray(rng.standard_normal(leaf.shape), leaf.dtype))
        else:
            out.append(jnp.zeros(leaf.shape, jnp.float32))
    return jax.tree.unflatten(treedef, out)


def _eager(hand, dyn, c, label):
    """The rule run op by op (the baseline for jit), as float64-comparable NumPy arrays."""
    try:
        return [np.asarray(g) for g in hand(dyn, c)]
    except TypeError:
        raise
    except Exception as err:  # a user's rule failing at all: say whose
        raise ValueError(f"check_vjp: the hand-written rule of {label} raised "
                         f"{type(err).__name__}: {err}") from None  # fmt: skip


def _dtype(float_leaves) -> str:
    if not float_leaves:
        return "float32"
    return str(min((a.dtype for a in float_leaves), key=lambda d: jnp.finfo(d).bits))


def _names(dyn, dyn_idx) -> list[str]:
    names = []
    for i, a in zip(dyn_idx, dyn, strict=True):
        for path, leaf in jax.tree_util.tree_leaves_with_path(a):
            if is_float(leaf):
                names.append(
                    f"arg{i}" + jax.tree_util.keystr(path).replace("['", ".").replace("']", "")
                )
    return names


# --------------------------------------------------------------------------------------------
# Under vmap
# --------------------------------------------------------------------------------------------


def _vmap_check(hand, dyn, c, tol, names, problems, suspects, seed):
    """The rule under ``vmap`` over a batch of perturbed arguments vs one call per example."""
    rng = np.random.default_rng(seed + 2)

    def perturb(a, b):
        if not is_float(a) or b == 0:
            return a
        scale = 1 + 0.05 * rng.uniform(-1, 1, np.shape(a))  # keeps signs: domains stay valid
        return (np.asarray(a, np.float64) * scale).astype(a.dtype)

    examples = [jax.tree.map(lambda a, b=b: perturb(a, b), dyn) for b in range(_BATCH)]
    batched = jax.tree.map(lambda *xs: jnp.stack(xs), *examples)
    with jax.enable_x64(True), jax.default_matmul_precision("highest"):
        try:
            looped = jax.jit(lambda ex: [hand(e, c) for e in ex])(examples)
            mapped = jax.jit(jax.vmap(lambda d: hand(d, c)))(batched)
        except Exception as err:  # noqa: BLE001 — any failure under vmap is the finding
            reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
            suspects.append(f"the rule fails under vmap: {type(err).__name__}: {reason}")
            for k in range(len(names)):
                problems.setdefault(k, []).append("fails under vmap")
            return
    for k in range(len(names)):
        m = np.stack([np.asarray(one[k]) for one in looped])
        v = np.asarray(mapped[k])
        if not agreement(v, m, tol)[2]:
            problems.setdefault(k, []).append("vmap ≠ unbatched")
            hint = ratio_hint(v, m)
            if hint.startswith(f"×{_BATCH:.3f}") or hint.startswith(f"×{1 / _BATCH:.3f}"):
                hint += f" ×{_BATCH} is the batch size: does the rule reduce over the batch axis?"
            suspects.append(
                f"{names[k]}: the rule under vmap ≠ one call per example ({hint}; worst entry "
                f"{format_index(worst_entry(v, m))} of a batch of {_BATCH})"
            )


# --------------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------------


def _forward_rows(ys, tol, suspects) -> list[LeafCheck]:
    """An ``output`` row when the y the rule's forward returns differs from the primal's."""
    y_rule, y_ref = ys
    rows = []
    for a, b in zip(jax.tree.leaves(y_rule), jax.tree.leaves(y_ref), strict=False):
        a, b = np.asarray(a), np.asarray(b)
        if not is_float(b):
            continue
        diff, rel, agrees = agreement(a, b, tol)
        if agrees:
            continue
        worst = worst_entry(a, b) if a.shape == b.shape else None
        hint = ratio_hint(a, b) if a.shape == b.shape else f"shape {a.shape}, expected {b.shape}"
        where = f"; worst entry {format_index(worst)}" if worst is not None else ""
        suspects.append(
            f"the custom function's output ≠ the primal's: the forward is wrong ({hint}{where})"
        )
        rows.append(
            LeafCheck(
                "output",
                tuple(b.shape),
                diff,
                rel,
                np.nan,
                np.nan,
                "FAIL: forward ≠ primal (the y the rule's forward returns)",
                hint,
                worst,
            )
        )
    return rows[:1]


def _rows(out, plan, dir_leaf, float_leaves, names, tol, problems, fd_on):
    sizes = [int(np.size(a)) for a in float_leaves]
    stencils = leaf_stencils(plan, dir_leaf, sizes, out["fd_coords"], out["fd_dirs"])
    f0 = float(out["f0"])
    rows = []
    for k, name in enumerate(names):
        g = np.asarray(out["hand"][k]) if k < len(out["hand"]) else np.full((), np.nan)
        a, a64 = out["auto"][k], out["auto64"][k]
        fd_hand = fd_auto = None
        if fd_on and np.shape(g) == np.shape(a):
            fd_hand = fd_verdict(g, f0=f0, ref=a64, tol=tol, **stencils[k])
            fd_auto = fd_verdict(a64, f0=f0, ref=a64, tol=tol, **stencils[k])
        row = leaf_row(name, g, a, fd_hand, fd_auto, tol,
                       extra_problems=tuple(problems.get(k, ())))  # fmt: skip
        rows.append(row)
    return rows
