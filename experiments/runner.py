"""The one runner: executes `Experiment` declarations, records numbers, writes JSON and reports.

Python API::

    from experiments import runner, spec
    summary = runner.run(["trask"], out="tmp/run", config=spec.Config(steps_scale=0.1))

Every `Train` / `Ensemble` part is trained once per backprop path (``manual`` and/or
``autodiff``); the first path's results are shown, and the report states the largest parameter
difference between the paths and `jaxnn.check_grads`'s verdict at the initial params.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments import report
from experiments.spec import Config, Ensemble, Experiment, Train
from jaxnn import check_grads, plot
from jaxnn.losses import Regularizer
from jaxnn.train import fit, fit_ensemble

# --------------------------------------------------------------------------------------------
# What a part hands to its `show`, and what an experiment records
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    """A trained part. ``params``/``history`` are those of the first backprop path."""

    spec: Train | Ensemble
    x: Any
    target: Any
    init: Any
    params: Any
    history: dict
    probes: dict[int, Any]  # step -> params before that update (`Train.probes`)
    steps: int  # updates actually made
    wall_s: float  # of the first path, compile included
    by_path: dict[str, tuple[Any, dict]]
    hyperparams: dict | None = None
    validation: tuple[Any, Any] | None = None  # held-out (x, target), when declared

    @property
    def model(self):
        return self.spec.model

    def apply(self, params, x):
        """``model.apply``, jitted (one compile rather than one per operation)."""
        return _jitted_apply(self.spec.model)(params, x)

    def predict(self, params=None):
        """``x -> model output`` with these (default: the trained) params, for plots."""
        params = self.params if params is None else params
        return lambda x: np.asarray(self.apply(params, jnp.asarray(x)))

    def member(self, i: int, params=None):
        """Params of ensemble member ``i``."""
        return jax.tree.map(lambda a: a[i], self.params if params is None else params)

    def member_path_diffs(self) -> np.ndarray | None:
        """Per ensemble member, max |θ_manual − θ_autodiff| at the end (None: one path ran)."""
        if len(self.by_path) < 2:
            return None
        (pm, _), (pa, _) = self.by_path["manual"], self.by_path["autodiff"]
        return _member_diffs(pm, pa)


@functools.cache
def _jitted_apply(model):
    return jax.jit(model.apply)


def _plain(value):
    """JSON-ready copy: arrays to lists, NumPy scalars to Python ones, NaN/inf to strings."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, jax.Array | np.ndarray | np.generic):
        return _plain(np.asarray(value).tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


class Context:
    """What a part sees while it runs: the config, the output dir, and the record to fill."""

    def __init__(self, experiment: Experiment, config: Config, out: Path, stream):
        self.experiment, self.cfg, self.out, self.stream = experiment, config, out, stream
        self.numbers: dict[str, Any] = {}
        self.rows: list[dict[str, str]] = []
        self.backprop: list[dict[str, Any]] = []
        self.figures: list[dict[str, str]] = []
        self.console: list[str] = []
        self.shared: dict[str, Any] = {}  # handed from one part's show to a later one's
        self.row_notes: list[str] = []

    @property
    def name(self) -> str:
        return self.experiment.name

    def print(self, *args, sep=" ", end="\n") -> None:
        """Print (the tutorial-form output) and keep a copy for the JSON."""
        text = sep.join(str(a) for a in args) + end
        self.stream.write(text)
        self.stream.flush()
        self.console.append(text)

    def record(self, key: str, value) -> None:
        self.numbers[key] = _plain(value)

    def compare(self, quantity: str, ours, tutorial=None, match=None, *, key=None, value=None):
        """A report row ``quantity | jaxnn | tutorial | match``; ``key`` also records a number.

        ``match``: True → "yes", False → "NO", None → "—", a string is shown as is.
        """
        text = {True: "yes", False: "NO", None: "—"}
        self.rows.append(
            {
                "quantity": quantity,
                "jaxnn": str(ours),
                "tutorial": "—" if tutorial is None else str(tutorial),
                "match": match if isinstance(match, str) else text[match],
            }
        )
        if key is not None:
            self.record(key, ours if value is None else value)

    def exact(self, ok: bool):
        """A match verdict for printed digits: only meaningful for a faithful run."""
        if self.cfg.faithful:
            return bool(ok)
        why = []
        if self.cfg.dtype != "float64":
            why.append(self.cfg.dtype)
        if self.cfg.steps_scale != 1:
            why.append(f"steps ×{self.cfg.steps_scale:g}")
        return f"n/a ({', '.join(why)})"

    def note(self, text: str) -> None:
        """A sentence shown right under the numbers table: why a number looks as it does."""
        self.row_notes.append(text)

    def explain(self, text: str) -> None:
        """Why the last trained part's manual and autodiff runs end apart (shown beside them)."""
        if not self.backprop:
            raise ValueError(f"{self.name}: explain() before any trained part")
        if self.backprop[-1].get("paths_apart_from") is not None:  # only what needs a word
            self.backprop[-1]["note"] = text

    def figure(self, fig, suffix: str, caption: str, *, wide: bool = False) -> Path:
        """Save ``fig`` (via `jaxnn.plot.save`) as ``<experiment>_<suffix>.png``.

        ``wide`` figures take a whole row of the page.
        """
        path = plot.save(fig, self.out / f"{self.name}_{suffix}.png")
        self.figures.append({"file": path.name, "caption": caption, "wide": wide})
        return path

    def animation(self, frames, x, y, suffix: str, caption: str, **kwargs) -> Path:
        """An animated GIF of decision boundaries (`jaxnn.plot.boundary_animation`)."""
        path = plot.boundary_animation(
            frames, x, y, self.out / f"{self.name}_{suffix}.gif", **kwargs
        )
        self.figures.append({"file": path.name, "caption": caption, "wide": False})
        return path

    def path(self, suffix: str) -> Path:
        """A file in the output dir named after the experiment, e.g. a saved network."""
        return self.out / f"{self.name}_{suffix}"


# --------------------------------------------------------------------------------------------
# Running parts
# --------------------------------------------------------------------------------------------


def _max_abs_diff(a, b) -> float:
    diffs = [
        float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)), initial=0.0))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    ]
    return max(diffs, default=0.0)


def _options(spec, cfg: Config, validation) -> dict:
    """The keyword arguments beyond full batch that a part declares (for `fit`/`fit_ensemble`)."""
    options = {}
    if validation is not None:
        options["validation"] = validation
    if spec.batch_size is not None:
        options["batch_size"] = spec.batch_size
    if spec.seed is not None:
        options["key"] = jax.random.key(spec.seed)
    if spec.patience is not None:
        options["patience"] = spec.patience
    return options


def _member_diffs(a, b) -> np.ndarray:
    """Per member (leading axis), the max absolute difference over every leaf."""
    return np.max(
        [
            np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))
            .reshape(len(x), -1)
            .max(axis=1, initial=0.0)
            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        ],
        axis=0,
    )


def _fit_segments(
    spec: Train, cfg: Config, backprop: str, params, x, target, steps: int, validation=None
):
    """`fit` for ``steps`` updates, resumed at each probe step; returns params, history, probes.

    Each segment continues the last one (``opt_state``, ``start_step``), so the params equal
    those of one uninterrupted run, for any optimizer; the histories are joined.
    """
    log_every = max(1, min(cfg.steps(spec.log_every), steps))
    probes = sorted({cfg.steps(p) for p in spec.probes if cfg.steps(p) <= steps})
    bounds = [b for b in probes if 0 < b < steps] + [steps]
    kept = {0: params} if 0 in probes else {}
    pieces, done, opt_state = [], 0, None
    for bound in bounds:
        params, history = fit(
            spec.model,
            spec.loss,
            spec.optimizer,
            params,
            x,
            target,
            steps=bound - done,
            reg=spec.reg,
            backprop=backprop,
            log_every=log_every if len(bounds) == 1 else 1,
            progress=cfg.progress and spec.long,
            opt_state=opt_state,
            start_step=done,
            **_options(spec, cfg, validation),
        )
        opt_state = history["opt_state"]
        pieces.append(history)
        done = bound
        kept[bound] = params
    return params, _join(pieces), {s: p for s, p in kept.items() if s in probes}


def _join(pieces: list[dict]) -> dict:
    """One history from consecutive segments': logged series joined, the rest from the last."""
    if len(pieces) == 1:
        return pieces[0]
    history = dict(pieces[-1])
    for key, value in pieces[0].items():
        if key == "opt_state" or not isinstance(value, np.ndarray | jax.Array):
            continue
        series = [np.asarray(p[key]) for p in pieces]
        lengths = [len(p["step"]) for p in pieces]
        if all(a.ndim >= 1 and len(a) == n for a, n in zip(series, lengths, strict=True)):
            history[key] = np.concatenate(series)
    bad = [int(p["first_nonfinite_step"]) for p in pieces if int(p["first_nonfinite_step"]) >= 0]
    history["first_nonfinite_step"] = bad[0] if bad else -1
    return history


def _run_train(spec: Train, ctx: Context) -> Result:
    cfg = ctx.cfg
    x, target = spec.data(cfg)
    validation = spec.validation(cfg) if spec.validation else None
    init = spec.params(cfg)
    steps = cfg.steps(spec.steps)
    by_path, probes_by_path, walls, made = {}, {}, {}, {}
    for path in cfg.paths:
        start = time.perf_counter()
        params, history, probes = _fit_segments(spec, cfg, path, init, x, target, steps, validation)
        made[path] = steps
        if spec.until is not None:
            below = np.flatnonzero(np.asarray(history["loss"]) < spec.until)
            if below.size and below[0] + 1 < steps:  # stop after that update; repeat the run
                made[path] = int(below[0]) + 1
                params, history, probes = _fit_segments(
                    spec, cfg, path, init, x, target, made[path], validation
                )
        jax.block_until_ready(params)
        walls[path] = time.perf_counter() - start
        by_path[path], probes_by_path[path] = (params, history), probes
    first = cfg.paths[0]
    params, history = by_path[first]
    result = Result(
        spec,
        x,
        target,
        init,
        params,
        history,
        probes_by_path[first],
        made[first],
        walls[first],
        by_path,
        validation=validation,
    )
    _record_paths(ctx, spec, result, made[first], walls, member0=init)
    return result


def _run_ensemble(spec: Ensemble, ctx: Context) -> Result:
    cfg = ctx.cfg
    x, target = spec.data(cfg)
    validation = spec.validation(cfg) if spec.validation else None
    init = spec.params(cfg)
    hyper = spec.hyperparams(cfg) if spec.hyperparams else None
    steps = cfg.steps(spec.steps)
    log_every = max(1, min(cfg.steps(spec.log_every), steps))
    by_path, walls = {}, {}
    for path in cfg.paths:
        start = time.perf_counter()
        params, history = fit_ensemble(
            spec.model,
            spec.loss,
            spec.optimizer,
            init,
            x,
            target,
            steps=steps,
            reg=spec.reg,
            backprop=path,
            log_every=log_every,
            hyperparams=hyper,
            progress=cfg.progress and spec.long,
            **_options(spec, cfg, validation),
        )
        jax.block_until_ready(params)
        walls[path] = time.perf_counter() - start
        history = {k: v if k == "opt_state" else np.asarray(v) for k, v in history.items()}
        by_path[path] = (params, history)
    params, history = by_path[cfg.paths[0]]
    result = Result(
        spec, x, target, init, params, history, {}, steps, walls[cfg.paths[0]], by_path, hyper,
        validation,
    )  # fmt: skip
    member0 = jax.tree.map(lambda a: a[0], init)
    _record_paths(ctx, spec, result, steps, walls, member0=member0)
    return result


def _compiled(model, loss, reg):
    """The same model, loss and regulariser with each function jitted.

    `jaxnn.check_grads` calls them eagerly, many times (finite differences); jitted, that is a
    few compiled programs instead of one compile per operation and shape. The math is the same.
    """
    apply = jax.jit(model.apply)
    backward = jax.jit(lambda p, x, dy: model.vjp(p, x)[1](dy))
    value = jax.jit(loss.value)
    loss_backward = jax.jit(lambda pred, t, g: loss.vjp(pred, t)[1](g))
    return (
        model._replace(
            apply=apply,
            vjp=lambda p, x: (apply(p, x), lambda dy: backward(p, x, dy)),
            kinks=None if model.kinks is None else jax.jit(model.kinks),
        ),
        loss._replace(
            value=value,
            vjp=lambda pred, t: (value(pred, t), lambda g: loss_backward(pred, t, g)),
        ),
        None if reg is None else Regularizer(jax.jit(reg.value), jax.jit(reg.grad)),
    )


def _record_paths(ctx: Context, spec, result: Result, steps: int, walls, *, member0) -> None:
    """The report's backprop table row: path agreement and the gradient check at init."""
    row = {"part": spec.name, "steps": steps, "wall_s": {k: round(v, 3) for k, v in walls.items()}}
    # "Apart" means beyond what rounding alone explains in this dtype.
    tol = 1e-6 if np.asarray(jax.tree.leaves(member0)[0]).dtype == np.float64 else 1e-4
    if len(result.by_path) == 2:
        (pm, hm), (pa, ha) = result.by_path["manual"], result.by_path["autodiff"]
        row["max_param_diff"] = _max_abs_diff(pm, pa)
        if isinstance(spec, Ensemble):  # how many members ended apart, beyond rounding
            per_member = _member_diffs(pm, pa)
            row["members_apart"] = [int(np.sum(per_member > tol)), len(per_member)]
        row["max_loss_diff"] = _max_abs_diff(hm["loss"], ha["loss"])
        lm, la = np.asarray(hm["loss"], np.float64), np.asarray(ha["loss"], np.float64)
        apart = np.abs(lm - la) > tol * np.maximum(1.0, np.abs(lm))  # beyond rounding
        per_step = apart.reshape(-1, apart.shape[-1]).any(axis=0)
        first = int(np.asarray(hm["step"])[np.argmax(per_step)]) if per_step.any() else None
        row["paths_apart_from"] = first
        row["tolerance"] = tol
    if spec.check:
        row["check_grads"] = _check(spec, member0, result.x, result.target)
    ctx.backprop.append(_plain(row))


_CHECKED: dict = {}  # the verdict of a check already made (same math, params and data)


def _fingerprint(*trees) -> tuple:
    return tuple(
        (np.asarray(a).dtype.str, np.asarray(a).shape, np.asarray(a).tobytes())
        for a in jax.tree.leaves(trees)
    )


def _check(spec, params, x, target) -> str:
    """`jaxnn.check_grads`'s verdict at ``params`` (made once per model, data and params).

    On a large training set the check uses its first `CHECK_EXAMPLES` examples: the same
    math, and finite differences over every example would cost more than the training.
    """
    x, target = x[:CHECK_EXAMPLES], target[:CHECK_EXAMPLES]
    try:
        seed = spec.seed if spec.model.stochastic else None  # the mask depends on it
        key = (spec.model, spec.loss, spec.reg, seed, _fingerprint(params, x, target))
        hash(key)
    except TypeError:  # a model without a hashable description: always check
        key = None
    if key is not None and key in _CHECKED:
        return _CHECKED[key]
    if spec.model.stochastic:  # checked at one fixed dropout mask (its apply takes a key)
        mask_key = jax.random.key(spec.seed or 0)
        report = check_grads(spec.model, spec.loss, params, x, target, reg=spec.reg, key=mask_key)
    else:
        model, loss, reg = _compiled(spec.model, spec.loss, spec.reg)
        report = check_grads(model, loss, params, x, target, reg=reg)
    verdict = grad_verdict(report, spec.model)
    if key is not None:
        _CHECKED[key] = verdict
    return verdict


CHECK_EXAMPLES = 256  # check_grads uses at most this many training examples


def grad_verdict(report, model) -> str:
    """`GradReport.verdict`, naming the leaves exempt by design and the layer's reason.

    ("ok (straight-through by design where marked)" would point at marks the page does not
    show.)
    """
    if not report.ok:
        return report.verdict
    marked = [row.path for row in report.rows if row.status.startswith("straight-through")]
    if not marked:
        return report.verdict
    reasons = []
    for path in marked:
        index = re.match(r"\[(\d+)\]", path)
        layer = model
        if index and int(index.group(1)) < len(model.sublayers):
            layer = model.sublayers[int(index.group(1))]
        reasons.append(f"{path} ({layer.name}: {layer.surrogate or 'surrogate gradient'})")
    return "ok; not compared with finite differences, by design: " + ", ".join(reasons)


def _run_part(part, ctx: Context) -> None:
    if isinstance(part, Train | Ensemble):
        result = (_run_train if isinstance(part, Train) else _run_ensemble)(part, ctx)
        if part.show is not None:
            part.show(result, ctx)
    else:
        part(ctx)


# --------------------------------------------------------------------------------------------
# Experiments, output dir, JSON and report
# --------------------------------------------------------------------------------------------


def run_experiment(experiment: Experiment, config: Config, out: Path, stream=None) -> dict:
    """Run every part of ``experiment`` (in the config's dtype); write ``<name>.json``."""
    stream = sys.stdout if stream is None else stream
    ctx = Context(experiment, config, out, stream)
    ctx.print(f"\n=== {experiment.name}: {experiment.title} ===")
    start, cpu = time.perf_counter(), time.process_time()
    with jax.enable_x64(config.dtype == "float64"):
        for part in experiment.parts_for(config):
            _run_part(part, ctx)
    record = {
        "name": experiment.name,
        "title": experiment.title,
        "source": experiment.source,
        "url": experiment.url,
        "notes": experiment.notes,
        "row_notes": ctx.row_notes,
        "config": _plain(dataclasses.asdict(config)),
        "wall_s": round(time.perf_counter() - start, 3),
        "cpu_s": round(time.process_time() - cpu, 3),  # all threads: the work, whatever the load
        "numbers": ctx.numbers,
        "rows": ctx.rows,
        "backprop": ctx.backprop,
        "figures": ctx.figures,
        "console": "".join(ctx.console),
    }
    (out / f"{experiment.name}.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def make_out_dir(out: str | os.PathLike | None) -> Path:
    """``out`` (created), or ``runs/<timestamp>/`` with ``runs/latest`` pointing at it."""
    if out is not None:
        path = Path(out)
        path.mkdir(parents=True, exist_ok=True)
        return path
    runs = Path("runs")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = runs / stamp
    n = 1
    while path.exists():
        n += 1
        path = runs / f"{stamp}-{n}"
    path.mkdir(parents=True)
    tmp = runs / f".latest-{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(path.name)
    os.replace(tmp, runs / "latest")
    return path


def select(names: Sequence[str] | None) -> list[Experiment]:
    from experiments import REGISTRY

    if not names:
        return list(REGISTRY.values())
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}; choose from {list(REGISTRY)}")
    return [REGISTRY[n] for n in names]


def run(
    names: Sequence[str] | None = None,
    *,
    out: str | os.PathLike | None = None,
    config: Config | None = None,
    stream=None,
) -> dict:
    """Run the named experiments (all by default) into ``out``; returns the records by name."""
    config = Config() if config is None else config
    experiments = select(names)
    out_dir = make_out_dir(out)
    start, cpu = time.perf_counter(), time.process_time()
    records = [run_experiment(e, config, out_dir, stream) for e in experiments]
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    _, page = report.write(records, config, out_dir, wall, cpu)
    stream = sys.stdout if stream is None else stream
    stream.write(f"\nwrote {page} and report.md ({wall:.1f} s, CPU {cpu:.1f} s)\n")
    return {
        "out": out_dir,
        "wall_s": wall,
        "cpu_s": cpu,
        "records": {r["name"]: r for r in records},
    }
