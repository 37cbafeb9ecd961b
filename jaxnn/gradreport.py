"""What the gradient checkers return: a `GradReport` of `LeafCheck` rows, and the hints in it.

`check_grads` (a model and a loss) and `check_vjp` (any JAX function with a custom rule) both
compare, per leaf, a *hand-written* gradient with ``jax.vjp`` through the plain math
("autodiff") and with float64 finite differences ("FD"). A failing row says what to look at:
the ratio of hand-written to reference (×2 "a factor of 2?", ×−1 "a sign?", 0 "a missing
term?"), the worst entry, and whether the forward or the backward is wrong.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Tolerance(NamedTuple):
    """Pass when ``abs_err <= atol`` or ``rel_err <= rtol``."""

    agree_rtol: float  # manual vs autodiff, relative to the leaf's largest |autodiff| entry
    agree_atol: float
    fd_rtol: float  # gradient vs finite difference, relative to the leaf's largest entry


TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(agree_rtol=1e-9, agree_atol=1e-13, fd_rtol=1e-6),
    # float32 carries ~7 digits; two different summation orders agree to ~1e-6 relative.
    "float32": Tolerance(agree_rtol=1e-4, agree_atol=1e-6, fd_rtol=2e-3),
    "float16": Tolerance(agree_rtol=3e-2, agree_atol=1e-3, fd_rtol=5e-2),
    "bfloat16": Tolerance(agree_rtol=3e-2, agree_atol=1e-3, fd_rtol=5e-2),
}


class LeafCheck(NamedTuple):
    """One row of the report: a params leaf, the input, or an argument of a checked function.

    ``manual_fd``/``autodiff_fd`` are the largest relative errors against float64 finite
    differences over the entries that count (NaN: not run). ``hint`` says what to look at when
    the row fails (ratio, worst entry, forward or backward); ``worst`` is the index of the
    entry where hand-written and reference differ most.
    """

    path: str
    shape: tuple[int, ...]
    agree_abs: float  # max |manual − autodiff| (inf when a gradient is NaN or misshaped)
    agree_rel: float  # agree_abs / max |autodiff|
    manual_fd: float
    autodiff_fd: float
    status: str  # "ok", "FAIL: …", "straight-through by design", "not differentiable here …"
    hint: str = ""
    worst: tuple[int, ...] | None = None

    @property
    def counted_ok(self) -> bool:
        return not self.status.startswith("FAIL")


class LayerCheck(NamedTuple):
    """One layer checked on its own: its ``vjp`` against ``jax.vjp`` of its ``apply``.

    ``part`` is ``"forward"`` (the ``y`` its vjp returns), ``"dx"`` or a params leaf; ``status``
    is ``"ok"``, ``"surrogate"`` or ``"FAIL: …"`` with a hint.
    """

    path: str
    name: str
    part: str
    status: str


class GradReport(NamedTuple):
    """The checker's verdict. ``str(report)`` is a table a person can read at a glance.

    ``suspects`` names where a disagreement enters (a layer, the loss, the regularizer, the
    custom rule under ``jit``/``vmap``); ``notes`` explain what was not counted and why.
    """

    rows: tuple[LeafCheck, ...]
    dtype: str
    tolerance: Tolerance
    model: str
    loss: str
    notes: tuple[str, ...]
    suspects: tuple[str, ...] = ()
    layers: tuple[LayerCheck, ...] = ()
    title: str = "check_grads"

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
        if any(row.status.startswith("not differentiable") for row in self.rows):
            return "ok (finite differences not counted where not differentiable)"
        return "ok"

    def __str__(self) -> str:
        tol = self.tolerance
        head = [
            f"{self.title}  {self.model}  ·  {self.loss}  ·  {self.dtype}",
            f"tolerances ({self.dtype}): manual vs autodiff rel ≤ {tol.agree_rtol:g} "
            f"(or abs ≤ {tol.agree_atol:g}); vs float64 finite differences "
            f"rel ≤ {tol.fd_rtol:g} of the leaf's largest entry (plus the FD noise floor)",
        ]
        cols = ("leaf", "shape", "|man−auto|", "rel", "man vs FD", "auto vs FD", "status")
        table = [cols] + [
            (
                r.path,
                str(r.shape),
                _num(r.agree_abs),
                _num(r.agree_rel),
                _num(r.manual_fd, missing="—"),
                _num(r.autodiff_fd, missing="—"),
                r.status,
            )
            for r in self.rows
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            for row in table
        ]
        hints = [f"  {r.path}: {r.hint}" for r in self.rows if r.hint and not r.counted_ok]
        if hints:
            hints.insert(0, "what to look at:")
        suspects = [f"suspect: {s}" for s in self.suspects]
        tail = [f"verdict: {self.verdict}"]
        return "\n".join(head + lines + hints + suspects + list(self.notes) + tail)


def _num(value: float, missing: str = "nan") -> str:
    """A table cell; NaN shows as ``missing`` for not-run columns, never as 0."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return missing
    return f"{value:.2e}"


# --------------------------------------------------------------------------------------------
# Hints
# --------------------------------------------------------------------------------------------

_NAMED_RATIOS = (
    (2.0, "a factor of 2?"),
    (0.5, "a factor of 1/2?"),
    (-1.0, "a sign?"),
    (-2.0, "a sign and a factor of 2?"),
    (-0.5, "a sign and a factor of 1/2?"),
)


def ratio_hint(hand: np.ndarray, ref: np.ndarray, batch: int | None = None) -> str:
    """What the hand-written gradient looks like next to the reference: a ratio or a pattern.

    ``hand ≈ r · ref`` with a clean least-squares fit gives ``×r`` and a guess (a factor of 2,
    a sign, ``1/batch``: a mean instead of a sum); ``hand ≈ 0`` is "a missing term?"; NaN
    is named as such. Shapes must match.
    """
    hand, ref = np.asarray(hand, np.float64).ravel(), np.asarray(ref, np.float64).ravel()
    if np.isnan(hand).any():
        return "the hand-written gradient has NaN entries"
    if np.isinf(hand).any():
        return "the hand-written gradient has infinite entries"
    ref_norm = float(np.linalg.norm(ref))
    hand_norm = float(np.linalg.norm(hand))
    if ref_norm == 0.0:
        return "the reference is 0 here: the hand-written gradient should be 0"
    if hand_norm <= 1e-6 * ref_norm:
        return "0: a missing term?"
    r = float(hand @ ref) / ref_norm**2
    residual = float(np.linalg.norm(hand - r * ref)) / hand_norm
    if residual > 1e-3:
        return f"not proportional to the reference (best fit ×{r:.3f})"
    guesses = list(_NAMED_RATIOS)
    if batch and batch > 1:
        guesses += [(1.0 / batch, f"1/{batch}: a mean where a sum belongs?")]
        guesses += [(float(batch), f"{batch}: a sum where a mean belongs?")]
    for value, guess in guesses:
        if abs(r - value) <= 1e-3 * abs(value):
            return f"×{r:.3f}: {guess}"
    return f"×{r:.3f}: a constant factor?"


def worst_entry(hand: np.ndarray, ref: np.ndarray) -> tuple[int, ...]:
    """Index of the entry where hand and ref differ most (NaN counts as the worst)."""
    diff = np.abs(np.asarray(hand, np.float64) - np.asarray(ref, np.float64))
    diff = np.where(np.isnan(diff), np.inf, diff)
    if diff.size == 0:
        return ()
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape))


def agreement(hand, ref, tol: Tolerance) -> tuple[float, float, bool]:
    """``(max |hand − ref|, that / max |ref|, within tolerance)``; NaN never agrees."""
    hand, ref = np.asarray(hand, np.float64), np.asarray(ref, np.float64)
    if hand.shape != ref.shape or np.isnan(hand).any() or np.isnan(ref).any():
        return np.inf, np.inf, False
    if hand.size == 0:
        return 0.0, 0.0, True
    diff = float(np.max(np.abs(hand - ref)))
    scale = float(np.max(np.abs(ref)))
    rel = diff / scale if scale > 0 else (0.0 if diff == 0 else np.inf)
    if not np.isfinite(diff):
        return np.inf, np.inf, False
    return diff, rel, bool(diff <= tol.agree_atol or rel <= tol.agree_rtol)


def elementwise_agree(hand, ref, tol: Tolerance) -> np.ndarray:
    """Per entry: does the hand-written value match the reference within the leaf tolerance?"""
    hand, ref = np.asarray(hand, np.float64), np.asarray(ref, np.float64)
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    return np.abs(hand - ref) <= max(tol.agree_atol, tol.agree_rtol * scale)


def format_index(index) -> str:
    return "(" + ", ".join(str(i) for i in index) + ("," if len(index) == 1 else "") + ")"
