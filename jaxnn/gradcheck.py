"""`check_grads`: is the hand-written gradient of a model right? Compared three ways, per leaf.

1. manual (the layers' ``vjp`` chain) vs ``jax.grad`` through ``apply``, elementwise;
2. manual vs float64 finite differences, entry by entry (a sample for big leaves) and along
   random unit directions;
3. float64 ``jax.grad`` vs the same finite differences (so a bug in ``apply`` itself shows).

Everything runs as ONE compiled program per (model, loss, regularizer, shapes, dtypes), cached
by the math (`jaxnn.cache.memoize`): a warm call compiles nothing. Finite differences are
always float64, whatever the model's dtype. Where the objective is not smooth at the
difference step (a kink such as a ReLU input at 0, a clamp, rounding at saturation) the
stencil shows it and that entry's FD comparison is not counted — manual vs autodiff always is,
so a wrong derivative at the kink itself still fails.

Each layer of a ``serial`` is also checked on its own (its ``vjp`` against ``jax.vjp`` of its
``apply``, at its real input and cotangent), and the loss and regularizer likewise, so the
report names the *suspect* — not only the leaves where the error lands.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import cache, validate
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
from jaxnn.gradreport import (
    TOLERANCES,
    GradReport,
    LayerCheck,
    LeafCheck,
    Tolerance,
    agreement,
    format_index,
    ratio_hint,
    worst_entry,
)
from jaxnn.layers import Layer, apply_layer, vjp_layer
from jaxnn.losses import Loss, Regularizer
from jaxnn.paramcheck import backward_pair

__all__ = ["TOLERANCES", "GradReport", "LayerCheck", "LeafCheck", "Tolerance", "check_grads"]

# --------------------------------------------------------------------------------------------
# Calling layers (stochastic ones take a key)
# --------------------------------------------------------------------------------------------


_apply, _vjp = apply_layer, vjp_layer


_pair = backward_pair  # shared with serial, which checks its layers the same way


def _check_structure(dparams, params, who: str) -> None:
    if jax.tree.structure(dparams) != jax.tree.structure(params):
        raise TypeError(
            f"{who}: its vjp returned dparams with structure {jax.tree.structure(dparams)}, "
            f"expected the params' structure {jax.tree.structure(params)}"
        )


def _label(path: tuple[int, ...], layer: Layer) -> str:
    return "".join(f"[{i}]" for i in path) + (" " if path else "") + layer.name


# --------------------------------------------------------------------------------------------
# The per-layer walk (inside the traced program)
# --------------------------------------------------------------------------------------------


def _flatten_chain(layer: Layer, params, x, key, path=()):
    """The leaf layers of nested combinators in order, each with its params, input and key.

    Descends into ``layer.sublayers`` when its params are a sequence of the same length
    (sublayer ``i`` gets ``params[i]`` and ``fold_in(key, i)``, as ``serial`` does). Returns
    ``(items, output)``; ``items`` are ``(path, layer, params, input, key)``.
    """
    subs = tuple(getattr(layer, "sublayers", ()) or ())
    if subs and isinstance(params, tuple | list) and len(params) == len(subs):
        items = []
        for i, (sub, p) in enumerate(zip(subs, params, strict=True)):
            k = None if key is None else jax.random.fold_in(key, i)
            sub_items, x = _flatten_chain(sub, p, x, k, (*path, i))
            items += sub_items
        return items, x
    return [(path, layer, params, x, key)], _apply(layer, params, x, key)


def _walk(model: Layer, loss: Loss, reg, params, x, target, key):
    """Per leaf layer: forward and backward, its own vjp against ``jax.vjp`` of its apply.

    The cotangent entering each layer is the *reference* one (autodiff's, from the loss down),
    so one bad layer cannot smear into the layers before it. Trace-time checks here name a
    layer whose backward does not return ``(dparams, dx)`` or returns misstructured dparams.
    """
    pred = _apply(model, params, x, key)
    try:
        items, chained = _flatten_chain(model, params, x, key)
        composes = chained.shape == pred.shape
    except Exception:  # a combinator that is not a chain of its sublayers: one block
        items, chained, composes = [((), model, params, x, key)], pred, True
    if not composes:
        items, chained = [((), model, params, x, key)], pred
    out = {"chain_gap": jnp.max(jnp.abs(chained - pred), initial=0.0), "layers": [], "kinks": []}
    value_m, loss_back = loss.vjp(pred, target)
    dpred_m = loss_back(jnp.ones_like(value_m))
    value_a, dpred_a = jax.value_and_grad(lambda p: loss.value(p, target))(pred)
    out["loss"] = {"value": (value_m, value_a), "grad": (dpred_m, dpred_a)}
    if reg is not None:
        out["reg"] = {"grad": (reg.grad(params), jax.grad(reg.value)(params))}
    dy = dpred_a
    for path, layer, p, xin, k in reversed(items):
        who = _label(path, layer) if path else layer.name
        y_m, back = _vjp(layer, p, xin, k)
        dp_m, dx_m = _pair(back(dy), who)
        _check_structure(dp_m, p, who)
        if is_float(xin):
            y_a, ref = jax.vjp(lambda p_, x_, _l=layer, _k=k: _apply(_l, p_, x_, _k), p, xin)
            dp_a, dx_a = ref(dy)
        else:
            y_a, ref = jax.vjp(lambda p_, _l=layer, _x=xin, _k=k: _apply(_l, p_, _x, _k), p)
            (dp_a,), dx_a, dx_m = ref(dy), None, None
        kinks = None if getattr(layer, "kinks", None) is None else layer.kinks(p, xin)
        out["layers"].append(
            {"y": (y_m, y_a), "dx": (dx_m, dx_a), "dp": (dp_m, dp_a), "kinks": kinks}
        )
        dy = dx_a if dx_a is not None else dy
    out["layers"].reverse()
    meta = [(path, layer) for path, layer, *_ in items]
    return out, meta


# --------------------------------------------------------------------------------------------
# The compiled program, one per math
# --------------------------------------------------------------------------------------------


def _build(model: Layer, loss: Loss, reg, *, has_key: bool):
    """A jitted ``run(args, aux, plan)`` for this model/loss/reg, and a slot for walk metadata."""
    meta: dict[str, Any] = {}

    def objective(args, aux):
        params, x = args
        target, key = aux
        value = loss.value(_apply(model, params, x, key), target)
        return value if reg is None else value + reg.value(params)

    def hand(args, aux):
        params, x = args
        target, key = aux
        pred, backward = _vjp(model, params, x, key)
        value, loss_backward = loss.vjp(pred, target)
        dparams, dx = _pair(backward(loss_backward(jnp.ones_like(value))), model.name)
        _check_structure(dparams, params, model.name)
        if reg is not None:
            dparams = jax.tree.map(jnp.add, dparams, reg.grad(params))
        grads = jax.tree.leaves(dparams)
        return grads + [dx] if is_float(x) else grads

    def extras(args, aux):
        params, x = args
        target, key = aux
        out, meta["layers"] = _walk(model, loss, reg, params, x, target, key)
        return out

    return jax.jit(program(objective, hand, extras)), meta


# --------------------------------------------------------------------------------------------
# The boundary: misuse and bad data named before anything is traced
# --------------------------------------------------------------------------------------------


def _as_arrays(who: str, what: str, tree):
    """Leaves as JAX arrays in the caller's dtype mode (no compile: a device transfer)."""
    try:
        return jax.tree.map(jnp.asarray, tree)
    except TypeError as err:
        raise TypeError(f"{who}: {what} must be arrays (or a pytree of arrays): {err}") from None


# --------------------------------------------------------------------------------------------
# check_grads
# --------------------------------------------------------------------------------------------


def check_grads(
    model: Layer,
    loss: Loss,
    params: Any,
    x,
    target,
    *,
    reg: Regularizer | None = None,
    key: jax.Array | None = None,
    finite_differences: bool = True,
    n_directions: int = 2,
    seed: int = 0,
    max_fd_entries: int = 1024,
) -> GradReport:
    """Compare the hand-written gradient with ``jax.grad`` and float64 finite differences.

    Args:
      model, loss, params, x, target, reg: as for `jaxnn.grad`.
      key: for a stochastic model (Dropout), the PRNG key: the check runs at that fixed mask
        (``None``: evaluation mode).
      finite_differences: set False to compare manual vs autodiff only.
      n_directions: random unit directions per leaf, besides single entries.
      seed: for the sampled entries and directions.
      max_fd_entries: above this many entries in all, finite differences sample them.

    Returns:
      A `GradReport`: one row per params leaf (named by path, e.g. ``[2].w``) and one for the
      input ``x`` when it is floating point; ``report.ok`` when every counted comparison is
      within the tolerance for the gradients' dtype (`TOLERANCES`). ``report.suspects`` names
      the layer, loss or regularizer where a disagreement enters.

    Raises:
      TypeError: misuse (an uncalled factory, a non-Layer model) or a vjp whose backward does
        not return ``(dparams, dx)``, naming the layer and the fix.
      ValueError: NaN/inf data, params that do not fit the model (the layers' own check).
    """
    return _check(model, loss, params, x, target, reg=reg, key=key, boundary=True,
                  finite_differences=finite_differences, n_directions=n_directions, seed=seed,
                  max_fd_entries=max_fd_entries)  # fmt: skip


def check_layer_probe(layer: Layer, loss: Loss, params, x, target, *, key=None) -> GradReport:
    """`check_grads` without the data checks at the boundary (the testing helpers' probes)."""
    return _check(layer, loss, params, x, target, reg=None, key=key, boundary=False,
                  finite_differences=True, n_directions=2, seed=0, max_fd_entries=1024)  # fmt: skip


def _check(model, loss, params, x, target, *, reg, key, boundary, finite_differences,
           n_directions, seed, max_fd_entries) -> GradReport:  # fmt: skip
    who = "check_grads"
    validate.require_layer(model, who)
    validate.require_loss(loss, who)
    validate.require_regularizer(reg, who)
    params = _as_arrays(who, "params", params)
    x = _as_arrays(who, "x", x)
    target = None if target is None else _as_arrays(who, "target", target)
    validate.check_finite_params(params, where=who, what="the params")
    if boundary and target is not None:
        validate.check_data(loss, x, target, where=who, model=model, params=params)
    run, meta = cache.memoize(_build, model, loss, reg, has_key=key is not None)

    args = (params, x)
    float_leaves, _ = split_float(args)
    dtype, tol = tol_for(_grad_dtype(params, x))
    if finite_differences:
        plan, dir_leaf = make_plan(
            float_leaves, max_entries=max_fd_entries, n_directions=n_directions, seed=seed
        )
    else:
        plan, dir_leaf = empty_plan(float_leaves)
    # Full float32 matmuls: on GPUs the default (TF32) rounds differently on the two paths.
    with jax.enable_x64(True), jax.default_matmul_precision("highest"):
        try:
            out = jax.device_get(run(args, (target, key), plan))
        except (TypeError, ValueError, FloatingPointError):
            raise  # jaxnn's own checks (params, shapes, malformed vjps) already name the fix
        except Exception as err:  # a user layer's own bug: say whose, in one line
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
            raise ValueError(
                f"{who}: running {model.name} with {loss.name} raised {type(err).__name__}: {first}"
            ) from None
    if boundary and target is not None and not np.isfinite(out["f0"]):
        # e.g. binary_cross_entropy on logits is NaN by design under jit: name the cause
        validate.explain_nonfinite(model, loss, params, x, target, where=who, reg=reg)
    return _report(model, loss, reg, params, x, out, meta["layers"], plan, dir_leaf, dtype, tol,
                   finite_differences)  # fmt: skip


def _grad_dtype(params, x) -> str:
    """The lowest float precision among params (and x): tolerances follow the weakest link."""
    dtypes = [leaf.dtype for leaf in jax.tree.leaves((params, x)) if is_float(leaf)]
    if not dtypes:
        return "float32"
    return str(min(dtypes, key=lambda d: jnp.finfo(d).bits))


# --------------------------------------------------------------------------------------------
# From the program's numbers to a report
# --------------------------------------------------------------------------------------------


def _report(model, loss, reg, params, x, out, layer_meta, plan, dir_leaf, dtype, tol, fd_on):
    paths = [p for p, _ in jax.tree_util.tree_leaves_with_path(params)]
    names = [_leaf_name(p) for p in paths]
    param_leaves = jax.tree.leaves(params)
    has_dx = is_float(x)
    float_mask = [is_float(leaf) for leaf in param_leaves]
    hand, auto, auto64 = out["hand"], out["auto"], out["auto64"]
    extras = out["extras"]
    # Align: hand has one gradient per params leaf (+dx); auto per *float* leaf (+dx).
    hand_params = hand[: len(param_leaves)]
    float_names = [n for n, m in zip(names, float_mask, strict=True) if m] + (["input"] * has_dx)
    float_hand = [g for g, m in zip(hand_params, float_mask, strict=True) if m]
    float_hand += hand[len(param_leaves) :]
    float_paths = [p for p, m in zip(paths, float_mask, strict=True) if m] + ([None] * has_dx)
    sizes = [int(np.size(a)) for a in auto]
    stencils = leaf_stencils(plan, dir_leaf, sizes, out["fd_coords"], out["fd_dirs"])
    f0 = float(out["f0"])
    notes: list[str] = []
    surrogates = _layer_notes(layer_meta, extras, notes)
    batch = int(np.prod(np.shape(x)[:-1])) if np.ndim(x) > 1 else None
    param_dtypes = [leaf.dtype for leaf, m in zip(param_leaves, float_mask, strict=True) if m]
    rows = []
    for k, name in enumerate(float_names):
        g_hand = np.asarray(float_hand[k])
        if k < len(param_dtypes) and g_hand.dtype != param_dtypes[k] and is_float(g_hand):
            notes.append(
                f"note: the manual gradient of {name} is {g_hand.dtype}, its params "
                f"{param_dtypes[k]} (jax.vjp keeps the params' dtype); compared as "
                f"{param_dtypes[k]}"
            )
            g_hand = g_hand.astype(param_dtypes[k])
        fd_hand = fd_auto = None
        if fd_on and np.shape(g_hand) == np.shape(auto[k]):
            fd_hand = fd_verdict(g_hand, f0=f0, ref=auto64[k], tol=tol, **stencils[k])
            fd_auto = fd_verdict(auto64[k], f0=f0, ref=auto64[k], tol=tol, **stencils[k])
        path = float_paths[k]
        behind = _upstream(model, path, surrogates)
        rows.append(
            leaf_row(name, g_hand, auto[k], fd_hand, fd_auto, tol, surrogate=behind, batch=batch)
        )
    layer_checks, suspects = _layer_suspects(layer_meta, extras, reg, tol, batch, loss)
    if float(extras["chain_gap"]) > 0 and len(layer_meta) > 1:
        gap = float(extras["chain_gap"])
        scale = max(1e-30, float(np.max(np.abs(np.asarray(extras["loss"]["grad"][1])))))
        if gap > 1e-6 * max(1.0, scale):
            notes.append("note: the sublayers do not compose to the model's output; per-layer "
                         "suspects may not apply")  # fmt: skip
    bracket = _bracket(rows, model)
    if bracket and any(not r.counted_ok for r in rows):
        suspects.append(bracket)
    if not any(not r.counted_ok for r in rows):
        suspects = []
    return GradReport(
        tuple(rows), dtype, tol, model.name, loss.name, tuple(notes), tuple(suspects),
        tuple(layer_checks),
    )  # fmt: skip


def _leaf_name(path) -> str:
    """``[0].w``, or ``w`` for a dict at the root: the report's row label."""
    return validate.leaf_path(path).lstrip(".") or "params"


def _top(path) -> int | None:
    first = path[0] if path else None
    return first.idx if isinstance(first, jax.tree_util.SequenceKey) else None


def _upstream(model: Layer, path, flagged: set) -> bool:
    """Does this leaf's gradient flow back through a flagged top-level layer?

    Layer ``i``'s params see only layers ``i, i+1, …``; the input sees all. ``flagged``
    holds top-level positions (``-1``: the model as a whole).
    """
    if not flagged:
        return False
    if -1 in flagged or path is None:
        return True
    top = _top(path)
    return top is None or any(j >= top for j in flagged)


def _layer_notes(layer_meta, extras, notes) -> set:
    """Surrogate and declared-kink notes, each layer with its own reason; the top-level
    positions of the surrogates."""
    surrogates = set()
    for (path, layer), info in zip(layer_meta, extras["layers"], strict=True):
        top = path[0] if path else -1
        label = _label(path, layer)
        if getattr(layer, "surrogate", None):
            surrogates.add(top)
            notes.append(f"note: {label}: {layer.surrogate}; its vjp is deliberately not d(apply).")
        mask = info["kinks"]
        if mask is None:
            continue
        if isinstance(mask, dict):  # the 0.1 form: {label: count}
            counts = {k: int(v) for k, v in mask.items() if int(v) > 0}
            if counts:
                where = ", ".join(f"{k}: {n}" for k, n in counts.items())
                notes.append(f"note: {label}: non-differentiable points ({where}); finite "
                             "differences through them are not counted.")  # fmt: skip
            continue
        mask = np.asarray(mask, bool)
        if mask.any():
            at = [format_index(i) for i in np.argwhere(mask)[:3].tolist()]
            more = f" and {int(mask.sum()) - 3} more" if mask.sum() > 3 else ""
            notes.append(
                f"note: {label}: {int(mask.sum())} input(s) exactly on a kink (at "
                f"{', '.join(at)}{more}): not differentiable there, so finite differences "
                "through them are not counted (manual vs autodiff still is)."
            )
    return surrogates


def _layer_suspects(layer_meta, extras, reg, tol, batch, loss):
    """Per-layer verdicts (forward, dx, each dparams leaf) and the suspects they name."""
    checks, suspects = [], []
    for (path, layer), info in zip(layer_meta, extras["layers"], strict=True):
        label = _label(path, layer)
        surrogate = bool(getattr(layer, "surrogate", None))
        parts = [("forward", *info["y"]), ("dx", *info["dx"])]
        dp_m, dp_a = info["dp"]
        for (p, m), a in zip(jax.tree_util.tree_leaves_with_path(dp_m),
                             jax.tree.leaves(dp_a), strict=False):  # fmt: skip
            parts.append((_leaf_name(p), m, a))
        for part, m, a in parts:
            if m is None or a is None:
                continue
            status = _part_status(part, m, a, tol, batch, surrogate)
            checks.append(LayerCheck(label, layer.name, part, status))
            if status.startswith("FAIL"):
                suspects.append(f"{label}: {status[6:]}")
    value_m, value_a = extras["loss"]["value"]
    dpred_m, dpred_a = extras["loss"]["grad"]
    for part, m, a in (("value", value_m, value_a), ("backward", dpred_m, dpred_a)):
        status = _part_status(part, m, a, tol, batch, False)
        checks.append(LayerCheck("loss", loss.name, part, status))
        if status.startswith("FAIL"):
            suspects.append(f"the loss {loss.name}: {status[6:]}")
    if reg is not None:
        g_m, g_a = extras["reg"]["grad"]
        for p, m in jax.tree_util.tree_leaves_with_path(g_m):
            a = _get(g_a, p)
            status = _part_status(_leaf_name(p), m, a, tol, batch, False)
            checks.append(LayerCheck("reg", getattr(reg, "name", "reg"), _leaf_name(p), status))
            if status.startswith("FAIL"):
                suspects.append(f"the regularizer {getattr(reg, 'name', '')}: {status[6:]}")
    return checks, suspects


def _get(tree, path):
    for key in path:
        if isinstance(key, jax.tree_util.SequenceKey):
            tree = tree[key.idx]
        elif isinstance(key, jax.tree_util.DictKey):
            tree = tree[key.key]
        else:
            tree = getattr(tree, key.name)
    return tree


_PART_WORDS = {
    "forward": "the y its vjp returns ≠ its apply (the forward inside vjp is wrong)",
    "dx": "its backward's dx ≠ jax.vjp of its apply",
    "value": "its vjp's value ≠ its value function",
    "backward": "its backward ≠ jax.grad of its value",
}


def _part_status(part, m, a, tol, batch, surrogate) -> str:
    m, a = np.asarray(m, np.float64), np.asarray(a, np.float64)
    if m.shape != a.shape:
        return f"FAIL: {part}: shape {m.shape}, expected {a.shape}"
    _, _, agrees = agreement(m, a, tol)
    if agrees:
        return "ok"
    if surrogate and part != "forward":
        return "surrogate (by design)"
    words = _PART_WORDS.get(part, f"its {part} gradient ≠ jax.vjp of its apply")
    worst = worst_entry(m, a)
    return f"FAIL: {words} ({ratio_hint(m, a, batch)}; worst entry {format_index(worst)})"


def _bracket(rows: list[LeafCheck], model: Layer) -> str | None:
    """Where along a ``serial`` the first disagreement enters, from which leaves fail.

    A wrong ``dx`` in layer ``j`` fails every leaf before ``j`` and the input, and none from
    ``j`` on; a wrong ``dparams`` fails that layer's own leaves only.
    """
    if not getattr(model, "sublayers", ()):
        return None
    failing, passing = set(), set()
    input_fails = False
    for row in rows:
        if row.path == "input":
            input_fails = not row.counted_ok
            continue
        top = _top_of_name(row.path)
        if top is None:
            return None
        (passing if row.counted_ok else failing).add(top)
    passing -= failing
    if not failing and not input_fails:
        return None
    labels = [f"[{i}] {layer.name}" for i, layer in enumerate(model.sublayers)]
    if failing:
        a = max(failing)
        later = sorted(i for i in passing if i > a)
        upstream_ok = all(i in passing for i in range(a)) and not input_fails
        if upstream_ok and len(failing) == 1:
            return f"the disagreement is in {labels[a]}'s own param gradients (nothing upstream)"
        if later:
            return f"the first disagreement enters between [{a}] and [{later[0]}]"
        return f"the first disagreement enters after [{a}] (a later layer's dx, or the loss)"
    first = min(passing) if passing else None
    if first is None:
        return "the first disagreement enters between the input and the loss"
    return f"the first disagreement enters between the input and [{first}]"


def _top_of_name(name: str) -> int | None:
    if not name.startswith("["):
        return None
    try:
        return int(name[1 : name.index("]")])
    except ValueError:
        return None
