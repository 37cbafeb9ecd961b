"""fit beyond full batch: minibatches drawn inside the compiled run, resuming, dropout keys.

The visiting tests use a probe: a bias-free Dense on one-hot rows (example i only touches
weight i) and an "optimizer" that writes the update counter into every weight whose gradient
is nonzero. After an epoch from zeros, weight i holds the (1-based) update at which example i
was used, or 0 if it was skipped: the data order, read back exactly.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxnn import Dense, losses, mlp, train

f64 = jnp.float64


def stamp_optimizer():
    """Set each param whose gradient is nonzero to the number of updates made, counting this
    one: the stamp of the update that last used it."""

    def init(params):
        return jnp.zeros((), jnp.int32)

    def update(grads, count, params):
        stamp = (count + 1).astype(jnp.float64)
        return jax.tree.map(lambda g, p: jnp.where(g != 0, stamp - p, 0), grads, params), count + 1

    return optax.GradientTransformation(init, update)


N = 10
PROBE = Dense(1, use_bias=False, dtype=f64)
STAMP = stamp_optimizer()


def probe_data(n=N):
    # Targets far from any prediction: every visited example has a nonzero gradient.
    return jnp.eye(n, dtype=f64), jnp.full((n, 1), 1e6, f64), {"w": jnp.zeros((n, 1), f64)}


def stamps(params):
    return np.asarray(params["w"])[..., 0]


def test_every_example_once_per_epoch_fresh_order_each_epoch():
    with jax.enable_x64(True):
        x, t, p0 = probe_data()
        key, batch, per_epoch = jax.random.key(0), 3, N // 3  # 3 updates, 1 example skipped
        kw = {"batch_size": batch, "key": key, "steps": per_epoch}
        orders, opt_state = [], None
        for epoch in range(4):
            # One epoch per call, resumed: the stamps of this epoch alone.
            p, h = train.fit(
                PROBE, losses.half_sse, STAMP, p0, x, t, **kw,
                opt_state=opt_state, start_step=epoch * per_epoch,
            )  # fmt: skip
            opt_state = h["opt_state"]
            s = stamps(p) - np.where(stamps(p) > 0, epoch * per_epoch, 0)
            # Each update used `batch` distinct examples, each example at most once, and
            # the ragged remainder (N % batch) was skipped.
            counts = np.bincount(s.astype(int), minlength=per_epoch + 1)
            np.testing.assert_array_equal(counts, [N % batch] + [batch] * per_epoch)
            orders.append(s)
        assert len({tuple(o) for o in orders}) == 4  # a fresh permutation every epoch
        skipped = {int(np.flatnonzero(o == 0)[0]) for o in orders}
        assert len(skipped) > 1  # the skipped example changes from epoch to epoch

        # One call over 4 epochs visits every example once per epoch: N - skips in total.
        p, _ = train.fit(PROBE, losses.half_sse, STAMP, p0, x, t, **{**kw, "steps": 4 * 3})
        last = stamps(p)  # the stamp of each example's last visit
        np.testing.assert_array_equal(np.sort(last[last > 9]), np.arange(10, 13).repeat(3))


def test_orders_under_vmap_jit_and_per_ensemble_member():
    with jax.enable_x64(True):
        x, t, p0 = probe_data()
        kw = {"batch_size": 2, "steps": 5}  # one epoch, nothing skipped

        def order(key):
            return train.fit(PROBE, losses.half_sse, STAMP, p0, x, t, key=key, **kw)[0]["w"][..., 0]

        keys = jax.random.split(jax.random.key(1), 3)
        eager = np.stack([order(k) for k in keys])
        vmapped = jax.vmap(order)(keys)
        jitted = jax.jit(order)(keys[0])
        np.testing.assert_array_equal(vmapped, eager)
        np.testing.assert_array_equal(jitted, eager[0])
        for row in eager:  # each a permutation: every example exactly once
            np.testing.assert_array_equal(np.sort(row), np.arange(1, 6).repeat(2))
        assert len({tuple(r) for r in eager}) == 3

        # fit_ensemble: member i uses fold_in(key, i); members see distinct orders.
        key = jax.random.key(2)
        stacked = jax.tree.map(lambda a: jnp.stack([a] * 4), p0)
        p_ens, _ = train.fit_ensemble(PROBE, losses.half_sse, STAMP, stacked, x, t, key=key, **kw)
        members = stamps(p_ens)
        for i in range(4):
            np.testing.assert_array_equal(members[i], order(jax.random.fold_in(key, i)))
        assert len({tuple(r) for r in members}) == 4


MODEL = mlp([2, 6, 2], activation="tanh", dtype=f64)
SCE = losses.softmax_cross_entropy()


def moons_like(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    y = ((x[:, 0] * x[:, 1] > 0) ^ (rng.uniform(size=n) < 0.1)).astype(np.int32)
    return jnp.asarray(x, f64 if jax.config.jax_enable_x64 else jnp.float32), jnp.asarray(y)


def test_batch_size_n_equals_full_batch_and_logs_whole_set():
    with jax.enable_x64(True):
        x, y = moons_like()
        _, params = MODEL.init(jax.random.key(0), (2,))
        opt = optax.sgd(0.3)
        full_p, full_h = train.fit(MODEL, SCE, opt, params, x, y, steps=40, log_every=4)
        mb_p, mb_h = train.fit(
            MODEL, SCE, opt, params, x, y, steps=40, log_every=4,
            batch_size=len(y), key=jax.random.key(5),
        )  # fmt: skip
        # Same examples every update, only their order (hence the summation order) differs.
        for a, b in zip(jax.tree.leaves(full_p), jax.tree.leaves(mb_p), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(mb_h["loss"], full_h["loss"], rtol=1e-12)
        np.testing.assert_allclose(mb_h["final_loss"], full_h["final_loss"], rtol=1e-12)
        # final_loss is the objective of the returned params.
        want = SCE.value(MODEL.apply(full_p, x), y)
        np.testing.assert_allclose(full_h["final_loss"], want, rtol=1e-13)

        # With real minibatches the logged loss is still the whole training set's objective.
        p8, h8 = train.fit(
            MODEL, SCE, opt, params, x, y, steps=12, log_every=4, batch_size=8,
            key=jax.random.key(5),
        )  # fmt: skip
        assert not np.allclose(np.asarray(jax.tree.leaves(p8)[0]), jax.tree.leaves(full_p)[0])
        np.testing.assert_allclose(h8["loss"][0], SCE.value(MODEL.apply(params, x), y), 1e-13)


def test_resume_500_plus_500_equals_1000_exactly():
    with jax.enable_x64(True):
        model = mlp([2, 6, 2], activation="tanh", dtype=f64, dropout=0.2)
        x, y = moons_like(50)
        _, params = model.init(jax.random.key(1), (2,))
        opt = optax.adam(optax.exponential_decay(0.05, transition_steps=50, decay_rate=0.8))
        kw = {"batch_size": 8, "key": jax.random.key(3), "log_every": 50}
        p_all, h_all = train.fit(model, SCE, opt, params, x, y, steps=1000, **kw)
        p_a, h_a = train.fit(model, SCE, opt, params, x, y, steps=500, **kw)
        p_b, h_b = train.fit(
            model, SCE, opt, p_a, x, y, steps=500, opt_state=h_a["opt_state"], start_step=500,
            **kw,
        )  # fmt: skip
        for a, b in zip(jax.tree.leaves(p_all), jax.tree.leaves(p_b), strict=True):
            np.testing.assert_array_equal(a, b)  # exactly, not to rounding
        states = (jax.tree.leaves(h_all["opt_state"]), jax.tree.leaves(h_b["opt_state"]))
        for a, b in zip(*states, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(h_all["loss"], np.concatenate([h_a["loss"], h_b["loss"]]))
        np.testing.assert_array_equal(h_b["step"], np.arange(500, 1000, 50))
        assert h_all["final_loss"] == h_b["final_loss"] < 0.8 * h_all["loss"][0]

        # Not vacuous: restarting without the optimizer state (a fresh Adam and schedule)
        # gives other params.
        p_restart, _ = train.fit(model, SCE, opt, p_a, x, y, steps=500, start_step=500, **kw)
        assert not np.array_equal(jax.tree.leaves(p_restart)[0], jax.tree.leaves(p_all)[0])


def test_stochastic_model_needs_a_key_and_masks_differ_per_step_and_member():
    with jax.enable_x64(True):
        model = mlp([2, 6, 2], activation="tanh", dtype=f64, dropout=0.5)
        x, y = moons_like()
        _, params = model.init(jax.random.key(0), (2,))
        opt = optax.sgd(0.1)
        with pytest.raises(ValueError, match=r"key=.*required.*Dropout\(0\.5\)"):
            train.fit(model, SCE, opt, params, x, y, steps=2)
        with pytest.raises(ValueError, match=r"key=.*required.*batch_size=4"):
            train.fit(MODEL, SCE, opt, params, x, y, steps=2, batch_size=4)

        # Update k uses fold_in(key, k): two updates by hand with the hand-written gradient.
        key = jax.random.key(7)
        grad = jax.jit(train_grad(model))
        p_hand = params
        for k in range(2):
            g = grad(p_hand, x, y, jax.random.fold_in(key, k))
            p_hand = jax.tree.map(lambda p, d: p - 0.1 * d, p_hand, g)
        p_fit, h = train.fit(model, SCE, opt, params, x, y, steps=2, key=key)
        for a, b in zip(jax.tree.leaves(p_hand), jax.tree.leaves(p_fit), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
        # Logged numbers are in evaluation mode (no key): deterministic.
        np.testing.assert_allclose(h["loss"][0], SCE.value(model.apply(params, x), y), 1e-13)
        # Different steps got different masks: the gradients at the same params differ.
        g0 = grad(params, x, y, jax.random.fold_in(key, 0))
        g1 = grad(params, x, y, jax.random.fold_in(key, 1))
        assert np.max(np.abs(np.asarray(g0[0]["w"]) - np.asarray(g1[0]["w"]))) > 1e-3

        # Members of an ensemble get their own streams: same init, different results.
        stacked = jax.tree.map(lambda a: jnp.stack([a, a]), params)
        p_ens, _ = train.fit_ensemble(model, SCE, opt, stacked, x, y, steps=2, key=key)
        member0 = jax.tree.map(lambda a: a[0], p_ens)
        p_key0, _ = train.fit(
            model, SCE, opt, params, x, y, steps=2, key=jax.random.fold_in(key, 0)
        )
        for a, b in zip(jax.tree.leaves(member0), jax.tree.leaves(p_key0), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
        assert not np.allclose(p_ens[0]["w"][0], p_ens[0]["w"][1])


def train_grad(model):
    from jaxnn import backprop

    f = backprop.value_grad_and_pred(model, SCE)
    return lambda p, x, y, key: f(p, x, y, key=key)[1]


def test_no_key_reuse_under_jax_debug_key_reuse():
    model = mlp([2, 4, 2], activation="tanh", dropout=0.3)
    x, y = moons_like(16)
    _, params = model.init(jax.random.key(0), (2,))
    opt, kw = optax.sgd(0.1), {"key": jax.random.key(1), "batch_size": 4}
    with jax.debug_key_reuse(True):
        p1, _ = train.fit(model, SCE, opt, params, x, y, steps=6, **kw)
        stacked = train.init_ensemble(model, jax.random.key(2), 2, (2,))
        train.fit_ensemble(model, SCE, opt, stacked, x, y, steps=3, **kw)
    # The caller's key was not consumed: the same key reproduces the run exactly.
    p2, _ = train.fit(model, SCE, opt, params, x, y, steps=6, **kw)
    for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2), strict=True):
        np.testing.assert_array_equal(a, b)


def test_shuffle_stream_is_independent_of_dropout_keys():
    from jaxnn.loop import shuffle_root

    key = jax.random.key(0)
    root = np.asarray(jax.random.key_data(shuffle_root(key)))
    steps = jnp.arange(4096, dtype=jnp.uint32)
    dropout = jax.vmap(lambda k: jax.random.key_data(jax.random.fold_in(key, k)))(steps)
    epochs = jax.vmap(lambda e: jax.random.key_data(jax.random.fold_in(shuffle_root(key), e)))(
        steps
    )
    keys = {tuple(k) for k in np.asarray(dropout)} | {tuple(root)}
    keys |= {tuple(k) for k in np.asarray(epochs)}
    assert len(keys) == 2 * 4096 + 1  # no dropout key is a data-order key
    # (split would not do: with partitionable threefry it *is* fold_in.)
    split = np.asarray(jax.random.key_data(jax.random.split(key)[1]))
    assert (split == np.asarray(dropout[1])).all() or jax.config.jax_threefry_partitionable is False
