"""Training: a whole run is one jitted `lax.scan`; an ensemble or a sweep is one `vmap` of it.

* `fit` trains one model and returns ``(params, history)``.
* `fit_ensemble` trains many (a leading ensemble axis on params, and optionally per-member
  hyperparameters) in one compiled program, sharded over ``jax.devices()``.
* `init_ensemble` makes the stacked params of N members from N keys.

The step function is pure and is built once per ``(model, loss, optimizer, reg, backprop)``,
so calling `fit` again with new data or params of the same shapes hits the compile cache.
Divergence is tracked *inside* the scan (no host round-trip), so the same code works under
``jax.jit`` and ``jax.vmap``: there it is recorded in ``history["first_nonfinite_step"]``;
called eagerly, `fit` raises `DivergenceError` with the last healthy params.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn.backprop import value_grad_and_pred
from jaxnn.layers import Layer
from jaxnn.losses import Loss, Regularizer

History = dict[str, Any]


class DivergenceError(FloatingPointError):
    """The objective became NaN/inf at ``step``; ``params`` are the last with a finite one."""

    def __init__(self, step: int, params: Any, history: History):
        super().__init__(
            f"training diverged at step {step}: the objective became NaN/inf; try a smaller "
            "learning rate. The last params with a finite objective are on this exception "
            "(`.params`) and the history up to then on `.history`."
        )
        self.step, self.params, self.history = step, params, history


class TrainState(NamedTuple):
    params: Any
    opt_state: Any
    first_bad_step: jax.Array  # int32; -1 while every objective so far was finite


def _initial_state(optimizer, params) -> TrainState:
    return TrainState(params, optimizer.init(params), jnp.array(-1, jnp.int32))


# --------------------------------------------------------------------------------------------
# One step, and a run of steps as a scan
# --------------------------------------------------------------------------------------------


def _make_step(model: Layer, loss: Loss, optimizer, reg, backprop: str) -> Callable:
    """``step(state, step_index, x, target, *, watch) -> (state, (objective, pred))``.

    Divergence is watched through the objective alone, and only where it is logged
    (``watch=True``; every step by default): it is computed from every param, so a NaN/inf
    param shows in it, and once params are NaN they stay NaN. Unwatched steps never use the
    objective, so XLA drops its computation and they cost what a bare gradient step costs.
    Reducing over every param or keeping a copy of the last good ones would cost more than a
    tiny net's whole update; `fit` replays the run instead when it must report a divergence.
    """
    value_grad = value_grad_and_pred(model, loss, reg=reg, backprop=backprop)

    def step(state: TrainState, index, x, target, *, watch: bool):
        value, grads, pred = value_grad(state.params, x, target)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)  # cast back to the params' dtypes
        # Likewise the optimizer state (a no-op when nothing was promoted): float64 data on
        # float32 params gives float64 grads, which would promote e.g. a momentum trace and
        # break the scan carry.
        opt_state = jax.tree.map(lambda n, o: n.astype(o.dtype), opt_state, state.opt_state)
        first_bad = state.first_bad_step
        if watch:
            newly_bad = ~jnp.isfinite(value) & (first_bad < 0)
            first_bad = jnp.where(newly_bad, index, first_bad).astype(jnp.int32)
        return TrainState(params, opt_state, first_bad), (value, pred)

    return step


def _scan_run(step, loss: Loss, state, x, target, start, *, steps, log_every, unroll):
    """Run exactly ``steps`` updates; log the objective before every ``log_every``-th one.

    The logged objective is the one the step computes anyway (loss and gradient come from one
    pass), so logging costs no extra forward pass; steps in between skip it. Step indices are
    carried as a counter, not scanned over as an array: slicing an index array each step
    costs as much as a tiny net's whole update on CPU.
    """

    def silent(carry, _):
        state, index = carry
        return (step(state, index, x, target, watch=False)[0], index + 1), None

    def logged_block(length):
        def block(carry, _):
            state, index = carry
            state, (value, pred) = step(state, index, x, target, watch=True)
            record = {"loss": value}
            if loss.accuracy is not None:
                record["accuracy"] = loss.accuracy(pred, target)
            carry = (state, index + 1)
            if length > 1:
                carry, _ = jax.lax.scan(silent, carry, None, length=length - 1, unroll=unroll)
            return carry, record

        return block

    n_blocks, remainder = divmod(steps, log_every)
    carry = (state, jnp.asarray(start, jnp.int32))
    carry, history = jax.lax.scan(logged_block(log_every), carry, None, length=n_blocks)
    if remainder:
        carry, last = logged_block(remainder)(carry, None)
        history = jax.tree.map(lambda h, r: jnp.concatenate([h, r[None]]), history, last)
    return carry[0], history


def _runner(model, loss, optimizer, reg, backprop, *, ensemble: bool) -> Callable:
    """The jitted ``run(state, hyper, x, target, start, *, steps, log_every, unroll)``.

    Built once per (model, loss, optimizer, reg, backprop): repeated calls hit jit's cache.
    For ensembles it is vmapped over the state and the per-member hyperparameters.
    """

    def run(state, hyper, x, target, start, *, steps, log_every, unroll):
        member_reg = _scaled(reg, hyper.get("reg_strength"))
        step = _make_step(model, loss, optimizer, member_reg, backprop)
        return _scan_run(
            step, loss, state, x, target, start, steps=steps, log_every=log_every, unroll=unroll
        )

    def run_members(state, hyper, x, target, start, *, steps, log_every, unroll):
        # Bind the static settings first: vmap would map keyword arguments too.
        member = functools.partial(run, steps=steps, log_every=log_every, unroll=unroll)
        return jax.vmap(member, in_axes=(0, 0, None, None, None))(state, hyper, x, target, start)

    return jax.jit(
        run_members if ensemble else run, static_argnames=("steps", "log_every", "unroll")
    )


@functools.lru_cache(maxsize=64)
def _cached_runner(model, loss, optimizer, reg, backprop, ensemble):
    return _runner(model, loss, optimizer, reg, backprop, ensemble=ensemble)


def _get_runner(model, loss, optimizer, reg, backprop, *, ensemble=False):
    try:
        return _cached_runner(model, loss, optimizer, reg, backprop, ensemble)
    except TypeError:  # something unhashable (e.g. a user's dict-holding optimizer): no cache
        return _runner(model, loss, optimizer, reg, backprop, ensemble=ensemble)


def _scaled(reg: Regularizer | None, strength) -> Regularizer | None:
    """``reg`` multiplied by a (possibly traced) strength, for sweeps over regularisation."""
    if reg is None or strength is None:
        return reg
    return Regularizer(
        lambda p: strength * reg.value(p),
        lambda p: jax.tree.map(lambda g: (strength * g).astype(g.dtype), reg.grad(p)),
    )


# --------------------------------------------------------------------------------------------
# Driving a run: in one call, or in chunks behind a progress bar
# --------------------------------------------------------------------------------------------


def _is_traced(*trees) -> bool:
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(trees))


def _want_progress(progress, steps, traced) -> bool:
    if traced or progress is False:
        return False
    if progress is None:  # auto: long runs on an interactive terminal
        return steps >= 20_000 and sys.stderr.isatty()
    return True


def _drive(run, state, hyper, x, target, *, steps, log_every, unroll, progress, desc, time_axis):
    """Call ``run`` once, or in chunks (multiples of ``log_every``) advancing a tqdm bar."""
    if not progress:
        return run(state, hyper, x, target, 0, steps=steps, log_every=log_every, unroll=unroll)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is an optional extra: run without a bar
        return run(state, hyper, x, target, 0, steps=steps, log_every=log_every, unroll=unroll)
    chunk = max(log_every, -(-steps // (20 * log_every)) * log_every)
    pieces, done = [], 0
    with tqdm(total=steps, desc=desc, unit="step") as bar:
        while done < steps:
            n = min(chunk, steps - done)
            state, history = run(
                state, hyper, x, target, done, steps=n, log_every=log_every, unroll=unroll
            )
            jax.block_until_ready(state)
            pieces.append(history)
            done += n
            bar.update(n)
    return state, jax.tree.map(lambda *hs: jnp.concatenate(hs, axis=time_axis), *pieces)


def _history(raw: History, state: TrainState, steps: int, log_every: int) -> History:
    history = dict(raw)
    history["step"] = np.arange(0, steps, log_every)
    history["first_nonfinite_step"] = state.first_bad_step
    return history


def _check_steps(steps: int, log_every: int) -> None:
    if not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"fit: steps must be a positive int, got {steps!r}")
    if not isinstance(log_every, int | np.integer) or log_every < 1:
        raise ValueError(f"fit: log_every must be a positive int, got {log_every!r}")


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def fit(
    model: Layer,
    loss: Loss,
    optimizer: optax.GradientTransformation,
    params: Any,
    x,
    target,
    *,
    steps: int,
    reg: Regularizer | None = None,
    backprop: str = "manual",
    log_every: int = 1,
    progress: bool | None = None,
    unroll: int = 1,
) -> tuple[Any, History]:
    """Train ``params`` for exactly ``steps`` full-batch updates of ``optimizer``.

    Args:
      backprop: ``"manual"`` (the layers' hand-written vjps) or ``"autodiff"`` (``jax.grad``).
      log_every: log the objective every this many steps (the first step always).
      progress: show a tqdm bar (the run is then split into chunks); ``None`` shows one for
        long runs on a terminal.
      unroll: ``lax.scan`` unroll factor for the inner loop (tiny nets run faster unrolled).

    Returns:
      ``(params, history)``; ``history["loss"]`` holds the objective (loss + reg) *before*
      each logged step, ``history["step"]`` those step indices, ``history["accuracy"]`` the
      accuracy there for classification losses, and ``history["first_nonfinite_step"]`` is -1
      or the step where training diverged.

    Raises:
      DivergenceError: (a ``FloatingPointError``) when called outside ``jit``/``vmap`` and the
        objective became non-finite at step ``k`` (the objective of the params after ``k``
        updates); ``.params`` are the params after ``k - 1`` updates, the last whose objective
        was finite (recovered by replaying the run).
        Under ``jit``/``vmap`` nothing can raise: ``history["first_nonfinite_step"]`` records
        per run the first *logged* step whose objective was non-finite (exactly ``k`` with
        the default ``log_every=1``), and a diverged run's params are returned as they ended.
    """
    _check_steps(steps, log_every)
    runner = _get_runner(model, loss, optimizer, reg, backprop)
    state = _initial_state(optimizer, params)
    traced = _is_traced(params, x, target)
    state, raw = _drive(
        runner,
        state,
        {},
        x,
        target,
        steps=steps,
        log_every=log_every,
        unroll=unroll,
        progress=_want_progress(progress, steps, traced),
        desc="fit",
        time_axis=0,
    )
    history = _history(raw, state, steps, log_every)
    if not _is_traced(state.first_bad_step) and int(state.first_bad_step) >= 0:
        step = _first_nonfinite(runner, optimizer, params, x, target, int(state.first_bad_step))
        history["first_nonfinite_step"] = np.int32(step)
        # Every per-log-step entry (the step indices too) up to and including the bad step.
        kept = {k: history[k][: step // log_every + 1] for k in (*raw, "step")}
        last_finite = _replay(runner, optimizer, params, x, target, max(step - 1, 0))[0]
        raise DivergenceError(step, last_finite, {**history, **kept})
    return state.params, history


def _replay(runner, optimizer, params, x, target, n_steps: int, log_every: int | None = None):
    """``(params, history)`` after ``n_steps`` updates, re-running the deterministic step."""
    if n_steps == 0:
        return params, {}
    state = _initial_state(optimizer, params)
    log_every = log_every or n_steps
    state, history = runner(state, {}, x, target, 0, steps=n_steps, log_every=log_every, unroll=1)
    return state.params, history


def _first_nonfinite(runner, optimizer, params, x, target, logged_bad: int) -> int:
    """The exact first step with a non-finite objective, at or before the logged one."""
    _, history = _replay(runner, optimizer, params, x, target, logged_bad + 1, log_every=1)
    bad = np.flatnonzero(~np.isfinite(np.asarray(history["loss"])))
    return int(bad[0]) if bad.size else logged_bad


def init_ensemble(model: Layer, key: jax.Array, n: int, input_shape) -> Any:
    """Params of ``n`` members stacked on a leading axis, member ``i`` from ``split(key)[i]``."""
    keys = jax.random.split(key, n)
    return jax.vmap(lambda k: model.init(k, tuple(input_shape))[1])(keys)


def _ensemble_size(params, hyper) -> int:
    sizes = {int(leaf.shape[0]) for leaf in jax.tree.leaves((params, hyper))}
    if len(sizes) != 1:
        raise ValueError(
            f"fit_ensemble: every params leaf and hyperparameter needs the same leading ensemble "
            f"axis; got sizes {sorted(sizes)}"
        )
    return sizes.pop()


def _with_hyperparams(opt_state, hyper: Mapping[str, jax.Array]):
    """Write per-member values into an ``optax.inject_hyperparams`` state."""
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
    values = dict(opt_state.hyperparams)
    for name in names:
        values[name] = jnp.asarray(hyper[name], jnp.asarray(values[name]).dtype)
    return opt_state._replace(hyperparams=values)


def _pad(tree, n_pad: int):
    """Append ``n_pad`` copies of member 0 (healthy values; dropped after training)."""
    if n_pad == 0:
        return tree
    return jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[:1], n_pad, axis=0)]), tree)


def _shard(tree, mesh, spec):
    sharding = jax.sharding.NamedSharding(mesh, spec)
    return jax.tree.map(lambda a: jax.device_put(a, sharding), tree)


def fit_ensemble(
    model: Layer,
    loss: Loss,
    optimizer: optax.GradientTransformation,
    params: Any,
    x,
    target,
    *,
    steps: int,
    reg: Regularizer | None = None,
    backprop: str = "manual",
    log_every: int = 1,
    hyperparams: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    unroll: int = 1,
    devices=None,
) -> tuple[Any, History]:
    """Train every member of an ensemble in one compiled program.

    ``params`` carry a leading ensemble axis (see `init_ensemble`); all members see the same
    ``x`` and ``target``. ``hyperparams`` maps names to one value per member:
    ``"learning_rate"`` (or any other hyperparameter of an ``optax.inject_hyperparams``
    optimizer) and ``"reg_strength"`` (a factor on ``reg``). Values are data, not constants,
    so a new sweep does not recompile.

    With more than one device (``devices``, default ``jax.devices()``) the ensemble axis is
    sharded over a 1-D mesh; a size that does not divide evenly is padded with copies of
    member 0, and the padding dropped. Under ``jax.distributed.initialize()`` the same call
    runs over every host's devices. Returns ``(params, history)`` with the ensemble axis
    first; divergence is recorded per member in ``history["first_nonfinite_step"]``.
    """
    _check_steps(steps, log_every)
    hyper = {k: jnp.asarray(v) for k, v in (hyperparams or {}).items()}
    n = _ensemble_size(params, hyper)
    devices = list(jax.devices() if devices is None else devices)
    n_pad = -n % len(devices)
    params, hyper = _pad(params, n_pad), _pad(hyper, n_pad)

    state = jax.vmap(functools.partial(_initial_state, optimizer))(params)
    state = state._replace(opt_state=_with_hyperparams(state.opt_state, hyper))
    if len(devices) > 1:
        mesh = jax.sharding.Mesh(np.array(devices), ("ensemble",))
        member, replicated = jax.sharding.PartitionSpec("ensemble"), jax.sharding.PartitionSpec()
        state, hyper = _shard(state, mesh, member), _shard(hyper, mesh, member)
        x, target = _shard(x, mesh, replicated), _shard(target, mesh, replicated)

    runner = _get_runner(model, loss, optimizer, reg, backprop, ensemble=True)
    # vmap needs a mapped hyperparameter dict even when there is none to sweep.
    hyper = hyper or {"_member": jnp.zeros((n + n_pad,))}
    state, raw = _drive(
        runner,
        state,
        hyper,
        x,
        target,
        steps=steps,
        log_every=log_every,
        unroll=unroll,
        progress=_want_progress(progress, steps, _is_traced(params, x, target)),
        desc=f"fit_ensemble[{n}]",
        time_axis=1,  # history is (member, logged step)
    )
    if n_pad:
        state, raw = jax.tree.map(lambda a: a[:n], (state, raw))
    return state.params, _history(raw, state, steps, log_every)
