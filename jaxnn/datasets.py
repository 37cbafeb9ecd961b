"""Small datasets from the tutorials, as ``(x, y)`` arrays.

Everything here returns JAX arrays: ``x`` is float32 unless a ``dtype=`` argument asks for
another float type, and integer class labels are int32. The one exception is `britz_moons`,
which returns the exact NumPy arrays shipped with the package (float64, int64) so float64
experiments reproduce the published numbers bit for bit.

Random datasets take an explicit PRNG ``key`` (no global RNG) and are deterministic per key.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

Box = Sequence[tuple[float, float]]

# The perceptron tutorial's bias experiment: class 0 around the origin, class 1 up and to the
# left, so no line through the origin separates them.
BIAS_BOXES: tuple[tuple[tuple[float, float], ...], ...] = (
    ((-2.5, 2.3), (-1.7, 2.8)),
    ((-7.2, -4.4), (3.0, 6.5)),
)

_GATE_X = [[0, 0], [0, 1], [1, 0], [1, 1]]

# Trask's inputs: two bits plus a constant third column that plays the role of a bias input.
_TRASK_X = [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]]

# The perceptron tutorial's hand-placed clusters, 12 points each. The tutorial trains the
# first cluster with target 1 and the second with target 0; the 3-D version adds a third
# coordinate to the same (x, y) points.
_CLUSTER_1 = [
    (3, 4, 3), (4.2, 5.3, 2.5), (4, 3, 3.8), (6, 5, 2.7), (4, 6, 2.9), (3.7, 5.8, 4.2),
    (3.2, 4.6, 1.9), (5.2, 5.9, 2.7), (5, 4, 3.5), (7, 4, 2.7), (3, 7, 3.1), (4.3, 4.3, 3.8),
]  # fmt: skip
_CLUSTER_0 = [
    (-3, -4, 7.6), (-2, -3.5, 6.9), (-1, -6, 8.6), (-3, -4.3, 7.4), (-4, -5.6, 7.9),
    (-3.2, -4.8, 5.3), (-2.3, -4.3, 8.1), (-2.7, -2.6, 7.3), (-1.5, -3.6, 7.8),
    (-3.6, -5.6, 6.8), (-4.5, -4.6, 8.3), (-3.7, -5.8, 8.7),
]  # fmt: skip


def _float_dtype(dtype) -> np.dtype:
    """Check a requested float dtype; refuse float64 when x64 is off instead of downcasting.

    The point of asking for float64 is reproducing published numbers exactly; JAX's default of
    warning and handing back float32 would defeat that quietly.
    """
    dtype = np.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a floating type, got {dtype}")
    if jax.dtypes.canonicalize_dtype(dtype) != dtype:
        raise ValueError(
            f"dtype {dtype} requested but JAX's 64-bit mode is off; "
            "run inside `with jax.enable_x64(True):` or set JAX_ENABLE_X64=1"
        )
    return dtype


def _float_array(data, dtype) -> jax.Array:
    """``jnp.asarray(data, dtype)`` for a checked float ``dtype``."""
    return jnp.asarray(data, dtype=_float_dtype(dtype))


# --------------------------------------------------------------------------------------------
# Truth tables
# --------------------------------------------------------------------------------------------


def _gate(targets: list[int], encoding: str, dtype) -> tuple[jax.Array, jax.Array]:
    """Inputs ``(4, 2)`` and targets ``(4, 1)``; ``"symmetric"`` maps 0 to -1 in both."""
    x = np.asarray(_GATE_X, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64).reshape(4, 1)
    if encoding == "symmetric":
        x, y = 2 * x - 1, 2 * y - 1
    elif encoding != "binary":
        raise ValueError(f"encoding must be 'binary' or 'symmetric', got {encoding!r}")
    return _float_array(x, dtype), _float_array(y, dtype)


def xor(encoding: str = "binary", *, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """XOR truth table: ``x`` (4, 2) rows ``00, 01, 10, 11``; ``y`` (4, 1) = ``0, 1, 1, 0``.

    ``encoding="symmetric"`` uses -1 for 0 (FANN's convention) in inputs and targets.
    """
    return _gate([0, 1, 1, 0], encoding, dtype)


def and_gate(encoding: str = "binary", *, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """AND truth table: ``x`` (4, 2), ``y`` (4, 1) = ``0, 0, 0, 1``. See `xor` for encoding."""
    return _gate([0, 0, 0, 1], encoding, dtype)


def or_gate(encoding: str = "binary", *, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """OR truth table: ``x`` (4, 2), ``y`` (4, 1) = ``0, 1, 1, 1``. See `xor` for encoding."""
    return _gate([0, 1, 1, 1], encoding, dtype)


def trask_x(dtype=jnp.float32) -> jax.Array:
    """Trask's inputs, shape (4, 3): rows ``001, 011, 101, 111`` (last column is constant)."""
    return _float_array(_TRASK_X, dtype)


def trask_2layer(dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """Trask's 2-layer table: ``y`` (4, 1) = ``0, 0, 1, 1`` (the first input column)."""
    return trask_x(dtype), _float_array([[0], [0], [1], [1]], dtype)


def trask_3layer(dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """Trask's 3-layer table: ``y`` (4, 1) = ``0, 1, 1, 0`` (XOR of the first two columns)."""
    return trask_x(dtype), _float_array([[0], [1], [1], [0]], dtype)


def lins(dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """John Lins's table: ``x`` (4, 3) rows ``001, 111, 101, 011``; ``y`` (4, 1) ``0, 1, 1, 0``."""
    x = [[0, 0, 1], [1, 1, 1], [1, 0, 1], [0, 1, 1]]
    return _float_array(x, dtype), _float_array([[0], [1], [1], [0]], dtype)


# --------------------------------------------------------------------------------------------
# Two moons
# --------------------------------------------------------------------------------------------


def make_moons(
    key: jax.Array, n: int, noise=0.0, *, dtype=jnp.float32
) -> tuple[jax.Array, jax.Array]:
    """Two interleaving half circles, scikit-learn's geometry, in pure JAX.

    ``n // 2`` points (label 0) lie on the upper half of the unit circle at the origin,
    ``(cos t, sin t)``; the other ``n - n // 2`` (label 1) on the lower half of the unit circle
    centred at ``(1, 0.5)``, ``(1 - cos t, 0.5 - sin t)``; ``t`` is evenly spaced over
    ``[0, pi]``. Gaussian noise of std ``noise`` is added to every coordinate and the points
    are shuffled, both driven by ``key``.

    Jittable with ``n`` static (``jax.jit(make_moons, static_argnums=1)``); ``noise`` may be
    traced.

    Returns:
      ``x`` of shape ``(n, 2)`` and ``dtype``; ``y`` of shape ``(n,)``, int32.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise TypeError(f"make_moons: n must be a static non-negative int, got {n!r}")
    return _moons(key, noise, int(n), _float_dtype(dtype))


@functools.partial(jax.jit, static_argnums=(2, 3))
def _moons(key, noise, n: int, dtype: np.dtype):
    # Jitted as a whole so an eager call compiles once per (n, dtype) instead of op by op.
    n_out = n // 2
    n_in = n - n_out
    t_out = jnp.linspace(0.0, math.pi, n_out, dtype=dtype)
    t_in = jnp.linspace(0.0, math.pi, n_in, dtype=dtype)
    outer = jnp.stack([jnp.cos(t_out), jnp.sin(t_out)], axis=1)
    inner = jnp.stack([1 - jnp.cos(t_in), 1 - jnp.sin(t_in) - 0.5], axis=1)
    x = jnp.concatenate([outer, inner]).astype(dtype)
    y = jnp.concatenate([jnp.zeros(n_out, jnp.int32), jnp.ones(n_in, jnp.int32)])

    perm_key, noise_key = jax.random.split(key)
    x = x + jnp.asarray(noise, dtype) * jax.random.normal(noise_key, x.shape, dtype)
    perm = jax.random.permutation(perm_key, n)
    return x[perm], y[perm]


def britz_moons() -> tuple[np.ndarray, np.ndarray]:
    """The exact 200-point moons dataset of Denny Britz's tutorial, as shipped in the package.

    Returns NumPy arrays, not JAX arrays, so nothing is lost when x64 is off: ``X`` float64 of
    shape (200, 2) and ``y`` int64 of shape (200,). Convert with ``jnp.asarray`` (inside
    ``jax.enable_x64(True)`` to keep float64).
    """
    resource = importlib.resources.files("jaxnn") / "data" / "moons200.npz"
    with resource.open("rb") as f, np.load(f, allow_pickle=False) as data:
        return np.array(data["X"]), np.array(data["y"])


# --------------------------------------------------------------------------------------------
# Perceptron data
# --------------------------------------------------------------------------------------------


def line_points(
    key: jax.Array,
    n: int,
    slope: float = 1.0,
    intercept: float = 0.0,
    *,
    low: int = 1,
    high: int = 100,
    dtype=jnp.float32,
) -> tuple[jax.Array, jax.Array]:
    """``n`` random integer points in ``[low, high)²`` labelled by a line.

    The label is 1 when the point lies strictly above ``y = slope * x + intercept``, else 0;
    the perceptron tutorial uses ``slope=1, intercept=4``.

    Returns:
      ``x`` of shape ``(n, 2)`` (integer values, stored as ``dtype``); ``y`` ``(n,)`` int32.
    """
    return _line_points(key, slope, intercept, int(n), int(low), int(high), _float_dtype(dtype))


@functools.partial(jax.jit, static_argnums=(3, 4, 5, 6))
def _line_points(key, slope, intercept, n: int, low: int, high: int, dtype: np.dtype):
    x = jax.random.randint(key, (n, 2), low, high).astype(dtype)
    y = (x[:, 1] > slope * x[:, 0] + intercept).astype(jnp.int32)
    return x, y


def uniform_clusters(
    key: jax.Array, n_per_class: int, boxes: Sequence[Box], *, dtype=jnp.float32
) -> tuple[jax.Array, jax.Array]:
    """Uniform points in one axis-aligned box per class, concatenated in class order.

    Args:
      key: PRNG key.
      n_per_class: points drawn in each box.
      boxes: per class, one ``(low, high)`` pair per coordinate, e.g. `BIAS_BOXES`
        ``(((xlo, xhi), (ylo, yhi)), ...)``. All boxes must have the same dimension.

    Returns:
      ``x`` of shape ``(k * n_per_class, d)``; ``y`` int32 labels ``0..k-1``, class ``i``
      occupying rows ``i * n_per_class`` to ``(i + 1) * n_per_class`` (not shuffled).
    """
    bounds = [np.asarray(box, dtype=np.float64) for box in boxes]
    if not bounds:
        raise ValueError("uniform_clusters: boxes is empty")
    dims = {b.shape for b in bounds}
    if len(dims) != 1 or bounds[0].ndim != 2 or bounds[0].shape[1] != 2:
        raise ValueError(
            "uniform_clusters: every box must be a sequence of (low, high) pairs of the same "
            f"length, got shapes {sorted(dims)}"
        )
    dtype = _float_dtype(dtype)
    keys = jax.random.split(key, len(bounds))
    xs = [
        jax.random.uniform(k, (n_per_class, b.shape[0]), dtype, minval=b[:, 0], maxval=b[:, 1])
        for k, b in zip(keys, bounds, strict=True)
    ]
    y = jnp.repeat(jnp.arange(len(bounds), dtype=jnp.int32), n_per_class)
    return jnp.concatenate(xs), y


def perceptron_clusters(dim: int = 2, *, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """The perceptron tutorial's two hand-placed clusters of 12 points each.

    Rows 0-11 are the cluster the tutorial trains with target 1 (around (4.5, 4.8)), rows
    12-23 the one with target 0 (around (-2.9, -4.6)), in the tutorial's order, so an online
    perceptron sees them exactly as the tutorial does. ``dim=3`` adds the tutorial's third
    coordinate.

    Returns:
      ``x`` of shape ``(24, dim)``; ``y`` of shape ``(24,)``, int32.
    """
    if dim not in (2, 3):
        raise ValueError(f"perceptron_clusters: dim must be 2 or 3, got {dim!r}")
    points = np.asarray(_CLUSTER_1 + _CLUSTER_0, dtype=np.float64)[:, :dim]
    y = jnp.asarray([1] * len(_CLUSTER_1) + [0] * len(_CLUSTER_0), dtype=jnp.int32)
    return _float_array(points, dtype), y
