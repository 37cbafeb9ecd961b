"""Equinox, as its users write it: an ``eqx.Module`` of ``eqx.nn.Linear`` layers applied to
one example (``jax.vmap`` over the batch), ``optax.sgd``, an ``eqx.filter_jit`` train step
called from a Python loop. For the ensemble workloads the models are stacked with
``eqx.filter_vmap`` and the per-member ``value_and_grad`` is ``eqx.filter_vmap``ped inside the
jitted step. The step is defined once per workload and reused across calls.

W5/W6 use ``optax.adam`` and the shared minibatch loop (`minibatch.python_loop`), with a
``filter_jit``ted held-out evaluation after each epoch; in W6 each member gets its own batch.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from benchmarks.contenders.minibatch import python_loop
from benchmarks.workloads import Workload

_ACT = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}


class MLP(eqx.Module):
    layers: list
    hidden: Callable = eqx.field(static=True)
    sigmoid_out: bool = eqx.field(static=True)

    def __init__(self, spec: Workload, key):
        dt = jnp.dtype(spec.dtype)
        pairs = list(zip(spec.sizes[:-1], spec.sizes[1:], strict=True))
        keys = jax.random.split(key, len(pairs))
        self.layers = [
            eqx.nn.Linear(i, o, use_bias=spec.use_bias, dtype=dt, key=k)
            for (i, o), k in zip(pairs, keys, strict=True)
        ]
        self.hidden = _ACT[spec.hidden]
        self.sigmoid_out = spec.output == "sigmoid"

    def __call__(self, x):  # one example
        for layer in self.layers[:-1]:
            x = self.hidden(layer(x))
        x = self.layers[-1](x)
        return jax.nn.sigmoid(x) if self.sigmoid_out else x


def _load(model, init, stacked: bool):
    """Put the shared init into the model (eqx.nn.Linear stores weight as (out, in))."""
    t = (lambda w: jnp.swapaxes(w, -1, -2)) if stacked else (lambda w: w.T)
    for i, p in enumerate(init):
        model = eqx.tree_at(lambda m, i=i: m.layers[i].weight, model, t(jnp.asarray(p["w"])))
        if "b" in p:
            model = eqx.tree_at(lambda m, i=i: m.layers[i].bias, model, jnp.asarray(p["b"]))
    return model


def _export(model, stacked: bool):
    out = []
    for layer in model.layers:
        w = jnp.swapaxes(layer.weight, -1, -2) if stacked else layer.weight.T
        out.append({"w": w} | ({"b": layer.bias} if layer.bias is not None else {}))
    return out


_BUILT: dict = {}


def _build(spec: Workload):
    optim = optax.adam(spec.lr) if spec.optimizer == "adam" else optax.sgd(spec.lr)

    def loss_fn(model, x, y):
        out = jax.vmap(model)(x)
        if spec.loss == "sum_ce":
            loss = optax.losses.softmax_cross_entropy_with_integer_labels(out, y).sum()
        elif spec.loss == "mean_ce":
            loss = optax.losses.softmax_cross_entropy_with_integer_labels(out, y).mean()
        elif spec.loss == "half_sse":
            loss = 0.5 * jnp.sum((out - y) ** 2)
        elif spec.loss == "mse":
            loss = jnp.mean((out - y) ** 2)
        else:
            raise NotImplementedError(spec.loss)
        if spec.l2:
            loss = loss + spec.l2 / 2 * sum(jnp.sum(layer.weight**2) for layer in model.layers)
        return loss

    def held_out(model, x, y):
        logits = jax.vmap(model)(x)
        return loss_fn(model, x, y), jnp.mean(jnp.argmax(logits, axis=-1) == y)

    grad_fn = eqx.filter_value_and_grad(loss_fn)
    if spec.ensemble:
        data_axis = 0 if spec.minibatch else None  # W6: every member its own batch
        grad_fn = eqx.filter_vmap(grad_fn, in_axes=(eqx.if_array(0), data_axis, data_axis))
        held_out = eqx.filter_vmap(held_out, in_axes=(eqx.if_array(0), None, None))

    @eqx.filter_jit
    def step(model, opt_state, x, y):
        loss, grads = grad_fn(model, x, y)
        updates, opt_state = optim.update(grads, opt_state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), opt_state, loss

    if spec.ensemble:
        keys = jax.random.split(jax.random.key(0), spec.ensemble)
        template = eqx.filter_vmap(lambda k: MLP(spec, k))(keys)
    else:
        template = MLP(spec, jax.random.key(0))
    return template, optim, step, eqx.filter_jit(held_out)


def train(spec: Workload, data, init, steps):
    if spec not in _BUILT:
        _BUILT[spec] = _build(spec)
    template, optim, step, held_out = _BUILT[spec]
    stacked = bool(spec.ensemble)
    model = _load(template, init, stacked)
    opt_state = optim.init(eqx.filter(model, eqx.is_array))
    if spec.minibatch:

        def batch_step(state, xb, yb):
            return step(*state, xb, yb)[:2]

        def evaluate(state, xv, yv):
            return held_out(state[0], xv, yv)

        (model, _), _ = python_loop(spec, data, steps, (model, opt_state), batch_step, evaluate)
        return _export(model, stacked)
    x, y = jnp.asarray(data["X"]), jnp.asarray(data["y"])
    for _ in range(steps):
        model, opt_state, loss = step(model, opt_state, x, y)
    return _export(model, stacked)


TRAINERS = {"equinox": train}
