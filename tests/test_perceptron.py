"""The perceptron rule: bit-for-bit against the tutorial's NumPy loop, gates, XOR, vmap, SGD."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxnn import perceptron

# --------------------------------------------------------------------------------------------
# Data, made here with NumPy so these tests depend on nothing else in jaxnn.
# --------------------------------------------------------------------------------------------


def line_points(seed=0, n=100):
    """Integer points in [1, 100)², label 1 above the line y = x + 4 (the tutorial's set)."""
    points = np.random.default_rng(seed).integers(1, 100, (n, 2))
    labels = (points[:, 1] > points[:, 0] + 4).astype(np.int64)
    return points.astype(np.float64), labels


def two_clusters(seed=0, n=50):
    """The bias section's clusters: all of class 0, then all of class 1, as the tutorial orders."""
    rng = np.random.default_rng(seed)
    class0 = np.stack([rng.uniform(-2.5, 2.3, n), rng.uniform(-1.7, 2.8, n)], axis=1)
    class1 = np.stack([rng.uniform(-7.2, -4.4, n), rng.uniform(3.0, 6.5, n)], axis=1)
    return np.concatenate([class0, class1]), np.repeat([0, 1], n)


def tutorial_rule(weights, points, labels, lr, epochs, bias):
    """The tutorial's loop in NumPy: bias weight last, one example at a time, in order.

    Returns the final weights, the mistakes made during each epoch and the number correct at the
    end of each epoch.
    """
    w = np.array(weights, dtype=np.float64)
    d = points.shape[1]

    def output(point):
        weighted_sum = (w[:d] * point).sum() + (1 * w[-1] if bias else 0.0)
        # The tutorial's trained perceptrons return 0 below 0 and 1 otherwise; the data here
        # never puts a weighted sum exactly on 0, where this and `> 0` would differ.
        return 0 if weighted_sum < 0 else 1

    errors, correct = [], []
    for _ in range(epochs):
        wrong = 0
        for point, target in zip(points, labels, strict=True):
            error = target - output(point)
            for i in range(d):
                w[i] += error * point[i] * lr
            if bias:
                w[-1] += error * 1 * lr
            wrong += error != 0
        errors.append(wrong)
        correct.append(sum(output(p) == t for p, t in zip(points, labels, strict=True)))
    return w, np.array(errors), np.array(correct)


def flat(params):
    """Weights with the bias last, the tutorial's layout."""
    w = np.asarray(params["w"])
    return np.append(w, np.asarray(params["b"])) if "b" in params else w


# --------------------------------------------------------------------------------------------
# Bit-for-bit against the tutorial's loop, in float64
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, bias, lr, epochs",
    [
        (line_points, False, 0.1, 1),  # line separation: no bias, one pass
        (two_clusters, True, 0.05, 6),  # bias section, several passes
    ],
    ids=["line-no-bias", "clusters-bias"],
)
def test_train_matches_tutorial_loop_bit_for_bit(data, bias, lr, epochs):
    with jax.enable_x64(True):
        x, y = data()
        params0 = perceptron.init(jax.random.key(3), 2, bias=bias, dtype=jnp.float64)
        params, history = perceptron.train(params0, x, y, learning_rate=lr, epochs=epochs)

        w_ref, errors_ref, correct_ref = tutorial_rule(flat(params0), x, y, lr, epochs, bias)
        assert params["w"].dtype == jnp.float64
        assert errors_ref.sum() > 0  # the rule actually had something to learn
        np.testing.assert_array_equal(flat(params), w_ref)
        np.testing.assert_array_equal(history["errors"], errors_ref)
        np.testing.assert_array_equal(history["correct"], correct_ref)
        assert history["errors"].shape == history["correct"].shape == (epochs,)


def test_init_draws_uniform_in_range_and_evaluate_counts():
    keys = jax.random.split(jax.random.key(0), 256)
    params = jax.vmap(functools.partial(perceptron.init, n_inputs=3, bias=True))(keys)
    assert params["w"].shape == (256, 3) and params["b"].shape == (256,)
    draws = np.concatenate([np.ravel(params["w"]), np.ravel(params["b"])])
    assert draws.min() >= -1.0 and draws.max() < 1.0
    assert draws.min() < -0.9 and draws.max() > 0.9  # spread over the whole interval

    x, y = line_points()
    truth = {"w": jnp.array([-1.0, 1.0]), "b": jnp.array(-4.0)}  # exactly the labelling line
    assert [int(v) for v in perceptron.evaluate(truth, x, y)] == [100, 0]
    flipped = {"w": -truth["w"], "b": -truth["b"]}
    n_on_line = int(np.sum(x[:, 1] == x[:, 0] + 4))  # neither side fires on the line itself
    assert [int(v) for v in perceptron.evaluate(flipped, x, y)] == [n_on_line, 100 - n_on_line]


# --------------------------------------------------------------------------------------------
# Fixed-weight gates
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "gate, expected", [("and", [0, 0, 0, 1]), ("or", [0, 1, 1, 1])], ids=["AND", "OR"]
)
def test_fixed_weight_gates(gate, expected):
    weights, threshold = perceptron.GATES[gate]
    assert weights == (0.5, 0.5)
    inputs, outputs = perceptron.truth_table(perceptron.fixed_gate(weights), threshold)
    np.testing.assert_array_equal(inputs, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(outputs, expected)
    assert outputs.dtype == jnp.int32
    # The same through `predict`, one row at a time, as the tutorial calls its perceptron.
    params = {"w": jnp.array([0.5, 0.5])}
    rows = [int(perceptron.predict(params, row, threshold=threshold)) for row in inputs]
    assert rows == expected


# --------------------------------------------------------------------------------------------
# Separable vs not
# --------------------------------------------------------------------------------------------

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])


def test_xor_is_never_learned_but_or_always_is():
    keys = jax.random.split(jax.random.key(1), 64)
    params0 = jax.vmap(functools.partial(perceptron.init, n_inputs=2, bias=True))(keys)
    run = jax.vmap(
        functools.partial(perceptron.train, learning_rate=0.1, epochs=200), in_axes=(0, None, None)
    )

    _, xor = run(params0, XOR_X, np.array([0, 1, 1, 0]))
    assert int(xor["correct"].max()) <= 3  # no init, no epoch: never 4/4
    assert bool(jnp.all(xor["errors"][:, -1] > 0))  # still making mistakes at the end

    # The same perceptrons from the same inits do learn OR, which is separable.
    _, or_ = run(params0, XOR_X, np.array([0, 1, 1, 1]))
    assert bool(jnp.all(or_["correct"][:, -1] == 4))


def test_bias_perceptron_separates_clusters_given_enough_epochs():
    x, y = two_clusters()
    keys = jax.random.split(jax.random.key(2), 16)
    params0 = jax.vmap(functools.partial(perceptron.init, n_inputs=2, bias=True))(keys)
    _, history = jax.vmap(
        functools.partial(perceptron.train, learning_rate=0.05, epochs=100), in_axes=(0, None, None)
    )(params0, x, y)
    assert bool(jnp.all(history["correct"][:, -1] == 100))
    assert bool(jnp.all(history["errors"][:, -1] == 0))  # converged: a pass with no mistakes


# --------------------------------------------------------------------------------------------
# vmap over inits and learning rates
# --------------------------------------------------------------------------------------------


def test_vmap_over_inits_equals_separate_runs():
    x, y = two_clusters(seed=5)
    keys = jax.random.split(jax.random.key(4), 8)
    init = functools.partial(perceptron.init, n_inputs=2, bias=True)
    train = functools.partial(perceptron.train, learning_rate=0.05, epochs=3)
    params, history = jax.vmap(train, in_axes=(0, None, None))(jax.vmap(init)(keys), x, y)
    for i, key in enumerate(keys):
        p, h = train(init(key), x, y)
        for name in ("w", "b"):
            np.testing.assert_array_equal(params[name][i], p[name])
        for name in ("errors", "correct"):
            np.testing.assert_array_equal(history[name][i], h[name])


def test_vmapped_learning_rate_sweep_equals_separate_runs():
    x, y = line_points(seed=7)
    params0 = perceptron.init(jax.random.key(5), 2)
    lrs = jnp.array([0.001, 0.01, 0.1, 1.0])
    sweep = jax.vmap(lambda lr: perceptron.train(params0, x, y, learning_rate=lr, epochs=2))
    params, history = sweep(lrs)
    for i, lr in enumerate(lrs):
        p, h = perceptron.train(params0, x, y, learning_rate=lr, epochs=2)
        np.testing.assert_array_equal(params["w"][i], p["w"])
        np.testing.assert_array_equal(history["errors"][i], h["errors"])
    # Different rates really do give different weights.
    assert len({tuple(np.asarray(w).tolist()) for w in params["w"]}) == len(lrs)


# --------------------------------------------------------------------------------------------
# The perceptron rule is SGD on half_sse through a straight-through step
# --------------------------------------------------------------------------------------------


def straight_through_step(s):
    """Forward: the unit step. Backward: identity, since the step's own derivative is 0."""
    return s + lax.stop_gradient((s > 0).astype(s.dtype) - s)


def half_sse(params, xi, ti):
    y = straight_through_step(jnp.sum(xi * params["w"]) + params["b"])
    return 0.5 * (y - ti) ** 2


grad_half_sse = jax.jit(jax.grad(half_sse))  # (y - t) * x for w, (y - t) for b


def sgd_step(params, xi, ti, lr):
    grads = grad_half_sse(params, xi, ti)
    # Applied op by op, outside jit, so `p - lr * g` rounds twice, like NumPy, never as one FMA.
    return jax.tree.map(lambda p, g: p - lr * g, params, grads)


def test_one_epoch_equals_online_sgd_on_half_sse_with_straight_through_step():
    with jax.enable_x64(True):
        x, y = two_clusters(seed=11)
        params0 = perceptron.init(jax.random.key(6), 2, bias=True, dtype=jnp.float64)
        lr = 0.05
        ref = params0
        for xi, ti in zip(x, y, strict=True):  # batch size 1, in order
            ref = sgd_step(ref, xi, float(ti), lr)

        params, history = perceptron.train(params0, x, y, learning_rate=lr, epochs=1)
        assert int(history["errors"][0]) > 0
        for name in ("w", "b"):
            np.testing.assert_array_equal(params[name], ref[name])


def test_bad_inputs_raise_clear_errors():
    params = perceptron.init(jax.random.key(0), 2)
    with pytest.raises(ValueError, match=r"x of shape \(n, 2\)"):
        perceptron.train(params, np.zeros((4, 3)), np.zeros(4))
    with pytest.raises(ValueError, match=r"y of shape \(4,\)"):
        perceptron.train(params, np.zeros((4, 2)), np.zeros(5))
    with pytest.raises(TypeError, match="float dtype"):
        perceptron.train({"w": jnp.array([1, 2])}, np.zeros((4, 2)), np.zeros(4))
