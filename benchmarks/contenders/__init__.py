"""Contenders: one module per family, each registering `Contender`s in `CONTENDERS`.

A contender's ``train(spec, data, init, steps)`` runs ``steps`` updates of the workload's
math (full-batch gradient descent for W1-W4; Adam on shuffled minibatches with a held-out
evaluation every epoch for W5/W6) from the given NumPy initial weights and returns the final
weights in the canonical layout of `benchmarks.workloads` (any array type that
``np.asarray`` understands; JAX arrays are blocked on by the harness, inside the timing).
Whatever a contender compiles it caches across calls, so repeated calls measure steady state.

A family whose packages are missing is reported as unavailable, never an error.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable

from benchmarks.workloads import Workload


@dataclasses.dataclass(frozen=True)
class Contender:
    name: str
    module: str  # the module under benchmarks.contenders that implements it
    requires: tuple[str, ...]  # importable names it needs; a missing one makes it unavailable
    description: str = ""
    is_jax: bool = True
    workloads: tuple[str, ...] | None = None  # None: all of them
    install_hint: str = ""

    def availability(self) -> str | None:
        """None when every requirement imports, else a short note saying what is missing."""
        for req in self.requires:
            try:
                importlib.import_module(req)
            except ImportError as e:
                hint = f" ({self.install_hint})" if self.install_hint else ""
                return f"unavailable: cannot import {req}: {e}{hint}"
        return None

    def supports(self, spec: Workload) -> bool:
        return self.workloads is None or spec.name in self.workloads

    def trainer(self) -> Callable:
        mod = importlib.import_module(f"benchmarks.contenders.{self.module}")
        return mod.TRAINERS[self.name]


_BENCH = "pip install 'jaxnn[bench]'"
_FULL_BATCH = ("W1", "W2", "W3", "W4")
_MINIBATCH = ("W5", "W6")

CONTENDERS: dict[str, Contender] = {
    c.name: c
    for c in (
        Contender(
            "jaxnn-manual",
            "jaxnn_fit",
            ("jaxnn.train", "jaxnn.losses"),
            "jaxnn.train.fit / fit_ensemble, hand-written backprop",
        ),
        Contender(
            "jaxnn-autodiff",
            "jaxnn_fit",
            ("jaxnn.train", "jaxnn.losses"),
            "jaxnn.train.fit / fit_ensemble, jax.grad through apply",
        ),
        Contender(
            "jaxnn-manual-logged",
            "jaxnn_fit",
            ("jaxnn.train", "jaxnn.losses"),
            "W1 only: jaxnn-manual logging every steps/20 (1 000) steps instead of once",
            workloads=("W1",),
        ),
        Contender(
            "plain-jax",
            "plain_jax",
            ("jax",),
            "hand-written lax.scan + jax.grad in one jax.jit (vmap over members for W3/W6)",
        ),
        Contender(
            "plain-jax-loop",
            "plain_jax",
            ("jax", "optax"),
            "W5/W6: a jitted jax.grad + optax step called from a Python batch loop",
            workloads=_MINIBATCH,
        ),
        Contender(
            "plain-jax-logged",
            "plain_jax",
            ("jax", "optax"),
            "W5/W6: plain-jax plus the training-set objective before every epoch and after "
            "the last update (what jaxnn's history['loss'] and ['final_loss'] compute)",
            workloads=_MINIBATCH,
        ),
        Contender(
            "numpy",
            "numpy_loop",
            ("numpy",),
            "the tutorials' Python loop with manual backprop (batched einsum/matmul for W3)",
            is_jax=False,
            workloads=_FULL_BATCH,
        ),
        Contender(
            "sklearn",
            "sklearn_mlp",
            ("sklearn",),
            "W5: scikit-learn's MLPClassifier (solver adam), partial_fit once per epoch",
            is_jax=False,
            workloads=("W5",),
            install_hint=_BENCH,
        ),
        Contender(
            "torch",
            "pytorch",
            ("torch",),
            "PyTorch CPU eager, autograd + torch.optim (bmm over members for W3; DataLoader for "
            "W5; the torch.func ensemble recipe for W6)",
            is_jax=False,
            install_hint=_BENCH,
        ),
        Contender(
            "torch-compile",
            "pytorch",
            ("torch",),
            "W3 only: the batched torch step under torch.compile",
            is_jax=False,
            workloads=("W3",),
            install_hint=_BENCH,
        ),
        Contender(
            "flax-linen",
            "flax_modules",
            ("flax.linen", "optax"),
            "flax.linen module, optax.sgd, jitted step called from a Python loop",
            install_hint=_BENCH,
        ),
        Contender(
            "flax-nnx",
            "flax_modules",
            ("flax.nnx", "optax"),
            "flax.nnx module + nnx.Optimizer, nnx.jit step (nnx.cached_partial) called from a "
            "Python loop",
            workloads=(*_FULL_BATCH, "W5"),
            install_hint=_BENCH,
        ),
        Contender(
            "equinox",
            "equinox_modules",
            ("equinox", "optax"),
            "equinox module, optax.sgd, eqx.filter_jit step called from a Python loop",
            install_hint=_BENCH,
        ),
    )
}

DEFAULT_ORDER = tuple(CONTENDERS)
