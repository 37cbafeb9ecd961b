"""What an experiment is: a few small dataclasses that the runner knows how to execute.

An `Experiment` is a name, a title, the tutorial it comes from and a sequence of parts. A part is

* a `Train`: one gradient-trained run (`jaxnn.train.fit`), declared by its data, model, loss,
  optimizer, initial params, number of steps, regulariser and what to show afterwards;
* an `Ensemble`: many runs in one compiled program (`jaxnn.train.fit_ensemble`), e.g. 1 000 seeds,
  a width sweep or a learning-rate sweep;
* or a plain function ``part(ctx)`` for what is not gradient training (the perceptron rule,
  loading a saved network).

Data and params are given as functions of the `Config`, so they are built inside the run's dtype
context (float64 by default) and at the run's size (``--seeds``). ``show(result, ctx)`` prints in
the tutorial's own form, records numbers beside the tutorial's and draws figures via
``jaxnn.plot``; it never trains.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax.numpy as jnp
import optax

from jaxnn.layers import Layer
from jaxnn.losses import Loss, Regularizer

PATHS = ("manual", "autodiff")


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of one invocation (the command-line options)."""

    backprop: str = "both"  # "manual", "autodiff" or "both"
    dtype: str = "float64"
    seeds: int = 1000
    steps_scale: float = 1.0
    input: tuple[float, ...] = (1.0, 0.0, 1.0)  # lins: the answer to the tutorial's prompt
    activation: str = "sigmoid"  # lins: sigmoid, tanh or relu
    progress: bool = False  # tqdm bars on long parts

    def __post_init__(self):
        if self.backprop not in (*PATHS, "both"):
            raise ValueError(f"backprop must be manual, autodiff or both, got {self.backprop!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if not self.steps_scale > 0:
            raise ValueError(f"steps_scale must be positive, got {self.steps_scale!r}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds!r}")

    @property
    def jdtype(self):
        return jnp.dtype(self.dtype)

    @property
    def paths(self) -> tuple[str, ...]:
        """Backprop paths to run; the first one's results are the ones shown."""
        return PATHS if self.backprop == "both" else (self.backprop,)

    @property
    def faithful(self) -> bool:
        """Only a float64 run at the tutorial's step counts can reproduce printed digits."""
        return self.dtype == "float64" and self.steps_scale == 1.0

    def steps(self, n: int) -> int:
        """``n`` steps scaled by ``--steps-scale`` (at least 1; 0 stays 0)."""
        return 0 if n == 0 else max(1, round(n * self.steps_scale))


Data = Callable[[Config], tuple[Any, Any]]
Init = Callable[[Config], Any]


@dataclasses.dataclass(frozen=True)
class _Run:
    """What every gradient-trained part declares (see `Train` for the fields)."""

    name: str
    data: Data
    model: Layer
    loss: Loss
    optimizer: optax.GradientTransformation
    params: Init
    steps: int
    reg: Regularizer | None = None
    log_every: int = 1
    validation: Data | None = None
    batch_size: int | None = None
    seed: int | None = None
    patience: int | None = None


@dataclasses.dataclass(frozen=True)
class Train(_Run):
    """One full-batch gradient-trained run through `jaxnn.train.fit`.

    Attributes:
      name: part name, used in the report and as the key of its numbers.
      data: ``cfg -> (x, target)``.
      model, loss, optimizer, reg: as `jaxnn.train.fit` takes them.
      params: ``cfg -> initial params``.
      steps: updates at ``--steps-scale 1`` (scaled otherwise).
      log_every: log the objective every this many steps (scaled with ``steps``).
      validation: ``cfg -> (x_val, target_val)``, held-out data: ``history["val_loss"]`` (and
        ``"val_accuracy"``) at the logged steps.
      batch_size: examples per update, shuffled minibatches (``None``: full batch).
      seed: ``jax.random.key(seed)`` for the minibatch order and a stochastic model's
        (Dropout) masks; required by either.
      patience: early stopping after this many logged steps without a better validation
        objective; the best params are returned.
      probes: steps (before that update) at which the params are kept for ``show``, e.g. the
        tutorial printing from inside its loop. The run is then split into segments, each
        resuming the last (``opt_state``, ``start_step``), so any optimizer works.
      until: stop after the first update whose objective (logged before it) is below this, as
        FANN's ``desired_error`` does; the run is then repeated for exactly that many steps.
      show: ``show(result, ctx)``: print, compare, plot.
      long: show a progress bar (when bars are on).
      check: run `jaxnn.check_grads` at the initial params.
    """

    probes: tuple[int, ...] = ()
    until: float | None = None
    show: Callable[[Any, Any], None] | None = None
    long: bool = False
    check: bool = True


@dataclasses.dataclass(frozen=True)
class Ensemble(_Run):
    """Many runs in one compiled program through `jaxnn.train.fit_ensemble`.

    ``params(cfg)`` returns params with a leading member axis; ``hyperparams(cfg)`` (optional)
    one value per member, e.g. ``{"learning_rate": lrs}``. Other fields as in `Train`;
    `jaxnn.check_grads` runs on member 0.
    """

    hyperparams: Callable[[Config], dict] | None = None
    show: Callable[[Any, Any], None] | None = None
    long: bool = True
    check: bool = True


Part = Train | Ensemble | Callable[[Any], None]


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A tutorial (or a "beyond" study) as a sequence of parts.

    ``parts`` is a sequence, or ``cfg -> sequence`` when the declaration depends on an option
    (lins's ``--activation``).
    """

    name: str
    title: str
    source: str
    parts: Sequence[Part] | Callable[[Config], Sequence[Part]]
    notes: str = ""
    url: str = ""  # where the tutorial is published

    def parts_for(self, cfg: Config) -> Sequence[Part]:
        return self.parts(cfg) if callable(self.parts) else self.parts
