"""The hand-written gradient path (`jaxnn.grad`) equals `jax.grad` (`jaxnn.autodiff_grad`);
`manual_vjp` makes jax.grad / vmap / optax run on the hand-written rules."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from planted import scaled_dw_dense

import jaxnn
from jaxnn import Dense, Layer, Sigmoid, Softmax, Tanh, manual_vjp, mlp, serial
from jaxnn.losses import binary_cross_entropy, half_sse, l2, mse, softmax_cross_entropy, sse

KEY = jax.random.key(0)


def to64(tree):
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), tree)


def assert_tree_close(actual, expected, rtol=1e-9, atol=1e-13):
    """Per leaf: max |actual − expected| ≤ rtol · max |expected| + atol."""
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for (path, a), b in zip(
        jax.tree_util.tree_leaves_with_path(actual), jax.tree.leaves(expected), strict=True
    ):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert a.shape == b.shape, jax.tree_util.keystr(path)
        err = float(np.max(np.abs(a - b), initial=0.0))
        scale = float(np.max(np.abs(b), initial=0.0))
        assert err <= rtol * scale + atol, f"{jax.tree_util.keystr(path)}: {err=} {scale=}"


# --------------------------------------------------------------------------------------------
# Property test: random models, losses, regularisation and batch shapes
# --------------------------------------------------------------------------------------------

BATCHES = [(), (1,), (5,), (2, 3)]
LOSS_KINDS = ["sse", "half_sse", "mse", "bce", "ce_int", "ce_onehot"]


@st.composite
def problems(draw):
    depth = draw(st.integers(1, 3))
    widths = draw(st.lists(st.integers(1, 5), min_size=depth, max_size=depth))
    activation = draw(st.sampled_from(["sigmoid", "tanh", "relu", "identity"]))
    kind = draw(st.sampled_from(LOSS_KINDS))
    reduction = draw(st.sampled_from(["mean", "sum"]))
    if kind == "bce":
        loss, output, n_out = binary_cross_entropy(reduction), "sigmoid", draw(st.integers(1, 3))
    elif kind.startswith("ce"):
        loss, output, n_out = softmax_cross_entropy(reduction), None, draw(st.integers(2, 4))
    else:
        loss = {"sse": sse, "half_sse": half_sse, "mse": mse}[kind]
        output = draw(st.sampled_from([None, "sigmoid", "tanh", "softmax"]))
        n_out = draw(st.integers(1, 3))
    return dict(
        sizes=[draw(st.integers(1, 4)), *widths, n_out],
        activation=activation,
        output=output,
        use_bias=draw(st.booleans()),
        kind=kind,
        loss=loss,
        lam=draw(st.sampled_from([None, 0.01, 0.5])),
        batch=draw(st.sampled_from(BATCHES)),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def build(problem):
    """Model, loss, reg and float64 params/data (to be called under x64)."""
    model = mlp(
        problem["sizes"],
        activation=problem["activation"],
        output_activation=problem["output"],
        use_bias=problem["use_bias"],
    )
    rng = np.random.default_rng(problem["seed"])
    n_in, n_out, batch = problem["sizes"][0], problem["sizes"][-1], problem["batch"]
    # Params of init's shapes, drawn with NumPy (no per-shape compile of a JAX initializer);
    # every leaf, biases too, is random so no ReLU input lands exactly on 0.
    shapes = jax.eval_shape(lambda key: model.init(key, (n_in,))[1], KEY)
    params = jax.tree.map(
        lambda s: jnp.asarray(rng.standard_normal(s.shape) / np.sqrt(s.shape[0])), shapes
    )
    x = jnp.asarray(rng.standard_normal((*batch, n_in)))
    kind = problem["kind"]
    if kind == "bce":
        target = jnp.asarray(rng.integers(0, 2, (*batch, n_out)), jnp.float64)
    elif kind == "ce_int":
        target = jnp.asarray(rng.integers(0, n_out, batch))
    elif kind == "ce_onehot":
        target = jax.nn.one_hot(rng.integers(0, n_out, batch), n_out, dtype=jnp.float64)
    else:
        target = jnp.asarray(rng.uniform(0, 1, (*batch, n_out)))
    reg = None if problem["lam"] is None else l2(problem["lam"])
    return model, problem["loss"], reg, params, x, target


@settings(max_examples=25, deadline=None)
@given(problems())
def test_property_manual_grad_equals_autodiff(problem):
    """Hand-written grads equal jax.grad to 1e-9 relative per leaf, in float64.

    Both paths run in one jitted program per example (one compile instead of dozens of eager
    per-shape compiles); jit-vs-eager equality is tested on fixed models below.
    """
    with jax.enable_x64(True):
        model, loss, reg, params, x, target = build(problem)

        @jax.jit
        def both(params, x, target):
            manual = jaxnn.grad(model, loss, reg=reg)(params, x, target)
            return manual, jaxnn.autodiff_grad(model, loss, reg=reg)(params, x, target)

        manual, auto = both(params, x, target)
        assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(manual))
        assert_tree_close(manual, auto, rtol=1e-9, atol=1e-13)


@settings(max_examples=8, deadline=None)
@given(problems())
def test_property_check_grads_ok(problem):
    """`check_grads` (eager, finite differences in float64) passes every built-in model.

    Fewer examples than above: check_grads runs op by op, so each new shape costs compiles.
    """
    with jax.enable_x64(True):
        model, loss, reg, params, x, target = build(problem)
        report = jaxnn.check_grads(model, loss, params, x, target, reg=reg, n_directions=2)
        assert report.ok, str(report)
        assert report.dtype == "float64"
        assert {r.path for r in report.rows} >= {"[0].w", "input"}
        assert all(r.agree_rel <= 1e-9 or r.agree_abs <= 1e-13 for r in report.rows)
        assert all(r.manual_fd <= 1e-6 and r.autodiff_fd <= 1e-6 for r in report.rows)


# --------------------------------------------------------------------------------------------
# Fixed models, jit vs eager
# --------------------------------------------------------------------------------------------

FIXED = {
    "sigmoid-sse": (lambda: mlp([3, 4, 2], activation="sigmoid"), sse, None, "real"),
    "tanh-halfsse-l2": (lambda: mlp([3, 4, 2], activation="tanh"), half_sse, l2(0.1), "real"),
    "relu-ce": (lambda: mlp([3, 4, 4, 2], activation="relu"), softmax_cross_entropy(), None, "int"),
    "softmax-mse-nobias-l2": (
        lambda: mlp([3, 4, 2], output_activation="softmax", use_bias=False),
        mse,
        l2(0.3),
        "real",
    ),
    "sigmoid-bce-sum": (
        lambda: mlp([3, 4, 2], activation="tanh", output_activation="sigmoid"),
        binary_cross_entropy("sum"),
        None,
        "binary",
    ),
    "ce-onehot-sum": (
        lambda: mlp([3, 4, 2], activation="sigmoid"),
        softmax_cross_entropy("sum"),
        None,
        "onehot",
    ),
}


def _data(batch, target_kind, seed=0):
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.standard_normal((*batch, 3)))
    if target_kind == "int":
        return x, jnp.asarray(rng.integers(0, 2, batch))
    if target_kind == "onehot":
        return x, jnp.asarray(np.eye(2)[rng.integers(0, 2, batch)])
    if target_kind == "binary":
        return x, jnp.asarray(rng.integers(0, 2, (*batch, 2)), jnp.float64)
    return x, jnp.asarray(rng.uniform(0, 1, (*batch, 2)))


def _fixed(name, batch):
    make, loss, reg, target_kind = FIXED[name]
    model = make()
    _, params = model.init(KEY, (3,))
    return model, loss, reg, to64(params), *_data(batch, target_kind)


@pytest.mark.parametrize("name", list(FIXED))
def test_jitted_manual_grad_equals_eager_and_autodiff(name):
    with jax.enable_x64(True):
        model, loss, reg, params, x, target = _fixed(name, (5,))
        manual = jaxnn.grad(model, loss, reg=reg)
        auto = jaxnn.autodiff_grad(model, loss, reg=reg)
        eager = manual(params, x, target)
        assert_tree_close(jax.jit(manual)(params, x, target), eager, rtol=1e-13, atol=1e-15)
        assert_tree_close(eager, jax.jit(auto)(params, x, target), rtol=1e-9)
        v, g = jax.jit(jaxnn.value_and_grad(model, loss, reg=reg))(params, x, target)
        obj = loss.value(model.apply(params, x), target) + (0 if reg is None else reg.value(params))
        np.testing.assert_allclose(v, obj, rtol=1e-13)
        assert_tree_close(g, eager, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("batch", [(), (2, 3)])
@pytest.mark.parametrize("name", list(FIXED))
def test_manual_grad_equals_autodiff_any_batch_shape(name, batch):
    with jax.enable_x64(True):
        model, loss, reg, params, x, target = _fixed(name, batch)
        both = jax.jit(
            lambda *a: (
                jaxnn.grad(model, loss, reg=reg)(*a),
                jaxnn.autodiff_grad(model, loss, reg=reg)(*a),
            )
        )
        manual, auto = both(params, x, target)
        assert_tree_close(manual, auto, rtol=1e-9)
        assert manual[0]["w"].shape == (3, 4)


def test_batch_gradient_is_sum_of_single_example_gradients():
    """With sum reduction, the batched manual grad is the sum of batch-less (d,) grads."""
    model = mlp([3, 4, 2], activation="tanh")
    loss = softmax_cross_entropy("sum")
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        params = to64(params)
        x, target = _data((2, 3), "int", seed=5)
        g = jax.jit(jaxnn.grad(model, loss))
        total = g(params, x, target)
        singles = [g(params, x[i, j], target[i, j]) for i in range(2) for j in range(3)]
        assert_tree_close(total, jax.tree.map(lambda *a: sum(a), *singles), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grads_keep_param_dtype(dtype):
    model = mlp([3, 4, 2], activation="sigmoid")
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        params = jax.tree.map(lambda a: a.astype(dtype), params)
        x = jnp.ones((5, 3), dtype)
        t = jnp.zeros((5,), jnp.int32)
        reg = l2(np.float64(0.1))
        for g in (jaxnn.grad, jaxnn.autodiff_grad):
            grads = jax.jit(g(model, softmax_cross_entropy(), reg=reg))(params, x, t)
            assert {leaf.dtype for leaf in jax.tree.leaves(grads)} == {jnp.dtype(dtype)}


def test_manual_grad_with_integer_inputs_equals_float_inputs():
    model = mlp([3, 4, 2], output_activation="sigmoid")
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        params = to64(params)
        rng = np.random.default_rng(4)
        xi = jnp.asarray(rng.integers(0, 2, (5, 3)), jnp.int32)
        t = jnp.asarray(rng.integers(0, 2, (5, 2)), jnp.float64)
        f = jax.jit(
            lambda p, x, t: (
                jaxnn.grad(model, binary_cross_entropy())(p, x, t),
                jaxnn.autodiff_grad(model, binary_cross_entropy())(p, x, t),
            )
        )
        manual_i, auto_i = f(params, xi, t)
        manual_f, auto_f = f(params, xi.astype(jnp.float64), t)
        assert_tree_close(manual_i, manual_f, rtol=1e-15)
        assert_tree_close(auto_i, auto_f, rtol=1e-15)
        assert_tree_close(manual_i, auto_i, rtol=1e-9)


# --------------------------------------------------------------------------------------------
# manual_vjp: jax.grad runs OUR rule
# --------------------------------------------------------------------------------------------


def triple_tanh() -> Layer:
    """Tanh whose hand-written rule is deliberately 3× the true derivative."""
    base = Tanh()

    def vjp(params, x):
        y = base.apply(params, x)
        return y, lambda dy: ((), 3 * dy * (1 - y**2))

    return base._replace(vjp=vjp, name="TripleTanh")


def half_dw_dense() -> Layer:
    return scaled_dw_dense(4, 0.5)


@pytest.mark.parametrize("use_jit", [False, True])
def test_manual_vjp_uses_the_hand_written_rule(use_jit):
    with jax.enable_x64(True):
        x = jnp.linspace(-2.0, 2.0, 20).reshape(5, 4)
        c = jnp.arange(20.0).reshape(5, 4) - 9.5

        def through(layer):
            f = jax.grad(lambda x: jnp.sum(layer.apply((), x) * c))
            return (jax.jit(f) if use_jit else f)(x)

        true = through(Tanh())
        np.testing.assert_allclose(through(manual_vjp(triple_tanh())), 3 * true, rtol=1e-14)
        np.testing.assert_allclose(through(manual_vjp(Tanh())), true, rtol=1e-14)
        # without manual_vjp, jax.grad differentiates apply and never sees the vjp
        np.testing.assert_allclose(through(triple_tanh()), true, rtol=1e-14)

        dense = half_dw_dense()
        _, p = dense.init(KEY, (3,))
        p = to64(p)
        x3 = x[:, :3]

        def dparams(layer):
            f = jax.grad(lambda p: jnp.sum(layer.apply(p, x3) ** 2))
            return (jax.jit(f) if use_jit else f)(p)

        good, bad = dparams(Dense(4)), dparams(manual_vjp(dense))
        np.testing.assert_allclose(bad["w"], 0.5 * good["w"], rtol=1e-14)
        np.testing.assert_allclose(bad["b"], good["b"], rtol=1e-14)


@pytest.mark.parametrize("per_layer,use_jit", [(False, False), (False, True), (True, True)])
def test_manual_vjp_grad_equals_autodiff_for_true_layers(per_layer, use_jit):
    layers = [Dense(4), Sigmoid(), Dense(4), Tanh(), Dense(3), Softmax()]
    model = serial(*layers)
    wrapped = serial(*map(manual_vjp, layers)) if per_layer else manual_vjp(model)
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        params = to64(params)
        x, t = _data((5,), "real")
        t = jnp.concatenate([t, t[:, :1]], axis=1)

        def f(p):
            return sse.value(wrapped.apply(p, x), t)

        g = jax.grad(f)
        g = jax.jit(g) if use_jit else g
        assert_tree_close(g(params), jaxnn.autodiff_grad(model, sse)(params, x, t), rtol=1e-9)
        assert_tree_close(g(params), jaxnn.grad(model, sse)(params, x, t), rtol=1e-12)
        np.testing.assert_allclose(wrapped.apply(params, x), model.apply(params, x), rtol=1e-15)


def test_manual_vjp_keeps_layer_metadata():
    step = manual_vjp(jaxnn.Step())
    assert step.surrogate == jaxnn.Step().surrogate
    assert "Tanh" in manual_vjp(Tanh()).name
    out, p = manual_vjp(Dense(3)).init(KEY, (2,))
    assert out == (3,) and set(p) == {"w", "b"}


def test_per_example_gradients_with_vmap():
    model = mlp([3, 4, 2], activation="tanh")
    mv = manual_vjp(model)
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        params = to64(params)
        x, t = _data((5,), "real", seed=7)

        def single(p, x1, t1):  # x1 is ONE example, shape (3,)
            return jax.grad(lambda p: half_sse.value(mv.apply(p, x1), t1))(p)

        batched = jax.jit(jax.vmap(single, in_axes=(None, 0, 0)))(params, x, t)
        single, manual = jax.jit(single), jax.jit(jaxnn.grad(model, half_sse))
        for i in range(5):
            one = jax.tree.map(lambda a, i=i: a[i], batched)
            assert_tree_close(one, single(params, x[i], t[i]), rtol=1e-13)
            assert_tree_close(one, manual(params, x[i], t[i]), rtol=1e-12)
        # summed over examples it is the batch gradient
        summed = jax.tree.map(lambda a: a.sum(0), batched)
        assert_tree_close(summed, manual(params, x, t), rtol=1e-12)


@pytest.mark.parametrize("use_jit", [False, True])
def test_manual_vjp_integer_input_float0_cotangent(use_jit):
    model = mlp([3, 4, 2], output_activation="sigmoid")
    mv = manual_vjp(model)
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        params = to64(params)
        rng = np.random.default_rng(4)
        xi = jnp.asarray(rng.integers(0, 2, (5, 3)), jnp.int32)
        t = jnp.asarray(rng.integers(0, 2, (5, 2)), jnp.float64)

        def g(p, x):
            return jax.grad(lambda p: half_sse.value(mv.apply(p, x), t))(p)

        g = jax.jit(g) if use_jit else g
        assert_tree_close(
            g(params, xi), jaxnn.autodiff_grad(model, half_sse)(params, xi * 1.0, t), rtol=1e-12
        )
        # the input cotangent of an integer primal is float0, as JAX requires
        dx = jax.grad(lambda p, x: jnp.sum(mv.apply(p, x)), argnums=1, allow_int=True)(params, xi)
        assert dx.dtype == jax.dtypes.float0 and dx.shape == xi.shape


@pytest.mark.parametrize("use_jit", [False, True])
def test_manual_vjp_with_optax_sgd(use_jit):
    model = mlp([3, 4, 2], activation="sigmoid")
    mv = manual_vjp(model)
    lr = 0.3
    opt = optax.sgd(lr)
    with jax.enable_x64(True):
        _, params = model.init(KEY, (3,))
        params = to64(params)
        x, t = _data((5,), "real", seed=3)

        def step(p, state):
            g = jax.grad(lambda p: mse.value(mv.apply(p, x), t))(p)
            updates, state = opt.update(g, state, p)
            return optax.apply_updates(p, updates), state

        step = jax.jit(step) if use_jit else step
        new, _ = step(params, opt.init(params))
        g = jaxnn.grad(model, mse)(params, x, t)
        expected = jax.tree.map(lambda p, g: p - lr * g, params, g)
        assert_tree_close(new, expected, rtol=1e-14, atol=1e-15)
        # and it moved: the step is not a no-op
        assert not np.allclose(new[0]["w"], params[0]["w"])
