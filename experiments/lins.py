"""John Lins, a single neuron: 3 inputs → 1 output, trained by Trask's rule, queried at the end.

The tutorial asks for three inputs with ``input()``; here they come from ``--input`` (default
``1 0 1``, for which the tutorial's sigmoid neuron answers ≈ 0.9936). It invites trying tanh and
ReLU: ``--activation``. The rule stays the chain rule of ``half_sse`` (``W += Xᵀ·(err·f'(s))``),
with ``f'`` the activation's own derivative, which the layers write by hand:

* sigmoid: the tutorial exactly (seed 1, ``2*random((3,1))-1``, learning rate 1).
* tanh: same data (0/1) and weights; learning rate 0.1, because at 1 the steeper tanh overshoots
  and settles badly (final half-SSE ≈ 0.16 instead of ≈ 6e-5).
* relu: the seed-1 weights give a negative weighted sum on all four inputs, so the ReLU is dead
  from the start (zero gradient, it never learns). The relu variant therefore starts from
  ``np.random.seed(1); np.random.rand(3,1)`` (non-negative weights), learning rate 0.1; it then
  learns output = first input.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import optax

from experiments.common import data, np_str, tutorial_init
from experiments.spec import Experiment, Train
from jaxnn import datasets, losses, mlp

TUTORIAL_OUTPUT = "0.9936"  # for inputs 1 0 1 with the sigmoid neuron
SETTINGS = {  # activation: (learning rate, weight draw)
    "sigmoid": (1.0, "uniform_pm1"),
    "tanh": (0.1, "uniform_pm1"),
    "relu": (0.1, "rand"),
}


def show(result, ctx):
    inputs = ctx.cfg.input
    ctx.print("Random starting weights: ")
    ctx.print(np_str(result.init[0]["w"]))
    ctx.print("Weights after training: ")
    ctx.print(np_str(result.params[0]["w"]))
    ctx.print("-------------------")
    ctx.print("Input data = ", *(f"{v:g}" for v in inputs))
    ctx.print("-------------------")
    ctx.print("Output data: ")
    output = result.apply(result.params, jnp.asarray(inputs, result.x.dtype))
    ctx.print(np_str(output))
    value = float(output[0])
    tutorial_case = ctx.cfg.activation == "sigmoid" and tuple(inputs) == (1, 0, 1)
    ctx.compare(
        f"output for {' '.join(f'{v:g}' for v in inputs)} ({ctx.cfg.activation})",
        f"{value:.8f}",
        TUTORIAL_OUTPUT if tutorial_case else None,
        ctx.exact(f"{value:.4f}" == TUTORIAL_OUTPUT) if tutorial_case else None,
        key="output",
        value=value,
    )
    ctx.record("input", list(inputs))
    ctx.record("activation", ctx.cfg.activation)
    ctx.record("initial_weights", np.asarray(result.init[0]["w"]).ravel())
    ctx.record("trained_weights", np.asarray(result.params[0]["w"]).ravel())
    ctx.record("final_half_sse", float(result.history["loss"][-1]))


def parts(cfg):
    lr, draw = SETTINGS[cfg.activation]
    model = mlp([3, 1], output_activation=cfg.activation, use_bias=False)
    return (
        Train(
            name=f"neuron_{cfg.activation}",
            data=data(datasets.lins),
            model=model,
            loss=losses.half_sse,
            optimizer=optax.sgd(lr),
            params=tutorial_init(model, (3,), 1, draw),
            steps=10_000,
            show=show,
        ),
    )


EXPERIMENT = Experiment(
    name="lins",
    title="A single neuron, queried from the command line",
    source="John Lins, “Neural Network from Scratch” (workshop and repository)",
    url="https://github.com/JohnLins/NeuralNetwork",
    notes="float64; seed 1; `losses.half_sse` + `optax.sgd` (lr 1 for sigmoid as in the "
    "tutorial; tanh lr 0.1; relu starts from `rand` weights since the seed-1 `2*random-1` "
    "weights leave it dead on every input). Choose with `--activation` and `--input`.",
    parts=parts,
)
