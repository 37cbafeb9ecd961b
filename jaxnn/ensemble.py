"""Ensemble plumbing for `jaxnn.train.fit_ensemble`: sizes, per-member hyperparameters and
keys, and padding to a multiple of the device count."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def size(params, hyper: Mapping[str, Any]) -> int:
    """The common leading (member) axis of every params leaf and swept hyperparameter."""
    sizes = {int(np.shape(leaf)[0]) for leaf in jax.tree.leaves(params) if np.ndim(leaf)}
    sizes |= {int(np.shape(v)[0]) for v in hyper.values() if np.ndim(v)}
    if any(np.ndim(leaf) == 0 for leaf in jax.tree.leaves(params)) or len(sizes) != 1:
        raise ValueError(
            "fit_ensemble: every params leaf and swept hyperparameter needs the same leading "
            f"ensemble axis; got sizes {sorted(sizes)} (use init_ensemble, or "
            "jax.vmap(model.init, in_axes=(0, None))(keys, shape))"
        )
    return sizes.pop()


def hyper_values(hyperparams: Mapping[str, Any] | None, n: int, float_dtype) -> dict:
    """Per-member hyperparameter arrays; a scalar is given to every member. Values keep a
    float dtype (an int would truncate a swept learning rate to 0)."""
    out = {}
    for name, value in (hyperparams or {}).items():
        value = jnp.asarray(value)
        if not jnp.issubdtype(value.dtype, jnp.floating):
            value = value.astype(float_dtype)
        if value.ndim == 0:
            value = jnp.broadcast_to(value, (n,))
        if value.ndim != 1 or value.shape[0] != n:
            raise ValueError(
                f"fit_ensemble: hyperparams[{name!r}] needs one value per member ({n},) or "
                f"a scalar; got shape {value.shape}"
            )
        out[name] = value
    return out


def with_hyperparams(opt_state, hyper: Mapping[str, jax.Array], float_dtype):
    """Write per-member values into a (vmapped) ``optax.inject_hyperparams`` state."""
    names = [k for k in hyper if k != "reg_strength"]
    if not names:
        return opt_state
    if not hasattr(opt_state, "hyperparams"):
        raise ValueError(
            f"fit_ensemble: hyperparams {names} need an optimizer built with "
            "optax.inject_hyperparams, e.g. optax.inject_hyperparams(optax.sgd)(learning_rate=0.1)"
        )
    unknown = sorted(set(names) - set(opt_state.hyperparams))
    if unknown:
        raise ValueError(
            f"fit_ensemble: optimizer has no hyperparameters {unknown}; "
            f"it has {sorted(opt_state.hyperparams)}"
        )
    schedules = sorted(set(names) & set(getattr(opt_state, "hyperparams_states", {}) or {}))
    if schedules:
        raise ValueError(
            f"fit_ensemble: hyperparameter(s) {schedules} of this optimizer are schedules, "
            "recomputed every step, so sweeping them would be ignored. To sweep a schedule's "
            "initial value, scale it: optax.chain(optax.sgd(schedule), "
            "optax.inject_hyperparams(optax.scale)(step_size=1.0)) and sweep 'step_size'"
        )
    values = dict(opt_state.hyperparams)
    for name in names:
        old = jnp.asarray(values[name]).dtype
        dtype = old if jnp.issubdtype(old, jnp.floating) else float_dtype  # never truncate
        values[name] = jnp.asarray(hyper[name], dtype)
    return opt_state._replace(hyperparams=values)


def member_keys(key, n: int):
    """Member ``i`` trains with ``fold_in(key, i)``: its own data order and dropout masks."""
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n, dtype=jnp.uint32))


def pad(tree, n_pad: int):
    """Append ``n_pad`` copies of member 0 (healthy values; dropped after training)."""
    if n_pad == 0:
        return tree
    return jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[:1], n_pad, axis=0)]), tree)
