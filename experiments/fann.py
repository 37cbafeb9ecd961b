"""FANN, AND with symmetric sigmoids: 2-4-1 tanh, -1/1 data, RPROP, save, load, run.

FANN's default trainer is RPROP (``optax.rprop``: the same sign-based, per-weight adaptive step;
initial step 0.1 = FANN's ``rprop_delta_zero``, η⁻ 0.5, η⁺ 1.2, as FANN's defaults). FANN starts
weights uniform in [-0.1, 0.1], biases included. ``train_on_file("and.data", 10000, 1000,
0.00001)``: at most 10 000 epochs, a report every 1 000, stop once the MSE is below 1e-5. The
MSE here is the plain mean squared error; FANN halves the difference for symmetric activations,
so its MSE is a quarter of this one and our stopping rule is the stricter. The trained network
is saved with `jaxnn.io.save`, loaded back and run.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments.common import data, key_init
from experiments.spec import Experiment, Train
from jaxnn import Dense, Tanh, datasets, io, losses, serial

MAX_EPOCHS, REPORT_EVERY, DESIRED_ERROR = 10_000, 1_000, 1e-5


def fann_uniform(key, shape, dtype=jnp.float32):
    """FANN's ``randomize_weights(-0.1, 0.1)``."""
    return jax.random.uniform(key, shape, dtype, -0.1, 0.1)


model = serial(
    Dense(4, w_init=fann_uniform, b_init=fann_uniform),
    Tanh(),
    Dense(1, w_init=fann_uniform, b_init=fann_uniform),
    Tanh(),
)


def show(result, ctx):
    mse = np.asarray(result.history["loss"])
    ctx.print(f"Max epochs {MAX_EPOCHS:8d}. Desired error: {DESIRED_ERROR:.10f}.")
    for epoch in sorted({1, *range(REPORT_EVERY, result.steps + 1, REPORT_EVERY), result.steps}):
        ctx.print(f"Epochs {epoch:8d}. Current error: {mse[epoch - 1]:.10f}.")
    stopped = bool(mse[-1] < DESIRED_ERROR)
    ctx.compare(
        "epochs trained (stop when MSE < 1e-5)",
        result.steps,
        "≤ 10000",
        result.steps <= MAX_EPOCHS and stopped,
        key="epochs",
    )
    ctx.record("mse", mse)

    path = ctx.path("and.net")
    io.save(path, result.params)
    loaded = io.load(path)
    same = all(
        np.array_equal(a, b) and a.dtype == b.dtype
        for a, b in zip(jax.tree.leaves(result.params), jax.tree.leaves(loaded), strict=True)
    )
    ctx.print(f"saved to {path.name}, loaded back: identical = {same}")
    ctx.compare("save → load round trip is exact", same, True, same, key="roundtrip_exact")
    for x in np.asarray(result.x):
        out = np.asarray(result.apply(loaded, jnp.asarray(x)))
        ctx.print(f"run({x.tolist()}) -> {[round(float(v), 6) for v in out]}")
        if x.tolist() == [-1.0, 1.0]:
            ok = round(float(out[0]), 1) == -1.0
            ctx.compare(
                "loaded net's output for (-1, 1)",
                f"{float(out[0]):.6f}",
                "-1.0",
                ok,
            )
        ctx.record(f"output_{'_'.join(f'{v:g}' for v in x)}", float(out[0]))


EXPERIMENT = Experiment(
    name="fann",
    title="FANN: AND with tanh units, trained by RPROP, saved and loaded",
    source="FANN (Fast Artificial Neural Network Library), “Getting Started”: the AND/XOR "
    "example through its Python bindings",
    url="http://leenissen.dk/fann/wp/help/getting-started/",
    notes="2-4-1 tanh/tanh, -1/1 AND data, `losses.mse`, `optax.rprop(0.1)` (FANN's defaults), "
    "weights uniform in [-0.1, 0.1] from a JAX key, up to 10 000 epochs or until MSE < 1e-5; "
    "`jaxnn.io.save` → `jaxnn.io.load` → run.",
    parts=(
        Train(
            name="and_rprop",
            data=data(datasets.and_gate, "symmetric"),
            model=model,
            loss=losses.mse,
            optimizer=optax.rprop(0.1),
            params=key_init(model, (2,), 0),
            steps=MAX_EPOCHS,
            until=DESIRED_ERROR,
            show=show,
        ),
    ),
)
