"""Small helpers the declarations share: tutorial inits, dtype casts, NumPy-style printing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.spec import Config
from jaxnn import init as jinit
from jaxnn.layers import Layer


def template(model: Layer, input_shape: tuple[int, ...]) -> Any:
    """Params of the right shapes (values unused): what `jaxnn.init.tutorial` fills in.

    Only shapes are computed (``jax.eval_shape``): no random draws, nothing compiled.
    """
    return jax.eval_shape(lambda: model.init(jax.random.key(0), tuple(input_shape))[1])


def tutorial_init(model: Layer, input_shape, seed: int, draw: str) -> Callable[[Config], Any]:
    """``cfg -> params`` as the tutorial draws them: ``np.random.seed(seed)``, then ``draw``."""
    return lambda cfg: jinit.tutorial(template(model, input_shape), seed, draw, dtype=cfg.jdtype)


def key_init(model: Layer, input_shape, seed: int) -> Callable[[Config], Any]:
    """``cfg -> params`` from the model's own (JAX) initializers, cast to the run's dtype."""
    init = jax.jit(model.init, static_argnums=1)  # one compile instead of one per op
    return lambda cfg: cast(cfg, init(jax.random.key(seed), tuple(input_shape))[1])


def cast(cfg: Config, tree):
    """Floating leaves to the run's dtype (integer leaves, e.g. labels, untouched)."""

    def one(a):
        a = jnp.asarray(a)
        return a.astype(cfg.jdtype) if jnp.issubdtype(a.dtype, jnp.floating) else a

    return jax.tree.map(one, tree)


def data(fn, *args, **kwargs) -> Callable[[Config], tuple]:
    """``cfg -> (x, target)`` from a `jaxnn.datasets` function, in the run's dtype."""
    return lambda cfg: cast(cfg, fn(*args, **kwargs))


def np_str(a) -> str:
    """How NumPy prints an array (what the tutorials show)."""
    return str(np.asarray(a))


def counts(correct: int, wrong: int) -> str:
    """``collections.Counter(...).most_common()`` form: ``[('correct', 77), ('wrong', 23)]``."""
    pairs = [(k, int(v)) for k, v in (("correct", correct), ("wrong", wrong)) if v]
    pairs.sort(key=lambda kv: -kv[1])  # most common first; ties keep insertion order
    return repr(pairs)
