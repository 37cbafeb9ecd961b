"""The benchmark suite stays honest: every contender does the same math.

Runs `python -m benchmarks` programmatically with a few steps per workload and checks that the
final loss (scored by the one shared float64 evaluator) of every available contender agrees
with plain JAX's on every workload -- float32 to a float32 tolerance, W2 (float64) tightly --
and that the rendered Markdown has a row for each. W5 runs one epoch at batch 32: the
contenders that take the shared data order must agree to float32 precision, those that
shuffle their own way (jaxnn in-graph, scikit-learn) closely. W6 runs at full batch (one
update an epoch, so no order matters) with 4 members. Optional contenders (scikit-learn,
torch, flax, equinox) take part only when installed.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json

import numpy as np
import pytest

from benchmarks import harness, render_markdown, run_suite, update_readme, workloads
from benchmarks.contenders import CONTENDERS

STEPS = 10  # per workload: enough to move far from the init, cheap enough for CI
N_TRAIN = workloads.DIGITS_N - workloads.DIGITS_VAL
# W6 in the same-math runs: full batch (1 update an epoch: order-free), 4 members.
SMALL = {"W6": {"batch_size": N_TRAIN, "ensemble": 4}}
OWN_ORDER = {"jaxnn-manual", "jaxnn-autodiff", "sklearn"}  # cannot take the shared order


def _installed(*mods: str) -> bool:
    try:
        return all(importlib.util.find_spec(m) is not None for m in mods)
    except ModuleNotFoundError:
        return False


CORE = ["plain-jax", "plain-jax-loop", "plain-jax-logged", "numpy"]
JAXNN = []
if _installed("jaxnn.train", "jaxnn.losses"):
    JAXNN = ["jaxnn-manual", "jaxnn-autodiff"]
    CORE += [*JAXNN, "jaxnn-manual-logged"]
OPTIONAL = []
if _installed("sklearn"):
    OPTIONAL.append("sklearn")
if _installed("torch"):
    OPTIONAL.append("torch")
if _installed("flax"):
    OPTIONAL += ["flax-linen", "flax-nnx"]
if _installed("equinox"):
    OPTIONAL.append("equinox")

RTOL = {"float32": 1e-3, "float64": 1e-9}


@pytest.fixture(scope="module")
def core_results():
    return run_suite(
        None,
        CORE,
        quick=True,
        repeats=1,
        steps=STEPS,
        peaks=False,
        overrides=SMALL,
        log=lambda s: None,
    )


def _rows(res):
    return {r["contender"]: r for r in res["rows"]}


def _supported(name, contenders):
    return [c for c in contenders if CONTENDERS[c].supports(workloads.WORKLOADS[name])]


def _assert_same_losses(results, expected, rtol=None):
    for name, res in results["workloads"].items():
        rows = _rows(res)
        here = _supported(name, expected)
        assert set(rows) == set(_supported(name, rows)), name  # no row for a foreign workload
        for c in here:
            assert rows[c]["status"] == "ok", (name, c, rows[c].get("note"))
        ref = rows["plain-jax"]
        assert np.isfinite(ref["loss"])
        shuffled = res["minibatch"] and res["batch_size"] < N_TRAIN
        for c in here:
            if shuffled and c in OWN_ORDER:  # another data order: close, not equal
                assert rows[c]["loss"] == pytest.approx(ref["loss"], rel=0.1), (name, c)
                assert abs(rows[c]["val_accuracy"] - ref["val_accuracy"]) < 0.1, (name, c)
                continue
            tol = rtol or RTOL[res["dtype"]]
            assert rows[c]["loss"] == pytest.approx(ref["loss"], rel=tol), (name, c)
            if res["minibatch"]:
                acc = rows[c]["val_accuracy"]
                assert acc == pytest.approx(ref["val_accuracy"], abs=0.006), (name, c)
        if res["ensemble"] and not res["minibatch"]:
            counts = {rows[c]["converged"] for c in here}
            assert max(counts) - min(counts) <= 2, (name, counts)


def test_core_contenders_do_the_same_math(core_results):
    assert set(core_results["workloads"]) == set(workloads.WORKLOADS)
    _assert_same_losses(core_results, CORE)


def test_jax_contenders_do_not_recompile_in_steady_state(core_results):
    for name, res in core_results["workloads"].items():
        for row in res["rows"]:
            if CONTENDERS[row["contender"]].is_jax:
                assert row["steady_compiles"] == 0, (name, row["contender"], row["note"])


def test_first_call_ratios_beside_steady_state(core_results):
    for res in core_results["workloads"].values():
        rows = _rows(res)
        floor = rows["plain-jax"]["first_call_s"]
        for row in rows.values():
            assert row["first_ratio_plain_jax"] == pytest.approx(row["first_call_s"] / floor)
            assert row["ratio_plain_jax"] == pytest.approx(
                row["median_s"] / rows["plain-jax"]["median_s"]
            )


def test_minibatch_runs_whole_epochs_with_held_out_scores(core_results):
    w5, w6 = core_results["workloads"]["W5"], core_results["workloads"]["W6"]
    # W5: 10 steps round up to one whole epoch of 1437 // 32 = 44 updates
    assert w5["minibatch"] and w5["batch_size"] == 32
    assert w5["epochs"] == 1 and w5["steps"] == 44
    # W6 at full batch: one update an epoch, 4 members
    assert w6["batch_size"] == N_TRAIN and w6["epochs"] == STEPS == w6["steps"]
    assert w6["ensemble"] == 4
    for res in (w5, w6):
        row = _rows(res)["plain-jax"]
        # a few Adam updates from a 10%-accurate init: well above chance, far from trained
        assert 0.2 < row["val_accuracy"] < 0.97, row
        assert 1.0 < row["loss"] < 2.2, row
        assert row["val_accuracy_min"] <= row["val_accuracy"]


def test_markdown_has_every_row(core_results, tmp_path):
    md = render_markdown(core_results)
    for name in workloads.WORKLOADS:
        assert f"### {name} " in md
    for c in CORE:
        n = sum(CONTENDERS[c].supports(spec) for spec in workloads.WORKLOADS.values())
        assert md.count(f"| {c} |") == n, c
    assert "val accuracy" in md and "first call × plain-jax" in md
    summary = harness.render_summary(core_results)
    if JAXNN:  # one row per workload, ratios as in the tables
        assert summary.count("\n") == 2 + len(workloads.WORKLOADS)
        w1 = _rows(core_results["workloads"]["W1"])["jaxnn-manual"]
        assert f"| {w1['ratio_plain_jax']:.2f}× | {w1['first_ratio_plain_jax']:.2f}× |" in summary
    # the JSON round trip and the README markers
    path = harness.write_json(core_results, tmp_path / "r.json")
    assert json.loads(path.read_text())["workloads"].keys() == core_results["workloads"].keys()
    readme = tmp_path / "README.md"
    readme.write_text(
        "intro: markers quoted in prose, `<!-- bench:start -->`, are not the section\n"
        "<!-- bench:start -->\nold\n<!-- bench:end -->\noutro\n"
    )
    assert update_readme(readme, md)
    text = readme.read_text()
    assert "old" not in text and "| plain-jax |" in text and text.endswith("outro\n")
    assert text.startswith("intro: markers quoted in prose, `<!-- bench:start -->`, are not")
    assert update_readme(readme, md) and readme.read_text() == text  # idempotent
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    assert not update_readme(plain, md) and plain.read_text() == "no markers\n"


@pytest.mark.skipif(not OPTIONAL, reason="sklearn/torch/flax/equinox not installed")
def test_optional_contenders_do_the_same_math():
    # One float32 single net, W5 at batch 32 (torch's DataLoader sampler and the Flax /
    # Equinox loops follow the shared order) and W6 at full batch (the vmapped ensembles of
    # flax, equinox and torch.func).
    res = run_suite(
        ["W1", "W5", "W6"],
        ["plain-jax", *OPTIONAL],
        quick=True,
        repeats=0,
        steps=STEPS,
        peaks=False,
        overrides=SMALL,
        log=lambda s: None,
    )
    _assert_same_losses(res, OPTIONAL)
    md = render_markdown(res)
    for c in OPTIONAL:
        assert f"| {c} |" in md


def test_missing_package_is_a_row_not_a_failure(monkeypatch):
    fake = CONTENDERS["numpy"].__class__(
        "fake", "numpy_loop", ("surely_not_installed_pkg",), is_jax=False
    )
    monkeypatch.setitem(CONTENDERS, "fake", fake)
    res = run_suite(["W2"], ["fake", "numpy"], quick=True, steps=3, peaks=False, log=lambda s: None)
    rows = _rows(res["workloads"]["W2"])
    assert (
        rows["fake"]["status"] == "unavailable"
        and "surely_not_installed_pkg" in rows["fake"]["note"]
    )
    assert rows["numpy"]["status"] == "ok"
    assert "| fake | unavailable |" in render_markdown(res)


@pytest.mark.parametrize("name", list(workloads.WORKLOADS))
def test_shared_evaluator_matches_an_independent_jax_float64_loss(name):
    import jax

    from benchmarks.contenders import plain_jax

    spec = workloads.WORKLOADS[name]
    if spec.ensemble > 64:
        spec = dataclasses.replace(spec, ensemble=64)
    spec, data, init = workloads.load(spec, steps=1)
    if spec.minibatch:  # scored on the held-out set
        data = {**data, "X": data["X_val"], "y": data["y_val"]}
    with jax.enable_x64(True):
        loss = plain_jax.make_loss(spec)
        p64 = [{k: np.asarray(v, np.float64) for k, v in layer.items()} for layer in init]
        x64 = np.asarray(data["X"], np.float64)
        y = data["y"] if data["y"].dtype.kind == "i" else np.asarray(data["y"], np.float64)
        if spec.ensemble:
            per_member = jax.vmap(loss, in_axes=(0, None, None))(p64, x64, y)
            expected = float(np.mean(per_member))
        else:
            expected = float(loss(p64, x64, y))
    assert workloads.evaluate(spec, init, data)["loss"] == pytest.approx(expected, rel=1e-12)


def test_w4_data_is_deterministic_moons():
    _, data, _ = workloads.load("W4")
    assert data["X"].shape == (10_000, 2) and data["X"].dtype == np.float32
    assert np.bincount(data["y"]).tolist() == [5000, 5000]
    assert np.array_equal(data["X"], workloads.load("W4")[1]["X"])


def test_digits_data_split_orders_and_init():
    spec, data, init = workloads.load("W6", steps=2 * 44)
    assert data["X"].shape == (N_TRAIN, 64) and data["X_val"].shape == (360, 64)
    assert data["X"].dtype == np.float32 and 0.0 <= data["X"].min() and data["X"].max() <= 1.0
    assert np.bincount(np.concatenate([data["y"], data["y_val"]])).sum() == 1797
    orders = data["orders"]
    assert orders.shape == (256, 2, N_TRAIN)  # members, epochs, examples
    assert all(
        np.array_equal(np.sort(o), np.arange(N_TRAIN)) for o in orders[:3].reshape(-1, N_TRAIN)
    )
    assert not np.array_equal(orders[0, 0], orders[0, 1])  # a fresh order each epoch
    assert not np.array_equal(orders[0, 0], orders[1, 0])  # and each member its own
    assert init[0]["w"].shape == (256, 64, 128) and not np.array_equal(
        init[0]["w"][0], init[0]["w"][1]
    )
    bound = np.sqrt(6 / (64 + 128))
    assert np.abs(init[0]["w"]).max() <= bound and np.abs(init[0]["w"]).max() > 0.99 * bound


@pytest.mark.skipif(not _installed("sklearn"), reason="scikit-learn not installed")
def test_sklearn_starts_from_the_weights_it_is_given():
    # Give scikit-learn, through `set_initial_weights`, exactly the draws its own first
    # partial_fit makes: two epochs must then match its own run bit for bit (same
    # attributes set, same random stream for the shuffles after the draws).
    from benchmarks.contenders import sklearn_mlp

    spec, data, _ = workloads.load("W5", steps=44)
    x, y, classes = data["X"], data["y"], np.arange(10)
    own = sklearn_mlp.make_classifier(spec, seed=3)
    given = sklearn_mlp.make_classifier(spec, seed=3)
    rng = given.random_state
    draws = []
    for n_in, n_out in zip(spec.sizes[:-1], spec.sizes[1:], strict=True):
        bound = np.sqrt(6 / (n_in + n_out))
        w = rng.uniform(-bound, bound, (n_in, n_out)).astype(np.float32)
        draws.append({"w": w, "b": rng.uniform(-bound, bound, n_out).astype(np.float32)})
    sklearn_mlp.set_initial_weights(given, spec, draws, classes)
    for _ in range(2):
        own.partial_fit(x, y, classes=classes)
        given.partial_fit(x, y, classes=classes)
    for a, b in zip(own.coefs_ + own.intercepts_, given.coefs_ + given.intercepts_, strict=True):
        np.testing.assert_array_equal(a, b)
    assert given.t_ == 2 * len(x)  # both epochs trained: 45 batches each, ragged one included
