"""Timing, machine measurements, tables and JSON for `python -m benchmarks`.

Per workload and contender:
* the first call is timed on its own (it includes tracing and compilation);
* steady state is the median of ``repeats`` further calls, ALTERNATED between contenders
  (round-robin, starting one contender later each round) so that drift of the machine (heat,
  other processes) hits everyone alike. JAX results are ``jax.block_until_ready``-ed inside
  the timed region;
* the final loss is computed by the ONE shared float64 NumPy evaluator from the weights each
  contender returns, so equal work is visible as equal loss.
JAX compilations during the steady-state calls are counted (a contender that recompiles on
every call shows it there).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import workloads as wl
from benchmarks.contenders import CONTENDERS, DEFAULT_ORDER, Contender

REFERENCE = "jaxnn-manual"
FLOOR = "plain-jax"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"
MARK_START, MARK_END = "<!-- bench:start -->", "<!-- bench:end -->"


# ------------------------------------------------------------------------------------------
# Compile counting
# ------------------------------------------------------------------------------------------

_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
_compiles = [0]
_listening = [False]


def _on_duration(event: str, duration: float, **kwargs) -> None:
    if event == _COMPILE_EVENT:
        _compiles[0] += 1


def _listen_for_compiles() -> None:
    if not _listening[0]:
        jax.monitoring.register_event_duration_secs_listener(_on_duration)
        _listening[0] = True


# ------------------------------------------------------------------------------------------
# Machine
# ------------------------------------------------------------------------------------------


def _timed(fn: Callable[[], object]) -> float:
    fn()  # warm-up (and compile)
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def measure_peaks(n: int = 2048, mb: int = 256) -> dict[str, float]:
    """One quick run each: float32 matmul GFLOP/s (JAX/XLA and NumPy/BLAS, the larger is the
    peak) and memory bandwidth from a large NumPy copy (read + write = 2 x size bytes)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flops = 2.0 * n**3
    mm = jax.jit(jnp.matmul)
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    t_jax = _timed(lambda: mm(ja, jb).block_until_ready())
    t_np = _timed(lambda: a @ b)
    src = np.ones(mb * 2**20 // 8)
    dst = np.empty_like(src)
    t_copy = _timed(lambda: np.copyto(dst, src))
    peaks = {
        "matmul_gflops_jax": flops / t_jax / 1e9,
        "matmul_gflops_numpy": flops / t_np / 1e9,
        "memory_gbs_copy": 2 * src.nbytes / t_copy / 1e9,
    }
    peaks["matmul_gflops"] = max(peaks["matmul_gflops_jax"], peaks["matmul_gflops_numpy"])
    return peaks


def machine_info() -> dict:
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "device_kind": jax.devices()[0].device_kind,
        "device_count": jax.device_count(),
    }
    for mod in ("jaxlib", "optax", "torch", "flax", "equinox"):
        m = sys.modules.get(mod)
        if m is not None:
            info[mod] = getattr(m, "__version__", "?")
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS"):
        if os.environ.get(var):
            info[var] = os.environ[var]
    return info


# ------------------------------------------------------------------------------------------
# Running
# ------------------------------------------------------------------------------------------


def _precision(spec: wl.Workload):
    """float64 workloads run with JAX's x64 on; everything else with it off."""
    return jax.enable_x64(spec.dtype == "float64")


def _call(trainer, spec, data, init, steps):
    """One timed training run: returns (seconds, params as NumPy)."""
    with _precision(spec):
        t0 = time.perf_counter()
        out = trainer(spec, data, init, steps)
        out = jax.block_until_ready(out)
        dt = time.perf_counter() - t0
        params = [{k: np.asarray(v) for k, v in layer.items()} for layer in out]
    return dt, params


def _error_note(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return f"error: {type(e).__name__}: {msg[0][:160] if msg else ''}"


def run_workload(
    name: str,
    contenders: Sequence[Contender],
    *,
    quick: bool = False,
    repeats: int | None = None,
    steps: int | None = None,
    overrides: dict | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Time every contender on one workload. ``overrides`` replaces fields of its spec (e.g.
    ``{"batch_size": 1437}``); minibatch workloads run whole epochs (``steps`` rounds up)."""
    spec = wl.WORKLOADS[name]
    if overrides:
        spec = dataclasses.replace(spec, **overrides)
    if steps is None:
        steps = spec.quick_steps() if quick else spec.steps
    if spec.minibatch:
        steps = spec.epochs(steps) * spec.steps_per_epoch()
    spec, data, init = wl.load(spec, steps)
    if repeats is None:
        repeats = 1 if quick else 5
    rows: dict[str, dict] = {}
    trainers: dict[str, Callable] = {}
    last: dict[str, list] = {}
    for c in contenders:
        if not c.supports(spec):
            continue
        row = rows[c.name] = {"contender": c.name, "status": "ok", "note": "", "times_s": []}
        note = c.availability()
        if note is not None:
            row.update(status="unavailable", note=note)
            continue
        try:
            trainer = c.trainer()
        except ImportError as e:
            row.update(status="unavailable", note=f"unavailable: {e}")
            continue
        except NotImplementedError as e:
            row.update(status="skipped", note=f"skipped: {e}")
            continue
        try:
            dt, params = _call(trainer, spec, data, init, steps)
        except NotImplementedError as e:
            row.update(status="skipped", note=f"skipped: {e}")
            continue
        except Exception as e:  # a contender failing is a row, not a crash
            row.update(status="error", note=_error_note(e))
            log(f"  {c.name}: {row['note']}")
            traceback.print_exc(file=sys.stderr)
            continue
        row["first_call_s"] = dt
        row["steady_compiles"] = 0
        trainers[c.name] = trainer
        last[c.name] = params
        log(f"  {name} {c.name}: first call {_fmt_time(dt)}")

    names = list(trainers)
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)] if names else []
        for cname in order:
            row = rows[cname]
            if row["status"] != "ok":
                continue
            before = _compiles[0]
            try:
                dt, params = _call(trainers[cname], spec, data, init, steps)
            except Exception as e:
                row.update(status="error", note=_error_note(e))
                continue
            row["steady_compiles"] += _compiles[0] - before
            row["times_s"].append(dt)
            last[cname] = params

    full_batch = not spec.ensemble and not spec.minibatch
    cost = wl.dense_step_cost(spec, len(data["X"])) if full_batch else None
    for cname, row in rows.items():
        if cname not in last:
            continue
        row.update(wl.evaluate(spec, last[cname], data))
        if row["times_s"]:
            row["median_s"] = statistics.median(row["times_s"])
        elif "first_call_s" in row:  # no steady runs (repeats=0): fall back, say so
            row["median_s"] = row["first_call_s"]
            row["note"] = (row["note"] + "; " if row["note"] else "") + "first call only"
        med = row.get("median_s")
        if med:
            row["steps_per_s"] = steps / med
            if spec.ensemble:
                row["network_steps_per_s"] = spec.ensemble * steps / med
            if cost is not None:
                row["gflops"] = cost["flops"] * steps / med / 1e9
                row["gbs"] = cost["bytes"] * steps / med / 1e9
        if row.get("steady_compiles"):
            row["note"] = (row["note"] + "; " if row["note"] else "") + (
                f"{row['steady_compiles']} compilations during {len(row['times_s'])} "
                "steady-state calls"
            )
    ratios = (
        ("ratio", REFERENCE, "median_s"),
        ("ratio_plain_jax", FLOOR, "median_s"),
        ("first_ratio_plain_jax", FLOOR, "first_call_s"),
    )
    for ref_key, ref, time_key in ratios:
        ref_t = rows.get(ref, {}).get(time_key)
        for row in rows.values():
            if ref_t and row.get(time_key):
                row[ref_key] = row[time_key] / ref_t

    return {
        "name": name,
        "title": spec.title,
        "description": spec.description,
        "caveat": spec.caveat,
        "dtype": spec.dtype,
        "steps": steps,
        "repeats": repeats,
        "ensemble": spec.ensemble,
        "minibatch": spec.minibatch,
        "epochs": spec.epochs(steps) if spec.minibatch else None,
        "batch_size": spec.batch_size,
        "overrides": dict(overrides or {}),
        "step_cost": cost,
        "rows": list(rows.values()),
    }


def run_suite(
    workloads: Sequence[str] | None = None,
    contenders: Sequence[str] | None = None,
    *,
    quick: bool = False,
    repeats: int | None = None,
    steps: int | dict[str, int] | None = None,
    peaks: bool = True,
    threads: int | None = None,
    overrides: dict[str, dict] | None = None,
    epochs: int | dict[str, int] | None = None,
    checkpoint: Callable[[dict], object] | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Run the benchmark and return the results dict (what ``--out`` writes as JSON).

    ``threads`` only records what the caller pinned (see ``python -m benchmarks --threads``);
    ``steps`` is one number or one per workload name; ``overrides[name]`` replaces fields of
    that workload's spec; ``epochs`` (one number, or one per workload name) sets the length
    of the minibatch workloads (W5/W6; ``steps`` then applies to the others only);
    ``checkpoint(results)`` is called after every workload with the results so far.
    """
    names = list(workloads or wl.WORKLOADS)
    for n in names:
        if n not in wl.WORKLOADS:
            raise ValueError(f"unknown workload {n!r}; expected some of {list(wl.WORKLOADS)}")
    cnames = list(contenders or DEFAULT_ORDER)
    for c in cnames:
        if c not in CONTENDERS:
            raise ValueError(f"unknown contender {c!r}; expected some of {list(CONTENDERS)}")
    _listen_for_compiles()
    results: dict = {
        "mode": "quick" if quick else ("full" if steps is None and epochs is None else "short"),
        "started": time.time(),
        "threads": threads,
        "load_average_start": _loadavg(),
    }
    if peaks:
        log("measuring float32 matmul peak and memory bandwidth ...")
        results["peaks"] = measure_peaks(n=1024 if quick else 2048, mb=64 if quick else 256)
    results["workloads"] = {}
    t0 = time.perf_counter()
    for n in names:
        log(f"{n}: {wl.WORKLOADS[n].description}")
        spec = wl.WORKLOADS[n]
        n_steps = steps.get(n) if isinstance(steps, dict) else steps
        n_epochs = epochs.get(n) if isinstance(epochs, dict) else epochs
        if spec.minibatch and n_epochs is not None:
            n_steps = n_epochs * spec.steps_per_epoch()
        res = run_workload(
            n,
            [CONTENDERS[c] for c in cnames],
            quick=quick,
            repeats=repeats,
            steps=n_steps,
            overrides=(overrides or {}).get(n),
            log=log,
        )
        results["workloads"][n] = res
        log(render_workload(res, results.get("peaks")))
        results["elapsed_s"] = time.perf_counter() - t0
        results["load_average_end"] = _loadavg()
        results["machine"] = machine_info()  # after the runs: records which libs loaded
        if checkpoint is not None:
            checkpoint(results)
    return results


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


# ------------------------------------------------------------------------------------------
# Output
# ------------------------------------------------------------------------------------------


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def _fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}×"


def _fmt_rate(r: float | None) -> str:
    if r is None:
        return "—"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if r >= scale:
            return f"{r / scale:.2f} {unit}"
    return f"{r:.0f}"


def _fmt_acc(row: dict, ens: bool) -> str:
    if "val_accuracy" not in row:
        return "—"
    acc = f"{100 * row['val_accuracy']:.1f}%"
    return f"{acc} (min {100 * row['val_accuracy_min']:.1f}%)" if ens else acc


def _run_line(res: dict) -> str:
    line = f"{res['steps']} steps, {res['dtype']}, median of {res['repeats']} alternated run(s)."
    if res.get("minibatch"):
        line = (
            f"{res['epochs']} epoch(s) of {res['steps'] // res['epochs']} updates "
            f"(batch {res['batch_size']}) = {res['steps']} steps, {res['dtype']}, median of "
            f"{res['repeats']} alternated run(s)."
        )
    if res.get("overrides"):
        line += f" Changed from the full workload: {res['overrides']}."
    return line


def render_workload(res: dict, peaks: dict | None = None) -> str:
    """One workload's Markdown table."""
    ens = bool(res.get("ensemble"))
    mini = bool(res.get("minibatch"))
    cost = res.get("step_cost")
    wide = res["name"] == "W4" and cost is not None
    head = [
        "contender",
        "median time",
        "first call",
        "val loss" if mini else "final loss",
        "× jaxnn-manual",
        "× plain-jax",
        "first call × plain-jax",
    ]
    if mini:
        head.append("val accuracy")
    if ens:
        head += ["networks·steps/s"] + ([] if mini else ["converged"])
    if wide:
        head += ["GFLOP/s", "GB/s"]
    head.append("note")
    lines = [f"### {res['name']} {res['title']} — {res['description']}", "", _run_line(res), ""]
    caveat = res.get("caveat")
    if caveat is None and res["name"] in wl.WORKLOADS:
        caveat = wl.WORKLOADS[res["name"]].caveat
    if caveat:
        lines += [f"Note: {caveat}", ""]
    if wide and peaks:
        lines += [
            f"Per step: {cost['flops'] / 1e6:.1f} MFLOP, ≥ {cost['bytes'] / 1e6:.2f} MB moved. "
            f"Machine: float32 matmul peak {peaks['matmul_gflops']:.1f} GFLOP/s, memory copy "
            f"{peaks['memory_gbs_copy']:.1f} GB/s.",
            "",
        ]
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in res["rows"]:
        ok = row.get("median_s") is not None
        loss = f"{row['loss']:.6g}" if "loss" in row else "—"
        cells = [
            row["contender"],
            _fmt_time(row.get("median_s")) if ok else row["status"],
            _fmt_time(row.get("first_call_s")),
            loss,
            _fmt_ratio(row.get("ratio")),
            _fmt_ratio(row.get("ratio_plain_jax")),
            _fmt_ratio(row.get("first_ratio_plain_jax")),
        ]
        if mini:
            cells.append(_fmt_acc(row, ens))
        if ens:
            cells.append(_fmt_rate(row.get("network_steps_per_s")))
            if not mini:
                cells.append(str(row["converged"]) if "converged" in row else "—")
        if wide:
            cells += [
                f"{row['gflops']:.2f}" if "gflops" in row else "—",
                f"{row['gbs']:.2f}" if "gbs" in row else "—",
            ]
        cells.append(row.get("note", "").replace("|", "/"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_markdown(results: dict) -> str:
    """The README section: machine line, then one table per workload."""
    m = results.get("machine", {})
    peaks = results.get("peaks")
    threads = results.get("threads")
    load = results.get("load_average_start"), results.get("load_average_end")
    out = [
        f"Benchmarks ({results.get('mode', '?')} mode) on {m.get('platform', '?')}, "
        f"{m.get('cpu_count', '?')} CPUs, jax {m.get('jax', '?')} ({m.get('device_kind', '?')})"
        + (
            f"; float32 matmul peak {peaks['matmul_gflops']:.1f} GFLOP/s, "
            f"memory copy {peaks['memory_gbs_copy']:.1f} GB/s"
            if peaks
            else ""
        )
        + (f"; thread pools pinned to {threads}" if threads else "; default thread pools")
        + (
            f"; 1-min load average {load[0][0]} at start, {load[1][0]} at end."
            if all(load)
            else "."
        ),
        "Time is the whole training run (median of alternated runs; first call = with "
        "compilation); final loss is scored by one float64 NumPy evaluator. "
        "`python -m benchmarks` regenerates this section.",
        "",
    ]
    for res in results.get("workloads", {}).values():
        out.append(render_workload(res, peaks))
    return "\n".join(out)


def render_summary(results: dict) -> str:
    """One row per workload: jaxnn-manual's time, its steady-state and first-call ratios to
    plain JAX, and its lead over the fastest peer (any contender not jaxnn's or plain JAX's)."""
    lines = [
        "| workload | jaxnn-manual | × plain-jax | first call × plain-jax | fastest peer | "
        "peer ÷ jaxnn |",
        "|---|---|---|---|---|---|",
    ]
    for name, res in results.get("workloads", {}).items():
        rows = {r["contender"]: r for r in res["rows"] if r.get("median_s")}
        me = rows.get(REFERENCE)
        if me is None:
            continue
        peers = [r for c, r in rows.items() if not c.startswith(("jaxnn", FLOOR))]
        best = min(peers, key=lambda r: r["median_s"], default=None)
        lines.append(
            f"| {name} {res['title']} | {_fmt_time(me['median_s'])} | "
            f"{_fmt_ratio(me.get('ratio_plain_jax'))} | "
            f"{_fmt_ratio(me.get('first_ratio_plain_jax'))} | "
            + (
                f"{best['contender']} {_fmt_time(best['median_s'])} | "
                f"{_fmt_ratio(best['median_s'] / me['median_s'])} |"
                if best
                else "— | — |"
            )
        )
    return "\n".join(lines) + "\n"


def write_json(results: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(results, indent=1, default=float) + "\n")
    tmp.replace(path)
    return path


def update_readme(path: str | os.PathLike, markdown: str) -> bool:
    """Replace the text between the bench markers, each alone on its own line; False (file
    untouched) if they are absent. Markers quoted inside prose are left alone."""
    path = Path(path)
    text = path.read_text()
    pattern = re.compile(
        rf"(^[ \t]*{re.escape(MARK_START)}[ \t]*\n)(.*?)(^[ \t]*{re.escape(MARK_END)}[ \t]*$)",
        re.MULTILINE | re.DOTALL,
    )
    match = pattern.search(text)
    if match is None:
        return False
    new = text[: match.end(1)] + markdown.rstrip() + "\n" + text[match.start(3) :]
    if new != text:
        path.write_text(new)
    return True
