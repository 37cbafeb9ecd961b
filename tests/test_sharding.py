"""fit_ensemble shards the ensemble axis over several devices and still equals one device.

Four CPU devices need XLA_FLAGS set before jax starts, so the work runs in a subprocess that
prints its findings as JSON; the assertions are made here. The nets are XOR nets in float64.
"""

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
    print("RESULT" + json.dumps(result))
    """
)


def run_on_four_cpu_devices():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
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
