"""fit with held-out data: validation logs, user metrics, early stopping, FANN's stop_below,
each ensemble member stopping on its own; sweeps that would silently do nothing are errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import losses, mlp, train

f64 = jnp.float64
MODEL = mlp([2, 16, 2], activation="tanh", dtype=f64)
SCE = losses.softmax_cross_entropy()
LRS = (0.02, 0.05, 0.1)


def data():
    """Noisy XOR quadrants to train on, clean ones to validate on: an MLP overfits fast."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 2))
    y = (x[:, 0] * x[:, 1] > 0) ^ (rng.uniform(size=40) < 0.2)
    xv = rng.standard_normal((40, 2))
    yv = xv[:, 0] * xv[:, 1] > 0
    _, params = MODEL.init(jax.random.key(0), (2,))
    return (
        params,
        jnp.asarray(x),
        jnp.asarray(y, jnp.int32),
        (jnp.asarray(xv), jnp.asarray(yv, jnp.int32)),
    )


def leaves_equal(a, b, tol=0.0):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=tol, atol=tol)


def mean_abs_error(pred, target):  # Trask's printed error, on class probabilities
    return jnp.mean(jnp.abs(jax.nn.softmax(pred)[:, 1] - target))


@jax.jit
def references(params, x, y, xv, yv):
    pred, pred_v = MODEL.apply(params, x), MODEL.apply(params, xv)
    return {
        "val_loss": SCE.value(pred_v, yv),
        "val_accuracy": SCE.accuracy(pred_v, yv),
        "mae": mean_abs_error(pred, y),
        "val_mae": mean_abs_error(pred_v, yv),
    }


def test_validation_and_metrics_are_logged_in_eval_mode_at_logged_steps():
    with jax.enable_x64(True):
        params, x, y, (xv, yv) = data()
        opt = optax.adam(0.05)
        kw = {"validation": (xv, yv), "metrics": {"mae": mean_abs_error}, "log_every": 10}
        p, h = train.fit(MODEL, SCE, opt, params, x, y, steps=40, **kw)
        assert {"val_loss", "val_accuracy", "mae", "val_mae", "final_val_loss"} <= set(h)
        assert h["val_loss"].shape == h["mae"].shape == (4,)
        want = references(params, x, y, xv, yv)  # one program, not eager op by op
        np.testing.assert_allclose(h["val_loss"][0], want["val_loss"], rtol=1e-13)
        np.testing.assert_allclose(h["val_accuracy"][0], want["val_accuracy"])
        np.testing.assert_allclose(h["mae"][0], want["mae"], rtol=1e-13)
        np.testing.assert_allclose(h["val_mae"][0], want["val_mae"], rtol=1e-13)
        # Entry 2 is the params after 20 updates: the final numbers of a 20-step run.
        p20, h20 = train.fit(MODEL, SCE, opt, params, x, y, steps=20, **kw)
        np.testing.assert_allclose(h["val_loss"][2], h20["final_val_loss"], rtol=1e-12)
        np.testing.assert_allclose(h["loss"][2], h20["final_loss"], rtol=1e-12)
        want = references(p, x, y, xv, yv)
        np.testing.assert_allclose(h["final_val_loss"], want["val_loss"], rtol=1e-13)
        assert len(set(np.round(np.asarray(h["val_loss"]), 6))) == 4  # it really moved


def test_early_stopping_returns_best_params_and_members_stop_on_their_own():
    with jax.enable_x64(True):
        params, x, y, val = data()
        opt = optax.inject_hyperparams(optax.adam)(learning_rate=0.05)
        kw = {"validation": val, "patience": 4, "log_every": 10, "steps": 300}
        stacked = jax.tree.map(lambda a: jnp.stack([a] * 3), params)
        p_ens, h_ens = train.fit_ensemble(
            MODEL, SCE, opt, stacked, x, y, hyperparams={"learning_rate": np.array(LRS)}, **kw
        )
        stops = np.asarray(h_ens["stop_step"])
        assert len(set(stops.tolist())) == 3 and (stops > 0).all() and (stops < 300).all()
        for i in range(3):
            val_loss = np.asarray(h_ens["val_loss"][i])
            best, stop = int(h_ens["best_step"][i]), int(stops[i])
            # The best logged step, and `patience` logged steps without improvement after it.
            logged_best = int(np.argmin(val_loss[: stop // 10 + 1]))
            assert best == 10 * logged_best and stop == best + 4 * 10
            assert (val_loss[stop // 10 :] == val_loss[stop // 10]).all()  # frozen after
            # The returned params are those logged at the best step.
            np.testing.assert_allclose(
                h_ens["final_val_loss"][i], val_loss[logged_best], rtol=1e-13
            )
        assert len(set(np.asarray(h_ens["best_step"]).tolist())) == 3  # distinct bests
        # A member equals its own run: stopping is per member.
        opt_1 = optax.inject_hyperparams(optax.adam)(learning_rate=LRS[1])
        p_1, h_1 = train.fit(MODEL, SCE, opt_1, params, x, y, **kw)
        leaves_equal(jax.tree.map(lambda a: a[1], p_ens), p_1, 1e-12)
        assert int(h_1["best_step"]) == int(h_ens["best_step"][1])
        assert int(h_1["stop_step"]) == int(stops[1])
        np.testing.assert_allclose(h_1["val_loss"], h_ens["val_loss"][1], rtol=1e-12)


def test_stop_below_is_fanns_desired_error_per_member_under_vmap():
    with jax.enable_x64(True):
        params, x, y, _ = data()

        def run(lr, eps):
            opt = optax.sgd(lr)
            return train.fit(MODEL, SCE, opt, params, x, y, steps=200, stop_below=eps)

        p, h = run(0.5, 0.55)
        stop = int(h["stop_step"])
        assert 0 < stop < 200
        assert h["loss"][stop] < 0.55 <= h["loss"][stop - 1]
        assert h["final_loss"] == h["loss"][stop] < 0.55  # frozen at the first one below
        leaves_equal(p, run_steps(stop, 0.5, params, x, y))
        # Under vmap each run stops on its own (one never reaches its threshold).
        _, hv = jax.vmap(run)(jnp.array([0.5, 0.5, 0.05]), jnp.array([0.55, 0.6, 0.01]))
        stops = np.asarray(hv["stop_step"])
        assert stops[0] == stop and 0 < stops[1] < stop and stops[2] == -1


def run_steps(n, lr, params, x, y):
    return train.fit(MODEL, SCE, optax.sgd(lr), params, x, y, steps=n)[0]


def test_sweeps_that_would_do_nothing_are_errors_and_ints_stay_float():
    with jax.enable_x64(True):
        params, x, y, _ = data()
        stacked = jax.tree.map(lambda a: jnp.stack([a] * 2), params)
        sched = optax.inject_hyperparams(optax.sgd)(
            learning_rate=optax.exponential_decay(0.1, 10, 0.9)
        )
        with pytest.raises(ValueError, match=r"schedule.*step_size"):
            train.fit_ensemble(MODEL, SCE, sched, stacked, x, y, steps=2,
                               hyperparams={"learning_rate": [0.1, 0.2]})  # fmt: skip
        with pytest.raises(ValueError, match=r"reg_strength.*reg=None"):
            train.fit_ensemble(MODEL, SCE, optax.sgd(0.1), stacked, x, y, steps=2,
                               hyperparams={"reg_strength": [0.1, 0.2]})  # fmt: skip
        # Built with an int learning rate: a swept 0.5 must stay 0.5 (not truncate to 0).
        int_lr = optax.inject_hyperparams(optax.sgd)(learning_rate=1)
        p_sweep, _ = train.fit_ensemble(MODEL, SCE, int_lr, stacked, x, y, steps=3,
                                        hyperparams={"learning_rate": [0.5, 0]})  # fmt: skip
        leaves_equal(jax.tree.map(lambda a: a[0], p_sweep), run_steps(3, 0.5, params, x, y), 1e-13)
        leaves_equal(jax.tree.map(lambda a: a[1], p_sweep), params)  # rate 0: unchanged
        # A scalar is given to every member.
        p_scalar, _ = train.fit_ensemble(MODEL, SCE, int_lr, stacked, x, y, steps=3,
                                         hyperparams={"learning_rate": 0.5})  # fmt: skip
        leaves_equal(jax.tree.map(lambda a: a[1], p_scalar), run_steps(3, 0.5, params, x, y), 1e-13)
