"""Host-side checks of a `fit`/`fit_ensemble` call, run once per call before compiling.

The general checks are `jaxnn.validate`'s (argument kinds, data, initial params); this module
adds what only training has: the numeric options (``steps``, ``batch_size``, ...), the key
that a stochastic model or minibatches need, validation data and user metrics. Under
``jit``/``vmap`` the value checks skip (the arrays are tracers); the kind and option checks
always run. Nothing here runs per step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from jaxnn import validate
from jaxnn.layers import Layer


def is_concrete(*trees) -> bool:
    return not validate.is_traced(*trees)


def positive_int(who: str, name: str, value, *, allow_none=False, minimum=1) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{who}: {name} must be {kind}, got {value!r}")


def stochastic_layer(model: Layer) -> Layer | None:
    """The first layer inside ``model`` that draws random numbers, or ``None``."""
    if not getattr(model, "stochastic", False):
        return None
    for sub in model.sublayers:
        found = stochastic_layer(sub)
        if found is not None:
            return found
    return model


def check_key_type(who: str, key) -> None:
    typed = isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    raw = key is not None and np.shape(key) == (2,) and np.result_type(key) == np.uint32
    if not (typed or raw):
        raise TypeError(
            f"{who}: key must be a PRNG key such as jax.random.key(0), got "
            f"{type(key).__name__} of shape {np.shape(key)}"
        )


def check_key(who: str, key, *, batch_size, model) -> None:
    """A key is required for minibatches and for a stochastic model."""
    needs = []
    stochastic = stochastic_layer(model)
    if stochastic is not None:
        needs.append(f"the model is stochastic ({stochastic!r} draws a mask per update)")
    if batch_size is not None:
        needs.append(f"batch_size={batch_size} shuffles the examples every epoch")
    if key is None:
        if needs:
            raise ValueError(
                f"{who}: key=jax.random.key(...) is required: {' and '.join(needs)}; "
                "update k then uses jax.random.fold_in(key, k)"
            )
        return
    check_key_type(who, key)


def check_call(who, model, loss, optimizer, params, x, target, *, reg, backprop, options):
    """Every host-side check of a call; ``options`` is `jaxnn.train.Options`."""
    validate.require_layer(model, who)
    validate.require_loss(loss, who)
    validate.require_optimizer(optimizer, who)
    validate.require_regularizer(reg, who)
    if backprop not in ("manual", "autodiff"):
        raise ValueError(f"{who}: backprop must be 'manual' or 'autodiff', got {backprop!r}")
    for name in ("steps", "log_every", "unroll"):
        positive_int(who, name, getattr(options, name))
    for name in ("batch_size", "patience"):
        positive_int(who, name, getattr(options, name), allow_none=True)
    positive_int(who, "start_step", options.start_step, minimum=0)
    check_key(who, options.key, batch_size=options.batch_size, model=model)
    members = who == "fit_ensemble"
    validate.check_data(loss, x, target, where=who, model=model, params=params, members=members)
    validate.check_finite_params(params, where=who)
    n, batch_size = (np.shape(x)[0] if np.ndim(x) else 1), options.batch_size
    if batch_size is not None and batch_size > n:
        raise ValueError(f"{who}: batch_size={batch_size} is larger than the {n} examples in x")
    _check_validation(who, model, loss, params, options.validation, members)
    _check_metrics(who, options.metrics)
    stop_below = options.stop_below
    if stop_below is not None and not np.isscalar(stop_below) and np.ndim(stop_below) != 0:
        raise ValueError(f"{who}: stop_below must be a number, got shape {np.shape(stop_below)}")


def _check_validation(who, model, loss, params, validation, members) -> None:
    if validation is None:
        return
    if not (isinstance(validation, tuple | list) and len(validation) == 2):
        raise TypeError(
            f"{who}: validation must be a pair (x_val, target_val), got {type(validation).__name__}"
        )
    validate.check_data(loss, *validation, where=who, model=model, params=params,
                        members=members, names=("x_val", "target_val"))  # fmt: skip


def _check_metrics(who: str, metrics: Mapping[str, Any] | None) -> None:
    if metrics is None:
        return
    if not isinstance(metrics, Mapping):
        raise TypeError(f"{who}: metrics must be a dict {{'name': fn(pred, target)}}")
    for name, fn in metrics.items():
        reserved = name in ("loss", "accuracy", "step") if isinstance(name, str) else True
        if reserved or name.startswith(("val_", "final_")):
            raise ValueError(
                f"{who}: metric name {name!r} is reserved (loss, accuracy, step, val_*, final_*)"
            )
        if not callable(fn):
            raise TypeError(f"{who}: metrics[{name!r}] must be a function fn(pred, target)")
