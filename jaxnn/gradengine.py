"""The comparison both gradient checkers run: hand-written vs autodiff vs float64 FD, per leaf.

A checked problem is a scalar ``objective(args, aux)`` of a pytree ``args`` (params and input,
or a function's arguments) and a *hand-written* gradient of it. `program` builds ONE traceable
function that computes, for the floating-point leaves of ``args``:

* the hand-written gradient and ``jax.grad`` of the objective, in the caller's dtypes;
* ``jax.grad`` again in float64, and finite differences of the float64 objective at
  ``±h`` and ``±2h`` along single entries (all of them for small leaves, a sample otherwise)
  and along a few random unit directions per leaf.

The checkers jit it once per problem and shapes (no op-by-op dispatch, no compile per finite
difference). `fd_verdict` then reads the five-point stencils on the host: where the two step
sizes or the two one-sided differences disagree, the objective is not smooth at that scale
(a kink, a clamp, rounding at saturation) and the entry is *not counted* instead of failing;
where the stencil is smooth, the gradient must match it.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.gradreport import (
    LeafCheck,
    Tolerance,
    agreement,
    elementwise_agree,
    format_index,
    ratio_hint,
    worst_entry,
)

EPS64 = float(np.finfo(np.float64).eps)
STEPS = ("-H", -2, -1, 1, 2, "H")  # the stencil's offsets, in units of h (H: coarse)


def is_float(a) -> bool:
    return hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating)


def to64(tree):
    """Floating leaves cast to float64 (call inside ``jax.enable_x64``); others unchanged."""
    return jax.tree.map(lambda a: a.astype(jnp.float64) if is_float(a) else a, tree)


class FDPlan(NamedTuple):
    """Where finite differences are taken, as arrays (so a new plan never recompiles).

    ``coords``: flat indices into the concatenated float leaves, with their six offsets
    ``coord_steps`` (``−H, −2h, −h, h, 2h, H``); ``dirs``: dense unit directions (zero outside
    one leaf) with theirs, ``dir_steps``. ``h`` is the difference step; ``H`` a coarse one that
    tells rounding at ``h`` from a wrong gradient.
    """

    coords: np.ndarray
    coord_steps: np.ndarray
    dirs: np.ndarray
    dir_steps: np.ndarray


def make_plan(float_leaves, *, max_entries: int, n_directions: int, seed: int):
    """Every entry of every float leaf when there are at most ``max_entries``, else a sample
    (at least 8 per leaf), plus ``n_directions`` random unit directions per sampled leaf.

    Returns ``(plan, dir_leaf)``: the `FDPlan` and, per direction, the leaf it moves.
    """
    rng = np.random.default_rng(seed)
    values = [np.asarray(leaf, np.float64).ravel() for leaf in float_leaves]
    sizes = [v.size for v in values]
    total = sum(sizes)
    offsets = np.cumsum([0] + sizes)
    coords, dirs, dir_scale, dir_leaf = [], [], [], []
    for k, v in enumerate(values):
        if v.size == 0:
            continue
        take = v.size
        if total > max_entries:
            take = max(min(v.size, 8), v.size * max_entries // total)
        local = np.arange(v.size) if take >= v.size else np.sort(rng.choice(v.size, take, False))
        coords.append(offsets[k] + local)
        # Directions add coverage only where single entries are sampled.
        for _ in range(n_directions if take < v.size else 0):
            d = np.zeros(total)
            d[offsets[k] : offsets[k + 1]] = rng.standard_normal(v.size)
            d /= np.linalg.norm(d)
            dirs.append(d)
            dir_scale.append(np.max(np.abs(v)))
            dir_leaf.append(k)
    flat = np.concatenate(values) if values else np.zeros(0)
    coords = np.concatenate(coords) if coords else np.zeros(0, np.int64)
    plan = FDPlan(
        coords.astype(np.int32),
        _steps(np.abs(flat[coords])),
        np.asarray(dirs, np.float64).reshape(len(dirs), total),
        _steps(np.asarray(dir_scale, np.float64)),
    )
    return plan, np.asarray(dir_leaf, np.int64)


def empty_plan(float_leaves) -> tuple[FDPlan, np.ndarray]:
    """No finite differences at all."""
    total = sum(int(np.size(leaf)) for leaf in float_leaves)
    steps = np.zeros((0, len(STEPS)))
    plan = FDPlan(np.zeros(0, np.int32), steps, np.zeros((0, total)), steps)
    return plan, np.zeros(0, np.int64)


def leaf_stencils(plan: FDPlan, dir_leaf, sizes, coord_vals, dir_vals):
    """Per float leaf: the keyword arguments of `fd_verdict` for that leaf's stencils."""
    offsets = np.cumsum([0] + list(sizes))
    coord_vals, dir_vals = np.asarray(coord_vals), np.asarray(dir_vals)
    out = []
    for k in range(len(sizes)):
        lo, hi = offsets[k], offsets[k + 1]
        mine = (plan.coords >= lo) & (plan.coords < hi)
        dmine = dir_leaf == k
        out.append(
            {
                "local": (plan.coords[mine] - lo).astype(np.int64),
                "coord_steps": plan.coord_steps[mine],
                "coord_vals": coord_vals[mine],
                "dirs": plan.dirs[dmine][:, lo:hi],
                "dir_steps": plan.dir_steps[dmine],
                "dir_vals": dir_vals[dmine],
            }
        )
    return out


def _steps(magnitude):
    """Offsets ``(−H, −2h, −h, h, 2h, H)`` per entry: ``h = 1e-6 · max(1, |value|)`` and
    ``H = 0.05 · max(1, |value|)``, rounded to powers of two so ``θ ± h`` moves by exactly h."""
    size = np.maximum(1.0, np.asarray(magnitude, np.float64))
    h = 2.0 ** np.round(np.log2(1e-6 * size))
    big = 2.0 ** np.round(np.log2(0.05 * size))
    return np.stack([-big, -2 * h, -h, h, 2 * h, big], axis=-1).reshape(-1, len(STEPS))


# --------------------------------------------------------------------------------------------
# The traced program
# --------------------------------------------------------------------------------------------


def split_float(args):
    """``(float_leaves, rebuild)``: ``rebuild(new_float_leaves)`` is ``args`` with them put back."""
    leaves, treedef = jax.tree.flatten(args)
    mask = [is_float(leaf) for leaf in leaves]

    def rebuild(new):
        it = iter(new)
        return jax.tree.unflatten(
            treedef, [next(it) if m else a for a, m in zip(leaves, mask, strict=True)]
        )

    return [leaf for leaf, m in zip(leaves, mask, strict=True) if m], rebuild


def program(objective, hand, extras=None):
    """``run(args, aux, plan) -> dict``: everything the checker compares, in one trace.

    ``objective(args, aux) -> scalar``; ``hand(args, aux) -> list`` of the hand-written
    gradient per float leaf of ``args`` (any shape: a misshaped one is reported, not broadcast);
    ``extras(args, aux) -> pytree`` of anything else the checker wants from the same program
    (per-layer checks, kink masks). Trace under ``jax.enable_x64(True)``.
    """

    def run(args, aux, plan: FDPlan):
        fl, rebuild = split_float(args)
        # extras first: the per-layer walk names a malformed vjp before the whole chain trips.
        out = {"extras": None if extras is None else extras(args, aux)}
        out["hand"] = hand(args, aux)
        out["auto"] = jax.grad(lambda f: objective(rebuild(f), aux))(fl)
        fl64, aux64 = to64(fl), to64(aux)

        def objective64(f):
            return jnp.asarray(objective(rebuild(f), aux64), jnp.float64)

        out["f0"], out["auto64"] = jax.value_and_grad(objective64)(fl64)
        out["fd_coords"], out["fd_dirs"] = _stencils(objective64, fl64, plan)
        return out

    return run


def _stencils(objective64, fl64, plan: FDPlan):
    """Objective at ``θ + offset·e`` for the six offsets of each entry and direction."""
    shapes = [leaf.shape for leaf in fl64]
    sizes = [int(np.prod(s)) for s in shapes]
    theta = jnp.concatenate([leaf.ravel() for leaf in fl64]) if fl64 else jnp.zeros(0)

    def unflat(t):
        parts = jnp.split(t, np.cumsum(sizes)[:-1]) if sizes else []
        return [p.reshape(s) for p, s in zip(parts, shapes, strict=True)]

    def at_coord(item):
        i, steps = item
        return jax.vmap(lambda s: objective64(unflat(theta.at[i].add(s))))(steps)

    def along(item):
        d, steps = item
        return jax.vmap(lambda s: objective64(unflat(theta + s * d)))(steps)

    width = len(STEPS)
    coords = jnp.zeros((0, width))
    if plan.coords.shape[0]:
        coords = jax.lax.map(at_coord, (plan.coords, plan.coord_steps), batch_size=64)
    dirs = jnp.zeros((0, width))
    if plan.dirs.shape[0]:
        dirs = jax.lax.map(along, (plan.dirs, plan.dir_steps), batch_size=16)
    return coords, dirs


# --------------------------------------------------------------------------------------------
# Reading the stencils
# --------------------------------------------------------------------------------------------


class FDResult(NamedTuple):
    """One gradient leaf against finite differences.

    ``rel``: the largest counted error relative to ``scale + noise/fd_rtol`` (≤ fd_rtol
    passes; NaN when nothing was compared); ``failing``: flat indices of counted entries out
    of tolerance (−1 stands for a direction); ``kinks``/``unresolved``: flat indices of
    entries where the objective is not smooth at the step (a kink) or does not resolve
    (saturation, rounding, outside the loss's domain), not counted.
    """

    rel: float
    failing: np.ndarray
    kinks: np.ndarray
    unresolved: np.ndarray
    fd: np.ndarray  # the central difference per sampled entry (NaN where not counted)
    local: np.ndarray  # the sampled entries' flat indices


def fd_verdict(grad, *, local, coord_steps, coord_vals, dirs, dir_steps, dir_vals, f0, ref, tol):
    """Compare one leaf's gradient (float64, the leaf's shape) with its stencils.

    Errors are relative to the reference gradient ``ref``: its largest entry for single
    entries, its 2-norm for unit directions (``|⟨g, v⟩| ≤ ‖g‖``).
    """
    ref = np.asarray(ref, np.float64).ravel()
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    g = np.asarray(grad, np.float64).ravel()
    noise_f = 100 * EPS64 * max(1.0, abs(f0))
    rows = []
    if local.size:
        rows.append((g[local], coord_steps, coord_vals, scale, local))
    if dirs.shape[0]:
        rows.append((dirs @ g, dir_steps, dir_vals, float(np.linalg.norm(ref)), None))
    rel, failing, kinks, unresolved = np.nan, [], [], []
    fd_out = np.full(local.size, np.nan)
    for gi, steps, vals, sc, idx in rows:
        r = _read_stencils(gi, steps, vals, f0, noise_f, sc, tol.fd_rtol)
        counted = ~(r["kink"] | r["unresolved"])
        if counted.any():
            worst = float(np.max(r["rel"][counted]))
            rel = worst if np.isnan(rel) else max(rel, worst)
        names = idx if idx is not None else np.full(gi.shape, -1)
        failing.extend(names[r["fail"]].tolist())
        kinks.extend(names[r["kink"]].tolist())
        unresolved.extend(names[r["unresolved"]].tolist())
        if idx is not None:
            fd_out = np.where(counted, r["central"], np.nan)
    return FDResult(rel, _ints(failing), _ints(kinks), _ints(unresolved), fd_out, local)


def _ints(values) -> np.ndarray:
    return np.asarray(sorted(set(values)), np.int64)


def _read_stencils(gi, steps, vals, f0, noise_f, scale, fd_rtol):
    """Per sampled entry: central difference, smoothness, and the verdict against ``gi``.

    Not counted (never failed): a *kink* — the one-sided slopes are steady across ``h`` and
    ``2h`` but differ from each other; *unresolved* — the objective is undefined nearby
    (NaN), does not move at all (saturated), its two step sizes disagree about as much as the
    gradient does (rounding), or a coarse step agrees with the gradient ten times better
    (rounding at ``h``: e.g. ``1 − σ(30)`` in float64 moves in steps of 1e-3 of itself).
    """
    vals = np.asarray(vals, np.float64).reshape(-1, len(STEPS))
    steps = np.asarray(steps, np.float64).reshape(-1, len(STEPS))
    h, big = steps[:, 3], steps[:, 5]
    fmH, fm2, fm1, fp1, fp2, fpH = vals.T
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        central = (fp1 - fm1) / (2 * h)
        central2 = (fp2 - fm2) / (4 * h)
        coarse = (fpH - fmH) / (2 * big)
        fwd1, bwd1 = (fp1 - f0) / h, (f0 - fm1) / h
        fwd2, bwd2 = (fp2 - f0) / (2 * h), (f0 - fm2) / (2 * h)
        noise = noise_f / h
        # Smooth f: both step sizes give the same slope, and the one-sided gap grows like h
        # (2·gap(h) = gap(2h)). A kink or rounding breaks one of the two.
        gap1, gap2 = fwd1 - bwd1, fwd2 - bwd2
        rough = np.maximum(np.abs(central - central2), np.abs(2 * gap1 - gap2) / 2)
        err = np.abs(gi - central)
        allow = fd_rtol * scale + noise
        ok = err <= allow
        finite = np.isfinite(vals[:, 1:5]).all(axis=1)
        flat = (fm2 == f0) & (fm1 == f0) & (fp1 == f0) & (fp2 == f0)
        steady = np.maximum(np.abs(fwd1 - fwd2), np.abs(bwd1 - bwd2)) < 0.25 * np.abs(gap1)
        kink = ~ok & finite & ~flat & (rough > noise) & steady & np.isfinite(gi)
        noisy = (rough > noise) & (err <= allow + 4 * rough)
        coarse_agrees = np.isfinite(coarse) & (np.abs(gi - coarse) <= np.maximum(allow, err / 10))
        unresolved = ~ok & ~kink & np.isfinite(gi) & (~finite | flat | noisy | coarse_agrees)
        rel = err / (scale + noise / fd_rtol)
    return {
        "central": central,
        "rel": np.where(np.isfinite(rel), rel, np.inf),
        "fail": ~ok & ~kink & ~unresolved,
        "kink": kink,
        "unresolved": unresolved,
    }


def tol_for(dtype: str) -> tuple[str, Tolerance]:
    from jaxnn.gradreport import TOLERANCES

    return dtype, TOLERANCES.get(dtype, TOLERANCES["float32"])


# --------------------------------------------------------------------------------------------
# One report row
# --------------------------------------------------------------------------------------------


def leaf_row(
    name: str,
    hand,
    auto,
    fd_hand: FDResult | None,
    fd_auto: FDResult | None,
    tol: Tolerance,
    *,
    surrogate: bool = False,
    declared_kink: bool = False,
    extra_problems: tuple[str, ...] = (),
    batch: int | None = None,
) -> LeafCheck:
    """A report row from the three gradients of one leaf.

    ``hand``: the hand-written gradient; ``auto``: ``jax.grad`` in the same dtype; ``fd_*``:
    each against float64 finite differences (``fd_auto`` is float64 autodiff's). A kink
    (``declared_kink``, or detected entry by entry) and rounding excuse only the FD columns,
    never manual ≠ autodiff; ``surrogate`` marks a leaf behind a deliberate non-derivative.
    """
    hand = np.asarray(hand, np.float64)
    auto = np.asarray(auto, np.float64)
    shape = tuple(auto.shape)
    nan = float("nan")
    if hand.shape != auto.shape:  # never broadcast a wrongly shaped gradient into a comparison
        status = f"FAIL: manual gradient has shape {hand.shape}, expected {auto.shape}"
        hint = "transposed?" if hand.shape == auto.shape[::-1] else "a wrong reduction axis?"
        return LeafCheck(name, shape, np.inf, np.inf, nan, nan, status, hint)
    agree_abs, agree_rel, agrees = agreement(hand, auto, tol)
    man_fd = nan if fd_hand is None else fd_hand.rel
    auto_fd = nan if fd_auto is None else fd_auto.rel
    auto_fd_fails = fd_auto is not None and fd_auto.failing.size > 0
    man_fd_fails = fd_hand is not None and _unexplained(fd_hand, fd_auto, hand, auto, tol)
    if surrogate and not (agrees and not man_fd_fails):
        return LeafCheck(name, shape, agree_abs, agree_rel, man_fd, auto_fd,
                         "straight-through by design")  # fmt: skip
    problems = []
    if not agrees:
        problems.append("manual ≠ autodiff")
    if not declared_kink:
        if man_fd_fails:
            problems.append("manual ≠ FD")
        if auto_fd_fails:
            problems.append("autodiff ≠ FD")
    problems.extend(extra_problems)
    if problems:
        hint, worst = _hint(hand, auto, fd_hand, fd_auto, agrees, auto_fd_fails, batch)
        excused = _excused_count(fd_hand, fd_auto)
        if excused and (man_fd_fails or auto_fd_fails):
            hint += (
                f" ({excused} entries at a kink or where FD does not resolve, e.g. saturation, "
                "were not counted)"
            )
        return LeafCheck(name, shape, agree_abs, agree_rel, man_fd, auto_fd,
                         "FAIL: " + ", ".join(problems), hint, worst)  # fmt: skip
    status = _excused_status(name, fd_hand, fd_auto, declared_kink, shape)
    return LeafCheck(name, shape, agree_abs, agree_rel, man_fd, auto_fd, status)


def _unexplained(fd_hand: FDResult, fd_auto: FDResult | None, hand, auto, tol) -> bool:
    """Does the hand-written gradient miss FD at an entry that autodiff does not explain?

    Where the hand-written value equals autodiff's (same dtype) and float64 autodiff matches
    FD there, the gap is the dtype's rounding (a float32 sigmoid saturates at 1 where float64
    does not), not a bug.
    """
    if fd_hand.failing.size == 0:
        return False
    if fd_auto is None or (fd_hand.failing < 0).any():
        return True
    same = elementwise_agree(hand, auto, tol).ravel()
    auto_bad = set(fd_auto.failing.tolist())
    return any(not same[i] or i in auto_bad for i in fd_hand.failing.tolist())


def _hint(hand, auto, fd_hand, fd_auto, agrees, auto_fd_fails, batch):
    """Ratio, worst entry, and which side is wrong, for a failing row."""
    if not agrees:
        worst = worst_entry(hand, auto)
        where = (
            f"worst entry {format_index(worst)}: manual {_g(hand[worst])} "
            f"vs autodiff {_g(auto[worst])}"
        )
        ratio = ratio_hint(hand, auto, batch)
        if auto_fd_fails:
            side = "apply's own derivative also disagrees with FD: the forward math is suspect"
        elif fd_auto is not None:
            side = "autodiff agrees with FD, so apply is right: the hand-written backward is wrong"
        else:
            side = "the hand-written backward differs from jax.vjp of apply"
        return f"{ratio}; {where}; {side}", worst
    if not auto_fd_fails:  # only a transform (jit/vmap) disagrees: its suspect line says how
        return "", None
    counted = ~np.isnan(fd_auto.fd) if fd_auto is not None else np.zeros(0, bool)
    if fd_auto is not None and counted.any():
        idx = fd_auto.local[counted]
        ratio = ratio_hint(auto.ravel()[idx], fd_auto.fd[counted], batch)
        first = [int(i) for i in fd_auto.failing if i >= 0][:1]
        worst = tuple(int(i) for i in np.unravel_index(first[0], auto.shape)) if first else None
        where = f"; first failing entry {format_index(worst)}" if worst is not None else ""
        return (
            f"{ratio}{where}; manual = autodiff, both ≠ FD: apply's own derivative is wrong "
            "(the forward math, e.g. a custom_jvp or a stop_gradient), not the backward"
        ), worst
    return "manual = autodiff, both ≠ FD along random directions: the forward math is suspect", None


def _excused_count(*results) -> int:
    found = set()
    for fd in results:
        if fd is not None:
            found |= {int(i) for i in np.concatenate([fd.kinks, fd.unresolved]) if i >= 0}
    return len(found)


def _excused_status(name, fd_hand, fd_auto, declared_kink, shape) -> str:
    """``ok``, or what was not counted and why (the FD columns only)."""
    kinks = set()
    unresolved = set()
    for fd in (fd_hand, fd_auto):
        if fd is not None:
            kinks |= {int(i) for i in fd.kinks if i >= 0}
            unresolved |= {int(i) for i in fd.unresolved if i >= 0}
    fd_off = any(fd is not None and fd.failing.size for fd in (fd_hand, fd_auto))
    if declared_kink and fd_off:
        return "not differentiable here (declared kink downstream): FD not counted"
    if kinks:
        where = _entries(kinks, shape)
        return f"not differentiable here (kink at entry {where}): FD not counted there"
    if unresolved:
        return (
            f"ok (FD does not resolve entry {_entries(unresolved, shape)}: saturation or "
            "rounding; not counted there)"
        )
    if fd_hand is not None and fd_hand.failing.size:
        return "ok (float32 rounding: manual = autodiff, float64 autodiff = FD)"
    return "ok"


def _entries(flat: set[int], shape, limit: int = 3) -> str:
    items = sorted(flat)
    shown = [format_index(np.unravel_index(i, shape)) if shape else "()" for i in items[:limit]]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(shown) + more


def _g(value) -> str:
    return f"{float(value):.4g}"
