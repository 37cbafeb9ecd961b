"""James Loy, "Neural network from scratch": 3-4-1 sigmoid, no biases, SSE, learning rate 1.

The tutorial's ``W += dW`` with ``dW`` from the chain rule of ``2(y − ŷ)`` is gradient descent
with learning rate 1 on ``losses.sse``. Its weights come from an unseeded ``np.random.rand``;
here ``np.random.seed(1)`` (the seed the other tutorials use) is replayed, so the predictions
can only be compared loosely with the published ``0.023 0.979 0.975 0.025``. The table is the
forward pass of the last iteration, made before that iteration's update (1 499 updates), as in
the tutorial's loop.
"""

from __future__ import annotations

import numpy as np
import optax

from experiments.common import data, tutorial_init
from experiments.spec import Experiment, Train
from jaxnn import datasets, losses, mlp, plot

PREDICTIONS = (0.023, 0.979, 0.975, 0.025)
SEED = 1

model = mlp([3, 4, 1], output_activation="sigmoid", use_bias=False)


def show(result, ctx):
    ((step, params),) = result.probes.items()
    prediction = np.asarray(result.apply(params, result.x)).ravel()
    actual = np.asarray(result.target).ravel()
    ctx.print("Prediction Y (Actual)")
    for p, a in zip(prediction, actual, strict=True):
        ctx.print(f"{p:.3f} {a:.0f}")
    for i, (ours, theirs) in enumerate(zip(prediction, PREDICTIONS, strict=True)):
        close = (ours > 0.5) == (theirs > 0.5) and abs(ours - theirs) < 0.05
        ctx.compare(
            f"prediction row {i} after {step} updates (target {actual[i]:.0f})",
            f"{ours:.3f}",
            f"{theirs:.3f}",
            "≈ (same side, within 0.05)" if close else False,
        )
    loss = np.asarray(result.history["loss"])
    monotone = bool(np.all(np.diff(loss) <= 0))
    ctx.compare("loss falls monotonically", monotone, True, monotone, key="loss_monotone")
    ctx.compare("SSE before the first / last update", f"{loss[0]:.4f} / {loss[-1]:.6f}")
    ctx.record("predictions", prediction)
    ctx.record("loss", loss)
    ctx.record("seed", SEED)
    ax = plot.loss_curve(result.history, label="SSE", logy=True)
    ax.set_xlabel("iteration")
    ax.set_title(f"Loy's 3-4-1 network: loss per iteration (np.random.seed({SEED}))")
    ctx.figure(ax.figure, "loss", "Loy: SSE per iteration (falls monotonically)")


EXPERIMENT = Experiment(
    name="loy",
    title="Neural network from scratch (3-4-1 sigmoid, SSE)",
    source="James Loy, “How to build your own Neural Network from scratch in Python” "
    "(Towards Data Science; also his book “Neural Network Projects with Python”)",
    url="https://towardsdatascience.com/how-to-build-your-own-neural-network-from-scratch-in-python-68998a08e4f6",
    notes=f"float64; weights `np.random.rand` replayed with seed {SEED} (the tutorial's draw is "
    "unseeded, so predictions are compared loosely); `optax.sgd(1.0)` on `losses.sse`; "
    "1 500 iterations.",
    parts=(
        Train(
            name="three_four_one",
            data=data(datasets.trask_3layer),
            model=model,
            loss=losses.sse,
            optimizer=optax.sgd(1.0),
            params=tutorial_init(model, (3,), SEED, "rand"),
            steps=1_500,
            probes=(1_499,),
            show=show,
        ),
    ),
)
