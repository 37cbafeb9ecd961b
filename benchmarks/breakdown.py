"""Where does jaxnn's training time go? ``python -m benchmarks.breakdown [W1 ...] [--steps N]``.

For each workload, times (median of alternated runs, compile excluded) four programs that do
the same updates:

1. ``plain-jax``: the floor (``benchmarks.contenders.plain_jax``).
2. ``bare scan, jaxnn.grad``: a ``lax.scan`` of jaxnn's public hand-written
   ``jaxnn.grad(model, loss, reg=...)`` followed by the same ``optax.sgd`` update jaxnn uses,
   in one ``jax.jit``; no logging, no divergence guard. Its distance from (1) is the cost of
   jaxnn's layer/loss math itself.
3. ``bare scan, jaxnn.autodiff_grad``: the same with ``jax.grad`` through ``model.apply``.
4. ``jaxnn.train.fit`` manual / autodiff (``fit_ensemble`` for W3), as the benchmark calls
   them. Its distance from (2)/(3) is what the training loop adds around the gradient
   (logging, divergence tracking, history, the Python around the compiled call).

Uses only jaxnn's public API. Prints µs per step and ratios to plain-jax.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import optax

import jaxnn
from benchmarks import workloads as wl
from benchmarks.contenders import jaxnn_fit, plain_jax


def _bare_scan(spec, grad_fn, opt, steps):
    def run(params, x, target):
        def step(carry, _):
            params, opt_state = carry
            grads = grad_fn(params, x, target)
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
        return params

    if spec.ensemble:
        run = jax.vmap(run, in_axes=(0, None, None))
    return jax.jit(run)


def breakdown(name: str, steps: int | None = None, repeats: int = 5) -> dict[str, float]:
    spec, data, init = wl.load(name)
    steps = steps or spec.steps
    with jax.enable_x64(spec.dtype == "float64"):
        model, loss, opt, reg = jaxnn_fit._build(spec)
        params = jaxnn_fit._to_jaxnn(spec, init)
        x, target = jax.numpy.asarray(data["X"]), jax.numpy.asarray(data["y"])
        manual = _bare_scan(spec, jaxnn.grad(model, loss, reg=reg), opt, steps)
        auto = _bare_scan(spec, jaxnn.autodiff_grad(model, loss, reg=reg), opt, steps)
        programs = {
            "plain-jax": lambda: plain_jax.train(spec, data, init, steps),
            "bare scan, jaxnn.grad": lambda: manual(params, x, target),
            "bare scan, jaxnn.autodiff_grad": lambda: auto(params, x, target),
            "fit, manual": lambda: jaxnn_fit.train_manual(spec, data, init, steps),
            "fit, autodiff": lambda: jaxnn_fit.train_autodiff(spec, data, init, steps),
        }
        for f in programs.values():  # compile
            jax.block_until_ready(f())
        times: dict[str, list[float]] = {k: [] for k in programs}
        for _ in range(repeats):
            for k, f in programs.items():
                t0 = time.perf_counter()
                jax.block_until_ready(f())
                times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) / steps for k, v in times.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.breakdown", description=__doc__)
    p.add_argument("workloads", nargs="*", default=["W1", "W2", "W3", "W4"])
    p.add_argument("--steps", type=int, help="steps per run (default: the workload's)")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    for name in args.workloads:
        per_step = breakdown(name, args.steps, args.repeats)
        floor = per_step["plain-jax"]
        print(f"\n{name} ({wl.WORKLOADS[name].description})")
        for k, v in per_step.items():
            print(f"  {k:32s} {v * 1e6:10.2f} µs/step   {v / floor:5.2f}× plain-jax")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
