"""Padding narrow nets to one width, so a width sweep is one vmapped program.

`Mask` multiplies its input by a per-unit 0/1 mask held in its params (``{"mask": (n,)}``). The
mask is a constant: ``apply`` wraps it in ``stop_gradient`` and the hand-written ``vjp`` returns a
zero gradient for it, so no optimizer moves it and ``losses.l2`` (which decays only ``"w"``)
ignores it. Placed after a hidden activation, a masked unit outputs 0 and receives a zero
cotangent, so the weights into and out of it get zero gradients. `pad_hidden` starts those
weights at 0 too; a padded net then trains exactly like the narrow one, up to the order of
floating-point sums.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn.layers import Layer


def Mask() -> Layer:
    """``y = x * mask`` with a constant, per-unit mask (ones at init)."""

    def init(key, input_shape):
        return tuple(input_shape), {"mask": jnp.ones(input_shape[-1:], jnp.float32)}

    def apply(params, x):
        return x * jax.lax.stop_gradient(params["mask"])

    def vjp(params, x):
        mask = params["mask"]
        return x * mask, lambda dy: ({"mask": jnp.zeros_like(mask)}, dy * mask)

    return Layer(init, apply, vjp, name="Mask", surrogate="mask is a constant (zero gradient)")


def pad_hidden(params, width: int):
    """A ``(Dense, act, Dense)`` params tuple of hidden width ``h`` → ``(Dense, act, Mask, Dense)``
    of hidden width ``width``: the first ``h`` units are the given ones, the rest zero and masked.

    Works on NumPy arrays (no per-shape compiles); returns NumPy arrays of the input's dtype.
    """
    first, act, second = (jax.tree.map(np.asarray, p) for p in params)
    h = first["w"].shape[1]
    pad = width - h
    return (
        {"w": np.pad(first["w"], ((0, 0), (0, pad))), "b": np.pad(first["b"], (0, pad))},
        act,
        {"mask": (np.arange(width) < h).astype(first["w"].dtype)},
        {"w": np.pad(second["w"], ((0, pad), (0, 0))), "b": second["b"]},
    )


def unpad_hidden(params, h: int):
    """Inverse of `pad_hidden` for one member: the live units' ``(Dense, act, Dense)`` params."""
    first, act, _, second = params
    return (
        {"w": first["w"][:, :h], "b": first["b"][:h]},
        act,
        {"w": second["w"][:h], "b": second["b"]},
    )


def Choice(activations: tuple[str, ...]) -> Layer:
    """``y = Σ_k s_k · f_k(x)``: the activation picked by a constant one-hot ``s`` in the params.

    Lets one vmapped program train nets that differ only in their hidden activation: member
    ``i`` holds ``{"select": onehot(i)}``. Like `Mask`, the selector is a constant
    (``stop_gradient``; zero in the hand-written ``vjp``). ``activations`` are names as
    `jaxnn.mlp` takes them ("tanh", "sigmoid", "relu", "leaky_relu", ...).
    """
    from jaxnn.layers import ACTIVATIONS

    layers = tuple(ACTIVATIONS[a]() for a in activations)

    def init(key, input_shape):
        return tuple(input_shape), {"select": jnp.eye(len(layers), dtype=jnp.float32)[0]}

    def apply(params, x):
        select = jax.lax.stop_gradient(params["select"])
        return sum(s * layer.apply((), x) for s, layer in zip(select, layers, strict=True))

    def vjp(params, x):
        select = params["select"]
        pieces = [layer.vjp((), x) for layer in layers]
        y = sum(s * out for s, (out, _) in zip(select, pieces, strict=True))

        def backward(dy):
            dx = sum(s * back(dy)[1] for s, (_, back) in zip(select, pieces, strict=True))
            return {"select": jnp.zeros_like(select)}, dx

        return y, backward

    return Layer(init, apply, vjp, name=f"Choice{activations}", surrogate="selector is a constant")


def one_hot_choice(params, index: int, n: int):
    """``pad_hidden`` params with their activation's ``()`` replaced by selector ``index``."""
    first, _, mask, second = params
    return first, {"select": np.eye(n, dtype=first["w"].dtype)[index]}, mask, second
