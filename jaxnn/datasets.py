"""Small datasets, as ``(x, y)`` arrays: the tutorials' tables and point clouds, digits, splits.

Everything here returns JAX arrays: ``x`` is float32 unless a ``dtype=`` argument asks for
another float type, and integer class labels are int32. The one exception is `britz_moons`,
which returns the exact NumPy arrays shipped with the package (float64, int64) so float64
experiments reproduce the published numbers bit for bit.

Random datasets take an explicit PRNG ``key`` (no global RNG; ``jax.random.key(0)``, or a
legacy ``jax.random.PRNGKey(0)``) and are deterministic per key.

Arguments are checked on the host before anything is compiled: sizes must be positive Python
ints, scales finite and non-negative, keys real PRNG keys. A wrong argument raises
``TypeError`` (wrong kind of thing) or ``ValueError`` (right kind, impossible value) naming
the function, what it expected and what it got. Under ``jit``/``vmap`` the sizes are static
and still checked; a traced ``noise``/``std`` cannot be, and is used as given.
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


def _float_dtype(dtype, fn: str = "datasets") -> np.dtype:
    """Check a requested float dtype; refuse float64 when x64 is off instead of downcasting.

    The point of asking for float64 is reproducing published numbers exactly; JAX's default of
    warning and handing back float32 would defeat that quietly.
    """
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{fn}: dtype must be a floating type, got {dtype!r}") from None
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{fn}: dtype must be a floating type, got {dtype}")
    if jax.dtypes.canonicalize_dtype(dtype) != dtype:
        raise ValueError(
            f"{fn}: dtype {dtype} requested but JAX's 64-bit mode is off; "
            "run inside `with jax.enable_x64(True):` or set JAX_ENABLE_X64=1"
        )
    return dtype


def _float_array(data, dtype, fn: str = "datasets") -> jax.Array:
    """``jnp.asarray(data, dtype)`` for a checked float ``dtype``."""
    return jnp.asarray(data, dtype=_float_dtype(dtype, fn))


# --------------------------------------------------------------------------------------------
# Argument checks (host side, before anything is traced)
# --------------------------------------------------------------------------------------------


def _check_key(fn: str, key) -> None:
    """A single PRNG key: a typed key (``jax.random.key``) or a legacy uint32 ``PRNGKey``.

    The common mistake is a seed where a key belongs (``make_moons(0, 100)``); JAX would
    answer it deep inside ``random.split`` with a message about dtypes.
    """
    if isinstance(key, bool | int | np.integer | float):
        seed = int(key) if isinstance(key, int | np.integer) and not isinstance(key, bool) else 0
        raise TypeError(
            f"{fn}: key must be a PRNG key, e.g. jax.random.key({seed}), "
            f"got the {type(key).__name__} {key!r}"
        )
    dtype = getattr(key, "dtype", None)
    shape = getattr(key, "shape", None)
    if dtype is None or shape is None:
        raise TypeError(
            f"{fn}: key must be a PRNG key, e.g. jax.random.key(0), got {type(key).__name__}"
        )
    if jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        if shape != ():
            raise ValueError(
                f"{fn}: key must be a single PRNG key (shape ()), got a batch of keys of "
                f"shape {shape}; vmap over the keys instead"
            )
        return
    if dtype == np.uint32 and len(shape) == 1:
        return  # legacy raw key, jax.random.PRNGKey(seed)
    raise TypeError(
        f"{fn}: key must be a PRNG key, e.g. jax.random.key(0), "
        f"got an array of shape {tuple(shape)} and dtype {dtype}"
    )


def _check_size(fn: str, name: str, value, minimum: int | None = 1) -> int:
    """A static Python int ``>= minimum`` (shapes depend on it, so it cannot be traced)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(
            f"{fn}: {name} must be a static Python int (it sets array shapes), "
            f"got {type(value).__name__} {value!r}"
        )
    if minimum is not None and value < minimum:
        raise ValueError(f"{fn}: {name} must be an int >= {minimum}, got {int(value)}")
    return int(value)


def _is_traced(value) -> bool:
    return isinstance(value, jax.core.Tracer)


def _check_scale(fn: str, name: str, value) -> None:
    """A finite real number ``>= 0``, or an array of them; traced values pass unchecked."""
    if _is_traced(value):
        return
    if isinstance(value, bool) or isinstance(value, str | bytes):
        raise TypeError(f"{fn}: {name} must be a real number >= 0, got {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{fn}: {name} must be a real number >= 0, got {type(value).__name__} {value!r}"
        ) from None
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{fn}: {name} must be finite and >= 0, got {value!r}")


def _class_sizes(n: int, classes: int) -> list[int]:
    """``n`` points over ``classes`` classes as evenly as possible, the first ones larger."""
    return [n // classes + (c < n % classes) for c in range(classes)]


def _shuffle(key, x, y):
    perm = jax.random.permutation(key, x.shape[0])
    return x[perm], y[perm]


# --------------------------------------------------------------------------------------------
# Truth tables
# --------------------------------------------------------------------------------------------


def _gate(targets: list[int], encoding: str, dtype, fn: str) -> tuple[jax.Array, jax.Array]:
    """Inputs ``(4, 2)`` and targets ``(4, 1)``; ``"symmetric"`` maps 0 to -1 in both."""
    x = np.asarray(_GATE_X, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64).reshape(4, 1)
    if encoding == "symmetric":
        x, y = 2 * x - 1, 2 * y - 1
    elif encoding != "binary":
        raise ValueError(f"{fn}: encoding must be 'binary' or 'symmetric', got {encoding!r}")
    return _float_array(x, dtype, fn), _float_array(y, dtype, fn)


def xor(encoding: str = "binary", *, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """XOR truth table: ``x`` (4, 2) rows ``00, 01, 10, 11``; ``y`` (4, 1) = ``0, 1, 1, 0``.

    ``encoding="symmetric"`` uses -1 for 0 (FANN's convention) in inputs and targets.
    """
    return _gate([0, 1, 1, 0], encoding, dtype, "xor")


def and_gate(encoding: str = "binary", *, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """AND truth table: ``x`` (4, 2), ``y`` (4, 1) = ``0, 0, 0, 1``. See `xor` for encoding."""
    return _gate([0, 0, 0, 1], encoding, dtype, "and_gate")


def or_gate(encoding: str = "binary", *, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """OR truth table: ``x`` (4, 2), ``y`` (4, 1) = ``0, 1, 1, 1``. See `xor` for encoding."""
    return _gate([0, 1, 1, 1], encoding, dtype, "or_gate")


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
    traced (then it is not checked). ``n >= 2``, so that both moons have a point.

    Returns:
      ``x`` of shape ``(n, 2)`` and ``dtype``; ``y`` of shape ``(n,)``, int32.
    """
    _check_key("make_moons", key)
    n = _check_size("make_moons", "n", n, minimum=2)
    _check_scale("make_moons", "noise", noise)
    return _moons(key, noise, n, _float_dtype(dtype, "make_moons"))


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
    return _shuffle(perm_key, x, y)


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
    fn = "line_points"
    _check_key(fn, key)
    n = _check_size(fn, "n", n)
    low = _check_size(fn, "low", low, minimum=None)
    high = _check_size(fn, "high", high, minimum=None)
    if high <= low:
        raise ValueError(f"{fn}: need low < high (high is excluded), got low={low}, high={high}")
    return _line_points(key, slope, intercept, n, low, high, _float_dtype(dtype, fn))


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
    fn = "uniform_clusters"
    _check_key(fn, key)
    n_per_class = _check_size(fn, "n_per_class", n_per_class)
    try:
        bounds = [np.asarray(box, dtype=np.float64) for box in boxes]
    except (TypeError, ValueError):
        raise ValueError(
            f"{fn}: every box must be a sequence of (low, high) number pairs, got {boxes!r}"
        ) from None
    if not bounds:
        raise ValueError(f"{fn}: boxes is empty")
    dims = {b.shape for b in bounds}
    if len(dims) != 1 or bounds[0].ndim != 2 or bounds[0].shape[1] != 2:
        raise ValueError(
            f"{fn}: every box must be a sequence of (low, high) pairs of the same "
            f"length, got shapes {sorted(dims)}"
        )
    for i, b in enumerate(bounds):
        if not np.all(np.isfinite(b)) or np.any(b[:, 0] > b[:, 1]):
            raise ValueError(f"{fn}: box {i} needs finite low <= high pairs, got {b.tolist()}")
    dtype = _float_dtype(dtype, fn)
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
    return _float_array(points, dtype, "perceptron_clusters"), y


# --------------------------------------------------------------------------------------------
# Classification point clouds: spirals and Gaussian blobs
# --------------------------------------------------------------------------------------------

# Each spiral arm sweeps this many radians from the centre to radius 1 (as in Karpathy's
# CS231n example, where the arms do not yet wrap around onto each other).
SPIRAL_SWEEP = 4.0


def spirals(
    key: jax.Array, n: int, classes: int = 3, noise=0.2, *, dtype=jnp.float32
) -> tuple[jax.Array, jax.Array]:
    """Interleaved spiral arms, one per class, in 2-D: the classic non-linear toy problem.

    Class ``c`` gets ``n // classes`` points (the first ``n % classes`` classes one more).
    Along an arm the radius grows evenly from 0 to 1 while the angle grows from
    ``2 pi c / classes`` by `SPIRAL_SWEEP` radians; point ``i`` is
    ``r_i (cos a_i, sin a_i)``. ``noise`` is the standard deviation of Gaussian noise added
    to each ANGLE, in radians (Karpathy's convention, 0.2 by default), not to the
    coordinates as in `make_moons`. Every arm starts at the origin, so the first point of
    each class coincides. The points are shuffled; everything random is driven by ``key``.

    Jittable with ``n`` and ``classes`` static
    (``jax.jit(spirals, static_argnums=(1, 2))``); ``noise`` may be traced (then unchecked).

    Args:
      key: a PRNG key, e.g. ``jax.random.key(0)``.
      n: total number of points, ``n >= classes``.
      classes: number of arms (classes), ``>= 2``.
      noise: angle noise std in radians, finite and ``>= 0``.

    Returns:
      ``x`` of shape ``(n, 2)`` and ``dtype``, within the unit disc up to noise (noise moves
      points along the circle, so ``|x| <= 1`` always); ``y`` of shape ``(n,)``, int32 in
      ``0..classes-1``.
    """
    fn = "spirals"
    _check_key(fn, key)
    n = _check_size(fn, "n", n)
    classes = _check_size(fn, "classes", classes, minimum=2)
    if n < classes:
        raise ValueError(
            f"{fn}: n={n} leaves some of the {classes} classes empty; need n >= classes"
        )
    _check_scale(fn, "noise", noise)
    return _spirals(key, noise, n, classes, _float_dtype(dtype, fn))


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _spirals(key, noise, n: int, classes: int, dtype: np.dtype):
    sizes = _class_sizes(n, classes)
    # Radius 0..1 along each arm, built per class so arms of unequal size still end at 1.
    radius = jnp.concatenate([jnp.linspace(0.0, 1.0, m, dtype=dtype) for m in sizes])
    y = jnp.repeat(jnp.arange(classes, dtype=jnp.int32), np.asarray(sizes), total_repeat_length=n)
    start = (2 * math.pi / classes) * y.astype(dtype)

    perm_key, noise_key = jax.random.split(key)
    angle = start + SPIRAL_SWEEP * radius
    angle = angle + jnp.asarray(noise, dtype) * jax.random.normal(noise_key, (n,), dtype)
    x = radius[:, None] * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=1)
    return _shuffle(perm_key, x.astype(dtype), y)


def blobs(
    key: jax.Array,
    n: int,
    centers=3,
    *,
    std=1.0,
    dim: int | None = None,
    box: tuple[float, float] = (-10.0, 10.0),
    dtype=jnp.float32,
) -> tuple[jax.Array, jax.Array]:
    """Isotropic Gaussian clusters, one per class (scikit-learn's ``make_blobs`` geometry).

    Unlike `uniform_clusters` (uniform boxes, class-ordered, for the perceptron tutorial),
    blobs are Gaussian and shuffled.

    Args:
      key: a PRNG key, e.g. ``jax.random.key(0)``.
      n: total number of points, ``n >= number of centers``; class ``c`` gets
        ``n // k`` points, the first ``n % k`` classes one more.
      centers: either an int ``k >= 1`` (``k`` centres drawn uniformly in ``box`` per
        coordinate, from ``key``) or an array of shape ``(k, d)`` of given centres.
      std: standard deviation of every coordinate: a number, or one per centre, shape
        ``(k,)``; finite and ``>= 0``.
      dim: the dimension ``d`` of drawn centres (default 2). With given centres it must be
        ``None`` or equal to ``centers.shape[1]``.
      box: ``(low, high)`` for drawn centres, ``low < high``.
      dtype: float dtype of ``x``.

    Jittable with ``n`` (and an int ``centers``) static
    (``jax.jit(blobs, static_argnums=(1, 2))``); ``std`` and array centres may be traced.

    Returns:
      ``x`` of shape ``(n, d)`` and ``dtype``; ``y`` of shape ``(n,)``, int32 in ``0..k-1``
      (the index of the centre each point was drawn around).
    """
    fn = "blobs"
    _check_key(fn, key)
    n = _check_size(fn, "n", n)
    dtype = _float_dtype(dtype, fn)
    if isinstance(centers, bool | int | np.integer):
        k = _check_size(fn, "centers", centers)
        d = 2 if dim is None else _check_size(fn, "dim", dim)
        low, high = _check_box(fn, box)
        given = None
    else:
        given = _check_centers(fn, centers, dim)
        k, d = given.shape
        low = high = 0.0  # unused
    if n < k:
        raise ValueError(f"{fn}: n={n} leaves some of the {k} clusters empty; need n >= {k}")
    _check_scale(fn, "std", std)
    if np.ndim(std) not in (0,) and np.shape(std) != (k,):
        raise ValueError(f"{fn}: std must be a number or have shape ({k},), got {np.shape(std)}")
    return _blobs(key, given, std, n, k, d, low, high, dtype)


def _check_box(fn: str, box) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in box)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: box must be a pair (low, high) of numbers, got {box!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"{fn}: box must be finite with low < high, got {box!r}")
    return low, high


def _check_centers(fn: str, centers, dim):
    """Given centres as an array ``(k, d)``; traced centres are accepted by shape alone."""
    if not _is_traced(centers) and not isinstance(centers, jax.Array):
        try:
            centers = np.asarray(centers, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(
                f"{fn}: centers must be an int or an array of shape (k, d), got {centers!r}"
            ) from None
    if centers.ndim != 2 or centers.shape[0] < 1 or centers.shape[1] < 1:
        raise ValueError(
            f"{fn}: centers must be an int or an array of shape (k, d), got shape {centers.shape}"
        )
    if not _is_traced(centers) and not np.all(np.isfinite(np.asarray(centers))):
        raise ValueError(f"{fn}: centers must be finite")
    if dim is not None and dim != centers.shape[1]:
        raise ValueError(
            f"{fn}: dim={dim!r} but the given centers have dimension {centers.shape[1]}"
        )
    return centers


@functools.partial(jax.jit, static_argnums=(3, 4, 5, 6, 7, 8))
def _blobs(key, given, std, n: int, k: int, d: int, low: float, high: float, dtype: np.dtype):
    center_key, noise_key, perm_key = jax.random.split(key, 3)
    if given is None:
        centers = jax.random.uniform(center_key, (k, d), dtype, minval=low, maxval=high)
    else:
        centers = jnp.asarray(given, dtype)
    sizes = np.asarray(_class_sizes(n, k))
    y = jnp.repeat(jnp.arange(k, dtype=jnp.int32), sizes, total_repeat_length=n)
    scale = jnp.broadcast_to(jnp.asarray(std, dtype), (k,))[y]
    x = centers[y] + scale[:, None] * jax.random.normal(noise_key, (n, d), dtype)
    return _shuffle(perm_key, x, y)


# --------------------------------------------------------------------------------------------
# Handwritten digits
# --------------------------------------------------------------------------------------------


@functools.cache
def _digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """The shipped uint8 arrays, read once per process (the file is never modified)."""
    resource = importlib.resources.files("jaxnn") / "data" / "digits.npz"
    with resource.open("rb") as f, np.load(f, allow_pickle=False) as data:
        x, y = np.array(data["x"]), np.array(data["y"])
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def digits(*, scale: bool = False, dtype=jnp.float32) -> tuple[jax.Array, jax.Array]:
    """The 1 797 8x8 handwritten digits of UCI "optdigits", as scikit-learn's ``load_digits``.

    Each image is a 32x32 bitmap of a handwritten digit cut into 4x4 blocks whose "on" pixels
    were counted, so every pixel is an integer 0..16. Classes 0..9 have
    178, 182, 177, 183, 181, 182, 181, 179, 174, 180 examples; the rows are in the order
    scikit-learn ships (not grouped by class).

    Args:
      scale: ``False`` (default) keeps the raw counts 0..16, exactly as ``load_digits``
        returns them, so results compare one to one with scikit-learn; ``True`` divides by 16
        so every pixel lies in [0, 1] (what a sigmoid/ReLU MLP trains on comfortably).
      dtype: float dtype of ``x`` (float64 needs JAX's 64-bit mode); the raw values are
        exact in any float type.

    Returns:
      ``x`` of shape ``(1797, 64)`` and ``dtype``, rows are images flattened row-major
      (``x.reshape(-1, 8, 8)`` gives the pictures); ``y`` of shape ``(1797,)``, int32 labels.

    Provenance and licence: E. Alpaydin and C. Kaynak (1998), "Optical Recognition of
    Handwritten Digits", UCI Machine Learning Repository (the test set, 13 writers, forms
    preprocessed with NIST's programs),
    https://archive.ics.uci.edu/ml/datasets/Optical+Recognition+of+Handwritten+Digits.
    This copy is the one bundled with scikit-learn (``sklearn/datasets/data/digits.csv.gz``),
    redistributed under scikit-learn's BSD 3-Clause License, Copyright (c) 2007-2026 The
    scikit-learn developers; the full notice is in ``jaxnn/data/README.md``. Stored as uint8
    in ``jaxnn/data/digits.npz``; scikit-learn is not a dependency.
    """
    if not isinstance(scale, bool):
        raise TypeError(f"digits: scale must be True or False, got {scale!r}")
    dtype = _float_dtype(dtype, "digits")
    x, y = _digits_raw()
    x = x.astype(np.float64) / 16.0 if scale else x
    return jnp.asarray(x, dtype), jnp.asarray(y, jnp.int32)


# --------------------------------------------------------------------------------------------
# Held-out split
# --------------------------------------------------------------------------------------------


def split(key: jax.Array, x, t, fraction: float):
    """Shuffle the examples and hold out a ``fraction`` of them, e.g. for ``validation=``.

    ``n_held = round(fraction * N)`` examples (Python's ``round``) form the held-out part,
    the other ``N - n_held`` the training part, both in a random order drawn from ``key``;
    together they are a permutation of the input, nothing lost or repeated. Rows of ``x``
    and ``t`` stay paired.

    Args:
      key: a PRNG key, e.g. ``jax.random.key(0)``.
      x: inputs, an array with the examples on axis 0, shape ``(N, ...)``.
      t: targets (labels or values) for the same examples, shape ``(N, ...)``.
      fraction: the held-out share, a Python float strictly between 0 and 1, such that both
        parts are non-empty. It sets shapes, so it cannot be traced.

    NumPy inputs give NumPy outputs (dtypes kept, e.g. float64 with x64 off); JAX arrays
    give JAX arrays. Jittable with ``fraction`` static (``x``, ``t`` and ``key`` traced).

    Returns:
      ``((x_train, t_train), (x_held, t_held))``.
    """
    fn = "split"
    _check_key(fn, key)
    x = _as_examples(fn, "x", x)
    t = _as_examples(fn, "t", t)
    if x.shape[0] != t.shape[0]:
        raise ValueError(
            f"{fn}: x and t must have the same number of examples (axis 0), "
            f"got x {tuple(x.shape)} and t {tuple(t.shape)}"
        )
    n = x.shape[0]
    n_held = _held_count(fn, fraction, n)
    perm = jax.random.permutation(key, n)
    held, train = perm[:n_held], perm[n_held:]
    return (_take(x, train), _take(t, train)), (_take(x, held), _take(t, held))


def _as_examples(fn: str, name: str, a):
    """An array with at least one axis; lists become NumPy arrays."""
    if not hasattr(a, "shape") or not hasattr(a, "dtype"):
        try:
            a = np.asarray(a)
        except (TypeError, ValueError):
            raise TypeError(f"{fn}: {name} must be an array, got {type(a).__name__}") from None
        if a.dtype == object:
            raise TypeError(f"{fn}: {name} must be a numeric array, got ragged or object data")
    if a.ndim < 1:
        raise ValueError(f"{fn}: {name} must have the examples on axis 0, got a scalar")
    return a


def _held_count(fn: str, fraction, n: int) -> int:
    if (
        _is_traced(fraction)
        or isinstance(fraction, bool)
        or not isinstance(fraction, float | int | np.floating | np.integer)
    ):
        raise TypeError(
            f"{fn}: fraction must be a Python float in (0, 1) (it sets shapes, so it cannot "
            f"be traced), got {type(fraction).__name__} {fraction!r}"
        )
    if not 0 < fraction < 1:
        raise ValueError(f"{fn}: fraction is the held-out share, in (0, 1), got {fraction!r}")
    n_held = round(float(fraction) * n)
    if not 0 < n_held < n:
        raise ValueError(
            f"{fn}: fraction={fraction!r} of {n} examples holds out {n_held}, leaving "
            f"{n - n_held} to train on; both parts must be non-empty"
        )
    return n_held


def _take(a, idx):
    """Rows ``idx`` of ``a``: NumPy stays NumPy on the host, anything traced goes through JAX."""
    if isinstance(a, np.ndarray) and not _is_traced(idx):
        return a[np.asarray(idx)]
    return jnp.asarray(a)[idx]
