"""Bernd Klein's perceptron: fixed-weight gates, line separation, clusters, bias, XOR.

Everything trains with `jaxnn.perceptron.train` (the online, in-order rule as one jitted scan).
The tutorial draws its data and weights unseeded, so the counts are reported beside its own,
not matched. Its trained perceptrons fire at ``w·x ≥ 0``; jaxnn's at ``> 0`` (they differ only
when a sum is exactly 0).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from experiments.common import cast, counts
from experiments.spec import Experiment
from jaxnn import Dense, Step, datasets, perceptron, plot, serial

SEED = 0
MORE_PASSES = 50


def _key(i: int):
    return jax.random.fold_in(jax.random.key(SEED), i)


def gates(ctx):
    for name, expected in (("and", "0 0 0 1"), ("or", "0 1 1 1")):
        weights, threshold = perceptron.GATES[name]
        inputs, outputs = perceptron.truth_table(perceptron.fixed_gate(weights), threshold)
        ctx.print(f"{name.upper()} (weights {list(weights)}, fires when the sum > {threshold}):")
        for x, y in zip(np.asarray(inputs), np.asarray(outputs), strict=True):
            ctx.print(x, int(y))
        table = " ".join(str(int(y)) for y in np.asarray(outputs))
        ctx.compare(
            f"{name.upper()} truth table outputs",
            table,
            expected,
            table == expected,
            key=f"{name}_table",
            value=[int(y) for y in np.asarray(outputs)],
        )


def _boundary_figure(ctx, x, y, panels, suffix, caption, true_line=None):
    """Points coloured by class, each panel's learned line (and the true one), via jaxnn.plot."""
    predicts = {title: (lambda g, p=p: np.asarray(perceptron.predict(p, g))) for title, p in panels}
    fig = plot.decision_boundary_grid(
        predicts, np.asarray(x), np.asarray(y), ncols=len(panels), size=4.0
    )
    for ax, (_, p) in zip(fig.axes, panels, strict=True):
        plot.line_boundary(ax, p["w"], p.get("b", 0.0), color="k", label="learned boundary")
        if true_line is not None:
            plot.line_boundary(ax, *true_line, color="g", ls="--", label="true line y = x + 4")
    plot.legend_outside(fig)
    ctx.figure(fig, suffix, caption)


def line_separation(ctx):
    x, y = datasets.line_points(_key(1), 100, 1.0, 4.0, dtype=ctx.cfg.jdtype)
    params = cast(ctx.cfg, perceptron.init(_key(2), 2))
    params, history = perceptron.train(params, x, y, learning_rate=0.1, epochs=1)
    correct, wrong = (int(v) for v in perceptron.evaluate(params, x, y))
    slope = float(-params["w"][0] / params["w"][1])
    ctx.print("line separation, one pass, correct/wrong:", counts(correct, wrong))
    ctx.print("learned boundary slope -w1/w2:", slope)
    ctx.compare(
        "line separation, one pass: correct / wrong",
        f"{correct} / {wrong}",
        "100 / 0",
        "reported beside (unseeded draw)",
        key="line_counts",
        value=[correct, wrong],
    )
    ctx.compare(
        "learned slope -w1/w2 (true line: slope 1, intercept 4)",
        f"{slope:.6f}",
        "1.11082111934",
        "reported beside (unseeded draw)",
        key="line_slope",
        value=slope,
    )
    _boundary_figure(
        ctx,
        x,
        y,
        [("one pass, no bias", params)],
        "line",
        "Perceptron: points above/below y = x + 4, the true line and the learned "
        "boundary x2 = -w1/w2·x1",
        true_line=([1.0, -1.0], 4.0),
    )


def clusters(ctx):
    for dim in (2, 3):
        x, y = datasets.perceptron_clusters(dim, dtype=ctx.cfg.jdtype)
        params = cast(ctx.cfg, perceptron.init(_key(10 + dim), dim))
        params, _ = perceptron.train(params, x, y, learning_rate=0.1, epochs=1)
        fires = int(jnp.sum(perceptron.predict(params, x)))
        correct, wrong = (int(v) for v in perceptron.evaluate(params, x, y))
        if dim == 2:
            for point in ((3.9, 6.9), (-2.9, -5.9)):
                out = int(perceptron.predict(params, jnp.asarray(point, ctx.cfg.jdtype)))
                ctx.print(f"2-D clusters: output for {point}:", out)
            # The tutorial counts a point "correct" when the perceptron fires on it.
            ctx.print("2-D clusters, fires on / silent on:", counts(fires, len(y) - fires))
        ctx.print(f"{dim}-D clusters, labels checked:", counts(correct, wrong))
        ctx.compare(
            f"{dim}-D clusters: fires on / silent on (of 24)",
            f"{fires} / {24 - fires}",
            "12 / 12" if dim == 2 else None,
            (fires == 12) if dim == 2 else None,
            key=f"clusters_{dim}d_fires",
            value=fires,
        )
        ctx.record(f"clusters_{dim}d_counts", [correct, wrong])


def bias(ctx):
    x, y = datasets.uniform_clusters(_key(20), 50, datasets.BIAS_BOXES, dtype=ctx.cfg.jdtype)
    runs = {
        "without bias (lr 0.1)": perceptron.init(_key(21), 2),
        "with bias (lr 0.05)": perceptron.init(_key(22), 2, bias=True),
    }
    panels = []
    for (label, params), lr, theirs in zip(
        runs.items(), (0.1, 0.05), ("77 / 23", "90 / 10"), strict=True
    ):
        params = cast(ctx.cfg, params)
        trained, _ = perceptron.train(params, x, y, learning_rate=lr, epochs=1)
        correct, wrong = (int(v) for v in perceptron.evaluate(trained, x, y))
        m = float(-trained["w"][0] / trained["w"][1])
        ctx.print(f"bias clusters, {label}, one pass, correct/wrong:", counts(correct, wrong))
        if "b" in trained:
            intercept = float(-trained["b"] / trained["w"][1])
            ctx.print(f"  learned boundary x2 = {m:.6g}·x1 + {intercept:.6g}")
        else:
            ctx.print(f"  learned boundary x2 = {m:.6g}·x1 (through the origin)")
        key = "bias" if "b" in params else "no_bias"
        ctx.compare(
            f"bias clusters, {label}, one pass: correct / wrong",
            f"{correct} / {wrong}",
            theirs,
            "reported beside (unseeded draw)",
            key=f"{key}_counts",
            value=[correct, wrong],
        )
        _, history = perceptron.train(params, x, y, learning_rate=lr, epochs=MORE_PASSES)
        per_epoch = np.asarray(history["correct"])
        full = np.flatnonzero(per_epoch == len(y))
        reached = (
            f"100 after pass {full[0] + 1}"
            if full.size
            else f"never all 100 (best {per_epoch.max()})"
        )
        ctx.print(f"{label}, up to {MORE_PASSES} passes: {reached}")
        ctx.compare(
            f"bias clusters, {label}, up to {MORE_PASSES} passes",
            reached,
            key=f"{key}_passes",
            value=per_epoch,
        )
        panels.append((f"{label}: {correct}/{len(y)} after one pass", trained))
    _boundary_figure(
        ctx,
        x,
        y,
        panels,
        "bias",
        "Perceptron: clusters no line through the origin separates; learned "
        "boundary without and with a bias input",
    )


# The 2-2-1 step network: hidden unit 0 is OR (fires when x1 + x2 > 0.5), unit 1 is AND
# (x1 + x2 > 1.5); the output fires when OR fires and AND does not.
XOR_NET = serial(Dense(2), Step(), Dense(1), Step())
XOR_PARAMS = (
    {"w": np.array([[1.0, 1.0], [1.0, 1.0]]), "b": np.array([-0.5, -1.5])},
    (),
    {"w": np.array([[1.0], [-1.0]]), "b": np.array([-0.5])},
    (),
)


def xor(ctx):
    x, y = datasets.xor(dtype=ctx.cfg.jdtype)
    labels = jnp.asarray(y[:, 0], jnp.int32)
    params = cast(ctx.cfg, perceptron.init(_key(30), 2, bias=True))
    _, history = perceptron.train(params, x, labels, learning_rate=0.1, epochs=MORE_PASSES)
    best = int(np.max(history["correct"]))
    ctx.print(
        f"XOR, single perceptron with bias, {MORE_PASSES} passes: at most {best} of 4 correct"
    )
    ctx.compare(
        "XOR, single perceptron: best correct of 4",
        best,
        "< 4 (not separable)",
        best < 4,
        key="xor_single_best",
    )
    net = cast(ctx.cfg, XOR_PARAMS)
    out = np.asarray(XOR_NET.apply(net, x))[:, 0].astype(int)
    ctx.print("XOR, 2-2-1 step network (hidden OR and AND units):")
    for xi, yi in zip(np.asarray(x).astype(int), out, strict=True):
        ctx.print(xi, yi)
    table = " ".join(map(str, out))
    ctx.compare(
        "XOR, 2-2-1 step network outputs",
        table,
        "0 1 1 0",
        table == "0 1 1 0",
        key="xor_network_table",
        value=out,
    )
    ax = plot.decision_boundary(
        lambda g: np.asarray(XOR_NET.apply(net, g)),
        x,
        y,
        title="XOR: 2-2-1 step network (OR and not AND)",
        padding=0.5,
    )
    ctx.figure(ax.figure, "xor_network", "Perceptron: the hand-set 2-2-1 network solves XOR")


EXPERIMENT = Experiment(
    name="perceptron",
    title="Perceptrons: gates, line separation, clusters, bias, XOR",
    source="Bernd Klein, “Neural Networks from Scratch in Python” (the perceptron chapters), "
    "python-course.eu",
    url="https://python-course.eu/machine-learning/",
    notes=f"Data and initial weights from fixed JAX keys (seed {SEED}); the tutorial's are "
    "unseeded, so its counts are reported beside ours, not matched. Training: "
    "`jaxnn.perceptron.train` (online, in order, one jitted scan).",
    parts=(gates, line_separation, clusters, bias, xor),
)
