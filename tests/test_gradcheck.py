"""check_grads: catches planted bugs by leaf, passes correct float32/float64 models at the stated
tolerances, reports Step as straight-through by design and ReLU kinks as notes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from planted import scaled_dw_dense

import jaxnn
from jaxnn import Dense, Layer, Regularizer, ReLU, Sigmoid, Step, Tanh, check_grads, mlp, serial
from jaxnn.gradcheck import TOLERANCES
from jaxnn.losses import binary_cross_entropy, half_sse, l2, softmax_cross_entropy

KEY = jax.random.key(0)


def cast(tree, dtype):
    return jax.tree.map(lambda a: jnp.asarray(a, dtype), tree)


def bad_sigmoid() -> Layer:
    base = Sigmoid()

    def vjp(params, x):
        y = base.apply(params, x)
        return y, lambda dy: ((), dy * 2 * y * (1 - y))  # wrong factor 2

    return base._replace(vjp=vjp, name="BadSigmoid")


def _data(batch=(5,), seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((*batch, 3)), rng.uniform(0, 1, (*batch, 2))


# --------------------------------------------------------------------------------------------
# Planted bug inside a whole model
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_planted_bug_in_model_is_named_by_leaf(dtype):
    model = serial(Dense(4), bad_sigmoid(), Dense(2))
    with jax.enable_x64(dtype == "float64"):
        _, params = model.init(KEY, (3,))
        params = cast(params, dtype)
        x, t = (jnp.asarray(a, dtype) for a in _data())
        report = check_grads(model, half_sse, params, x, t)
    assert report.dtype == dtype
    assert not report.ok
    failed = {row.path for row in report.failures}
    assert failed == {"[0].w", "[0].b", "input"}  # upstream of the bad sigmoid only
    assert "[2].w" not in failed and "[2].b" not in failed
    for row in report.failures:
        assert "manual ≠ autodiff" in row.status and "manual ≠ FD" in row.status
        assert "autodiff ≠ FD" not in row.status  # apply itself is right
        assert row.agree_rel > 0.1
    text = str(report)
    assert "[0].w" in text and "[0].b" in text and "[2].w" in text and "FAIL" in text
    assert report.verdict.startswith("FAILED") and "[0].w" in report.verdict
    assert "BadSigmoid" in text and "half_sse" in text


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
    model = serial(Dense(4), half_tanh, Dense(2))
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        x, t = _data()
        report = check_grads(model, half_sse, cast(params, jnp.float64), x, t)
    assert not report.ok
    assert {row.path for row in report.failures} == {"[0].w", "[0].b", "input"}
    for row in report.failures:
        assert row.agree_rel <= 1e-9  # the two gradient paths agree ...
        assert "manual ≠ FD" in row.status and "autodiff ≠ FD" in row.status  # ... both wrong


def test_wrongly_shaped_gradient_is_a_named_failure_not_a_crash():
    base = Dense(4)

    def vjp(params, x):
        def backward(dy):
            dp, dx = base.vjp(params, x)[1](dy)
            return {"w": dp["w"].T, "b": dp["b"]}, dx  # (4, 3) instead of (3, 4)

        return base.apply(params, x), backward

    model = serial(base._replace(vjp=vjp, name="TransposedDense"), Sigmoid(), Dense(2))
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        x, t = _data()
        report = check_grads(model, half_sse, cast(params, jnp.float64), x, t)
    assert {row.path for row in report.failures} == {"[0].w"}
    (row,) = report.failures
    assert "(4, 3)" in row.status and "(3, 4)" in row.status


def test_wrong_structure_raises_type_error():
    base = Dense(4)

    def vjp(params, x):
        y, backward = base.vjp(params, x)
        return y, lambda dy: ({"w": backward(dy)[0]["w"]}, backward(dy)[1])  # "b" missing

    with pytest.raises(TypeError, match="structure"):
        check_grads(base._replace(vjp=vjp), half_sse, *_params_and_data(base))


def _params_and_data(layer):
    _, params = layer.init(KEY, (3,))
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((5, 3)), jnp.float32)
    return params, x, jnp.zeros((5, 4), jnp.float32)


def test_wrong_regularizer_gradient_fails_only_on_weights():
    model = mlp([3, 4, 2], activation="tanh")
    good = l2(0.5)
    bad = Regularizer(good.value, lambda p: jax.tree.map(lambda g: 2 * g, good.grad(p)))
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        params = cast(params, jnp.float64)
        x, t = _data()
        assert check_grads(model, half_sse, params, x, t, reg=good).ok
        report = check_grads(model, half_sse, params, x, t, reg=bad)
    assert {row.path for row in report.failures} == {"[0].w", "[2].w"}


# --------------------------------------------------------------------------------------------
# Correct models pass, at the tolerance stated for their dtype
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [(), (5,), (2, 3)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_correct_model_passes_at_stated_tolerance(dtype, batch):
    model = mlp([3, 4, 2], activation="sigmoid")
    with jax.enable_x64(dtype == "float64"):
        _, params = model.init(KEY, (3,))
        params = cast(params, dtype)
        x, t = _data(batch)
        x = jnp.asarray(x, dtype)
        labels = jnp.asarray(np.argmax(t, axis=-1))
        report = check_grads(model, softmax_cross_entropy(), params, x, labels)
    tol = TOLERANCES[dtype]
    assert report.ok, str(report)
    assert report.dtype == dtype and report.tolerance == tol
    assert [row.path for row in report.rows] == ["[0].b", "[0].w", "[2].b", "[2].w", "input"]
    for row in report.rows:
        assert row.status == "ok"
        assert row.agree_abs <= tol.agree_atol or row.agree_rel <= tol.agree_rtol
        assert row.manual_fd <= tol.fd_rtol and row.autodiff_fd <= tol.fd_rtol
        if dtype == "float32":
            # FD ran in float64: a float32 gradient agrees with it to float32 precision, far
            # inside the tolerance (a float32 central difference could not get near this).
            assert row.manual_fd < 1e-4
    text = str(report)
    assert f"tolerances ({dtype})" in text and f"{tol.agree_rtol:g}" in text
    assert f"{tol.fd_rtol:g}" in text and text.endswith("verdict: ok")


def test_float32_params_under_x64_still_use_float32_tolerance():
    model = mlp([3, 4, 2], activation="tanh")
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        x, t = _data()
        report = check_grads(model, half_sse, params, jnp.asarray(x, jnp.float32), t)
    assert report.dtype == "float32" and report.ok


def test_integer_input_has_no_input_row():
    """Regression: an integer x (a truth table) used to crash the finite-difference pass."""
    model = mlp([3, 4, 2], output_activation="sigmoid")
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        rng = np.random.default_rng(2)
        x = jnp.asarray(rng.integers(0, 2, (5, 3)), jnp.int32)
        t = jnp.asarray(rng.integers(0, 2, (5, 2)), jnp.float64)
        report = check_grads(model, binary_cross_entropy(), cast(params, jnp.float64), x, t)
    assert report.ok, str(report)
    assert "input" not in {row.path for row in report.rows}
    assert all(np.isfinite(row.manual_fd) for row in report.rows)


def test_tiny_gradient_next_to_large_loss_is_not_a_false_failure():
    """Regression: FD rounding noise (~eps·|f|/h) must not fail a correct but tiny gradient.

    A saturated sigmoid makes d(loss)/d(input) ~1e-8 while the loss is ~1: the central
    difference's rounding noise is then far above 1e-6·‖grad‖.
    """
    model = serial(Dense(1), Sigmoid())
    with jax.enable_x64(True):
        params = ({"w": jnp.array([[10.0], [5.0], [4.0]]), "b": jnp.array([2.0])},)
        params = (params[0], ())
        x = jnp.array([[1.0, 0.5, 0.6], [0.8, 1.0, 0.9]])  # pre-activations ~ 20: saturated
        t = jnp.zeros((2, 1))
        grads = jax.grad(lambda x: half_sse.value(model.apply(params, x), t))(x)
        f = float(half_sse.value(model.apply(params, x), t))
        assert f > 0.9 and float(jnp.linalg.norm(grads)) < 1e-6 * f  # the regime under test
        report = check_grads(model, half_sse, params, x, t)
    assert report.ok, str(report)


def test_finite_differences_can_be_skipped():
    model = serial(Dense(4), bad_sigmoid(), Dense(2))
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        x, t = _data()
        report = check_grads(model, half_sse, cast(params, jnp.float64), x, t,
                             finite_differences=False)  # fmt: skip
    assert all(np.isnan(row.manual_fd) and np.isnan(row.autodiff_fd) for row in report.rows)
    assert "—" in str(report)
    assert {row.path for row in report.failures} == {"[0].w", "[0].b", "input"}


# --------------------------------------------------------------------------------------------
# Step: straight-through by design, and the perceptron rule
# --------------------------------------------------------------------------------------------


def _perceptron_problem():
    params = ({"w": jnp.array([[1.0], [-1.0]]), "b": jnp.array([0.0])}, ())
    x = jnp.array([[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [1.0, 3.0]])  # x·w = 1, -1, 1, -2
    t = jnp.array([[0.0], [1.0], [1.0], [1.0]])  # y = 1, 0, 1, 0: wrong on rows 0, 1 and 3
    return params, x, t


def test_step_is_reported_straight_through_by_design():
    model = serial(Dense(1), Step())
    with jax.enable_x64(True):
        params, x, t = _perceptron_problem()
        report = check_grads(model, half_sse, params, x, t)
    assert report.ok
    assert {row.path for row in report.rows} == {"[0].w", "[0].b", "input"}
    assert all(row.status == "straight-through by design" for row in report.rows)
    assert "straight-through" in report.verdict
    assert any("straight-through" in note and "Step" in note for note in report.notes)
    assert "straight-through by design" in str(report)


def test_step_surrogate_does_not_hide_a_planted_bug_elsewhere_in_verdict_text():
    """A model without Step and with a bug is FAILED, never 'straight-through'."""
    model = serial(Dense(4), bad_sigmoid(), Dense(2))
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        x, t = _data()
        report = check_grads(model, half_sse, cast(params, jnp.float64), x, t)
    assert "straight-through" not in str(report)


@pytest.mark.parametrize("use_jit", [False, True])
def test_straight_through_gradient_is_the_perceptron_rule(use_jit):
    model = serial(Dense(1), Step())
    lr = 0.1
    with jax.enable_x64(True):
        params, x, t = _perceptron_problem()
        g = jaxnn.grad(model, half_sse)
        g = jax.jit(g) if use_jit else g
        grads = g(params, x, t)
        y = model.apply(params, x)
        np.testing.assert_array_equal(y, [[1.0], [0.0], [1.0], [0.0]])
        # grad wrt w = -(t - y)·x summed over examples; wrt b = -(t - y) summed
        np.testing.assert_allclose(grads[0]["w"], -((t - y) * x).sum(0)[:, None], rtol=1e-15)
        np.testing.assert_allclose(grads[0]["b"], -(t - y).sum(0), rtol=1e-15)
        # one SGD step is the perceptron rule w += lr·(t − y)·x
        new_w = params[0]["w"] - lr * grads[0]["w"]
        w = np.array([1.0, -1.0])
        for xi, ti, yi in zip(np.asarray(x), np.asarray(t)[:, 0], np.asarray(y)[:, 0], strict=True):
            w = w + lr * (ti - yi) * xi
        np.testing.assert_allclose(new_w[:, 0], w, rtol=1e-15)
        # the true derivative of the step is zero: autodiff alone would never learn
        auto = jaxnn.autodiff_grad(model, half_sse)(params, x, t)
        np.testing.assert_array_equal(auto[0]["w"], 0.0)
        # a single example, no batch dim: exactly w += lr·(t − y)·x
        one = g(params, x[3], t[3])
        np.testing.assert_allclose(params[0]["w"][:, 0] - lr * one[0]["w"][:, 0],
                                   np.array([1.0, -1.0]) + lr * 1.0 * np.asarray(x[3]),
                                   rtol=1e-15)  # fmt: skip


# --------------------------------------------------------------------------------------------
# ReLU exactly at its kink
# --------------------------------------------------------------------------------------------


def test_relu_kink_is_named_and_not_a_failure():
    model = serial(Dense(4), ReLU(), Dense(2))
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        params = cast(params, jnp.float64)  # biases are 0, so a zero row of x sits on the kink
        x, t = _data()
        x = jnp.asarray(x).at[1].set(0.0).at[3].set(0.0)
        report = check_grads(model, half_sse, params, x, t)
    assert report.ok, str(report)
    kink_notes = [note for note in report.notes if "non-differentiable" in note]
    assert len(kink_notes) == 1 and "[1] ReLU input exactly 0: 8" in kink_notes[0]
    assert "ReLU input exactly 0" in str(report)
    # the kink does not excuse manual ≠ autodiff: every row still agrees tightly
    assert all(row.agree_rel <= 1e-9 or row.agree_abs <= 1e-13 for row in report.rows)


def test_relu_kink_does_not_mask_a_wrong_vjp():
    model = serial(Dense(4), ReLU(), scaled_dw_dense(4, 3.0))
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        x, t = _data()
        x = jnp.asarray(x).at[1].set(0.0)
        t = np.concatenate([t, t], axis=-1)
        report = check_grads(model, half_sse, cast(params, jnp.float64), x, t)
    assert "ReLU input exactly 0" in str(report)
    assert {row.path for row in report.failures} == {"[2].w"}
    assert "manual ≠ autodiff" in report.failures[0].status


def test_relu_layer_alone_at_zero():
    with jax.enable_x64(True):
        x = jnp.array([[0.0, 1.0, -2.0, 0.0], [3.0, 0.0, -1.0, 2.0]])
        report = check_grads(ReLU(), half_sse, (), x, jnp.ones((2, 4)))
    assert report.ok
    assert any("ReLU input exactly 0: 3" in note for note in report.notes)


def test_step_excuses_only_the_leaves_upstream_of_it():
    """A wrong vjp AFTER a Step must still fail: the Step excuses only what flows through it."""
    model = serial(Dense(3), Step(), scaled_dw_dense(2, 2.0))
    _, params = model.init(jax.random.key(0), (2,))
    x = jax.random.normal(jax.random.key(1), (6, 2))
    report = jaxnn.check_grads(model, half_sse, params, x, jnp.ones((6, 2)))
    status = {row.path: row.status for row in report.rows}
    assert not report.ok
    assert status["[2].w"].startswith("FAIL")
    assert status["[2].b"] == "ok"
    assert status["[0].w"] == "straight-through by design"
    assert [row.path for row in report.failures] == ["[2].w"]


def test_a_kink_excuses_finite_differences_only_upstream_of_it():
    """ReLU inputs at 0 in layer [1]: FD is not counted for [0].*, but still is for [2].*."""
    model = serial(Dense(3), ReLU(), Dense(1))
    _, params = model.init(jax.random.key(0), (2,))
    params = ({"w": params[0]["w"], "b": jnp.zeros(3)}, (), params[2])
    report = check_grads(model, half_sse, params, jnp.zeros((4, 2)), jnp.ones((4, 1)))
    status = {row.path: row.status for row in report.rows}
    assert report.ok
    assert status["[0].b"] == "kink: FD not counted"
    assert status["[2].w"] == "ok" and status["[2].b"] == "ok"
    assert any("ReLU" in note for note in report.notes)
