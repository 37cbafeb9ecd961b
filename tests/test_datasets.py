"""Datasets: exact tables, moons geometry, determinism per key, labels consistent with rules."""

import hashlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import datasets
from jaxnn import datasets as ds

GATE_X = [[0, 0], [0, 1], [1, 0], [1, 1]]


@pytest.mark.parametrize(
    "fn, targets",
    [
        (datasets.xor, [0, 1, 1, 0]),
        (datasets.and_gate, [0, 0, 0, 1]),
        (datasets.or_gate, [0, 1, 1, 1]),
    ],
)
def test_gates_binary_and_symmetric(fn, targets):
    x, y = fn()
    assert x.dtype == jnp.float32 and y.dtype == jnp.float32
    assert x.shape == (4, 2) and y.shape == (4, 1)
    np.testing.assert_array_equal(x, GATE_X)
    np.testing.assert_array_equal(y[:, 0], targets)

    xs, ys = fn("symmetric")
    np.testing.assert_array_equal(xs, 2 * np.asarray(GATE_X) - 1)
    np.testing.assert_array_equal(ys[:, 0], 2 * np.asarray(targets) - 1)


def test_gate_rejects_unknown_encoding():
    with pytest.raises(ValueError, match="encoding"):
        datasets.xor("bipolar")


def test_trask_and_lins_tables():
    x = datasets.trask_x()
    np.testing.assert_array_equal(x, [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    x2, y2 = datasets.trask_2layer()
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2, [[0], [0], [1], [1]])
    x3, y3 = datasets.trask_3layer()
    np.testing.assert_array_equal(x3, x)
    np.testing.assert_array_equal(y3, [[0], [1], [1], [0]])
    xl, yl = datasets.lins()
    np.testing.assert_array_equal(xl, [[0, 0, 1], [1, 1, 1], [1, 0, 1], [0, 1, 1]])
    np.testing.assert_array_equal(yl, [[0], [1], [1], [0]])
    assert {a.dtype for a in (x, x2, y2, x3, y3, xl, yl)} == {jnp.dtype(jnp.float32)}


def test_float64_tables_need_x64():
    with pytest.raises(ValueError, match="64-bit"):
        datasets.trask_3layer(jnp.float64)
    with jax.enable_x64(True):
        x, y = datasets.trask_3layer(jnp.float64)
        assert x.dtype == jnp.float64 and y.dtype == jnp.float64


def test_make_moons_shapes_balance_and_geometry():
    n = 101
    x, y = datasets.make_moons(jax.random.key(0), n, 0.0)
    assert x.shape == (n, 2) and x.dtype == jnp.float32
    assert y.shape == (n,) and y.dtype == jnp.int32
    assert int((y == 0).sum()) == n // 2 and int((y == 1).sum()) == n - n // 2
    x, y = np.asarray(x, np.float64), np.asarray(y)
    outer, inner = x[y == 0], x[y == 1]
    # Label 0: upper half of the unit circle at the origin.
    np.testing.assert_allclose(np.linalg.norm(outer, axis=1), 1.0, atol=1e-6)
    assert outer[:, 1].min() >= -1e-6
    # Label 1: lower half of the unit circle centred at (1, 0.5).
    np.testing.assert_allclose(np.linalg.norm(inner - [1.0, 0.5], axis=1), 1.0, atol=1e-6)
    assert inner[:, 1].max() <= 0.5 + 1e-6
    # Evenly spaced angles from 0 to pi, endpoints included.
    t_out, t_in = np.linspace(0, np.pi, n // 2), np.linspace(0, np.pi, n - n // 2)
    np.testing.assert_allclose(np.sort(outer[:, 0]), np.sort(np.cos(t_out)), atol=1e-6)
    np.testing.assert_allclose(np.sort(inner[:, 0]), np.sort(1 - np.cos(t_in)), atol=1e-6)


def test_make_moons_is_shuffled_and_deterministic_per_key():
    x1, y1 = datasets.make_moons(jax.random.key(1), 200, 0.1)
    x2, y2 = datasets.make_moons(jax.random.key(1), 200, 0.1)
    x3, y3 = datasets.make_moons(jax.random.key(2), 200, 0.1)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    assert not np.array_equal(y1, y3)
    # Shuffled: labels are not in two sorted blocks.
    assert np.any(np.diff(np.asarray(y1)) < 0)


def test_make_moons_noise_has_the_requested_scale():
    key = jax.random.key(3)
    clean, y0 = datasets.make_moons(key, 200, 0.0)
    noisy, y1 = datasets.make_moons(key, 200, 0.2)
    # Same key, same permutation: the difference is the noise alone.
    np.testing.assert_array_equal(y0, y1)
    assert abs(float(jnp.std(noisy - clean)) - 0.2) < 0.03


def test_make_moons_jit_matches_eager():
    key = jax.random.key(4)
    jitted = jax.jit(datasets.make_moons, static_argnums=1)
    xj, yj = jitted(key, 200, 0.05)
    xe, ye = datasets.make_moons(key, 200, 0.05)
    np.testing.assert_array_equal(yj, ye)
    np.testing.assert_allclose(xj, xe, rtol=0, atol=1e-6)


def test_make_moons_rejects_traced_n():
    with pytest.raises(TypeError, match="static"):
        jax.jit(datasets.make_moons)(jax.random.key(0), 10)


def test_britz_moons_fingerprint():
    X, y = datasets.britz_moons()
    assert isinstance(X, np.ndarray) and isinstance(y, np.ndarray)
    assert X.dtype == np.float64 and X.shape == (200, 2)
    assert y.dtype == np.int64 and y.shape == (200,)
    np.testing.assert_allclose(X.sum(0), [97.18469025, 51.77337658], rtol=0, atol=1e-7)
    np.testing.assert_array_equal(y[:10], [0, 1, 1, 0, 1, 1, 0, 1, 0, 1])
    assert (y == 0).sum() == (y == 1).sum() == 100


def test_line_points_labels_follow_the_line():
    x, y = datasets.line_points(jax.random.key(5), 500, 1.0, 4.0)
    assert x.shape == (500, 2) and x.dtype == jnp.float32 and y.dtype == jnp.int32
    x, y = np.asarray(x), np.asarray(y)
    assert x.min() >= 1 and x.max() <= 99
    np.testing.assert_array_equal(x, np.round(x))  # integer grid points
    np.testing.assert_array_equal(y, (x[:, 1] > x[:, 0] + 4).astype(int))
    assert 0 < y.sum() < len(y)

    x, y = datasets.line_points(jax.random.key(6), 500, -0.5, 6.0, low=-10, high=10)
    x, y = np.asarray(x), np.asarray(y)
    assert x.min() >= -10 and x.max() <= 9
    np.testing.assert_array_equal(y, (x[:, 1] > -0.5 * x[:, 0] + 6).astype(int))
    assert 0 < y.sum() < len(y)


def test_uniform_clusters_counts_order_and_bounds():
    x, y = datasets.uniform_clusters(jax.random.key(7), 50, datasets.BIAS_BOXES)
    assert x.shape == (100, 2) and x.dtype == jnp.float32
    np.testing.assert_array_equal(y, [0] * 50 + [1] * 50)
    x = np.asarray(x)
    for label, ((xlo, xhi), (ylo, yhi)) in enumerate(datasets.BIAS_BOXES):
        pts = x[label * 50 : (label + 1) * 50]
        assert pts[:, 0].min() >= xlo and pts[:, 0].max() <= xhi
        assert pts[:, 1].min() >= ylo and pts[:, 1].max() <= yhi
        # Spread over the box, not stuck in a corner.
        assert pts[:, 0].max() - pts[:, 0].min() > 0.5 * (xhi - xlo)
    assert datasets.BIAS_BOXES == (((-2.5, 2.3), (-1.7, 2.8)), ((-7.2, -4.4), (3.0, 6.5)))


def test_uniform_clusters_three_classes_in_3d():
    boxes = [((0, 1), (0, 1), (0, 1)), ((5, 6), (5, 6), (5, 6)), ((-3, -2), (0, 1), (9, 10))]
    x, y = datasets.uniform_clusters(jax.random.key(8), 10, boxes)
    assert x.shape == (30, 3)
    np.testing.assert_array_equal(y, np.repeat([0, 1, 2], 10))
    lows = np.asarray([[b[0] for b in box] for box in boxes])
    assert np.all(np.asarray(x) >= np.repeat(lows, 10, axis=0))
    assert np.all(np.asarray(x) <= np.repeat(lows + 1, 10, axis=0))


def test_perceptron_clusters():
    x2, y = datasets.perceptron_clusters()
    x3, y3 = datasets.perceptron_clusters(dim=3)
    assert x2.shape == (24, 2) and x3.shape == (24, 3) and y.dtype == jnp.int32
    np.testing.assert_array_equal(y, [1] * 12 + [0] * 12)
    np.testing.assert_array_equal(y3, y)
    np.testing.assert_array_equal(x3[:, :2], x2)
    np.testing.assert_allclose(x2[0], [3, 4])
    np.testing.assert_allclose(x3[12], [-3, -4, 7.6])
    np.testing.assert_allclose(x3[-1], [-3.7, -5.8, 8.7])
    # The clusters sit in opposite quadrants, so a line through the origin separates them.
    assert np.all(np.asarray(x2[:12]) > 0) and np.all(np.asarray(x2[12:]) < 0)
    with pytest.raises(ValueError):
        datasets.perceptron_clusters(dim=4)


# --------------------------------------------------------------------------------------------
# digits
# --------------------------------------------------------------------------------------------

DIGITS_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
DIGITS_X_SHA256 = "8f26b2bd9d135c256808f68f14fdabddde6d9c7f869ae419704b051f0f14b3b3"


def test_digits_fingerprint():
    x, y = datasets.digits()
    assert x.shape == (1797, 64) and x.dtype == jnp.float32
    assert y.shape == (1797,) and y.dtype == jnp.int32
    x, y = np.asarray(x), np.asarray(y)
    np.testing.assert_array_equal(np.bincount(y), DIGITS_CLASS_COUNTS)
    assert x.min() == 0 and x.max() == 16
    np.testing.assert_array_equal(x, np.round(x))  # raw pixel counts, unscaled
    assert int(x.sum(dtype=np.int64)) == 561718
    raw = x.astype(np.uint8)
    assert hashlib.sha256(raw.tobytes()).hexdigest() == DIGITS_X_SHA256
    # Order as scikit-learn ships it: 0..9 repeated at the start, not grouped by class.
    np.testing.assert_array_equal(y[:20], list(range(10)) * 2)
    # The first image is a zero: an empty centre column, ink on both sides.
    np.testing.assert_array_equal(raw[0].reshape(8, 8)[:, 0], 0)
    np.testing.assert_array_equal(raw[0].reshape(8, 8)[3], [0, 4, 12, 0, 0, 8, 8, 0])


def test_digits_scale_and_dtype():
    x, y = datasets.digits()
    xs, ys = datasets.digits(scale=True)
    np.testing.assert_array_equal(xs, np.asarray(x) / 16)
    np.testing.assert_array_equal(ys, y)
    assert float(xs.max()) == 1.0 and xs.dtype == jnp.float32
    with pytest.raises(ValueError, match="64-bit"):
        datasets.digits(dtype=jnp.float64)
    with jax.enable_x64(True):
        x64, _ = datasets.digits(scale=True, dtype=jnp.float64)
        assert x64.dtype == jnp.float64
        np.testing.assert_array_equal(x64, np.asarray(x, np.float64) / 16)


def test_digits_returns_fresh_arrays():
    x, _ = datasets.digits()
    x.at[0, 0].set(99.0)  # functional update; the cached data must not change
    assert float(datasets.digits()[0][0, 0]) == 0.0


# --------------------------------------------------------------------------------------------
# spirals and blobs
# --------------------------------------------------------------------------------------------


def test_spirals_shapes_counts_and_dtypes():
    x, y = datasets.spirals(jax.random.key(0), 91, 3)
    assert x.shape == (91, 2) and x.dtype == jnp.float32
    assert y.shape == (91,) and y.dtype == jnp.int32
    np.testing.assert_array_equal(np.bincount(np.asarray(y)), [31, 30, 30])
    assert np.any(np.diff(np.asarray(y)) < 0)  # shuffled
    # Noise moves points along circles: never outside the unit disc.
    assert float(jnp.linalg.norm(x, axis=1).max()) <= 1 + 1e-6


def test_spirals_geometry_without_noise():
    classes, n = 3, 91
    x, y = datasets.spirals(jax.random.key(1), n, classes, noise=0.0)
    x, y = np.asarray(x, np.float64), np.asarray(y)
    r = np.linalg.norm(x, axis=1)
    for c in range(classes):
        rc = np.sort(r[y == c])
        # Radii evenly spaced from 0 to 1 along each arm.
        np.testing.assert_allclose(rc, np.linspace(0, 1, len(rc)), atol=1e-6)
        assert len(rc) == (31 if c == 0 else 30)
        # Angle = 2 pi c / classes + SPIRAL_SWEEP * r (mod 2 pi), away from the centre.
        far = (y == c) & (r > 0.05)
        want = 2 * np.pi * c / classes + datasets.SPIRAL_SWEEP * r[far]
        got = np.arctan2(x[far, 1], x[far, 0])
        np.testing.assert_allclose(np.angle(np.exp(1j * (got - want))), 0, atol=1e-4)


def test_spirals_noise_only_turns_points():
    key = jax.random.key(2)
    clean, y0 = datasets.spirals(key, 91, noise=0.0)
    noisy, y1 = datasets.spirals(key, 91, noise=0.3)
    np.testing.assert_array_equal(y0, y1)  # same key, same order
    np.testing.assert_allclose(
        jnp.linalg.norm(noisy, axis=1), jnp.linalg.norm(clean, axis=1), atol=1e-6
    )
    assert float(jnp.abs(noisy - clean).max()) > 0.05


def test_spirals_deterministic_per_key_and_jittable():
    a = datasets.spirals(jax.random.key(3), 91, 3, 0.2)
    b = datasets.spirals(jax.random.key(3), 91, 3, 0.2)
    c = datasets.spirals(jax.random.key(4), 91, 3, 0.2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    xj, yj = jax.jit(datasets.spirals, static_argnums=(1, 2))(jax.random.key(3), 91, 3, 0.2)
    np.testing.assert_array_equal(yj, a[1])
    np.testing.assert_allclose(xj, a[0], atol=1e-6)
    xs, ys = jax.vmap(lambda k: datasets.spirals(k, 91))(jax.random.split(jax.random.key(5), 4))
    assert xs.shape == (4, 91, 2) and ys.shape == (4, 91)
    np.testing.assert_array_equal(
        xs[0], datasets.spirals(jax.random.split(jax.random.key(5), 4)[0], 91)[0]
    )


def test_blobs_drawn_centres():
    x, y = datasets.blobs(jax.random.key(6), 300, 3, std=0.5, dim=3, box=(-20.0, 20.0))
    assert x.shape == (300, 3) and x.dtype == jnp.float32 and y.dtype == jnp.int32
    x, y = np.asarray(x), np.asarray(y)
    np.testing.assert_array_equal(np.bincount(y), [100] * 3)
    assert np.any(np.diff(y) < 0)  # shuffled
    means = np.stack([x[y == c].mean(0) for c in range(3)])
    stds = np.stack([x[y == c].std(0) for c in range(3)])
    assert np.all(np.abs(means) < 20.5)
    np.testing.assert_allclose(stds, 0.5, rtol=0.3)
    # Distinct centres, well apart relative to the spread.
    gaps = np.linalg.norm(means[:, None] - means[None], axis=-1) + np.eye(3) * 100
    assert gaps.min() > 2


def test_blobs_given_centres_and_per_centre_std():
    centres = np.array([[0.0, 0.0], [10.0, -5.0], [3.0, 7.0]])
    x, y = datasets.blobs(jax.random.key(7), 301, centres, std=0.0)
    np.testing.assert_array_equal(np.bincount(np.asarray(y)), [101, 100, 100])
    np.testing.assert_array_equal(x, centres[np.asarray(y)].astype(np.float32))
    x, y = datasets.blobs(jax.random.key(8), 301, centres, std=[0.1, 1.0, 2.0])
    x, y = np.asarray(x), np.asarray(y)
    for c, s in enumerate([0.1, 1.0, 2.0]):
        np.testing.assert_allclose(x[y == c].mean(0), centres[c], atol=4 * s / np.sqrt(100))
        np.testing.assert_allclose(x[y == c].std(0), s, rtol=0.25)


def test_blobs_deterministic_per_key_and_jittable():
    key = jax.random.key(9)
    a = datasets.blobs(key, 300, 3)
    b = datasets.blobs(key, 300, 3)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], datasets.blobs(jax.random.key(10), 300, 3)[0])
    xj, yj = jax.jit(datasets.blobs, static_argnums=(1, 2))(key, 300, 3)
    np.testing.assert_array_equal(yj, a[1])
    np.testing.assert_allclose(xj, a[0], atol=1e-5)
    xj, _ = jax.jit(datasets.blobs, static_argnums=1)(key, 300, jnp.ones((2, 5)))
    assert xj.shape == (300, 5)


# --------------------------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------------------------


def test_split_sizes_and_permutation():
    n = 103
    x = jnp.arange(n * 2, dtype=jnp.float32).reshape(n, 2)
    t = jnp.arange(n, dtype=jnp.int32) * 10
    (xt, tt), (xh, th) = datasets.split(jax.random.key(11), x, t, 0.2)
    assert xh.shape == (21, 2) and th.shape == (21,)  # round(0.2 * 103) = 21
    assert xt.shape == (82, 2) and tt.shape == (82,)
    assert xt.dtype == jnp.float32 and tt.dtype == jnp.int32
    rows = np.concatenate([np.asarray(xt), np.asarray(xh)])
    ids = rows[:, 0].astype(int) // 2
    np.testing.assert_array_equal(np.sort(ids), np.arange(n))  # nothing lost or repeated
    np.testing.assert_array_equal(rows[:, 1], 2 * ids + 1)
    # Targets stay paired with their inputs.
    np.testing.assert_array_equal(np.concatenate([tt, th]), ids * 10)
    assert not np.array_equal(ids, np.arange(n))  # shuffled


def test_split_is_deterministic_keeps_numpy_and_jits():
    x, y = datasets.britz_moons()
    (xt, yt), (xh, yh) = datasets.split(jax.random.key(12), x, y, 0.25)
    assert isinstance(xt, np.ndarray) and xt.dtype == np.float64 and yh.dtype == np.int64
    assert xt.shape == (150, 2) and xh.shape == (50, 2)
    (xt2, _), (xh2, _) = datasets.split(jax.random.key(12), x, y, 0.25)
    np.testing.assert_array_equal(xh, xh2)
    (_, _), (xh3, _) = datasets.split(jax.random.key(13), x, y, 0.25)
    assert not np.array_equal(xh, xh3)
    jitted = jax.jit(datasets.split, static_argnums=3)
    (_, yt_j), (_, yh_j) = jitted(jax.random.key(12), x, y, 0.25)
    np.testing.assert_array_equal(yt_j, yt)
    np.testing.assert_array_equal(yh_j, yh)


def test_split_of_digits_for_validation():
    x, y = datasets.digits(scale=True)
    (xt, yt), (xv, yv) = datasets.split(jax.random.key(14), x, y, 0.2)
    assert xt.shape == (1438, 64) and xv.shape == (359, 64)
    # Every class on both sides of a random 80/20 split of 1 797 digits.
    assert np.all(np.bincount(np.asarray(yv), minlength=10) > 15)
    assert np.bincount(np.asarray(yt)).sum() + np.bincount(np.asarray(yv)).sum() == 1797


# --------------------------------------------------------------------------------------------
# Bad arguments: a clear TypeError/ValueError naming the function, never a raw JAX/XLA error
# --------------------------------------------------------------------------------------------

K = jax.random.key(0)
X10, T10 = jnp.zeros((10, 2)), jnp.zeros(10, jnp.int32)
BOXES = ds.BIAS_BOXES


def bad(name, exc, words, fn, *args, **kwargs):
    """A row of the table: ``fn(*args, **kwargs)`` must raise ``exc`` saying every word."""
    return pytest.param(fn, args, kwargs, exc, words.split("|"), id=name)


BAD_ARGUMENTS = [
    # keys: a seed where a key belongs, a key of the wrong kind, a batch of keys
    bad("spirals-int-key", TypeError, "spirals|jax.random.key(0)", ds.spirals, 0, 30),
    bad("moons-int-key", TypeError, "make_moons|jax.random.key(0)", ds.make_moons, 0, 30),
    bad("blobs-int-key", TypeError, "blobs|jax.random.key(1)|int", ds.blobs, 1, 30),
    bad("split-int-key", TypeError, "split|PRNG key", ds.split, 0, X10, T10, 0.2),
    bad("line-int-key", TypeError, "line_points|key", ds.line_points, 3, 10),
    bad("clusters-int-key", TypeError, "uniform_clusters|key", ds.uniform_clusters, 3, 5, BOXES),
    bad("float-key", TypeError, "spirals|shape (2,)|float32", ds.spirals, jnp.zeros(2), 30),
    bad("string-key", TypeError, "blobs|PRNG key|str", ds.blobs, "seed", 30),
    bad(
        "key-batch", ValueError, "spirals|single|(3,)|vmap", ds.spirals, jax.random.split(K, 3), 30
    ),
    # sizes
    bad("spirals-negative-n", ValueError, "spirals|n must|>= 1|-5", ds.spirals, K, -5),
    bad("spirals-zero-n", ValueError, "spirals|n must|got 0", ds.spirals, K, 0),
    bad("spirals-float-n", TypeError, "spirals|n must|int|30.0", ds.spirals, K, 30.0),
    bad("spirals-bool-n", TypeError, "spirals|n must|int", ds.spirals, K, True),
    bad("spirals-array-n", TypeError, "spirals|static", ds.spirals, K, jnp.array(30)),
    bad("spirals-1-class", ValueError, "spirals|classes|>= 2|1", ds.spirals, K, 30, classes=1),
    bad("spirals-float-classes", TypeError, "spirals|classes|int", ds.spirals, K, 30, 2.5),
    bad("spirals-n-lt-classes", ValueError, "spirals|n=2|empty", ds.spirals, K, 2, classes=3),
    bad("moons-negative-n", ValueError, "make_moons|n must|-1", ds.make_moons, K, -1),
    bad("moons-one-point", ValueError, "make_moons|>= 2", ds.make_moons, K, 1),
    bad("moons-float-n", TypeError, "make_moons|static|int", ds.make_moons, K, 10.5),
    bad("blobs-zero-n", ValueError, "blobs|n must|got 0", ds.blobs, K, 0),
    bad("blobs-zero-centres", ValueError, "blobs|centers|>= 1", ds.blobs, K, 10, 0),
    bad("blobs-negative-dim", ValueError, "blobs|dim|-1", ds.blobs, K, 10, 2, dim=-1),
    bad("blobs-n-lt-centres", ValueError, "blobs|n=2|5 clusters", ds.blobs, K, 2, 5),
    bad("blobs-1d-centres", ValueError, "blobs|centers|(k, d)|(2,)", ds.blobs, K, 10, [1.0, 2.0]),
    bad("blobs-ragged-centres", TypeError, "blobs|centers", ds.blobs, K, 10, [[1.0], [2.0, 3.0]]),
    bad("blobs-nan-centres", ValueError, "blobs|finite", ds.blobs, K, 10, [[np.nan, 0.0]]),
    bad(
        "blobs-dim-mismatch", ValueError, "blobs|dim=2|3", ds.blobs, K, 10, np.zeros((2, 3)), dim=2
    ),
    bad("blobs-inverted-box", ValueError, "blobs|low < high", ds.blobs, K, 10, box=(5.0, -5.0)),
    bad("blobs-box-not-pair", TypeError, "blobs|box|pair", ds.blobs, K, 10, box=3.0),
    bad("line-zero-n", ValueError, "line_points|n must|got 0", ds.line_points, K, 0),
    bad(
        "line-empty-range",
        ValueError,
        "line_points|low < high",
        ds.line_points,
        K,
        9,
        low=5,
        high=5,
    ),
    bad("line-float-low", TypeError, "line_points|low|int", ds.line_points, K, 10, low=0.5),
    bad(
        "clusters-negative-n",
        ValueError,
        "uniform_clusters|n_per_class|-3",
        ds.uniform_clusters,
        K,
        -3,
        BOXES,
    ),
    bad(
        "clusters-inverted-box",
        ValueError,
        "uniform_clusters|box 0|low <= high",
        ds.uniform_clusters,
        K,
        3,
        [((1, 0), (0, 1))],
    ),
    bad("clusters-no-boxes", ValueError, "uniform_clusters|empty", ds.uniform_clusters, K, 3, []),
    # scales
    bad(
        "spirals-negative-noise",
        ValueError,
        "spirals|noise|>= 0|-0.1",
        ds.spirals,
        K,
        30,
        noise=-0.1,
    ),
    bad("spirals-nan-noise", ValueError, "spirals|noise|finite", ds.spirals, K, 30, noise=np.nan),
    bad("spirals-string-noise", TypeError, "spirals|noise|'high'", ds.spirals, K, 30, noise="high"),
    bad("moons-negative-noise", ValueError, "make_moons|noise|>= 0", ds.make_moons, K, 30, -1.0),
    bad("blobs-negative-std", ValueError, "blobs|std|>= 0", ds.blobs, K, 30, std=-2.0),
    bad("blobs-inf-std", ValueError, "blobs|std|finite", ds.blobs, K, 30, std=np.inf),
    bad("blobs-std-length", ValueError, "blobs|std|(3,)|(2,)", ds.blobs, K, 30, 3, std=[1.0, 2.0]),
    # dtypes and flags
    bad(
        "spirals-int-dtype", TypeError, "spirals|floating|int32", ds.spirals, K, 30, dtype=jnp.int32
    ),
    bad("blobs-bogus-dtype", TypeError, "blobs|dtype|float77", ds.blobs, K, 30, dtype="float77"),
    bad("digits-f64-no-x64", ValueError, "digits|64-bit|enable_x64", ds.digits, dtype=jnp.float64),
    bad("digits-scale-not-bool", TypeError, "digits|scale|True or False|16", ds.digits, scale=16),
    bad("xor-bad-encoding", ValueError, "xor|binary|symmetric|bipolar", ds.xor, "bipolar"),
    # split
    bad("split-zero-fraction", ValueError, "split|fraction|(0, 1)|0.0", ds.split, K, X10, T10, 0.0),
    bad("split-one-fraction", ValueError, "split|fraction|(0, 1)|1.0", ds.split, K, X10, T10, 1.0),
    bad("split-percent", ValueError, "split|fraction|(0, 1)|20", ds.split, K, X10, T10, 20),
    bad("split-negative-fraction", ValueError, "split|fraction", ds.split, K, X10, T10, -0.2),
    bad("split-string-fraction", TypeError, "split|fraction|float", ds.split, K, X10, T10, "0.2"),
    bad("split-empty-held", ValueError, "split|holds out 0|non-empty", ds.split, K, X10, T10, 0.01),
    bad("split-empty-train", ValueError, "split|leaving 0|non-empty", ds.split, K, X10, T10, 0.99),
    bad(
        "split-length-mismatch",
        ValueError,
        "split|same number|(10, 2)|(7,)",
        ds.split,
        K,
        X10,
        T10[:7],
        0.2,
    ),
    bad("split-scalar-x", ValueError, "split|x must|axis 0|scalar", ds.split, K, 3.0, T10, 0.2),
    bad("split-ragged-t", TypeError, "split|t must", ds.split, K, X10, [[1], [2, 3]], 0.2),
    bad("split-no-examples", ValueError, "split|non-empty", ds.split, K, X10[:0], T10[:0], 0.5),
]


@pytest.mark.parametrize("fn, args, kwargs, exc, words", BAD_ARGUMENTS)
def test_bad_arguments_get_clear_errors(fn, args, kwargs, exc, words):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert type(info.value) in (TypeError, ValueError)  # not a JAX/XLA error subclass
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_traced_fraction_is_a_clear_error():
    with pytest.raises(TypeError, match="split: fraction .* cannot be traced"):
        jax.jit(datasets.split)(K, X10, T10, 0.2)
