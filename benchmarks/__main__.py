"""``python -m benchmarks [W1 W2 W3 W4] [--quick] [--out PATH] [--readme README.md]``."""

from __future__ import annotations

import argparse
import sys

from benchmarks.contenders import CONTENDERS
from benchmarks.harness import DEFAULT_OUT, render_markdown, run_suite, update_readme, write_json
from benchmarks.workloads import WORKLOADS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Same-work benchmarks: jaxnn vs plain JAX, NumPy, PyTorch, Flax, Equinox.",
    )
    p.add_argument("workloads", nargs="*", metavar="W", help=f"some of {', '.join(WORKLOADS)}")
    p.add_argument("--quick", action="store_true", help="steps / 100 (min 10), 1 repeat")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="JSON results (default: %(default)s)")
    p.add_argument(
        "--readme",
        metavar="PATH",
        help="replace the text between <!-- bench:start --> and <!-- bench:end --> in PATH",
    )
    p.add_argument(
        "--contenders",
        help=f"comma-separated subset of: {', '.join(CONTENDERS)}",
    )
    p.add_argument(
        "--repeats", type=int, help="steady-state runs per contender (default 5, quick 1)"
    )
    args = p.parse_args(argv)
    for w in args.workloads:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}; expected some of {', '.join(WORKLOADS)}")
    contenders = None
    if args.contenders:
        contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
        bad = [c for c in contenders if c not in CONTENDERS]
        if bad:
            p.error(f"unknown contender(s) {bad}; expected some of {', '.join(CONTENDERS)}")
    results = run_suite(args.workloads or None, contenders, quick=args.quick, repeats=args.repeats)
    path = write_json(results, args.out)
    print(f"wrote {path} ({results['elapsed_s']:.1f} s of benchmarking)")
    if args.readme:
        if update_readme(args.readme, render_markdown(results)):
            print(f"updated the benchmark section of {args.readme}")
        else:
            print(f"{args.readme}: no <!-- bench:start --> / <!-- bench:end --> markers; untouched")
    return 0


if __name__ == "__main__":
    sys.exit(main())
