"""Dropout: the rate convention, inverted scaling, evaluation mode, the backward mask, keys
through serial/mlp, and manual == autodiff at a fixed key (with planted bugs caught)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import Dense, Dropout, Identity, Tanh, losses, mlp, serial
from jaxnn.layers import apply_layer

KEY = jax.random.key(0)
N_KEYS, WIDTH = 400, 250  # 100 000 Bernoulli draws per rate
X = jnp.linspace(0.5, 3.0, WIDTH, dtype=jnp.float32)  # no zeros: y == 0 exactly where dropped


@functools.cache
def _sampler(rate: float, n: int, seed: int):
    """``Dropout(rate).apply`` of ``X`` at ``n`` keys, ``(n, WIDTH)``, compiled once."""
    keys = jax.random.split(jax.random.key(seed), n)
    return jax.jit(lambda: jax.vmap(lambda k: Dropout(rate).apply((), X, key=k))(keys))


def samples(rate, n=N_KEYS, seed=1):
    return np.asarray(_sampler(rate, n, seed)())


# --------------------------------------------------------------------------------------------
# Statistics: rate is the DROP probability; kept units are scaled by 1/(1 - rate)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_drop_fraction_is_rate_and_mean_is_the_input(rate):
    y = samples(rate)
    n = y.size
    dropped = y == 0
    # binomial: 5 standard deviations (the keys are fixed, so this is deterministic anyway)
    tol = 5 * np.sqrt(rate * (1 - rate) / n)
    assert abs(dropped.mean() - rate) < tol, (dropped.mean(), rate)
    # every position and every key drops about `rate` (not one fixed pattern)
    per_position = dropped.mean(axis=0)
    assert np.all(np.abs(per_position - rate) < 5 * np.sqrt(rate * (1 - rate) / N_KEYS))
    assert len({row.tobytes() for row in dropped}) == N_KEYS
    # kept units are x / (1 - rate) exactly (up to float32 rounding)
    x = np.broadcast_to(np.asarray(X), y.shape)
    np.testing.assert_allclose(y[~dropped], x[~dropped] / (1 - rate), rtol=1e-6)
    # inverted scaling: the mean over keys is the input, elementwise and overall
    ratio = y / x
    sigma = np.sqrt(rate / (1 - rate))  # std of one sample of mask / (1 - rate)
    assert abs(ratio.mean() - 1) < 5 * sigma / np.sqrt(n)
    np.testing.assert_array_less(np.abs(ratio.mean(axis=0) - 1), 5 * sigma / np.sqrt(N_KEYS))


def test_drop_fraction_distinguishes_the_conventions():
    """stax's Dropout(rate) KEEPS with probability rate; ours drops: 0.1 drops about 10%."""
    assert (samples(0.1) == 0).mean() < 0.15
    assert (samples(0.9) == 0).mean() > 0.85


def test_no_key_is_exactly_the_identity():
    layer = Dropout(0.5)
    dy = jnp.cos(X)
    for x in (X, X.reshape(10, 25), jnp.float32(2.5)):
        np.testing.assert_array_equal(layer.apply((), x), x)
        np.testing.assert_array_equal(layer.apply((), x, key=None), x)
        np.testing.assert_array_equal(jax.jit(lambda x: layer.apply((), x))(x), x)
        y, backward = layer.vjp((), x)
        np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(layer.vjp((), X)[1](dy)[1], dy)
    with jax.enable_x64(True):
        x64 = X.astype(jnp.float64)
        assert layer.apply((), x64).dtype == jnp.float64
        np.testing.assert_array_equal(layer.apply((), x64), x64)


def test_rate_zero_is_the_identity_with_a_key():
    layer = Dropout(0.0)
    dy = jnp.cos(X)
    np.testing.assert_array_equal(layer.apply((), X, key=KEY), X)
    y, backward = layer.vjp((), X, key=KEY)
    np.testing.assert_array_equal(y, X)
    np.testing.assert_array_equal(backward(dy)[1], dy)


@pytest.mark.parametrize("rate", [1, 1.0, 1.5, -0.1, -1, float("nan"), float("inf")])
def test_rate_outside_zero_one_is_a_value_error(rate):
    with pytest.raises(ValueError, match=r"Dropout.*\[0, 1\)"):
        Dropout(rate)


@pytest.mark.parametrize("rate", [True, "0.5", None, [0.5]])
def test_rate_of_the_wrong_type_is_a_type_error(rate):
    with pytest.raises(TypeError, match="Dropout: rate must be a number"):
        Dropout(rate)


def test_mlp_dropout_rate_is_checked_too():
    with pytest.raises(ValueError, match=r"Dropout.*\[0, 1\)"):
        mlp([2, 3, 1], dropout=1.0)


def test_an_int_seed_where_a_key_belongs_names_the_layer_and_the_fix():
    model = mlp([2, 3, 1], dropout=0.5)
    _, params = model.init(KEY, (2,))
    with pytest.raises(TypeError, match=r"Dropout\(0\.5\).*jax\.random\.key\(0\)"):
        Dropout(0.5).apply((), X, key=0)
    with pytest.raises(TypeError, match=r"mlp\(\[2, 3, 1\]\).*jax\.random\.key\(0\)"):
        model.apply(params, jnp.ones((4, 2)), key=0)
    # a raw uint32[2] key (jax.random.PRNGKey) is a key
    assert model.apply(params, jnp.ones((4, 2)), key=jax.random.PRNGKey(0)).shape == (4, 1)


# --------------------------------------------------------------------------------------------
# The backward reuses the forward mask; the mask does not depend on the input dtype
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.25, 0.6])
def test_backward_mask_is_the_forward_mask(rate):
    layer = Dropout(rate)
    x = X.reshape(10, 25)
    dy = 1.0 + jnp.abs(jnp.sin(jnp.arange(x.size, dtype=jnp.float32))).reshape(x.shape)
    for key in jax.random.split(KEY, 3):
        y, backward = layer.vjp((), x, key=key)
        params_grad, dx = backward(dy)
        assert params_grad == ()
        dropped = np.asarray(y) == 0
        assert 0 < dropped.mean() < 1
        np.testing.assert_array_equal(np.asarray(dx)[dropped], 0.0)
        kept_dx, kept_dy = np.asarray(dx)[~dropped], np.asarray(dy)[~dropped]
        np.testing.assert_allclose(kept_dx, kept_dy / (1 - rate), rtol=1e-6)
        assert np.all(np.asarray(dx)[~dropped] != 0)
        # the same as autodiff through apply at the same key, and vjp's y is apply's
        np.testing.assert_array_equal(y, layer.apply((), x, key=key))
        _, auto = jax.vjp(lambda x, k=key: layer.apply((), x, key=k), x)
        np.testing.assert_allclose(dx, auto(dy)[0], rtol=1e-6)


def test_mask_is_the_same_for_float32_and_float64_inputs():
    layer = Dropout(0.5)
    with jax.enable_x64(True):
        for key in jax.random.split(KEY, 3):
            y32 = layer.apply((), X, key=key)
            y64 = layer.apply((), X.astype(jnp.float64), key=key)
            assert y32.dtype == jnp.float32 and y64.dtype == jnp.float64
            np.testing.assert_array_equal(y32 == 0, y64 == 0)
            np.testing.assert_allclose(y64, y32, rtol=1e-7)
            dy = jnp.ones_like(y64)
            dx = layer.vjp((), X.astype(jnp.float64), key=key)[1](dy)[1]
            np.testing.assert_array_equal(dx, jnp.where(y64 == 0, 0.0, 2.0))


# --------------------------------------------------------------------------------------------
# Keys through serial/mlp: fold_in(key, i) for sublayer i; same key, same run
# --------------------------------------------------------------------------------------------


def test_serial_hands_sublayer_i_fold_in_key_i():
    model = serial(Dropout(0.5), Identity(), Dropout(0.3))
    assert model.stochastic and not Identity().stochastic
    for key in jax.random.split(KEY, 3):
        want = Dropout(0.5).apply((), X, key=jax.random.fold_in(key, 0))
        want = Dropout(0.3).apply((), want, key=jax.random.fold_in(key, 2))
        np.testing.assert_array_equal(model.apply(((), (), ()), X, key=key), want)
        np.testing.assert_array_equal(model.vjp(((), (), ()), X, key=key)[0], want)


def test_two_dropout_layers_draw_different_masks():
    """The same key for both would drop a fraction 0.5 (one mask twice); independent masks
    drop 1 - 0.5 * 0.5 = 0.75."""
    model = serial(Dropout(0.5), Dropout(0.5))
    keys = jax.random.split(jax.random.key(7), 200)
    y = np.asarray(jax.vmap(lambda k: model.apply(((), ()), X, key=k))(keys))
    dropped = (y == 0).mean()
    assert abs(dropped - 0.75) < 5 * np.sqrt(0.75 * 0.25 / y.size), dropped
    np.testing.assert_allclose(y[y != 0], np.broadcast_to(X, y.shape)[y != 0] * 4, rtol=1e-6)


def test_mlp_dropout_layers_get_their_own_keys():
    model = mlp([3, 40, 40, 2], activation="tanh", dropout=0.5)
    names = [layer.name for layer in model.sublayers]
    assert names == ["Dense(40)", "Tanh", "Dropout(0.5)"] * 2 + ["Dense(2)"]
    assert model.stochastic
    _, params = model.init(KEY, (3,))
    x = jax.random.normal(jax.random.key(1), (6, 3))
    key = jax.random.key(11)
    # the chain written out, each Dropout with fold_in(key, its index)
    h = x
    for i, (layer, p) in enumerate(zip(model.sublayers, params, strict=True)):
        h = apply_layer(layer, p, h, jax.random.fold_in(key, i))
    y = model.apply(params, x, key=key)
    np.testing.assert_allclose(y, h, rtol=1e-6, atol=1e-7)
    # the two masks differ (hidden width 40, same shapes)
    m2 = Dropout(0.5).apply((), jnp.ones((6, 40)), key=jax.random.fold_in(key, 2)) == 0
    m5 = Dropout(0.5).apply((), jnp.ones((6, 40)), key=jax.random.fold_in(key, 5)) == 0
    assert not np.array_equal(m2, m5)


def test_same_key_reproduces_exactly_and_other_keys_differ():
    model = mlp([3, 16, 16, 2], activation="relu", dropout=0.5)
    _, params = model.init(KEY, (3,))
    x = jax.random.normal(jax.random.key(1), (8, 3))
    run = jax.jit(lambda p, x, k: model.apply(p, x, key=k))
    a, b = run(params, x, jax.random.key(5)), run(params, x, jax.random.key(5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(model.apply(params, x, key=jax.random.key(5)), a)
    assert not np.array_equal(a, run(params, x, jax.random.key(6)))
    # evaluation mode: no key, deterministic, and equal to the same net without Dropout
    plain = mlp([3, 16, 16, 2], activation="relu")
    kept = tuple(
        p for p, layer in zip(params, model.sublayers, strict=True) if not layer.stochastic
    )
    np.testing.assert_array_equal(model.apply(params, x), plain.apply(kept, x))


# --------------------------------------------------------------------------------------------
# Manual == autodiff at a fixed key (float64), manual_vjp, planted bugs
# --------------------------------------------------------------------------------------------

LOSS = losses.half_sse
CONFIGS = [  # (sizes, activation, rate, seed)
    ([3, 7, 1], "tanh", 0.5, 0),
    ([4, 6, 5, 2], "sigmoid", 0.3, 1),
    ([2, 8, 8, 3], "elu", 0.7, 2),
    ([5, 9, 4, 1], "leaky_relu", 0.2, 3),
]


def _problem(sizes, seed):
    keys = jax.random.split(jax.random.key(100 + seed), 3)
    x = jax.random.normal(keys[0], (6, sizes[0]), jnp.float64)
    t = jax.random.normal(keys[1], (6, sizes[-1]), jnp.float64)
    return x, t, keys[2]


def _assert_trees_agree(got, want, atol_scale=1e-12):
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        assert g.dtype == w.dtype == jnp.float64
        scale = max(1.0, float(jnp.max(jnp.abs(w))))
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=atol_scale * scale)


def _grads(model):
    """One compiled program: ``(value, manual, autodiff, evaluation-mode manual)`` grads."""

    def run(params, x, t, key):
        value, manual = jaxnn.value_and_grad(model, LOSS)(params, x, t, key=key)
        auto = jaxnn.autodiff_grad(model, LOSS)(params, x, t, key=key)
        pred = model.apply(params, x, key=key)
        return value, manual, auto, jaxnn.grad(model, LOSS)(params, x, t), pred

    return jax.jit(run)


@pytest.mark.parametrize("sizes, activation, rate, seed", CONFIGS)
def test_manual_equals_autodiff_with_dropout_at_a_fixed_key(sizes, activation, rate, seed):
    with jax.enable_x64(True):
        model = mlp(sizes, activation=activation, dropout=rate, dtype="float64")
        x, t, key = _problem(sizes, seed)
        _, params = model.init(jax.random.key(seed), (sizes[0],))
        value, manual, auto, evaluation, pred = _grads(model)(params, x, t, key)
        _assert_trees_agree(manual, auto)
        np.testing.assert_allclose(value, LOSS.value(pred, t), rtol=1e-14)
        # the key matters: evaluation-mode grads are different
        assert not np.allclose(evaluation[0]["w"], manual[0]["w"])


def test_check_grads_passes_at_a_fixed_key():
    with jax.enable_x64(True):
        model = mlp([3, 5, 2], activation="tanh", dropout=0.5, dtype="float64")
        x, t, key = _problem([3, 5, 2], 7)
        _, params = model.init(KEY, (3,))
        report = jaxnn.check_grads(model, LOSS, params, x, t, key=key)
        assert report.ok, str(report)


def test_manual_vjp_of_a_stochastic_model_under_jax_grad_is_the_manual_grad():
    with jax.enable_x64(True):
        sizes = [4, 6, 5, 2]
        model = mlp(sizes, activation="tanh", dropout=0.4, dtype="float64")
        x, t, key = _problem(sizes, 4)
        _, params = model.init(KEY, (4,))
        wrapped = jaxnn.manual_vjp(model)
        assert wrapped.stochastic

        @jax.jit
        def run(p, k):
            through = jax.grad(lambda p: LOSS.value(wrapped.apply(p, x, key=k), t))(p)
            manual = jaxnn.grad(model, LOSS)(p, x, t, key=k)
            auto = jaxnn.autodiff_grad(model, LOSS)(p, x, t, key=k)
            return through, manual, auto, wrapped.apply(p, x), model.apply(p, x)

        through, manual, auto, eval_wrapped, eval_model = run(params, key)
        _assert_trees_agree(through, manual)
        _assert_trees_agree(through, auto)
        # evaluation mode through manual_vjp too
        np.testing.assert_array_equal(eval_wrapped, eval_model)


def unscaled_dropout(rate: float):
    """Planted bug: the backward forgets the 1/(1 - rate) scale (uses the bare mask)."""
    base = Dropout(rate)

    def vjp(params, x, *, key=None):
        y, backward = base.vjp(params, x, key=key)
        return y, lambda dy: ((), backward(dy)[1] * (1 - rate))

    return base._replace(vjp=vjp, name=f"Dropout({rate}) without 1/(1-rate)")


def fresh_mask_dropout(rate: float):
    """Planted bug: the backward draws a new mask instead of reusing the forward's."""
    base = Dropout(rate)

    def vjp(params, x, *, key=None):
        y, _ = base.vjp(params, x, key=key)
        other = None if key is None else jax.random.fold_in(key, 99)
        return y, base.vjp(params, x, key=other)[1]

    return base._replace(vjp=vjp, name=f"Dropout({rate}) with a fresh mask")


@pytest.mark.parametrize("plant", [unscaled_dropout, fresh_mask_dropout])
def test_planted_dropout_bugs_differ_from_autodiff_on_the_leaves_before_them(plant):
    with jax.enable_x64(True):
        model = serial(Dense(5, dtype="float64"), Tanh(), plant(0.5), Dense(2, dtype="float64"))
        assert model.stochastic and model.spec is None
        x, t, key = _problem([3, 5, 2], 5)
        _, params = model.init(KEY, (3,))
        _, manual, auto, _, _ = _grads(model)(params, x, t, key)
        # the layer after the Dropout sees the right forward: its grads agree
        _assert_trees_agree(manual[3], auto[3])
        for leaf in ("w", "b"):
            assert not np.allclose(manual[0][leaf], auto[0][leaf], rtol=1e-6), leaf
        report = jaxnn.check_grads(model, LOSS, params, x, t, key=key, finite_differences=False)
        assert not report.ok
        failed = {row.path for row in report.failures}
        assert {"[0].w", "[0].b"} <= failed
        assert not failed & {"[3].w", "[3].b"}
