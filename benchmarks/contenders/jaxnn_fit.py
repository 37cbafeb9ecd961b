"""jaxnn itself: ``jaxnn.train.fit`` (W1, W2, W4) and ``jaxnn.train.fit_ensemble`` (W3), with
the hand-written backprop (``jaxnn-manual``) or ``jax.grad`` through ``apply``
(``jaxnn-autodiff``).

The model, loss, optimizer and regulariser are built once per workload and reused, the way a
script that trains repeatedly would hold them: jaxnn caches its compiled run per
``(model, loss, optimizer, reg, backprop)``, so repeated calls measure steady state (the
harness counts any recompilation). Logging is reduced to one logged step
(``log_every=steps``) and the progress bar is off, so the run is pure training.
"""

from __future__ import annotations

import inspect

import jax.numpy as jnp
import optax

import jaxnn
from benchmarks.workloads import Workload
from jaxnn import losses, train

_BUILT: dict = {}


def _build(spec: Workload):
    dt = jnp.dtype(spec.dtype)
    if spec.name == "W2":
        model = jaxnn.serial(
            jaxnn.Dense(4, use_bias=False, dtype=dt),
            jaxnn.Sigmoid(),
            jaxnn.Dense(1, use_bias=False, dtype=dt),
            jaxnn.Sigmoid(),
        )
    else:
        model = jaxnn.mlp(
            list(spec.sizes),
            activation=spec.hidden,
            output_activation="sigmoid" if spec.output == "sigmoid" else None,
            use_bias=spec.use_bias,
        )
    loss = {
        "sum_ce": lambda: losses.softmax_cross_entropy(reduction="sum"),
        "mean_ce": lambda: losses.softmax_cross_entropy(reduction="mean"),
        "half_sse": lambda: losses.half_sse,
        "mse": lambda: losses.mse,
    }[spec.loss]()
    reg = losses.l2(spec.l2) if spec.l2 else None
    return model, loss, optax.sgd(spec.lr), reg


def _to_jaxnn(spec: Workload, init):
    """Canonical Dense list -> the model's params tuple (activations hold ``()``)."""
    params = []
    for i, layer in enumerate(init):
        params.append({k: jnp.asarray(v) for k, v in layer.items()})
        if i < len(init) - 1 or spec.output == "sigmoid":
            params.append(())
    return tuple(params)


def _from_jaxnn(params):
    return [p for p in params if isinstance(p, dict)]


def _options(fn, **wanted):
    """Pass only the keyword options this version of ``fn`` accepts."""
    accepted = inspect.signature(fn).parameters
    return {k: v for k, v in wanted.items() if k in accepted}


def _train(spec: Workload, data, init, steps, backprop: str):
    if spec not in _BUILT:
        _BUILT[spec] = _build(spec)
    model, loss, opt, reg = _BUILT[spec]
    params = _to_jaxnn(spec, init)
    x, target = jnp.asarray(data["X"]), jnp.asarray(data["y"])
    fn = train.fit_ensemble if spec.ensemble else train.fit
    extra = _options(fn, progress=False)
    params, _history = fn(
        model,
        loss,
        opt,
        params,
        x,
        target,
        steps=steps,
        reg=reg,
        backprop=backprop,
        log_every=steps,
        **extra,
    )
    return _from_jaxnn(params)


def train_manual(spec, data, init, steps):
    return _train(spec, data, init, steps, "manual")


def train_autodiff(spec, data, init, steps):
    return _train(spec, data, init, steps, "autodiff")


TRAINERS = {"jaxnn-manual": train_manual, "jaxnn-autodiff": train_autodiff}
