"""Every activation: hand-written vjp == ``jax.vjp`` of its apply in float64, at random and at
saturated inputs, with and without batch dims; finite far out; kinks declared exactly at 0;
the string names train in an ``mlp``."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxnn
from jaxnn import ELU, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus, Tanh, losses, mlp

ACTIVATIONS = {
    "Sigmoid": Sigmoid(),
    "Tanh": Tanh(),
    "ReLU": ReLU(),
    "LeakyReLU": LeakyReLU(),
    "LeakyReLU(0.2)": LeakyReLU(0.2),
    "ELU": ELU(),
    "ELU(0.5)": ELU(0.5),
    "ELU(2.0)": ELU(2.0),
    "Softplus": Softplus(),
    "Identity": Identity(),
    "Softmax": Softmax(),
}
# |x| >= 30: where a naive formula overflows (exp(300)) or cancels (1 - y, y + alpha)
SATURATED = np.array([-300.0, -50.0, -30.0, 30.0, 50.0, 300.0, -1000.0, 1000.0])
SHAPES = {"batch-less": (8,), "batched": (5, 8), "two batch dims": (2, 3, 8)}


def _inputs(shape, kind):
    rng = np.random.default_rng(sum(shape))
    if kind == "random":
        return rng.normal(0.0, 3.0, shape)
    # every row a different arrangement of the saturated values, plus ordinary ones mixed in
    rows = np.stack([rng.permutation(SATURATED) for _ in range(int(np.prod(shape[:-1])))])
    rows[1::2, :2] = rng.normal(0.0, 1.0, (rows[1::2].shape[0], 2))
    return rows.reshape(shape)


def _vjps(layer):
    """A compiled ``(x, dy) -> (y_manual, dx_manual, y_auto, dx_auto)`` for ``layer``."""

    def both(x, dy):
        y, backward = layer.vjp((), x)
        dparams, dx = backward(dy)
        ya, auto = jax.vjp(lambda x: layer.apply((), x), x)
        return y, dx, ya, auto(dy)[0], dparams

    return jax.jit(both)


VJPS = {name: _vjps(layer) for name, layer in ACTIVATIONS.items()}


@pytest.mark.parametrize("kind", ["random", "saturated"])
@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_vjp_equals_jax_vjp_in_float64(name, shape, kind):
    with jax.enable_x64(True):
        x = jnp.asarray(_inputs(shape, kind), jnp.float64)
        dy = jnp.asarray(np.random.default_rng(1).uniform(0.5, 2.0, shape), jnp.float64)
        y, dx, ya, dxa, dparams = VJPS[name](x, dy)
        assert dparams == ()
        assert y.dtype == dx.dtype == jnp.float64 and y.shape == dx.shape == shape
        assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx)) and np.all(np.isfinite(dxa))
        np.testing.assert_array_equal(y, ya)
        # elementwise relative, down to the e^-30 tails (a cancelling formula keeps ~3 digits
        # there); Softmax mixes a row, so its zeros are relative to the row's largest |dx|
        atol = 1e-15 * float(jnp.max(jnp.abs(dxa))) if name == "Softmax" else 0.0
        np.testing.assert_allclose(dx, dxa, rtol=1e-12, atol=atol)


def test_the_saturated_inputs_reach_the_tails():
    """The comparison above is only worth something where the derivative is tiny but not 0."""
    with jax.enable_x64(True):
        x = jnp.array([-30.0, 30.0], jnp.float64)
        for name in ("Sigmoid", "ELU", "Softplus"):
            _, dx, _, _, _ = VJPS[name](x, jnp.ones(2, jnp.float64))
            assert 0 < dx[0] < 1e-12, name
            # ELU's y + alpha (and JAX's own expm1 rule, ans + 1) cancel there: ~4 digits
            rtol = 1e-3 if name == "ELU" else 1e-12
            np.testing.assert_allclose(dx[0], np.exp(-30.0), rtol=rtol, err_msg=name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["Softplus", "ELU", "ELU(0.5)", "LeakyReLU", "Sigmoid", "Tanh"])
def test_finite_values_and_grads_at_plus_minus_1000(name, dtype):
    layer = ACTIVATIONS[name]
    with jax.enable_x64(dtype == "float64"):
        x = jnp.array([-1000.0, -300.0, 0.0, 300.0, 1000.0], dtype)
        y, dx, _, dxa, _ = VJPS[name](x, jnp.ones_like(x))
        # jax.grad through apply must not meet 0 * inf in the branch jnp.where does not take
        g = jax.grad(lambda x: jnp.sum(layer.apply((), x)))(x)
        for a in (y, dx, dxa, g):
            assert a.dtype == jnp.dtype(dtype)
            assert np.all(np.isfinite(a)), (name, a)
        np.testing.assert_allclose(dx, g, rtol=1e-6)
        ends = np.array([0, 4])  # x = -1000 and 1000
        if name == "Softplus":
            np.testing.assert_array_equal(y[ends], [0.0, 1000.0])
            np.testing.assert_array_equal(dx[ends], [0.0, 1.0])
        if name.startswith("ELU"):
            alpha = 0.5 if name == "ELU(0.5)" else 1.0
            np.testing.assert_array_equal(y[ends], [-alpha, 1000.0])
            np.testing.assert_array_equal(dx[ends], [0.0, 1.0])


def test_formulas_at_known_points():
    """Values written out, so a wrong formula cannot hide behind autodiff agreeing with it."""
    with jax.enable_x64(True):
        x = jnp.array([-2.0, -0.5, 0.0, 0.5, 2.0])
        ones = jnp.ones_like(x)
        ex = np.exp(np.asarray(x))
        cases = {
            "LeakyReLU(0.2)": (np.where(x > 0, x, 0.2 * x), np.where(x > 0, 1.0, 0.2)),
            "ELU(0.5)": (np.where(x > 0, x, 0.5 * (ex - 1)), np.where(x > 0, 1.0, 0.5 * ex)),
            "ELU(2.0)": (np.where(x > 0, x, 2.0 * (ex - 1)), np.where(x > 0, 1.0, 2.0 * ex)),
            "Softplus": (np.log1p(ex), ex / (1 + ex)),
            "ReLU": (np.maximum(x, 0), (np.asarray(x) > 0).astype(float)),
        }
        for name, (want_y, want_dx) in cases.items():
            y, dx, _, _, _ = VJPS[name](x, ones)
            np.testing.assert_allclose(y, want_y, rtol=1e-14, err_msg=name)
            np.testing.assert_allclose(dx, want_dx, rtol=1e-14, err_msg=name)
        # the default LeakyReLU slope is 0.01
        _, dx, _, _, _ = VJPS["LeakyReLU"](x, ones)
        np.testing.assert_allclose(dx, np.where(x > 0, 1.0, 0.01), rtol=1e-14)


# --------------------------------------------------------------------------------------------
# Kinks: declared exactly where apply has no derivative
# --------------------------------------------------------------------------------------------

KINK_X = jnp.array([[-1.0, -0.0, 0.0, 1e-30, -1e-30, 2.0], [0.0, 3.0, -3.0, 0.0, 1e-7, -1e-7]])
AT_ZERO = np.asarray(KINK_X) == 0


@pytest.mark.parametrize("name", ["ReLU", "LeakyReLU", "LeakyReLU(0.2)", "ELU(0.5)", "ELU(2.0)"])
def test_kinks_are_a_bool_mask_exactly_at_zero(name):
    kinks = ACTIVATIONS[name].kinks
    assert kinks is not None
    for x in (KINK_X, KINK_X[0], jnp.float32(0.0)):
        mask = kinks((), x)
        assert mask.dtype == jnp.bool_ and mask.shape == jnp.shape(x)
        np.testing.assert_array_equal(mask, np.asarray(x) == 0)
    assert AT_ZERO.sum() == 4  # -0.0 counts as 0; ±1e-30 do not


@pytest.mark.parametrize("name", ["ELU", "Softplus", "Sigmoid", "Tanh", "Identity", "Softmax"])
def test_smooth_activations_declare_no_kinks(name):
    assert ACTIVATIONS[name].kinks is None
    assert LeakyReLU(1.0).kinks is None  # slope 1 on both sides: the identity


def test_kinks_are_found_in_a_model_through_sublayers():
    model = mlp([2, 3, 1], activation="leaky_relu")
    assert model.kinks is None  # serial does not aggregate; the checker walks sublayers
    assert model.sublayers[1] == LeakyReLU() and model.sublayers[1].kinks is not None
    assert mlp([2, 3, 1], activation="elu").sublayers[1].kinks is None


BAD_ALPHAS = [
    ("0.1", TypeError),
    (True, TypeError),
    (None, TypeError),
    (float("nan"), ValueError),
    (float("inf"), ValueError),
]


@pytest.mark.parametrize("bad, error", BAD_ALPHAS)
@pytest.mark.parametrize("make", [LeakyReLU, ELU], ids=lambda f: f.__name__)
def test_alpha_is_checked(make, bad, error):
    with pytest.raises(error, match=f"{make.__name__}: alpha must be"):
        make(bad)


# --------------------------------------------------------------------------------------------
# The string names train in an mlp
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "activation, layer",
    [("leaky_relu", LeakyReLU()), ("elu", ELU()), ("softplus", Softplus())],
)
def test_mlp_activation_names_train_a_step_with_jaxnn_grad(activation, layer):
    model = mlp([2, 6, 1], activation=activation)
    assert model.sublayers[1] == layer
    _, params = model.init(jax.random.key(0), (2,))
    x = jax.random.normal(jax.random.key(1), (16, 2))
    t = jnp.sum(x**2, axis=1, keepdims=True) - 1.0
    loss = losses.mse
    opt = optax.sgd(0.05)

    @jax.jit
    def step(params, state):
        value, grads = jaxnn.value_and_grad(model, loss)(params, x, t)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value, grads

    grads, auto = jax.jit(
        lambda p: (jaxnn.grad(model, loss)(p, x, t), jaxnn.autodiff_grad(model, loss)(p, x, t))
    )(params)
    for g, a in zip(jax.tree.leaves(grads), jax.tree.leaves(auto), strict=True):
        np.testing.assert_allclose(g, a, rtol=1e-4, atol=1e-6)
    assert float(jnp.abs(grads[0]["w"]).max()) > 0  # the hidden layer learns
    state = opt.init(params)
    first = None
    for _ in range(5):
        params, state, value, _ = step(params, state)
        first = value if first is None else first
    assert float(step(params, state)[2]) < float(first)
