"""Trask, "A neural network in 11 lines": sigmoid nets without biases, W += Xᵀ·(err·y(1−y)).

That update is gradient descent with learning rate 1 on ``half_sse``. Both printouts come from
inside the tutorial's loop, i.e. before that iteration's update: the 2-layer output "after
10 000 iterations" is the forward pass after 9 999 updates, and each ``Error:`` line is the mean
absolute error before update ``j``. The probes keep exactly those params.
"""

from __future__ import annotations

import numpy as np
import optax

from experiments.common import data, np_str, tutorial_init
from experiments.spec import Experiment, Train
from jaxnn import datasets, losses, mlp

OUTPUT = "[[0.00966449]\n [0.00786506]\n [0.99358898]\n [0.99211957]]"
ERRORS = (
    "0.496410031903",
    "0.00858452565325",
    "0.00578945986251",
    "0.00462917677677",
    "0.00395876528027",
    "0.00351012256786",
)

two_layer = mlp([3, 1], output_activation="sigmoid", use_bias=False)
three_layer = mlp([3, 4, 1], output_activation="sigmoid", use_bias=False)


def show_two_layer(result, ctx):
    ((step, params),) = result.probes.items()
    output = np_str(result.apply(params, result.x))
    ctx.print("Output After Training:")
    ctx.print(output)
    ctx.compare(
        f"2-layer output after 10 000 iterations (forward pass after {step} updates)",
        output.replace("\n", ""),
        OUTPUT.replace("\n", ""),
        ctx.exact(output == OUTPUT),
        key="two_layer_output",
        value=np.asarray(result.apply(params, result.x)),
    )


def show_three_layer(result, ctx):
    errors = []
    for step, params in sorted(result.probes.items()):
        error = float(np.mean(np.abs(result.target - result.apply(params, result.x))))
        errors.append(error)
        ctx.print("Error:" + f"{error:.12g}")  # Python 2's str(float): 12 significant digits
        i = len(errors) - 1
        theirs = ERRORS[i] if i < len(ERRORS) else None
        ctx.compare(
            f"3-layer Error: before update {step}",
            f"{error:.12g}",
            theirs,
            ctx.exact(f"{error:.12g}" == theirs),
        )
    ctx.record("three_layer_errors", errors)
    ctx.record("three_layer_error_steps", sorted(result.probes))


EXPERIMENT = Experiment(
    name="trask",
    title="A neural network in 11 lines (2-layer and 3-layer, no biases)",
    source="Andrew Trask, “A Neural Network in 11 lines of Python (Part 1)”",
    url="https://iamtrask.github.io/2015/07/12/basic-python-network/",
    notes="float64, weights from `np.random.seed(1); 2*np.random.random(shape)-1` replayed by "
    "`jaxnn.init.tutorial(..., draw='uniform_pm1')`; `optax.sgd(1.0)` on `losses.half_sse`.",
    parts=(
        Train(
            name="two_layer",
            data=data(datasets.trask_2layer),
            model=two_layer,
            loss=losses.half_sse,
            optimizer=optax.sgd(1.0),
            params=tutorial_init(two_layer, (3,), 1, "uniform_pm1"),
            steps=10_000,
            probes=(9_999,),
            show=show_two_layer,
        ),
        Train(
            name="three_layer",
            data=data(datasets.trask_3layer),
            model=three_layer,
            loss=losses.half_sse,
            optimizer=optax.sgd(1.0),
            params=tutorial_init(three_layer, (3,), 1, "uniform_pm1"),
            steps=60_000,
            probes=tuple(range(0, 60_000, 10_000)),
            show=show_three_layer,
            long=True,
        ),
    ),
)
