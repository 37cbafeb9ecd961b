"""Driving a compiled run: in one call, or in chunks behind a tqdm progress bar.

A chunk is a resumed run (same key, ``start`` advanced), so a run behind a bar gives exactly
the numbers of one call.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import jax
import jax.numpy as jnp


def want_progress(progress: bool | None, steps: int, traced: bool) -> bool:
    """Show a bar? ``None`` means: long runs on an interactive terminal, never under a trace."""
    if traced or progress is False:
        return False
    if progress is None:
        return steps >= 20_000 and sys.stderr.isatty()
    return True


def drive(run: Callable, state, inputs, cfg, *, progress: bool, desc: str, time_axis: int):
    """``run(state, inputs, cfg=cfg)`` once, or in chunks (multiples of ``log_every``).

    Returns ``(state, logs, finals)`` as ``run`` does, the logs of the chunks concatenated
    along ``time_axis`` (1 for ensembles: member first) and the last chunk's finals.
    """
    tqdm = _tqdm() if progress else None
    if tqdm is None:
        return run(state, inputs, cfg=cfg)
    steps, log_every = cfg.steps, cfg.log_every
    chunk = max(log_every, -(-steps // (20 * log_every)) * log_every)
    pieces, done, start = [], 0, inputs.start
    with tqdm(total=steps, desc=desc, unit="step") as bar:
        while done < steps:
            n = min(chunk, steps - done)
            chunk_inputs = inputs._replace(start=start + done)
            state, logs, finals = run(state, chunk_inputs, cfg=cfg._replace(steps=n))
            jax.block_until_ready(state)
            pieces.append(logs)
            done += n
            bar.update(n)
    logs = jax.tree.map(lambda *hs: jnp.concatenate(hs, axis=time_axis), *pieces)
    return state, logs, finals


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is an optional extra: run without a bar
        return None
    return tqdm
