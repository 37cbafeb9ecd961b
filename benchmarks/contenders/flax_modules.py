"""Flax, as its users write it: a module, ``optax.sgd``, a jitted train step called from a
Python loop. ``flax-linen`` uses ``flax.linen`` + ``jax.jit``; ``flax-nnx`` uses ``flax.nnx``
modules, ``nnx.Optimizer`` and ``nnx.jit``.

For the ensemble workload linen ``jax.vmap``s the whole train step over members inside the
jit; nnx builds a stacked model with ``nnx.vmap`` and vmaps its forward pass inside the
``nnx.jit``ted step (the flax docs' ensemble pattern): the summed per-member losses give each
member exactly its own gradient.

Train steps (and the nnx model object) are built once per workload and reused, as a training
script defines them once, so repeated calls measure steady state.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from benchmarks.workloads import Workload

_ACT = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid}


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
    tx = optax.sgd(spec.lr)

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

    if spec.ensemble:
        train_step = jax.vmap(train_step, in_axes=(0, 0, None, None))
        init_opt = jax.vmap(tx.init)
    else:
        init_opt = tx.init
    return jax.jit(train_step), init_opt


def train_linen(spec: Workload, data, init, steps):
    if spec not in _LINEN:
        _LINEN[spec] = _linen_build(spec)
    step, init_opt = _LINEN[spec]
    params = {"params": {}}
    for i, layer in enumerate(init):
        p = {"kernel": jnp.asarray(layer["w"])}
        if "b" in layer:
            p["bias"] = jnp.asarray(layer["b"])
        params["params"][f"Dense_{i}"] = p
    opt_state = init_opt(params)
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

    tx = optax.sgd(spec.lr)
    return make_model(), train_step, tx


def train_nnx(spec: Workload, data, init, steps):
    from flax import nnx

    if spec not in _NNX:
        _NNX[spec] = _nnx_build(spec)
    # The model is built once (an ensemble's vmapped init is slow eagerly) and its weights
    # are reset from `init` on every call.
    model, train_step, tx = _NNX[spec]
    for layer, p in zip(model.layers, init, strict=True):
        layer.kernel[...] = jnp.asarray(p["w"])
        if "b" in p:
            layer.bias[...] = jnp.asarray(p["b"])
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    x, y = jnp.asarray(data["X"]), jnp.asarray(data["y"])
    # flax's performance guide: cache the graph traversal of the arguments that every call
    # repeats (a plain `train_step(model, optimizer, x, y)` costs ~2.5x more per call here).
    cached_step = nnx.cached_partial(train_step, model, optimizer)
    for _ in range(steps):
        cached_step(x, y)
    return [
        {"w": layer.kernel[...]} | ({"b": layer.bias[...]} if layer.bias is not None else {})
        for layer in model.layers
    ]


TRAINERS = {"flax-linen": train_linen, "flax-nnx": train_nnx}
