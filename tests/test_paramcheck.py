"""Params are checked against the model: every wrong params tree is a named error at trace time.

Each bad-params case runs through every way a model is run (apply, jit, vjp, the gradient
functions, `check_grads`) and must raise `jaxnn.ParamsError` (a ``ValueError``) naming the
layer, the leaf path, the expected and the actual value. Also: list params behave as tuples,
``init`` misuse names the fix, and gradients keep the params' dtypes on every path.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import count_compiles

import jaxnn
from jaxnn import Dense, Sigmoid, losses, mlp, serial
from jaxnn.paramcheck import ParamsDtypeError

KEY = jax.random.key(0)
MODEL = mlp([2, 3, 1])
NO_BIAS = mlp([2, 3, 1], use_bias=False)
_, P = MODEL.init(KEY, (2,))
_, P_NO_BIAS = NO_BIAS.init(KEY, (2,))
X = jnp.linspace(-1.0, 1.0, 10, dtype=jnp.float32).reshape(5, 2)
T = jnp.linspace(0.0, 1.0, 5, dtype=jnp.float32).reshape(5, 1)
LOSS = losses.half_sse
HINT = "another model"


def with_layer(params, i, value):
    """``params`` with sublayer ``i``'s params replaced (the tuple is rebuilt, not mutated)."""
    return tuple(value if j == i else p for j, p in enumerate(params))


def with_leaf(params, i, leaf, value):
    return with_layer(params, i, {**params[i], leaf: value})


def without_leaf(params, i, leaf):
    return with_layer(params, i, {k: v for k, v in params[i].items() if k != leaf})


# (model, params, error class, fragments of the message, expected .path)
CASES = {
    "params of mlp([2, 4, 2])": (
        MODEL,
        mlp([2, 4, 2]).init(KEY, (2,))[1],
        jaxnn.ParamsError,
        ["mlp([2, 3, 1])", "Dense(3)", "[0].w", "(2, 3)", "(2, 4)", HINT],
        "[0].w",
    ),
    "params of mlp([3, 3, 1]) (input width)": (
        MODEL,
        mlp([3, 3, 1]).init(KEY, (3,))[1],
        jaxnn.ParamsError,
        ["Dense(3)", "[0].w", "(2, 3)", "(3, 3)", HINT],
        "[0].w",
    ),
    "hidden w rows": (
        MODEL,
        with_leaf(P, 2, "w", jnp.ones((4, 1))),
        jaxnn.ParamsError,
        ["Dense(1)", "[2].w", "(3, 1)", "(4, 1)", HINT],
        "[2].w",
    ),
    "bias (1,) for 3 units": (
        MODEL,
        with_leaf(P, 0, "b", jnp.zeros(1)),
        jaxnn.ParamsError,
        ["Dense(3)", "[0].b", "(3,)", "(1,)", HINT],
        "[0].b",
    ),
    "bias (3, 1)": (
        MODEL,
        with_leaf(P, 0, "b", jnp.zeros((3, 1))),
        jaxnn.ParamsError,
        ["[0].b", "(3,)", "(3, 1)"],
        "[0].b",
    ),
    "missing b": (
        MODEL,
        without_leaf(P, 0, "b"),
        jaxnn.ParamsError,
        ["Dense(3)", "[0]", "missing ['b']", HINT],
        "[0]",
    ),
    "extra b on use_bias=False": (
        NO_BIAS,
        P,
        jaxnn.ParamsError,
        ["Dense(3)", "[0]", "unexpected ['b']", HINT],
        "[0]",
    ),
    "too few layers": (
        MODEL,
        P[:2],
        jaxnn.ParamsError,
        ["mlp([2, 3, 1])", "tuple of 3", "length 2", HINT],
        "",
    ),
    "too many layers": (
        MODEL,
        (*P, ()),
        jaxnn.ParamsError,
        ["mlp([2, 3, 1])", "tuple of 3", "length 4"],
        "",
    ),
    "one layer's dict instead of the tuple": (
        MODEL,
        P[0],
        jaxnn.ParamsError,
        ["mlp([2, 3, 1])", "tuple of 3", "dict with keys ['b', 'w']"],
        "",
    ),
    "dict given to Sigmoid": (
        MODEL,
        with_layer(P, 1, {"w": jnp.ones((3, 3))}),
        jaxnn.ParamsError,
        ["Sigmoid", "[1]", "no params", "dict with keys ['w']"],
        "[1]",
    ),
    "tuple given to Dense": (
        MODEL,
        with_layer(P, 0, (P[0]["w"], P[0]["b"])),
        jaxnn.ParamsError,
        ["Dense(3)", "[0]", "a dict with keys ['w', 'b']", "tuple of length 2"],
        "[0]",
    ),
    "transposed w": (
        MODEL,
        with_leaf(P, 0, "w", P[0]["w"].T),
        jaxnn.ParamsError,
        ["Dense(3)", "[0].w", "(2, 3)", "(3, 2)"],
        "[0].w",
    ),
    "1-D w": (
        MODEL,
        with_leaf(P, 0, "w", jnp.ones(6)),
        jaxnn.ParamsError,
        ["Dense(3)", "[0].w", "2-D", "(6,)"],
        "[0].w",
    ),
    "int params": (
        MODEL,
        jax.tree.map(lambda a: a.astype(jnp.int32), P),
        ParamsDtypeError,
        ["Dense(3)", "[0].w", "floating", "int32"],
        "[0].w",
    ),
    "int bias only": (
        MODEL,
        with_leaf(P, 2, "b", jnp.zeros(1, jnp.int32)),
        ParamsDtypeError,
        ["Dense(1)", "[2].b", "floating", "int32"],
        "[2].b",
    ),
    "python list as w": (
        MODEL,
        with_leaf(P, 0, "w", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
        ParamsDtypeError,
        ["Dense(3)", "[0].w", "float array"],
        "[0].w",
    ),
}


def _sum_apply(model, params, x):
    return jnp.sum(model.apply(params, x))


# Every way of running a model; each must raise while tracing (nothing reaches XLA).
PATHS = {
    "apply": lambda m, p: m.apply(p, X),
    "jit(apply)": lambda m, p: jax.jit(m.apply)(p, X),
    "vjp": lambda m, p: m.vjp(p, X)[1](jnp.ones((5, 1))),
    "jit(vjp)": lambda m, p: jax.jit(lambda p: m.vjp(p, X)[0])(p),
    "eval_shape": lambda m, p: jax.eval_shape(m.apply, p, X),
    "jax.grad": lambda m, p: jax.grad(_sum_apply, argnums=1)(m, p, X),
    "jaxnn.grad": lambda m, p: jaxnn.grad(m, LOSS)(p, X, T),
    "jit(jaxnn.grad)": lambda m, p: jax.jit(jaxnn.grad(m, LOSS))(p, X, T),
    "jaxnn.value_and_grad": lambda m, p: jaxnn.value_and_grad(m, LOSS)(p, X, T),
    "jaxnn.autodiff_grad": lambda m, p: jaxnn.autodiff_grad(m, LOSS)(p, X, T),
    "jit(jaxnn.autodiff_grad)": lambda m, p: jax.jit(jaxnn.autodiff_grad(m, LOSS))(p, X, T),
    "manual_vjp": lambda m, p: jax.grad(_sum_apply, argnums=1)(jaxnn.manual_vjp(m), p, X),
    "check_grads": lambda m, p: jaxnn.check_grads(m, LOSS, p, X, T),
}


def test_good_params_pass_every_path():
    """The control: the same paths run cleanly with the params ``init`` made (check_grads on
    good params is tested in test_gradcheck)."""
    for name, run in PATHS.items():
        if name != "check_grads":
            jax.tree.map(np.asarray, run(MODEL, P))


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("case", list(CASES))
def test_bad_params_raise_a_named_error_on_every_path(case, path):
    model, params, error, fragments, leaf_path = CASES[case]
    if path in ("jax.grad", "manual_vjp") and "int" in case:
        # A user's own jax.grad refuses integer params itself, before any layer runs.
        with pytest.raises(TypeError):
            PATHS[path](model, params)
        return
    with count_compiles() as compiled:
        with pytest.raises(error) as info:
            PATHS[path](model, params)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert isinstance(info.value, jaxnn.ParamsError) and isinstance(info.value, ValueError)
    assert info.value.path == leaf_path
    if path.startswith("jit"):
        assert compiled == [], "the check must fire while tracing, before XLA compiles"


def test_params_error_classes():
    assert issubclass(jaxnn.ParamsError, ValueError)
    assert issubclass(ParamsDtypeError, jaxnn.ParamsError)
    assert issubclass(ParamsDtypeError, TypeError)


def test_no_silent_broadcast_of_a_single_bias():
    """A (1,) bias for 3 units would broadcast in ``x @ w + b``; it must be refused instead."""
    bad = with_leaf(P, 0, "b", jnp.full((1,), 0.5))
    with pytest.raises(jaxnn.ParamsError, match=r"\[0\]\.b"):
        MODEL.apply(bad, X)
    # The same check on a lone Dense (no path prefix beyond the leaf).
    with pytest.raises(jaxnn.ParamsError, match=r"Dense\(3\): params\.b: expected shape \(3,\)"):
        Dense(3).apply(bad[0], X)


def test_nested_serial_paths_name_every_level():
    inner = serial(Dense(3), Sigmoid())
    model = serial(Dense(2), inner, Dense(1))
    _, params = model.init(KEY, (2,))
    bad = with_layer(params, 1, with_leaf(params[1], 0, "w", jnp.ones((2, 4))))
    with pytest.raises(jaxnn.ParamsError) as info:
        jax.jit(model.apply)(bad, X)
    assert info.value.path == "[1][0].w"
    message = str(info.value)
    assert "Dense(3)" in message and "(2, 3)" in message and "(2, 4)" in message


# --------------------------------------------------------------------------------------------
# List params work like tuples
# --------------------------------------------------------------------------------------------


def test_list_params_work_like_tuples_and_grads_come_back_as_lists():
    as_list = list(P)
    np.testing.assert_array_equal(MODEL.apply(as_list, X), MODEL.apply(P, X))
    np.testing.assert_array_equal(jax.jit(MODEL.apply)(as_list, X), MODEL.apply(P, X))
    for make in (jaxnn.grad, jaxnn.autodiff_grad):
        g_list, g_tuple = make(MODEL, LOSS)(as_list, X, T), make(MODEL, LOSS)(P, X, T)
        assert isinstance(g_list, list) and isinstance(g_tuple, tuple), make.__name__
        assert jax.tree.structure(g_list) == jax.tree.structure(as_list)
        for a, b in zip(jax.tree.leaves(g_list), jax.tree.leaves(g_tuple), strict=True):
            np.testing.assert_array_equal(a, b)
    # the grads drop straight into optax with the list params
    opt = optax.sgd(0.1)
    updates, _ = opt.update(jaxnn.grad(MODEL, LOSS)(as_list, X, T), opt.init(as_list), as_list)
    stepped = optax.apply_updates(as_list, updates)
    assert isinstance(stepped, list)


def test_fit_accepts_list_params_and_matches_tuples():
    opt = optax.sgd(0.1)
    got, history = jaxnn.train.fit(MODEL, LOSS, opt, list(P), X, T, steps=3)
    want, history_t = jaxnn.train.fit(MODEL, LOSS, opt, P, X, T, steps=3)
    assert isinstance(got, list)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(history["loss"], history_t["loss"], rtol=1e-6)
    assert history["loss"][-1] < history["loss"][0]  # it trained


def test_list_params_with_a_wrong_length_are_still_refused():
    with pytest.raises(jaxnn.ParamsError, match="list of length 2"):
        MODEL.apply(list(P[:2]), X)


# --------------------------------------------------------------------------------------------
# init misuse names the fix
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "layer", [MODEL, Dense(3), Sigmoid(), jaxnn.Dropout(0.5)], ids=lambda layer: layer.name
)
def test_init_misuse_is_a_type_error_naming_the_fix(layer):
    with pytest.raises(TypeError, match=r"input_shape must be a tuple of ints.*e\.g\. \(2,\)"):
        layer.init(KEY, 2)
    with pytest.raises(TypeError, match=r"expected a PRNG key such as jax\.random\.key\(0\)"):
        layer.init(0, (2,))
    with pytest.raises(TypeError, match=r"input_shape"):
        layer.init(KEY, (2.0,))
    assert layer.init(KEY, (2,))[0] in {(1,), (3,), (2,)}
    assert layer.init(jax.random.PRNGKey(0), [2])[0] == layer.init(KEY, (2,))[0]


def test_init_misuse_names_the_model():
    with pytest.raises(TypeError, match=r"mlp\(\[2, 3, 1\]\)\.init"):
        MODEL.init(KEY, 2)
    with pytest.raises(TypeError, match=r"mlp\(\[2, 3, 1\]\)\.init.*got int 0"):
        MODEL.init(0, (2,))


# --------------------------------------------------------------------------------------------
# Gradients keep the params' dtypes on every path
# --------------------------------------------------------------------------------------------

DROP = mlp([2, 3, 1], dropout=0.25)


def _grad_paths(model, loss, reg):
    manual = jaxnn.manual_vjp(model)

    def through_manual_vjp(p, x, t, key=None):
        def objective(p):
            pred = jaxnn.layers.apply_layer(manual, p, x, key)
            return loss.value(pred, t) + (0.0 if reg is None else reg.value(p))

        return jax.grad(objective)(p)

    return {
        "grad": lambda p, x, t, key=None: jaxnn.grad(model, loss, reg=reg)(p, x, t, key=key),
        "value_and_grad": lambda p, x, t, key=None: jaxnn.value_and_grad(model, loss, reg=reg)(
            p, x, t, key=key
        )[1],
        "autodiff_grad": lambda p, x, t, key=None: jaxnn.autodiff_grad(model, loss, reg=reg)(
            p, x, t, key=key
        ),
        "manual_vjp": through_manual_vjp,
    }


@pytest.mark.parametrize("reg", [None, "l2"])
@pytest.mark.parametrize("stochastic", [False, True], ids=["mlp", "mlp+dropout"])
def test_float32_params_float64_data_give_float32_grads_on_every_path(stochastic, reg):
    model = DROP if stochastic else MODEL
    key = jax.random.key(3) if stochastic else None
    with jax.enable_x64(True):
        reg = losses.l2(0.01) if reg else None
        _, params = model.init(KEY, (2,))
        x, t = X.astype(jnp.float64), T.astype(jnp.float64)
        # the float64 reference: the same params promoted, autodiff
        p64 = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        want = jaxnn.autodiff_grad(model, LOSS, reg=reg)(p64, x, t, key=key)
        for name, run in _grad_paths(model, LOSS, reg).items():
            # eager (op by op) once; jit everywhere (the program users run)
            hows = (("jit", jax.jit(run)),) + (
                (("eager", run),) if key is None and reg is None else ()
            )
            for how, fn in hows:
                got = fn(params, x, t, key)
                assert jax.tree.structure(got) == jax.tree.structure(params), (name, how)
                leaves = (jax.tree.leaves(got), jax.tree.leaves(params), jax.tree.leaves(want))
                for g, p, w in zip(*leaves, strict=True):
                    assert g.dtype == p.dtype == jnp.float32, (name, how, g.dtype)
                    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6, err_msg=name)


def test_mixed_dtype_params_keep_each_leafs_dtype():
    with jax.enable_x64(True):
        _, params = MODEL.init(KEY, (2,))
        params = with_layer(params, 0, jax.tree.map(lambda a: a.astype(jnp.float64), params[0]))
        x, t = X.astype(jnp.float64), T.astype(jnp.float64)
        for name, run in _grad_paths(MODEL, LOSS, None).items():
            got = run(params, x, t)
            dtypes = [g.dtype for g in jax.tree.leaves(got)]
            assert dtypes == [p.dtype for p in jax.tree.leaves(params)], name
            assert dtypes == [jnp.float64, jnp.float64, jnp.float32, jnp.float32], name


def test_per_example_grads_through_manual_vjp_keep_float32():
    """``vmap`` over examples of ``jax.grad`` through `manual_vjp` (float64 data, float32
    params): one float32 gradient per example, summing to the batch gradient."""
    manual = jaxnn.manual_vjp(MODEL)
    with jax.enable_x64(True):
        x, t = X.astype(jnp.float64), T.astype(jnp.float64)

        def one(x1, t1):
            return jax.grad(lambda p: LOSS.value(manual.apply(p, x1), t1))(P)

        per = jax.vmap(one)(x, t)
        whole = jaxnn.grad(MODEL, LOSS)(P, x, t)
        for g, w in zip(jax.tree.leaves(per), jax.tree.leaves(whole), strict=True):
            assert g.dtype == w.dtype == jnp.float32 and g.shape[0] == 5
            np.testing.assert_allclose(g.sum(0), w, rtol=1e-5, atol=1e-6)
