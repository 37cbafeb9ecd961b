"""What bounds W4 and W3? ``python -m benchmarks.profile [W4] [W3] [--steps N] [--trace DIR]``.

Times in CPU seconds of this process (``time.process_time``; run with ``--threads 1``
semantics: XLA's pool is pinned to one thread here), so that other work on a shared machine
inflates them less than wall time; minimum of a few repeats.

W4 (2-256-2 tanh on 10 000 points, full batch):

1. Each kernel of one training step on its own (the forward and backward matmuls, ``tanh``,
   its derivative, the bias sums) beside a plain copy of the 10 000 × 256 activation, and
   their sum beside the whole step: the step is the sum of its kernels, each a pass (or
   several) over that 10 MB array.
2. The optimised HLO of the plain-JAX step: how many ``dot``s and fusions it runs per step
   (XLA:CPU does not fuse a ``dot`` with the elementwise work around it).
3. ``jaxnn.train.fit`` with the stock ``Dense`` vs a user layer that computes the two skinny
   products (contraction over the 2 inputs in the forward pass, over the 2 logits for ``dx``)
   as broadcast multiply-adds, which XLA fuses with the bias, ``tanh`` and ``1 - h²`` around
   them.

W3 (4 096 2-8-1 sigmoid nets on XOR): the ``vmap``ped plain-JAX scan vs the same math written
member-axis-last and unrolled over the 4 examples and 8 hidden units (every op an elementwise
op on 4 096-long vectors), and ``fit_ensemble`` with the stock and the skinny ``Dense``.

``--trace DIR`` also records a ``jax.profiler`` trace of one W4 ``fit`` call (open it with
Perfetto or TensorBoard).
"""

from __future__ import annotations

import argparse
import os
import re
import time

if __name__ == "__main__":  # before JAX starts: one XLA thread, as `--threads 1` does
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "")
        + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    ).strip()

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import workloads as wl
from benchmarks.contenders import jaxnn_fit, plain_jax


def cpu_time(fn, *args, calls: int = 2, repeats: int = 3) -> float:
    """Minimum CPU seconds per call of ``fn(*args)`` (compiled first)."""
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(calls):
            out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, (time.process_time() - t0) / calls)
    return best


# ------------------------------------------------------------------------------------------
# A Dense whose skinny products are broadcast multiply-adds (the proposed library change)
# ------------------------------------------------------------------------------------------

SKINNY = 4  # contractions this short are written out as multiply-adds


def skinny_matmul(x, w):
    """``x @ w``; when ``w`` has at most `SKINNY` rows, as ``Σ_i x[..., i:i+1] * w[i]``."""
    if w.shape[0] <= SKINNY:
        return sum(x[..., i : i + 1] * w[i] for i in range(w.shape[0]))
    return x @ w


def skinny_dense(dense):
    """A user layer with ``dense``'s init and math, its skinny products as multiply-adds."""
    import jaxnn

    def apply(params, x):
        y = skinny_matmul(x, params["w"])
        return y + params["b"] if "b" in params else y

    def vjp(params, x):
        def backward(dy):
            axes = tuple(range(x.ndim - 1))
            grads = {"w": jnp.tensordot(x, dy, axes=(axes, axes))}
            if "b" in params:
                grads["b"] = jnp.sum(dy, axis=axes)
            return grads, skinny_matmul(dy, params["w"].T)

        return apply(params, x), backward

    return jaxnn.Layer(dense.init, apply, vjp, name=f"skinny {dense.name}")


def skinny_model(model):
    import jaxnn

    layers = [skinny_dense(s) if s.name.startswith("Dense") else s for s in model.sublayers]
    return jaxnn.serial(*layers)


def fit_seconds(spec, data, init, steps: int, skinny: bool) -> float:
    """CPU seconds per step of jaxnn's ``fit``/``fit_ensemble`` (manual backprop)."""
    from jaxnn import train

    model, loss, opt, reg = jaxnn_fit._build(spec)
    if skinny:
        model = skinny_model(model)
    params = jaxnn_fit._to_jaxnn(spec, init)
    x, t = jnp.asarray(data["X"]), jnp.asarray(data["y"])
    fn = train.fit_ensemble if spec.ensemble else train.fit
    kw = jaxnn_fit._options(fn, progress=False)

    def run():
        return fn(model, loss, opt, params, x, t, steps=steps, reg=reg, log_every=steps, **kw)[0]

    return cpu_time(run, repeats=5) / steps


# ------------------------------------------------------------------------------------------
# W4
# ------------------------------------------------------------------------------------------


def w4_kernels() -> dict[str, float]:
    """CPU seconds of each kernel of one W4 step, run on its own."""
    spec, data, init = wl.load("W4")
    x = jnp.asarray(data["X"])
    w1, b1, w2 = (jnp.asarray(a) for a in (init[0]["w"], init[0]["b"], init[1]["w"]))
    h = jnp.tanh(x @ w1 + b1)
    d = jnp.ones((len(x), 2), jnp.float32) / len(x)
    kernels = {
        "copy of h (10000×256)": (lambda h: h + 1, h),
        "forward: tanh(x @ w1 + b1)": (lambda x, w, b: jnp.tanh(x @ w + b), x, w1, b1),
        "forward: h @ w2 (N = 2)": (lambda h, w: h @ w, h, w2),
        "backward: dw2 = hᵀ d (K = 10 000, N = 2)": (lambda h, d: h.T @ d, h, d),
        "backward: dh = d @ w2ᵀ (K = 2)": (lambda d, w: d @ w.T, d, w2),
        "backward: dz = dh · (1 − h²)": (lambda a, h: a * (1 - h * h), h, h),
        "backward: dw1 = xᵀ dz": (lambda x, z: x.T @ z, x, h),
        "backward: db1 = Σ dz": (lambda z: z.sum(0), h),
    }
    return {k: cpu_time(jax.jit(f), *a, calls=20) for k, (f, *a) in kernels.items()}


def hlo_counts(compiled_text: str) -> dict[str, int]:
    """Ops in an optimised HLO module: dots, fusions, and everything else."""
    opcode = re.compile(r"\b([a-z][a-z0-9-]*)\(")
    ops = []
    for ln in compiled_text.splitlines():
        if " = " in ln:
            m = opcode.search(ln.split(" = ", 1)[1])
            if m:
                ops.append(m.group(1))
    return {
        "dot": sum(op == "dot" for op in ops),
        "fusion": sum(op == "fusion" for op in ops),
        "instructions": len(ops),
    }


def w4(steps: int) -> dict:
    spec, data, init = wl.load("W4")
    kernels = w4_kernels()
    run = plain_jax._build(spec, steps)
    step = cpu_time(run, init, data["X"], data["y"]) / steps
    hlo = run.lower(init, data["X"], data["y"]).compile().as_text()
    return {
        "kernels": kernels,
        "kernel_sum_s": sum(v for k, v in kernels.items() if not k.startswith("copy")),
        "plain_jax_step_s": step,
        "hlo": hlo_counts(hlo),
        "fit_stock_step_s": fit_seconds(spec, data, init, steps, skinny=False),
        "fit_skinny_step_s": fit_seconds(spec, data, init, steps, skinny=True),
    }


# ------------------------------------------------------------------------------------------
# W3
# ------------------------------------------------------------------------------------------


def members_last_run(spec, data, steps: int):
    """W3 written member-axis-last, unrolled over examples and hidden units: params
    ``(w1 (2, 8, M), b1 (8, M), w2 (8, M), b2 (M,))``; every op acts on M-long vectors."""
    x, y = np.asarray(data["X"], np.float64), np.asarray(data["y"], np.float64)[:, 0]
    n, lr = len(x), spec.lr

    def total(terms):
        out = terms[0]
        for t in terms[1:]:
            out = out + t
        return out

    def step(p, _):
        w1, b1, w2, b2 = p
        h = [jax.nn.sigmoid(float(x[k, 0]) * w1[0] + float(x[k, 1]) * w1[1] + b1) for k in range(n)]
        o = [
            jax.nn.sigmoid(total([h[k][j] * w2[j] for j in range(len(w2))]) + b2) for k in range(n)
        ]
        d2 = [(2.0 / n) * (o[k] - float(y[k])) * o[k] * (1 - o[k]) for k in range(n)]
        d1 = [d2[k] * w2 * h[k] * (1 - h[k]) for k in range(n)]
        dw1 = jnp.stack([total([float(x[k, i]) * d1[k] for k in range(n)]) for i in range(2)])
        grads = (dw1, total(d1), total([h[k] * d2[k] for k in range(n)]), total(d2))
        return tuple(a - lr * g for a, g in zip(p, grads, strict=True)), None

    return jax.jit(lambda p: jax.lax.scan(step, p, None, length=steps)[0])


def w3(steps: int) -> dict:
    spec, data, init = wl.load("W3")
    vmapped = plain_jax._build(spec, steps)
    last = members_last_run(spec, data, steps)
    p_last = (
        jnp.moveaxis(jnp.asarray(init[0]["w"]), 0, -1),
        jnp.moveaxis(jnp.asarray(init[0]["b"]), 0, -1),
        jnp.moveaxis(jnp.asarray(init[1]["w"][..., 0]), 0, -1),
        jnp.asarray(init[1]["b"][:, 0]),
    )
    ref = vmapped(init, data["X"], data["y"])
    got = last(p_last)
    diff = float(jnp.max(jnp.abs(jnp.moveaxis(got[0], -1, 0) - ref[0]["w"])))
    return {
        "plain_jax_vmap_step_s": cpu_time(vmapped, init, data["X"], data["y"]) / steps,
        "members_last_step_s": cpu_time(last, p_last) / steps,
        "members_last_max_abs_diff_w1": diff,
        "fit_ensemble_stock_step_s": fit_seconds(spec, data, init, steps, skinny=False),
        "fit_ensemble_skinny_step_s": fit_seconds(spec, data, init, steps, skinny=True),
    }


def _print(name: str, res: dict) -> None:
    print(f"\n{name}")
    for k, v in res.items():
        if isinstance(v, dict):
            for kk, vv in v.items():
                print(
                    f"  {kk:45s} {vv * 1e3:9.3f} ms" if isinstance(vv, float) else f"  {kk}: {vv}"
                )
        elif k.endswith("_s"):
            print(f"  {k:45s} {v * 1e6:9.1f} µs")
        else:
            print(f"  {k:45s} {v}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    p.add_argument("workloads", nargs="*", default=["W4", "W3"])
    p.add_argument("--steps", type=int, default=50, help="steps per timed run")
    p.add_argument("--trace", metavar="DIR", help="write a jax.profiler trace of a W4 fit")
    args = p.parse_args(argv)
    for name in args.workloads:
        _print(name, {"W4": w4, "W3": w3}[name](args.steps))
    if args.trace:
        spec, data, init = wl.load("W4")
        jaxnn_fit.train_manual(spec, data, init, args.steps)  # compile outside the trace
        with jax.profiler.trace(args.trace):
            jax.block_until_ready(jaxnn_fit.train_manual(spec, data, init, args.steps))
        print(f"trace written under {args.trace}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
