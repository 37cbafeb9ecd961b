"""Training: a whole run is one jitted `lax.scan`; an ensemble or a sweep is one `vmap` of it.

* `fit` trains one model and returns ``(params, history)``: full batch or shuffled minibatches
  (drawn inside the compiled run), with held-out data, user metrics, early stopping, a
  resumable optimizer state, dropout keys, and data parallelism over several devices.
* `fit_ensemble` trains many (a leading ensemble axis on params, and optionally per-member
  hyperparameters) in one compiled program, sharded over ``jax.devices()``.
* `init_ensemble` makes the stacked params of N members from N keys.

The compiled core is `jaxnn.loop`; the pieces around it live in `jaxnn.progress` (the bar),
`jaxnn.divergence` (reporting a diverged run), `jaxnn.ensemble` (members, sweeps, padding),
`jaxnn.placement` (meshes) and `jaxnn.fitcheck` (host-side checks, once per call).
The program is built once per ``(model, loss, optimizer, reg, backprop)``, so calling `fit`
again with new data or params of the same shapes hits the compile cache. Divergence is tracked
inside the scan, so the same code works under ``jax.jit`` and ``jax.vmap``: there it is
recorded in ``history["first_nonfinite_step"]``; called eagerly, `fit` raises
`DivergenceError` with the last healthy params.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxnn import cache, ensemble, fitcheck, placement, validate
from jaxnn.divergence import DivergenceError, raise_divergence
from jaxnn.layers import Layer
from jaxnn.loop import RunConfig, RunInputs, TrainState, build_run, initial_state
from jaxnn.losses import Loss, Regularizer
from jaxnn.progress import drive, want_progress

__all__ = ["DivergenceError", "Options", "TrainState", "fit", "fit_ensemble", "init_ensemble"]

History = dict[str, Any]

# --------------------------------------------------------------------------------------------
# The compiled program, cached per (model, loss, optimizer, reg, backprop)
# --------------------------------------------------------------------------------------------

# An ensemble maps the state, the per-member keys and regularisation strengths; data is shared.
_MEMBER_AXES = RunInputs(
    x=None, target=None, validation=None, key=0, reg_strength=0, stop_below=None, start=None
)


def _runner(model, loss, optimizer, reg, backprop, ensemble_: bool) -> Callable:
    """The jitted ``run(state, inputs, *, cfg)`` (vmapped over members for ensembles)."""
    run = build_run(model, loss, optimizer, reg, backprop)

    def run_members(state, inputs, *, cfg):
        # Bind the static settings first: vmap would map keyword arguments too.
        return jax.vmap(functools.partial(run, cfg=cfg), in_axes=(0, _MEMBER_AXES))(state, inputs)

    return jax.jit(run_members if ensemble_ else run, static_argnames=("cfg",))


def _get_runner(model, loss, optimizer, reg, backprop, *, ensemble_=False):
    """The runner for this math: freshly built but identical objects share one program."""
    return cache.memoize(_runner, model, loss, optimizer, reg, backprop, ensemble_)


# --------------------------------------------------------------------------------------------
# Options of a call
# --------------------------------------------------------------------------------------------


class Options(NamedTuple):
    """The training keywords `fit` and `fit_ensemble` share (documented on `fit`)."""

    steps: int
    log_every: int = 1
    unroll: int = 1
    batch_size: int | None = None
    key: Any = None
    validation: tuple[Any, Any] | None = None
    metrics: Mapping[str, Callable] | None = None
    start_step: int = 0
    patience: int | None = None
    stop_below: float | None = None

    def config(self, batch_sharding=None) -> RunConfig:
        """The static part: what the compiled program depends on."""
        return RunConfig(
            steps=int(self.steps),
            log_every=int(self.log_every),
            unroll=int(self.unroll),
            batch_size=None if self.batch_size is None else int(self.batch_size),
            patience=None if self.patience is None else int(self.patience),
            stop_below=self.stop_below is not None,
            validation=self.validation is not None,
            metrics=tuple((self.metrics or {}).items()),
            batch_sharding=batch_sharding,
        )

    def inputs(self, x, target, key, reg_strength=None) -> RunInputs:
        """The data part (``key``: one key, or one per member)."""
        return RunInputs(
            x=x,
            target=target,
            validation=None if self.validation is None else tuple(self.validation),
            key=key,
            reg_strength=reg_strength,
            stop_below=None if self.stop_below is None else jnp.asarray(self.stop_below),
            start=int(self.start_step),
        )


def _history(logs, finals, state: TrainState, cfg: RunConfig, start: int) -> History:
    history = dict(logs)
    history["step"] = start + np.arange(0, cfg.steps, cfg.log_every)
    history["first_nonfinite_step"] = state.first_bad_step
    history.update(finals)
    history["opt_state"] = state.opt_state
    return history


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
    batch_size: int | None = None,
    key: jax.Array | None = None,
    validation: tuple[Any, Any] | None = None,
    metrics: Mapping[str, Callable] | None = None,
    opt_state: Any = None,
    start_step: int = 0,
    patience: int | None = None,
    stop_below: float | None = None,
    devices=None,
) -> tuple[Any, History]:
    """Train ``params`` for exactly ``steps`` updates of ``optimizer``, as one compiled scan.

    Args:
      backprop: ``"manual"`` (the layers' hand-written vjps) or ``"autodiff"`` (``jax.grad``).
      log_every: log before every this-many-th update (the first one always).
      progress: show a tqdm bar (the run is then split into chunks, with identical results);
        ``None`` shows one for long runs on a terminal.
      unroll: ``lax.scan`` unroll factor for the inner loop (tiny nets run faster unrolled).
      batch_size: examples per update. Each epoch (``N // batch_size`` updates; the ragged
        remainder is skipped, a different one each epoch) is a fresh permutation drawn inside
        the compiled run from ``key``, independently of the dropout keys. ``None``: full batch.
      key: a PRNG key, required for minibatches and for a stochastic model (Dropout): update
        ``k`` (counted from ``start_step``) gives the model ``jax.random.fold_in(key, k)``.
      validation: ``(x_val, target_val)``: ``history["val_loss"]`` (and ``"val_accuracy"``
        for classification losses, ``"val_<metric>"`` for user metrics) at the logged steps.
      metrics: ``{"name": fn(pred, target) -> scalar}`` logged beside the loss (eval mode).
      opt_state, start_step: continue a run: pass ``history["opt_state"]`` and the number of
        updates already made. ``n`` steps and then ``m`` more equal ``n + m`` in one call.
      patience: early stopping: stop when the validation objective (the training objective
        without ``validation``) has not improved for this many *logged* steps; the best
        params are returned and ``history["best_step"]`` says at which step they were logged.
      stop_below: stop once the logged training objective is below this (FANN's desired
        error); ``history["stop_step"]`` is the step where a run stopped, or -1. Stopping
        freezes the params (no branch), so it works under ``vmap`` per member.
      devices: more than one: data parallel. The batch axis of ``x``/``target`` (of each
        minibatch) is sharded over a 1-D mesh of these devices, params are replicated; the
        result equals the one-device run to float rounding. Spans hosts under
        ``jax.distributed.initialize()`` (every process passes the same full arrays).

    Returns:
      ``(params, history)``; ``history["loss"]`` holds the objective (loss + reg) on the whole
      training set in evaluation mode *before* each logged step, ``history["step"]`` those step
      indices, ``history["accuracy"]`` the accuracy there for classification losses,
      ``history["final_loss"]`` the objective of the returned params, ``history["opt_state"]``
      the optimizer state after the last update, and ``history["first_nonfinite_step"]`` -1
      or the step where training diverged.

    Raises:
      ValueError/TypeError: bad arguments, found on the host before compiling: wrong kinds
        (an uncalled factory such as ``losses.l2``), empty or non-finite data or initial
        params, labels out of range, a missing ``key``, an indivisible data-parallel batch.
        Under ``jit``/``vmap`` only trace-time shape checks run.
      DivergenceError: (a ``FloatingPointError``) when called outside ``jit``/``vmap`` and the
        objective became non-finite at step ``k``; ``.params`` are the params after ``k - 1``
        updates, the last whose objective was finite (recovered by replaying the run).
        Under ``jit``/``vmap`` nothing can raise: ``history["first_nonfinite_step"]`` records
        per run the first *logged* step whose objective was non-finite.
    """
    options = Options(steps, log_every, unroll, batch_size, key, validation, metrics,
                      start_step, patience, stop_below)  # fmt: skip
    fitcheck.check_call("fit", model, loss, optimizer, params, x, target, reg=reg,
                        backprop=backprop, options=options)  # fmt: skip
    traced = not fitcheck.is_concrete(params, x, target, key, opt_state)
    inputs = options.inputs(x, target, key)
    batch_sharding = None
    devices = None if devices is None else placement.device_list(devices, "fit")
    if devices is not None and len(devices) > 1:
        params, opt_state, inputs, batch_sharding = _data_parallel(
            devices, params, opt_state, inputs, batch_size
        )
    elif devices is not None and not traced:  # one device: run there
        params, opt_state, inputs = jax.device_put((params, opt_state, inputs), devices[0])
    cfg = options.config(batch_sharding)
    state = initial_state(optimizer, params, cfg, opt_state)
    runner = _get_runner(model, loss, optimizer, reg, backprop)
    state, logs, finals = drive(
        runner,
        state,
        inputs,
        cfg,
        progress=want_progress(progress, steps, traced),
        desc="fit",
        time_axis=0,
    )
    trained = finals.pop("params")
    history = _history(logs, finals, state, cfg, start_step)
    if not fitcheck.is_concrete(state.first_bad_step) or int(state.first_bad_step) < 0:
        return trained, history

    def replay(n: int, every: int | None):
        if n == 0:
            return params, np.zeros(0)
        replay_cfg = RunConfig(steps=n, log_every=every or n, batch_size=cfg.batch_size,
                               batch_sharding=batch_sharding)  # fmt: skip
        replay_state = initial_state(optimizer, params, replay_cfg, opt_state)
        replay_inputs = inputs._replace(validation=None, stop_below=None)
        replay_state, replay_logs, _ = runner(replay_state, replay_inputs, cfg=replay_cfg)
        return replay_state.params, replay_logs["loss"]

    if int(state.first_bad_step) == start_step and fitcheck.is_concrete(params):
        # Non-finite before any update: bad inputs (BCE on logits, ...) rather than divergence.
        validate.explain_nonfinite(model, loss, params, x, target, where="fit", reg=reg)
    raise_divergence(replay, history, start_step, log_every, int(state.first_bad_step))


def _data_parallel(devices, params, opt_state, inputs: RunInputs, batch_size):
    """Shard the batch axis over a 1-D mesh and replicate the rest; the minibatch sharding."""
    n_dev = len(devices)
    n = np.shape(inputs.x)[0]
    per_update = n if batch_size is None else batch_size
    if per_update % n_dev:
        what = f"the batch of {n} examples" if batch_size is None else f"batch_size={batch_size}"
        raise ValueError(
            f"fit: data parallel over {n_dev} devices needs a batch that divides evenly; "
            f"{what} does not divide by {n_dev} devices"
        )
    mesh = placement.mesh_1d(devices, "batch")
    split, whole = placement.sharded(mesh, "batch"), placement.sharded(mesh, None)
    data = placement.put((inputs.x, inputs.target), split if batch_size is None else whole)
    validation = inputs.validation
    if validation is not None:
        fits = np.shape(validation[0])[0] % n_dev == 0
        validation = tuple(placement.put(tuple(validation), split if fits else whole))
    replicated = placement.put(
        (params, opt_state, inputs.key, inputs.stop_below), whole
    )  # opt_state None: initialised from the replicated params
    params, opt_state, key, stop_below = replicated
    inputs = inputs._replace(
        x=data[0], target=data[1], validation=validation, key=key, stop_below=stop_below
    )
    return params, opt_state, inputs, (split if batch_size is not None else None)


def init_ensemble(model: Layer, key: jax.Array, n: int, input_shape) -> Any:
    """Params of ``n`` members stacked on a leading axis, member ``i`` from ``split(key)[i]``."""
    validate.require_layer(model, "init_ensemble")
    fitcheck.positive_int("init_ensemble", "n", n)
    fitcheck.check_key_type("init_ensemble", key)
    shape = (input_shape,) if isinstance(input_shape, int | np.integer) else tuple(input_shape)
    if not all(isinstance(d, int | np.integer) and d > 0 for d in shape):
        raise ValueError(
            f"init_ensemble: input_shape must be the shape of one example, a tuple of positive "
            f"ints such as (2,), got {input_shape!r}"
        )
    keys = jax.random.split(key, int(n))
    return jax.vmap(lambda k: model.init(k, shape)[1])(keys)


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
    batch_size: int | None = None,
    key: jax.Array | None = None,
    validation: tuple[Any, Any] | None = None,
    metrics: Mapping[str, Callable] | None = None,
    opt_state: Any = None,
    start_step: int = 0,
    patience: int | None = None,
    stop_below: float | None = None,
) -> tuple[Any, History]:
    """Train every member of an ensemble in one compiled program.

    ``params`` carry a leading ensemble axis (see `init_ensemble`); all members see the same
    ``x`` and ``target``. ``hyperparams`` maps names to one value per member (a scalar is given
    to all): ``"learning_rate"`` (or any other hyperparameter of an
    ``optax.inject_hyperparams`` optimizer that is not a schedule) and ``"reg_strength"`` (a
    factor on ``reg``). Values are data, not constants, so a new sweep does not recompile, and
    they keep a float dtype even if the optimizer was built with an int.

    The keywords of `fit` work per member: with ``key``, member ``i`` uses
    ``jax.random.fold_in(key, i)`` (its own data order and dropout masks); each member stops
    on its own (``patience``/``stop_below`` freeze it); ``opt_state``/``start_step`` resume.

    With more than one device (``devices``, default ``jax.devices()``) the ensemble axis is
    sharded over a 1-D mesh; a size that does not divide evenly is padded with copies of
    member 0, and the padding dropped. Under ``jax.distributed.initialize()`` the same call
    runs over every host's devices (results are then global arrays; gather them with
    ``jax.experimental.multihost_utils.process_allgather``). Returns ``(params, history)``
    with the ensemble axis first; divergence is recorded per member in
    ``history["first_nonfinite_step"]``.
    """
    who = "fit_ensemble"
    options = Options(steps, log_every, unroll, batch_size, key, validation, metrics,
                      start_step, patience, stop_below)  # fmt: skip
    fitcheck.check_call(who, model, loss, optimizer, params, x, target, reg=reg,
                        backprop=backprop, options=options)  # fmt: skip
    if hyperparams is not None and "reg_strength" in hyperparams and reg is None:
        raise ValueError(
            f"{who}: hyperparams['reg_strength'] scales reg, but reg=None: nothing to sweep "
            "(pass e.g. reg=losses.l2(1.0))"
        )
    float_dtype = jnp.result_type(*jax.tree.leaves(params), jnp.float32)
    if not jnp.issubdtype(float_dtype, jnp.floating):
        float_dtype = jnp.float32
    n = ensemble.size(params, hyperparams or {})
    hyper = ensemble.hyper_values(hyperparams, n, float_dtype)
    devices = placement.device_list(devices, who)
    n_pad = -n % len(devices)

    if opt_state is None:
        opt_state = jax.vmap(optimizer.init)(params)
    opt_state = ensemble.with_hyperparams(opt_state, hyper, float_dtype)
    keys = None if key is None else ensemble.member_keys(key, n)
    params, opt_state, keys, hyper = ensemble.pad((params, opt_state, keys, hyper), n_pad)
    cfg = options.config()
    state = jax.vmap(lambda p, s: initial_state(optimizer, p, cfg, s))(params, opt_state)
    inputs = options.inputs(x, target, keys, hyper.get("reg_strength"))
    if len(devices) == 1 and fitcheck.is_concrete(state, inputs):  # one device: run there
        state, inputs = jax.device_put((state, inputs), devices[0])
    elif len(devices) > 1:
        mesh = placement.mesh_1d(devices, "ensemble")
        member, whole = placement.sharded(mesh, "ensemble"), placement.sharded(mesh, None)
        state, keys, strength = placement.put((state, inputs.key, inputs.reg_strength), member)
        shared = placement.put((inputs.x, inputs.target, inputs.validation, inputs.stop_below),
                               whole)  # fmt: skip
        inputs = inputs._replace(
            x=shared[0],
            target=shared[1],
            validation=shared[2],
            stop_below=shared[3],
            key=keys,
            reg_strength=strength,
        )

    runner = _get_runner(model, loss, optimizer, reg, backprop, ensemble_=True)
    traced = not fitcheck.is_concrete(params, x, target)
    state, logs, finals = drive(
        runner,
        state,
        inputs,
        cfg,
        progress=want_progress(progress, steps, traced),
        desc=f"fit_ensemble[{n}]",
        time_axis=1,  # logs are (member, logged step)
    )
    if n_pad:
        state, logs, finals = jax.tree.map(lambda a: a[:n], (state, logs, finals))
    trained = finals.pop("params")
    return trained, _history(logs, finals, state, cfg, start_step)
