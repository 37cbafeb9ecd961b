"""Plots for experiments: decision boundaries, what hidden units compute, loss curves of single
runs and of ensembles, histograms, confusion matrices and image grids.

matplotlib is an optional extra (``pip install jaxnn[plots]``): it is imported inside the
functions, so ``import jaxnn`` never imports it. On a Linux machine without a display, and
when nobody has picked a backend yet, the non-interactive ``Agg`` backend is selected so plots
can still be saved.

Every figure made here has labelled axes, and class legends sit outside the data (to the right
of the axes, once for a whole grid), so they never cover points: `legend_outside` widens the
figure to make room. Margins are fixed in inches, so saving a figure costs no layout pass.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

Axes = Any
Figure = Any

# Class colours: distinguishable, colour-blind friendly (Okabe-Ito), one per class index.
CLASS_COLORS = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # green
    "#E69F00",  # orange
    "#CC79A7",  # purple
    "#56B4E9",  # sky
    "#F0E442",  # yellow
    "#000000",
    "#999999",
    "#8C564B",
)


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


def figure(nrows: int = 1, ncols: int = 1, *, size=(4.0, 3.6), top: float = 0.5, **kwargs):
    """``plt.subplots`` with ``size`` inches per panel and fixed margins in inches.

    Margins are fixed (not constrained layout, which costs a full layout pass per save); a
    legend placed by `legend_outside` widens the figure instead of squeezing the axes.
    ``top`` is the margin above the panels (more for a figure title). Returns ``(fig, axes)``.
    """
    plt = _pyplot()
    width, height = size[0] * ncols, size[1] * nrows + max(0.0, top - 0.5)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), **kwargs)
    # Panels sharing y need no room for tick labels between them; others do.
    gap_x = 0.45 if kwargs.get("sharey") else 0.95
    left, right, bottom, gap_y = 0.75, 0.2, 0.55, 0.75
    axes_w = (width - left - right - (ncols - 1) * gap_x) / ncols
    axes_h = (height - bottom - top - (nrows - 1) * gap_y) / nrows
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=gap_x / axes_w,
        hspace=gap_y / axes_h,
    )
    return fig, axes


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


def _grid(x: np.ndarray, padding: float, resolution: int):
    """A ``resolution²`` grid over the data plus ``padding``: ``(xx, yy, points (m, 2))``."""
    lo = x.min(axis=0) - padding
    hi = x.max(axis=0) + padding
    xx, yy = np.meshgrid(
        np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    )
    # Query in the data's float dtype, so a float64 model sees float64 points.
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    return xx, yy, np.stack([xx.ravel(), yy.ravel()], axis=1).astype(dtype)


def _points(x) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"decision_boundary: x must have shape (n, 2), got {x.shape}")
    return x


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
    class_names: Sequence[str] | None = None,
    legend: bool | None = None,
    xlabel: str = "x₁",
    ylabel: str = "x₂",
    marker_size: float = 28,
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
      class_names: legend names of the classes (default ``class 0``, ``class 1``, ...).
      legend: draw the class legend outside the axes, to their right (default: only when
        this call made the figure; a grid draws one legend for all its panels instead).
      xlabel, ylabel: axis labels.
      marker_size: scatter marker area.

    Returns:
      The Axes. Its first ``collections`` entry is the filled contour of the predictions, the
      second the scattered points (their colour values are the labels).
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.ticker import MaxNLocator

    x = _points(x)
    labels = _class_labels(np.asarray(y), threshold)
    made = ax is None
    if made:
        _, ax = figure(size=(4.4, 4.0))
    xx, yy, grid = _grid(x, padding, resolution)
    zz = _class_labels(np.asarray(predict(grid)), threshold).reshape(xx.shape)

    # One colour per integer class, shared by the fill and the points so they match.
    last = int(max(zz.max(), labels.max(), 1))
    if min(zz.min(), labels.min()) < 0:
        raise ValueError("decision_boundary: class labels must be non-negative")
    cmap = ListedColormap([CLASS_COLORS[i % len(CLASS_COLORS)] for i in range(last + 1)])
    levels = np.arange(last + 2) - 0.5
    ax.contourf(xx, yy, zz, levels=levels, cmap=cmap, alpha=0.25)
    ax.scatter(
        x[:, 0],
        x[:, 1],
        c=labels,
        cmap=cmap,
        vmin=levels[0],
        vmax=levels[-1],
        edgecolors="k",
        linewidths=0.5,
        s=marker_size,
    )
    # Legend entries for the classes present in the data (empty proxies: no drawn content).
    for k in np.unique(labels):
        name = class_names[k] if class_names is not None else f"class {k}"
        ax.plot([], [], "o", color=CLASS_COLORS[k % len(CLASS_COLORS)], mec="k", label=name)
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.yaxis.set_major_locator(MaxNLocator(6))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        wrapped = _wrap(title, 34)
        ax.set_title(wrapped, fontsize="medium" if "\n" in wrapped else "large")
    if legend or (legend is None and made):
        legend_outside(ax.figure)
    return ax


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


def legend_outside(fig: Figure, *, title: str | None = None):
    """One legend for the whole figure, to the right of all its axes (so it covers no data).

    Collects the labelled artists of every visible axes once per label (so a grid of panels
    gets one class legend), removes legends drawn before, and widens the figure by the
    legend's width, keeping every axes' size. Returns the legend (``None`` when nothing is
    labelled).
    """
    for ax in fig.axes:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    for old in list(fig.legends):
        old.remove()
    handles, seen = [], {}
    visible = [ax for ax in fig.axes if ax.get_visible()]
    for ax in visible:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in seen and not label.startswith("_"):
                seen[label] = handle
                handles.append(handle)
    if not handles:
        return None
    width, height = fig.get_size_inches()
    edge = max(ax.get_position().x1 for ax in visible) * width  # inches
    top = max(ax.get_position().y1 for ax in visible)
    kwargs = dict(loc="upper left", title=title, fontsize="small", frameon=False)
    legend = fig.legend(handles, list(seen), bbox_to_anchor=(1.0, top), **kwargs)
    needed = legend.get_window_extent(fig.canvas.get_renderer()).width / fig.dpi
    new_width = max(width, math.ceil((edge + 0.15 + needed + 0.1) * 100) / 100)  # whole pixels
    if new_width > width:  # keep every axes' size and place in inches
        fig.set_size_inches(new_width, height)
        for ax in fig.axes:
            p = ax.get_position()
            ax.set_position([p.x0 * width / new_width, p.y0, p.width * width / new_width, p.height])
    legend.set_bbox_to_anchor(((edge + 0.15) / new_width, top), transform=fig.transFigure)
    return legend


def decision_boundary_grid(
    predicts: Mapping[str, Callable],
    x,
    y,
    *,
    ncols: int = 3,
    size: float = 3.4,
    legend: bool = True,
    **kwargs,
) -> Figure:
    """One `decision_boundary` subplot per ``{title: predict}`` entry; returns the Figure.

    ``size`` is each panel's width and height in inches. Extra keyword arguments
    (``resolution``, ``padding``, ``class_names``, ...) go to `decision_boundary`. Unused cells
    of the last row are hidden; one class legend is drawn for all panels, outside them.
    """
    if not predicts:
        raise ValueError("decision_boundary_grid: predicts is empty")
    ncols = max(1, min(ncols, len(predicts)))
    nrows = math.ceil(len(predicts) / ncols)
    fig, axes = figure(nrows, ncols, size=(size, size), squeeze=False, sharex=True, sharey=True)
    flat = axes.ravel()
    for ax, (title, predict) in zip(flat, predicts.items(), strict=False):
        decision_boundary(predict, x, y, ax, title=title, legend=False, **kwargs)
    for ax in flat[len(predicts) :]:
        ax.set_visible(False)
    for i, ax in enumerate(flat[: len(predicts)]):
        if i + ncols < len(predicts):  # a panel below shows the shared x axis
            ax.set_xlabel("")
        else:  # the lowest panel of its column: tick labels even above a hidden cell
            ax.xaxis.set_tick_params(labelbottom=True)
        if i % ncols:
            ax.set_ylabel("")
    if legend:
        legend_outside(fig)
    return fig


def boundary_frames(
    frames: Mapping[str, Callable], x, y, *, ncols: int | None = None, size=2.6, **kwargs
) -> Figure:
    """A strip of decision boundaries as training goes on: ``{"step 100": predict, ...}``.

    One row (or ``ncols`` per row) of small panels in the given order, one class legend.
    Keyword arguments go to `decision_boundary` (``resolution`` defaults to 100 here).
    """
    kwargs.setdefault("resolution", 100)
    kwargs.setdefault("marker_size", 12)
    return decision_boundary_grid(frames, x, y, ncols=ncols or len(frames), size=size, **kwargs)


def boundary_animation(
    frames: Mapping[str, Callable], x, y, path: str | os.PathLike, *, ms_per_frame=700, **kw
) -> Path:
    """An animated GIF of decision boundaries as training goes on, one frame per entry.

    Each frame is a `decision_boundary` titled with its key; the last frame is held three
    times as long. Needs Pillow (a matplotlib dependency). Returns the path written.
    """
    from PIL import Image

    plt = _pyplot()
    if not frames:
        raise ValueError("boundary_animation: frames is empty")
    kw.setdefault("resolution", 120)
    images = []
    for title, predict in frames.items():
        fig, ax = figure(size=(4.6, 3.6))
        decision_boundary(predict, x, y, ax, title=title, legend=True, **kw)
        fig.canvas.draw()
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
        plt.close(fig)
        images.append(Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    durations = [ms_per_frame] * (len(images) - 1) + [3 * ms_per_frame]
    images[0].save(
        path, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0
    )
    return path


def unit_maps(
    units: Callable,
    x,
    y,
    *,
    output: Callable | None = None,
    resolution: int = 120,
    padding: float = 0.5,
    ncols: int = 4,
    size: float = 2.6,
    label: str = "activation",
    title: str | None = None,
) -> Figure:
    """TensorFlow-Playground-style maps: what each hidden unit computes on the plane.

    Args:
      units: maps points ``(m, 2)`` to hidden activations ``(m, H)``; one panel per unit,
        coloured by its value (purple negative, white 0, green positive) on one shared,
        symmetric scale with a colour bar.
      x, y: the data, drawn small on every panel for orientation.
      output: optional ``predict`` for a last panel with the network's decision boundary.
      label: the colour bar's label.

    Returns:
      The Figure.
    """
    x = _points(x)
    labels = _class_labels(np.asarray(y), 0.5)
    xx, yy, grid = _grid(x, padding, resolution)
    acts = np.asarray(units(grid))
    if acts.ndim != 2 or acts.shape[0] != grid.shape[0]:
        raise ValueError(f"unit_maps: units must return (m, H) activations, got {acts.shape}")
    n_units = acts.shape[1]
    panels = n_units + (output is not None)
    ncols = max(1, min(ncols, panels))
    nrows = math.ceil(panels / ncols)
    fig, axes = figure(
        nrows, ncols, size=(size, size), top=0.85 if title else 0.5, squeeze=False,
        sharex=True, sharey=True,
    )  # fmt: skip
    flat = axes.ravel()
    scale = float(np.max(np.abs(acts))) or 1.0
    image = None
    colors = [CLASS_COLORS[k % len(CLASS_COLORS)] for k in labels]
    for j in range(n_units):
        ax = flat[j]
        image = ax.imshow(
            acts[:, j].reshape(xx.shape),
            origin="lower",
            extent=(xx.min(), xx.max(), yy.min(), yy.max()),
            cmap="PRGn",
            vmin=-scale,
            vmax=scale,
            aspect="auto",
        )
        ax.scatter(x[:, 0], x[:, 1], c=colors, s=7, edgecolors="k", linewidths=0.2)
        ax.set_title(f"hidden unit {j}")
    if output is not None:
        decision_boundary(
            output, x, y, flat[n_units], title="output", resolution=resolution,
            padding=padding, legend=False, marker_size=8,
        )  # fmt: skip
    for ax in flat[panels:]:
        ax.set_visible(False)
    for ax in flat[:panels]:
        ax.set_xlabel("x₁" if ax.get_subplotspec().is_last_row() else "")
        ax.set_ylabel("x₂" if ax.get_subplotspec().is_first_col() else "")
    fig.colorbar(image, ax=list(flat[:n_units]), label=label, shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def loss_curve(
    history: Mapping[str, Any],
    ax: Axes | None = None,
    *,
    label: str | None = None,
    logy=False,
    key: str = "loss",
    band: tuple[float, float] = (10, 90),
    xlabel: str = "step",
    ylabel: str = "loss",
    color=None,
    **kwargs,
) -> Axes:
    """Plot ``history[key]`` (default ``"loss"``) against ``history["step"]`` (default 0, 1, ...).

    A 2-D ``history[key]`` of shape ``(runs, steps)`` (an ensemble) is drawn as its median
    over runs (labelled ``label``, or ``median of N runs``) and a shaded band between the
    ``band`` percentiles (default 10 % and 90 %), not as N overlapping lines; non-finite values
    are left out of the statistics. Extra keyword arguments go to ``ax.plot``. Returns the Axes.
    """
    loss = np.asarray(history[key], dtype=float)
    if loss.ndim not in (1, 2):
        raise ValueError(f"loss_curve: history[{key!r}] must be 1-D or 2-D, got {loss.shape}")
    n = loss.shape[-1]
    step = np.asarray(history.get("step", np.arange(n)))
    if step.ndim == 2:
        step = step[0]
    if step.shape[-1] != n:
        raise ValueError(f"loss_curve: {n} losses but {step.shape[-1]} steps")
    if ax is None:
        _, ax = figure(size=(5.6, 3.8))
    if loss.ndim == 1:
        ax.plot(step, loss, label=label, color=color, **kwargs)
    else:
        finite = np.where(np.isfinite(loss), loss, np.nan)
        lo, mid, hi = np.nanpercentile(finite, [band[0], 50, band[1]], axis=0)
        name = label if label is not None else f"median of {loss.shape[0]} runs"
        (line,) = ax.plot(step, mid, label=name, color=color, **kwargs)
        ax.fill_between(
            step,
            lo,
            hi,
            color=line.get_color(),
            alpha=0.25,
            lw=0,
            label=f"{band[0]:g}–{band[1]:g} % of runs" + (f" ({label})" if label else ""),
        )
    if logy:
        _log_y(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if label is not None or loss.ndim == 2:
        ax.legend()
    return ax


def _log_y(ax: Axes) -> None:
    """A log y axis labelled in plain numbers (0.2, not 2×10⁻¹); minor ticks labelled only
    when the axis spans less than a decade (else they would crowd)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    lo, hi = ax.get_ylim()
    ax.yaxis.set_minor_formatter(plain if lo > 0 and hi / lo < 10 else NullFormatter())


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

    The axis is fitted to the data (its smallest and largest positive error, a little
    margin, and any threshold inside that range). ``thresholds`` maps a label to an x
    position drawn as a dashed vertical line (say ``{"converged < 0.1": 0.1}``); thresholds
    outside the data's range are listed in the legend but not drawn. Zero errors are counted
    in the first bin. Returns the Axes.
    """
    errors = np.asarray(errors, dtype=float).ravel()
    if ax is None:
        _, ax = figure(size=(6.4, 3.8))
    positive = errors[np.isfinite(errors) & (errors > 0)]
    lo = float(positive.min()) if positive.size else 1e-12
    hi = float(positive.max()) if positive.size else 1.0
    if hi / lo < 10:  # at least one decade, centred on the data
        mid = math.sqrt(hi * lo)
        lo, hi = mid / math.sqrt(10), mid * math.sqrt(10)
    edges = np.logspace(math.log10(lo) - 0.02, math.log10(hi) + 0.02, bins + 1)
    ax.hist(np.clip(errors, edges[0], edges[-1]), bins=edges, color=CLASS_COLORS[0])
    for (label, x), color in zip(
        (thresholds or {}).items(), ("#009E73", "#D55E00", "#CC79A7", "k"), strict=False
    ):
        inside = edges[0] <= x <= edges[-1]
        ax.axvline(x, color=color, ls="--", label=label if inside else f"{label} (off axis)")
    ax.set_xscale("log")
    ax.set_xlim(edges[0], edges[-1])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("members (count)")
    if title:
        ax.set_title(title)
    if thresholds:
        legend_outside(ax.figure)
    return ax


def confusion_matrix(
    counts, ax: Axes | None = None, *, class_names: Sequence[str] | None = None, title=None
) -> Axes:
    """A confusion matrix ``counts[true, predicted]`` as a heat map with every count written in.

    Returns the Axes (rows: true class, columns: predicted class).
    """
    counts = np.asarray(counts)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"confusion_matrix: need a square (C, C) array, got {counts.shape}")
    if ax is None:
        _, ax = figure(size=(5.2, 4.6))
    c = counts.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(c)]
    image = ax.imshow(counts, cmap="Blues")
    top = counts.max() if counts.size else 0
    for i in range(c):
        for j in range(c):
            if counts[i, j]:
                white = counts[i, j] > top / 2
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                        color="w" if white else "k")  # fmt: skip
    ax.set_xticks(range(c), names)
    ax.set_yticks(range(c), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.figure.colorbar(image, ax=ax, label="test examples", shrink=0.8)
    if title:
        ax.set_title(title)
    return ax


def image_grid(
    images, titles: Sequence[str] | None = None, *, ncols: int = 8, size: float = 1.3, title=None
) -> Figure:
    """Small grey-scale images (``(n, h, w)``, dark = high) in a grid, each with its title.

    Returns the Figure; an empty ``images`` gives a figure saying "none".
    """
    images = np.asarray(images)
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = figure(
        nrows, ncols, size=(size, size * 1.15), top=0.8 if title else 0.5, squeeze=False
    )
    # No axes to label: the images take the whole figure but a title line.
    top = 1 - (0.8 if title else 0.3) / fig.get_size_inches()[1]
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=top, wspace=0.15, hspace=0.45)
    flat = axes.ravel()
    for i, ax in enumerate(flat):
        ax.set_axis_off()
        if i < n:
            ax.imshow(images[i], cmap="gray_r", interpolation="nearest")
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if n == 0:
        flat[0].text(0.5, 0.5, "none", ha="center", va="center")
    if title:
        fig.suptitle(title)
    return fig


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
