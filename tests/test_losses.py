"""Losses and l2: values equal the hand formulas, hand-written gradients equal jax.grad, shape
errors are clear, and saturated inputs stay finite and exact."""

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import losses
from jaxnn.losses import binary_cross_entropy, half_sse, l2, mse, softmax_cross_entropy, sse

BATCHES = [(), (5,), (2, 3)]


def hand_grad(loss, pred, target):
    value, backward = loss.vjp(pred, target)
    return value, backward(jnp.ones_like(value))


def maybe_jit(f, use_jit):
    return jax.jit(f) if use_jit else f


# --------------------------------------------------------------------------------------------
# Values equal the hand formulas
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", BATCHES)
def test_squared_error_values(batch):
    rng = np.random.default_rng(0)
    p, t = rng.standard_normal((*batch, 3)), rng.standard_normal((*batch, 3))
    with jax.enable_x64(True):
        s = float(np.sum((p - t) ** 2))
        assert float(sse.value(p, t)) == pytest.approx(s, rel=1e-14)
        assert float(half_sse.value(p, t)) == pytest.approx(s / 2, rel=1e-14)
        assert float(mse.value(p, t)) == pytest.approx(s / p.size, rel=1e-14)  # all elements


@pytest.mark.parametrize("batch", BATCHES)
def test_binary_cross_entropy_values(batch):
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.95, (*batch, 2))
    t = rng.integers(0, 2, (*batch, 2)).astype(float)
    per = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    with jax.enable_x64(True):
        assert float(binary_cross_entropy("sum").value(p, t)) == pytest.approx(per.sum(), rel=1e-13)
        mean = float(binary_cross_entropy("mean").value(p, t))
        assert mean == pytest.approx(per.mean(), rel=1e-13)  # over all elements


@pytest.mark.parametrize("batch", BATCHES)
def test_softmax_cross_entropy_values_average_over_examples_not_classes(batch):
    rng = np.random.default_rng(2)
    c = 4
    z = rng.standard_normal((*batch, c))
    labels = rng.integers(0, c, batch)
    log_probs = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
    per_example = -np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
    n_examples = int(np.prod(batch))
    onehot = np.eye(c)[labels]
    with jax.enable_x64(True):
        for target in (jnp.asarray(labels), jnp.asarray(onehot)):
            total = float(softmax_cross_entropy("sum").value(z, target))
            mean = float(softmax_cross_entropy("mean").value(z, target))
            assert total == pytest.approx(per_example.sum(), rel=1e-13)
            assert mean == pytest.approx(per_example.sum() / n_examples, rel=1e-13)
            if c != 1:
                assert mean != pytest.approx(per_example.sum() / (n_examples * c), rel=1e-6)


def test_loss_defaults_and_names():
    assert softmax_cross_entropy().name == softmax_cross_entropy("mean").name
    assert binary_cross_entropy().name == binary_cross_entropy("mean").name
    with pytest.raises(ValueError, match="reduction"):
        softmax_cross_entropy("avg")
    with pytest.raises(ValueError, match="reduction"):
        binary_cross_entropy("none")


# --------------------------------------------------------------------------------------------
# Hand-written gradients equal jax.grad (float64, tight), with and without jit
# --------------------------------------------------------------------------------------------


def _cases():
    rng = np.random.default_rng(3)
    for batch in BATCHES:
        shape = (*batch, 2)
        p, t = rng.standard_normal(shape), rng.standard_normal(shape)
        for loss in (sse, half_sse, mse):
            yield loss, p, t, batch
        prob = rng.uniform(0.02, 0.98, shape)
        tb = rng.integers(0, 2, shape).astype(float)
        for red in ("mean", "sum"):
            yield binary_cross_entropy(red), prob, tb, batch
            labels = rng.integers(0, 2, batch)
            yield softmax_cross_entropy(red), p, labels, batch
            yield softmax_cross_entropy(red), p, np.eye(2)[labels], batch


CASES = [(*case, False) for case in _cases()]
CASES += [(*case[:4], True) for case in CASES if case[3] == (5,)]  # and jitted


@pytest.mark.parametrize(
    "loss,pred,target,batch,use_jit",
    CASES,
    ids=[
        f"{c[0].name}-{c[3]}-{np.asarray(c[2]).dtype}-{'jit' if c[4] else 'eager'}" for c in CASES
    ],
)
def test_hand_written_loss_gradient_equals_autodiff(loss, pred, target, batch, use_jit):
    with jax.enable_x64(True):
        pred, target = jnp.asarray(pred), jnp.asarray(target)
        value, g = maybe_jit(lambda p, t: hand_grad(loss, p, t), use_jit)(pred, target)
        value_a, g_a = maybe_jit(jax.value_and_grad(loss.value), use_jit)(pred, target)
        assert g.shape == pred.shape and g.dtype == jnp.float64
        np.testing.assert_allclose(value, value_a, rtol=1e-14)
        np.testing.assert_allclose(g, g_a, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_softmax_cross_entropy_soft_targets_gradient_equals_autodiff(reduction):
    """Targets of the logits' shape that are not exactly one-hot (label smoothing, or rows that
    do not sum to 1): the hand-written rule softmax·Σt − t still equals jax.grad."""
    loss = softmax_cross_entropy(reduction)
    with jax.enable_x64(True):
        rng = np.random.default_rng(4)
        z = jnp.asarray(rng.standard_normal((5, 2)))
        for t in (0.9 * np.eye(2)[[0, 1, 1, 0, 1]] + 0.05, rng.uniform(0, 1, (5, 2))):
            value, g = hand_grad(loss, z, jnp.asarray(t))
            value_a, g_a = jax.value_and_grad(loss.value)(z, jnp.asarray(t))
            np.testing.assert_allclose(value, value_a, rtol=1e-14)
            np.testing.assert_allclose(g, g_a, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_loss_value_and_gradient_keep_pred_dtype(dtype):
    with jax.enable_x64(True):
        p = jnp.asarray([[0.2, 0.7]], dtype)
        t = jnp.asarray([[0.0, 1.0]], jnp.float64)  # a float64 target does not promote
        for loss in (sse, mse, binary_cross_entropy(), softmax_cross_entropy()):
            value, g = hand_grad(loss, p, t)
            assert value.dtype == jnp.dtype(dtype), loss.name
            assert g.dtype == jnp.dtype(dtype), loss.name


# --------------------------------------------------------------------------------------------
# Shape errors: never a silent broadcast
# --------------------------------------------------------------------------------------------

ELEMENTWISE = [sse, half_sse, mse, binary_cross_entropy("mean"), binary_cross_entropy("sum")]


@pytest.mark.parametrize("loss", ELEMENTWISE, ids=lambda loss: loss.name)
@pytest.mark.parametrize("pred_shape,target_shape", [((4, 1), (4,)), ((4, 2), (2,)), ((3,), (4,))])
def test_mismatched_shapes_raise_naming_loss_and_shapes(loss, pred_shape, target_shape):
    pred = jnp.full(pred_shape, 0.5)
    target = jnp.zeros(target_shape)
    for call in (loss.value, lambda p, t: loss.vjp(p, t)[0], jax.jit(loss.value)):
        with pytest.raises(ValueError) as info:
            call(pred, target)
        message = str(info.value)
        assert loss.name in message
        assert str(pred_shape) in message and str(target_shape) in message


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_rejects_bad_targets(reduction):
    loss = softmax_cross_entropy(reduction)
    logits = jnp.zeros((4, 3))
    # float "labels" of shape (N,): not integer, not one-hot
    with pytest.raises(ValueError, match=r"softmax_cross_entropy.*\(4,\)"):
        loss.value(logits, jnp.array([0.0, 1.0, 2.0, 1.0]))
    # wrong number of examples / classes
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        loss.value(logits, jnp.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"\(4, 2\)"):
        loss.vjp(logits, jnp.zeros((4, 2)))
    with pytest.raises(TypeError, match="floating"):
        loss.value(jnp.zeros((4, 3), jnp.int32), jnp.array([0, 1, 2, 1]))


def test_integer_pred_rejected():
    with pytest.raises(TypeError, match="sse"):
        sse.value(jnp.array([1, 2]), jnp.array([1.0, 2.0]))


# --------------------------------------------------------------------------------------------
# Saturation
# --------------------------------------------------------------------------------------------


HUGE = [
    (dtype, reduction, one_hot, False)
    for dtype in ("float32", "float64")
    for reduction in ("mean", "sum")
    for one_hot in (False, True)
] + [("float32", "mean", False, True), ("float64", "sum", True, True)]


@pytest.mark.parametrize("dtype,reduction,one_hot,use_jit", HUGE)
def test_softmax_cross_entropy_huge_logits(dtype, reduction, one_hot, use_jit):
    with jax.enable_x64(dtype == "float64"):
        logits = jnp.asarray([[1e4, -1e4], [-1e4, 1e4], [1e4, -1e4]], dtype)
        labels = jnp.array([1, 1, 0])  # wrong, right, right
        target = jax.nn.one_hot(labels, 2, dtype=dtype) if one_hot else labels
        loss = softmax_cross_entropy(reduction)
        n = 3 if reduction == "mean" else 1
        value, g = maybe_jit(lambda z, t: hand_grad(loss, z, t), use_jit)(logits, target)
        value_a, g_a = maybe_jit(jax.value_and_grad(loss.value), use_jit)(logits, target)
        assert np.isfinite(value) and np.all(np.isfinite(g))
        np.testing.assert_allclose(value, 2e4 / n, rtol=1e-6)  # only example 0 costs, 2e4
        np.testing.assert_allclose(value_a, 2e4 / n, rtol=1e-6)
        softmax_minus_onehot = np.array([[1.0, -1.0], [0.0, 0.0], [0.0, 0.0]])
        np.testing.assert_allclose(g, softmax_minus_onehot / n, atol=1e-30)
        np.testing.assert_allclose(g_a, softmax_minus_onehot / n, atol=1e-30)


@pytest.mark.parametrize("use_jit", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_cross_entropy_at_exact_zero_and_one(dtype, use_jit):
    with jax.enable_x64(dtype == "float64"):
        p = jnp.asarray([0.0, 0.0, 1.0, 1.0], dtype)
        t = jnp.asarray([0.0, 1.0, 0.0, 1.0], dtype)
        eps = float(jnp.finfo(dtype).eps)
        for reduction, n in (("mean", 4), ("sum", 1)):
            loss = binary_cross_entropy(reduction)
            value, g = maybe_jit(lambda p, t, loss=loss: hand_grad(loss, p, t), use_jit)(p, t)
            value_a, g_a = maybe_jit(jax.value_and_grad(loss.value), use_jit)(p, t)
            assert np.isfinite(value) and np.all(np.isfinite(g))
            assert value.dtype == g.dtype == jnp.dtype(dtype)
            np.testing.assert_allclose(value, value_a, rtol=1e-6)
            np.testing.assert_allclose(g, g_a, rtol=1e-6)
            # right predictions cost exactly 0; wrong ones are large but finite: 1 - log(eps)
            expected = (2 * (1 - np.log(eps))) / n
            np.testing.assert_allclose(value, expected, rtol=1e-6)
            assert float(value) > 2 * 15 / n
            # d/dp at (p=0, t=0) is 1/n; at (p=1, t=1) it is -1/n; wrong ones ∓1/(eps·n)
            np.testing.assert_allclose(g, np.array([1, -1 / eps, 1 / eps, -1]) / n, rtol=1e-6)
        for i in (0, 3):  # a right prediction, on its own, costs exactly 0
            assert float(binary_cross_entropy().value(p[i : i + 1], t[i : i + 1])) == 0.0


def test_binary_cross_entropy_gradient_at_p0_t0_is_one_over_n():
    with jax.enable_x64(True):
        p = jnp.zeros((5, 2))
        t = jnp.zeros((5, 2))
        _, g = hand_grad(binary_cross_entropy("mean"), p, t)
        np.testing.assert_allclose(g, np.full((5, 2), 1 / 10), rtol=1e-15)
        np.testing.assert_allclose(jax.grad(binary_cross_entropy().value)(p, t), 1 / 10)
        assert float(binary_cross_entropy().value(p, t)) == 0.0


# --------------------------------------------------------------------------------------------
# l2
# --------------------------------------------------------------------------------------------


def _params(dtype):
    return (
        {"w": jnp.asarray([[1.0, -2.0], [3.0, 0.5]], dtype), "b": jnp.asarray([4.0, 5.0], dtype)},
        (),
        {"w": jnp.asarray([[2.0], [-1.0]], dtype)},
    )


def test_l2_value_and_grad_only_on_weights():
    with jax.enable_x64(True):
        lam = 0.3
        params = _params(jnp.float64)
        reg = l2(lam)
        sum_w2 = 1 + 4 + 9 + 0.25 + 4 + 1  # biases (16 + 25) excluded
        assert float(reg.value(params)) == pytest.approx(lam / 2 * sum_w2, rel=1e-15)
        g = reg.grad(params)
        assert jax.tree.structure(g) == jax.tree.structure(params)
        np.testing.assert_allclose(g[0]["w"], lam * params[0]["w"], rtol=1e-15)
        np.testing.assert_allclose(g[2]["w"], lam * params[2]["w"], rtol=1e-15)
        np.testing.assert_array_equal(g[0]["b"], [0.0, 0.0])
        # the hand-written grad is jax.grad of the value
        g_auto = jax.grad(reg.value)(params)
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(g_auto), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-15)
        # no weights: 0
        assert float(reg.value(({"b": jnp.ones(3)},))) == 0.0


def test_l2_keeps_float32_under_x64_with_float64_lam():
    with jax.enable_x64(True):
        params = _params(jnp.float32)
        for lam in (np.float64(0.1), jnp.asarray(0.1, jnp.float64), 0.1):
            g = l2(lam).grad(params)
            for leaf in jax.tree.leaves(g):
                assert leaf.dtype == jnp.float32
            np.testing.assert_allclose(g[0]["w"], 0.1 * np.asarray(params[0]["w"]), rtol=1e-6)


def test_l2_lam_can_be_traced_and_vmapped():
    with jax.enable_x64(True):
        params = _params(jnp.float64)
        lams = jnp.array([0.0, 0.5, 2.0])
        values = jax.vmap(lambda lam: l2(lam).value(params))(lams)
        np.testing.assert_allclose(values, lams / 2 * 19.25, rtol=1e-15)
        grads = jax.jit(jax.vmap(lambda lam: l2(lam).grad(params)))(lams)
        np.testing.assert_allclose(grads[2]["w"], lams[:, None, None] * params[2]["w"][None])


def test_losses_module_exports():
    assert isinstance(sse, losses.Loss)
    assert isinstance(l2(0.1), losses.Regularizer)


# --------------------------------------------------------------------------------------------
# Losses are data: spec, equality, hash, repr, from_spec
# --------------------------------------------------------------------------------------------

BUILT = [
    (lambda: sse, "sse"),
    (lambda: half_sse, "half_sse"),
    (lambda: mse, "mse"),
    (lambda: binary_cross_entropy(), "binary_cross_entropy()"),
    (lambda: binary_cross_entropy("sum"), "binary_cross_entropy(reduction='sum')"),
    (lambda: softmax_cross_entropy(), "softmax_cross_entropy()"),
    (lambda: softmax_cross_entropy(reduction="sum"), "softmax_cross_entropy(reduction='sum')"),
    (lambda: l2(0.01), "l2(0.01)"),
    (lambda: l2(2), "l2(2.0)"),
]


@pytest.mark.parametrize("build,text", BUILT, ids=[t for _, t in BUILT])
def test_spec_equality_hash_repr_and_json_round_trip(build, text):
    a, b = build(), build()
    assert a == b and hash(a) == hash(b) and not (a != b)
    assert repr(a) == text == a.name
    assert json.loads(json.dumps(a.spec)) is not None
    rebuilt = losses.from_spec(json.loads(json.dumps(a.spec)))
    assert rebuilt == a and hash(rebuilt) == hash(a) and type(rebuilt) is type(a)
    assert len({a, b, rebuilt}) == 1


DIFFERENT = [
    (binary_cross_entropy("mean"), binary_cross_entropy("sum")),
    (softmax_cross_entropy("mean"), softmax_cross_entropy("sum")),
    (softmax_cross_entropy(), binary_cross_entropy()),
    (sse, half_sse),
    (half_sse, mse),
    (l2(0.01), l2(0.02)),
    (l2(0.01), l2(np.float32(0.01))),  # a float32 strength is another number
]


@pytest.mark.parametrize("a,b", DIFFERENT, ids=lambda o: repr(o))
def test_any_differing_argument_is_unequal(a, b):
    assert a != b and not (a == b)
    assert hash(a) != hash(b)  # (not required by hashing, but true for these specs)


def test_regularizer_and_loss_never_equal_and_replace_drops_spec():
    assert l2(0.01) != sse and sse != l2(0.01)
    ce = softmax_cross_entropy()
    renamed = ce._replace(name="mine")
    assert renamed == ce and repr(renamed) == "mine"
    patched = ce._replace(value=lambda p, t: 0.0)
    assert patched.spec is None and patched != ce and patched != softmax_cross_entropy()
    assert patched == patched and hash(patched) == hash(patched)  # identity
    reg = l2(0.1)._replace(grad=lambda p: p)
    assert reg.spec is None and reg != l2(0.1)


def test_user_loss_without_spec_compares_by_identity():
    a = losses.Loss(sse.value, sse.vjp, name="mine")
    b = losses.Loss(sse.value, sse.vjp, name="mine")
    assert a == a and a != b and hash(a) != hash(b)
    assert a != sse  # sse has a spec, a has none


def test_traced_l2_has_no_spec_but_works():
    names = []

    def f(lam):
        reg = l2(lam)
        names.append((reg.spec, repr(reg)))
        return reg.value({"w": jnp.ones((2,))})

    np.testing.assert_allclose(jax.vmap(f)(jnp.array([1.0, 2.0])), [1.0, 2.0])
    assert names == [(None, "l2(<traced>)")]


def test_from_spec_errors_and_register_loss():
    with pytest.raises(ValueError, match="unknown loss or regularizer 'nope'"):
        losses.from_spec(["nope", []])
    with pytest.raises(ValueError, match="expected"):
        losses.from_spec("sse")

    def scaled_sse(c=1.0):
        return losses.Loss(
            sse.value, sse.vjp, name=f"scaled_sse({c})", spec=("scaled_sse", (("c", c),))
        )

    losses.register_loss("scaled_sse", scaled_sse)
    assert losses.from_spec(json.loads(json.dumps(scaled_sse(2.0).spec))) == scaled_sse(2.0)
    with pytest.raises(ValueError, match="already registered"):
        losses.register_loss("scaled_sse", lambda: sse)


@pytest.mark.parametrize(
    "lam,error",
    [
        (-0.1, ValueError),
        (float("nan"), ValueError),
        ("0.1", TypeError),
        (True, TypeError),
        (np.ones(2), TypeError),
        (None, TypeError),
    ],
)
def test_l2_rejects_what_is_not_a_strength(lam, error):
    with pytest.raises(error, match="l2"):
        l2(lam)


# --------------------------------------------------------------------------------------------
# Never silent: impossible values raise when concrete, give NaN under jit
# --------------------------------------------------------------------------------------------

IMPOSSIBLE = [
    (
        "label 5 of 2",
        softmax_cross_entropy(),
        [[0.1, 0.2], [0.3, 0.1]],
        np.array([0, 5]),
        "label 5",
    ),
    (
        "label -1",
        softmax_cross_entropy("sum"),
        [[0.1, 0.2], [0.3, 0.1]],
        np.array([-1, 1]),
        "label -1",
    ),
    ("one-hot of ±1", softmax_cross_entropy(), [[0.1, 0.2]], np.array([[-1.0, 1.0]]), "[0, 1]"),
    ("bce on logits", binary_cross_entropy(), [[2.5], [-1.0]], np.array([[1.0], [0.0]]), "logits"),
    (
        "bce ±1 targets",
        binary_cross_entropy("sum"),
        [[0.2], [0.9]],
        np.array([[-1.0], [1.0]]),
        "±1",
    ),
]


@pytest.mark.parametrize("case", IMPOSSIBLE, ids=[c[0] for c in IMPOSSIBLE])
def test_impossible_values_raise_when_concrete_and_are_nan_under_jit(case):
    _, loss, pred, target, words = case
    pred = jnp.asarray(pred, jnp.float32)
    for call in (loss.value, lambda p, t: loss.vjp(p, t)[0]):
        with pytest.raises(ValueError, match=re.escape(words)) as info:
            call(pred, target)
        assert loss.name in str(info.value)
    value, g = jax.jit(lambda p, t: hand_grad(loss, p, t))(pred, target)
    assert np.isnan(value) and np.isnan(g).any()
    assert np.isnan(jax.jit(loss.value)(pred, target))
    assert np.isnan(jax.jit(jax.grad(loss.value))(pred, target)).any()
    # the host check is what the boundary (fit, check_grads, grad) runs once per call
    with pytest.raises(ValueError, match=re.escape(words)):
        loss.check(pred, np.asarray(target))


def test_valid_values_are_never_nan_under_jit():
    with jax.enable_x64(True):
        z = jnp.asarray([[1e4, -1e4], [0.0, 0.0]])
        for target in (jnp.array([1, 0]), jnp.eye(2)):
            value, g = jax.jit(lambda z, t: hand_grad(softmax_cross_entropy(), z, t))(z, target)
            assert np.isfinite(value) and np.isfinite(g).all()
        p = jnp.asarray([0.0, 1.0, 0.5])
        value, g = jax.jit(lambda p, t: hand_grad(binary_cross_entropy(), p, t))(p, p)
        assert np.isfinite(value) and np.isfinite(g).all()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_single_logit_column_is_an_error_even_under_jit(reduction):
    loss = softmax_cross_entropy(reduction)
    for call in (loss.value, jax.jit(loss.value), lambda z, t: loss.vjp(z, t)[0]):
        with pytest.raises(ValueError, match="single column.*binary_cross_entropy"):
            call(jnp.zeros((4, 1)), jnp.zeros((4,), jnp.int32))


ALL_LOSSES = [sse, half_sse, mse, binary_cross_entropy(), softmax_cross_entropy()]


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=repr)
def test_empty_batch_is_an_error_even_under_jit(loss):
    pred = jnp.zeros((0, 2))
    target = jnp.zeros((0,), jnp.int32) if loss == softmax_cross_entropy() else jnp.zeros((0, 2))
    for call in (loss.value, jax.jit(loss.value)):
        with pytest.raises(ValueError, match="empty batch"):
            call(pred, target)


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=repr)
def test_bool_predictions_are_a_type_error(loss):
    target = jnp.array([0, 1]) if loss == softmax_cross_entropy() else jnp.zeros((2, 2))
    with pytest.raises(TypeError, match="floating"):
        loss.value(jnp.zeros((2, 2), bool), target)


def test_float_labels_and_trailing_axis_get_a_precise_message():
    ce = softmax_cross_entropy()
    with pytest.raises(ValueError, match=r"looks like class labels.*astype"):
        ce.value(jnp.zeros((3, 2)), jnp.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match=r"trailing axis"):
        ce.value(jnp.zeros((3, 2)), jnp.array([[0], [1], [1]]))
    with pytest.raises(TypeError, match="loss.value"):
        softmax_cross_entropy(jnp.zeros((3, 2)))


def test_gradients_keep_pred_dtype_under_a_float64_cotangent():
    with jax.enable_x64(True):
        p = jnp.asarray([[0.2, 0.7]], jnp.float32)
        t = jnp.asarray([[0.0, 1.0]], jnp.float64)
        for loss in (sse, half_sse, mse, binary_cross_entropy(), softmax_cross_entropy()):
            _, backward = loss.vjp(p, t)
            assert backward(jnp.ones((), jnp.float64)).dtype == jnp.float32, loss.name
