"""Several devices: fit_ensemble shards the members, fit(devices=...) shards the batch, and
both equal one device.

Four CPU devices need XLA_FLAGS set before jax starts, so the work runs in one subprocess that
prints its findings as JSON; the assertions are made here. The nets are small, in float64.
"""

import functools
import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json

    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    from jaxnn import losses, mlp, train

    jax.config.update("jax_enable_x64", True)
    assert len(jax.devices()) == 4, jax.devices()
    f64 = jnp.float64
    model = mlp([2, 3, 1], activation="tanh", output_activation="sigmoid", dtype=f64)
    x = jnp.array([[0, 0], [0, 1], [1, 0], [1, 1]], f64)
    y = jnp.array([[0], [1], [1], [0]], f64)
    loss = losses.binary_cross_entropy()
    opt = optax.inject_hyperparams(optax.sgd)(learning_rate=1.0)
    one_device = [jax.devices()[0]]
    result = {}

    def diff(a, b):
        return max(
            float(np.max(np.abs(np.asarray(u) - np.asarray(v))))
            for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b))
        )

    for n in (8, 6):
        params = train.init_ensemble(model, jax.random.key(n), n, (2,))
        # A different learning rate per member: padding must not mix up hyperparameters.
        lrs = jnp.linspace(0.5, 2.0, n, dtype=f64)
        kw = dict(steps=300, log_every=50, hyperparams={"learning_rate": lrs})
        p_many, h_many = train.fit_ensemble(model, loss, opt, params, x, y, **kw)
        p_one, h_one = train.fit_ensemble(
            model, loss, opt, params, x, y, devices=one_device, **kw
        )
        leaves_many, leaves_one = jax.tree.leaves(p_many), jax.tree.leaves(p_one)
        result[n] = {
            "devices_per_leaf": [len(a.sharding.device_set) for a in leaves_many],
            "devices_one": [len(a.sharding.device_set) for a in leaves_one],
            "dtypes": sorted({str(a.dtype) for a in leaves_many}),
            "leading": [int(a.shape[0]) for a in leaves_many],
            "shapes_equal": [a.shape == b.shape for a, b in zip(leaves_many, leaves_one)],
            "max_param_diff": max(
                float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                for a, b in zip(leaves_many, leaves_one)
            ),
            "max_loss_diff": float(
                np.max(np.abs(np.asarray(h_many["loss"]) - np.asarray(h_one["loss"])))
            ),
            "loss_shape": list(np.shape(h_many["loss"])),
            "first_nonfinite_step": np.asarray(h_many["first_nonfinite_step"]).tolist(),
            # members differ from each other (different inits and learning rates)
            "member_spread": float(np.ptp(np.asarray(h_one["loss"])[:, -1])),
            "final_loss": np.asarray(h_one["loss"])[:, -1].tolist(),
        }

    # Members with their own data orders and dropout masks (key), sharded: equal one device.
    drop = mlp([2, 6, 1], activation="tanh", output_activation="sigmoid", dropout=0.3, dtype=f64)
    params = train.init_ensemble(drop, jax.random.key(1), 6, (2,))
    kw = dict(steps=40, log_every=10, key=jax.random.key(2), batch_size=2)
    p_many, h_many = train.fit_ensemble(drop, loss, opt, params, x, y, **kw)
    p_one, h_one = train.fit_ensemble(drop, loss, opt, params, x, y, devices=one_device, **kw)
    result["keyed"] = {
        "max_param_diff": diff(p_many, p_one),
        "member_spread": float(np.ptp(np.asarray(h_one["final_loss"]))),
    }

    # Data parallel: the batch axis over 4 devices, params replicated.
    rng = np.random.default_rng(0)
    xs = jnp.asarray(rng.standard_normal((32, 2)), f64)
    ys = jnp.asarray(rng.integers(0, 2, 32), jnp.int32)
    clf = mlp([2, 8, 2], activation="tanh", dropout=0.2, dtype=f64)
    _, p0 = clf.init(jax.random.key(3), (2,))
    ce = losses.softmax_cross_entropy()
    adam = optax.adam(0.05)
    four = jax.devices()
    runs = {
        "full": dict(steps=30, key=jax.random.key(4)),
        "minibatch": dict(steps=30, key=jax.random.key(4), batch_size=8, validation=(xs, ys)),
    }
    for name, kw in runs.items():
        p_dp, h_dp = train.fit(clf, ce, adam, p0, xs, ys, devices=four, **kw)
        p_1, h_1 = train.fit(clf, ce, adam, p0, xs, ys, **kw)
        result[name] = {
            "max_param_diff": diff(p_dp, p_1),
            "max_loss_diff": float(np.max(np.abs(np.asarray(h_dp["loss"]) - h_1["loss"]))),
            "replicated_on": sorted({len(a.sharding.device_set) for a in jax.tree.leaves(p_dp)}),
            "fully_replicated": all(a.sharding.is_fully_replicated for a in jax.tree.leaves(p_dp)),
            "moved": diff(p_1, p0),
        }
    errors = {}
    for name, kw in {"full": {}, "minibatch": dict(batch_size=6)}.items():
        try:
            train.fit(clf, ce, adam, p0, xs[:30], ys[:30], steps=2, devices=four,
                      key=jax.random.key(0), **kw)  # fmt: skip
        except ValueError as e:
            errors[name] = str(e)
    result["errors"] = errors

    # Dense's hand-written dw = tensordot(x, dy) over the sharded batch axis: XLA contracts each
    # shard locally and all-reduces the (tiny) gradients; x itself is never gathered.
    from jaxnn import loop, placement

    det = mlp([2, 8, 2], activation="tanh", dtype=f64)
    mesh = placement.mesh_1d(four, "batch")
    split, whole = placement.sharded(mesh, "batch"), placement.sharded(mesh, None)
    cfg = loop.RunConfig(steps=5)
    _, p_det = det.init(jax.random.key(3), (2,))
    state = loop.initial_state(adam, jax.device_put(p_det, whole), cfg)
    inputs = loop.RunInputs(jax.device_put(xs, split), jax.device_put(ys, split))
    runner = train._get_runner(det, ce, adam, None, "manual")
    hlo = runner.lower(state, inputs, cfg=cfg).compile().as_text()
    result["hlo"] = {"all_reduce": hlo.count("all-reduce("), "all_gather": hlo.count("all-gather(")}
    print("RESULT" + json.dumps(result))
    """
)


@functools.cache
def run_on_four_cpu_devices():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def test_fit_ensemble_shards_over_four_devices_and_equals_one_device():
    result = run_on_four_cpu_devices()
    for n in ("8", "6"):  # 6 does not divide by 4: padded to 8, padding dropped
        r = result[n]
        assert all(d == 4 for d in r["devices_per_leaf"]), r
        assert all(d == 1 for d in r["devices_one"]), r
        assert r["leading"] and all(size == int(n) for size in r["leading"]), r
        assert all(r["shapes_equal"]), r
        assert r["loss_shape"] == [int(n), 6], r
        assert r["first_nonfinite_step"] == [-1] * int(n), r
        assert r["dtypes"] == ["float64"], r
        # In float64 a sharded run and a one-device run agree to rounding.
        assert r["max_param_diff"] <= 1e-10, r
        assert r["max_loss_diff"] <= 1e-10, r
        assert r["member_spread"] > 1e-3, r  # the members really are different runs


def test_members_with_keys_and_data_parallel_fit_equal_one_device():
    result = run_on_four_cpu_devices()
    keyed = result["keyed"]
    assert keyed["max_param_diff"] <= 1e-10 and keyed["member_spread"] > 1e-3, keyed
    for name in ("full", "minibatch"):
        r = result[name]
        assert r["replicated_on"] == [4] and r["fully_replicated"], r
        assert r["max_param_diff"] <= 1e-10 and r["max_loss_diff"] <= 1e-10, r
        assert r["moved"] > 1e-2, r  # training happened
    full, mini = result["errors"]["full"], result["errors"]["minibatch"]
    assert "30 examples" in full and "4 devices" in full, full
    assert "batch_size=6" in mini and "4 devices" in mini, mini
    assert result["hlo"]["all_reduce"] >= 1 and result["hlo"]["all_gather"] == 0, result["hlo"]
