"""``python -m benchmarks [W1 ... W6] [--quick] [--out PATH] [--readme README.md]``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

WORKLOAD_NAMES = ("W1", "W2", "W3", "W4", "W5", "W6")


def _pin_threads(n: int) -> None:
    """Limit every library's intra-op thread pool to ``n`` threads. Must run before NumPy,
    PyTorch or JAX is imported. XLA's CPU pool can only be switched to one thread."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    if n == 1:
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()


def _parse_epochs(text: str, flag: str = "--epochs", names=("W5", "W6")):
    """``"30"`` -> 30; ``"W5=30,W6=1"`` -> ``{"W5": 30, "W6": 1}``; ValueError otherwise."""
    if "=" not in text:
        if not text.strip().isdigit() or int(text) < 1:
            raise ValueError(f"{flag} must be a positive integer, got {text!r}")
        return int(text)
    out = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        if name.strip() not in names or not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"{flag}: expected N or {names[0]}=N,{names[1]}=M, got {text!r}")
        out[name.strip()] = int(value)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Same-work benchmarks: jaxnn vs plain JAX, NumPy, PyTorch, Flax, Equinox.",
    )
    p.add_argument("workloads", nargs="*", metavar="W", help=f"some of {', '.join(WORKLOAD_NAMES)}")
    p.add_argument(
        "--quick", action="store_true", help="steps / 100 (min 10; W5/W6: 1 epoch), 1 repeat"
    )
    p.add_argument(
        "--epochs",
        help="W5/W6 length in epochs: N for both, or per workload, e.g. W5=30,W6=1 "
        "(default: W5 30, W6 5; --quick: 1)",
    )
    p.add_argument("--members", type=int, help="W6: this many networks (default 256)")
    p.add_argument(
        "--steps",
        help="W1-W4 length: N for all, or per workload, e.g. W1=2000,W4=100 (overrides --quick)",
    )
    p.add_argument("--out", help="JSON results (default: benchmarks/results/latest.json)")
    p.add_argument(
        "--readme",
        metavar="PATH",
        help="replace the text between <!-- bench:start --> and <!-- bench:end --> in PATH",
    )
    p.add_argument("--summary", metavar="PATH", help="also write a one-row-per-workload table")
    p.add_argument("--contenders", help="comma-separated subset of the contenders")
    p.add_argument(
        "--repeats", type=int, help="steady-state runs per contender (default 5, quick 1)"
    )
    p.add_argument(
        "--threads",
        type=int,
        help="pin BLAS/OpenMP/PyTorch (and, for 1, XLA) thread pools to N threads; default: "
        "each library's own default. Use 1 on a machine shared with other work.",
    )
    args = p.parse_args(argv)
    for w in args.workloads:
        if w not in WORKLOAD_NAMES:
            p.error(f"unknown workload {w!r}; expected some of {', '.join(WORKLOAD_NAMES)}")
    if args.members is not None and args.members < 1:
        p.error("--members must be >= 1")
    epochs = steps = None
    try:
        if args.epochs:
            epochs = _parse_epochs(args.epochs)
        if args.steps:
            steps = _parse_epochs(args.steps, "--steps", WORKLOAD_NAMES[:4])
    except ValueError as e:
        p.error(str(e))
    if args.threads is not None:
        if args.threads < 1:
            p.error("--threads must be >= 1")
        if "numpy" in sys.modules or "jax" in sys.modules:
            print("warning: --threads comes too late: numpy/jax already imported", file=sys.stderr)
        _pin_threads(args.threads)

    from benchmarks.contenders import CONTENDERS
    from benchmarks.harness import (
        DEFAULT_OUT,
        render_markdown,
        run_suite,
        update_readme,
        write_json,
    )

    contenders = None
    if args.contenders:
        contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
        bad = [c for c in contenders if c not in CONTENDERS]
        if bad:
            p.error(f"unknown contender(s) {bad}; expected some of {', '.join(CONTENDERS)}")
    out = args.out or DEFAULT_OUT
    results = run_suite(
        args.workloads or None,
        contenders,
        quick=args.quick,
        repeats=args.repeats,
        threads=args.threads,
        epochs=epochs,
        steps=steps,
        overrides={"W6": {"ensemble": args.members}} if args.members else None,
        checkpoint=lambda partial: write_json(partial, out),
    )
    path = write_json(results, out)
    print(f"wrote {path} ({results['elapsed_s']:.1f} s of benchmarking)")
    if args.summary:
        from benchmarks.harness import render_summary

        Path(args.summary).write_text(render_summary(results))
        print(f"wrote the summary table to {args.summary}")
    if args.readme:
        if not os.path.isfile(args.readme):
            print(f"{args.readme}: no such file; no README updated", file=sys.stderr)
            return 1
        if update_readme(args.readme, render_markdown(results)):
            print(f"updated the benchmark section of {args.readme}")
        else:
            print(f"{args.readme}: no <!-- bench:start --> / <!-- bench:end --> markers; untouched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
