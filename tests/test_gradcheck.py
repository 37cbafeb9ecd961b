"""check_grads: every planted bug class is caught and named by leaf (float32 and float64), every
correct configuration passes with zero alarms (saturation, kinks, huge logits, every layer and
loss), the report points at the bug, misuse gets a TypeError naming the fix, and a warm call
compiles nothing."""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import planted
import pytest
from jax import monitoring

import jaxnn
from jaxnn import (
    ELU,
    Dense,
    Identity,
    Layer,
    LeakyReLU,
    Regularizer,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Step,
    Tanh,
    check_grads,
    losses,
    mlp,
    serial,
)
from jaxnn.gradcheck import TOLERANCES
from jaxnn.losses import binary_cross_entropy, half_sse, l2, mse, softmax_cross_entropy, sse

KEY = jax.random.key(0)
DROP_KEY = jax.random.key(42)
ACT_LEAVES = {"[0].b", "[0].w", "input"}  # upstream of a bad activation at [1]
ALL_LEAVES = {"[0].b", "[0].w", "[2].b", "[2].w", "input"}


def cast(tree, dtype):
    return jax.tree.map(lambda a: jnp.asarray(a, dtype), tree)


def data(batch=(5,), out=2, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return scale * rng.standard_normal((*batch, 3)), rng.uniform(0, 1, (*batch, out))


def run(model, loss, x, t, dtype, *, params=None, zero_bias=False, key=None, reg=None):
    """check_grads at ``dtype`` (x64 on only for float64), params from ``model.init``."""
    with jax.enable_x64(dtype == "float64"):
        if params is None:
            _, params = model.init(KEY, np.shape(x)[-1:])
        if zero_bias:
            params = jax.tree_util.tree_map_with_path(
                lambda p, a: jnp.zeros_like(a) if p and getattr(p[-1], "key", "") == "b" else a,
                params,
            )
        params = cast(params, dtype)
        x = jnp.asarray(x, dtype)
        if t is not None and np.issubdtype(np.asarray(t).dtype, np.floating):
            t = jnp.asarray(t, dtype)
        return check_grads(model, loss, params, x, t, key=key, reg=reg)


def failing(report) -> set[str]:
    return {row.path for row in report.failures}


# --------------------------------------------------------------------------------------------
# Planted bugs: every class caught, the exact leaves named, the report pointing at the bug
# --------------------------------------------------------------------------------------------


def _zero_rows(x):
    x = np.array(x)
    x[1] = 0.0
    x[3] = 0.0
    return x


def _planted_cases():
    def dw_transposed(p, dx, x, dy, params):
        return {**p, "w": p["w"].T}, dx

    def db_axis0(p, dx, x, dy, params):
        return {**p, "b": jnp.sum(dy, axis=0)}, dx

    def db_mean(p, dx, x, dy, params):
        return {**p, "b": jnp.mean(dy, axis=0)}, dx

    def dw_zero(p, dx, x, dy, params):
        return {**p, "w": 0 * p["w"]}, dx

    def dw_nan(p, dx, x, dy, params):
        return {**p, "w": p["w"] * jnp.nan}, dx

    dw_t = planted.dense_with(3, "DenseDwTransposed", dw_transposed)
    db_axis0 = planted.dense_with(4, "DenseDbAxis0", db_axis0)
    db_mean = planted.dense_with(4, "DenseDbMean", db_mean)
    dx_sign = planted.dense_with(2, "DenseDxSign", lambda p, dx, x, dy, w: (p, -dx))
    dw_zero = planted.dense_with(4, "DenseNoDw", dw_zero)
    dw_nan = planted.dense_with(2, "DenseNaNDw", dw_nan)
    base = Dense(2)

    def y_off_vjp(params, x):
        y, backward = base.vjp(params, x)
        return y + 0.1, backward

    y_off = base._replace(vjp=y_off_vjp, name="DenseYOff")
    x, t = data()
    x3, t3 = data(out=3)
    return {
        # id: (model, loss, x, t, failing leaves, words the report must contain, options)
        "sigmoid-from-x": (
            serial(Dense(4), planted.sigmoid_from_x(), Dense(2)),
            half_sse,
            x,
            t,
            ACT_LEAVES,
            ["[1] SigmoidFromX", "between [0] and [2]"],
            {},
        ),
        "sigmoid-factor-2": (
            serial(Dense(4), planted.sigmoid_times_2(), Dense(2)),
            half_sse,
            x,
            t,
            ACT_LEAVES,
            ["×2.000: a factor of 2?", "[1] SigmoidTimes2"],
            {},
        ),
        "tanh-sign": (
            serial(Dense(4), planted.tanh_wrong_sign(), Dense(2)),
            half_sse,
            x,
            t,
            ACT_LEAVES,
            ["×-1.000: a sign?"],
            {},
        ),
        "softmax-missing-term": (
            serial(Dense(4), Tanh(), Dense(3), planted.softmax_missing_term()),
            half_sse,
            x3,
            t3,
            ALL_LEAVES,
            ["[3] SoftmaxNoSum"],
            {},
        ),
        "dw-transposed": (
            serial(dw_t, Tanh(), Dense(2)),
            half_sse,
            x,
            t,
            {"[0].w"},
            ["[0] DenseDwTransposed: its w gradient", "own param gradients"],
            {},
        ),
        "sse-vs-half-sse": (
            serial(Dense(4), Sigmoid(), Dense(2)),
            planted.sse_backward_on_half_sse(),
            x,
            t,
            ALL_LEAVES,
            ["the loss half_sse with sse's backward", "×2.000"],
            {},
        ),
        "only-at-saturation": (
            serial(Dense(4), planted.sigmoid_zero_in_tails(), Dense(2)),
            half_sse,
            5 * x,
            t,
            ACT_LEAVES,
            ["[1] SigmoidZeroTails"],
            {},
        ),
        "db-axis-only-unbatched": (
            serial(db_axis0, Tanh(), Dense(2)),
            half_sse,
            x[0],
            t[0],
            {"[0].b"},
            ["shape ()"],
            {},
        ),
        "relative-1e-3": (
            serial(Dense(4), Tanh(), planted.scaled_dw_dense(2, 1.001)),
            half_sse,
            x,
            t,
            {"[2].w"},
            ["×1.001"],
            {},
        ),
        "relu-ge-at-kink": (
            serial(Dense(4), planted.relu_ge(), Dense(2)),
            half_sse,
            _zero_rows(x),
            t,
            {"[0].b", "input"},
            ["[1] ReLU(x>=0)"],
            {"zero_bias": True},
        ),
        "dx-sign-in-last-layer": (
            serial(Dense(4), Sigmoid(), dx_sign),
            half_sse,
            x,
            t,
            ACT_LEAVES,
            ["[2] DenseDxSign: its backward's dx", "between [0] and [2]"],
            {},
        ),
        "dw-missing": (
            serial(dw_zero, Tanh(), Dense(2)),
            half_sse,
            x,
            t,
            {"[0].w"},
            ["0: a missing term?"],
            {},
        ),
        "db-mean-not-sum": (
            serial(db_mean, Tanh(), Dense(2)),
            half_sse,
            x,
            t,
            {"[0].b"},
            ["1/5: a mean where a sum belongs?"],
            {},
        ),
        "nan-gradient": (serial(Dense(4), Tanh(), dw_nan), half_sse, x, t, {"[2].w"}, ["NaN"], {}),
        "forward-in-vjp": (
            serial(Dense(4), Tanh(), y_off),
            half_sse,
            x,
            t,
            ALL_LEAVES,
            ["[2] DenseYOff: the y its vjp returns ≠ its apply"],
            {},
        ),
        "dropout-no-scale": (
            serial(Dense(4), Tanh(), planted.dropout_without_scale(0.5), Dense(2)),
            half_sse,
            x,
            t,
            ACT_LEAVES,
            ["[2] Dropout(0.5) without scale"],
            {"key": DROP_KEY},
        ),
        "dropout-fresh-mask": (
            serial(Dense(4), Tanh(), planted.dropout_fresh_mask(0.5), Dense(2)),
            half_sse,
            x,
            t,
            ACT_LEAVES,
            ["[2] Dropout(0.5) with a fresh mask"],
            {"key": DROP_KEY},
        ),
    }


PLANTED = _planted_cases()


# float32 for the classes where precision matters; every class in float64 (compile budget).
FLOAT32_PLANTED = (
    "sigmoid-factor-2",
    "sse-vs-half-sse",
    "only-at-saturation",
    "relative-1e-3",
    "relu-ge-at-kink",
    "dropout-no-scale",
    "db-axis-only-unbatched",
)


@pytest.mark.parametrize(
    "case,dtype",
    [(case, "float64") for case in PLANTED] + [(case, "float32") for case in FLOAT32_PLANTED],
)
def test_planted_bug_is_caught_and_named(case, dtype):
    model, loss, x, t, wrong, words, options = PLANTED[case]
    report = run(model, loss, x, t, dtype, **options)
    assert report.dtype == dtype
    assert failing(report) == wrong, str(report)
    text = str(report)
    for word in words:
        assert word in text, f"{word!r} not in\n{text}"
    for row in report.failures:
        assert "manual ≠ autodiff" in row.status or "manual gradient has shape" in row.status
        assert "autodiff ≠ FD" not in row.status  # apply is right in every planted layer
        assert row.hint  # what to look at
    assert report.verdict == "FAILED: " + ", ".join(r.path for r in report.failures)


def test_nan_gradient_never_shows_as_a_match():
    model, loss, x, t, *_ = PLANTED["nan-gradient"]
    report = run(model, loss, x, t, "float64")
    (row,) = report.failures
    assert np.isinf(row.agree_abs) and not row.counted_ok
    line = next(line for line in str(report).splitlines() if line.startswith("[2].w"))
    assert "0.00e+00" not in line and "NaN" in row.hint


def test_dropout_bugs_pass_in_evaluation_mode():
    """Without a key Dropout is the identity, so the planted backward bugs cannot show."""
    model, loss, x, t, *_ = PLANTED["dropout-no-scale"]
    assert run(model, loss, x, t, "float64").ok


def test_bias_summed_over_axis_0_passes_batched_fails_unbatched():
    model, loss, x, t, *_ = PLANTED["db-axis-only-unbatched"]
    xb, tb = data()
    assert run(model, loss, xb, tb, "float64").ok  # why one batched probe is not enough


def test_bug_in_apply_itself_is_caught_by_finite_differences():
    """When apply's own derivative is wrong, manual and autodiff agree; only FD can tell."""

    @jax.custom_jvp
    def tanh_with_wrong_jvp(x):
        return jnp.tanh(x)

    @tanh_with_wrong_jvp.defjvp
    def _(primals, tangents):
        y = jnp.tanh(primals[0])
        return y, 0.5 * tangents[0] * (1 - y**2)

    def vjp(params, x):
        y = jnp.tanh(x)
        return y, lambda dy: ((), 0.5 * dy * (1 - y**2))  # consistent with the wrong jvp

    half_tanh = Tanh()._replace(apply=lambda p, x: tanh_with_wrong_jvp(x), vjp=vjp)
    x, t = data()
    report = run(serial(Dense(4), half_tanh, Dense(2)), half_sse, x, t, "float64")
    assert failing(report) == ACT_LEAVES
    for row in report.failures:
        assert row.agree_rel <= 1e-9  # the two gradient paths agree ...
        assert "manual ≠ FD" in row.status and "autodiff ≠ FD" in row.status  # ... both wrong
        assert "apply's own derivative is wrong" in row.hint and "×0.500" in row.hint


def test_wrong_regularizer_gradient_fails_only_on_weights_and_is_named():
    model = mlp([3, 4, 2], activation="tanh")
    good = l2(0.5)
    bad = Regularizer(good.value, lambda p: jax.tree.map(lambda g: 2 * g, good.grad(p)))
    x, t = data()
    assert run(model, half_sse, x, t, "float64", reg=good).ok
    report = run(model, half_sse, x, t, "float64", reg=bad)
    assert failing(report) == {"[0].w", "[2].w"}
    assert any("the regularizer" in s for s in report.suspects)


def test_wrongly_shaped_gradient_is_a_named_failure_not_a_crash():
    def transposed(p, dx, x, dy, params):
        return {**p, "w": p["w"].T}, dx

    bad = planted.dense_with(4, "TransposedDense", transposed)
    x, t = data()
    report = run(serial(bad, Sigmoid(), Dense(2)), half_sse, x, t, "float64")
    assert failing(report) == {"[0].w"}
    (row,) = report.failures
    assert "(4, 3)" in row.status and "(3, 4)" in row.status and "transposed" in row.hint


# --------------------------------------------------------------------------------------------
# Correct configurations: zero alarms
# --------------------------------------------------------------------------------------------


def _user_leaky() -> Layer:
    """A user's LeakyReLU with no kink declaration: the kink must be found from the numbers."""

    def init(key, shape):
        return tuple(shape), ()

    def apply(params, x):
        return jnp.where(x > 0, x, 0.01 * x)

    def vjp(params, x):
        return apply(params, x), lambda dy: ((), dy * jnp.where(x > 0, 1.0, 0.01))

    return Layer(init, apply, vjp, name="UserLeaky")


def _saturating(z):
    """Dense(1)·Sigmoid with pre-activations ±z, ±z/2 (confidently right and wrong)."""
    params = ({"w": jnp.ones((3, 1)), "b": jnp.zeros(1)}, ())
    x = np.array([[z, 0, 0], [-z, 0, 0], [z / 2, 0, 0], [-z / 2, 0, 0]])
    return serial(Dense(1), Sigmoid()), params, x


def _correct_cases():
    x, t = data()
    labels = np.argmax(t, axis=-1).astype(np.int32)
    kink_x = _zero_rows(x)
    huge = ({"w": jnp.array([[300.0, -300.0], [-300.0, 300.0], [0.0, 0.0]]), "b": jnp.zeros(2)},)
    probs = np.array([[1e-12, 1 - 1e-12, 0.5], [1 - 1e-12, 1e-12, 0.25]])
    sat_model, sat_params, sat_x = _saturating(30.0)
    _, mid_params, mid_x = _saturating(15.0)
    wrong, right = np.array([[0.0], [1.0], [0.0], [1.0]]), np.array([[1.0], [0.0], [1.0], [0.0]])
    act = lambda a: serial(Dense(4), a, Dense(2))  # noqa: E731
    return {
        # id: (model, loss, x, t, options)
        "sigmoid-bce-logits-30-wrong": (
            sat_model,
            binary_cross_entropy(),
            sat_x,
            wrong,
            {"params": sat_params},
        ),
        "sigmoid-bce-logits-30-right": (
            sat_model,
            binary_cross_entropy(),
            sat_x,
            right,
            {"params": sat_params},
        ),
        "sigmoid-bce-logits-15-wrong": (
            sat_model,
            binary_cross_entropy(),
            mid_x,
            wrong,
            {"params": mid_params},
        ),
        "sigmoid-half-sse-30": (sat_model, half_sse, sat_x, wrong, {"params": sat_params}),
        "tanh-saturated-30": (act(Tanh()), half_sse, 30 * x, t, {}),
        "bce-probabilities-1e-12-from-0-1": (
            Identity(),
            binary_cross_entropy("sum"),
            probs,
            np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]),
            {"params": ()},
        ),
        "bce-probabilities-confidently-wrong": (
            Identity(),
            binary_cross_entropy(),
            probs,
            np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]),
            {"params": ()},
        ),
        "logits-300": (serial(Dense(2)), softmax_cross_entropy(), x, labels, {"params": huge}),
        "relu-at-0": (act(ReLU()), half_sse, kink_x, t, {"zero_bias": True}),
        "relu-at-plus-1e-7": (act(ReLU()), half_sse, kink_x + 1e-7, t, {"zero_bias": True}),
        "relu-at-minus-1e-7": (act(ReLU()), half_sse, kink_x - 1e-7, t, {"zero_bias": True}),
        "leaky-relu-at-0": (act(LeakyReLU(0.1)), half_sse, kink_x, t, {"zero_bias": True}),
        "user-leaky-at-0-no-declaration": (
            act(_user_leaky()),
            half_sse,
            kink_x,
            t,
            {"zero_bias": True},
        ),
        "user-leaky-at-1e-7": (act(_user_leaky()), half_sse, kink_x + 1e-7, t, {"zero_bias": True}),
        "step": (serial(Dense(1), Step()), half_sse, x, t[:, :1], {}),
        "step-then-dense": (serial(Dense(3), Step(), Dense(2)), half_sse, x, t, {}),
        "batch-less": (
            mlp([3, 4, 2], activation="tanh"),
            softmax_cross_entropy(),
            x[0],
            labels[0],
            {},
        ),
        "dense-no-bias": (serial(Dense(4, use_bias=False), Sigmoid(), Dense(2)), mse, x, t, {}),
        "elu": (act(ELU()), sse, x, t, {}),
        "softplus-saturated": (act(Softplus()), half_sse, 30 * x, t, {}),
        "softmax-output": (serial(Dense(4), Tanh(), Dense(2), Softmax()), half_sse, x, t, {}),
        "dropout-at-key": (
            mlp([3, 4, 2], activation="relu", dropout=0.5),
            softmax_cross_entropy(),
            x,
            labels,
            {"key": DROP_KEY},
        ),
        "softmax-ce-sum-one-hot": (
            mlp([3, 4, 2]),
            softmax_cross_entropy("sum"),
            x,
            np.eye(2)[labels],
            {},
        ),
        "mlp-l2": (
            mlp([3, 4, 2], activation="tanh"),
            softmax_cross_entropy(),
            x,
            labels,
            {"reg": l2(0.1)},
        ),
    }


CORRECT = _correct_cases()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(CORRECT))
def test_correct_configuration_has_zero_alarms(case, dtype):
    model, loss, x, t, options = CORRECT[case]
    report = run(model, loss, x, t, dtype, **options)
    assert report.ok, str(report)
    assert report.dtype == dtype and report.tolerance == TOLERANCES[dtype]
    assert not report.suspects
    for row in report.rows:  # the hand-written path agrees with autodiff (but at a Step)
        assert (
            row.status == "straight-through by design"
            or row.agree_abs <= report.tolerance.agree_atol
            or (row.agree_rel <= report.tolerance.agree_rtol)
        )


def test_kinks_are_named_not_failed():
    model, loss, x, t, options = CORRECT["relu-at-0"]
    report = run(model, loss, x, t, "float64", **options)
    status = {row.path: row.status for row in report.rows}
    assert status["[0].b"].startswith("not differentiable here (kink at entry")
    assert status["[2].w"] == "ok" and status["[2].b"] == "ok"
    assert any("[1] ReLU: 8 input(s) exactly on a kink" in note for note in report.notes)
    assert "not differentiable" in report.verdict


def test_undeclared_kink_is_detected_from_the_numbers():
    model, loss, x, t, options = CORRECT["user-leaky-at-0-no-declaration"]
    report = run(model, loss, x, t, "float64", **options)
    assert not any("kink" in note for note in report.notes)  # nothing declared ...
    assert any("kink at entry" in row.status for row in report.rows)  # ... found anyway


def test_step_is_reported_straight_through_by_design_with_its_own_reason():
    model, loss, x, t, _ = CORRECT["step-then-dense"]
    report = run(model, loss, x, t, "float64")
    status = {row.path: row.status for row in report.rows}
    assert status["[0].w"] == "straight-through by design"
    assert status["[2].w"] == "ok" and status["[2].b"] == "ok"
    assert any(
        n.startswith("note: [1] Step(0.0): straight-through by design") for n in report.notes
    )
    assert "straight-through" in report.verdict


def test_step_excuses_only_the_leaves_upstream_of_it():
    """A wrong vjp AFTER a Step must still fail: the Step excuses only what flows through it."""
    model = serial(Dense(3), Step(), planted.scaled_dw_dense(2, 2.0))
    x, t = data()
    report = run(model, half_sse, x, np.ones((5, 2)), "float64")
    status = {row.path: row.status for row in report.rows}
    assert [row.path for row in report.failures] == ["[2].w"]
    assert status["[2].b"] == "ok" and status["[0].w"] == "straight-through by design"


@pytest.mark.parametrize("use_jit", [False, True])
def test_straight_through_gradient_is_the_perceptron_rule(use_jit):
    model = serial(Dense(1), Step())
    lr = 0.1
    with jax.enable_x64(True):
        params = ({"w": jnp.array([[1.0], [-1.0]]), "b": jnp.array([0.0])}, ())
        x = jnp.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [1.0, 3.0]])
        t = jnp.array([[0.0], [1.0], [1.0], [1.0]])
        g = jaxnn.grad(model, half_sse)
        grads = (jax.jit(g) if use_jit else g)(params, x, t)
        y = model.apply(params, x)
        np.testing.assert_array_equal(y, [[1.0], [0.0], [1.0], [0.0]])
        np.testing.assert_allclose(grads[0]["w"], -((t - y) * x).sum(0)[:, None], rtol=1e-15)
        w = np.array([1.0, -1.0])
        for xi, ti, yi in zip(np.asarray(x), np.asarray(t)[:, 0], np.asarray(y)[:, 0], strict=True):
            w = w + lr * (ti - yi) * xi
        np.testing.assert_allclose(params[0]["w"][:, 0] - lr * grads[0]["w"][:, 0], w, rtol=1e-15)


def test_float32_params_with_float64_data_keep_float32():
    """Issue 8: the manual column keeps the params' dtypes; tolerances follow float32."""
    model = mlp([3, 4, 2], activation="tanh")
    x, t = data()
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        report = check_grads(model, half_sse, params, jnp.asarray(x), jnp.asarray(t))
        manual = jaxnn.grad(model, half_sse)(params, jnp.asarray(x), jnp.asarray(t))
    assert report.dtype == "float32" and report.ok, str(report)
    assert not any("manual gradient" in note for note in report.notes)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(manual))


def test_integer_input_has_no_input_row():
    model = mlp([3, 4, 2], output_activation="sigmoid")
    rng = np.random.default_rng(2)
    x = rng.integers(0, 2, (5, 3)).astype(np.int32)
    t = rng.integers(0, 2, (5, 2)).astype(np.float64)
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        report = check_grads(model, binary_cross_entropy(), cast(params, "float64"), x, t)
    assert report.ok, str(report)
    assert "input" not in {row.path for row in report.rows}


def test_finite_differences_can_be_skipped():
    model, loss, x, t, *_ = PLANTED["sigmoid-factor-2"]
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        report = check_grads(model, loss, cast(params, "float64"), x, t, finite_differences=False)
    assert all(np.isnan(row.manual_fd) and np.isnan(row.autodiff_fd) for row in report.rows)
    assert "—" in str(report) and failing(report) == ACT_LEAVES


def test_large_leaves_sample_entries_and_directions():
    """Above max_fd_entries, finite differences sample entries and add random directions."""
    model, loss, x, t, *_ = PLANTED["sigmoid-factor-2"]
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        report = check_grads(model, loss, cast(params, "float64"), x, t, max_fd_entries=10)
    assert failing(report) == ACT_LEAVES
    assert all("manual ≠ FD" in row.status for row in report.failures)


# --------------------------------------------------------------------------------------------
# Misuse and malformed vjps: a TypeError naming the fix (issue 8)
# --------------------------------------------------------------------------------------------


def _only_dx_sigmoid() -> Layer:
    base = Sigmoid()

    def vjp(params, x):
        y = base.apply(params, x)
        return y, lambda dy: dy * y * (1 - y)  # forgot the () for dparams

    return base._replace(vjp=vjp, name="MySigmoid")


def test_backward_returning_only_dx_names_the_layer_and_the_fix():
    x, t = data()
    with pytest.raises(TypeError) as info:
        run(serial(Dense(4), _only_dx_sigmoid(), Dense(2)), half_sse, x, t, "float64")
    message = str(info.value)
    assert "[1] MySigmoid" in message and "(dparams, dx)" in message and "return ()" in message


def test_wrong_dparams_structure_is_a_type_error():
    bad = planted.dense_with(4, "NoBiasGrad", lambda p, dx, x, dy, w: ({"w": p["w"]}, dx))
    x, t = data()
    with pytest.raises(TypeError, match="NoBiasGrad.*structure"):
        run(serial(bad, Tanh(), Dense(2)), half_sse, x, t, "float64")


@pytest.mark.parametrize(
    "args,words",
    [
        ((losses.softmax_cross_entropy, None), "call it, e.g. losses.softmax_cross_entropy()"),
        ((losses.binary_cross_entropy, None), "call it, e.g. losses.binary_cross_entropy()"),
        ((half_sse, losses.l2), "losses.l2 is a factory: call it"),
        ((half_sse, "l2"), "Regularizer"),
    ],
)
def test_uncalled_factories_name_the_fix(args, words):
    loss, reg = args
    model = mlp([3, 4, 2])
    _, params = model.init(KEY, (3,))
    x, t = data()
    with pytest.raises(TypeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_grads(model, loss, params, x, t, reg=reg)


@pytest.mark.parametrize("model,words", [(Sigmoid, "call it"), ("mlp", "Layer")])
def test_non_layer_model_is_a_type_error(model, words):
    with pytest.raises(TypeError, match=words):
        check_grads(model, half_sse, (), np.ones((2, 3)), np.ones((2, 3)))


def test_nan_data_is_named_not_reported_as_gradients():
    model = mlp([3, 4, 2])
    _, params = model.init(KEY, (3,))
    x, t = data()
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        check_grads(model, half_sse, params, x, t)


# --------------------------------------------------------------------------------------------
# One compiled program; none on a warm call
# --------------------------------------------------------------------------------------------

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


@contextlib.contextmanager
def count_compiles():
    names = []

    def listener(event, duration, **kwargs):
        if event == BACKEND_COMPILE:
            names.append(kwargs.get("fun_name", "?"))

    monitoring.register_event_duration_secs_listener(listener)
    try:
        yield names
    finally:
        monitoring.unregister_event_duration_listener(listener)


def test_one_program_cold_and_no_compile_warm_even_for_fresh_identical_objects():
    x, t = data(batch=(7,), seed=3)  # a shape no other test uses: this call is cold
    labels = np.argmax(t, axis=-1).astype(np.int32)

    def fresh():
        return mlp([3, 5, 2], activation="tanh"), softmax_cross_entropy(), l2(0.01)

    model, loss, reg = fresh()
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        params = cast(params, "float64")
        x = jnp.asarray(x)
        labels = jnp.asarray(labels)
        with count_compiles() as cold:
            assert check_grads(model, loss, params, x, labels, reg=reg).ok
        model, loss, reg = fresh()  # equal by spec: the cached program serves them
        with count_compiles() as warm:
            report = check_grads(model, loss, params, x, labels, reg=reg)
    assert report.ok
    assert cold.count("jit(run)") == 1, cold
    assert warm == [], warm
