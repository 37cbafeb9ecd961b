"""Models are data: specs give equality, hashing, repr, JSON round trips and summaries."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import (
    ELU,
    Dense,
    Dropout,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Step,
    Tanh,
    mlp,
    serial,
)

I = jax.nn.initializers

# (built twice from scratch, so equality can only come from the spec)
BUILT_INS = {
    "Dense": lambda: Dense(3),
    "Dense-nobias": lambda: Dense(4, use_bias=False, w_init=I.he_uniform()),
    "Dense-f64": lambda: Dense(2, dtype=jnp.float64, b_init=I.ones),
    "Sigmoid": Sigmoid,
    "Tanh": Tanh,
    "ReLU": ReLU,
    "LeakyReLU": lambda: LeakyReLU(0.2),
    "ELU": lambda: ELU(0.5),
    "Softplus": Softplus,
    "Softmax": Softmax,
    "Identity": Identity,
    "Step": lambda: Step(0.5),
    "Dropout": lambda: Dropout(0.25),
    "serial": lambda: serial(Dense(3), Tanh(), Dropout(0.1), Dense(2)),
    "mlp": lambda: mlp([2, 3, 2], activation="tanh"),
    "mlp-options": lambda: mlp(
        [2, 5, 4, 3],
        activation=LeakyReLU(0.1),
        output_activation="softmax",
        use_bias=False,
        dropout=0.2,
        w_init=I.normal(0.3),
    ),
}

# Each pair differs in exactly one constructor argument.
DIFFERENT = {
    "Dense features": (lambda: Dense(3), lambda: Dense(4)),
    "Dense use_bias": (lambda: Dense(3), lambda: Dense(3, use_bias=False)),
    "Dense w_init name": (lambda: Dense(3), lambda: Dense(3, w_init=I.he_uniform())),
    "Dense w_init arg": (
        lambda: Dense(3, w_init=I.normal(0.1)),
        lambda: Dense(3, w_init=I.normal(0.2)),
    ),
    "Dense b_init": (lambda: Dense(3), lambda: Dense(3, b_init=I.ones)),
    "Dense dtype": (lambda: Dense(3), lambda: Dense(3, dtype=jnp.float64)),
    "LeakyReLU alpha": (lambda: LeakyReLU(0.1), lambda: LeakyReLU(0.2)),
    "ELU alpha": (lambda: ELU(1.0), lambda: ELU(0.5)),
    "Step threshold": (lambda: Step(0.0), lambda: Step(0.5)),
    "Dropout rate": (lambda: Dropout(0.1), lambda: Dropout(0.2)),
    "serial order": (lambda: serial(Dense(3), Tanh()), lambda: serial(Tanh(), Dense(3))),
    "serial length": (lambda: serial(Dense(3)), lambda: serial(Dense(3), Dense(3))),
    "activation kinds": (Sigmoid, Tanh),
    "mlp sizes": (lambda: mlp([2, 3, 2]), lambda: mlp([2, 4, 2])),
    "mlp activation": (lambda: mlp([2, 3, 2]), lambda: mlp([2, 3, 2], activation="tanh")),
    "mlp activation layer": (
        lambda: mlp([2, 3, 2], activation=LeakyReLU(0.1)),
        lambda: mlp([2, 3, 2], activation=LeakyReLU(0.3)),
    ),
    "mlp output_activation": (
        lambda: mlp([2, 3, 2]),
        lambda: mlp([2, 3, 2], output_activation="softmax"),
    ),
    "mlp use_bias": (lambda: mlp([2, 3, 2]), lambda: mlp([2, 3, 2], use_bias=False)),
    "mlp dropout": (lambda: mlp([2, 3, 2]), lambda: mlp([2, 3, 2], dropout=0.5)),
    "mlp w_init": (lambda: mlp([2, 3, 2]), lambda: mlp([2, 3, 2], w_init=I.lecun_normal())),
    "mlp dtype": (lambda: mlp([2, 3, 2]), lambda: mlp([2, 3, 2], dtype=jnp.float64)),
}


@pytest.mark.parametrize("name", BUILT_INS)
def test_fresh_identical_layers_are_equal_and_hash_equal(name):
    a, b = BUILT_INS[name](), BUILT_INS[name]()
    assert a is not b
    assert a == b and not (a != b)
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


@pytest.mark.parametrize("name", DIFFERENT)
def test_any_differing_argument_makes_layers_unequal(name):
    make_a, make_b = DIFFERENT[name]
    a, b = make_a(), make_b()
    assert a != b and not (a == b)
    assert a.spec != b.spec


@pytest.mark.parametrize("name", BUILT_INS)
def test_json_round_trip_rebuilds_the_same_math(name):
    layer = BUILT_INS[name]()
    text = json.dumps(layer.spec)
    rebuilt = jaxnn.from_spec(json.loads(text))
    assert rebuilt == layer and hash(rebuilt) == hash(layer)
    x = jax.random.normal(jax.random.key(1), (4, 2))
    _, params = layer.init(jax.random.key(0), (2,))
    np.testing.assert_array_equal(rebuilt.apply(params, x), layer.apply(params, x))


@pytest.mark.parametrize("name", BUILT_INS)
def test_repr_is_the_call_not_function_addresses(name):
    text = repr(BUILT_INS[name]())
    assert "function" not in text and "0x" not in text and "<" not in text
    assert len(text) < 200


def test_repr_examples():
    assert repr(mlp([2, 3, 2], activation="tanh")) == "mlp([2, 3, 2], activation='tanh')"
    assert repr(Dense(3)) == "Dense(3)"
    assert repr(Dense(3, use_bias=False)) == "Dense(3, use_bias=False)"
    assert repr(Dropout(0.5)) == "Dropout(0.5)"
    assert repr(serial(Dense(3), Sigmoid())) == "serial(Dense(3), Sigmoid())"


def test_custom_initializer_has_no_spec_and_compares_by_identity():
    def my_init(key, shape, dtype):
        return jnp.full(shape, 0.5, dtype)

    a, b = Dense(3, w_init=my_init), Dense(3, w_init=my_init)
    assert a.spec is None and a != b and a == a
    assert mlp([2, 3, 1], w_init=my_init).spec is None
    assert "no spec" in repr(a)


def test_replace_drops_the_spec_except_for_name():
    layer = Dense(3)
    patched = layer._replace(apply=lambda p, x: x)
    assert patched.spec is None and patched != layer
    renamed = layer._replace(name="first")
    assert renamed == layer and renamed.name == "first"


def test_closure_layers_keep_identity_semantics():
    bare = jaxnn.Layer(lambda k, s: (s, ()), lambda p, x: x, lambda p, x: (x, lambda d: ((), d)))
    twin = jaxnn.Layer(*bare[:3])
    assert bare == bare and bare != twin and hash(bare) != hash(twin)


def _scale_layer(c: float = 2.0):
    def init(key, shape):
        return shape, ()

    def apply(params, x):
        return c * x

    def vjp(params, x):
        return c * x, lambda dy: ((), c * dy)

    return jaxnn.Layer(init, apply, vjp, name=f"Scale({c})")


def test_register_layer_lets_user_layers_join():
    Scale = jaxnn.register_layer("TestScale", _scale_layer)
    assert Scale(3.0) == Scale(3.0) and Scale(3.0) != Scale(2.0)
    model = serial(Dense(2), Scale(3.0))
    rebuilt = jaxnn.from_spec(json.loads(json.dumps(model.spec)))
    assert rebuilt == model
    assert repr(Scale(3.0)) == "TestScale(c=3.0)"

    @jaxnn.register_layer("TestScaleDecorated")
    def Decorated(c: float = 2.0):
        return _scale_layer(c)

    assert Decorated(1.5).spec is not None and Decorated(1.5) == Decorated(1.5)


def test_unregistered_spec_names_the_fix():
    spec = ("@layer", "NoSuchLayer", (), ())
    with pytest.raises(ValueError, match="register_layer"):
        jaxnn.from_spec(spec)
    with pytest.raises(ValueError, match="not a layer spec"):
        jaxnn.from_spec(["Dense", 3])


def test_summary_of_the_moons_net():
    text = jaxnn.summary(mlp([2, 20, 20, 2]), (2,))
    assert "total params: 522" in text
    for expected in ("w (2, 20)", "b (20,)", "w (20, 20)", "w (20, 2)", "b (2,)", "Sigmoid()"):
        assert expected in text
    rows = [line for line in text.splitlines() if line[:1].isdigit()]
    assert [row.split()[-1] for row in rows] == ["60", "0", "420", "0", "42"]


def test_summary_rejects_non_layers():
    with pytest.raises(TypeError, match="Layer"):
        jaxnn.summary(mlp, (2,))
    with pytest.raises(TypeError, match="input_shape"):
        jaxnn.summary(mlp([2, 3]), 2)
