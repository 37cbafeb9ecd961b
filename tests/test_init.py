"""init.tutorial replays the tutorials' NumPy draws bit for bit, without touching global state."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import Dense, Sigmoid, Tanh, init, serial

KEY = jax.random.key(0)


@contextlib.contextmanager
def global_numpy_rng(seed):
    """Seed NumPy's global generator as a tutorial does, and put the state back afterwards."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(saved)


def template_341():
    model = serial(Dense(4, use_bias=False), Sigmoid(), Dense(1, use_bias=False))
    return model.init(KEY, (3,))[1]


def template_britz(h):
    model = serial(Dense(h), Tanh(), Dense(2))
    return model.init(KEY, (2,))[1]


def test_uniform_pm1_matches_trask_bit_for_bit():
    with global_numpy_rng(1):
        syn0 = 2 * np.random.random((3, 4)) - 1
        syn1 = 2 * np.random.random((4, 1)) - 1
    with jax.enable_x64(True):
        params = init.tutorial(template_341(), seed=1, draw="uniform_pm1")
    assert jax.tree.structure(params) == jax.tree.structure(template_341())
    assert params[0]["w"].dtype == jnp.float64
    np.testing.assert_array_equal(np.asarray(params[0]["w"]), syn0)
    np.testing.assert_array_equal(np.asarray(params[2]["w"]), syn1)
    assert params[1] == ()


def test_rand_matches_np_random_rand():
    with global_numpy_rng(1):
        w1, w2 = np.random.rand(3, 4), np.random.rand(4, 1)
    with jax.enable_x64(True):
        params = init.tutorial(template_341(), seed=1, draw="rand")
    np.testing.assert_array_equal(np.asarray(params[0]["w"]), w1)
    np.testing.assert_array_equal(np.asarray(params[2]["w"]), w2)


@pytest.mark.parametrize("h", [3, 5])
def test_randn_fan_in_matches_britz_with_zero_biases(h):
    with global_numpy_rng(0):
        w1 = np.random.randn(2, h) / np.sqrt(2)
        w2 = np.random.randn(h, 2) / np.sqrt(h)
    with jax.enable_x64(True):
        params = init.tutorial(template_britz(h), seed=0, draw="randn_fan_in")
    np.testing.assert_array_equal(np.asarray(params[0]["w"]), w1)
    np.testing.assert_array_equal(np.asarray(params[2]["w"]), w2)
    for layer in (params[0], params[2]):
        assert layer["b"].dtype == jnp.float64
        np.testing.assert_array_equal(layer["b"], 0.0)
    assert params[0]["b"].shape == (h,) and params[2]["b"].shape == (2,)


def test_different_seeds_give_different_weights():
    with jax.enable_x64(True):
        a = init.tutorial(template_341(), seed=1, draw="uniform_pm1")
        b = init.tutorial(template_341(), seed=2, draw="uniform_pm1")
    assert not np.array_equal(a[0]["w"], b[0]["w"])
    assert np.all(np.abs(np.asarray(a[0]["w"])) <= 1)


def test_float64_without_x64_raises():
    with jax.enable_x64(False):
        with pytest.raises(ValueError, match="x64"):
            init.tutorial(template_341(), seed=1, draw="uniform_pm1")


def test_float32_without_x64_is_the_rounded_draw():
    with global_numpy_rng(1):
        syn0 = 2 * np.random.random((3, 4)) - 1
    with jax.enable_x64(False):
        params = init.tutorial(template_341(), seed=1, draw="uniform_pm1", dtype=jnp.float32)
    assert params[0]["w"].dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(params[0]["w"]), syn0.astype(np.float32))


def test_does_not_touch_global_numpy_rng():
    np.random.seed(12345)
    before = np.random.get_state()
    with jax.enable_x64(True):
        init.tutorial(template_341(), seed=1, draw="uniform_pm1")
        init.tutorial(template_britz(3), seed=0, draw="randn_fan_in")
    after = np.random.get_state()
    assert before[0] == after[0]
    np.testing.assert_array_equal(before[1], after[1])
    assert before[2:] == after[2:]


def test_unknown_draw_raises():
    with jax.enable_x64(True):
        with pytest.raises(ValueError, match="unknown draw"):
            init.tutorial(template_341(), seed=1, draw="gaussian")


def test_numpy_draws_is_the_seeded_stream():
    with global_numpy_rng(7):
        expected = [np.random.random((2, 3)), np.random.random((3,))]
    got = init.numpy_draws(7, [(2, 3), (3,)], "rand")
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_jax_initializers_plug_into_dense():
    _, p = Dense(4, w_init=init.ones, b_init=init.zeros).init(KEY, (3,))
    np.testing.assert_array_equal(p["w"], np.ones((3, 4)))
    _, p = Dense(4, w_init=init.glorot_uniform()).init(KEY, (3,))
    limit = np.sqrt(6 / (3 + 4))
    assert np.all(np.abs(np.asarray(p["w"])) <= limit) and np.std(np.asarray(p["w"])) > 0
