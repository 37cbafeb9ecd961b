"""Same-work benchmarks of jaxnn against plain JAX, NumPy, PyTorch, Flax and Equinox.

``python -m benchmarks [W1 W2 W3 W4] [--quick] [--out PATH] [--readme README.md]``.
Every contender runs the identical math from the same data and initial weights; one float64
NumPy evaluator scores the weights they return.
"""

from benchmarks.harness import render_markdown, run_suite, update_readme, write_json
from benchmarks.workloads import WORKLOADS, evaluate

__all__ = ["WORKLOADS", "evaluate", "render_markdown", "run_suite", "update_readme", "write_json"]
