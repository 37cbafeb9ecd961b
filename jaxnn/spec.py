"""Specs: a layer described as data, so it can be compared, hashed, printed, saved and rebuilt.

A layer's ``spec`` is the call that made it, as nested tuples of JSON values::

    ("@layer", "Dense", (3,), (("use_bias", True), ("w_init", ("@init", "glorot_normal", (), ())),
                               ("b_init", ("@init", "zeros", (), ())), ("dtype", "float32")))

* ``("@layer", name, args, kwargs)``: a registered layer constructor called with ``args`` and
  the ``kwargs`` pairs (every argument, defaults filled in, so equal calls give equal specs);
* ``("@init", name, (), kwargs)``: an initializer from ``jax.nn.initializers`` (or jaxnn's
  re-exports of them);
* anything else is a JSON scalar or a tuple of values.

``json.dumps(spec)`` just works, and `from_spec` accepts what ``json.loads`` gives back (lists
for tuples). A constructor argument that has no such description (a custom initializer
callable, a user layer built from bare closures) makes the spec ``None``: the layer then works
as before but compares by identity and cannot be saved as a network.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

Spec = tuple

LAYER_TAG, INIT_TAG = "@layer", "@init"

# name -> constructor (the spec-attaching wrapper); filled by `describe` and `register_layer`.
REGISTRY: dict[str, Callable[..., Any]] = {}


class Undescribable(Exception):
    """A constructor argument with no data description (internal; the spec becomes None)."""


def freeze(value):
    """Lists to tuples, recursively: what ``json.loads`` gives back, made hashable again."""
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


# --------------------------------------------------------------------------------------------
# Initializers: JAX's own factories are closures whose free variables are the factory's
# arguments, so reading the closure recovers the call exactly.
# --------------------------------------------------------------------------------------------

_INITIALIZERS = jax.nn.initializers
_PLAIN_INITS = {"zeros": _INITIALIZERS.zeros, "ones": _INITIALIZERS.ones}
_NAMED_FACTORIES = (
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
)


def _closure_spec(fn) -> Spec | None:
    """``("@init", factory, (), kwargs)`` for a ``jax.nn.initializers`` closure, else None."""
    module = getattr(fn, "__module__", "") or ""
    qualname = getattr(fn, "__qualname__", "")
    if not module.startswith("jax") or not qualname.endswith(".<locals>.init"):
        return None
    factory = getattr(_INITIALIZERS, qualname.split(".")[0], None)
    if factory is None:
        return None
    names = fn.__code__.co_freevars
    params = inspect.signature(factory).parameters
    if not set(names) <= set(params):
        return None
    try:
        values = [_encode(cell.cell_contents) for cell in fn.__closure__ or ()]
    except Undescribable:
        return None
    return (INIT_TAG, factory.__name__, (), tuple(sorted(zip(names, values, strict=True))))


@functools.cache
def _named_factory_specs() -> dict:
    """The closure spec of each argument-free named factory (``glorot_normal()``, ...)."""
    return {_closure_spec(getattr(_INITIALIZERS, n)()): n for n in _NAMED_FACTORIES}


def init_spec(fn) -> Spec:
    """The spec of an initializer: by name for JAX's own, else `Undescribable`."""
    for name, plain in _PLAIN_INITS.items():
        if fn is plain:
            return (INIT_TAG, name, (), ())
    spec = _closure_spec(fn)
    if spec is None:
        raise Undescribable(f"initializer {fn!r} is not one of JAX's (jax.nn.initializers)")
    name = _named_factory_specs().get(spec)
    return (INIT_TAG, name, (), ()) if name else spec


def _build_init(name: str, kwargs: dict):
    if name in _PLAIN_INITS:
        return _PLAIN_INITS[name]
    factory = getattr(_INITIALIZERS, name, None)
    if factory is None:
        raise ValueError(f"from_spec: unknown initializer {name!r}")
    return factory(**kwargs)


# --------------------------------------------------------------------------------------------
# Values <-> specs
# --------------------------------------------------------------------------------------------


def _is_layer(value) -> bool:
    return hasattr(value, "spec") and hasattr(value, "apply") and hasattr(value, "vjp")


def _encode(value):
    """A constructor argument as JSON-able nested tuples; `Undescribable` when it has none."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.integer | np.floating | np.bool_):
        return value.item()
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name
    if isinstance(value, type) and isinstance(getattr(value, "dtype", None), np.dtype):
        return value.dtype.name  # jnp.float64 and friends are not np.generic subclasses
    if _is_layer(value):  # before tuples: a Layer is a NamedTuple
        if value.spec is None:
            raise Undescribable(f"layer {value.name} has no spec")
        return value.spec
    if isinstance(value, list | tuple):
        return tuple(_encode(v) for v in value)
    if isinstance(value, jax.Array | np.ndarray) and np.ndim(value) == 0:
        if isinstance(value, jax.core.Tracer):
            raise Undescribable("a traced value")
        return np.asarray(value).item()
    if callable(value):
        return init_spec(value)
    raise Undescribable(f"{type(value).__name__} value")


def _decode(value):
    if isinstance(value, list | tuple):
        if len(value) == 4 and value[0] == LAYER_TAG:
            return from_spec(value)
        if len(value) == 4 and value[0] == INIT_TAG:
            return _build_init(value[1], {k: _decode(v) for k, v in value[3]})
        return tuple(_decode(v) for v in value)
    return value


def call_spec(name: str, constructor: Callable, args: tuple, kwargs: dict) -> Spec | None:
    """The spec of ``constructor(*args, **kwargs)`` registered as ``name``, or None."""
    bound = inspect.signature(constructor).bind(*args, **kwargs)
    bound.apply_defaults()
    positional, keywords = [], []
    for param_name, value in bound.arguments.items():
        kind = bound.signature.parameters[param_name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            positional.extend(value)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            keywords.extend(sorted(value.items()))
        elif kind is inspect.Parameter.POSITIONAL_ONLY or (
            kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
            and bound.signature.parameters[param_name].default is inspect.Parameter.empty
        ):
            positional.append(value)  # required arguments print bare: Dense(3)
        else:
            keywords.append((param_name, value))
    try:
        return (
            LAYER_TAG,
            name,
            tuple(_encode(v) for v in positional),
            tuple((k, _encode(v)) for k, v in keywords),
        )
    except Undescribable:
        return None


def from_spec(spec) -> Any:
    """Rebuild the layer a spec describes (accepts ``json.loads`` output: lists for tuples)."""
    spec = freeze(spec)
    if not (isinstance(spec, tuple) and len(spec) == 4 and spec[0] == LAYER_TAG):
        raise ValueError(f"from_spec: not a layer spec: {spec!r}")
    _, name, args, kwargs = spec
    if name not in REGISTRY:
        raise ValueError(
            f"from_spec: no layer registered as {name!r}; register its constructor with "
            f"jaxnn.register_layer({name!r}, constructor) before loading"
        )
    return REGISTRY[name](*(_decode(a) for a in args), **{k: _decode(v) for k, v in kwargs})


# --------------------------------------------------------------------------------------------
# Attaching specs to constructors
# --------------------------------------------------------------------------------------------


def describe(name: str):
    """Decorator: ``constructor(...)`` returns its Layer with ``spec`` set to the call."""

    def wrap(constructor):
        @functools.wraps(constructor)
        def build(*args, **kwargs):
            layer = constructor(*args, **kwargs)
            if not _is_layer(layer):
                raise TypeError(f"{name}: constructor must return a jaxnn.Layer, got {layer!r}")
            spec = call_spec(name, constructor, args, kwargs)
            return layer._replace(spec=spec) if spec != layer.spec else layer

        build.constructor = constructor
        REGISTRY[name] = build
        return build

    return wrap


def register_layer(name: str, constructor: Callable | None = None):
    """Let a user's layer constructor take part in specs (equality, ``repr``, saving networks).

    Returns the wrapped constructor, whose layers carry a spec; use it instead of the original
    (``MyLayer = jaxnn.register_layer("MyLayer", MyLayer)``, or ``@jaxnn.register_layer("MyLayer")``
    as a decorator). Its arguments must be JSON values, tuples, layers or JAX initializers.
    ``jaxnn.io.load_model`` finds the constructor by ``name``, so register before loading.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_layer: name must be a non-empty str, got {name!r}")
    if constructor is None:
        return lambda fn: register_layer(name, fn)
    if not callable(constructor):
        raise TypeError(f"register_layer: constructor must be callable, got {constructor!r}")
    return describe(name)(constructor)


def format_spec(spec: Spec) -> str:
    """``Dense(3)``, ``mlp([2, 3, 2], activation='tanh')``: the call, defaults left out."""
    _, name, args, kwargs = spec
    constructor = REGISTRY.get(name)
    defaults = {}
    if constructor is not None:
        params = inspect.signature(constructor.constructor).parameters
        for k, p in params.items():
            if p.default is not inspect.Parameter.empty:
                try:
                    defaults[k] = _encode(p.default)
                except Undescribable:
                    pass
    shown = [_format_value(a) for a in args]
    shown += [f"{k}={_format_value(v)}" for k, v in kwargs if defaults.get(k, object()) != v]
    return f"{name}({', '.join(shown)})"


def _format_value(value) -> str:
    if isinstance(value, tuple) and len(value) == 4 and value[0] == LAYER_TAG:
        return format_spec(value)
    if isinstance(value, tuple) and len(value) == 4 and value[0] == INIT_TAG:
        inner = ", ".join(f"{k}={_format_value(v)}" for k, v in value[3])
        return f"{value[1]}({inner})"
    if isinstance(value, tuple):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    return repr(value)
