"""Denny Britz's five exercises, each beside the full-batch baseline, with held-out accuracy.

Britz's post ends by asking the reader to (1) use minibatch gradient descent, (2) anneal the
learning rate, (3) try other hidden activations, (4) go to three classes, (5) go to four
layers. Every moons part trains on the tutorial's own 200 points and is scored on 200 new
points from the same distribution (`jaxnn.datasets.make_moons`, noise 0.2) that no part
trains on; `fit(..., validation=)` logs the held-out objective beside the training one.

The exercises use the per-example form of Britz's objective, mean cross-entropy +
``l2(0.01 / 200)`` with ``sgd(2.0)``: on the full batch that is exactly his update
(``ε = 0.01`` on the summed loss is ``2.0 = 0.01 × 200`` on the mean), and a minibatch's mean
is an unbiased estimate of it. The width × activation grid is ONE vmapped program: every net
is padded to the widest (`experiments.masked.Mask`) and picks its activation with a constant
one-hot selector (`experiments.masked.Choice`).
"""

from __future__ import annotations

import jax
import numpy as np
import optax

from experiments.common import cast, explain_paths, key_init, tutorial_init
from experiments.masked import Choice, Mask, one_hot_choice, pad_hidden
from experiments.moons import moons
from experiments.spec import Ensemble, Experiment, Train
from jaxnn import Dense, datasets, losses, mlp, plot, serial

N = 200
LR, STEPS, LOG = 2.0, 3_000, 10
BATCH = 20
WIDTHS = (3, 5, 10, 25)
ACTIVATIONS = ("tanh", "sigmoid", "relu", "leaky_relu")

loss = losses.softmax_cross_entropy()
reg = losses.l2(0.01 / N)
baseline = mlp([2, 3, 2], activation="tanh")
four_layers = mlp([2, 6, 6, 2], activation="tanh")
grid_model = serial(Dense(max(WIDTHS)), Choice(ACTIVATIONS), Mask(), Dense(2))
spiral_net = mlp([2, 20, 3], activation="tanh")


def held_out(cfg):
    """200 new moons (noise 0.2, as Britz's), never trained on."""
    x, y = datasets.make_moons(jax.random.key(1), N, 0.2)
    return cast(cfg, x), y


def spiral_split(cfg):
    """``((x_train, y_train), (x_held, y_held))``: 300 spiral points, a third held out."""
    x, y = datasets.spirals(jax.random.key(0), 300, 3)
    (xt, yt), (xh, yh) = datasets.split(jax.random.key(1), cast(cfg, x), y, 1 / 3)
    return (xt, yt), (xh, yh)


def accuracy(result, params=None, data=None) -> float:
    """Share of examples whose argmax output is their label."""
    x, y = data if data is not None else (result.x, result.target)
    params = result.params if params is None else params
    return float(np.mean(np.argmax(np.asarray(result.apply(params, x)), -1) == np.asarray(y)))


def _scores(result) -> tuple[float, float]:
    return accuracy(result), accuracy(result, data=result.validation)


def show_moons(label: str, what: str):
    """The show of one moons part: its accuracies beside the baseline's, kept for the figures."""

    def show(result, ctx):
        train, held = _scores(result)
        runs = ctx.shared.setdefault("moons", {})
        base = runs.get("baseline", (None, (train, held)))[1]
        runs[label] = (result, (train, held))
        explain_paths(ctx, result)
        final = float(result.history["loss"][-1])
        ctx.print(
            f"{label}: {what}; held-out accuracy {held:.3f}, training {train:.3f}, "
            f"objective/N {final:.4f} after {result.steps} updates"
        )
        ctx.compare(
            f"{label} ({what}): held-out accuracy (training)",
            f"{held:.3f} ({train:.3f})",
            None if label == "baseline" else f"baseline {base[1]:.3f} ({base[0]:.3f})",
            key=f"{label}_accuracy",
            value={"held_out": held, "train": train},
        )

    return show


def show_four_layers(result, ctx):
    show_moons("four_layers", "2-6-6-2 tanh")(result, ctx)
    runs = ctx.shared["moons"]
    predicts = {
        f"{name}: held-out {scores[1]:.3f}": r.predict() for name, (r, scores) in runs.items()
    }
    first = next(iter(runs.values()))[0]
    fig = plot.decision_boundary_grid(predicts, first.x, first.target, ncols=4, size=3.0)
    ctx.figure(
        fig,
        "boundaries",
        "Britz's exercises on the tutorial's 200 moons: decision boundaries of the full-batch "
        "baseline, minibatches of 20, an annealed learning rate and a four-layer net",
        wide=True,
    )
    fig, axes = plot.figure(1, len(runs), size=(3.4, 3.0), sharey=True, squeeze=False)
    for ax, (name, (r, _)) in zip(axes[0], runs.items(), strict=True):
        for key, style in (("loss", "-"), ("val_loss", "--")):
            plot.loss_curve(
                r.history, ax, key=key, logy=True, ls=style, color="#0072B2" if style == "-"
                else "#D55E00", label="training" if key == "loss" else "held-out",
                xlabel="update", ylabel="objective / N",
            )  # fmt: skip
        ax.set_title(name)
    plot.legend_outside(fig)
    ctx.figure(
        fig,
        "loss_curves",
        "Training and held-out objective per example (cross-entropy + l2) during training",
        wide=True,
    )


def grid_init(cfg):
    """Every (width, activation) net: Britz's init for that width, padded, one-hot activation."""
    members = []
    for h in WIDTHS:
        narrow = tutorial_init(mlp([2, h, 2], activation="tanh"), (2,), 0, "randn_fan_in")(cfg)
        padded = pad_hidden(narrow, max(WIDTHS))
        members += [one_hot_choice(padded, k, len(ACTIVATIONS)) for k in range(len(ACTIVATIONS))]
    return cast(cfg, jax.tree.map(lambda *a: np.stack(a), *members))


def show_grid(result, ctx):
    explain_paths(ctx, result)
    x_val, y_val = result.validation
    logits = jax.jit(jax.vmap(result.model.apply, (0, None)))(result.params, x_val)
    held = np.mean(np.argmax(np.asarray(logits), -1) == np.asarray(y_val), axis=1)
    held = held.reshape(len(WIDTHS), len(ACTIVATIONS))
    ctx.print("held-out accuracy, width × activation (one vmapped program):")
    ctx.print("width " + " ".join(f"{a:>10s}" for a in ACTIVATIONS))
    for h, row in zip(WIDTHS, held, strict=True):
        ctx.print(f"{h:5d} " + " ".join(f"{v:10.3f}" for v in row))
        for a, v in zip(ACTIVATIONS, row, strict=True):
            ctx.compare(f"width {h}, {a}: held-out accuracy", f"{v:.3f}")
    ctx.record("grid_widths", list(WIDTHS))
    ctx.record("grid_activations", list(ACTIVATIONS))
    ctx.record("grid_held_out_accuracy", held)
    predicts = {
        f"{a}, width {h}": result.predict(result.member(i * len(ACTIVATIONS) + k))
        for i, h in enumerate(WIDTHS)
        for k, a in enumerate(ACTIVATIONS)
    }
    fig = plot.decision_boundary_grid(
        predicts, result.x, result.target, ncols=len(ACTIVATIONS), size=2.6, resolution=80
    )
    ctx.figure(
        fig,
        "width_activation",
        f"Width × activation: {len(predicts)} nets trained as one vmapped program "
        f"({result.steps} full-batch updates each); rows are widths, columns activations",
        wide=True,
    )


def show_spiral(result, ctx):
    explain_paths(ctx, result)
    train, held = _scores(result)
    ctx.print(f"three-arm spiral: held-out accuracy {held:.3f}, training {train:.3f}")
    ctx.compare(
        "three-class spiral (2-20-3 tanh): held-out accuracy (training)",
        f"{held:.3f} ({train:.3f})",
        key="spiral_accuracy",
        value={"held_out": held, "train": train},
    )
    fig, (left, right) = plot.figure(1, 2, size=(4.2, 3.8), squeeze=True)
    plot.decision_boundary(
        result.predict(), result.x, result.target, left, title="3-arm spiral: 2-20-3 tanh",
        resolution=120, legend=False,
    )  # fmt: skip
    for key, color, name in (("loss", "#0072B2", "training"), ("val_loss", "#D55E00", "held-out")):
        plot.loss_curve(
            result.history, right, key=key, color=color, label=name, logy=True,
            xlabel="update", ylabel="objective / N",
        )  # fmt: skip
    right.set_title("objective during training")
    plot.legend_outside(fig)
    ctx.figure(
        fig, "spiral", "Exercise 4, three classes: a three-arm spiral (held-out third unseen)"
    )


def _spiral_data(which: int):
    return lambda cfg: spiral_split(cfg)[which]


MOONS = dict(
    data=moons, loss=loss, reg=reg, steps=STEPS, log_every=LOG, validation=held_out
)  # fmt: skip
BRITZ_INIT = tutorial_init(baseline, (2,), 0, "randn_fan_in")

EXPERIMENT = Experiment(
    name="britz-exercises",
    title="Britz's exercises: minibatches, annealing, activations, three classes, four layers",
    source="Denny Britz, “Implementing a Neural Network from Scratch in Python – An "
    "Introduction”, its closing exercises",
    url="https://github.com/dennybritz/nn-from-scratch",
    notes=f"Training set: the tutorial's 200 moons; held-out set: 200 new moons (noise 0.2). "
    f"Mean cross-entropy + l2(0.01/200), i.e. Britz's objective per example; {STEPS} updates "
    f"each. Baseline: his 2-3-2 tanh net and init, full batch, sgd({LR}) (= his ε = 0.01 on the "
    f"summed loss). Exercises: (1) shuffled minibatches of {BATCH}; (2) the learning rate "
    f"annealed exponentially from {LR} to {LR / 100:g} (`optax.exponential_decay`); (3) widths "
    f"{', '.join(map(str, WIDTHS))} × activations {', '.join(ACTIVATIONS)} as one vmapped "
    "program; (4) a three-arm spiral (`datasets.spirals`, 300 points, a third held out), "
    "2-20-3 tanh, sgd(1.0), l2(1e-3); (5) four layers, 2-6-6-2 tanh (Glorot init, seed 0), "
    f"sgd({LR / 2:g}) (at {LR:g} the deeper net oscillates).",
    parts=(
        Train(
            name="baseline",
            model=baseline,
            optimizer=optax.sgd(LR),
            params=BRITZ_INIT,
            show=show_moons("baseline", "full batch, 2-3-2 tanh"),
            **MOONS,
        ),
        Train(
            name="minibatch",
            model=baseline,
            optimizer=optax.sgd(LR),
            params=BRITZ_INIT,
            batch_size=BATCH,
            seed=1,
            show=show_moons("minibatch", f"shuffled batches of {BATCH}"),
            **MOONS,
        ),
        Train(
            name="annealing",
            model=baseline,
            optimizer=optax.sgd(optax.exponential_decay(LR, STEPS, 0.01)),
            params=BRITZ_INIT,
            show=show_moons("annealing", f"ε from {LR} to {LR / 100:g}"),
            **MOONS,
        ),
        Train(
            name="four_layers",
            model=four_layers,
            optimizer=optax.sgd(LR / 2),  # at 2.0 the deeper net oscillates
            params=key_init(four_layers, (2,), 0),
            show=show_four_layers,
            **MOONS,
        ),
        Ensemble(
            name="width_activation",
            model=grid_model,
            optimizer=optax.sgd(LR),
            params=grid_init,
            show=show_grid,
            long=False,
            **MOONS,
        ),
        Train(
            name="spiral",
            data=_spiral_data(0),
            model=spiral_net,
            loss=loss,
            optimizer=optax.sgd(1.0),
            params=key_init(spiral_net, (2,), 0),
            steps=STEPS,
            reg=losses.l2(1e-3),
            log_every=LOG,
            validation=_spiral_data(1),
            show=show_spiral,
        ),
    ),
)
