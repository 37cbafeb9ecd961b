"""Datasets: exact tables, moons geometry, determinism per key, labels consistent with rules."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import datasets

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
