"""Denny Britz, moons: logistic regression cannot fit them; a 2-h-2 tanh/softmax net can.

The tutorial's gradient is of the *summed* cross-entropy plus ``reg/2·(‖W1‖²+‖W2‖²)`` (biases not
regularised), i.e. ``softmax_cross_entropy("sum")`` + ``losses.l2(0.01)`` with ``optax.sgd(0.01)``.
It prints, after update ``i`` (``i % 1000 == 0``), that objective divided by N: the objective
logged *before* update ``i + 1``, ``history["loss"][i + 1] / N``.

The hidden-size figure (1, 2, 3, 4, 5, 20, 50) comes from ONE vmapped program: every net is
padded to 50 hidden units with the extra ones masked (`experiments.masked`), each member keeping
its own tutorial init (``np.random.seed(0)``, ``randn/√fan_in``). The padded program does 350
hidden units' work where the separate nets would do 85, so the sweep runs 5 000 passes (the
boundaries have settled by then) rather than 20 000.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.common import cast, key_init, tail, tutorial_init
from experiments.masked import Mask, pad_hidden
from experiments.spec import Ensemble, Experiment, Train
from jaxnn import Dense, Tanh, datasets, losses, mlp, plot, serial

N = 200
EPSILON, REG_LAMBDA, PASSES = 0.01, 0.01, 20_000
SWEEP_PASSES = 5_000  # the boundaries have settled by then; keeps the default run short
HIDDEN = (1, 2, 3, 4, 5, 20, 50)
# The 2-3-2 run keeps its params before these updates for the "boundary as it trains" frames;
# equal segments (one compiled program) up to 2 000 passes, where the boundary has formed.
PROBES = tuple(range(0, 2_001, 100))
FRAMES = (0, 100, 200, 300, 500, 1_000, 2_000)
FIRST, AFTER_1001 = "0.432387", "0.068947"
PAIR = ("0.070758", "0.071316")

loss = losses.softmax_cross_entropy("sum")
reg = losses.l2(REG_LAMBDA)
logistic = mlp([2, 2])
network = mlp([2, 3, 2], activation="tanh")
padded = serial(Dense(max(HIDDEN)), Tanh(), Mask(), Dense(2))


def moons(cfg):
    x, y = datasets.britz_moons()
    return cast(cfg, jnp.asarray(x)), jnp.asarray(y)


def show_logistic(result, ctx):
    acc = float(result.history["accuracy"][-1])
    ctx.print(f"Logistic regression: training accuracy {acc:.3f} (it cannot fit the moons)")
    ctx.compare(
        "logistic regression training accuracy", f"{acc:.3f}", key="logistic_accuracy", value=acc
    )
    ax = plot.decision_boundary(
        result.predict(), result.x, result.target, title="Logistic Regression"
    )
    ctx.figure(ax.figure, "logistic_regression", "Britz: logistic regression decision boundary")


def show_network(result, ctx):
    per_example = np.asarray(result.history["loss"]) / N
    printed = {}
    for i in range(0, result.steps, ctx.cfg.steps(1000)):
        if i + 1 < len(per_example):
            printed[i] = float(per_example[i + 1])
            ctx.print(f"Loss after iteration {i}: {printed[i]:f}")
    ctx.record("printed_loss", printed)
    first, second = f"{per_example[1]:.6f}", f"{per_example[min(1001, len(per_example) - 1)]:.6f}"
    ctx.compare(
        "loss printed after the first update (i = 0)",
        first,
        FIRST,
        ctx.exact(first == FIRST),
        key="loss_after_1",
        value=float(per_example[1]),
    )
    ctx.compare(
        "loss printed after 1 001 updates (i = 1000)",
        second,
        AFTER_1001,
        ctx.exact(second == AFTER_1001),
        key="loss_after_1001",
        value=float(per_example[min(1001, len(per_example) - 1)]),
    )
    pair = tuple(sorted(f"{v:.6f}" for v in per_example[-2:]))
    ctx.compare(
        "period-2 oscillation at the end (pair, sorted)",
        " / ".join(pair),
        " / ".join(PAIR),
        ctx.exact(pair == PAIR),
        key="oscillation_pair",
        value=sorted(float(v) for v in per_example[-2:]),
    )
    ctx.record("final_accuracy", float(result.history["accuracy"][-1]))
    if len(result.by_path) == 2:
        ctx.explain(
            "ε = 0.01 on the summed loss puts this run at the edge of stability: around pass "
            "1 200 it goes through an episode of loss spikes that amplifies the last-bit "
            "differences between the two paths' floating-point sums (the same math, summed in "
            "a different order); both then settle into the same period-2 cycle, so their params "
            "end close again. The tutorial's values before the episode and the cycle's pair "
            "after it are reproduced on both paths."
        )
    ax = plot.decision_boundary(
        result.predict(), result.x, result.target, title="Decision Boundary for hidden layer size 3"
    )
    ctx.figure(ax.figure, "hidden_3", "Britz: the 2-3-2 network's decision boundary")
    wanted = {ctx.cfg.steps(s) for s in FRAMES}
    frames = {
        f"after {s} passes": result.predict(p)
        for s, p in sorted(result.probes.items())
        if s in wanted
    }
    frames[f"after {result.steps} passes"] = result.predict()
    ctx.figure(
        plot.boundary_frames(frames, result.x, result.target, ncols=4),
        "hidden_3_training",
        "Britz 2-3-2: the decision boundary as training goes on (params before the given "
        "pass; one row of the same run)",
        wide=True,
    )
    ctx.animation(
        frames, result.x, result.target, "hidden_3_training",
        "The same frames, animated",
    )  # fmt: skip
    dense, act = result.model.sublayers[:2]
    params = result.params
    units = jax.jit(lambda g: act.apply(params[1], dense.apply(params[0], g)))
    fig = plot.unit_maps(
        lambda g: np.asarray(units(jnp.asarray(g))),
        result.x,
        result.target,
        output=result.predict(),
        label="tanh(w·x + b)",
        title="What each hidden unit of the trained 2-3-2 net computes",
    )
    ctx.figure(
        fig,
        "hidden_3_units",
        "Britz 2-3-2, TensorFlow-Playground style: each hidden unit's tanh(w·x + b) over the "
        "plane (green > 0, purple < 0), and the output's decision boundary that the output "
        "layer builds from them",
        wide=True,
    )


def sweep_init(cfg):
    """Each width's own tutorial init, padded to the widest and stacked on a member axis."""
    members = [
        pad_hidden(
            tutorial_init(mlp([2, h, 2], activation="tanh"), (2,), 0, "randn_fan_in")(cfg),
            max(HIDDEN),
        )
        for h in HIDDEN
    ]
    return cast(cfg, jax.tree.map(lambda *a: np.stack(a), *members))


def _ending(t: dict) -> str:
    """A few words on how a run ends, from `experiments.common.tail`."""
    if t["period2"]:
        return (
            f"period-2 oscillation between {t['lo']:.6f} and {t['hi']:.6f} (accuracy "
            f"{t['acc_lo']:.3f}–{t['acc_hi']:.3f}): ε = 0.01 is too large for it to settle"
        )
    if t["unstable"]:
        return (
            f"unstable: over the last {t['points']} passes the objective/N jumps between "
            f"{t['lo']:.3f} and {t['hi']:.3f} and the accuracy between {t['acc_lo']:.3f} and "
            f"{t['acc_hi']:.3f}, so its final numbers are a snapshot"
        )
    return "settled"


def show_sweep(result, ctx):
    losses_ = np.asarray(result.history["loss"]) / N
    accs = np.asarray(result.history["accuracy"])
    final, acc = losses_[:, -1], accs[:, -1]
    endings = [tail(l, a) for l, a in zip(losses_, accs, strict=True)]
    for h, f, a, t in zip(HIDDEN, final, acc, endings, strict=True):
        ctx.print(
            f"Hidden Layer size {h}: loss {f:.6f}, accuracy {a:.3f} after {result.steps} passes"
            + ("" if _ending(t) == "settled" else f" ({_ending(t)})")
        )
        ctx.compare(
            f"hidden size {h}: final objective/N, accuracy; how the run ends",
            f"{f:.6f}, {a:.3f}; {_ending(t)}",
        )
    ctx.record("sweep_endings", endings)
    moving = [h for h, t in zip(HIDDEN, endings, strict=True) if t["unstable"] or t["period2"]]
    if moving:
        ctx.note(
            "The tutorial's ε = 0.01 on the summed loss is too large for hidden sizes "
            + ", ".join(map(str, moving))
            + ": those runs never settle (the jaxnn column says how each ends), so a final "
            "number is a snapshot of where the run happens to be — which is why hidden size 2 "
            "can score below size 1. Their decision boundaries below are snapshots too."
        )
    diffs = result.member_path_diffs()
    if diffs is not None and np.any(diffs > 1e-6):
        apart = [h for h, d in zip(HIDDEN, diffs, strict=True) if d > 1e-6]
        agree = [d for d in diffs if d <= 1e-6]
        ctx.explain(
            f"the members that end apart are hidden sizes {', '.join(map(str, apart))}. At "
            "ε = 0.01 the small nets are unstable (see how each run ends, above) and such a run "
            "amplifies the last-bit differences between the two paths' floating-point sums "
            "exponentially, so the two runs of the same math drift onto different points of "
            "the same oscillation; a large |Δ objective| is that drift (the objective here is "
            "the summed loss, 200 × the printed one). "
            + (
                f"The other members agree to {max(agree):.1g}."
                if agree
                else "No member agrees beyond rounding."
            )
        )
    ctx.record("sweep_hidden", list(HIDDEN))
    ctx.record("sweep_final_loss", final)
    ctx.record("sweep_accuracy", acc)
    predicts = {
        f"Hidden Layer size {h}": result.predict(result.member(i)) for i, h in enumerate(HIDDEN)
    }
    fig = plot.decision_boundary_grid(predicts, result.x, result.target, ncols=4)
    ctx.figure(
        fig,
        "hidden_sizes",
        "Britz: decision boundaries for hidden sizes "
        + ", ".join(map(str, HIDDEN))
        + " (one vmapped, masked program)",
    )


EXPERIMENT = Experiment(
    name="moons",
    title="Neural network from scratch on the moons (logistic regression, 2-h-2 tanh/softmax)",
    source="Denny Britz, “Implementing a Neural Network from Scratch in Python – An "
    "Introduction” (WildML, and its notebook)",
    url="https://github.com/dennybritz/nn-from-scratch",
    notes="float64; data `jaxnn.datasets.britz_moons()` (the tutorial's exact 200 points); "
    "W1 = randn(2,h)/√2, W2 = randn(h,2)/√h after `np.random.seed(0)`; summed cross-entropy + "
    "l2(0.01), `optax.sgd(0.01)`, 20 000 passes. The printed loss at iteration i is "
    "history['loss'][i + 1] / N (the tutorial prints after update i). Logistic regression: a "
    "linear softmax model (`mlp([2, 2])`, mean cross-entropy, sgd 1.0, 2 000 steps) instead of "
    "scikit-learn's LogisticRegressionCV. The hidden-size sweep runs 5 000 passes. "
    "With ε = 0.01 on the summed loss the 2-3-2 run sits at the edge of stability: around "
    "pass 1 200 it goes through an episode of loss spikes, which amplifies last-bit "
    "differences, so the manual and autodiff runs (and a padded sweep member) part there and "
    "meet again in the same period-2 cycle; the tutorial's two printed values before that, "
    "and the cycle's pair after it, are reproduced.",
    parts=(
        Train(
            name="logistic_regression",
            data=moons,
            model=logistic,
            loss=losses.softmax_cross_entropy(),
            optimizer=optax.sgd(1.0),
            params=key_init(logistic, (2,), 0),
            steps=2_000,
            show=show_logistic,
        ),
        Train(
            name="hidden_3",
            data=moons,
            model=network,
            loss=loss,
            optimizer=optax.sgd(EPSILON),
            params=tutorial_init(network, (2,), 0, "randn_fan_in"),
            steps=PASSES,
            reg=reg,
            probes=PROBES,
            show=show_network,
            long=True,
        ),
        Ensemble(
            name="hidden_size_sweep",
            data=moons,
            model=padded,
            loss=loss,
            optimizer=optax.sgd(EPSILON),
            params=sweep_init,
            steps=SWEEP_PASSES,
            reg=reg,
            log_every=1,  # every pass: a period-2 oscillation shows only then
            show=show_sweep,
        ),
    ),
)
