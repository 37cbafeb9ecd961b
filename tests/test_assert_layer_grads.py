"""assert_layer_grads probes what bugs hide behind (no batch dim, a batch of one, saturation,
inputs exactly on kinks) and raises with the GradReport attached; correct layers pass."""

import jax
import jax.numpy as jnp
import planted
import pytest

from jaxnn import Dense, Dropout, Layer, LeakyReLU, ReLU, Sigmoid
from jaxnn.testing import assert_layer_grads


def _user_leaky() -> Layer:
    def init(key, shape):
        return tuple(shape), ()

    def apply(params, x):
        return jnp.where(x > 0, x, 0.1 * x)

    def vjp(params, x):
        return apply(params, x), lambda dy: ((), dy * jnp.where(x > 0, 1.0, 0.1))

    return Layer(init, apply, vjp, name="UserLeaky")


@pytest.mark.parametrize(
    "make,shape",
    [
        (ReLU, (4,)),
        (lambda: LeakyReLU(0.1), (4,)),
        (_user_leaky, (4,)),
        (lambda: Dropout(0.5), (4,)),
    ],
    ids=["ReLU", "LeakyReLU", "user-leaky-no-kink-declaration", "Dropout"],
)
def test_correct_layers_pass_every_probe(make, shape):
    report = assert_layer_grads(make(), shape, batch_shape=(5,))
    assert report.ok and report.dtype == "float64"


def _squeezing_dense() -> Layer:
    """Dense whose backward squeezes dy: right for batches > 1, wrong for a batch of one."""

    def fix(p, dx, x, dy, params):
        return p, jnp.squeeze(dy) @ params["w"].T

    return planted.dense_with(4, "SqueezingDense", fix)


def _bias_axis0_dense() -> Layer:
    def fix(p, dx, x, dy, params):
        return {**p, "b": jnp.sum(dy, axis=0)}, dx

    return planted.dense_with(4, "DenseDbAxis0", fix)


# (layer, input shape, the probe that must catch it, failing leaves)
PLANTED = {
    "relu-ge-at-0": (planted.relu_ge, (4,), "inputs exactly on kinks", {"input"}),
    "bias-axis-0": (_bias_axis0_dense, (3,), "a single example, no batch dim", {"b"}),
    "squeeze-batch-of-one": (_squeezing_dense, (3,), "a batch of one", {"input"}),
    "saturation-only": (planted.sigmoid_zero_in_tails, (4,), "saturated inputs", {"input"}),
    "dropout-no-scale": (
        lambda: planted.dropout_without_scale(0.5),
        (4,),
        "fixed dropout key",
        {"input"},
    ),
    "dropout-fresh-mask": (
        lambda: planted.dropout_fresh_mask(0.5),
        (4,),
        "fixed dropout key",
        {"input"},
    ),
}


@pytest.mark.parametrize("case", list(PLANTED))
def test_planted_layer_bug_is_caught_by_the_right_probe(case):
    make, shape, probe, wrong = PLANTED[case]
    layer = make()
    with pytest.raises(AssertionError) as info:
        assert_layer_grads(layer, shape, batch_shape=(5,))
    message = str(info.value)
    assert layer.name in message and probe in message
    report = info.value.report
    assert not report.ok
    assert {row.path for row in report.failures} == wrong
    assert all(row.hint for row in report.failures)


def test_backward_returning_only_dx_names_the_fix():
    base = Sigmoid()

    def vjp(params, x):
        y = base.apply(params, x)
        return y, lambda dy: dy * y * (1 - y)

    with pytest.raises(TypeError, match=r"\(dparams, dx\).*return \(\), dy"):
        assert_layer_grads(base._replace(vjp=vjp, name="MySigmoid"), (4,))


def test_non_layer_is_a_type_error():
    with pytest.raises(TypeError, match="call it"):
        assert_layer_grads(Dense, (3,))


def test_a_key_gives_reproducible_probes():
    a = assert_layer_grads(Dense(4), (3,), key=jax.random.key(3), batch_shape=(5,))
    b = assert_layer_grads(Dense(4), (3,), key=jax.random.key(3), batch_shape=(5,))
    assert [r.manual_fd for r in a.rows] == [r.manual_fd for r in b.rows]
