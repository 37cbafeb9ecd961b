"""Layers: contract, hand-written vjps (checked and planted-bug rejected), errors, saturation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import Dense, Identity, Layer, ReLU, Sigmoid, Softmax, Step, Tanh, mlp, serial
from jaxnn.gradcheck import TOLERANCES
from jaxnn.testing import assert_layer_grads

KEY = jax.random.key(0)


def to64(tree):
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)


def failing_leaves(message: str) -> set[str]:
    """Leaf names of the report's table rows whose status is a FAIL."""
    return {
        line.split()[0]
        for line in message.splitlines()
        if "FAIL:" in line and not line.startswith(("verdict", "check_grads", "tolerances"))
    }


# --------------------------------------------------------------------------------------------
# assert_layer_grads passes for every built-in layer
# --------------------------------------------------------------------------------------------

# Shapes are shared across tests (3 -> 4 -> 2, batch (5,)) so eager compiles are reused.
GOOD_LAYERS = {
    "Dense": (lambda: Dense(4), (3,), {"w", "b", "input"}),
    "Dense-nobias": (lambda: Dense(4, use_bias=False), (3,), {"w", "input"}),
    "Sigmoid": (Sigmoid, (4,), {"input"}),
    "Tanh": (Tanh, (4,), {"input"}),
    "ReLU": (ReLU, (4,), {"input"}),
    "Softmax": (Softmax, (4,), {"input"}),
    "Identity": (Identity, (4,), {"input"}),
    "serial": (
        lambda: serial(Dense(4), Tanh(), Dense(2), Softmax()),
        (3,),
        {"[0].w", "[0].b", "[2].w", "[2].b", "input"},
    ),
    "mlp": (
        lambda: mlp([3, 4, 4, 2], activation="sigmoid", output_activation="softmax"),
        (3,),
        {"[0].w", "[0].b", "[2].w", "[2].b", "[4].w", "[4].b", "input"},
    ),
}


@pytest.mark.parametrize(
    "name,batch_shape", [(name, (5,)) for name in GOOD_LAYERS] + [("serial", (2, 3))]
)
def test_assert_layer_grads_passes_builtin_layers(name, batch_shape):
    make, shape, leaves = GOOD_LAYERS[name]
    report = assert_layer_grads(make(), shape, batch_shape=batch_shape)
    assert report.ok
    assert report.dtype == "float64"
    assert {row.path for row in report.rows} == leaves
    assert all(row.status == "ok" for row in report.rows)
    # The manual path really was compared: its error is tiny, not NaN or skipped.
    assert all(row.agree_rel <= 1e-9 for row in report.rows)
    assert all(row.manual_fd <= 1e-6 for row in report.rows)


# --------------------------------------------------------------------------------------------
# ... and fails, naming the wrong leaf, for planted bugs
# --------------------------------------------------------------------------------------------


def _activation_with_derivative(base: Layer, derivative, name) -> Layer:
    """``base`` with a hand-written (wrong) ``dx = dy * derivative(y)``."""

    def vjp(params, x):
        y = base.apply(params, x)
        return y, lambda dy: ((), dy * derivative(y))

    return base._replace(vjp=vjp, name=name)


def bad_sigmoid():
    return _activation_with_derivative(Sigmoid(), lambda y: 2 * y * (1 - y), "BadSigmoid")


def bad_tanh():
    return _activation_with_derivative(Tanh(), lambda y: -(1 - y**2), "BadTanh")


def bad_softmax():
    base = Softmax()

    def vjp(params, x):
        y = base.apply(params, x)
        return y, lambda dy: ((), y * dy)  # missing the - Σ y·dy term

    return Layer(base.init, base.apply, vjp, name="BadSoftmax")


def _dense_with_backward(backward, name, features=4) -> Layer:
    base = Dense(features)

    def vjp(params, x):
        return base.apply(params, x), lambda dy: backward(params, x, dy)

    return base._replace(vjp=vjp, name=name)


def _axes(x):
    return tuple(range(x.ndim - 1))


def _good_dx(params, dy):
    return dy @ params["w"].T


def bad_dense_transposed():
    # Square w (4 -> 4) so the transposed gradient has the right shape but wrong values.
    def backward(params, x, dy):
        dw = jnp.tensordot(dy, x, axes=(_axes(x), _axes(x)))  # (out, in): transposed
        return {"w": dw, "b": jnp.sum(dy, axis=_axes(x))}, _good_dx(params, dy)

    return _dense_with_backward(backward, "BadDenseTransposedW")


def bad_dense_no_batch_sum():
    def backward(params, x, dy):
        x1 = x.reshape(-1, x.shape[-1])[0]
        dy1 = dy.reshape(-1, dy.shape[-1])[0]
        dw = jnp.outer(x1, dy1)  # only the first example: the batch sum is missing
        return {"w": dw, "b": jnp.sum(dy, axis=_axes(x))}, _good_dx(params, dy)

    return _dense_with_backward(backward, "BadDenseNoBatchSum")


def bad_dense_bias():
    def backward(params, x, dy):
        dw = jnp.tensordot(x, dy, axes=(_axes(x), _axes(x)))
        return {"w": dw, "b": jnp.mean(dy, axis=_axes(x))}, _good_dx(params, dy)  # mean, not sum

    return _dense_with_backward(backward, "BadDenseBias")


def bad_dense_wrong_shape():
    base = Dense(4)

    def vjp(params, x):
        def backward(dy):
            dw = jnp.tensordot(dy, x, axes=(_axes(x), _axes(x)))  # (4, 3) instead of (3, 4)
            return {"w": dw, "b": jnp.sum(dy, axis=_axes(x))}, _good_dx(params, dy)

        return base.apply(params, x), backward

    return base._replace(vjp=vjp, name="BadDenseShape")


def bad_dense_dx():
    def backward(params, x, dy):
        dw = jnp.tensordot(x, dy, axes=(_axes(x), _axes(x)))
        return {"w": dw, "b": jnp.sum(dy, axis=_axes(x))}, dy @ params["w"]  # w, not w.T

    return _dense_with_backward(backward, "BadDenseDx")  # square (4 -> 4): shapes still fit


PLANTED = {
    "sigmoid-2y(1-y)": (bad_sigmoid, (4,), {"input"}),
    "tanh-wrong-sign": (bad_tanh, (4,), {"input"}),
    "softmax-missing-sum": (bad_softmax, (4,), {"input"}),
    "dense-dw-transposed": (bad_dense_transposed, (4,), {"w"}),
    "dense-dw-no-batch-sum": (bad_dense_no_batch_sum, (3,), {"w"}),
    "dense-db-mean": (bad_dense_bias, (3,), {"b"}),
    "dense-dw-wrong-shape": (bad_dense_wrong_shape, (3,), {"w"}),
    "dense-dx-untransposed": (bad_dense_dx, (4,), {"input"}),
}


@pytest.mark.parametrize("name", list(PLANTED))
def test_assert_layer_grads_rejects_planted_bugs(name):
    make, shape, wrong = PLANTED[name]
    layer = make()
    with pytest.raises(AssertionError) as info:
        assert_layer_grads(layer, shape, batch_shape=(5,))
    message = str(info.value)
    assert layer.name in message
    assert failing_leaves(message) == wrong
    assert "verdict: FAILED: " + ", ".join(sorted(wrong)) in message


def test_planted_bug_layer_is_a_real_bug_not_a_shape_accident():
    """The planted layers compute the right forward pass; only their backward is wrong."""
    with jax.enable_x64(True):
        x = jax.random.normal(KEY, (5, 4), jnp.float64)
        np.testing.assert_array_equal(bad_sigmoid().apply((), x), Sigmoid().apply((), x))
        _, p = Dense(4).init(KEY, (3,))
        xs = x[:, :3]
        y_bad, back_bad = bad_dense_bias().vjp(to64(p), xs)
        y_good, back_good = Dense(4).vjp(to64(p), xs)
        np.testing.assert_array_equal(y_bad, y_good)
        dy = jnp.ones_like(y_good)
        np.testing.assert_array_equal(back_bad(dy)[0]["w"], back_good(dy)[0]["w"])
        assert not np.allclose(back_bad(dy)[0]["b"], back_good(dy)[0]["b"])


# --------------------------------------------------------------------------------------------
# Dense: params, forward, vjp
# --------------------------------------------------------------------------------------------


def test_dense_init_shapes_and_bias_key():
    out, p = Dense(4).init(KEY, (2, 3))
    assert out == (2, 4)
    assert set(p) == {"w", "b"}
    assert p["w"].shape == (3, 4) and p["b"].shape == (4,)
    assert p["w"].dtype == jnp.float32
    np.testing.assert_array_equal(p["b"], 0)
    out, p = Dense(4, use_bias=False).init(KEY, (3,))
    assert out == (4,) and set(p) == {"w"}


@pytest.mark.parametrize("batch", [(), (5,), (2, 3)])
def test_dense_apply_is_affine_map_for_any_batch(batch):
    with jax.enable_x64(True):
        _, p = Dense(4).init(KEY, (3,))
        p = to64(p)
        p["b"] = jnp.arange(4.0)
        x = np.random.default_rng(0).standard_normal((*batch, 3))
        y = Dense(4).apply(p, x)
        assert y.shape == (*batch, 4)
        np.testing.assert_allclose(y, x @ np.asarray(p["w"]) + np.arange(4.0), rtol=1e-12)


def test_dense_vjp_batchless_is_outer_product():
    with jax.enable_x64(True):
        rng = np.random.default_rng(1)
        layer = Dense(4)
        _, p = layer.init(KEY, (3,))
        p = to64(p)
        x, dy = rng.standard_normal(3), rng.standard_normal(4)
        _, backward = layer.vjp(p, jnp.asarray(x))
        dp, dx = backward(jnp.asarray(dy))
        np.testing.assert_allclose(dp["w"], np.outer(x, dy), rtol=1e-13)
        np.testing.assert_allclose(dp["b"], dy, rtol=1e-13)
        np.testing.assert_allclose(dx, np.asarray(p["w"]) @ dy, rtol=1e-13)
        assert dx.shape == (3,)


def test_dense_vjp_sums_over_all_batch_dims():
    with jax.enable_x64(True):
        rng = np.random.default_rng(2)
        layer = Dense(4)
        _, p = layer.init(KEY, (3,))
        p = to64(p)
        x, dy = rng.standard_normal((2, 3, 3)), rng.standard_normal((2, 3, 4))
        _, backward = layer.vjp(p, jnp.asarray(x))
        dp, dx = backward(jnp.asarray(dy))
        np.testing.assert_allclose(dp["w"], np.einsum("abi,abj->ij", x, dy), rtol=1e-12)
        np.testing.assert_allclose(dp["b"], dy.sum(axis=(0, 1)), rtol=1e-12)
        np.testing.assert_allclose(dx, np.einsum("abj,ij->abi", dy, p["w"]), rtol=1e-12)
        # And it equals the sum of the single-example vjps (nothing averaged, nothing dropped).
        total = sum(np.outer(x[i, j], dy[i, j]) for i in range(2) for j in range(3))
        np.testing.assert_allclose(dp["w"], total, rtol=1e-12)


@pytest.mark.parametrize("use_jit", [False, True])
def test_dense_vjp_equals_jax_vjp(use_jit):
    with jax.enable_x64(True):
        layer = Dense(4)
        _, p = layer.init(KEY, (3,))
        p = to64(p)
        rng = np.random.default_rng(3)
        x = jnp.asarray(rng.standard_normal((5, 3)))
        dy = jnp.asarray(rng.standard_normal((5, 4)))

        def manual(p, x, dy):
            return layer.vjp(p, x)[1](dy)

        def auto(p, x, dy):
            return jax.vjp(layer.apply, p, x)[1](dy)

        if use_jit:
            manual, auto = jax.jit(manual), jax.jit(auto)
        (mdp, mdx), (adp, adx) = manual(p, x, dy), auto(p, x, dy)
        for k in ("w", "b"):
            np.testing.assert_allclose(mdp[k], adp[k], rtol=1e-12)
        np.testing.assert_allclose(mdx, adx, rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Errors: clear, at trace time, naming the layer and the shapes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["eager", "jit", "eval_shape", "vjp"])
def test_dense_wrong_last_dim_raises_at_trace_time(how):
    layer = Dense(4)
    _, p = layer.init(KEY, (3,))
    x = jnp.ones((5, 2))
    call = {
        "eager": lambda: layer.apply(p, x),
        "jit": lambda: jax.jit(layer.apply)(p, x),
        "eval_shape": lambda: jax.eval_shape(layer.apply, p, x),
        "vjp": lambda: jax.jit(lambda p, x: layer.vjp(p, x)[0])(p, x),
    }[how]
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "Dense" in message
    assert "(..., 3)" in message  # expected
    assert "(5, 2)" in message  # actual


@pytest.mark.parametrize("int_dtype", [jnp.int32, jnp.bool_])
def test_dense_casts_integer_input(int_dtype):
    layer = Dense(4)
    _, p = layer.init(KEY, (3,))
    p["b"] = jnp.array([0.5, -1.0, 2.0, 0.25])
    xi = jnp.asarray(np.random.default_rng(0).integers(0, 2, (5, 3)), dtype=int_dtype)
    y = layer.apply(p, xi)
    assert y.dtype == jnp.float32
    np.testing.assert_array_equal(y, layer.apply(p, xi.astype(jnp.float32)))
    np.testing.assert_array_equal(jax.jit(layer.apply)(p, xi), y)
    np.testing.assert_array_equal(layer.vjp(p, xi)[0], y)


@pytest.mark.parametrize("layer", [Dense(4), Sigmoid(), Softmax()], ids=lambda x: x.name)
def test_complex_input_raises_type_error(layer):
    _, p = layer.init(KEY, (3,))
    with pytest.raises(TypeError, match="complex"):
        layer.apply(p, jnp.ones((5, 3), jnp.complex64))


def test_serial_wrong_params_length_raises():
    model = serial(Dense(4), Sigmoid(), Dense(2))
    _, p = model.init(KEY, (3,))
    for bad in (p[:2], (*p, ())):
        with pytest.raises(
            ValueError,
            match=r"serial\(Dense\(4\), Sigmoid, Dense\(2\)\).*expected a tuple of 3 params",
        ):
            model.apply(bad, jnp.ones((5, 3)))
        with pytest.raises(ValueError, match="3 params"):
            model.vjp(bad, jnp.ones((5, 3)))
    with pytest.raises(ValueError, match="got dict"):
        model.apply({"w": 1}, jnp.ones((5, 3)))


def test_mlp_init_wrong_input_shape_raises():
    model = mlp([3, 4, 2])
    with pytest.raises(ValueError, match=r"mlp\(\[3, 4, 2\]\).*\(\.\.\., 3\).*\(2,\)"):
        model.init(KEY, (2,))
    with pytest.raises(ValueError, match=r"mlp\(\[3, 4, 2\]\)"):
        jax.eval_shape(lambda k: model.init(k, (4,))[1], KEY)
    out, _ = model.init(KEY, (3,))
    assert out == (2,)


def test_constructor_argument_errors():
    with pytest.raises(ValueError, match="Dense"):
        Dense(0)
    with pytest.raises(ValueError, match="unknown activation"):
        mlp([2, 1], activation="swish")
    with pytest.raises(ValueError, match="at least input and output"):
        mlp([2])
    with pytest.raises(TypeError, match="serial"):
        serial()


# --------------------------------------------------------------------------------------------
# Composition: serial / mlp layout and apply
# --------------------------------------------------------------------------------------------


def test_mlp_layout_is_dense_activation_dense_logits():
    model = mlp([3, 4, 2], activation="tanh")
    out, p = model.init(KEY, (3,))
    assert out == (2,)
    assert len(p) == 3 and p[1] == ()
    assert p[0]["w"].shape == (3, 4) and p[2]["w"].shape == (4, 2)
    x = jax.random.normal(KEY, (5, 3))
    expected = jnp.tanh(x @ p[0]["w"] + p[0]["b"]) @ p[2]["w"] + p[2]["b"]
    np.testing.assert_allclose(model.apply(p, x), expected, rtol=1e-6)
    assert "Dense(3), Tanh, Dense(2)" in serial(Dense(3), Tanh(), Dense(2)).name


@pytest.mark.parametrize(
    "layer",
    [Dense(2), Sigmoid(), Tanh(), ReLU(), Softmax(), Identity(), Step(), mlp([4, 4, 2])],
    ids=lambda x: x.name,
)
def test_apply_is_per_example_for_any_batch_shape(layer):
    _, p = layer.init(KEY, (4,))
    x = jax.random.normal(KEY, (2, 3, 4))
    y = layer.apply(p, x)
    y_loop = jnp.stack([jnp.stack([layer.apply(p, x[i, j]) for j in range(3)]) for i in range(2)])
    np.testing.assert_allclose(y, y_loop, rtol=1e-6, atol=1e-7)
    # vjp's forward is apply's forward
    np.testing.assert_array_equal(layer.vjp(p, x)[0], y)


def test_activation_values():
    x = jnp.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(Sigmoid().apply((), x), 1 / (1 + np.exp(-np.array(x))), rtol=1e-6)
    np.testing.assert_allclose(Tanh().apply((), x), np.tanh(np.array(x)), rtol=1e-6)
    np.testing.assert_array_equal(ReLU().apply((), x), [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(Identity().apply((), x), x)
    np.testing.assert_array_equal(Step().apply((), x), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(Step(2.5).apply((), x), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(Step(3.0).apply((), x), [0.0, 0.0, 0.0])
    s = Softmax().apply((), jnp.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(s.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(s[1], 1 / 3, rtol=1e-6)


def test_step_is_marked_surrogate_with_straight_through_vjp():
    step = Step()
    assert step.surrogate and "straight-through" in step.surrogate
    assert Sigmoid().surrogate is None
    x = jnp.array([-1.0, 0.5, 2.0])
    dy = jnp.array([0.3, -0.7, 1.1])
    y, backward = step.vjp((), x)
    np.testing.assert_array_equal(y, [0.0, 1.0, 1.0])
    np.testing.assert_array_equal(backward(dy)[1], dy)
    # serial no longer repeats its layers' reasons: each layer keeps its own, and the
    # combinator only says where a surrogate sits (the checker walks ``sublayers``).
    model = serial(Dense(1), Step())
    assert "straight-through" in model.sublayers[1].surrogate
    assert model.sublayers[0].surrogate is None
    assert "[1] Step" in model.surrogate


# --------------------------------------------------------------------------------------------
# Saturation: finite values and gradients equal to autodiff, float32 and float64
# --------------------------------------------------------------------------------------------

SATURATED = np.array([-1000.0, -30.0, 30.0, 1000.0])  # rows of x below: (5, 4)


@pytest.mark.parametrize("use_jit", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("make", [Sigmoid, Tanh, Softmax], ids=lambda f: f.__name__)
def test_saturated_activations_finite_and_equal_autodiff(make, dtype, use_jit):
    layer = make()
    # float64: tight. float32: the checker's float32 tolerance, relative to the largest |dx|
    # (the tutorial formula 1 - y**2 loses digits to cancellation as |x| grows, by design).
    rtol = 1e-12 if dtype == "float64" else TOLERANCES["float32"].agree_rtol
    with jax.enable_x64(dtype == "float64"):
        rows = [SATURATED, -SATURATED, SATURATED[::-1], [-30.0, 0.5, -1000.0, 2.0], [1, 2, 3, 4]]
        x = jnp.asarray(np.stack(rows), dtype)
        dy = jnp.asarray(np.linspace(-1.0, 2.0, x.size).reshape(x.shape), dtype)

        def manual(x, dy):
            y, backward = layer.vjp((), x)
            return y, backward(dy)[1]

        def auto(x, dy):
            y, backward = jax.vjp(lambda x: layer.apply((), x), x)
            return y, backward(dy)[0]

        if use_jit:
            manual, auto = jax.jit(manual), jax.jit(auto)
        y, dx = manual(x, dy)
        ya, dxa = auto(x, dy)
        assert y.dtype == dx.dtype == jnp.dtype(dtype)
        assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))
        np.testing.assert_allclose(y, ya, rtol=1e-12 if dtype == "float64" else 1e-6, atol=0)
        np.testing.assert_allclose(dx, dxa, rtol=0, atol=rtol * float(np.max(np.abs(dxa))))
        if dtype == "float64":  # elementwise too, down to the e^-30 tails
            np.testing.assert_allclose(dx, dxa, rtol=1e-12, atol=0)
        # the ±1000 entries are fully saturated: exactly zero gradient on both paths
        np.testing.assert_array_equal(dx[:3, [0, 3]], 0.0)
        np.testing.assert_array_equal(dxa[:3, [0, 3]], 0.0)
        if make is Sigmoid:
            np.testing.assert_array_equal(y[0, [0, 3]], [0.0, 1.0])
            assert 0 < y[0, 1] < 1e-12 and 1 - 1e-6 < y[0, 2] <= 1
        if make is Tanh:
            np.testing.assert_array_equal(y[0, [0, 3]], [-1.0, 1.0])
        if make is Softmax:
            np.testing.assert_allclose(y.sum(-1), 1.0, rtol=rtol)
            assert y[0, 3] == 1.0  # the 1000 entry takes all the mass


@pytest.mark.parametrize("make", [Sigmoid, Tanh], ids=lambda f: f.__name__)
def test_saturated_layers_pass_assert_layer_grads(make):
    # Inputs ~ N(0, 30²): many far in the saturated tails.
    report = assert_layer_grads(make(), (4,), scale=30.0, batch_shape=(5,))
    assert report.ok


def test_relu_vjp_is_zero_at_kink_like_jax():
    with jax.enable_x64(True):
        x = jnp.array([-1.0, 0.0, 2.0])
        dy = jnp.array([5.0, 7.0, 11.0])
        _, backward = ReLU().vjp((), x)
        np.testing.assert_array_equal(backward(dy)[1], [0.0, 0.0, 11.0])
        np.testing.assert_array_equal(jax.vjp(jax.nn.relu, x)[1](dy)[0], [0.0, 0.0, 11.0])
        kinks = ReLU().kinks((), x)  # a bool mask shaped like x, True exactly at 0
        assert kinks.dtype == jnp.bool_
        np.testing.assert_array_equal(kinks, [False, True, False])


def test_layers_exported():
    for name in ("Dense", "Sigmoid", "Tanh", "ReLU", "Softmax", "Identity", "Step", "serial"):
        assert callable(getattr(jaxnn, name))
