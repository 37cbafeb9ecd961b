"""jaxnn.plot: drawn content matches the inputs; matplotlib stays out of `import jaxnn`."""

import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402

from jaxnn import plot  # noqa: E402

# Two clusters split by the vertical line x1 = 0.
X = np.array([[-2.0, -1.0], [-1.5, 1.0], [-1.0, 0.0], [1.0, 0.5], [1.5, -1.0], [2.0, 1.0]])
Y = np.array([0, 0, 0, 1, 1, 1])


def right_of_zero(points):
    """Probabilities of class 1, shape (m, 1): 0.8 right of x1 = 0, 0.1 left of it."""
    return jnp.where(jnp.asarray(points)[:, :1] > 0, 0.8, 0.1).astype(jnp.float32)


def pixel(fig, ax, point):
    """RGBA of the rendered figure at a data point."""
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())
    px, py = ax.transData.transform(point)
    return image[image.shape[0] - int(round(py)), int(round(px))]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_decision_boundary_fill_matches_predict(tmp_path):
    ax = plot.decision_boundary(right_of_zero, X, Y, title="split", resolution=50)
    fig = ax.figure
    assert ax.get_title() == "split"
    contours = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert len(contours) == 1
    # Grid covers the data plus the padding.
    np.testing.assert_allclose(ax.get_xlim(), (-2.5, 2.5))
    np.testing.assert_allclose(ax.get_ylim(), (-1.5, 1.5))

    # Away from the points, the fill colour on each side is uniform and the sides differ.
    left_a, left_b = pixel(fig, ax, (-0.5, -1.3)), pixel(fig, ax, (-2.3, 1.3))
    right_a, right_b = pixel(fig, ax, (0.5, -1.3)), pixel(fig, ax, (2.3, 0.0))
    np.testing.assert_array_equal(left_a, left_b)
    np.testing.assert_array_equal(right_a, right_b)
    assert not np.array_equal(left_a, right_a)

    # The scattered points carry the labels as their colour values.
    scatter = [c for c in ax.collections if not isinstance(c, ContourSet)][0]
    np.testing.assert_array_equal(scatter.get_offsets(), X)
    np.testing.assert_array_equal(scatter.get_array(), Y)

    out = plot.save(fig, tmp_path / "figs" / "boundary.png")
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    assert not plt.fignum_exists(fig.number)  # save closes the figure
    # 100 dpi: the PNG's pixel size is the figure's size in inches times 100.
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == tuple(int(round(v * 100)) for v in fig.get_size_inches())


def test_decision_boundary_fill_flips_with_predict():
    """Same data, opposite classifier: the colours on the two sides swap."""
    fig, (ax1, ax2) = plt.subplots(1, 2)
    plot.decision_boundary(right_of_zero, X, Y, ax1, resolution=50)
    plot.decision_boundary(lambda p: 1 - right_of_zero(p), X, Y, ax2, resolution=50)
    np.testing.assert_array_equal(pixel(fig, ax1, (-0.5, -1.3)), pixel(fig, ax2, (0.5, -1.3)))
    np.testing.assert_array_equal(pixel(fig, ax1, (0.5, -1.3)), pixel(fig, ax2, (-0.5, -1.3)))


def test_decision_boundary_argmax_scores_and_integer_labels():
    """(m, C) scores use argmax; (m,) integer labels are used as they are."""
    scores = lambda p: np.stack([-p[:, 0], p[:, 0]], axis=1)  # noqa: E731
    labels = lambda p: (p[:, 0] > 0).astype(np.int32)  # noqa: E731
    fig, (ax1, ax2) = plt.subplots(1, 2)
    plot.decision_boundary(scores, X, Y, ax1, resolution=50)
    plot.decision_boundary(labels, X, Y, ax2, resolution=50)
    for point in [(-0.5, -1.3), (0.5, -1.3)]:
        np.testing.assert_array_equal(pixel(fig, ax1, point), pixel(fig, ax2, point))
    assert not np.array_equal(pixel(fig, ax1, (-0.5, -1.3)), pixel(fig, ax1, (0.5, -1.3)))


def test_decision_boundary_grid_layout():
    predicts = {"a": right_of_zero, "b": right_of_zero, "c": right_of_zero, "d": right_of_zero}
    fig = plot.decision_boundary_grid(predicts, X, Y, ncols=3, resolution=20)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["a", "b", "c", "d"]
    assert len(fig.axes) == 6  # two rows of three, the last two hidden
    with pytest.raises(ValueError):
        plot.decision_boundary_grid({}, X, Y)


def test_loss_curve_data():
    history = {"loss": jnp.asarray([3.0, 2.0, 1.5, 1.0])}
    ax = plot.loss_curve(history, label="run", logy=True)
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [0, 1, 2, 3])
    np.testing.assert_array_equal(line.get_ydata(), history["loss"])
    assert line.get_label() == "run" and ax.get_yscale() == "log"

    ax = plot.loss_curve({"loss": [4.0, 2.0], "step": [0, 100]})
    (line,) = ax.get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [0, 100])
    assert ax.get_yscale() == "linear"

    with pytest.raises(ValueError):
        plot.loss_curve({"loss": [1.0, 2.0], "step": [0, 1, 2]})


def test_loss_curve_ensemble_is_a_median_and_a_band():
    rng = np.random.default_rng(0)
    loss = rng.uniform(size=(101, 5))
    loss[0, 2] = np.nan  # a diverged run does not poison the statistics
    ax = plot.loss_curve({"loss": loss, "step": np.arange(5) * 10})
    (line,) = ax.get_lines()  # one line, not 101
    np.testing.assert_array_equal(line.get_xdata(), np.arange(5) * 10)
    np.testing.assert_allclose(line.get_ydata(), np.nanmedian(loss, axis=0))
    (band,) = [c for c in ax.collections]
    top = band.get_paths()[0].vertices[:, 1]
    for q in (np.nanpercentile(loss, 10, axis=0), np.nanpercentile(loss, 90, axis=0)):
        for v in q:  # both percentile curves bound the shaded band
            assert np.any(np.isclose(top, v))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["median of 101 runs", "10–90 % of runs"]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss"


def test_line_boundary_lies_on_the_line():
    fig, ax = plt.subplots()
    ax.scatter(*X.T)  # autoscaled limits, which a long line would otherwise stretch
    xlim, ylim = ax.get_xlim(), ax.get_ylim()
    w, b = np.array([[2.0], [-1.0]]), np.array([1.0])  # a Dense kernel (2, 1): x2 = 2 x1 + 1
    line = plot.line_boundary(ax, w, b, color="k")
    xs, ys = line.get_xdata(), line.get_ydata()
    np.testing.assert_allclose(xs, xlim)
    np.testing.assert_allclose(2 * xs - ys + 1, 0)
    assert line.get_color() == "k"
    assert ax.get_xlim() == xlim and ax.get_ylim() == ylim  # limits untouched

    vertical = plot.line_boundary(ax, [4.0, 0.0], -2.0)
    np.testing.assert_allclose(vertical.get_xdata(), [0.5, 0.5])
    with pytest.raises(ValueError):
        plot.line_boundary(ax, [0.0, 0.0])


def test_import_jaxnn_does_not_import_matplotlib():
    code = "import jaxnn, jaxnn.plot, sys; assert 'matplotlib' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_error_histogram_counts_every_member_and_marks_thresholds():
    errors = np.array([1e-3, 2e-3, 0.05, 0.6, 0.7, 1e-6])
    ax = plot.error_histogram(errors, thresholds={"converged": 0.1, "stuck": 0.5})
    counts = [patch.get_height() for patch in ax.patches]
    assert sum(counts) == len(errors)  # nothing dropped, even the 1e-6 below the first bin
    assert [line.get_xdata()[0] for line in ax.get_lines()] == [0.1, 0.5]
    assert ax.get_xscale() == "log"


def test_error_histogram_axis_fits_the_data():
    errors = np.array([0.016, 0.02, 0.03, 0.5, 0.6, 0.66])
    ax = plot.error_histogram(errors, thresholds={"converged": 0.1, "far away": 1e-5})
    lo, hi = ax.get_xlim()
    assert 0.014 < lo <= 0.016 and 0.66 <= hi < 0.75  # not two decades below the data
    labels = [t.get_text() for t in ax.figure.legends[0].get_texts()]
    assert labels == ["converged", "far away (off axis)"]


def _overlaps(fig, legend, ax) -> bool:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    a, b = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_class_legend_sits_outside_the_data():
    ax = plot.decision_boundary(right_of_zero, X, Y, resolution=20, class_names=["no", "yes"])
    (legend,) = ax.figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["no", "yes"]
    assert not _overlaps(ax.figure, legend, ax)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x₁", "x₂")

    fig = plot.decision_boundary_grid({"a": right_of_zero, "b": right_of_zero}, X, Y, ncols=2)
    (legend,) = fig.legends  # one legend for the grid
    assert [t.get_text() for t in legend.get_texts()] == ["class 0", "class 1"]
    for ax in fig.axes:
        assert ax.get_legend() is None and not _overlaps(fig, legend, ax)


def test_boundary_frames_and_animation(tmp_path):
    frames = {f"step {s}": (lambda p, s=s: p[:, 0] > s / 10) for s in (0, 5, 10)}
    fig = plot.boundary_frames(frames, X, Y)
    assert [ax.get_title() for ax in fig.axes] == ["step 0", "step 5", "step 10"]
    path = plot.boundary_animation(frames, X, Y, tmp_path / "a.gif", resolution=20)
    from PIL import Image

    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == 3


def test_unit_maps_show_each_unit():
    units = lambda p: np.stack([p[:, 0], -p[:, 1], np.tanh(p[:, 0])], axis=1)  # noqa: E731
    fig = plot.unit_maps(units, X, Y, output=right_of_zero, resolution=30, ncols=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert titles == ["hidden unit 0", "hidden unit 1", "hidden unit 2", "output"]
    image = fig.axes[0].get_images()[0]
    grid = image.get_array()
    assert grid.shape == (30, 30)
    # unit 0 is x1 itself: left column negative, right column positive, symmetric scale
    assert grid[:, 0].max() < 0 < grid[:, -1].min()
    assert image.get_clim() == (-2.5, 2.5)
    with pytest.raises(ValueError, match="unit_maps"):
        plot.unit_maps(lambda p: p[:, 0], X, Y)


def test_confusion_matrix_and_image_grid():
    counts = np.array([[5, 1], [0, 7]])
    ax = plot.confusion_matrix(counts)
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), counts)
    assert sorted(t.get_text() for t in ax.texts) == ["1", "5", "7"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    fig = plot.image_grid(np.zeros((3, 8, 8)), ["a", "b", "c"], ncols=2)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["a", "b", "c"]
    with pytest.raises(ValueError):
        plot.confusion_matrix(np.zeros((2, 3)))
