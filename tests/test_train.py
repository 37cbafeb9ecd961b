"""The training engine: manual == autodiff, Trask's printed numbers, vmap/ensembles/sweeps,
compile-once, divergence, logging, dtypes and trace-time errors."""

import contextlib
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import monitoring

from jaxnn import Dense, Sigmoid, init, losses, mlp, serial, train

f64 = jnp.float64
BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"

# --------------------------------------------------------------------------------------------
# Data and helpers (made here with NumPy, so these tests depend only on jaxnn's training code)
# --------------------------------------------------------------------------------------------


def moons(n=64, noise=0.15, seed=0):
    """Two interleaved half circles (scikit-learn's convention), shuffled; int labels."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    label = rng.integers(0, 2, n)
    x = np.where(
        label[:, None] == 0,
        np.stack([np.cos(t), np.sin(t)], 1),
        np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1),
    )
    return x + noise * rng.standard_normal((n, 2)), label.astype(np.int32)


# Shared by the tests below: the compiled runner is cached on (model, loss, optimizer, reg,
# backprop) and on steps/log_every, so reusing them keeps the number of compiles down.
MODEL = mlp([2, 4, 2], activation="tanh", dtype=f64)
SCE = losses.softmax_cross_entropy()
OPT = optax.sgd(0.5)
STEPS = 100


def moons_setup(seed=0):
    """An MLP with biases (nonzero, so the bias path matters), its float64 params and data."""
    model = MODEL
    _, params = model.init(jax.random.key(seed), (2,))
    rng = np.random.default_rng(seed + 100)
    params = jax.tree.map(lambda a: jnp.asarray(a + 0.1 * rng.standard_normal(a.shape)), params)
    x, y = moons()
    return model, params, jnp.asarray(x, f64), jnp.asarray(y)


# Comparisons and slicing in NumPy: eager jnp ops would each compile a small program.
def max_abs_diff(a, b):
    diffs = jax.tree.map(lambda u, v: float(np.max(np.abs(np.asarray(u) - np.asarray(v)))), a, b)
    return max(jax.tree.leaves(diffs))


def assert_trees_close(a, b, rtol=1e-12, atol=1e-12):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=rtol, atol=atol)


def member(tree, i):
    return jax.tree.map(lambda a: jnp.asarray(np.asarray(a)[i]), tree)


@contextlib.contextmanager
def count_compiles():
    """Names of the XLA programs compiled inside the block (jax's backend-compile event)."""
    names = []

    def listener(event, duration, **kwargs):
        if event == BACKEND_COMPILE:
            names.append(kwargs.get("fun_name", "?"))

    monitoring.register_event_duration_secs_listener(listener)
    try:
        yield names
    finally:
        monitoring.unregister_event_duration_listener(listener)


def runner_compiles(names):
    """Compiles of the training program itself (`run` for fit, `run_members` for ensembles)."""
    return [n for n in names if n in ("jit(run)", "jit(run_members)")]


# --------------------------------------------------------------------------------------------
# 1. Hand-written backprop == jax.grad over a whole training run
# --------------------------------------------------------------------------------------------


def test_manual_and_autodiff_fit_agree_in_float64():
    with jax.enable_x64(True):
        model, params, x, y = moons_setup()
        loss, reg, opt = SCE, losses.l2(0.01), OPT
        runs = {
            bp: train.fit(model, loss, opt, params, x, y, steps=1000, reg=reg, backprop=bp)
            for bp in ("manual", "autodiff")
        }
        (p_man, h_man), (p_auto, h_auto) = runs["manual"], runs["autodiff"]

        assert max_abs_diff(p_man, p_auto) <= 1e-10
        assert all(leaf.dtype == f64 for leaf in jax.tree.leaves(p_man))
        np.testing.assert_allclose(h_man["loss"], h_auto["loss"], rtol=0, atol=1e-10)
        np.testing.assert_array_equal(h_man["accuracy"], h_auto["accuracy"])
        np.testing.assert_array_equal(h_man["step"], np.arange(1000))
        assert int(h_man["first_nonfinite_step"]) == int(h_auto["first_nonfinite_step"]) == -1

        # Not vacuous: training moved the params and learned, and the logged objective is the
        # data loss *plus* the regulariser, before the first update.
        assert max_abs_diff(p_man, params) > 0.1
        assert h_man["loss"][-1] < 0.7 * h_man["loss"][0]
        assert h_man["accuracy"][-1] >= 0.85
        expected0 = loss.value(model.apply(params, x), y) + reg.value(params)
        np.testing.assert_allclose(h_man["loss"][0], expected0, rtol=1e-14)


# --------------------------------------------------------------------------------------------
# 2. Trask, "A neural network in 11 lines": the tutorial's printed digits, in float64
# --------------------------------------------------------------------------------------------

TRASK_X = [[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]]


def trask_params(model):
    _, template = model.init(jax.random.key(0), (3,))
    return init.tutorial(template, seed=1, draw="uniform_pm1", dtype=f64)


def test_trask_two_layer_prints_the_tutorials_output():
    with jax.enable_x64(True):
        model = serial(Dense(1, use_bias=False, dtype=f64), Sigmoid())
        params = trask_params(model)
        x = jnp.asarray(TRASK_X, f64)
        y = jnp.asarray([[0, 0, 1, 1]], f64).T
        # The print after 10 000 iterations is the forward pass made before the 10 000th
        # update: 9 999 updates.
        trained, history = train.fit(
            model, losses.half_sse, optax.sgd(1.0), params, x, y, steps=9999, log_every=1000
        )
        out = np.asarray(model.apply(trained, x))
    expected = np.array([[0.00966449], [0.00786506], [0.99358898], [0.99211957]])
    np.testing.assert_array_equal(np.round(out, 8), expected)
    assert out.dtype == np.float64


def test_trask_three_layer_prints_the_tutorials_errors():
    printed = [
        "0.496410031903",
        "0.00858452565325",
        "0.00578945986251",
        "0.00462917677677",
        "0.00395876528027",
        "0.00351012256786",
    ]
    with jax.enable_x64(True):
        model = serial(
            Dense(4, use_bias=False, dtype=f64),
            Sigmoid(),
            Dense(1, use_bias=False, dtype=f64),
            Sigmoid(),
        )
        params = trask_params(model)
        x = jnp.asarray(TRASK_X, f64)
        y = jnp.asarray([[0, 1, 1, 0]], f64).T
        opt = optax.sgd(1.0)
        errors = []
        for _ in range(6):  # 'Error:' before updates 0, 10 000, ..., 50 000
            errors.append(float(jnp.mean(jnp.abs(y - model.apply(params, x)))))
            params, _ = train.fit(model, losses.half_sse, opt, params, x, y, steps=10_000)
    # The tutorial is Python 2: `print str(float)` shows 12 significant digits.
    assert [f"{e:.12g}" for e in errors] == printed


# --------------------------------------------------------------------------------------------
# 3. vmap, ensembles and hyperparameter sweeps equal separate runs
# --------------------------------------------------------------------------------------------


def test_vmapped_fit_and_fit_ensemble_equal_separate_runs():
    with jax.enable_x64(True):
        model, _, x, y = moons_setup()
        loss, opt = SCE, OPT
        stacked = train.init_ensemble(model, jax.random.key(7), 8, (2,))
        assert all(leaf.shape[0] == 8 and leaf.dtype == f64 for leaf in jax.tree.leaves(stacked))
        # Member i is model.init with split(key)[i].
        keys = jax.random.split(jax.random.key(7), 8)
        assert_trees_close(member(stacked, 3), model.init(keys[3], (2,))[1], 0, 0)

        def one(p):
            return train.fit(model, loss, opt, p, x, y, steps=STEPS)

        p_vmap, h_vmap = jax.vmap(one)(stacked)
        separate = [one(member(stacked, i)) for i in range(8)]
        for i, (p_i, h_i) in enumerate(separate):
            assert_trees_close(member(p_vmap, i), p_i)
            np.testing.assert_allclose(h_vmap["loss"][i], h_i["loss"], rtol=1e-12, atol=1e-12)
            np.testing.assert_array_equal(h_vmap["accuracy"][i], h_i["accuracy"])
        # Members really differ (different inits), so the comparison above is per member.
        assert max_abs_diff(member(p_vmap, 0), member(p_vmap, 1)) > 1e-3

        p_ens, h_ens = train.fit_ensemble(model, loss, opt, stacked, x, y, steps=STEPS)
        assert_trees_close(p_ens, p_vmap)
        np.testing.assert_allclose(h_ens["loss"], h_vmap["loss"], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(h_ens["accuracy"], h_vmap["accuracy"])
        np.testing.assert_array_equal(h_ens["first_nonfinite_step"], np.full(8, -1))
        np.testing.assert_array_equal(h_ens["step"], np.arange(STEPS))


def test_learning_rate_sweep_equals_separate_sgd_runs():
    with jax.enable_x64(True):
        model, params, x, y = moons_setup()
        loss = SCE
        lrs = np.array([0.05, 0.5, 1.5])
        stacked = jax.tree.map(lambda a: jnp.stack([a] * len(lrs)), params)
        swept = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
        p_sweep, h_sweep = train.fit_ensemble(
            model, loss, swept, stacked, x, y, steps=STEPS, hyperparams={"learning_rate": lrs}
        )
        for i, lr in enumerate(lrs):
            opt = OPT if lr == 0.5 else optax.sgd(float(lr))  # OPT: already compiled
            p_i, h_i = train.fit(model, loss, opt, params, x, y, steps=STEPS)
            assert_trees_close(member(p_sweep, i), p_i)
            np.testing.assert_allclose(h_sweep["loss"][i], h_i["loss"], rtol=1e-12, atol=1e-12)
        # Same init for all: only the learning rate can make the members differ.
        assert max_abs_diff(member(p_sweep, 0), member(p_sweep, 2)) > 1e-2

        # A hyperparameter sweep needs an inject_hyperparams optimizer: a clear error otherwise.
        with pytest.raises(ValueError, match="inject_hyperparams"):
            train.fit_ensemble(
                model,
                loss,
                optax.sgd(0.1),
                stacked,
                x,
                y,
                steps=1,
                hyperparams={"learning_rate": lrs},
            )


def test_reg_strength_sweep_equals_separate_l2_runs():
    with jax.enable_x64(True):
        model, params, x, y = moons_setup()
        loss, opt = SCE, OPT
        lams = np.array([0.0, 0.1, 1.0])
        stacked = jax.tree.map(lambda a: jnp.stack([a] * len(lams)), params)
        p_sweep, h_sweep = train.fit_ensemble(
            model,
            loss,
            opt,
            stacked,
            x,
            y,
            steps=STEPS,
            reg=losses.l2(1.0),
            hyperparams={"reg_strength": lams},
        )
        for i, lam in enumerate(lams):
            p_i, h_i = train.fit(
                model, loss, opt, params, x, y, steps=STEPS, reg=losses.l2(float(lam))
            )
            assert_trees_close(member(p_sweep, i), p_i)
            np.testing.assert_allclose(h_sweep["loss"][i], h_i["loss"], rtol=1e-12, atol=1e-12)
        assert max_abs_diff(member(p_sweep, 0), member(p_sweep, 2)) > 1e-2


# --------------------------------------------------------------------------------------------
# 4. Compile once
# --------------------------------------------------------------------------------------------


def test_second_fit_and_new_sweep_do_not_recompile():
    with jax.enable_x64(True):
        # Fresh objects, so the first call below must compile (nothing cached from other tests).
        model = mlp([2, 4, 2], activation="tanh", dtype=f64)
        loss, opt = losses.softmax_cross_entropy(), optax.sgd(0.3)
        _, p1 = model.init(jax.random.key(1), (2,))
        _, p2 = model.init(jax.random.key(2), (2,))
        x1, y1 = (jnp.asarray(a) for a in moons(seed=1))
        x2, y2 = (jnp.asarray(a) for a in moons(seed=2))
        x1, x2 = x1.astype(f64), x2.astype(f64)

        with count_compiles() as first:
            train.fit(model, loss, opt, p1, x1, y1, steps=20)
        assert runner_compiles(first) == ["jit(run)"]  # the counter sees the compile
        with count_compiles() as second:
            out, _ = train.fit(model, loss, opt, p2, x2, y2, steps=20)
            jax.block_until_ready(out)
        assert second == []  # new data and params of the same shapes: nothing compiled

        swept = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
        stacked = train.init_ensemble(model, jax.random.key(3), 4, (2,))
        lrs_a, lrs_b = jnp.array([0.1, 0.2, 0.3, 0.4]), jnp.array([1.0, 0.5, 0.25, 0.125])
        with count_compiles() as sweep_a:
            pa, _ = train.fit_ensemble(
                model, loss, swept, stacked, x1, y1, steps=20, hyperparams={"learning_rate": lrs_a}
            )
        assert runner_compiles(sweep_a) == ["jit(run_members)"]
        with count_compiles() as sweep_b:
            pb, _ = train.fit_ensemble(
                model, loss, swept, stacked, x1, y1, steps=20, hyperparams={"learning_rate": lrs_b}
            )
            jax.block_until_ready(pb)
        assert sweep_b == []  # a new sweep is new data, not a new program
        assert max_abs_diff(pa, pb) > 1e-3  # ...and the new learning rates were used


# --------------------------------------------------------------------------------------------
# 5. Divergence
# --------------------------------------------------------------------------------------------


def regression_setup():
    model = Dense(1, dtype=f64)
    _, params = model.init(jax.random.key(3), (3,))
    params = {"w": params["w"], "b": jnp.asarray([0.25], f64)}
    rng = np.random.default_rng(4)
    x = rng.standard_normal((10, 3))
    y = x @ np.array([[1.0], [-2.0], [3.0]]) + 0.5
    return model, params, x, y


def reference_gd(params, x, y, lr, steps):
    """Gradient descent on mse in NumPy float64, independent of jaxnn.

    Returns ``(first step whose objective is non-finite, or -1; params after each update)``,
    where the objective at step ``k`` is that of the params after ``k`` updates.
    """
    w, b = np.array(params["w"]), np.array(params["b"])
    n = y.size
    trajectory = [{"w": w, "b": b}]
    with np.errstate(all="ignore"):
        for k in range(steps):
            err = x @ w + b - y
            if not np.isfinite(np.sum(err**2) / n):
                return k, trajectory
            w, b = w - lr * (2 / n) * x.T @ err, b - lr * (2 / n) * err.sum(0)
            trajectory.append({"w": w, "b": b})
    return -1, trajectory


HUGE, SMALL, DIV_STEPS = 1e6, 0.01, 200


def test_divergence_raises_with_step_and_last_finite_params():
    with jax.enable_x64(True):
        model, params, x, y = regression_setup()
        bad, trajectory = reference_gd(params, x, y, HUGE, DIV_STEPS)
        assert 5 < bad < DIV_STEPS  # it does diverge, after some healthy steps
        x, y = jnp.asarray(x, f64), jnp.asarray(y, f64)
        with pytest.raises(FloatingPointError) as info:
            train.fit(model, losses.mse, optax.sgd(HUGE), params, x, y, steps=DIV_STEPS)
        err = info.value
        assert isinstance(err, train.DivergenceError)
        assert err.step == bad
        assert f"step {bad}" in str(err) and "smaller learning rate" in str(err)
        # .params: the last params whose objective was finite, i.e. after bad - 1 updates.
        assert all(np.isfinite(np.asarray(leaf)).all() for leaf in jax.tree.leaves(err.params))
        assert bool(jnp.isfinite(losses.mse.value(model.apply(err.params, x), y)))
        assert_trees_close(err.params, trajectory[bad - 1], rtol=1e-10, atol=0)
        # The history on the exception runs up to the bad step, every entry consistently.
        assert len(err.history["loss"]) == bad + 1
        np.testing.assert_array_equal(err.history["step"], np.arange(bad + 1))
        assert np.isfinite(np.asarray(err.history["loss"][:bad])).all()
        assert not np.isfinite(float(err.history["loss"][bad]))


def test_divergence_is_recorded_under_vmap_and_jit():
    with jax.enable_x64(True):
        model, params, x, y = regression_setup()
        bad, _ = reference_gd(params, x, y, HUGE, DIV_STEPS)
        ok, small = reference_gd(params, x, y, SMALL, DIV_STEPS)
        assert ok == -1 and bad > 0
        x, y = jnp.asarray(x, f64), jnp.asarray(y, f64)

        def run(lr):
            return train.fit(model, losses.mse, optax.sgd(lr), params, x, y, steps=DIV_STEPS)

        p_v, h_v = jax.vmap(run)(jnp.array([SMALL, HUGE]))  # nothing raises
        np.testing.assert_array_equal(h_v["first_nonfinite_step"], [-1, bad])
        assert_trees_close(member(p_v, 0), small[-1], rtol=1e-10, atol=1e-12)

        opt = optax.sgd(HUGE)
        _, h_j = jax.jit(lambda p: train.fit(model, losses.mse, opt, p, x, y, steps=DIV_STEPS))(
            params
        )
        assert int(h_j["first_nonfinite_step"]) == bad

        swept = optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)
        stacked = jax.tree.map(lambda a: jnp.stack([a, a]), params)
        p_e, h_e = train.fit_ensemble(
            model,
            losses.mse,
            swept,
            stacked,
            x,
            y,
            steps=DIV_STEPS,
            hyperparams={"learning_rate": [SMALL, HUGE]},
        )
        np.testing.assert_array_equal(h_e["first_nonfinite_step"], [-1, bad])
        assert_trees_close(member(p_e, 0), small[-1], rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------------
# 6. Logging
# --------------------------------------------------------------------------------------------

# A stateful optimizer, so a chunked or blocked run that dropped its state would show.
OPT_MOM = optax.sgd(0.5, momentum=0.9)


def test_log_every_never_changes_the_number_of_updates():
    steps = 10
    with jax.enable_x64(True):
        model, params, x, y = moons_setup()
        p_all, h_all = train.fit(model, SCE, OPT_MOM, params, x, y, steps=steps)
        # One update fewer gives different params, so equal params below mean `steps` updates.
        p_short, _ = train.fit(model, SCE, OPT_MOM, params, x, y, steps=steps - 1)
        assert max_abs_diff(p_short, p_all) > 1e-6
        # 3: blocks of 3 and a remainder block; 15 > steps: only the remainder block.
        for log_every in (3, 15):
            p_log, h_log = train.fit(
                model, SCE, OPT_MOM, params, x, y, steps=steps, log_every=log_every
            )
            assert_trees_close(p_log, p_all, rtol=1e-13, atol=1e-14)
            logged = np.arange(0, steps, log_every)
            assert len(h_log["loss"]) == math.ceil(steps / log_every)
            np.testing.assert_array_equal(h_log["step"], logged)
            np.testing.assert_allclose(h_log["loss"], h_all["loss"][logged], rtol=1e-13)
            np.testing.assert_array_equal(h_log["accuracy"], h_all["accuracy"][logged])
        np.testing.assert_array_equal(h_log["step"], [0])  # log_every=15


def test_progress_bar_chunks_give_identical_results(capsys):
    pytest.importorskip("tqdm")
    with jax.enable_x64(True):
        model, params, x, y = moons_setup()
        # 45 steps logged every 2: chunks of 4 steps, and a last chunk of 1.
        kw = {"steps": 45, "log_every": 2}
        p_bar, h_bar = train.fit(model, SCE, OPT_MOM, params, x, y, progress=True, **kw)
        assert "45/45" in capsys.readouterr().err  # the bar really ran, to the end
        p_one, h_one = train.fit(model, SCE, OPT_MOM, params, x, y, progress=False, **kw)
        assert_trees_close(p_bar, p_one, 0, 0)
        assert h_bar.keys() == h_one.keys()
        for key in h_one:
            assert_trees_close(h_bar[key], h_one[key], 0, 0)
        assert len(h_bar["loss"]) == 23


def test_accuracy_is_logged_for_classification_losses_only():
    with jax.enable_x64(True):
        model, params, x, labels = moons_setup()
        opt = optax.sgd(0.5)
        _, h = train.fit(model, SCE, OPT_MOM, params, x, labels, steps=10)  # compiled already
        want = np.mean(np.argmax(np.asarray(model.apply(params, x)), -1) == labels)
        assert h["accuracy"].shape == (10,)
        np.testing.assert_allclose(h["accuracy"][0], want)
        assert 0.2 < want < 0.95  # neither trivially 0 nor 1

        prob_model = mlp([2, 4, 1], activation="tanh", output_activation="sigmoid", dtype=f64)
        _, p_prob = prob_model.init(jax.random.key(2), (2,))
        target = jnp.asarray(labels[:, None], f64)
        bce = losses.binary_cross_entropy()
        _, h = train.fit(prob_model, bce, opt, p_prob, x, target, steps=3)
        want = np.mean((np.asarray(prob_model.apply(p_prob, x)) > 0.5) == (target > 0.5))
        np.testing.assert_allclose(h["accuracy"][0], want)

        reg_model = mlp([2, 4, 1], activation="tanh", dtype=f64)
        _, p_reg = reg_model.init(jax.random.key(2), (2,))
        _, h = train.fit(reg_model, losses.mse, opt, p_reg, x, target, steps=3)
        assert "accuracy" not in h
        assert set(h) == {"loss", "step", "first_nonfinite_step", "final_loss", "opt_state"}


# --------------------------------------------------------------------------------------------
# 7. Dtypes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_params_keep_their_dtype_under_x64(dtype):
    with jax.enable_x64(True):
        model = mlp([2, 4, 2], activation="tanh", dtype=dtype)
        _, params = model.init(jax.random.key(0), (2,))
        assert all(leaf.dtype == dtype for leaf in jax.tree.leaves(params))
        x_np, y = moons()
        # float64 data and a float64 regulariser must not promote float32 params.
        x = jnp.asarray(x_np, f64)
        opt = optax.adam(jnp.asarray(0.01, f64))
        trained, _ = train.fit(
            model,
            losses.softmax_cross_entropy(),
            opt,
            params,
            x,
            y,
            steps=5,
            reg=losses.l2(jnp.asarray(0.01, f64)),
        )
        assert [leaf.dtype for leaf in jax.tree.leaves(trained)] == [
            jnp.dtype(dtype) for _ in jax.tree.leaves(params)
        ]
        assert max_abs_diff(trained, params) > 1e-4


# --------------------------------------------------------------------------------------------
# 8. Bad input is caught at trace time
# --------------------------------------------------------------------------------------------


def test_wrong_feature_dim_raises_naming_dense_before_training():
    model = mlp([2, 4, 2], activation="tanh")
    _, params = model.init(jax.random.key(0), (2,))
    x_np, y = moons()
    x3 = jnp.asarray(np.concatenate([x_np, x_np[:, :1]], axis=1), jnp.float32)  # 3 features
    loss, opt = losses.softmax_cross_entropy(), optax.sgd(0.1)
    with count_compiles() as names:
        with pytest.raises(
            ValueError, match=r"(Dense\(4\)|mlp\(\[2, 4, 2\]).*\(\.\.\., 2\).*\(64, 3\)"
        ):
            train.fit(model, loss, opt, params, x3, y, steps=10)
    assert runner_compiles(names) == []  # raised while tracing: no program was ever built

    with pytest.raises(ValueError, match=r"fit: x has 64 examples but target has 10"):
        train.fit(model, loss, opt, params, jnp.asarray(x_np, jnp.float32), y[:10], steps=10)


# --------------------------------------------------------------------------------------------
# 9. Options of fit / fit_ensemble are checked before anything compiles
# --------------------------------------------------------------------------------------------

ERR_MODEL = mlp([2, 3, 2], activation="tanh")
_, ERR_PARAMS = ERR_MODEL.init(jax.random.key(0), (2,))
ERR_X, ERR_Y = jnp.zeros((6, 2)), jnp.zeros((6,), jnp.int32)


@pytest.mark.parametrize(
    "kw, kind, words",
    [
        ({"batch_size": 7, "key": jax.random.key(0)}, ValueError, ["batch_size=7", "6 examples"]),
        ({"batch_size": 0, "key": jax.random.key(0)}, ValueError, ["batch_size", "positive"]),
        ({"batch_size": 2}, ValueError, ["key=", "required", "batch_size=2"]),
        ({"batch_size": 2, "key": 3}, TypeError, ["key", "PRNG key"]),
        ({"patience": 0}, ValueError, ["patience", "positive"]),
        ({"start_step": -1}, ValueError, ["start_step", ">= 0"]),
        ({"devices": []}, ValueError, ["devices=[]"]),
        ({"validation": ERR_X}, TypeError, ["validation", "pair"]),
        ({"validation": (ERR_X, ERR_Y + 2)}, ValueError, ["label", "2 classes"]),
        ({"metrics": {"loss": jnp.mean}}, ValueError, ["metric name 'loss'", "reserved"]),
        ({"metrics": {"mae": 3}}, TypeError, ["metrics['mae']", "function"]),
    ],
)
def test_fit_options_are_checked_before_compiling(kw, kind, words):
    loss, opt = losses.softmax_cross_entropy(), optax.sgd(0.1)
    with count_compiles() as names:
        with pytest.raises(kind) as info:
            train.fit(ERR_MODEL, loss, opt, ERR_PARAMS, ERR_X, ERR_Y, steps=2, **kw)
    assert runner_compiles(names) == []
    for word in words:
        assert word in str(info.value), (word, str(info.value))
