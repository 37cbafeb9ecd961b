"""The compiled core of training: one update, and a whole run as one ``lax.scan``.

`build_run` returns ``run(state, inputs, *, cfg) -> (state, logs, finals)``, a pure function
of arrays that `jaxnn.train` jits (and vmaps for ensembles). Everything that changes the
program is in the static `RunConfig`; everything that is only data (the data, the key, a
swept regularisation strength, the step to start from) is in `RunInputs`, so new data or a new
sweep reuses the compiled program.

Per update ``k`` (counted over the whole run, so from ``start`` when resuming):

* the minibatch (``batch_size``) is slice ``k % E`` of epoch ``k // E``'s permutation, where
  ``E = N // batch_size`` updates make an epoch; the permutation of epoch ``e`` is drawn from
  ``fold_in(shuffle_root(key), e)`` inside the program;
* a stochastic model (Dropout) gets the key ``fold_in(key, k)``.

Logged numbers (objective, accuracy, user metrics, validation) are those of the params
*before* the logged update, computed in evaluation mode (no key) on the whole training set.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxnn.backprop import value_grad_and_pred
from jaxnn.layers import Layer, apply_layer
from jaxnn.losses import Loss, Regularizer


class RunConfig(NamedTuple):
    """Static settings: a change compiles a new program.

    Attributes:
      steps: updates in this call.
      log_every: log before every this-many-th update (the first one always).
      unroll: ``lax.scan`` unroll factor of the unlogged updates.
      batch_size: examples per update, or ``None`` for full batch.
      patience: early stopping after this many logged evaluations without improvement.
      stop_below: stop once the logged objective is below ``RunInputs.stop_below``.
      validation: ``RunInputs.validation`` holds ``(x_val, target_val)``.
      metrics: ``((name, fn(pred, target) -> scalar), ...)`` logged beside the loss.
      batch_sharding: a sharding to put each minibatch on (data parallel), or ``None``.
    """

    steps: int
    log_every: int = 1
    unroll: int = 1
    batch_size: int | None = None
    patience: int | None = None
    stop_below: bool = False
    validation: bool = False
    metrics: tuple = ()
    batch_sharding: Any = None

    @property
    def stopping(self) -> bool:
        return self.patience is not None or self.stop_below


class RunInputs(NamedTuple):
    """Data of a run (arrays; under ``vmap`` some carry a member axis)."""

    x: Any
    target: Any
    validation: Any = None  # (x_val, target_val)
    key: Any = None
    reg_strength: Any = None
    stop_below: Any = None
    start: Any = 0


class Stopping(NamedTuple):
    """Early-stopping bookkeeping, carried through the scan (only when stopping is asked)."""

    best_params: Any  # None without patience
    best_value: jax.Array
    best_step: jax.Array  # int32, -1 until a logged objective was finite
    since_best: jax.Array  # logged evaluations since the last improvement
    stopped: jax.Array  # bool: updates are frozen from here on
    stop_step: jax.Array  # int32, the logged step where the run stopped, or -1


class TrainState(NamedTuple):
    params: Any
    opt_state: Any
    first_bad_step: jax.Array  # int32; -1 while every logged objective so far was finite
    stopping: Stopping | None = None


def initial_state(optimizer, params, cfg: RunConfig, opt_state=None) -> TrainState:
    """The carry before update ``start``; ``opt_state`` continues a previous run."""
    opt_state = optimizer.init(params) if opt_state is None else opt_state
    stopping = None
    if cfg.stopping:
        dtype = jnp.result_type(*jax.tree.leaves(params), jnp.float32)
        minus_one = jnp.array(-1, jnp.int32)
        stopping = Stopping(
            best_params=params if cfg.patience is not None else None,
            best_value=jnp.array(jnp.inf, dtype),
            best_step=minus_one,
            since_best=jnp.array(0, jnp.int32),
            stopped=jnp.array(False),
            stop_step=minus_one,
        )
    return TrainState(params, opt_state, jnp.array(-1, jnp.int32), stopping)


def scaled(reg: Regularizer | None, strength) -> Regularizer | None:
    """``reg`` multiplied by a (possibly traced) strength, for sweeps over regularisation."""
    if reg is None or strength is None:
        return reg
    return reg._replace(
        value=lambda p: strength * reg.value(p),
        grad=lambda p: jax.tree.map(lambda g: (strength * g).astype(g.dtype), reg.grad(p)),
    )


# Flipping these bits of the key gives the data-order stream another key of the same hash.
_SHUFFLE_TAG = 0x9E3779B9


def shuffle_root(key):
    """The root of the data-order stream, independent of the dropout keys ``fold_in(key, k)``.

    Not ``split(key)`` or ``fold_in(key, c)``: with JAX's partitionable threefry those are the
    dropout keys of early updates (``split(key)[1] == fold_in(key, 1)``). A key with some bits
    flipped is a different key of the hash, so its stream shares nothing with ``key``'s.
    ``key`` itself is not consumed.
    """
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        data = jax.random.key_data(key) ^ jnp.uint32(_SHUFFLE_TAG)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(key))
    return key ^ jnp.uint32(_SHUFFLE_TAG)  # a raw uint32 key (jax.random.PRNGKey)


def _select(flag, new, old):
    """``new`` where ``flag`` else ``old``, leaf by leaf (freezing without branching)."""
    return jax.tree.map(lambda n, o: jnp.where(flag, n, o), new, old)


def build_run(model: Layer, loss: Loss, optimizer, reg, backprop: str) -> Callable:
    """``run(state, inputs, *, cfg) -> (state, logs, finals)`` for one model; see module doc.

    ``logs`` maps names to arrays with one entry per logged step; ``finals`` holds
    ``params`` (those to return: the best under early stopping), ``final_loss`` (and
    ``final_val_loss``), the objective of the params returned, and
    ``best_step``/``stop_step`` when stopping was asked.
    """
    stochastic = bool(getattr(model, "stochastic", False))

    def run(state: TrainState, inputs: RunInputs, *, cfg: RunConfig):
        member_reg = scaled(reg, inputs.reg_strength)
        value_grad = value_grad_and_pred(model, loss, reg=member_reg, backprop=backprop)

        def evaluate(params, x, target):
            pred = apply_layer(model, params, x)
            value = loss.value(pred, target)
            return (value if member_reg is None else value + member_reg.value(params)), pred

        def scores(prefix, value, pred, target):
            record = {prefix + "loss": value}
            if loss.accuracy is not None:
                record[prefix + "accuracy"] = loss.accuracy(pred, target)
            for name, fn in cfg.metrics:
                record[prefix + name] = fn(pred, target)
            return record

        batches = _Batches(cfg, inputs) if cfg.batch_size is not None else None
        reuse_step_value = batches is None and not stochastic

        def observe(state, index, value, pred):
            """Logged numbers before update ``index``; divergence and stopping bookkeeping."""
            if not reuse_step_value:  # the step's own numbers are a minibatch's or noisy
                value, pred = evaluate(state.params, inputs.x, inputs.target)
            record = scores("", value, pred, inputs.target)
            if cfg.validation:
                val_value, val_pred = evaluate(state.params, *inputs.validation)
                record.update(scores("val_", val_value, val_pred, inputs.validation[1]))
            newly_bad = ~jnp.isfinite(value) & (state.first_bad_step < 0)
            first_bad = jnp.where(newly_bad, index, state.first_bad_step).astype(jnp.int32)
            state = state._replace(first_bad_step=first_bad)
            if cfg.stopping:
                monitor = record["val_loss"] if cfg.validation else value
                state = state._replace(stopping=_stop(cfg, inputs, state, index, value, monitor))
            return state, record

        def step(carry, *, logged: bool):
            state, index, perm = carry
            if batches is None:
                x, target = inputs.x, inputs.target
            else:
                perm, x, target = batches.take(perm, index)
            args = (state.params, x, target)
            if stochastic:
                value, grads, pred = value_grad(*args, key=jax.random.fold_in(inputs.key, index))
            else:
                value, grads, pred = value_grad(*args)
            record = None
            if logged:
                state, record = observe(state, index, value, pred)
            updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
            params = optax.apply_updates(state.params, updates)  # keeps the params' dtypes
            # Likewise the optimizer state: float64 data on float32 params gives float64
            # grads, which would promote e.g. a momentum trace and break the scan carry.
            opt_state = jax.tree.map(lambda n, o: n.astype(o.dtype), opt_state, state.opt_state)
            if cfg.stopping:  # a stopped run (or ensemble member) keeps its params: freeze
                frozen = state.stopping.stopped
                params = _select(frozen, state.params, params)
                opt_state = _select(frozen, state.opt_state, opt_state)
            state = state._replace(params=params, opt_state=opt_state)
            return (state, index + 1, perm), record

        def silent(carry, _):
            return step(carry, logged=False)[0], None

        def block(length):
            def logged_block(carry, _):
                carry, record = step(carry, logged=True)
                if length > 1:
                    carry, _ = jax.lax.scan(
                        silent, carry, None, length=length - 1, unroll=cfg.unroll
                    )
                return carry, record

            return logged_block

        start = jnp.asarray(inputs.start, jnp.int32)
        perm = None if batches is None else batches.permutation(start // batches.per_epoch)
        carry = (state, start, perm)
        n_blocks, remainder = divmod(cfg.steps, cfg.log_every)
        logs = None
        if n_blocks:
            carry, logs = jax.lax.scan(block(cfg.log_every), carry, None, length=n_blocks)
        if remainder:
            carry, last = block(remainder)(carry, None)
            last = jax.tree.map(lambda r: r[None], last)
            logs = last if logs is None else jax.tree.map(_concat, logs, last)
        state = carry[0]
        return state, logs, _finals(cfg, inputs, state, evaluate)

    return run


def _concat(a, b):
    return jnp.concatenate([a, b])


def _stop(cfg: RunConfig, inputs: RunInputs, state: TrainState, index, value, monitor):
    """Stopping bookkeeping at a logged step (before its update)."""
    s = state.stopping
    stop_now = jnp.array(False)
    if cfg.patience is not None:
        improved = (monitor < s.best_value) & ~s.stopped
        s = s._replace(
            best_params=_select(improved, state.params, s.best_params),
            best_value=jnp.where(improved, monitor, s.best_value).astype(s.best_value.dtype),
            best_step=jnp.where(improved, index, s.best_step).astype(jnp.int32),
            since_best=jnp.where(improved, 0, s.since_best + 1).astype(jnp.int32),
        )
        stop_now = s.since_best >= cfg.patience
    if cfg.stop_below:
        stop_now = stop_now | (value < inputs.stop_below)
    stop_step = jnp.where(stop_now & ~s.stopped, index, s.stop_step).astype(jnp.int32)
    return s._replace(stopped=s.stopped | stop_now, stop_step=stop_step)


def returned_params(state: TrainState):
    """The params a run hands back: the best ones under early stopping, else the last."""
    if state.stopping is not None and state.stopping.best_params is not None:
        best = state.stopping.best_params
        # No finite logged objective at all: keep the last params rather than the first.
        return _select(state.stopping.best_step >= 0, best, state.params)
    return state.params


def _finals(cfg: RunConfig, inputs: RunInputs, state: TrainState, evaluate) -> dict:
    params = returned_params(state)
    finals = {"params": params, "final_loss": evaluate(params, inputs.x, inputs.target)[0]}
    if cfg.validation:
        finals["final_val_loss"] = evaluate(params, *inputs.validation)[0]
    if state.stopping is not None:
        finals["stop_step"] = state.stopping.stop_step
        if cfg.patience is not None:
            finals["best_step"] = state.stopping.best_step
    return finals


class _Batches:
    """Minibatches drawn inside the program: a fresh permutation of the examples per epoch."""

    def __init__(self, cfg: RunConfig, inputs: RunInputs):
        self.n = inputs.x.shape[0]
        self.size = cfg.batch_size
        self.per_epoch = self.n // self.size  # the ragged remainder is skipped each epoch
        self.root = shuffle_root(inputs.key)
        self.inputs, self.sharding = inputs, cfg.batch_sharding

    def permutation(self, epoch):
        key = jax.random.fold_in(self.root, epoch.astype(jnp.uint32))
        return jax.random.permutation(key, self.n).astype(jnp.int32)

    def take(self, perm, index):
        """``(perm, x_batch, target_batch)`` for update ``index``; redraws at an epoch start."""
        position = index % self.per_epoch
        perm = jax.lax.cond(
            position == 0, lambda: self.permutation(index // self.per_epoch), lambda: perm
        )
        rows = jax.lax.dynamic_slice_in_dim(perm, position * self.size, self.size)
        x, target = (jnp.take(a, rows, axis=0) for a in (self.inputs.x, self.inputs.target))
        if self.sharding is not None:
            x, target = (jax.lax.with_sharding_constraint(a, self.sharding) for a in (x, target))
        return perm, x, target
