"""The floor: the workload's math written directly in JAX, the whole run one jitted lax.scan.

``loss`` is a plain function of a list of ``{"w", "b"}`` dicts, gradients come from
``jax.grad``, the update is ``p - lr * g``. For the ensemble workload the whole scan is
``jax.vmap``ped over members. Nothing here knows about jaxnn; jaxnn should not add to it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from benchmarks.workloads import Workload

_ACT = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid}


def make_loss(spec: Workload):
    act = _ACT[spec.hidden]

    def forward(params, X):
        h = X
        for i, layer in enumerate(params):
            h = h @ layer["w"]
            if "b" in layer:
                h = h + layer["b"]
            if i < len(params) - 1:
                h = act(h)
        return jax.nn.sigmoid(h) if spec.output == "sigmoid" else h

    def loss(params, X, y):
        out = forward(params, X)
        if spec.loss in ("sum_ce", "mean_ce"):
            logp = jax.nn.log_softmax(out, axis=-1)
            nll = -jnp.take_along_axis(logp, y[:, None], axis=-1)[:, 0]
            value = jnp.sum(nll) if spec.loss == "sum_ce" else jnp.mean(nll)
        elif spec.loss == "half_sse":
            value = 0.5 * jnp.sum((out - y) ** 2)
        elif spec.loss == "mse":
            value = jnp.mean((out - y) ** 2)
        else:
            raise NotImplementedError(spec.loss)
        if spec.l2:
            value = value + spec.l2 / 2 * sum(jnp.sum(layer["w"] ** 2) for layer in params)
        return value

    return loss


_COMPILED: dict = {}


def _build(spec: Workload, steps: int):
    loss = make_loss(spec)
    grad = jax.grad(loss)
    lr = spec.lr

    def run(params, X, y):
        def step(p, _):
            g = grad(p, X, y)
            return jax.tree.map(lambda a, b: a - lr * b, p, g), None

        params, _ = jax.lax.scan(step, params, None, length=steps)
        return params

    if spec.ensemble:
        run = jax.vmap(run, in_axes=(0, None, None))
    return jax.jit(run)


def train(spec: Workload, data, init, steps):
    key = (spec, steps)
    if key not in _COMPILED:
        _COMPILED[key] = _build(spec, steps)
    return _COMPILED[key](init, data["X"], data["y"])


TRAINERS = {"plain-jax": train}
