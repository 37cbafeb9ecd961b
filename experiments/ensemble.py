"""Beyond the tutorials: XOR from ``--seeds`` random inits (default 1 000) in ONE `fit_ensemble`.

2-2-1 sigmoid nets with biases, Glorot-normal init from ``split(key(0), N)``, ``half_sse``,
``optax.sgd(2.0)``, 3 000 full-batch steps. XOR has bad local minima, so some nets get stuck.
After training, a net has *converged* when every output is within 0.1 of its target, is
*stuck* when some output is on the wrong side of 0.5, and *diverged* if its objective became
non-finite. Throughput is networks × steps / wall time (compile included).
"""

from __future__ import annotations

import jax
import numpy as np
import optax

from experiments.common import cast, data
from experiments.spec import Ensemble, Experiment
from jaxnn import datasets, losses, mlp, plot
from jaxnn.train import init_ensemble

CONVERGED, STEPS, LR = 0.1, 3_000, 2.0

model = mlp([2, 2, 1], activation="sigmoid", output_activation="sigmoid")
_init = jax.jit(init_ensemble, static_argnums=(0, 2, 3))


def show(result, ctx):
    out = np.asarray(jax.jit(jax.vmap(model.apply, (0, None)))(result.params, result.x))
    err = np.max(np.abs(out - np.asarray(result.target)), axis=(1, 2))
    diverged = np.asarray(result.history["first_nonfinite_step"]) >= 0
    n = len(err)
    converged = int(np.sum((err < CONVERGED) & ~diverged))
    stuck = int(np.sum((err >= 0.5) & ~diverged))
    between = n - converged - stuck - int(diverged.sum())
    rate = n * result.steps / result.wall_s
    ctx.print(
        f"XOR, {n} random 2-2-1 nets × {result.steps} steps in one fit_ensemble: "
        f"{converged} converged (max |err| < {CONVERGED}), {stuck} stuck (an output on "
        f"the wrong side), {between} in between, {int(diverged.sum())} diverged; "
        f"{result.wall_s:.2f} s, {rate:,.0f} network-steps/s"
    )
    for label, value in (
        ("networks", n),
        ("converged (max |err| < 0.1)", converged),
        ("stuck (an output on the wrong side of 0.5)", stuck),
        ("in between", between),
        ("diverged", int(diverged.sum())),
    ):
        ctx.compare(f"XOR ensemble: {label}", value)
    ctx.compare("XOR ensemble: wall time (compile included)", f"{result.wall_s:.2f} s")
    ctx.compare("XOR ensemble: network-steps per second", f"{rate:,.0f}")
    ctx.record(
        "counts",
        {
            "networks": n,
            "converged": converged,
            "stuck": stuck,
            "between": between,
            "diverged": int(diverged.sum()),
        },
    )
    ctx.record("wall_s", result.wall_s)
    ctx.record("network_steps_per_s", rate)
    ctx.record("max_abs_error", err)

    ax = plot.error_histogram(
        err,
        thresholds={f"converged < {CONVERGED}": CONVERGED, "stuck ≥ 0.5": 0.5},
        title=f"XOR from {n} random inits: {converged} converged, {stuck} stuck",
    )
    fig = ax.figure
    ctx.figure(fig, "xor_convergence", "XOR ensemble: final max error of every net")

    loss, step = np.asarray(result.history["loss"]), np.asarray(result.history["step"])
    ax = None
    for name, members in (
        (f"converged ({converged})", (err < CONVERGED) & ~diverged),
        (f"stuck ({stuck})", (err >= 0.5) & ~diverged),
    ):
        if members.any():
            ax = plot.loss_curve(
                {"loss": loss[members], "step": step}, ax, label=name, logy=True,
                ylabel="objective (half SSE over the 4 examples)",
            )  # fmt: skip
    if ax is not None:
        ax.set_title(f"XOR: {n} nets' objective during training, median and 10–90 % band")
        plot.legend_outside(ax.figure)
        ctx.figure(
            ax.figure,
            "xor_loss",
            "XOR ensemble: the objective of the converged and the stuck nets as training goes "
            "on (median line, 10–90 % of the nets shaded)",
        )


EXPERIMENT = Experiment(
    name="ensemble",
    title="XOR from many random inits, trained as one program",
    source="beyond the tutorials",
    notes=f"{model.name}, `losses.half_sse`, `optax.sgd({LR})`, {STEPS} steps, "
    "`init_ensemble(model, key(0), --seeds, (2,))`, one `fit_ensemble`.",
    parts=(
        Ensemble(
            name="xor_seeds",
            data=data(datasets.xor),
            model=model,
            loss=losses.half_sse,
            optimizer=optax.sgd(LR),
            params=lambda cfg: cast(cfg, _init(model, jax.random.key(0), cfg.seeds, (2,))),
            steps=STEPS,
            log_every=10,
            show=show,
        ),
    ),
)
