"""Test helpers for users' own layers: one line proves a hand-written ``vjp``.

def test_my_layer():
    jaxnn.testing.assert_layer_grads(MyLayer(4), (3,))
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxnn.gradcheck import GradReport, check_grads
from jaxnn.layers import Layer
from jaxnn.losses import Loss


def _probe(cotangent) -> Loss:
    """``⟨y, c⟩`` for a fixed random ``c``: its gradient through a layer is ``vjp(c)``."""

    def value(pred, target):
        if pred.shape != cotangent.shape:
            raise ValueError(
                f"assert_layer_grads: layer output has shape {pred.shape}, but its init "
                f"promised {cotangent.shape}"
            )
        return jnp.sum(pred * cotangent)

    def vjp(pred, target):
        return value(pred, target), lambda g: g * cotangent

    return Loss(value, vjp, name="⟨y, random cotangent⟩")


def assert_layer_grads(
    layer: Layer,
    input_shape: tuple[int, ...],
    *,
    key: jax.Array | None = None,
    batch_shape: tuple[int, ...] = (3,),
    scale: float = 1.0,
) -> GradReport:
    """Assert that ``layer.vjp`` agrees with ``jax.vjp(layer.apply)`` and finite differences.

    Runs in float64 (params and inputs are cast), once on a batch of ``batch_shape`` examples
    and once on a single example with no batch dim. Inputs are standard normal times ``scale``.
    Raises ``AssertionError`` carrying the report (which names the wrong leaf and its error);
    returns the batched report when everything agrees.
    """
    key = jax.random.key(0) if key is None else key
    report = None
    with jax.enable_x64(True):
        init_key, x_key, c_key = jax.random.split(key, 3)
        out_shape, params = layer.init(init_key, tuple(input_shape))
        params = jax.tree.map(
            lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a,
            params,
        )
        for batch in (tuple(batch_shape), ()):
            x = scale * jax.random.normal(x_key, (*batch, *input_shape), jnp.float64)
            cotangent = jax.random.normal(c_key, (*batch, *out_shape), jnp.float64)
            result = check_grads(layer, _probe(cotangent), params, x, None)
            if not result.ok:
                raise AssertionError(
                    f"{layer.name}: hand-written vjp disagrees (batch shape {batch}):\n{result}"
                )
            report = report or result
    return report
