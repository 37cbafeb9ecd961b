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

from jaxnn.paramcheck import (
    ParamsError,
    backward_pair,
    check_input_shape,
    check_key,
    check_keys,
    check_leaf,
    check_no_params,
)
from jaxnn.spec import describe, format_spec

Params = Any
Shape = tuple[int, ...]

# Glorot (Xavier) normal: keeps sigmoid/tanh pre-activations in their sensitive range.
default_w_init = jax.nn.initializers.glorot_normal()


class Layer(NamedTuple):
    """A layer as pure functions. Only the first three fields are required.

    Attributes:
      init: ``init(key, input_shape) -> (output_shape, params)``.
      apply: ``apply(params, x) -> y`` (``apply(params, x, *, key=None)`` when stochastic).
      vjp: ``vjp(params, x) -> (y, backward)``; ``backward(dy) -> (dparams, dx)``
        (``vjp(params, x, *, key=None)`` when stochastic).
      name: used in error messages and gradient reports.
      surrogate: ``None`` when ``vjp`` is the true derivative of ``apply``; otherwise this
        layer's own reason why it deliberately is not (e.g. ``"straight-through by design"``).
        The gradient checker reports such layers instead of failing them.
      kinks: optional ``kinks(params, x) -> bool array shaped like x``: True where an input sits
        exactly on a point where ``apply`` has no derivative (a ReLU input at 0). Finite
        differences are not trusted there. Combinators do not aggregate it: the checker walks
        ``sublayers``.
      sublayers: for combinators, the layers inside (``serial`` sets it; sublayer ``i`` gets
        ``params[i]``).
      spec: the call that built the layer as hashable, JSON-able data (see `jaxnn.spec`), or
        ``None``. Layers with a spec compare and hash by it; without, by identity.
      stochastic: True when ``apply``/``vjp`` draw random numbers and take ``key=``
        (``key=None`` is evaluation mode).
    """

    init: Callable[[jax.Array, Shape], tuple[Shape, Params]]
    apply: Callable[..., jax.Array]
    vjp: Callable[..., tuple[jax.Array, Callable]]
    name: str = "Layer"
    surrogate: str | None = None
    kinks: Callable[[Params, jax.Array], jax.Array] | None = None
    sublayers: tuple[Layer, ...] = ()
    spec: tuple | None = None
    stochastic: bool = False

    def __eq__(self, other):
        if not isinstance(other, Layer):
            return NotImplemented
        if self.spec is None or other.spec is None:
            return self is other
        return self.spec == other.spec

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self):
        return hash(("Layer", self.spec)) if self.spec is not None else object.__hash__(self)

    def __repr__(self):
        if self.spec is not None:
            return format_spec(self.spec)
        return f"<Layer {self.name} (no spec)>"


_namedtuple_replace = Layer._replace


def _replace_dropping_spec(self, **changes):
    """``_replace`` that forgets the spec unless only the name changes: a patched layer is
    other math than its spec says (NamedTuple forbids defining this in the class body)."""
    if set(changes) - {"name", "spec"}:
        changes.setdefault("spec", None)
    return _namedtuple_replace(self, **changes)


Layer._replace = _replace_dropping_spec


def apply_layer(layer: Layer, params, x, key=None):
    """``layer.apply``, handing ``key`` only to a stochastic layer."""
    return layer.apply(params, x, key=key) if layer.stochastic else layer.apply(params, x)


def vjp_layer(layer: Layer, params, x, key=None):
    """``layer.vjp``, handing ``key`` only to a stochastic layer."""
    return layer.vjp(params, x, key=key) if layer.stochastic else layer.vjp(params, x)


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


def _init_checked(name: str, init):
    """Wrap ``init`` so a bad key or input shape is a clear error, not a raw JAX one."""

    def checked(key, input_shape):
        from jaxnn.paramcheck import check_key

        check_key(f"{name}.init", key)
        return init(key, check_input_shape(name, input_shape))

    return checked


# --------------------------------------------------------------------------------------------
# Dense
# --------------------------------------------------------------------------------------------


@describe("Dense")
def Dense(
    features: int,
    *,
    use_bias: bool = True,
    w_init: Callable = default_w_init,
    b_init: Callable = jax.nn.initializers.zeros,
    dtype="float32",
) -> Layer:
    """Affine map ``y = x @ w + b``; params ``{"w": (in, features), "b": (features,)}``.

    Integer or bool inputs are cast to the params' dtype (truth tables are usually ints).
    """
    if isinstance(features, bool) or not isinstance(features, int | np.integer) or features < 1:
        raise ValueError(f"Dense: features must be a positive int, got {features!r}")
    features, dtype = int(features), jnp.dtype(dtype)
    name = f"Dense({features})"
    keys = ("w", "b") if use_bias else ("w",)

    def init(key, input_shape):
        if len(input_shape) < 1:
            raise ValueError(f"{name}: input_shape must have a feature axis, got {input_shape}")
        w_key, b_key = jax.random.split(key)
        params = {"w": w_init(w_key, (input_shape[-1], features), dtype)}
        if use_bias:
            params["b"] = b_init(b_key, (features,), dtype)
        return (*input_shape[:-1], features), params

    def check(params, x):
        """The params this layer's init would make for ``x``, and ``x`` as a float array."""
        check_keys(name, params, keys)
        w = params["w"]
        check_leaf(name, ".w", w, None)
        if w.ndim != 2:
            raise ParamsError(name, ".w", f"a 2-D (in, {features}) array", f"shape {w.shape}")
        x = _as_float(x, w.dtype, name)
        if x.ndim < 1:
            raise ValueError(f"{name}: expected input of shape (..., in), got a scalar")
        if w.shape[1] != features:
            raise ParamsError(name, ".w", f"shape {(x.shape[-1], features)}", f"shape {w.shape}")
        if x.shape[-1] != w.shape[0]:
            # A ParamsError, so that inside serial/mlp (where the input width is fixed by the
            # layers before) it names the leaf path, e.g. [2].w; it still states both shapes.
            raise ParamsError(
                name,
                ".w",
                f"shape {(x.shape[-1], features)} for an input of shape {tuple(x.shape)}",
                f"shape {tuple(w.shape)}, which takes input (..., {w.shape[0]})",
            )
        if use_bias:
            check_leaf(name, ".b", params["b"], (features,))
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
            # tensordot over zero axes *is* that outer product. Grads keep the params' dtypes.
            axes = _batch_axes(x)
            dparams = {"w": jnp.tensordot(x, dy, axes=(axes, axes)).astype(params["w"].dtype)}
            if use_bias:
                dparams["b"] = jnp.sum(dy, axis=axes).astype(params["b"].dtype)
            dx = (dy @ params["w"].T).astype(x.dtype)
            return dparams, dx

        return y, backward

    return Layer(_init_checked(name, init), apply, vjp, name=name)


# --------------------------------------------------------------------------------------------
# Elementwise activations: each is y = f(x), dx = dy * f'(x) with f' written from y when the
# tutorials do so.
# --------------------------------------------------------------------------------------------


def _elementwise(name, forward, derivative, *, surrogate=None, kinks=None) -> Layer:
    """Build a param-free layer from ``forward(x)`` and ``derivative(x, y) -> f'(x)``."""

    def init(key, input_shape):
        return tuple(input_shape), ()

    def apply(params, x):
        check_no_params(name, params)
        return forward(_as_float(x, jnp.float32, name))

    def vjp(params, x):
        check_no_params(name, params)
        x = _as_float(x, jnp.float32, name)
        y = forward(x)
        return y, lambda dy: ((), (dy * derivative(x, y)).astype(x.dtype))

    def kinks_at(params, x):
        return kinks(_as_float(x, jnp.float32, name))

    return Layer(
        _init_checked(name, init),
        apply,
        vjp,
        name=name,
        surrogate=surrogate,
        kinks=None if kinks is None else kinks_at,
    )


def _at_zero(x):
    return x == 0


@describe("Sigmoid")
def Sigmoid() -> Layer:
    """Logistic sigmoid; its derivative from the output, as in the tutorials: ``y * (1 - y)``."""
    return _elementwise("Sigmoid", jax.nn.sigmoid, lambda x, y: y * (1 - y))


@describe("Tanh")
def Tanh() -> Layer:
    """Hyperbolic tangent (FANN's symmetric sigmoid); derivative ``1 - y**2``."""
    return _elementwise("Tanh", jnp.tanh, lambda x, y: 1 - y**2)


@describe("ReLU")
def ReLU() -> Layer:
    """``max(x, 0)``; derivative 1 where ``x > 0``, else 0 (0 at the kink, as ``jax.nn.relu``)."""
    return _elementwise("ReLU", jax.nn.relu, lambda x, y: (x > 0).astype(y.dtype), kinks=_at_zero)


def _check_alpha(name: str, alpha) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.number):
        raise TypeError(f"{name}: alpha must be a number, got {alpha!r}")
    if not np.isfinite(alpha):
        raise ValueError(f"{name}: alpha must be finite, got {alpha!r}")
    return float(alpha)


@describe("LeakyReLU")
def LeakyReLU(alpha: float = 0.01) -> Layer:
    """``x`` where ``x > 0``, else ``alpha * x``; derivative 1 there, ``alpha`` elsewhere."""
    alpha = _check_alpha("LeakyReLU", alpha)
    return _elementwise(
        f"LeakyReLU({alpha})",
        lambda x: jnp.where(x > 0, x, alpha * x),
        lambda x, y: jnp.where(x > 0, 1.0, alpha).astype(y.dtype),
        kinks=None if alpha == 1 else _at_zero,
    )


@describe("ELU")
def ELU(alpha: float = 1.0) -> Layer:
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``; derivative 1, else ``y + alpha``.

    The exponential only ever sees ``x <= 0`` (never overflows, so no ``0 * inf`` in the
    unused branch's gradient).
    """
    alpha = _check_alpha("ELU", alpha)

    def forward(x):
        negative = jnp.where(x > 0, 0.0, x).astype(x.dtype)
        return jnp.where(x > 0, x, alpha * jnp.expm1(negative))

    return _elementwise(
        f"ELU({alpha})",
        forward,
        lambda x, y: jnp.where(x > 0, 1.0, y + alpha).astype(y.dtype),
        kinks=None if alpha == 1 else _at_zero,
    )


@describe("Softplus")
def Softplus() -> Layer:
    """``log(1 + exp(x))``, stable for any ``x`` (``logaddexp(x, 0)``); derivative ``σ(x)``."""
    return _elementwise(
        "Softplus", lambda x: jnp.logaddexp(x, 0.0).astype(x.dtype), lambda x, y: jax.nn.sigmoid(x)
    )


@describe("Identity")
def Identity() -> Layer:
    """``y = x``; passes the cotangent through unchanged."""
    return _elementwise("Identity", lambda x: x, lambda x, y: jnp.ones_like(y))


@describe("Step")
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


@describe("Softmax")
def Softmax() -> Layer:
    """Softmax over the last axis. Backward: ``dx = y * (dy - Σ y·dy)`` (no Jacobian built)."""
    name = "Softmax"

    def init(key, input_shape):
        return tuple(input_shape), ()

    def apply(params, x):
        check_no_params(name, params)
        x = _as_float(x, jnp.float32, name)
        if x.ndim < 1:
            raise ValueError(f"{name}: expected input with a class axis, got shape {x.shape}")
        return jax.nn.softmax(x, axis=-1)

    def vjp(params, x):
        y = apply(params, x)

        def backward(dy):
            return (), y * (dy - jnp.sum(y * dy, axis=-1, keepdims=True))

        return y, backward

    return Layer(_init_checked(name, init), apply, vjp, name=name)


# --------------------------------------------------------------------------------------------
# Dropout: the one layer that draws random numbers.
# --------------------------------------------------------------------------------------------


@describe("Dropout")
def Dropout(rate: float) -> Layer:
    """Drop each unit with probability ``rate`` in training; scale the kept ones by ``1/(1-rate)``.

    ``rate`` is the probability of DROPPING (PyTorch/Flax/Equinox convention). With
    ``key=None`` (evaluation) the layer is the identity. The mask is drawn from float32
    uniforms whatever the input dtype, so a float64 check sees the same mask; the backward
    reuses it: ``dx = dy * mask / (1 - rate)``.
    """
    if isinstance(rate, bool) or not isinstance(rate, int | float | np.number):
        raise TypeError(f"Dropout: rate must be a number in [0, 1), got {rate!r}")
    if not 0 <= rate < 1:
        raise ValueError(f"Dropout: rate is the drop probability, in [0, 1); got {rate!r}")
    rate = float(rate)
    name = f"Dropout({rate})"

    def init(key, input_shape):
        return tuple(input_shape), ()

    def scale(key, x):
        """``mask / (1 - rate)``: 0 for dropped units, ``1/(1-rate)`` for kept ones."""
        if key is None or rate == 0:
            return None
        check_key(name, key)  # an int seed where a key belongs: say so, not JAX's key internals
        keep = jax.random.uniform(key, x.shape, jnp.float32) >= rate
        return keep.astype(x.dtype) / jnp.asarray(1 - rate, x.dtype)

    def apply(params, x, *, key=None):
        check_no_params(name, params)
        x = _as_float(x, jnp.float32, name)
        s = scale(key, x)
        return x if s is None else x * s

    def vjp(params, x, *, key=None):
        check_no_params(name, params)
        x = _as_float(x, jnp.float32, name)
        s = scale(key, x)
        if s is None:
            return x, lambda dy: ((), dy)
        return x * s, lambda dy: ((), (dy * s).astype(x.dtype))

    return Layer(_init_checked(name, init), apply, vjp, name=name, stochastic=True)


# --------------------------------------------------------------------------------------------
# Combinators
# --------------------------------------------------------------------------------------------


def _serial_layer(layers: tuple[Layer, ...], name: str) -> Layer:
    """The composition of ``layers``; ``name`` is how errors and reports refer to it."""
    stochastic = any(layer.stochastic for layer in layers)

    def init(key, input_shape):
        params = []
        for layer, layer_key in zip(layers, jax.random.split(key, len(layers)), strict=True):
            input_shape, p = layer.init(layer_key, input_shape)
            params.append(p)
        return input_shape, tuple(params)

    def check(params):
        if not isinstance(params, tuple | list) or len(params) != len(layers):
            from jaxnn.paramcheck import describe_tree

            raise ParamsError(name, "", f"a tuple of {len(layers)} params", describe_tree(params))

    def sub_key(key, i):
        if key is None:
            return None
        check_key(name, key)  # before fold_in, whose error on an int seed names no layer
        return jax.random.fold_in(key, i)

    def forward(params, x, key, run):
        """Run ``run(layer, p, x, key)`` through the layers, naming the layer a check fails in."""
        check(params)
        outs = []
        for i, (layer, p) in enumerate(zip(layers, params, strict=True)):
            try:
                out = run(layer, p, x, sub_key(key, i))
            except ParamsError as e:
                raise e.inside(i, name) from None
            x, extra = out
            outs.append(extra)
        return x, outs

    def apply(params, x, *, key=None):
        return forward(params, x, key, lambda *args: (apply_layer(*args), None))[0]

    def vjp(params, x, *, key=None):
        y, backwards = forward(params, x, key, vjp_layer)

        def backward(dy):
            dparams = []
            for i, back in reversed(list(enumerate(backwards))):
                dp, dy = backward_pair(back(dy), f"{name} > [{i}] {layers[i].name}")
                dparams.append(dp)
            dparams = dparams[::-1]
            return (list(dparams) if isinstance(params, list) else tuple(dparams)), dy

        return y, backward

    surrogates = [f"[{i}] {layer.name}" for i, layer in enumerate(layers) if layer.surrogate]
    return Layer(
        init,
        apply,
        vjp,
        name,
        surrogate=("surrogate gradient inside at " + ", ".join(surrogates)) if surrogates else None,
        sublayers=tuple(layers),
        stochastic=stochastic,
    )


@describe("serial")
def serial(*layers: Layer) -> Layer:
    """Compose layers left to right; params are the tuple of each layer's params, in order.

    Backward runs the layers' ``backward`` functions in reverse, the chain rule written out.
    Stochastic when any layer is: layer ``i`` then gets the key ``fold_in(key, i)``.
    """
    if not layers:
        raise TypeError("serial: expected one or more Layer arguments, got none")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            hint = " (a constructor: call it, e.g. Sigmoid())" if callable(layer) else ""
            raise TypeError(f"serial: argument {i} is not a Layer but {layer!r}{hint}")
    return _serial_layer(layers, "serial(" + ", ".join(layer.name for layer in layers) + ")")


ACTIVATIONS: dict[str, Callable[[], Layer]] = {
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "softplus": Softplus,
    "softmax": Softmax,
    "identity": Identity,
    "step": Step,
}


def _activation(spec: str | Layer | None) -> Layer | None:
    if spec is None or isinstance(spec, Layer):
        return spec
    if callable(spec) and not isinstance(spec, str):
        raise TypeError(f"mlp: activation {spec!r} is a constructor: call it, e.g. ReLU()")
    try:
        return ACTIVATIONS[spec]()
    except (KeyError, TypeError):
        raise ValueError(
            f"mlp: unknown activation {spec!r}; expected one of {sorted(ACTIVATIONS)} or a Layer"
        ) from None


@describe("mlp")
def mlp(
    sizes: Sequence[int],
    *,
    activation: str | Layer = "sigmoid",
    output_activation: str | Layer | None = None,
    use_bias: bool = True,
    dropout: float = 0.0,
    w_init: Callable = default_w_init,
    dtype="float32",
) -> Layer:
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]``.

    ``mlp([2, 3, 2], activation="tanh")`` is ``serial(Dense(3), Tanh(), Dense(2))``: the output
    is logits unless ``output_activation`` is given. ``dropout=p`` puts a ``Dropout(p)`` after
    each hidden activation. ``sizes[0]`` is the input width, checked at init and on every input.
    """
    if isinstance(sizes, str) or not isinstance(sizes, Sequence):
        raise TypeError(f"mlp: sizes must be a list of ints, e.g. [2, 3, 1], got {sizes!r}")
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"mlp: need at least input and output sizes, got {sizes}")
    if any(isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1 for n in sizes):
        raise ValueError(f"mlp: sizes must be positive ints, got {sizes}")
    sizes = [int(n) for n in sizes]
    hidden, out = _activation(activation), _activation(output_activation)
    layers: list[Layer] = []
    for i, width in enumerate(sizes[1:]):
        layers.append(Dense(width, use_bias=use_bias, w_init=w_init, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(hidden)
            if dropout:
                layers.append(Dropout(dropout))
    if out is not None:
        layers.append(out)
    name = f"mlp({sizes})"
    model = _serial_layer(tuple(layers), name)
    n_in = sizes[0]

    def init(key, input_shape):
        if tuple(input_shape)[-1:] != (n_in,):
            raise ValueError(f"{name}: expected input_shape (..., {n_in}), got {input_shape}")
        return model.init(key, input_shape)

    def check_input(x):
        if jnp.ndim(x) < 1 or jnp.shape(x)[-1] != n_in:
            raise ValueError(
                f"{name}: expected input of shape (..., {n_in}), got shape {jnp.shape(x)}"
            )

    def apply(params, x, *, key=None):
        check_input(x)
        return model.apply(params, x, key=key)

    def vjp(params, x, *, key=None):
        check_input(x)
        return model.vjp(params, x, key=key)

    return model._replace(init=_init_checked(name, init), apply=apply, vjp=vjp)
