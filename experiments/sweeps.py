"""Beyond the tutorials: Britz's learning rate ε swept as ONE program.

The 2-3-2 moons net from its tutorial init, copied once per learning rate, trained by
``fit_ensemble`` with ``optax.inject_hyperparams(optax.sgd)`` and
``hyperparams={"learning_rate": lrs}``: one compiled program, the rates are data.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.common import tail, tutorial_init
from experiments.moons import REG_LAMBDA, N, loss, moons, network
from experiments.spec import Ensemble, Experiment
from jaxnn import losses, plot

LRS = np.logspace(-4, -0.5, 15)
STEPS = 5_000


def stacked_init(cfg):
    one = tutorial_init(network, (2,), 0, "randn_fan_in")(cfg)
    return jax.tree.map(lambda a: jnp.broadcast_to(a, (len(LRS), *a.shape)), one)


def status(first_nonfinite: int, start: float, final: float, ending: dict) -> str:
    """How one learning rate's run went: diverged, unstable or converging.

    A run *diverged* when its objective became non-finite or ended above where it started
    (training made it worse); NaN is only the extreme case.
    """
    if first_nonfinite >= 0:
        return f"diverged (non-finite from step {first_nonfinite})"
    if final > start:
        return f"diverged (ended above its start {start:.6f})"
    if ending["unstable"] or ending["period2"]:
        return f"unstable (objective/N between {ending['lo']:.6f} and {ending['hi']:.6f})"
    return "converging"


def show(result, ctx):
    curves = np.asarray(result.history["loss"]) / N
    start, final = curves[:, 0], curves[:, -1]
    nonfinite = np.asarray(result.history["first_nonfinite_step"])
    statuses = [
        status(int(b), float(s0), float(f), tail(c))
        for b, s0, f, c in zip(nonfinite, start, final, curves, strict=True)
    ]
    diverged = np.array([s.startswith("diverged") for s in statuses])
    ctx.print(
        f"learning rate -> objective/N after {result.steps} steps (it starts at {start[0]:.6f})"
    )
    for lr, f, s in zip(LRS, final, statuses, strict=True):
        ctx.print(f"  {lr:.2e} -> {f:.6f}  {s}")
    best = int(np.nanargmin(np.where(diverged, np.nan, final)))
    ctx.compare(
        f"best learning rate of {len(LRS)} (objective/N after {result.steps} steps)",
        f"{LRS[best]:.3g} ({final[best]:.6f})",
        "0.01 (the tutorial's ε)",
    )
    ctx.compare(
        f"learning rates that diverged (objective non-finite, or above its start {start[0]:.6f})",
        int(diverged.sum()),
        key="diverged_count",
    )
    ctx.compare("learning rates whose objective became non-finite", int(np.sum(nonfinite >= 0)))
    ctx.record("learning_rates", LRS)
    ctx.record("start_loss", start)
    ctx.record("final_loss", final)
    ctx.record("status", statuses)
    ctx.record("diverged", diverged)
    if diverged.any():
        ctx.note(
            f"Rates from {LRS[diverged].min():.3g} up diverge: their objective ends above its "
            f"starting value {start[0]:.6f} (or becomes non-finite), so training made the "
            "net worse; they are counted as diverged even where the numbers stay finite."
        )
    _explain_paths(result, ctx, statuses)
    ax = plot.loss_curve(
        {"loss": final, "step": LRS}, label="objective / N after training", logy=True, marker="o"
    )
    ax.axhline(start[0], color="0.4", ls="--", lw=1, label="objective / N at the start")
    if diverged.any():
        ax.scatter(LRS[diverged], final[diverged], color="#D55E00", zorder=3, label="diverged")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate ε")
    ax.set_ylabel("objective / N (summed cross-entropy + l2, per example)")
    ax.axvline(0.01, color="k", ls=":", label="tutorial's ε = 0.01")
    ax.set_title(f"Moons 2-3-2: objective after {result.steps} steps vs learning rate")
    plot.legend_outside(ax.figure)
    ctx.figure(ax.figure, "learning_rate", "Learning-rate sweep (one vmapped program)")


def _explain_paths(result, ctx, statuses) -> None:
    """Say which members' manual and autodiff runs end apart, and why."""
    diffs = result.member_path_diffs()
    if diffs is None or not np.any(diffs > 1e-6):
        return
    apart = diffs > 1e-6
    moving = np.array([not s.startswith("converging") for s in statuses])
    calm = diffs[~apart]
    ctx.explain(
        f"the {int(apart.sum())} members that end apart are ε ≥ {LRS[apart].min():.3g}"
        + (
            ", all of them unstable or diverging"
            if np.all(moving[apart])
            else f" ({int(np.sum(apart & ~moving))} of them converging)"
        )
        + ". There gradient descent amplifies the last-bit differences between the two "
        "paths' floating-point sums (the same math, summed in a different order) exponentially, "
        "so the two runs follow different trajectories; |Δ objective| is in summed units "
        "(200 × the per-example numbers) and comes from the diverging members. "
        + (f"The other members agree to {calm.max():.1g}." if calm.size else "")
    )


EXPERIMENT = Experiment(
    name="sweeps",
    title="Learning-rate sweep as one vmapped program",
    source="beyond the tutorials",
    notes=f"Moons 2-3-2 from the tutorial init, {len(LRS)} learning rates "
    f"{LRS[0]:.0e}…{LRS[-1]:.2g} (log-spaced), {STEPS} steps each, summed cross-entropy + "
    "l2(0.01). (The hidden-size sweep, also one program, is part of `moons`.)",
    parts=(
        Ensemble(
            name="learning_rate_sweep",
            data=moons,
            model=network,
            loss=loss,
            optimizer=optax.inject_hyperparams(optax.sgd)(learning_rate=0.01),
            params=stacked_init,
            steps=STEPS,
            reg=losses.l2(REG_LAMBDA),
            log_every=10,
            hyperparams=lambda cfg: {"learning_rate": jnp.asarray(LRS, cfg.jdtype)},
            show=show,
        ),
    ),
)
