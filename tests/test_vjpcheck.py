"""check_vjp: any JAX custom_vjp (or a (forward, backward) pair) checked against jax.vjp of its
plain math and float64 finite differences, under jit and vmap too; planted rules caught by
argument leaf, correct ones pass."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import check_vjp


def custom(fun, fwd, bwd):
    f = jax.custom_vjp(fun)
    f.defvjp(fwd, bwd)
    return f


def _softplus(x):
    return jnp.logaddexp(x, 0.0)


softplus = custom(_softplus, lambda x: (_softplus(x), x), lambda x, g: (g * jax.nn.sigmoid(x),))
softplus_x2 = custom(
    _softplus, lambda x: (_softplus(x), x), lambda x, g: (2 * g * jax.nn.sigmoid(x),)
)


def _linear(x, w):
    return x @ w


linear = custom(_linear, lambda x, w: (x @ w, (x, w)), lambda r, g: (g @ r[1].T, r[0].T @ g))
linear_bad_w = custom(  # dw from the wrong side: right shape only because w is square
    _linear, lambda x, w: (x @ w, (x, w)), lambda r, g: (g @ r[1].T, (r[0].T @ g).T)
)


def _dense(params, x):
    return jnp.tanh(x @ params["w"] + params["b"])


def _dense_fwd(params, x):
    y = _dense(params, x)
    return y, (params, x, y)


def _dense_bwd(res, g):
    params, x, y = res
    dz = g * (1 - y**2)
    return {"w": x.T @ dz, "b": dz.sum(0)}, dz @ params["w"].T


dense = custom(_dense, _dense_fwd, _dense_bwd)


def _bwd_bias_not_summed(res, g):
    dparams, dx = _dense_bwd(res, g)
    return {**dparams, "b": g * (1 - res[2] ** 2)}, dx


dense_no_bias_sum = custom(_dense, _dense_fwd, _bwd_bias_not_summed)


def _bce_logits(z, t):
    return jnp.sum(jnp.logaddexp(0.0, z) - t * z)


bce_logits = custom(
    _bce_logits,
    lambda z, t: (_bce_logits(z, t), (z, t)),
    lambda r, g: (g * (jax.nn.sigmoid(r[0]) - r[1]), jnp.zeros_like(r[1])),
)


def _numpy_tanh_bwd(x, g):
    """A NumPy-backed backward that assumes it sees one example: broken only under vmap."""

    def host(x, g):
        rows = x.shape[0] if x.ndim > 1 else 1  # "normalise by the batch": wrong once batched
        return (g * (1 - np.tanh(x) ** 2) * rows).astype(x.dtype)

    out = jax.ShapeDtypeStruct(x.shape, x.dtype)
    return (jax.pure_callback(host, out, x, g, vmap_method="expand_dims"),)


tanh_vmap_bug = custom(jnp.tanh, lambda x: (jnp.tanh(x), x), _numpy_tanh_bwd)
tanh_host_bwd = custom(  # runs eagerly, cannot run under jit
    jnp.tanh,
    lambda x: (jnp.tanh(x), x),
    lambda x, g: (jnp.asarray(np.asarray(g) * (1 - np.tanh(np.asarray(x)) ** 2)),),
)
wrong_forward = custom(
    jnp.tanh, lambda x: (jnp.tanh(x) + 0.5, x), lambda x, g: (g * (1 - jnp.tanh(x) ** 2),)
)

X = np.linspace(-3.0, 3.0, 7)
W = np.linspace(-1.0, 1.0, 9).reshape(3, 3)
PARAMS = {"w": np.linspace(-1.0, 1.0, 6).reshape(3, 2), "b": np.array([0.1, -0.2])}
XB = np.linspace(-1.0, 1.0, 12).reshape(4, 3)


def check64(f, *args, **kwargs):
    with jax.enable_x64(True):
        args = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), args)
        return check_vjp(f, *args, **kwargs)


def failing(report):
    return {row.path for row in report.failures}


@pytest.mark.parametrize(
    "f,args",
    [
        (softplus, (X,)),
        (linear, (X[:3][None], W)),
        (dense, (PARAMS, XB)),
        (bce_logits, (X, (X > 0).astype(float))),
    ],
    ids=["softplus", "linear", "dense-pytree", "bce-logits"],
)
def test_correct_custom_vjp_passes(f, args):
    static = (1,) if f is bce_logits else ()  # its rule does not differentiate the labels
    report = check64(f, *args, static_argnums=static)
    assert report.ok, str(report)
    assert report.title == "check_vjp" and report.dtype == "float64"
    assert all(row.status.startswith("ok") for row in report.rows)


def test_rows_are_named_by_argument_leaf():
    report = check64(dense, PARAMS, XB)
    assert [row.path for row in report.rows] == ["arg0.b", "arg0.w", "arg1"]


def test_saturated_float32_custom_vjp_has_no_false_alarm():
    z = np.array([-300.0, -30.0, -15.0, 0.0, 15.0, 30.0, 300.0], np.float32)
    t = np.array([1, 1, 1, 0, 0, 0, 0], np.float32)
    report = check_vjp(bce_logits, jnp.asarray(z), jnp.asarray(t), static_argnums=(1,))
    assert report.dtype == "float32" and report.ok, str(report)


@pytest.mark.parametrize(
    "f,args,wrong,words",
    [
        (softplus_x2, (X,), {"arg0"}, "×2.000: a factor of 2?"),
        (linear_bad_w, (X[:3][None], W), {"arg1"}, "worst entry"),
        ((_dense_fwd, _bwd_bias_not_summed), (PARAMS, XB), {"arg0.b"}, "shape (4, 2)"),
    ],
    ids=["factor-2", "dw-wrong-side", "bias-not-summed"],
)
def test_planted_rule_is_caught_by_argument_leaf(f, args, wrong, words):
    report = check64(f, *args)
    assert failing(report) == wrong, str(report)
    assert words in str(report)


def test_misshaped_custom_vjp_cotangent_is_a_value_error_naming_the_function():
    with pytest.raises(ValueError, match="_dense.*shapes do not match"):
        check64(dense_no_bias_sum, PARAMS, XB)


def test_rule_broken_only_under_vmap_is_caught():
    report = check64(tanh_vmap_bug, X)
    assert failing(report) == {"arg0"}
    (row,) = report.failures
    assert row.status == "FAIL: vmap ≠ unbatched"  # eager and jit agree with autodiff
    assert row.agree_rel <= 1e-9
    assert any("under vmap" in s and "batch" in s for s in report.suspects)
    assert check64(tanh_vmap_bug, X, check_vmap=False).ok  # invisible without vmap


def test_rule_that_cannot_run_under_jit_is_named():
    report = check64(tanh_host_bwd, X)
    assert failing(report) == {"arg0"}
    assert "fails under jit" in report.failures[0].status
    assert any("fails under jit (works eagerly)" in s for s in report.suspects)


def test_wrong_forward_is_named():
    report = check64(wrong_forward, X)
    assert failing(report) == {"output"}  # the backward itself is right
    assert any("the forward is wrong" in s for s in report.suspects)


def test_forward_backward_pair():
    def forward(x, w):
        return jnp.sin(x) @ w, (x, w)

    def backward(res, g):
        x, w = res
        return (jnp.cos(x) * (g @ w.T), jnp.sin(x).T @ g)

    def bad_backward(res, g):
        dx, dw = backward(res, g)
        return -dx, dw

    x = X[:3][None]
    assert check64((forward, backward), x, W).ok
    assert failing(check64((forward, bad_backward), x, W)) == {"arg0"}
    report = check64((forward, bad_backward), x, W)
    assert "×-1.000: a sign?" in str(report)


def test_pair_returning_one_cotangent_for_two_args_names_the_fix():
    def forward(x, w):
        return x @ w, (x, w)

    with pytest.raises(TypeError, match="one cotangent per argument"):
        check64((forward, lambda res, g: g @ res[1].T), X[:3][None], W)


def test_static_argnums_hold_an_argument_fixed():
    report = check64(linear, X[:3][None], W, static_argnums=(1,))
    assert report.ok and [row.path for row in report.rows] == ["arg0"]


def test_primal_for_a_function_without_custom_rule():
    def slow_softplus(x):
        return jnp.log1p(jnp.exp(x))

    assert check64(jax.nn.softplus, X, primal=slow_softplus).ok
    with pytest.raises(TypeError, match="primal="):
        check64(slow_softplus, X)


def test_exported():
    assert jaxnn.check_vjp is check_vjp
