"""Initializers: JAX's own, and the tutorials' exact NumPy draws.

JAX initializers have the signature ``init(key, shape, dtype) -> array`` and plug into
``Dense(w_init=...)``. The tutorials instead seed NumPy's global generator and draw each
weight matrix in order; `tutorial` replays those draws (from a private ``RandomState``, no
global state touched) into a params pytree, so a model starts from the very weights a
tutorial printed its numbers from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.layers import is_weight_path

glorot_normal = jax.nn.initializers.glorot_normal
glorot_uniform = jax.nn.initializers.glorot_uniform
normal = jax.nn.initializers.normal
uniform = jax.nn.initializers.uniform
zeros = jax.nn.initializers.zeros
ones = jax.nn.initializers.ones

NumpyDraw = Callable[[np.random.RandomState, tuple[int, ...]], np.ndarray]

DRAWS: dict[str, NumpyDraw] = {
    # Trask, Lins: weights uniform in [-1, 1) with mean 0.
    "uniform_pm1": lambda rng, shape: 2 * rng.random_sample(shape) - 1,
    # Loy: np.random.rand, uniform in [0, 1).
    "rand": lambda rng, shape: rng.random_sample(shape),
    # Britz: standard normal scaled by 1/sqrt(fan_in).
    "randn_fan_in": lambda rng, shape: rng.standard_normal(shape) / np.sqrt(shape[0]),
}


def numpy_draws(seed: int, shapes: Sequence[tuple[int, ...]], draw: str) -> list[np.ndarray]:
    """The arrays ``np.random.seed(seed)`` followed by one draw per shape would give, in order."""
    if draw not in DRAWS:
        raise ValueError(f"numpy_draws: unknown draw {draw!r}; expected one of {sorted(DRAWS)}")
    rng = np.random.RandomState(seed)  # same stream as np.random.seed(seed), but private
    return [DRAWS[draw](rng, tuple(shape)) for shape in shapes]


def tutorial(template: Any, seed: int, draw: str, *, dtype=jnp.float64) -> Any:
    """Params shaped like ``template`` with every ``"w"`` drawn as a tutorial draws it.

    Weight leaves are drawn in params order (layer by layer, as the tutorials draw ``syn0``
    before ``syn1``); every other float leaf (biases) is zero, as in the tutorials.
    ``draw`` is one of `DRAWS`. float64 needs x64 enabled (e.g. ``with jax.enable_x64(True)``);
    without it this raises rather than silently rounding the tutorial's weights to float32.
    """
    dtype = jnp.dtype(dtype)
    if dtype == jnp.float64 and not jax.config.jax_enable_x64:
        raise ValueError(
            "init.tutorial: dtype float64 needs x64; wrap the code in `with jax.enable_x64(True):`"
            " or pass dtype=jnp.float32"
        )
    leaves = jax.tree_util.tree_leaves_with_path(template)
    shapes = [np.shape(leaf) for path, leaf in leaves if is_weight_path(path)]
    weights = iter(numpy_draws(seed, shapes, draw))

    def fill(path, leaf):
        if is_weight_path(path):
            return jnp.asarray(next(weights), dtype)
        return jnp.zeros(np.shape(leaf), dtype)

    return jax.tree_util.tree_map_with_path(fill, template)
