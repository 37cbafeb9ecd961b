"""Flax, as its users write it: a module, ``optax.sgd``, a jitted train step called from a
Python loop. ``flax-linen`` uses ``flax.linen`` + ``jax.jit``; ``flax-nnx`` uses ``flax.nnx``
modules, ``nnx.Optimizer`` and ``nnx.jit``.

For the ensemble workload linen ``jax.vmap``s the whole train step over members inside the
jit; nnx builds a stacked model with ``nnx.vmap`` and vmaps its forward pass inside the
``nnx.jit``ted step (the flax docs' ensemble pattern): the summed per-member losses give each
member exactly its own gradient.

Train steps (and the nnx model object) are built once per workload and reused, as a training
script defines them once, so repeated calls measure steady state.

W5/W6 use ``optax.adam`` and the shared minibatch loop (`minibatch.python_loop`) with a jitted
held-out evaluation after each epoch; linen's W6 step is ``jax.vmap``ped over members, each
with its own batch (nnx runs W5 only).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from benchmarks.contenders.minibatch import python_loop
from benchmarks.workloads import Workload

_ACT = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}


def _optimizer(spec: Workload):
    return optax.adam(spec.lr) if spec.optimizer == "adam" else optax.sgd(spec.lr)


def _accuracy(logits, y):
    return jnp.mean(jnp.argmax(logits, axis=-1) == y)


def _data_loss(spec: Workload, out, y):
    if spec.loss == "sum_ce":
        return optax.losses.softmax_cross_entropy_with_integer_labels(out, y).sum()
    if spec.loss == "mean_ce":
        return optax.losses.softmax_cross_entropy_with_integer_labels(out, y).mean()
    if spec.loss == "half_sse":
        return 0.5 * jnp.sum((out - y) ** 2)
    if spec.loss == "mse":
        return jnp.mean((out - y) ** 2)
    raise NotImplementedError(spec.loss)


# ------------------------------------------------------------------------------------------
# linen
# ------------------------------------------------------------------------------------------

_LINEN: dict = {}


def _linen_build(spec: Workload):
    import flax.linen as nn

    class MLP(nn.Module):
        sizes: tuple[int, ...]
        hidden: str
        output: str
        use_bias: bool
        dtype: Any

        @nn.compact
        def __call__(self, x):
            for i, features in enumerate(self.sizes[1:]):
                x = nn.Dense(
                    features, use_bias=self.use_bias, dtype=self.dtype, param_dtype=self.dtype
                )(x)
                if i < len(self.sizes) - 2:
                    x = _ACT[self.hidden](x)
            return nn.sigmoid(x) if self.output == "sigmoid" else x

    model = MLP(spec.sizes, spec.hidden, spec.output, spec.use_bias, jnp.dtype(spec.dtype))
    tx = _optimizer(spec)

    def loss_fn(params, x, y):
        loss = _data_loss(spec, model.apply(params, x), y)
        if spec.l2:
            kernels = [layer["kernel"] for layer in params["params"].values()]
            loss = loss + spec.l2 / 2 * sum(jnp.sum(k**2) for k in kernels)
        return loss

    def train_step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def held_out(params, x, y):
        return loss_fn(params, x, y), _accuracy(model.apply(params, x), y)

    if spec.ensemble:
        data_axis = 0 if spec.minibatch else None  # W6: every member its own batch
        train_step = jax.vmap(train_step, in_axes=(0, 0, data_axis, data_axis))
        held_out = jax.vmap(held_out, in_axes=(0, None, None))
        init_opt = jax.vmap(tx.init)
    else:
        init_opt = tx.init
    return jax.jit(train_step), init_opt, jax.jit(held_out)


def train_linen(spec: Workload, data, init, steps):
    if spec not in _LINEN:
        _LINEN[spec] = _linen_build(spec)
    step, init_opt, held_out = _LINEN[spec]
    params = {"params": {}}
    for i, layer in enumerate(init):
        p = {"kernel": jnp.asarray(layer["w"])}
        if "b" in layer:
            p["bias"] = jnp.asarray(layer["b"])
        params["params"][f"Dense_{i}"] = p
    opt_state = init_opt(params)
    if spec.minibatch:

        def batch_step(state, xb, yb):
            return step(*state, xb, yb)[:2]

        def evaluate(state, xv, yv):
            return held_out(state[0], xv, yv)

        (params, _), _ = python_loop(spec, data, steps, (params, opt_state), batch_step, evaluate)
    else:
        x, y = jnp.asarray(data["X"]), jnp.asarray(data["y"])
        for _ in range(steps):
            params, opt_state, loss = step(params, opt_state, x, y)
    out = []
    for i in range(len(init)):
        p = params["params"][f"Dense_{i}"]
        out.append({"w": p["kernel"]} | ({"b": p["bias"]} if "bias" in p else {}))
    return out


# ------------------------------------------------------------------------------------------
# nnx
# ------------------------------------------------------------------------------------------

_NNX: dict = {}


def _nnx_build(spec: Workload):
    from flax import nnx

    dt = jnp.dtype(spec.dtype)

    class MLP(nnx.Module):
        def __init__(self, rngs: nnx.Rngs):
            pairs = zip(spec.sizes[:-1], spec.sizes[1:], strict=True)
            self.layers = nnx.List(
                [
                    nnx.Linear(i, o, use_bias=spec.use_bias, dtype=dt, param_dtype=dt, rngs=rngs)
                    for i, o in pairs
                ]
            )

        def __call__(self, x):
            for i, layer in enumerate(self.layers):
                x = layer(x)
                if i < len(self.layers) - 1:
                    x = _ACT[spec.hidden](x)
            return nnx.sigmoid(x) if spec.output == "sigmoid" else x

    def l2(model):
        return spec.l2 / 2 * sum(jnp.sum(layer.kernel[...] ** 2) for layer in model.layers)

    if spec.ensemble:

        @nnx.split_rngs(splits=spec.ensemble)
        @nnx.vmap(in_axes=(0,))
        def create(rngs):
            return MLP(rngs)

        def make_model():
            return create(nnx.Rngs(0))

        def loss_fn(model, x, y):
            @nnx.vmap(in_axes=(0, None))
            def forward(member, x):
                return member(x)

            pred = forward(model, x)  # (members, n, out)
            # Sum over members of each member's own MSE: each member's gradient is its own.
            return jnp.sum(jnp.mean((pred - y) ** 2, axis=(1, 2)))

    else:

        def make_model():
            return MLP(nnx.Rngs(0))

        def loss_fn(model, x, y):
            loss = _data_loss(spec, model(x), y)
            return loss + l2(model) if spec.l2 else loss

    @nnx.jit
    def train_step(model, optimizer, x, y):
        loss, grads = nnx.value_and_grad(loss_fn)(model, x, y)
        optimizer.update(model, grads)
        return loss

    @nnx.jit
    def held_out(model, x, y):
        return loss_fn(model, x, y), _accuracy(model(x), y)

    return make_model(), train_step, _optimizer(spec), held_out


def train_nnx(spec: Workload, data, init, steps):
    from flax import nnx

    if spec not in _NNX:
        _NNX[spec] = _nnx_build(spec)
    # The model is built once (an ensemble's vmapped init is slow eagerly) and its weights
    # are reset from `init` on every call.
    model, train_step, tx, held_out = _NNX[spec]
    for layer, p in zip(model.layers, init, strict=True):
        layer.kernel[...] = jnp.asarray(p["w"])
        if "b" in p:
            layer.bias[...] = jnp.asarray(p["b"])
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    # flax's performance guide: cache the graph traversal of the arguments that every call
    # repeats (a plain `train_step(model, optimizer, x, y)` costs ~2.5x more per call here).
    cached_step = nnx.cached_partial(train_step, model, optimizer)
    if spec.minibatch:
        if spec.ensemble:
            raise NotImplementedError("flax-nnx runs W5, not the W6 ensemble")
        cached_eval = nnx.cached_partial(held_out, model)

        def batch_step(state, xb, yb):
            cached_step(xb, yb)
            return state

        python_loop(spec, data, steps, None, batch_step, lambda _, xv, yv: cached_eval(xv, yv))
    else:
        x, y = jnp.asarray(data["X"]), jnp.asarray(data["y"])
        for _ in range(steps):
            cached_step(x, y)
    return [
        {"w": layer.kernel[...]} | ({"b": layer.bias[...]} if layer.bias is not None else {})
        for layer in model.layers
    ]


TRAINERS = {"flax-linen": train_linen, "flax-nnx": train_nnx}
