"""Multi-host for real, on one machine: 2 processes x 2 CPU devices joined by
``jax.distributed.initialize`` on localhost (gloo CPU collectives).

Each process runs the same script: `fit_ensemble` with members sharded over all 4 devices
(2 per process) and a data-parallel `fit` whose minibatches are split over the 4 devices, then the
same runs on one local device. Process 0 prints the differences as JSON; the assertions are
made here. Hard timeouts on every wait; both processes are killed if anything hangs.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

WORKER = textwrap.dedent(
    """
    import json
    import sys

    import jax

    port, pid = sys.argv[1], int(sys.argv[2])
    jax.config.update("jax_enable_x64", True)
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}", num_processes=2, process_id=pid,
        initialization_timeout=60,
    )
    import jax.numpy as jnp
    import numpy as np
    import optax
    from jax.experimental import multihost_utils

    from jaxnn import losses, mlp, train

    assert jax.process_count() == 2 and jax.device_count() == 4, jax.devices()
    assert jax.local_device_count() == 2
    f64 = jnp.float64
    rng = np.random.default_rng(0)  # the same data in every process
    x = rng.standard_normal((16, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(np.int32)
    model = mlp([2, 6, 2], activation="tanh", dropout=0.2, dtype=f64)
    loss, opt = losses.softmax_cross_entropy(), optax.adam(0.05)
    local = [jax.local_devices()[0]]
    key = jax.random.key(1)

    def gather(tree):
        return jax.tree.map(np.asarray, multihost_utils.process_allgather(tree, tiled=True))

    def diff(a, b):
        return max(float(np.max(np.abs(u - np.asarray(v)))) for u, v in
                   zip(jax.tree.leaves(a), jax.tree.leaves(b)))

    # The one-device references first (each process alone, at its own pace); the collective
    # runs last, so that both processes reach the shutdown barrier together.
    params = train.init_ensemble(model, jax.random.key(0), 4, (2,))
    _, p0 = model.init(jax.random.key(2), (2,))
    ens_kw = dict(steps=20, log_every=5, key=key, batch_size=4)
    fit_kw = dict(steps=20, log_every=5, key=key, batch_size=8)
    p_one, h_one = train.fit_ensemble(model, loss, opt, params, x, y, devices=local, **ens_kw)
    p_1, h_1 = train.fit(model, loss, opt, p0, x, y, devices=local, **fit_kw)

    everywhere = jax.devices()
    p_all, h_all = train.fit_ensemble(model, loss, opt, params, x, y, devices=everywhere, **ens_kw)
    p_dp, h_dp = train.fit(model, loss, opt, p0, x, y, devices=everywhere, **fit_kw)
    result = {
        "param_diff": diff(gather(p_all), p_one),
        "loss_diff": diff(gather(h_all["loss"]), h_one["loss"]),
        "spans": sorted({d.process_index for a in jax.tree.leaves(p_all)
                         for d in a.sharding.device_set}),
        "minibatch": {
            "param_diff": diff(gather(p_dp), p_1),
            "loss_diff": diff(gather(h_dp["loss"]), h_1["loss"]),
            "moved": diff(jax.tree.map(np.asarray, p_1), p0),
            "devices": len(jax.tree.leaves(p_dp)[0].sharding.device_set),
        },
    }
    multihost_utils.sync_global_devices("results gathered")
    if pid == 0:
        print("RESULT" + json.dumps(result), flush=True)
    jax.distributed.shutdown()
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_processes(timeout=600):  # ~30 s on an idle 2-core machine
    # No shared persistent compilation cache (tests/conftest.py sets one up for subprocesses):
    # two processes of one distributed job must compile their collectives alike.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JAX_COMPILATION_CACHE", "JAX_PERSISTENT_CACHE"))
    }
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    port = str(free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, port, str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=timeout))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.communicate()
        pytest.fail(f"the 2-process run did not finish in {timeout} s")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return [p.returncode for p in procs], outputs


def test_fit_ensemble_and_data_parallel_fit_across_two_processes_equal_one_device():
    codes, outputs = run_two_processes()
    errors = "\n".join(err[-3000:] for _, err in outputs)
    if any(codes) and "collectives" in errors.lower() and "not implemented" in errors.lower():
        pytest.skip(f"this platform cannot run CPU collectives across processes: {errors}")
    assert codes == [0, 0], errors
    line = next(ln for ln in outputs[0][0].splitlines() if ln.startswith("RESULT"))
    r = json.loads(line[len("RESULT") :])
    assert r["spans"] == [0, 1], r  # the members really live in both processes
    assert r["param_diff"] <= 1e-10 and r["loss_diff"] <= 1e-10, r
    dp = r["minibatch"]  # (full-batch data parallel: tests/test_sharding.py)
    assert dp["devices"] == 4, r
    assert dp["param_diff"] <= 1e-10 and dp["loss_diff"] <= 1e-10, r
    assert dp["moved"] > 1e-2, r
