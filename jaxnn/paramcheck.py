"""Trace-time checks that the params a layer is given are the ones its ``init`` would make.

Every check runs on shapes and dtypes only, so it costs nothing at run time and works on
tracers under ``jit``/``vmap``. A mismatch raises `ParamsError` naming the layer, the leaf
path (``[0].w``), the expected and the actual value, and the likely cause: params of another
model.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

HINT = "the params may come from another model, or the model was changed after init"


class ParamsError(ValueError):
    """Params that do not fit the model. ``path`` is the leaf path, e.g. ``"[0].w"``."""

    def __init__(self, layer: str, path: str, expected: str, got: str):
        self.layer, self.path, self.expected, self.got = layer, path, expected, got
        where = f"params{path}" if path else "params"
        super().__init__(f"{layer}: {where}: expected {expected}, got {got}; {HINT}")

    def inside(self, index: int, container: str) -> ParamsError:
        """The same error seen from a combinator holding this layer at ``index``."""
        return type(self)(f"{container} > {self.layer}", f"[{index}]{self.path}", *self._what())

    def _what(self):
        return self.expected, self.got


class ParamsDtypeError(ParamsError, TypeError):
    """A params leaf that is not a float array (also a ``TypeError``)."""


def describe_tree(params) -> str:
    """A short description of what was given: ``dict with keys ['w']``, ``tuple of 3``."""
    if isinstance(params, dict):
        return f"dict with keys {sorted(map(str, params))}"
    if isinstance(params, tuple | list):
        return f"{type(params).__name__} of length {len(params)}"
    if hasattr(params, "shape"):
        return f"array of shape {tuple(params.shape)}"
    return type(params).__name__


def check_no_params(layer: str, params) -> None:
    """Param-free layers (activations, Dropout) take ``()``; anything with leaves is wrong."""
    if params is None or (isinstance(params, tuple | list | dict) and not jax.tree.leaves(params)):
        return
    raise ParamsError(layer, "", "no params: ()", describe_tree(params))


def check_leaf(layer: str, path: str, leaf, shape: tuple[int, ...] | None) -> None:
    """``leaf`` must be a float array of exactly ``shape`` (never broadcast; None: any)."""
    if not hasattr(leaf, "shape") or not hasattr(leaf, "dtype"):
        raise ParamsDtypeError(layer, path, "a float array", type(leaf).__name__)
    if not jnp.issubdtype(leaf.dtype, jnp.floating):
        raise ParamsDtypeError(layer, path, "a floating-point array", f"dtype {leaf.dtype}")
    if shape is not None and tuple(leaf.shape) != tuple(shape):
        raise ParamsError(layer, path, f"shape {tuple(shape)}", f"shape {tuple(leaf.shape)}")


def check_keys(layer: str, params, expected: tuple[str, ...]) -> None:
    """A dict with exactly the ``expected`` keys."""
    if not isinstance(params, dict):
        raise ParamsError(layer, "", f"a dict with keys {list(expected)}", describe_tree(params))
    missing = [k for k in expected if k not in params]
    extra = sorted(str(k) for k in params if k not in expected)
    if missing or extra:
        got = describe_tree(params)
        if missing:
            got += f" (missing {missing})"
        if extra:
            got += f" (unexpected {extra})"
        raise ParamsError(layer, "", f"a dict with keys {list(expected)}", got)


def check_key(name: str, key) -> None:
    """A PRNG key: a typed key array or a raw ``uint32[2]``; an int is the classic slip."""
    if isinstance(key, int | np.integer) or (
        hasattr(key, "dtype")
        and not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
        and not (key.dtype == jnp.uint32 and key.shape[-1:] == (2,))
    ):
        raise TypeError(
            f"{name}: expected a PRNG key such as jax.random.key(0), got {describe_tree(key)}"
            + (f" of dtype {key.dtype}" if hasattr(key, "dtype") else f" {key!r}")
        )
    if not hasattr(key, "dtype"):
        raise TypeError(f"{name}: expected a PRNG key such as jax.random.key(0), got {key!r}")


def check_input_shape(name: str, input_shape) -> tuple[int, ...]:
    """``input_shape`` is the shape of ONE example: a tuple of non-negative ints."""
    if not isinstance(input_shape, tuple | list) or not all(
        isinstance(d, int | np.integer) and not isinstance(d, bool) and d >= 0 for d in input_shape
    ):
        raise TypeError(
            f"{name}.init: input_shape must be a tuple of ints, the shape of one example, "
            f"e.g. (2,); got {input_shape!r}"
        )
    return tuple(int(d) for d in input_shape)


def backward_pair(out, who: str):
    """A backward's ``(dparams, dx)``, or a TypeError that says how to write it."""
    if isinstance(out, tuple | list) and len(out) == 2:
        return out
    got = (
        f"an array of shape {tuple(out.shape)}"
        if hasattr(out, "shape")
        else f"a {type(out).__name__}"
        + (f" of length {len(out)}" if hasattr(out, "__len__") else "")
    )
    raise TypeError(
        f"{who}: its vjp's backward returned {got}; it must return the pair (dparams, dx): "
        "dparams shaped like the layer's params (() for a layer without params) and dx like "
        "its input — e.g. `return (), dy * slope` instead of `return dy * slope`."
    )
