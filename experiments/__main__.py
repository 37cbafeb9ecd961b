"""``python -m experiments [NAME ...] [options]``: run the experiments, write a report."""

from __future__ import annotations

import argparse
import sys

DESCRIPTION = """\
Run every tutorial as a declarative, jitted jaxnn experiment (or only the NAMEs given).
Each prints what its tutorial prints, in the tutorial's form, and writes <name>.json and
figures named <name>_*.png (and .gif); index.html is one self-contained page (open it in a
browser, no network needed) putting each number beside the tutorial's, with every figure;
report.md says the same in Markdown. Experiments, in order: perceptron, trask, loy, lins,
moons, fann, ensemble, sweeps, britz-exercises (the tutorial's exercises), digits (Klein's
next chapters: held-out test set, dropout, early stopping, 256 seeds at once)."""

EPILOG = """\
examples:
  python -m experiments                         everything, into runs/<timestamp>/
  python -m experiments trask moons --out tmp   two experiments into tmp/
  python -m experiments lins --input 1 0 1      the single neuron's answer for 1 0 1
  python -m experiments ensemble --seeds 10000 --dtype float32 --device gpu"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m experiments",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="experiments to run (default: all): perceptron, trask, loy, lins, moons, fann, "
        "ensemble, sweeps, britz-exercises, digits",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="output directory (default: runs/<timestamp>/, with runs/latest pointing at it)",
    )
    p.add_argument(
        "--backprop",
        choices=("manual", "autodiff", "both"),
        default="both",
        help="gradient path for every trained part: the layers' hand-written vjps, jax.grad, "
        "or both (default; the first, manual, is shown and the report states how far the two "
        "runs' params end apart)",
    )
    p.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float64",
        help="floating type of data and params (default float64: the tutorials' published "
        "digits come from NumPy float64 and are only reproduced, and only compared, in "
        "float64 at full step counts)",
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=1000,
        metavar="N",
        help="ensemble: number of random XOR inits trained in one program (default 1000); "
        "digits trains min(256, N) seeds",
    )
    p.add_argument(
        "--steps-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply every step count (and print interval) by F, e.g. 0.01 for a smoke run; "
        "digits are then not compared (default 1)",
    )
    p.add_argument(
        "--device",
        choices=("cpu", "gpu", "tpu"),
        help="JAX platform to run on: sets jax_default_device to its first device before "
        "anything runs (experiments never name a device; default: JAX's choice)",
    )
    p.add_argument(
        "--input",
        type=float,
        nargs=3,
        default=(1.0, 0.0, 1.0),
        metavar=("I1", "I2", "I3"),
        help="lins: the three inputs the tutorial asks for with input() (default 1 0 1, for "
        "which the sigmoid neuron answers ≈ 0.9936)",
    )
    p.add_argument(
        "--activation",
        choices=("sigmoid", "tanh", "relu"),
        default="sigmoid",
        help="lins: the neuron's activation (default sigmoid, the tutorial's; tanh and relu "
        "are the variants it suggests)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress bars (default: bars on long parts when stderr is a terminal)",
    )
    return p


def select_device(platform: str | None) -> None:
    """Make ``platform`` JAX's platform and default device; experiments never name one."""
    if platform is None:
        return
    import jax

    try:
        device = jax.devices(platform)[0]  # "gpu" covers CUDA and ROCm
    except RuntimeError as e:
        raise SystemExit(f"--device {platform}: no such device available ({e})") from None
    jax.config.update("jax_default_device", device)


def enable_compile_cache() -> None:
    """JAX's on-disk compilation cache, so a second run loads its programs instead of compiling.

    In ``$JAXNN_COMPILE_CACHE`` (``0`` turns it off), default ``~/.cache/jaxnn/experiments``;
    a cache already chosen (``JAX_COMPILATION_CACHE_DIR``) is kept. An application may enable
    it; the jaxnn library never does.
    """
    import os

    import jax

    setting = os.environ.get("JAXNN_COMPILE_CACHE", "")
    if setting == "0" or jax.config.jax_compilation_cache_dir:
        return
    from jaxnn import cache

    default = os.path.join(os.path.expanduser("~"), ".cache", "jaxnn", "experiments")
    cache.enable_persistent_cache(setting or default)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    select_device(args.device)
    enable_compile_cache()

    from experiments import REGISTRY, runner, spec

    unknown = [n for n in args.names if n not in REGISTRY]
    if unknown:
        parser().error(f"unknown experiment(s) {unknown}; choose from {list(REGISTRY)}")
    config = spec.Config(
        backprop=args.backprop,
        dtype=args.dtype,
        seeds=args.seeds,
        steps_scale=args.steps_scale,
        input=tuple(args.input),
        activation=args.activation,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    runner.run(args.names or None, out=args.out, config=config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
