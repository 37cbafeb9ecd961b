"""Reporting a diverged run: the exact step and the last params with a finite objective.

The compiled run only watches the objective at logged steps (cheap, and possible under
``jit``/``vmap``). When an eager `fit` sees a non-finite one, it replays the deterministic run
(same key, same data order) to find the exact step and the params just before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

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


def raise_divergence(replay: Callable, history: History, start: int, log_every: int, logged_bad):
    """Raise `DivergenceError` for a run whose logged objective was first non-finite at
    ``logged_bad`` (a global step index).

    ``replay(n, log_every) -> (params, losses)`` re-runs the first ``n`` updates from the
    run's initial state (``n = 0``: the initial params), logging the objective every
    ``log_every`` steps (``None``: once).
    """
    _, losses = replay(logged_bad - start + 1, 1)
    bad = np.flatnonzero(~np.isfinite(np.asarray(losses)))
    step = start + (int(bad[0]) if bad.size else logged_bad - start)
    history["first_nonfinite_step"] = np.int32(step)
    kept = (step - start) // log_every + 1
    for name, value in history.items():  # per-log-step entries, up to and including the bad one
        if name in ("step", "loss") or _is_per_log_step(name, value, len(history["step"])):
            history[name] = value[:kept]
    last_finite = replay(max(step - start - 1, 0), None)[0]
    raise DivergenceError(step, last_finite, history)


def _is_per_log_step(name: str, value, n_logged: int) -> bool:
    return name not in ("opt_state",) and np.ndim(value) >= 1 and len(value) == n_logged
