"""Layers: pairs of pure functions with a hand-written backward rule beside the forward math.

A `Layer` is `(init, apply, vjp)`:

* ``init(key, input_shape) -> (output_shape, params)`` where ``input_shape`` is the shape of
  ONE example, e.g. ``(2,)``.
* ``apply(params, x) -> y`` where ``x`` has any number of leading batch dims (none included).
* ``vjp(params, x) -> (y, backward)`` with ``backward(dy) -> (dparams, dx)``; ``dparams`` has
  the structure of ``params`` and batch dims are summed into it.

Every built-in layer writes its backward rule by hand, next to its forward math, in the form the
tutorials derive it (``y*(1-y)``, ``1-y**2``, ...). `jaxnn.check_grads` proves each against
``jax.grad``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

Params = Any
Shape = tuple[int, ...]

# Glorot (Xavier) normal: keeps sigmoid/tanh pre-activations in their sensitive range.
default_w_init = jax.nn.initializers.glorot_normal()


class Layer(NamedTuple):
    """A layer as pure functions. Only the first three fields are required.

    Attributes:
      init: ``init(key, input_shape) -> (output_shape, params)``.
      apply: ``apply(params, x) -> y``.
      vjp: ``vjp(params, x) -> (y, backward)``; ``backward(dy) -> (dparams, dx)``.
      name: used in error messages and gradient reports.
      surrogate: ``None`` when ``vjp`` is the true derivative of ``apply``; otherwise a short
        reason why it deliberately is not (e.g. ``"straight-through by design"``). The gradient
        checker reports such layers instead of failing them.
      kinks: optional ``kinks(params, x) -> {label: count}`` naming inputs that sit exactly on a
        point where ``apply`` has no derivative (a ReLU input at 0). Finite differences are not
        trusted there, and the checker says so.
      sublayers: for combinators, the layers inside (``serial`` sets it), so the checker can
        tell which params sit upstream of a surrogate and which do not.
    """

    init: Callable[[jax.Array, Shape], tuple[Shape, Params]]
    apply: Callable[[Params, jax.Array], jax.Array]
    vjp: Callable[[Params, jax.Array], tuple[jax.Array, Callable]]
    name: str = "Layer"
    surrogate: str | None = None
    kinks: Callable[[Params, jax.Array], dict] | None = None
    sublayers: tuple[Layer, ...] = ()


def is_weight_path(path) -> bool:
    """True for a params leaf stored under the key ``"w"`` (a Dense kernel, not a bias)."""
    last = path[-1] if path else None
    return isinstance(last, jax.tree_util.DictKey) and last.key == "w"


def _batch_axes(x: jax.Array) -> tuple[int, ...]:
    """All axes but the last: the leading batch dims (none for a single example)."""
    return tuple(range(x.ndim - 1))


def _as_float(x, dtype, layer: str) -> jax.Array:
    """Cast ints and bools to the params' float dtype on purpose; reject everything else odd."""
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == jnp.bool_:
        return x.astype(dtype)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{layer}: expected a real floating or integer input, got dtype {x.dtype}")
    return x


# --------------------------------------------------------------------------------------------
# Dense
# --------------------------------------------------------------------------------------------


def Dense(
    features: int,
    *,
    use_bias: bool = True,
    w_init: Callable = default_w_init,
    b_init: Callable = jax.nn.initializers.zeros,
    dtype=jnp.float32,
) -> Layer:
    """Affine map ``y = x @ w + b``; params ``{"w": (in, features), "b": (features,)}``.

    Integer or bool inputs are cast to the params' dtype (truth tables are usually ints).
    """
    if not isinstance(features, int | np.integer) or features < 1:
        raise ValueError(f"Dense: features must be a positive int, got {features!r}")
    name = f"Dense({features})"

    def init(key, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"{name}: input_shape must have a feature axis, got {input_shape}")
        w_key, b_key = jax.random.split(key)
        params = {"w": w_init(w_key, (input_shape[-1], features), dtype)}
        if use_bias:
            params["b"] = b_init(b_key, (features,), dtype)
        return (*input_shape[:-1], features), params

    def check(params, x):
        x = _as_float(x, params["w"].dtype, name)
        n_in = params["w"].shape[0]
        if x.ndim < 1 or x.shape[-1] != n_in:
            raise ValueError(
                f"{name}: expected input of shape (..., {n_in}), got shape {tuple(x.shape)}"
            )
        return x

    def apply(params, x):
        x = check(params, x)
        y = x @ params["w"]
        return y + params["b"] if use_bias else y

    def vjp(params, x):
        x = check(params, x)
        y = apply(params, x)

        def backward(dy):
            # dL/dw = sum over examples of the outer product x ⊗ dy; with no batch dims the
            # tensordot over zero axes *is* that outer product.
            axes = _batch_axes(x)
            dparams = {"w": jnp.tensordot(x, dy, axes=(axes, axes))}
            if use_bias:
                dparams["b"] = jnp.sum(dy, axis=axes)
            dx = dy @ params["w"].T
            return dparams, dx

        return y, backward

    return Layer(init, apply, vjp, name=name)


# --------------------------------------------------------------------------------------------
# Elementwise activations: each is y = f(x), dx = dy * f'(x) with f' written from y when the
# tutorials do so.
# --------------------------------------------------------------------------------------------


def _elementwise(name, forward, derivative, *, surrogate=None, kinks=None) -> Layer:
    """Build a param-free layer from ``forward(x)`` and ``derivative(x, y) -> f'(x)``."""

    def init(key, input_shape):
        return tuple(input_shape), ()

    def apply(params, x):
        return forward(_as_float(x, jnp.float32, name))

    def vjp(params, x):
        x = _as_float(x, jnp.float32, name)
        y = forward(x)
        return y, lambda dy: ((), dy * derivative(x, y))

    return Layer(init, apply, vjp, name=name, surrogate=surrogate, kinks=kinks)


def Sigmoid() -> Layer:
    """Logistic sigmoid; its derivative from the output, as in the tutorials: ``y * (1 - y)``."""
    return _elementwise("Sigmoid", jax.nn.sigmoid, lambda x, y: y * (1 - y))


def Tanh() -> Layer:
    """Hyperbolic tangent (FANN's symmetric sigmoid); derivative ``1 - y**2``."""
    return _elementwise("Tanh", jnp.tanh, lambda x, y: 1 - y**2)


def ReLU() -> Layer:
    """``max(x, 0)``; derivative 1 where ``x > 0``, else 0 (0 at the kink, as ``jax.nn.relu``)."""
    return _elementwise(
        "ReLU",
        jax.nn.relu,
        lambda x, y: (x > 0).astype(y.dtype),
        kinks=lambda params, x: {"ReLU input exactly 0": jnp.sum(jnp.asarray(x) == 0)},
    )


def Identity() -> Layer:
    """``y = x``; passes the cotangent through unchanged."""
    return _elementwise("Identity", lambda x: x, lambda x, y: jnp.ones_like(y))


def Step(threshold: float = 0.0) -> Layer:
    """The perceptron's unit step: 1 where ``x > threshold``, else 0.

    The step has zero derivative almost everywhere, so its true gradient teaches nothing. Its
    ``vjp`` is the *straight-through* rule ``dx = dy``: with ``half_sse`` the gradient on the
    weights becomes ``xᵀ·(y - t)``, so one gradient-descent step with learning rate ``lr`` is
    exactly the perceptron learning rule ``w += lr * (t - y) * x``. The layer marks itself with
    ``surrogate`` so `check_grads` reports it as straight-through by design.
    """
    return _elementwise(
        f"Step({threshold})",
        lambda x: (x > threshold).astype(x.dtype),
        lambda x, y: jnp.ones_like(y),
        surrogate="straight-through by design (perceptron rule)",
    )


# --------------------------------------------------------------------------------------------
# Softmax: not elementwise, so its backward is a Jacobian-vector product.
# --------------------------------------------------------------------------------------------


def Softmax() -> Layer:
    """Softmax over the last axis. Backward: ``dx = y * (dy - Σ y·dy)`` (no Jacobian built)."""
    name = "Softmax"

    def init(key, input_shape):
        return tuple(input_shape), ()

    def apply(params, x):
        x = _as_float(x, jnp.float32, name)
        if x.ndim < 1:
            raise ValueError(f"{name}: expected input with a class axis, got shape {x.shape}")
        return jax.nn.softmax(x, axis=-1)

    def vjp(params, x):
        y = apply(params, x)

        def backward(dy):
            return (), y * (dy - jnp.sum(y * dy, axis=-1, keepdims=True))

        return y, backward

    return Layer(init, apply, vjp, name=name)


# --------------------------------------------------------------------------------------------
# Combinators
# --------------------------------------------------------------------------------------------


def serial(*layers: Layer) -> Layer:
    """Compose layers left to right; params are the tuple of each layer's params, in order.

    Backward runs the layers' ``backward`` functions in reverse, the chain rule written out.
    """
    if not layers or not all(isinstance(layer, Layer) for layer in layers):
        raise TypeError("serial: expected one or more Layer arguments")

    def init(key, input_shape):
        params = []
        for layer, layer_key in zip(layers, jax.random.split(key, len(layers)), strict=True):
            input_shape, p = layer.init(layer_key, input_shape)
            params.append(p)
        return input_shape, tuple(params)

    def _check(params):
        if not isinstance(params, tuple | list) or len(params) != len(layers):
            got = (
                f"{type(params).__name__} of length {len(params)}"
                if hasattr(params, "__len__")
                else type(params).__name__
            )
            raise ValueError(
                f"serial of {len(layers)} layers: expected a tuple of {len(layers)} params, "
                f"got {got}"
            )

    def apply(params, x):
        _check(params)
        for layer, p in zip(layers, params, strict=True):
            x = layer.apply(p, x)
        return x

    def vjp(params, x):
        _check(params)
        backwards = []
        for layer, p in zip(layers, params, strict=True):
            x, backward = layer.vjp(p, x)
            backwards.append(backward)

        def backward(dy):
            dparams = []
            for back in reversed(backwards):
                dp, dy = back(dy)
                dparams.append(dp)
            return tuple(reversed(dparams)), dy

        return x, backward

    def kinks(params, x):
        found = {}
        for i, (layer, p) in enumerate(zip(layers, params, strict=True)):
            if layer.kinks is not None:
                found.update({f"[{i}] {k}": v for k, v in layer.kinks(p, x).items()})
            x = layer.apply(p, x)
        return found

    surrogates = [f"[{i}] {layer.name}" for i, layer in enumerate(layers) if layer.surrogate]
    surrogate = "straight-through by design at " + ", ".join(surrogates) if surrogates else None
    name = "serial(" + ", ".join(layer.name for layer in layers) + ")"
    return Layer(init, apply, vjp, name, surrogate, kinks, sublayers=tuple(layers))


ACTIVATIONS: dict[str, Callable[[], Layer]] = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "softmax": Softmax,
    "identity": Identity,
    "step": Step,
}


def _activation(spec: str | Layer | None) -> Layer | None:
    if spec is None or isinstance(spec, Layer):
        return spec
    try:
        return ACTIVATIONS[spec]()
    except KeyError:
        raise ValueError(
            f"mlp: unknown activation {spec!r}; expected one of {sorted(ACTIVATIONS)} or a Layer"
        ) from None


def mlp(
    sizes: Sequence[int],
    *,
    activation: str | Layer = "sigmoid",
    output_activation: str | Layer | None = None,
    use_bias: bool = True,
    w_init: Callable = default_w_init,
    dtype=jnp.float32,
) -> Layer:
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]``.

    ``mlp([2, 3, 2], activation="tanh")`` is ``serial(Dense(3), Tanh(), Dense(2))``: the output
    is logits unless ``output_activation`` is given. ``sizes[0]`` is the input width; it is
    checked when the model is initialised.
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"mlp: need at least input and output sizes, got {sizes}")
    hidden = _activation(activation)
    out = _activation(output_activation)
    layers: list[Layer] = []
    for i, width in enumerate(sizes[1:]):
        layers.append(Dense(width, use_bias=use_bias, w_init=w_init, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(hidden)
    if out is not None:
        layers.append(out)
    model = serial(*layers)
    n_in = sizes[0]

    def init(key, input_shape):
        if tuple(input_shape)[-1:] != (n_in,):
            raise ValueError(f"mlp{sizes}: expected input_shape (..., {n_in}), got {input_shape}")
        return model.init(key, input_shape)

    return model._replace(init=init, name=f"mlp({sizes})")
