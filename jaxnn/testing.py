"""Test helpers for users' own layers: one line proves a hand-written ``vjp``.

def test_my_layer():
    jaxnn.testing.assert_layer_grads(MyLayer(4), (3,))
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import validate
from jaxnn.gradcheck import GradReport, check_layer_probe
from jaxnn.losses import Loss

__all__ = ["PROBE_LOSS", "assert_layer_grads"]


def _probe_value(pred, cotangent):
    """``⟨y, c⟩``: its gradient through a layer is ``vjp(c)``, for any cotangent ``c``."""
    if pred.shape != cotangent.shape:
        raise ValueError(
            f"assert_layer_grads: layer output has shape {pred.shape}, but its init "
            f"promised {cotangent.shape}"
        )
    return jnp.sum(pred * cotangent)


def _probe_vjp(pred, cotangent):
    return _probe_value(pred, cotangent), lambda g: g * cotangent


PROBE_LOSS = Loss(_probe_value, _probe_vjp, name="⟨y, random cotangent⟩")
"""The loss `assert_layer_grads` checks through: the cotangent is its target, so one compiled
checker serves every probe of a layer."""

# Values an input is set to in the kink probe: where elementwise layers usually bend.
_KINK_GRID = np.array([-2.0, -1.0, -0.5, 0.0, 0.0, 0.0, 0.5, 1.0, 2.0])


def assert_layer_grads(
    layer,
    input_shape: tuple[int, ...],
    *,
    key: jax.Array | None = None,
    batch_shape: tuple[int, ...] = (3,),
    scale: float = 1.0,
    saturation: float = 30.0,
) -> GradReport:
    """Assert that ``layer.vjp`` agrees with ``jax.vjp(layer.apply)`` and finite differences.

    Runs in float64 (params and inputs are cast) on the inputs bugs hide behind, each checked
    with `check_grads` through ``⟨y, c⟩`` for a random cotangent ``c``:

    1. a batch of ``batch_shape`` standard normal examples times ``scale``;
    2. a single example with no batch dim (a bias summed over the wrong axis shows only here);
    3. a batch of one (a squeeze or a mean over the batch shows here);
    4. a saturated batch (inputs times ``saturation``: sigmoid/tanh tails);
    5. a kink probe: inputs on a grid of 0, ±0.5, ±1, ±2 with zero biases, so inputs sit
       exactly on the usual kinks (a ReLU derivative written with ``x >= 0`` fails only here).

    A stochastic layer is checked at a fixed key (its training-mode mask) and without one.

    Returns:
      The report of probe 1 when every probe agrees.

    Raises:
      AssertionError: naming the layer, the probe and the wrong leaves, with the failing
        `GradReport` as ``.report``.
      TypeError: a vjp whose backward does not return ``(dparams, dx)`` (named with the fix).
    """
    validate.require_layer(layer, "assert_layer_grads", arg="layer")
    key = jax.random.key(0) if key is None else key
    first = None
    with jax.enable_x64(True):
        init_key, x_key, c_key, layer_key = jax.random.split(key, 4)
        out_shape, params = layer.init(init_key, tuple(input_shape))
        params = jax.tree.map(_to64, params)
        batch = tuple(batch_shape)
        probes = [
            ("batch " + str(batch), batch, scale, False),
            ("a single example, no batch dim", (), scale, False),
            ("a batch of one", (1,), scale, False),
            (f"saturated inputs (×{saturation:g})", batch, scale * saturation, False),
            ("inputs exactly on kinks (0, ±0.5, ±1, ±2; zero biases)", batch, scale, True),
        ]
        keys = [layer_key, None] if getattr(layer, "stochastic", False) else [None]
        for what, shape, size, on_kinks in probes:
            x = size * jax.random.normal(x_key, (*shape, *input_shape), jnp.float64)
            p = params
            if on_kinks:
                rng = np.random.default_rng(0)
                grid = rng.choice(_KINK_GRID, (*shape, *input_shape))
                if shape:  # one whole example at 0: after a bias-free Dense, still 0
                    grid.reshape(-1, *input_shape)[0] = 0.0
                x = jnp.asarray(grid, jnp.float64)
                p = _zero_biases(params)
            cotangent = jax.random.normal(c_key, (*shape, *out_shape), jnp.float64)
            for k in keys:
                report = check_layer_probe(layer, PROBE_LOSS, p, x, cotangent, key=k)
                if not report.ok:
                    mode = "" if k is None or len(keys) == 1 else ", at a fixed dropout key"
                    error = AssertionError(
                        f"{layer.name}: hand-written vjp disagrees ({what}{mode}):\n{report}"
                    )
                    error.report = report
                    raise error
                first = first or report
    return first


def _to64(a):
    a = jnp.asarray(a)
    return a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a


def _zero_biases(params):
    """Params with every ``"b"`` leaf zero, so a zero input row gives zero pre-activations."""

    def zero(path, leaf):
        last = path[-1] if path else None
        is_bias = isinstance(last, jax.tree_util.DictKey) and last.key == "b"
        return jnp.zeros_like(leaf) if is_bias else leaf

    return jax.tree_util.tree_map_with_path(zero, params)
