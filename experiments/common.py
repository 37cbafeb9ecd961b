"""Small helpers the declarations share: tutorial inits, dtype casts, NumPy-style printing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.spec import Config
from jaxnn import init as jinit
from jaxnn.layers import Layer


def template(model: Layer, input_shape: tuple[int, ...]) -> Any:
    """Params of the right shapes (values unused): what `jaxnn.init.tutorial` fills in.

    Only shapes are computed (``jax.eval_shape``): no random draws, nothing compiled.
    """
    return jax.eval_shape(lambda: model.init(jax.random.key(0), tuple(input_shape))[1])


def tutorial_init(model: Layer, input_shape, seed: int, draw: str) -> Callable[[Config], Any]:
    """``cfg -> params`` as the tutorial draws them: ``np.random.seed(seed)``, then ``draw``."""
    return lambda cfg: jinit.tutorial(template(model, input_shape), seed, draw, dtype=cfg.jdtype)


def key_init(model: Layer, input_shape, seed: int) -> Callable[[Config], Any]:
    """``cfg -> params`` from the model's own (JAX) initializers, cast to the run's dtype."""
    init = jax.jit(model.init, static_argnums=1)  # one compile instead of one per op
    return lambda cfg: cast(cfg, init(jax.random.key(seed), tuple(input_shape))[1])


def cast(cfg: Config, tree):
    """Floating leaves to the run's dtype (integer leaves, e.g. labels, untouched)."""

    def one(a):
        a = jnp.asarray(a)
        return a.astype(cfg.jdtype) if jnp.issubdtype(a.dtype, jnp.floating) else a

    return jax.tree.map(one, tree)


def data(fn, *args, **kwargs) -> Callable[[Config], tuple]:
    """``cfg -> (x, target)`` from a `jaxnn.datasets` function, in the run's dtype."""
    return lambda cfg: cast(cfg, fn(*args, **kwargs))


def np_str(a) -> str:
    """How NumPy prints an array (what the tutorials show)."""
    return str(np.asarray(a))


def counts(correct: int, wrong: int) -> str:
    """``collections.Counter(...).most_common()`` form: ``[('correct', 77), ('wrong', 23)]``."""
    pairs = [(k, int(v)) for k, v in (("correct", correct), ("wrong", wrong)) if v]
    pairs.sort(key=lambda kv: -kv[1])  # most common first; ties keep insertion order
    return repr(pairs)


def tail(loss, accuracy=None, *, fraction: float = 0.1) -> dict:
    """How a run ends: the range of its logged objective (and accuracy) over the last
    ``fraction`` of the logged points, and whether it is still moving.

    ``unstable``: the objective spans more than 1 % of its value there and climbs back by
    more than 1 % in total (an oscillating or spiking run, whose last value is a snapshot; a
    run still falling steadily is not unstable); ``period2``: it alternates up and down on
    every logged step (a period-2 cycle, visible only when every step is logged).
    """
    loss = np.asarray(loss, np.float64)
    n = max(4, int(len(loss) * fraction))
    last = loss[-n:]
    lo, hi = float(np.nanmin(last)), float(np.nanmax(last))
    moves = np.diff(last)
    climbs = float(np.sum(np.clip(moves, 0, None)))
    steps = np.sign(moves)
    out = {
        "lo": lo,
        "hi": hi,
        "points": n,
        "unstable": bool(hi - lo > 0.01 * abs(lo) and climbs > 0.01 * abs(lo))
        if np.isfinite(hi)
        else True,
        "period2": bool(len(steps) > 2 and np.all(steps[1:] * steps[:-1] < 0)),
    }
    if accuracy is not None:
        acc = np.asarray(accuracy)[-n:]
        out["acc_lo"], out["acc_hi"] = float(acc.min()), float(acc.max())
    return out


def explain_paths(ctx, result, *, adam: bool = False) -> None:
    """If this part's manual and autodiff runs ended apart, say why, from its own history.

    The two paths compute the same math, summed in a different order, so they differ in the
    last bits. Gradient descent at the edge of stability (loss spikes) amplifies such
    differences; Adam divides by a running gradient RMS, which turns rounding-level
    gradients (dead or saturated units) into steps of up to the learning rate. Which of these
    the run shows is read from its logged objective.
    """
    if len(result.by_path) < 2 or not ctx.backprop:
        return
    row = ctx.backprop[-1]
    if row.get("paths_apart_from") is None:
        return
    loss = np.asarray(result.by_path["manual"][1]["loss"], np.float64)
    steps = np.asarray(result.by_path["manual"][1]["step"])
    ensemble = loss.ndim == 2
    if ensemble:
        loss, steps = loss.reshape(-1, loss.shape[-1]), steps.reshape(-1, steps.shape[-1])[0]
    else:
        loss = loss[None]
    jumps = (loss[:, 1:] > 1.2 * loss[:, :-1]) & (np.arange(1, loss.shape[1]) > loss.shape[1] // 20)
    spikes = sorted({int(steps[1:][j]) for j in np.flatnonzero(jumps.any(axis=0))})
    finals = [
        float(np.asarray(h["loss"], np.float64).reshape(-1)[-1]) for _, h in result.by_path.values()
    ]
    why = []
    if spikes:
        shown = ", ".join(map(str, spikes[:5])) + (" …" if len(spikes) > 5 else "")
        why.append(
            f"the objective spikes (jumps up by more than 20 % between logged steps at update "
            f"{shown}): the step size is at the edge of stability, and each spike amplifies the "
            "last-bit differences between the two paths' floating-point sums"
        )
    if adam:
        why.append(
            "Adam divides each step by the gradient's running RMS, so where a gradient is "
            "nearly zero (a dead ReLU unit) rounding-level differences between the paths "
            "become steps of up to the learning rate"
        )
    if not why:
        why.append("the run amplifies the last-bit differences between the two paths' sums")
    ends = (
        ""
        if ensemble
        else f" The last logged objectives are {finals[0]:.6g} (manual) and {finals[1]:.6g} "
        "(autodiff)."
    )
    checked = (
        " `check_grads` at the initial params agrees."
        if str(row.get("check_grads", "")).startswith("ok")
        else ""
    )
    ctx.explain(
        "the two paths compute the same math in a different order; " + "; ".join(why) + "."
        + ends + checked
    )  # fmt: skip
