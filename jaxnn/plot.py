"""Plots for experiments: decision boundaries, perceptron lines and loss curves.

matplotlib is an optional extra (``pip install jaxnn[plots]``): it is imported inside the
functions, so ``import jaxnn`` never imports it. On a Linux machine without a display, and
when nobody has picked a backend yet, the non-interactive ``Agg`` backend is selected so plots
can still be saved.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

Axes = Any
Figure = Any


def _pyplot():
    """Import ``matplotlib.pyplot``, choosing Agg first when there is no display to draw on."""
    import matplotlib

    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    # macOS and Windows draw without an X display, so only Linux-like systems count as headless.
    unix_like = not sys.platform.startswith(("darwin", "win"))
    if headless and unix_like and "matplotlib.pyplot" not in sys.modules:
        # _get_backend_or_none is None until a backend is chosen (matplotlib.use, MPLBACKEND,
        # matplotlibrc); respect any such choice.
        get = getattr(matplotlib.rcParams, "_get_backend_or_none", None)
        if get is not None and get() is None:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _class_labels(values: np.ndarray, threshold: float) -> np.ndarray:
    """Integer labels from labels, probabilities or scores.

    ``(m, C)`` with ``C > 1``: argmax. ``(m,)`` or ``(m, 1)``: floats are thresholded (so 0/1
    and -1/1 targets both become 0/1 at the default 0.5), integers and bools kept as they are.
    """
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] > 1:
        return np.argmax(values, axis=1)
    if values.ndim == 2:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(
            "decision_boundary: expected labels or scores of shape (m,), (m, 1) or (m, C), "
            f"got {values.shape}"
        )
    if np.issubdtype(values.dtype, np.floating):
        return (values > threshold).astype(np.int64)
    return values.astype(np.int64)


def decision_boundary(
    predict: Callable,
    x,
    y,
    ax: Axes | None = None,
    *,
    title: str | None = None,
    resolution: int = 200,
    padding: float = 0.5,
    threshold: float = 0.5,
) -> Axes:
    """Colour the plane by ``predict``'s class and scatter ``x`` coloured by ``y``.

    Args:
      predict: maps points ``(m, 2)`` to class labels ``(m,)``, probabilities ``(m,)`` or
        ``(m, 1)`` (thresholded at ``threshold``), or scores ``(m, C)`` (argmax).
      x: ``(n, 2)`` points.
      y: ``(n,)`` or ``(n, 1)`` labels (or 0/1 float targets), or ``(n, C)`` one-hot.
      ax: axes to draw on; a new figure is made when ``None``.
      title: optional axes title.
      resolution: grid points per axis.
      padding: margin around the data, in data units.
      threshold: cut-off for single-column float outputs.

    Returns:
      The Axes. Its first ``collections`` entry is the filled contour of the predictions.
    """
    plt = _pyplot()
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"decision_boundary: x must have shape (n, 2), got {x.shape}")
    labels = _class_labels(np.asarray(y), threshold)
    if ax is None:
        _, ax = plt.subplots()

    lo = x.min(axis=0) - padding
    hi = x.max(axis=0) + padding
    xx, yy = np.meshgrid(
        np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    )
    # Query in the data's float dtype, so a float64 model sees float64 points.
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1).astype(dtype)
    zz = _class_labels(np.asarray(predict(grid)), threshold).reshape(xx.shape)

    # One colour band per integer class, shared by the fill and the points so they match.
    first = int(min(zz.min(), labels.min()))
    last = int(max(zz.max(), labels.max()))
    levels = np.arange(first, last + 2) - 0.5
    cmap = "coolwarm" if last - first <= 1 else "viridis"
    ax.contourf(xx, yy, zz, levels=levels, cmap=cmap, alpha=0.35)
    ax.scatter(
        x[:, 0], x[:, 1], c=labels, cmap=cmap, vmin=levels[0], vmax=levels[-1], edgecolors="k"
    )
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    if title is not None:
        ax.set_title(title)
    return ax


def decision_boundary_grid(
    predicts: Mapping[str, Callable], x, y, *, ncols: int = 3, **kwargs
) -> Figure:
    """One `decision_boundary` subplot per ``{title: predict}`` entry; returns the Figure.

    Extra keyword arguments (``resolution``, ``padding``, ...) go to `decision_boundary`.
    Unused cells of the last row are hidden.
    """
    if not predicts:
        raise ValueError("decision_boundary_grid: predicts is empty")
    plt = _pyplot()
    ncols = max(1, min(ncols, len(predicts)))
    nrows = math.ceil(len(predicts) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 4 * nrows), squeeze=False)
    flat = axes.ravel()
    for ax, (title, predict) in zip(flat, predicts.items(), strict=False):
        decision_boundary(predict, x, y, ax, title=title, **kwargs)
    for ax in flat[len(predicts) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def loss_curve(
    history: Mapping[str, Any], ax: Axes | None = None, *, label: str | None = None, logy=False
) -> Axes:
    """Plot ``history["loss"]`` against ``history["step"]`` (default ``0, 1, ...``).

    A 2-D ``loss`` of shape ``(runs, steps)`` (an ensemble) draws one line per run, all in one
    colour, labelled once. Returns the Axes.
    """
    plt = _pyplot()
    loss = np.asarray(history["loss"])
    if loss.ndim not in (1, 2):
        raise ValueError(f"loss_curve: history['loss'] must be 1-D or 2-D, got {loss.shape}")
    n = loss.shape[-1]
    step = np.asarray(history.get("step", np.arange(n)))
    if step.shape[-1] != n:
        raise ValueError(f"loss_curve: {n} losses but {step.shape[-1]} steps")
    if ax is None:
        _, ax = plt.subplots()
    if loss.ndim == 1:
        ax.plot(step, loss, label=label)
    else:
        steps = np.broadcast_to(step, loss.shape)
        first = ax.plot(steps[0], loss[0], label=label)[0]
        for s, l in zip(steps[1:], loss[1:], strict=True):
            ax.plot(s, l, color=first.get_color(), alpha=first.get_alpha())
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if label is not None:
        ax.legend()
    return ax


def error_histogram(
    errors,
    ax: Axes | None = None,
    *,
    thresholds: Mapping[str, float] | None = None,
    title: str | None = None,
    xlabel: str = "max |output − target| after training",
    bins: int = 40,
) -> Axes:
    """Histogram of one error per ensemble member on a log axis, e.g. to count converged nets.

    ``thresholds`` maps a label to an x position drawn as a dashed vertical line (say
    ``{"converged < 0.1": 0.1}``). Errors below ``1e-4`` are drawn in the first bin.
    Returns the Axes.
    """
    plt = _pyplot()
    errors = np.asarray(errors, dtype=float).ravel()
    if ax is None:
        _, ax = plt.subplots()
    top = max(float(errors.max(initial=1.0)), 1.0)
    edges = np.logspace(np.log10(max(float(errors.min(initial=1e-4)), 1e-4)), np.log10(top), bins)
    ax.hist(np.clip(errors, edges[0], top), bins=edges)
    for (label, x), color in zip((thresholds or {}).items(), ("g", "r", "b", "k"), strict=False):
        ax.axvline(x, color=color, ls="--", label=label)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("members")
    if title:
        ax.set_title(title)
    if thresholds:
        ax.legend()
    return ax


def line_boundary(ax: Axes, w, b=0.0, **kw):
    """Draw the line ``w[0]*x1 + w[1]*x2 + b = 0`` across the axes' current limits.

    ``w`` has two entries (shape ``(2,)`` or a Dense kernel ``(2, 1)``) and ``b`` one. The axes'
    limits are kept, so a steep line does not rescale the plot. Keyword arguments go to
    ``ax.plot``. Returns the ``Line2D``.
    """
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if w.shape != (2,) or b.shape != (1,):
        raise ValueError(
            f"line_boundary: need 2 weights and 1 bias, got {w.size} weights and {b.size} biases"
        )
    (w1, w2), b = w, b[0]
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    if w2 != 0:
        x1 = np.asarray(xlim)
        x2 = -(w1 * x1 + b) / w2
    elif w1 != 0:  # vertical line x1 = -b / w1
        x1 = np.full(2, -b / w1)
        x2 = np.asarray(ylim)
    else:
        raise ValueError("line_boundary: w is zero, so there is no line")
    (line,) = ax.plot(x1, x2, **kw)
    ax.set_xlim(xlim)
    ax.set_ylim(ylim)
    return line


def save(fig: Figure, path: str | os.PathLike) -> Path:
    """Save ``fig`` as a PNG at 100 dpi (creating parent directories), then close it.

    Returns the path written.
    """
    plt = _pyplot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path, dpi=100, format="png")
    finally:
        plt.close(fig)
    return path
