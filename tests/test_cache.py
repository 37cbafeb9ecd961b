"""Compile once per math, not per object (jaxnn.cache), and the persistent compilation cache.

Keys: freshly built but identical objects share a key; objects that differ in any
hyperparameter never do; what cannot be fingerprinted soundly falls back to identity.
Compiles are counted with JAX's compile events (conftest.count_compiles), not timers.
"""

from __future__ import annotations

import collections
import json
import os
import pathlib
import statistics
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import assert_same_dtypes, assert_trees_close, count_compiles

from jaxnn import cache, layers, losses, manual_vjp, train

# --------------------------------------------------------------------------------------------
# Helpers at module level: a mask/schedule defined once is the same function in every build.
# --------------------------------------------------------------------------------------------


def weights_only(params):
    return jax.tree.map(lambda leaf: leaf.ndim > 1, params)


def biases_only(params):
    return jax.tree.map(lambda leaf: leaf.ndim <= 1, params)


def threshold_mask(ndim):
    return lambda params: jax.tree.map(lambda leaf: leaf.ndim > ndim, params)


GLOBAL_RATE = 0.1


def global_schedule(count):
    return GLOBAL_RATE / (1.0 + count)


def key_of(make):
    return cache.math_key(make())


# --------------------------------------------------------------------------------------------
# 1. Identical math -> one key
# --------------------------------------------------------------------------------------------

SAME = {
    "sgd": lambda: optax.sgd(0.1),
    "sgd-momentum-nesterov": lambda: optax.sgd(0.1, momentum=0.9, nesterov=True),
    "adam": lambda: optax.adam(1e-3),
    "adamw-mask": lambda: optax.adamw(1e-3, weight_decay=1e-4, mask=weights_only),
    "adam-schedule": lambda: optax.adam(optax.exponential_decay(0.1, 10, 0.5)),
    "piecewise": lambda: optax.sgd(optax.piecewise_constant_schedule(0.1, {5: 0.5})),
    "chain": lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3)),
    "inject": lambda: optax.inject_hyperparams(optax.adam)(learning_rate=0.1),
    "array-lr": lambda: optax.sgd(jnp.asarray(0.1)),
    "closure-mask": lambda: optax.masked(optax.sgd(0.1), threshold_mask(1)),
    "global-schedule": lambda: optax.sgd(global_schedule),
    "l2": lambda: losses.l2(0.01),
    "sce-sum": lambda: losses.softmax_cross_entropy(reduction="sum"),
    "mse": lambda: losses.mse,
    "mlp": lambda: layers.mlp([2, 3, 2], activation="tanh"),
    "manual_vjp": lambda: manual_vjp(layers.mlp([2, 3, 2])),
}


@pytest.mark.parametrize("name", SAME)
def test_fresh_identical_objects_share_a_key(name):
    a, b = key_of(SAME[name]), key_of(SAME[name])
    assert a == b and hash(a) == hash(b)
    assert a[0] != "id"  # a real structural key, not the identity fallback


@pytest.mark.parametrize("name", ["sgd-momentum-nesterov", "adamw-mask", "adam-schedule", "inject"])
def test_objects_with_one_key_compute_the_same_updates(name, variant, x64):
    a, b = SAME[name](), SAME[name]()
    params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.array([0.5, -0.25, 2.0])}
    grads = jax.tree.map(lambda p: jnp.cos(3.0 * p), params)

    def two_steps(opt):
        state = opt.init(params)
        first, state = opt.update(grads, state, params)
        second, _ = opt.update(grads, state, optax.apply_updates(params, first))
        return first, second

    got = variant(lambda: two_steps(a))()
    expected = variant(lambda: two_steps(b))()
    assert_same_dtypes(got, expected)
    assert_trees_close(got, expected, rtol=0, atol=0)
    assert jax.tree.leaves(got)[0].dtype == jnp.float64  # x64 fixture: float64 params stay so


# --------------------------------------------------------------------------------------------
# 2. Any differing hyperparameter -> different keys
# --------------------------------------------------------------------------------------------

DIFFERENT = {
    "sgd lr": (lambda: optax.sgd(0.1), lambda: optax.sgd(0.2)),
    "sgd lr below float32 precision": (
        lambda: optax.sgd(0.1),
        lambda: optax.sgd(0.1 + 1e-12),
    ),
    "sgd lr int vs float": (lambda: optax.sgd(1), lambda: optax.sgd(1.0)),
    "sgd lr 0.0 vs -0.0": (lambda: optax.sgd(0.0), lambda: optax.sgd(-0.0)),
    "sgd momentum none vs 0.9": (lambda: optax.sgd(0.1), lambda: optax.sgd(0.1, momentum=0.9)),
    "sgd momentum": (
        lambda: optax.sgd(0.1, momentum=0.9),
        lambda: optax.sgd(0.1, momentum=0.8),
    ),
    "nesterov": (
        lambda: optax.sgd(0.1, momentum=0.9),
        lambda: optax.sgd(0.1, momentum=0.9, nesterov=True),
    ),
    "adam b1": (lambda: optax.adam(1e-3), lambda: optax.adam(1e-3, b1=0.8)),
    "adam b2": (lambda: optax.adam(1e-3), lambda: optax.adam(1e-3, b2=0.99)),
    "adam eps": (lambda: optax.adam(1e-3), lambda: optax.adam(1e-3, eps=1e-7)),
    "adam eps_root": (lambda: optax.adam(1e-3), lambda: optax.adam(1e-3, eps_root=1e-8)),
    "adam mu_dtype": (lambda: optax.adam(1e-3), lambda: optax.adam(1e-3, mu_dtype=jnp.bfloat16)),
    "adam vs adamw(0)": (lambda: optax.adam(1e-3), lambda: optax.adamw(1e-3, weight_decay=0.0)),
    "adamw weight_decay": (
        lambda: optax.adamw(1e-3, weight_decay=1e-4),
        lambda: optax.adamw(1e-3, weight_decay=2e-4),
    ),
    "adamw mask function": (
        lambda: optax.adamw(1e-3, weight_decay=1e-4, mask=weights_only),
        lambda: optax.adamw(1e-3, weight_decay=1e-4, mask=biases_only),
    ),
    "adamw mask none vs function": (
        lambda: optax.adamw(1e-3, weight_decay=1e-4),
        lambda: optax.adamw(1e-3, weight_decay=1e-4, mask=weights_only),
    ),
    "mask closure value": (
        lambda: optax.masked(optax.sgd(0.1), threshold_mask(1)),
        lambda: optax.masked(optax.sgd(0.1), threshold_mask(0)),
    ),
    "schedule init_value": (
        lambda: optax.sgd(optax.exponential_decay(0.1, 10, 0.5)),
        lambda: optax.sgd(optax.exponential_decay(0.2, 10, 0.5)),
    ),
    "schedule decay_rate": (
        lambda: optax.sgd(optax.exponential_decay(0.1, 10, 0.5)),
        lambda: optax.sgd(optax.exponential_decay(0.1, 10, 0.6)),
    ),
    "schedule transition_steps": (
        lambda: optax.sgd(optax.exponential_decay(0.1, 10, 0.5)),
        lambda: optax.sgd(optax.exponential_decay(0.1, 20, 0.5)),
    ),
    "schedule staircase": (
        lambda: optax.sgd(optax.exponential_decay(0.1, 10, 0.5)),
        lambda: optax.sgd(optax.exponential_decay(0.1, 10, 0.5, staircase=True)),
    ),
    "piecewise boundaries": (
        lambda: optax.sgd(optax.piecewise_constant_schedule(0.1, {5: 0.5})),
        lambda: optax.sgd(optax.piecewise_constant_schedule(0.1, {6: 0.5})),
    ),
    "constant lr vs schedule": (
        lambda: optax.sgd(0.1),
        lambda: optax.sgd(optax.constant_schedule(0.1)),
    ),
    "chain order": (
        lambda: optax.chain(optax.clip(1.0), optax.sgd(0.1)),
        lambda: optax.chain(optax.sgd(0.1), optax.clip(1.0)),
    ),
    "clip value": (
        lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3)),
        lambda: optax.chain(optax.clip_by_global_norm(2.0), optax.adam(1e-3)),
    ),
    "inject_hyperparams lr": (
        lambda: optax.inject_hyperparams(optax.adam)(learning_rate=0.1),
        lambda: optax.inject_hyperparams(optax.adam)(learning_rate=0.2),
    ),
    "inject_hyperparams int vs float": (
        lambda: optax.inject_hyperparams(optax.sgd)(learning_rate=1),
        lambda: optax.inject_hyperparams(optax.sgd)(learning_rate=1.0),
    ),
    "array lr value": (
        lambda: optax.sgd(jnp.asarray(0.1)),
        lambda: optax.sgd(jnp.asarray(0.2)),
    ),
    "array lr dtype": (
        lambda: optax.sgd(np.float32(0.5)),
        lambda: optax.sgd(np.float64(0.5)),
    ),
    "sgd vs adam": (lambda: optax.sgd(1e-3), lambda: optax.adam(1e-3)),
    "l2 strength": (lambda: losses.l2(0.01), lambda: losses.l2(0.02)),
    "loss reduction": (
        lambda: losses.softmax_cross_entropy(reduction="mean"),
        lambda: losses.softmax_cross_entropy(reduction="sum"),
    ),
    "mlp width": (lambda: layers.mlp([2, 3, 2]), lambda: layers.mlp([2, 4, 2])),
    "manual_vjp width": (
        lambda: manual_vjp(layers.mlp([2, 3, 2])),
        lambda: manual_vjp(layers.mlp([2, 4, 2])),
    ),
    "mlp activation": (
        lambda: layers.mlp([2, 3, 2], activation="tanh"),
        lambda: layers.mlp([2, 3, 2], activation="sigmoid"),
    ),
}


@pytest.mark.parametrize("name", DIFFERENT)
def test_any_differing_hyperparameter_gives_a_different_key(name):
    make_a, make_b = DIFFERENT[name]
    assert key_of(make_a) != key_of(make_b)
    assert key_of(make_a) == key_of(make_a)  # ... while each alone is stable


def test_a_global_read_by_a_user_schedule_is_part_of_the_key(monkeypatch):
    before = key_of(lambda: optax.sgd(global_schedule))
    monkeypatch.setattr(sys.modules[__name__], "GLOBAL_RATE", 0.2)
    assert key_of(lambda: optax.sgd(global_schedule)) != before


# --------------------------------------------------------------------------------------------
# 3. What cannot be fingerprinted soundly is keyed by identity
# --------------------------------------------------------------------------------------------


def test_unknown_objects_fall_back_to_identity():
    class Schedule:  # an arbitrary callable object: its behaviour is not in the walk
        def __call__(self, count):
            return 0.1

    for make in (lambda: optax.sgd(Schedule()), lambda: optax.sgd(jax.jit(lambda c: 0.1))):
        a, b = make(), make()
        assert cache.math_key(a)[0] == "id"
        assert "cannot fingerprint" in cache.explain(a)
        assert cache.math_key(a) == cache.math_key(a)  # stable for one object
        assert cache.math_key(a) != cache.math_key(b)  # never shared between two


@pytest.mark.parametrize(
    "value",
    [collections.defaultdict(float), np.array([object()])],
    ids=["dict subclass", "object array"],
)
def test_containers_whose_items_do_not_say_everything_fall_back_to_identity(value):
    assert cache.math_key((value,))[0] == "id"


def test_prng_keys_are_keyed_by_value():
    assert cache.math_key((jax.random.key(0),)) == cache.math_key((jax.random.key(0),))
    assert cache.math_key((jax.random.key(0),)) != cache.math_key((jax.random.key(1),))


def test_explain_is_none_for_keyed_objects():
    assert cache.explain(optax.adam(1e-3)) is None
    assert cache.explain(layers.mlp([2, 3, 1])) is None


def test_an_optimizer_closing_over_a_tracer_is_keyed_by_identity():
    keys = []

    def build(lr):
        keys.append(cache.math_key(optax.sgd(lr)))
        return lr

    jax.jit(build)(0.1)
    assert keys[0][0] == "id"


def test_simple_values_keys():
    assert cache.math_key(None) is None
    assert cache.math_key("manual") == "manual"
    assert cache.math_key(True) != cache.math_key(1) != cache.math_key(1.0)


def test_a_spec_less_layer_is_not_equal_to_the_original():
    dense = layers.Dense(3)
    planted = dense._replace(apply=lambda params, x: x)
    assert cache.math_key(planted) != cache.math_key(dense)


# --------------------------------------------------------------------------------------------
# 4. memoize: one build per key, bounded, least recently used dropped
# --------------------------------------------------------------------------------------------


def test_memoize_builds_once_per_math():
    calls = []

    def build(model, optimizer, *, backprop):
        calls.append(optimizer)
        return object()

    model = layers.mlp([2, 3, 1])
    first = cache.memoize(build, model, optax.sgd(0.1), backprop="manual")
    again = cache.memoize(build, layers.mlp([2, 3, 1]), optax.sgd(0.1), backprop="manual")
    other_lr = cache.memoize(build, model, optax.sgd(0.2), backprop="manual")
    other_static = cache.memoize(build, model, optax.sgd(0.1), backprop="autodiff")
    assert again is first
    assert other_lr is not first and other_static is not first
    assert len(calls) == 3


def test_memoize_is_bounded_and_drops_least_recently_used(monkeypatch):
    monkeypatch.setattr(cache, "MAXSIZE", 3)

    def build(lr):
        return [lr]

    made = {lr: cache.memoize(build, lr) for lr in (0.1, 0.2, 0.3)}
    assert cache.memoize(build, 0.1) is made[0.1]  # 0.1 is now the most recent
    cache.memoize(build, 0.4)  # evicts 0.2, the least recently used
    assert cache.cache_info().size == 3
    assert cache.memoize(build, 0.1) is made[0.1]
    assert cache.memoize(build, 0.2) is not made[0.2]


def test_fingerprint_costs_well_under_a_compile():
    times = []
    for _ in range(15):
        opt = optax.adamw(optax.exponential_decay(0.1, 10, 0.5), weight_decay=1e-4)
        start = time.perf_counter()
        cache.math_key(opt)
        times.append(time.perf_counter() - start)
    # ~0.2 ms on one core; a compile of the smallest fit takes ~100 ms.
    assert statistics.median(times) < 0.02


# --------------------------------------------------------------------------------------------
# 5. fit: fresh identical objects compile nothing; different math compiles
# --------------------------------------------------------------------------------------------

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], np.float32)
Y = np.array([0, 1, 1, 0], np.int32)


def fit_fresh(width=3, lr=0.05, reduction="mean", lam=0.01):
    model = layers.mlp([2, width, 2], activation="tanh")
    params = model.init(jax.random.key(0), (2,))[1]
    loss = losses.softmax_cross_entropy(reduction=reduction)
    return train.fit(model, loss, optax.sgd(lr), params, X, Y, steps=3, reg=losses.l2(lam))


def runs(names):
    return [n for n in names if n in ("jit(run)", "jit(run_members)")]


def test_fit_with_fresh_identical_objects_compiles_nothing():
    first_params, first = fit_fresh(lr=0.0625)  # a rate no other test uses: compiles here
    with count_compiles() as compiled:
        params, history = fit_fresh(lr=0.0625)
    assert compiled == []
    assert_trees_close(params, first_params, rtol=0, atol=0)
    np.testing.assert_array_equal(history["loss"], first["loss"])


@pytest.mark.parametrize(
    "change",
    [{"lr": 0.0703125}, {"reduction": "sum"}, {"lam": 0.0234375}, {"width": 5}],
    ids=["learning rate", "loss reduction", "l2 strength", "width"],
)
def test_fit_with_different_math_compiles(change):
    fit_fresh()  # warm: the baseline math is compiled
    with count_compiles() as compiled:
        fit_fresh(**change)
    assert runs(compiled) == ["jit(run)"]


# --------------------------------------------------------------------------------------------
# 6. Persistent cache: on for applications only, tiny programs cached, corruption harmless
# --------------------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import json, pathlib, sys
    import jax, jax.numpy as jnp
    import jaxnn
    from jax import monitoring
    from jaxnn import cache

    assert jax.config.jax_compilation_cache_dir is None, "importing jaxnn enabled the cache"
    cache.enable_persistent_cache(sys.argv[1])
    hits = []
    monitoring.register_event_listener(
        lambda event, **kw: hits.append(event) if event.endswith("cache_hits") else None)
    x = jnp.arange(4.0)
    out = {"values": jax.jit(lambda x: jnp.tanh(x) * 3.0 + 1.0)(x).tolist(), "hits": len(hits)}
    if sys.argv[2] == "corrupt":
        for entry in pathlib.Path(sys.argv[1]).rglob("*"):
            if entry.is_file() and not entry.name.startswith("."):
                entry.write_bytes(b"\\x00garbage" * 3)  # as a killed write or a bad disk leaves it
        del hits[:]
        # A fresh function with the same program: looked up on disk again, found corrupt.
        out["again"] = jax.jit(lambda x: jnp.tanh(x) * 3.0 + 1.0)(x).tolist()
        out["hits_after_corruption"] = len(hits)
    print(json.dumps(out))
    """
)


def run_child(cache_dir: pathlib.Path, mode: str) -> tuple[dict, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    env["JAX_PLATFORMS"] = "cpu"
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(cache_dir), mode],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1]), proc.stderr


def test_persistent_cache_hits_and_survives_corruption(tmp_path):
    first, _ = run_child(tmp_path, "populate")
    assert first["hits"] == 0 and any(tmp_path.iterdir())  # written, though it compiled in ms
    second, stderr = run_child(tmp_path, "corrupt")
    assert second["hits"] >= 1  # a new process loads the programs from disk
    # Corrupt entries are recompiled (with a warning), never an error or a wrong result.
    assert second["hits_after_corruption"] == 0
    assert "Error reading persistent compilation cache" in stderr
    assert second["again"] == second["values"] == first["values"]


def test_an_unwritable_cache_directory_leaves_the_cache_off(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    before = jax.config.jax_compilation_cache_dir
    with pytest.warns(UserWarning, match="compilation cache left off"):
        assert cache.enable_persistent_cache(str(blocker / "cache")) is False
    assert jax.config.jax_compilation_cache_dir == before
