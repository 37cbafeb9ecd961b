"""The benchmark suite stays honest: every contender does the same math.

Runs `python -m benchmarks` programmatically with a few steps per workload and checks that the
final loss (scored by the one shared float64 evaluator) of every available contender agrees
with plain JAX's on every workload -- float32 to a float32 tolerance, W2 (float64) tightly --
and that the rendered Markdown has a row for each. Optional contenders (torch, flax,
equinox) take part only when installed.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from benchmarks import harness, render_markdown, run_suite, update_readme, workloads
from benchmarks.contenders import CONTENDERS

STEPS = 10  # per workload: enough to move far from the init, cheap enough for CI


def _installed(*mods: str) -> bool:
    try:
        return all(importlib.util.find_spec(m) is not None for m in mods)
    except ModuleNotFoundError:
        return False


CORE = ["plain-jax", "numpy"]
if _installed("jaxnn.train", "jaxnn.losses"):
    CORE += ["jaxnn-manual", "jaxnn-autodiff"]
OPTIONAL = []
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
        None, CORE, quick=True, repeats=1, steps=STEPS, peaks=False, log=lambda s: None
    )


def _rows(res):
    return {r["contender"]: r for r in res["rows"]}


def _assert_same_losses(results, expected):
    for name, res in results["workloads"].items():
        rows = _rows(res)
        for c in expected:
            assert rows[c]["status"] == "ok", (name, c, rows[c].get("note"))
        ref = rows["plain-jax"]["loss"]
        assert np.isfinite(ref)
        for c in expected:
            assert rows[c]["loss"] == pytest.approx(ref, rel=RTOL[res["dtype"]]), (name, c)
        if res["ensemble"]:
            counts = {rows[c]["converged"] for c in expected}
            assert max(counts) - min(counts) <= 2, (name, counts)


def test_core_contenders_do_the_same_math(core_results):
    assert set(core_results["workloads"]) == set(workloads.WORKLOADS)
    _assert_same_losses(core_results, CORE)


def test_jax_contenders_do_not_recompile_in_steady_state(core_results):
    for name, res in core_results["workloads"].items():
        for row in res["rows"]:
            if CONTENDERS[row["contender"]].is_jax:
                assert row["steady_compiles"] == 0, (name, row["contender"], row["note"])


def test_markdown_has_every_row(core_results, tmp_path):
    md = render_markdown(core_results)
    for name in workloads.WORKLOADS:
        assert f"### {name} " in md
    for c in CORE:
        assert md.count(f"| {c} |") == len(workloads.WORKLOADS), c
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


@pytest.mark.skipif(not OPTIONAL, reason="torch/flax/equinox not installed")
def test_optional_contenders_do_the_same_math():
    # Two workloads (one float32 single net, the float32 ensemble) keep this affordable.
    res = run_suite(
        ["W1", "W3"],
        ["plain-jax", *OPTIONAL],
        quick=True,
        repeats=0,
        steps=STEPS,
        peaks=False,
        log=lambda s: None,
    )
    _assert_same_losses(res, ["plain-jax", *OPTIONAL])
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

    spec, data, init = workloads.load(name)
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
