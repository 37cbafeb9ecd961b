"""The floor: the workload's math written directly in JAX, the whole run one jitted lax.scan.

``loss`` is a plain function of a list of ``{"w", "b"}`` dicts, gradients come from
``jax.grad``, the update is ``p - lr * g``. For the ensemble workload the whole scan is
``jax.vmap``ped over members. Nothing here knows about jaxnn; jaxnn should not add to it.

Minibatch workloads (W5/W6): ``plain-jax`` is one hand-written scan over epochs (each a scan
over its batches, gathered in-graph from the shared data order, then the held-out loss and
accuracy) with ``optax.adam``; ``plain-jax-loop`` is the same step as JAX users usually run
it, jitted and called from a Python batch loop (`minibatch.python_loop`);
``plain-jax-logged`` is the scan plus the objective on the whole training set before every
epoch and after the last update, the work jaxnn's history adds. For W6 all are
``jax.vmap``ped over members (params, optimizer state, data order).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from benchmarks.contenders.minibatch import batch_indices, epochs_and_batches, python_loop
from benchmarks.workloads import Workload

_ACT = {"tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu}


def make_forward(spec: Workload):
    act = _ACT[spec.hidden]

    def forward(params, X):
        h = X
        for i, layer in enumerate(params):
            h = h @ layer["w"]
            if "b" in layer:
                h = h + layer["b"]
            if i < len(params) - 1:
                h = act(h)
        return jax.nn.sigmoid(h) if spec.output == "sigmoid" else h

    return forward


def make_loss(spec: Workload):
    forward = make_forward(spec)

    def loss(params, X, y):
        out = forward(params, X)
        if spec.loss in ("sum_ce", "mean_ce"):
            logp = jax.nn.log_softmax(out, axis=-1)
            nll = -jnp.take_along_axis(logp, y[:, None], axis=-1)[:, 0]
            value = jnp.sum(nll) if spec.loss == "sum_ce" else jnp.mean(nll)
        elif spec.loss == "half_sse":
            value = 0.5 * jnp.sum((out - y) ** 2)
        elif spec.loss == "mse":
            value = jnp.mean((out - y) ** 2)
        else:
            raise NotImplementedError(spec.loss)
        if spec.l2:
            value = value + spec.l2 / 2 * sum(jnp.sum(layer["w"] ** 2) for layer in params)
        return value

    return loss


_COMPILED: dict = {}


def _build(spec: Workload, steps: int):
    loss = make_loss(spec)
    grad = jax.grad(loss)
    lr = spec.lr

    def run(params, X, y):
        def step(p, _):
            g = grad(p, X, y)
            return jax.tree.map(lambda a, b: a - lr * b, p, g), None

        params, _ = jax.lax.scan(step, params, None, length=steps)
        return params

    if spec.ensemble:
        run = jax.vmap(run, in_axes=(0, None, None))
    return jax.jit(run)


def _build_minibatch(spec: Workload, train_objective: bool = False):
    """``run(params, x, y, orders, x_val, y_val) -> (params, (val_loss, val_acc) per epoch)``.

    ``train_objective``: also the objective on the whole training set before every epoch and
    after the last update (what jaxnn logs as ``history["loss"]`` / ``["final_loss"]``).
    """
    forward, loss, opt = make_forward(spec), make_loss(spec), optax.adam(spec.lr)
    batch = spec.batch_size

    def held_out(params, xv, yv):
        logits = forward(params, xv)
        return loss(params, xv, yv), jnp.mean(jnp.argmax(logits, axis=-1) == yv)

    def run(params, x, y, orders, xv, yv):
        spe = x.shape[0] // batch

        def step(carry, rows):
            params, opt_state = carry
            grads = jax.grad(loss)(params, x[rows], y[rows])
            updates, opt_state = opt.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        def epoch(carry, order):
            before = loss(carry[0], x, y) if train_objective else None
            carry, _ = jax.lax.scan(step, carry, batch_indices(order, spe, batch))
            return carry, (held_out(carry[0], xv, yv), before)

        (params, _), history = jax.lax.scan(epoch, (params, opt.init(params)), orders)
        if train_objective:
            history = (history, loss(params, x, y))
        return params, history

    if spec.ensemble:
        run = jax.vmap(run, in_axes=(0, None, None, 0, None, None))
    return jax.jit(run)


def _train_minibatch(spec: Workload, data, init, steps, train_objective: bool = False):
    key = (spec, train_objective)
    if key not in _COMPILED:
        _COMPILED[key] = _build_minibatch(spec, train_objective)
    epochs, _ = epochs_and_batches(spec, data, steps)
    orders = data["orders"][:, :epochs] if spec.ensemble else data["orders"][:epochs]
    params, history = _COMPILED[key](
        init, data["X"], data["y"], orders, data["X_val"], data["y_val"]
    )
    jax.device_get(history)  # the per-epoch held-out numbers, to the host as a user logs them
    return params


def train(spec: Workload, data, init, steps):
    if spec.minibatch:
        return _train_minibatch(spec, data, init, steps)
    key = (spec, steps)
    if key not in _COMPILED:
        _COMPILED[key] = _build(spec, steps)
    return _COMPILED[key](init, data["X"], data["y"])


_LOOP: dict = {}


def _build_loop(spec: Workload):
    """A jitted ``step(state, xb, yb)`` and ``evaluate(state, xv, yv)``, vmapped for W6."""
    forward, loss, opt = make_forward(spec), make_loss(spec), optax.adam(spec.lr)

    def step(state, xb, yb):
        params, opt_state = state
        grads = jax.grad(loss)(params, xb, yb)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    def evaluate(state, xv, yv):
        logits = forward(state[0], xv)
        return loss(state[0], xv, yv), jnp.mean(jnp.argmax(logits, axis=-1) == yv)

    init_opt = opt.init
    if spec.ensemble:
        step = jax.vmap(step)
        evaluate = jax.vmap(evaluate, in_axes=(0, None, None))
        init_opt = jax.vmap(init_opt)
    return jax.jit(step), jax.jit(evaluate), jax.jit(init_opt)


def train_loop(spec: Workload, data, init, steps):
    if not spec.minibatch:
        raise NotImplementedError("plain-jax-loop runs the minibatch workloads (W5, W6)")
    if spec not in _LOOP:
        _LOOP[spec] = _build_loop(spec)
    step, evaluate, init_opt = _LOOP[spec]
    params = jax.tree.map(jnp.asarray, init)
    (params, _), _ = python_loop(spec, data, steps, (params, init_opt(params)), step, evaluate)
    return params


def train_logged(spec: Workload, data, init, steps):
    if not spec.minibatch:
        raise NotImplementedError("plain-jax-logged runs the minibatch workloads (W5, W6)")
    return _train_minibatch(spec, data, init, steps, train_objective=True)


TRAINERS = {"plain-jax": train, "plain-jax-loop": train_loop, "plain-jax-logged": train_logged}
