"""Same-work benchmarks of jaxnn against plain JAX, NumPy, PyTorch, Flax and Equinox.

``python -m benchmarks [W1 ... W6] [--quick] [--out PATH] [--readme README.md]``.
Every contender runs the identical math from the same data and initial weights; one float64
NumPy evaluator scores the weights they return.

The names below are imported lazily, so that ``python -m benchmarks --threads N`` can pin the
thread pools of NumPy's BLAS, PyTorch and XLA before any of them is loaded.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "run_suite": "benchmarks.harness",
    "render_markdown": "benchmarks.harness",
    "update_readme": "benchmarks.harness",
    "write_json": "benchmarks.harness",
    "WORKLOADS": "benchmarks.workloads",
    "evaluate": "benchmarks.workloads",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'benchmarks' has no attribute {name!r}")
