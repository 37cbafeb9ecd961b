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

from experiments.common import tutorial_init
from experiments.moons import REG_LAMBDA, N, loss, moons, network
from experiments.spec import Ensemble, Experiment
from jaxnn import losses, plot

LRS = np.logspace(-4, -0.5, 15)
STEPS = 5_000


def stacked_init(cfg):
    one = tutorial_init(network, (2,), 0, "randn_fan_in")(cfg)
    return jax.tree.map(lambda a: jnp.broadcast_to(a, (len(LRS), *a.shape)), one)


def show(result, ctx):
    final = np.asarray(result.history["loss"])[:, -1] / N
    diverged = np.asarray(result.history["first_nonfinite_step"]) >= 0
    ctx.print("learning rate -> objective/N after", result.steps, "steps")
    for lr, f, d in zip(LRS, final, diverged, strict=True):
        ctx.print(f"  {lr:.2e} -> {'diverged' if d else f'{f:.6f}'}")
    best = int(np.nanargmin(np.where(diverged, np.nan, final)))
    ctx.compare(
        f"best learning rate of {len(LRS)} (objective/N after {result.steps} steps)",
        f"{LRS[best]:.3g} ({final[best]:.6f})",
        "0.01 (the tutorial's ε)",
    )
    ctx.compare("learning rates that diverged", int(diverged.sum()))
    ctx.record("learning_rates", LRS)
    ctx.record("final_loss", final)
    ctx.record("diverged", diverged)
    ax = plot.loss_curve({"loss": final, "step": LRS}, label="objective / N", logy=True)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate ε")
    ax.axvline(0.01, color="k", ls=":", label="tutorial's ε = 0.01")
    ax.set_title(f"Moons 2-3-2: loss after {result.steps} steps vs learning rate")
    ax.legend()
    ctx.figure(ax.figure, "learning_rate", "Learning-rate sweep (one vmapped program)")


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
            log_every=50,
            hyperparams=lambda cfg: {"learning_rate": jnp.asarray(LRS, cfg.jdtype)},
            show=show,
        ),
    ),
)
