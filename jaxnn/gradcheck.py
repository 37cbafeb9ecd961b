"""`check_grads`: is the hand-written gradient right? Compared three ways, per param leaf.

1. manual (the layers' ``vjp`` chain) vs ``jax.grad`` through ``apply``, elementwise;
2. manual vs central finite differences in float64, along random unit directions;
3. ``jax.grad`` vs the same finite differences (so a bug in ``apply`` itself shows too).

Finite differences always run in float64 (inside ``jax.enable_x64``), whatever the model's
dtype, so they are the most trustworthy number in the table. Tolerances depend on the
gradient's dtype and are printed with the report. Layers that declare a ``surrogate``
gradient (``Step``) are reported as such, and inputs sitting exactly on a kink (a ReLU input
at 0) are named: finite differences are meaningless there, so those rows do not fail.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.backprop import manual_parts
from jaxnn.layers import Layer
from jaxnn.losses import Loss, Regularizer


class Tolerance(NamedTuple):
    """Pass when ``abs_err <= atol`` or ``rel_err <= rtol``."""

    agree_rtol: float  # manual vs autodiff, relative to the leaf's largest |autodiff| entry
    agree_atol: float
    fd_rtol: float  # directional derivative vs finite difference, relative to ‖grad‖


TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(agree_rtol=1e-9, agree_atol=1e-13, fd_rtol=1e-6),
    # float32 carries ~7 digits; two different summation orders agree to ~1e-6 relative.
    "float32": Tolerance(agree_rtol=1e-4, agree_atol=1e-6, fd_rtol=2e-3),
    "float16": Tolerance(agree_rtol=3e-2, agree_atol=1e-3, fd_rtol=5e-2),
    "bfloat16": Tolerance(agree_rtol=3e-2, agree_atol=1e-3, fd_rtol=5e-2),
}


class LeafCheck(NamedTuple):
    """One row of the report: a params leaf (or ``input``)."""

    path: str
    shape: tuple[int, ...]
    agree_abs: float  # max |manual − autodiff|
    agree_rel: float  # agree_abs / max |autodiff|
    manual_fd: float  # max relative error of manual directional derivatives vs FD (nan: not run)
    autodiff_fd: float
    status: str  # "ok", "FAIL: …", "straight-through by design", "kink: …"

    @property
    def counted_ok(self) -> bool:
        return not self.status.startswith("FAIL")


class GradReport(NamedTuple):
    """The checker's verdict. ``str(report)`` is a table a person can read at a glance."""

    rows: tuple[LeafCheck, ...]
    dtype: str
    tolerance: Tolerance
    model: str
    loss: str
    notes: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when every counted comparison passes (surrogates and kinks are not counted)."""
        return all(row.counted_ok for row in self.rows)

    @property
    def failures(self) -> tuple[LeafCheck, ...]:
        return tuple(row for row in self.rows if not row.counted_ok)

    @property
    def verdict(self) -> str:
        if not self.ok:
            return "FAILED: " + ", ".join(row.path for row in self.failures)
        if any(row.status.startswith("straight-through") for row in self.rows):
            return "ok (straight-through by design where marked)"
        return "ok"

    def __str__(self) -> str:
        tol = self.tolerance
        head = [
            f"check_grads  {self.model}  ·  {self.loss}  ·  {self.dtype}",
            f"tolerances ({self.dtype}): manual vs autodiff rel ≤ {tol.agree_rtol:g} "
            f"(or abs ≤ {tol.agree_atol:g}); vs float64 finite differences "
            f"rel ≤ {tol.fd_rtol:g} of ‖grad‖ (plus the FD noise floor)",
        ]
        cols = ("leaf", "shape", "|man−auto|", "rel", "man vs FD", "auto vs FD", "status")
        table = [cols] + [
            (
                r.path,
                str(r.shape),
                f"{r.agree_abs:.2e}",
                f"{r.agree_rel:.2e}",
                "—" if np.isnan(r.manual_fd) else f"{r.manual_fd:.2e}",
                "—" if np.isnan(r.autodiff_fd) else f"{r.autodiff_fd:.2e}",
                r.status,
            )
            for r in self.rows
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in table]
        return "\n".join(head + lines + list(self.notes) + [f"verdict: {self.verdict}"])


# --------------------------------------------------------------------------------------------


def _leaf_name(path) -> str:
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
    return "".join(parts).lstrip(".") or "params"


def _grad_dtype(params, x) -> str:
    """The lowest float precision among params (and x): tolerances follow the weakest link."""
    dtypes = [
        jnp.asarray(leaf).dtype
        for leaf in jax.tree.leaves((params, x))
        if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.floating)
    ]
    if not dtypes:
        return "float32"
    return str(min(dtypes, key=lambda d: jnp.finfo(d).bits))


def _is_float(a) -> bool:
    return jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating)


def _to64(tree):
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64) if _is_float(a) else a, tree)


def _directional_differences(objective, params, x, n_directions, seed):
    """Per leaf of ``(params, x)``: ``[(v, fd)]``, central differences along unit directions.

    Runs in float64, with ``objective(params, x)`` compiled once and re-evaluated at
    ``leaf ± h·v``. Also returns ``|f|``, which sets the differences' rounding noise.
    """
    rng = np.random.default_rng(seed)
    with jax.enable_x64(True):
        f = jax.jit(objective)
        leaves, treedef = jax.tree.flatten((_to64(params), _to64(x)))
        f0 = abs(float(f(*jax.tree.unflatten(treedef, leaves))))
        per_leaf = []
        for i, leaf in enumerate(leaves):
            if not _is_float(leaf) or leaf.size == 0:
                per_leaf.append(None)
                continue
            h = 1e-6 * max(1.0, float(jnp.max(jnp.abs(leaf))))

            def shifted(sign, v, i=i, leaf=leaf, h=h):
                moved = list(leaves)
                moved[i] = leaf + sign * h * jnp.asarray(v)
                return float(f(*jax.tree.unflatten(treedef, moved)))

            pairs = []
            for _ in range(n_directions):
                v = rng.standard_normal(leaf.shape)
                v /= np.linalg.norm(v)
                pairs.append((v, (shifted(+1, v) - shifted(-1, v)) / (2 * h), h))
            per_leaf.append(pairs)
    return per_leaf, f0


def _finite_difference_errors(differences, f0, grads, fd_rtol):
    """Per leaf: max relative error of ⟨grad, v⟩ against the central differences.

    Relative error is ``|⟨g,v⟩ − fd| / (‖g‖ + floor)``; the floor is the difference's
    rounding noise, ``~ eps·|f| / h``, divided by ``fd_rtol``, so that ``error ≤ fd_rtol`` means
    ``|⟨g,v⟩ − fd| ≤ fd_rtol·‖g‖ + noise`` and a gradient that is tiny (or exactly 0) next to
    ``|f|`` compares fairly instead of failing on rounding noise.
    """
    eps = float(np.finfo(np.float64).eps)
    errors = []
    # ``grads`` is a flat list (params leaves, then dx or None for an integer x).
    for pairs, grad in zip(differences, grads, strict=True):
        if grad is None or pairs is None:
            errors.append(np.nan)
            continue
        g = np.asarray(grad, np.float64)
        if g.shape != pairs[0][0].shape:  # a wrongly shaped hand-written gradient: FAIL
            errors.append(np.inf)
            continue
        worst = 0.0
        for v, fd, h in pairs:
            floor = 100 * eps * max(1.0, f0) / h / fd_rtol
            worst = max(worst, abs(float(np.sum(g * v)) - fd) / (np.linalg.norm(g) + floor))
        errors.append(worst)
    return errors


def check_grads(
    model: Layer,
    loss: Loss,
    params: Any,
    x,
    target,
    *,
    reg: Regularizer | None = None,
    finite_differences: bool = True,
    n_directions: int = 3,
    seed: int = 0,
) -> GradReport:
    """Compare the hand-written gradient with ``jax.grad`` and float64 finite differences.

    Returns a `GradReport` with one row per params leaf (named by path, e.g. ``[2].w``) and
    one for the input ``x`` when it is floating point. ``report.ok`` is True when every counted
    comparison is within the tolerance for the gradients' dtype (`TOLERANCES`).
    """
    x = jnp.asarray(x)
    has_dx = _is_float(x)

    def objective(p, xx):
        value = loss.value(model.apply(p, xx), target)
        return value if reg is None else value + reg.value(p)

    # Each path compiled as one program: op-by-op dispatch would compile every primitive.
    _, manual_dp, manual_dx, _ = jax.jit(manual_parts(model, loss, reg=reg))(params, x, target)
    argnums = (0, 1) if has_dx else 0
    auto = jax.jit(jax.grad(objective, argnums=argnums))(params, x)
    auto_dp, auto_dx = auto if has_dx else (auto, None)

    if jax.tree.structure(manual_dp) != jax.tree.structure(params):
        raise TypeError(
            f"check_grads: {model.name}.vjp returned grads with structure "
            f"{jax.tree.structure(manual_dp)}, expected the params' {jax.tree.structure(params)}"
        )

    dtype = _grad_dtype(params, x)
    tol = TOLERANCES.get(dtype, TOLERANCES["float32"])
    names = [_leaf_name(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)]
    manual = jax.tree.leaves(manual_dp) + [manual_dx if has_dx else None]
    autod = jax.tree.leaves(auto_dp) + [auto_dx]
    leaves = jax.tree.leaves(params) + [x]
    names.append("input")

    nan = [np.nan] * len(leaves)
    man_fd, auto_fd = nan, nan
    if finite_differences:
        differences, f0 = _directional_differences(objective, params, x, n_directions, seed)
        man_fd = _finite_difference_errors(differences, f0, manual, tol.fd_rtol)
        auto_fd = _finite_difference_errors(differences, f0, autod, tol.fd_rtol)

    kinks = {}
    if model.kinks is not None:
        kinks = {k: int(v) for k, v in model.kinks(params, x).items() if int(v) > 0}
    notes = []
    if model.surrogate:
        notes.append(f"note: {model.surrogate}: its vjp is deliberately not d(apply).")
    if kinks:
        where = ", ".join(f"{k}: {n}" for k, n in kinks.items())
        notes.append(f"note: non-differentiable points ({where}); finite differences not counted.")

    paths = [p for p, _ in jax.tree_util.tree_leaves_with_path(params)]
    surrogates = {j for j, layer in enumerate(model.sublayers) if layer.surrogate}
    behind = [_upstream_of(model, p, surrogates, bool(model.surrogate)) for p in paths]
    at_kink = [_upstream_of(model, p, _kink_layers(kinks), bool(kinks)) for p in paths]
    rows = []
    behind.append(bool(model.surrogate))  # the input row: any flagged layer is downstream
    at_kink.append(bool(kinks))
    columns = (names, leaves, manual, autod, man_fd, auto_fd, behind, at_kink)
    for name, leaf, m, a, mf, af, surrogate, kink in zip(*columns, strict=True):
        if a is None or m is None:
            continue
        m64, a64 = np.asarray(m, np.float64), np.asarray(a, np.float64)
        if m64.shape != a64.shape:  # never broadcast a wrongly shaped gradient into a comparison
            status = f"FAIL: manual gradient has shape {m64.shape}, expected {a64.shape}"
            rows.append(LeafCheck(name, tuple(np.shape(leaf)), np.inf, np.inf, mf, af, status))
            continue
        agree_abs = float(np.max(np.abs(m64 - a64), initial=0.0))
        scale = float(np.max(np.abs(a64), initial=0.0))
        agree_rel = agree_abs / scale if scale > 0 else (0.0 if agree_abs == 0 else np.inf)
        status = _status(agree_abs, agree_rel, mf, af, tol, surrogate, kink)
        rows.append(LeafCheck(name, tuple(np.shape(leaf)), agree_abs, agree_rel, mf, af, status))
    return GradReport(tuple(rows), dtype, tol, model.name, loss.name, tuple(notes))


def _upstream_of(model: Layer, path, flagged: set[int], anywhere: bool) -> bool:
    """Does this params leaf's gradient flow back through a flagged layer of a ``serial``?

    The gradient of layer ``i``'s params passes through layers ``i, i+1, ...`` only, so a
    ``Step`` (a surrogate vjp) or a ReLU input at 0 (a kink) excuses the leaves before it and
    none after it. Without that structure, ``anywhere`` decides for every leaf.
    """
    first = path[0] if path else None
    if not model.sublayers or not isinstance(first, jax.tree_util.SequenceKey):
        return anywhere
    return any(j >= first.idx for j in flagged)


def _kink_layers(kinks: dict) -> set[int]:
    """Serial positions named by `serial`'s kink labels, ``"[i] ..."``."""
    found = (re.match(r"\[(\d+)\]", label) for label in kinks)
    return {int(m.group(1)) for m in found if m}


def _status(agree_abs, agree_rel, man_fd, auto_fd, tol, surrogate, at_kink) -> str:
    agrees = agree_abs <= tol.agree_atol or agree_rel <= tol.agree_rtol
    man_fd_ok = np.isnan(man_fd) or man_fd <= tol.fd_rtol
    auto_fd_ok = np.isnan(auto_fd) or auto_fd <= tol.fd_rtol
    if surrogate and not (agrees and man_fd_ok):
        return "straight-through by design"
    problems = []
    if not agrees:
        problems.append("manual ≠ autodiff")
    if not at_kink:
        if not man_fd_ok:
            problems.append("manual ≠ FD")
        if not auto_fd_ok:
            problems.append("autodiff ≠ FD")
    if problems:
        return "FAIL: " + ", ".join(problems)
    if at_kink and not (man_fd_ok and auto_fd_ok):
        return "kink: FD not counted"
    return "ok"
