"""Every tutorial as a declarative, jitted experiment; run them with ``python -m experiments``.

`REGISTRY` maps names to `experiments.spec.Experiment` declarations in the order they run;
`experiments.runner.run` executes them. Adding an experiment: write a module with an
``EXPERIMENT`` declaration and list it here.
"""

from __future__ import annotations

from experiments import (
    britz_exercises,
    digits,
    ensemble,
    fann,
    lins,
    loy,
    moons,
    perceptron,
    sweeps,
    trask,
)

REGISTRY = {
    e.EXPERIMENT.name: e.EXPERIMENT
    for e in (perceptron, trask, loy, lins, moons, fann, ensemble, sweeps, britz_exercises, digits)
}

__all__ = ["REGISTRY"]
