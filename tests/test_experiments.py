"""The experiments: every one end to end (reduced), the tutorials' numbers at full steps, the
masked width sweep against separately trained nets, and the command line."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import REGISTRY, britz_exercises, digits, masked, moons, report, runner, sweeps
from experiments.common import tail, tutorial_init
from experiments.spec import Config
from jaxnn import datasets, mlp
from jaxnn.layers import ACTIVATIONS
from jaxnn.train import fit, fit_ensemble, init_ensemble

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ORDER = [
    "perceptron", "trask", "loy", "lins", "moons", "fann", "ensemble", "sweeps",
    "britz-exercises", "digits",
]  # fmt: skip


def test_registry_order():
    assert list(REGISTRY) == ORDER


# --------------------------------------------------------------------------------------------
# Every experiment end to end, at reduced steps, through the runner's Python API
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    out = tmp_path_factory.mktemp("reduced")
    # float64, as the full-step tests below: they then reuse this run's compiled operations.
    config = Config(backprop="manual", dtype="float64", seeds=16, steps_scale=0.02)
    summary = runner.run(None, out=out, config=config, stream=io.StringIO())
    return out, summary


def _report_sections(text: str) -> dict[str, list[tuple[str, ...]]]:
    """``{experiment: [(quantity, jaxnn, tutorial, match), ...]}`` from report.md's tables."""
    sections, name = {}, None
    for line in text.splitlines():
        if line.startswith("## "):
            name = line[3:].split(" — ")[0]
            sections[name] = []
        elif name and line.startswith("| ") and not line.startswith("| quantity"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            if len(cells) == 4:
                sections[name].append(tuple(cells))
    return sections


@pytest.mark.parametrize("name", ORDER)
def test_experiment_writes_json_figures_and_report(reduced, name):
    out, summary = reduced
    record = json.loads((out / f"{name}.json").read_text())
    assert record["name"] == name
    assert record == json.loads(json.dumps(summary["records"][name]))
    for fig in record["figures"]:
        assert fig["file"].startswith(f"{name}_") and fig["file"].endswith((".png", ".gif"))
        assert (out / fig["file"]).read_bytes()[:4] in (PNG_MAGIC[:4], b"GIF8")
    on_disk = {p.name for p in out.glob(f"{name}_*") if p.suffix in (".png", ".gif")}
    assert on_disk == {f["file"] for f in record["figures"]}
    # No number is recorded twice under two keys, and no key twice.
    pairs = json.loads((out / f"{name}.json").read_text(), object_pairs_hook=list)
    numbers = dict(pairs)["numbers"]
    assert len({k for k, _ in numbers}) == len(numbers)

    report = (out / "report.md").read_text()
    for fig in record["figures"]:
        assert f"]({fig['file']})" in report
    rows = _report_sections(report)[name]
    assert rows, f"no report rows for {name}"
    in_json = {(r["quantity"], r["jaxnn"], r["tutorial"], r["match"]) for r in record["rows"]}
    assert set(rows) == in_json
    for part in record["backprop"]:  # every gradient-trained part was checked at init
        assert part["check_grads"].startswith("ok")


def test_report_page_embeds_every_figure(reduced):
    out, summary = reduced
    records = list(summary["records"].values())
    assert report.validate(out / "index.html", records) == []
    text = (out / "index.html").read_text()
    for name in ORDER:
        assert f'<section id="{name}">' in text
    assert "seeds/" not in text and "where marked" not in text
    # every experiment names its tutorial (or says it goes beyond them), none a scraped file
    for rec in records:
        assert rec["url"].startswith("http") or rec["source"] == "beyond the tutorials"


def test_no_bare_unlabelled_numbers_printed(reduced):
    _, summary = reduced
    console = summary["records"]["perceptron"]["console"]
    bare = [line for line in console.splitlines() if re.fullmatch(r"[-+0-9.e]+", line.strip())]
    assert bare == []


def test_sweep_diverged_count_agrees_with_printed_numbers(reduced):
    out, summary = reduced
    record = summary["records"]["sweeps"]
    console = record["console"]
    start = float(re.search(r"it starts at ([0-9.]+)", console).group(1))
    printed = re.findall(r"^  ([0-9.e+-]+) -> (\S+)  (.*)$", console, re.M)
    assert len(printed) == len(sweeps.LRS)
    worse = sum(not (float(v) <= start) for _, v, _ in printed)  # nan counts as worse
    said = sum(s.startswith("diverged") for _, _, s in printed)
    (row,) = [r for r in record["rows"] if r["quantity"].startswith("learning rates that diverged")]
    assert int(row["jaxnn"]) == worse == said == record["numbers"]["diverged_count"]


def test_sweep_statuses_follow_the_rule():
    start, settled = 0.5, {"unstable": False, "period2": False, "lo": 0.1, "hi": 0.1}
    assert sweeps.status(-1, start, 0.8, settled).startswith("diverged (ended above")
    assert sweeps.status(12, start, float("nan"), settled).startswith("diverged (non-finite")
    assert sweeps.status(-1, start, 0.1, settled) == "converging"
    assert sweeps.status(-1, start, 0.1, {**settled, "unstable": True}).startswith("unstable")


def test_tail_tells_oscillation_from_convergence():
    falling = np.linspace(1.0, 0.5, 100)
    assert not tail(falling)["unstable"] and not tail(falling)["period2"]
    cycle = np.tile([0.33, 0.328], 50)
    assert tail(cycle)["period2"]
    spikes = np.where(np.arange(100) % 7 == 0, 3.0, 0.3)
    assert tail(spikes)["unstable"] and not tail(spikes)["period2"]


def test_reduced_run_figures_cover_the_brief(reduced):
    out, _ = reduced
    names = {p.name for p in out.glob("*") if p.suffix in (".png", ".gif")}
    for expected in (
        "perceptron_line.png",
        "perceptron_bias.png",
        "loy_loss.png",
        "moons_logistic_regression.png",
        "moons_hidden_sizes.png",
        "moons_hidden_3_training.png",
        "moons_hidden_3_training.gif",
        "moons_hidden_3_units.png",
        "ensemble_xor_loss.png",
        "ensemble_xor_convergence.png",
        "sweeps_learning_rate.png",
        "britz-exercises_boundaries.png",
        "britz-exercises_loss_curves.png",
        "britz-exercises_width_activation.png",
        "britz-exercises_spiral.png",
        "digits_loss_curves.png",
        "digits_confusion.png",
        "digits_misclassified.png",
        "digits_ensemble.png",
    ):
        assert expected in names
    assert (out / "fann_and.net").exists()


def test_reduced_run_numbers(reduced):
    out, _ = reduced
    numbers = {n: json.loads((out / f"{n}.json").read_text())["numbers"] for n in ORDER}
    assert numbers["perceptron"]["and_table"] == [0, 0, 0, 1]
    assert numbers["perceptron"]["xor_network_table"] == [0, 1, 1, 0]
    assert numbers["perceptron"]["xor_single_best"] < 4
    assert numbers["loy"]["loss_monotone"] is True
    assert numbers["fann"]["roundtrip_exact"] is True
    counts = numbers["ensemble"]["counts"]
    assert counts["networks"] == 16
    assert counts["converged"] + counts["stuck"] + counts["between"] + counts["diverged"] == 16
    assert len(numbers["sweeps"]["final_loss"]) == len(numbers["sweeps"]["learning_rates"])
    britz = numbers["britz-exercises"]
    grid = np.asarray(britz["grid_held_out_accuracy"])
    assert grid.shape == (len(britz["grid_widths"]), len(britz["grid_activations"]))
    assert np.all((grid >= 0) & (grid <= 1))
    for part in ("baseline", "minibatch", "annealing", "four_layers", "spiral"):
        assert 0.3 < britz[f"{part}_accuracy"]["held_out"] <= 1.0, part
    digits_ = numbers["digits"]
    assert len(digits_["member_test_accuracy"]) == 16  # min(256, --seeds 16)
    for key in ("no_dropout_test_accuracy", "dropout_test_accuracy", "ensemble_accuracy"):
        assert 0.1 < digits_[key] <= 1.0, key
    # Reduced runs compare no digits.
    report = (out / "report.md").read_text()
    assert "n/a (steps ×0.02)" in report


# --------------------------------------------------------------------------------------------
# The tutorials' published numbers, at full steps in float64
# --------------------------------------------------------------------------------------------


def _only(name: str, *parts: str):
    experiment = REGISTRY[name]
    chosen = [p for p in experiment.parts_for(Config()) if getattr(p, "name", None) in parts]
    return dataclasses.replace(experiment, parts=tuple(chosen))


def test_trask_digits(tmp_path):
    stream = io.StringIO()
    record = runner.run_experiment(REGISTRY["trask"], Config(), tmp_path, stream)
    text = stream.getvalue()
    assert (
        "Output After Training:\n[[0.00966449]\n [0.00786506]\n [0.99358898]\n [0.99211957]]"
        in text
    )
    errors = re.findall(r"^Error:(\S+)$", text, re.M)
    assert errors == [
        "0.496410031903",
        "0.00858452565325",
        "0.00578945986251",
        "0.00462917677677",
        "0.00395876528027",
        "0.00351012256786",
    ]
    assert all(row["match"] == "yes" for row in record["rows"])
    # Both paths ran; on these nets they agree exactly.
    for part in record["backprop"]:
        assert part["max_param_diff"] < 1e-12 and part["check_grads"] == "ok"


def test_lins_output(tmp_path):
    config = Config(backprop="manual")
    record = runner.run_experiment(REGISTRY["lins"], config, tmp_path, io.StringIO())
    assert f"{record['numbers']['output']:.4f}" == "0.9936"
    assert record["rows"][0]["match"] == "yes"


def test_britz_loss_prints(tmp_path):
    config = Config(backprop="manual")
    experiment = _only("moons", "hidden_3")
    stream = io.StringIO()
    record = runner.run_experiment(experiment, config, tmp_path, stream)
    text = stream.getvalue()
    assert "Loss after iteration 0: 0.432387" in text
    assert "Loss after iteration 1000: 0.068947" in text
    numbers = record["numbers"]
    assert f"{numbers['loss_after_1']:.6f}" == "0.432387"
    assert f"{numbers['loss_after_1001']:.6f}" == "0.068947"
    assert [f"{v:.6f}" for v in numbers["oscillation_pair"]] == ["0.070758", "0.071316"]
    assert all(row["match"] == "yes" for row in record["rows"])


# --------------------------------------------------------------------------------------------
# The masked width sweep is exact
# --------------------------------------------------------------------------------------------


def test_masked_sweep_equals_narrow_nets():
    steps = 600
    with jax.enable_x64(True):
        config = Config()
        x, y = moons.moons(config)
        padded, sweep = fit_ensemble(
            moons.padded, moons.loss, optax.sgd(moons.EPSILON), moons.sweep_init(config),
            x, y, steps=steps, reg=moons.reg,
        )  # fmt: skip
        for h in (1, 3, 5):
            model = mlp([2, h, 2], activation="tanh")
            init = tutorial_init(model, (2,), 0, "randn_fan_in")(config)
            params, history = fit(
                model, moons.loss, optax.sgd(moons.EPSILON), init, x, y,
                steps=steps, reg=moons.reg,
            )  # fmt: skip
            i = moons.HIDDEN.index(h)
            member = masked.unpad_hidden(jax.tree.map(lambda a, i=i: a[i], padded), h)
            for a, b in zip(jax.tree.leaves(member), jax.tree.leaves(params), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(sweep["loss"][i], history["loss"], rtol=1e-10)
            # the masked units never moved
            first = jax.tree.map(lambda a, i=i: a[i], padded)[0]
            assert not np.any(np.asarray(first["w"][:, h:]))


def test_mask_layer_gradients():
    layer = masked.Mask()
    params = {"mask": jnp.array([1.0, 0.0, 1.0])}
    x = jnp.array([[2.0, 3.0, 4.0]])
    y, backward = layer.vjp(params, x)
    np.testing.assert_array_equal(y, [[2.0, 0.0, 4.0]])
    dparams, dx = backward(jnp.ones_like(y))
    np.testing.assert_array_equal(dparams["mask"], 0.0)
    np.testing.assert_array_equal(dx, [[1.0, 0.0, 1.0]])
    grad = jax.grad(lambda p: jnp.sum(layer.apply(p, x)))(params)
    np.testing.assert_array_equal(grad["mask"], 0.0)


# --------------------------------------------------------------------------------------------
# Output directory and the command line
# --------------------------------------------------------------------------------------------


def test_default_out_dir_and_latest_link(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = Config(backprop="both", dtype="float32", steps_scale=0.01)
    summary = runner.run(["lins"], config=config, stream=io.StringIO())
    latest = tmp_path / "runs" / "latest"
    assert latest.is_symlink()
    assert latest.resolve() == (tmp_path / summary["out"]).resolve()
    assert (latest / "lins.json").exists() and (latest / "report.md").exists()
    record = summary["records"]["lins"]
    assert record["config"]["dtype"] == "float32"
    assert record["rows"][0]["match"] == "n/a (float32, steps ×0.01)"
    (part,) = record["backprop"]
    assert part["max_param_diff"] < 1e-5 and part["check_grads"] == "ok"


def _cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "experiments", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip


def test_cli_help_mentions_every_option():
    text = _cli("--help").stdout
    for option in (
        "--out", "--backprop", "--dtype", "--seeds", "--steps-scale", "--device", "--input",
        "--activation", "manual", "autodiff", "both", "float64", "float32", "cpu", "gpu", "tpu",
        "sigmoid", "tanh", "relu",
    ):  # fmt: skip
        assert option in text, option
    for name in ORDER:
        assert name in text


def test_cli_lins_answers_the_prompt(tmp_path):
    result = _cli("lins", "--input", "1", "0", "1", "--out", str(tmp_path), "--no-progress")
    match = re.search(r"Output data: \n\[([0-9.]+)\]", result.stdout)
    assert match, result.stdout
    assert f"{float(match.group(1)):.4f}" == "0.9936"
    assert "Input data =  1 0 1" in result.stdout
    assert (tmp_path / "lins.json").exists() and (tmp_path / "report.md").exists()


# --------------------------------------------------------------------------------------------
# The next steps' pieces
# --------------------------------------------------------------------------------------------


def test_ensemble_average_is_the_mean_of_member_probabilities():
    model = digits.small
    params = init_ensemble(model, jax.random.key(5), 3, (64,))
    x = jax.random.uniform(jax.random.key(6), (7, 64))
    got = np.asarray(digits.ensemble_probabilities(model, params, x))
    members = [
        np.asarray(jax.nn.softmax(model.apply(jax.tree.map(lambda a, i=i: a[i], params), x)))
        for i in range(3)
    ]
    np.testing.assert_allclose(got, np.mean(members, axis=0), rtol=1e-6)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-6)
    # not the softmax of the averaged logits (a different, wrong, ensemble)
    logits = jax.vmap(model.apply, (0, None))(params, x)
    assert not np.allclose(got, jax.nn.softmax(jnp.mean(logits, axis=0)), atol=1e-4)


def test_digits_splits_are_disjoint_and_complete():
    train, val, test = (digits._splits("float32")[i] for i in range(3))
    assert (len(train[0]), len(val[0]), len(test[0])) == (1150, 288, 359)
    rows = np.concatenate([np.asarray(s[0]) for s in (train, val, test)])
    assert len(np.unique(rows, axis=0)) == len(np.unique(np.asarray(datasets.digits()[0]), axis=0))
    assert digits.confusion([0, 1, 1], [0, 1, 0], 2).tolist() == [[1, 0], [1, 1]]


@pytest.mark.parametrize("index", range(len(britz_exercises.ACTIVATIONS)))
def test_choice_layer_is_the_selected_activation_with_its_gradient(index):
    names = britz_exercises.ACTIVATIONS
    layer = masked.Choice(names)
    params = {"select": jnp.eye(len(names))[index]}
    x = jnp.array([[-1.5, -0.2, 0.3, 2.0]])
    want = ACTIVATIONS[names[index]]().apply((), x)
    np.testing.assert_allclose(layer.apply(params, x), want, rtol=1e-6)
    y, backward = layer.vjp(params, x)
    dparams, dx = backward(jnp.ones_like(y))
    auto = jax.grad(lambda x: jnp.sum(layer.apply(params, x)))(x)
    np.testing.assert_allclose(dx, auto, rtol=1e-6)
    np.testing.assert_array_equal(dparams["select"], 0.0)
