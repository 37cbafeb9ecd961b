"""jaxnn itself: ``jaxnn.train.fit`` (W1, W2, W4) and ``jaxnn.train.fit_ensemble`` (W3), with
the hand-written backprop (``jaxnn-manual``) or ``jax.grad`` through ``apply``
(``jaxnn-autodiff``).

The model, loss, optimizer and regulariser are built once per workload and reused, the way a
script that trains repeatedly would hold them: jaxnn caches its compiled run per
``(model, loss, optimizer, reg, backprop)``, so repeated calls measure steady state (the
harness counts any recompilation). Logging is reduced to one logged step
(``log_every=steps``) and the progress bar is off, so the run is pure training
(``jaxnn-manual-logged``, W1 only, logs every ``steps // 20`` steps to show what logging
costs).

Minibatch workloads (W5/W6) call ``fit(..., batch_size=B, key=..., validation=(x_val,
y_val), log_every=<updates per epoch>)`` (``fit_ensemble`` for W6) with ``optax.adam``:
jaxnn shuffles inside the compiled run from ``key``, so its data order is its own, not the
shared one, and with each logged step it also evaluates the objective on the whole training
set (``history["loss"]``), work the other contenders do not do.
"""

from __future__ import annotations

import inspect

import jax
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
    opt = optax.adam(spec.lr) if spec.optimizer == "adam" else optax.sgd(spec.lr)
    return model, loss, opt, reg


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


def _minibatch_options(fn, spec: Workload, data, steps: int) -> dict:
    """``batch_size``, ``key``, ``validation`` and a once-per-epoch ``log_every``."""
    wanted = ("batch_size", "key", "validation")
    missing = [k for k in wanted if k not in inspect.signature(fn).parameters]
    if missing:
        raise NotImplementedError(f"this jaxnn's {fn.__name__} has no {', '.join(missing)}")
    spe = spec.steps_per_epoch(len(data["X"]))
    if steps % spe:
        raise ValueError(f"{spec.name}: steps={steps} is not a whole number of {spe}-step epochs")
    validation = (jnp.asarray(data["X_val"]), jnp.asarray(data["y_val"]))
    return {
        "batch_size": spec.batch_size,
        "key": jax.random.key(0),
        "validation": validation,
        "log_every": spe,
    }


def _train(spec: Workload, data, init, steps, backprop: str, log_every: int | None = None):
    if spec not in _BUILT:
        _BUILT[spec] = _build(spec)
    model, loss, opt, reg = _BUILT[spec]
    params = _to_jaxnn(spec, init)
    x, target = jnp.asarray(data["X"]), jnp.asarray(data["y"])
    fn = train.fit_ensemble if spec.ensemble else train.fit
    extra = _options(fn, progress=False)
    extra["log_every"] = log_every or steps
    if spec.minibatch:
        extra.update(_minibatch_options(fn, spec, data, steps))
    params, history = fn(
        model, loss, opt, params, x, target, steps=steps, reg=reg, backprop=backprop, **extra
    )
    jax.device_get(history)  # the logged numbers, on the host as a user would read them
    return _from_jaxnn(params)


def train_manual(spec, data, init, steps):
    return _train(spec, data, init, steps, "manual")


def train_autodiff(spec, data, init, steps):
    return _train(spec, data, init, steps, "autodiff")


def train_manual_logged(spec, data, init, steps):
    return _train(spec, data, init, steps, "manual", log_every=max(1, steps // 20))


TRAINERS = {
    "jaxnn-manual": train_manual,
    "jaxnn-autodiff": train_autodiff,
    "jaxnn-manual-logged": train_manual_logged,
}
