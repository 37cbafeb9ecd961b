"""Save and load params pytrees, and whole networks: one ``.npz`` file, no pickle, atomic.

The file at ``path`` is a plain NumPy ``.npz`` archive holding

* ``leaf_0``, ``leaf_1``, ...: the array leaves, in the order the tree description names them;
* ``__jaxnn__``: a uint8 array of UTF-8 JSON metadata::

    {"format": "jaxnn.params", "version": 1, "tree": ...}
    {"format": "jaxnn.params", "version": 2, "tree": ...,
     "model": {"spec": <Layer.spec>, "input_shape": [n_features]}}

  ``tree`` describes the containers (tuple, list, dict with str keys, None) and each leaf's
  dtype and shape. A params-only file is written as version 1, exactly as jaxnn 0.1 wrote it
  (so 0.1 still reads it); a file with a model is version 2. Both versions load.

Dtypes NumPy cannot store natively (``bfloat16`` and other ``ml_dtypes`` types) are stored as
unsigned integers of the same width and viewed back on load, so every bit survives.

Writes go through `jaxnn.atomic_file`: a save killed at any point (even ``SIGKILL``) leaves the
previous file intact and at most one short hidden temporary file, which the next save or load
to the same path removes.
"""

from __future__ import annotations

import errno
import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxnn import atomic_file
from jaxnn.layers import Layer, apply_layer
from jaxnn.spec import from_spec

Params = Any

FORMAT = "jaxnn.params"
VERSION = 2  # the newest version written; `load` reads every version up to it
_PARAMS_ONLY_VERSION = 1
_META_KEY = "__jaxnn__"
# NumPy kinds that .npy stores as themselves: bool, signed/unsigned int, float, complex.
_NATIVE_KINDS = "biufc"


# --------------------------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------------------------


def _check_path(path, fn: str) -> tuple[str, str]:
    """``(shown, absolute)``: the path as the user wrote it (for messages) and as used."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not isinstance(path, str | os.PathLike):
        hint = " (the arguments are (path, params))" if fn == "save" else ""
        raise TypeError(
            f"jaxnn.io.{fn}: path must be a str or os.PathLike such as 'params.npz' or "
            f"pathlib.Path('params.npz'), got {type(path).__name__}{hint}"
        )
    shown = os.fspath(path)
    if isinstance(shown, bytes):
        shown = os.fsdecode(shown)
    if shown == "":
        raise ValueError(f"jaxnn.io.{fn}: path is empty; give a file name, e.g. 'params.npz'")
    if "\0" in shown:
        raise ValueError(f"jaxnn.io.{fn}: path {shown!r} contains a NUL character")
    if shown.endswith(os.sep) or (os.altsep and shown.endswith(os.altsep)) or os.path.isdir(shown):
        raise ValueError(
            f"jaxnn.io.{fn}: {shown!r} is a directory, not a file; name a file inside it, "
            f"e.g. os.path.join({shown!r}, 'params.npz')"
        )
    return shown, os.path.abspath(shown)


def _os_error(e: OSError, fn: str, shown: str) -> OSError:
    """``e`` re-made to name the user's path (never an internal temporary file)."""
    if e.errno is None or e.strerror is None:
        return OSError(f"jaxnn.io.{fn}: {shown!r}: {e}")
    # OSError(errno, ...) picks the matching subclass (PermissionError, ...) itself; its
    # message shows strerror and ``shown``, not the temporary file's name the original had.
    return OSError(e.errno, f"jaxnn.io.{fn}: {e.strerror}", shown)


# --------------------------------------------------------------------------------------------
# Tree <-> JSON description
# --------------------------------------------------------------------------------------------


def _describe(tree, leaves: list[np.ndarray], where: str) -> dict:
    """JSON description of ``tree``; appends its array leaves to ``leaves`` as NumPy arrays."""
    # Exact type checks: a NamedTuple or OrderedDict would come back as a plain tuple or dict,
    # which is not an exact round trip, so refuse it rather than change it silently.
    if tree is None:
        return {"t": "none"}
    if isinstance(tree, Layer):
        raise TypeError(
            f"jaxnn.io.save: got the layer {tree.name} at {where} where params were expected; "
            f"pass the params (from model.init or fit), and the model as model=..., e.g. "
            f"io.save(path, params, model=model)"
        )
    if type(tree) is tuple or type(tree) is list:
        items = [_describe(v, leaves, f"{where}[{i}]") for i, v in enumerate(tree)]
        return {"t": type(tree).__name__, "items": items}
    if type(tree) is dict:
        bad = [k for k in tree if not isinstance(k, str)]
        if bad:
            raise TypeError(f"jaxnn.io.save: dict keys must be str, got {bad[0]!r} at {where}")
        keys = list(tree)
        items = [_describe(tree[k], leaves, f"{where}[{k!r}]") for k in keys]
        return {"t": "dict", "keys": keys, "items": items}
    if isinstance(tree, jax.Array | np.ndarray | np.generic):
        return _describe_leaf(tree, leaves, where)
    raise TypeError(_not_a_params_tree(tree, where))


def _describe_leaf(tree, leaves: list[np.ndarray], where: str) -> dict:
    try:
        leaf = np.asarray(tree)
    except Exception as e:  # e.g. typed PRNG key arrays have no NumPy form
        raise TypeError(f"jaxnn.io.save: cannot store leaf at {where}: {e}") from e
    raw = leaf.dtype.kind not in _NATIVE_KINDS
    if raw and not _is_ml_dtype(leaf.dtype):
        raise TypeError(f"jaxnn.io.save: unsupported dtype {leaf.dtype} at {where}")
    desc = {
        "t": "leaf",
        "index": len(leaves),
        "dtype": leaf.dtype.name,
        "shape": list(leaf.shape),
        "raw": raw,
    }
    leaves.append(leaf.view(f"u{leaf.dtype.itemsize}") if raw else leaf)
    return desc


def _not_a_params_tree(tree, where: str) -> str:
    """The message for a value that is neither a container nor an array, with the fix."""
    kind = type(tree).__name__
    if isinstance(tree, bool | int | float | complex):
        fix = f"wrap numbers as arrays, e.g. jnp.asarray({tree!r})"
    elif callable(tree):
        fix = "a function is not params; did you mean the params that model.init returns?"
    else:
        fix = "convert it to an array or a dict/tuple/list of arrays"
    return (
        f"jaxnn.io.save: params must be a pytree of arrays (tuples, lists, dicts with str "
        f"keys, None); got {kind} at {where}: {fix}"
    )


def _is_ml_dtype(dtype: np.dtype) -> bool:
    """True for the extra float types JAX adds to NumPy (bfloat16, float8_*, ...)."""
    if dtype.kind != "V" or dtype.names is not None or dtype.itemsize not in (1, 2, 4, 8):
        return False
    try:
        return jnp.dtype(dtype.name) == dtype
    except TypeError:
        return False


def _rebuild(desc, arrays: dict[str, np.ndarray], used: set[str]):
    """Inverse of `_describe`; raises ``KeyError``/``TypeError``/``ValueError`` on bad input."""
    kind = desc["t"]
    if kind == "none":
        return None
    if kind in ("tuple", "list"):
        items = [_rebuild(d, arrays, used) for d in desc["items"]]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        keys, items = desc["keys"], desc["items"]
        if len(keys) != len(items) or not all(isinstance(k, str) for k in keys):
            raise ValueError("malformed dict entry")
        return {k: _rebuild(d, arrays, used) for k, d in zip(keys, items, strict=True)}
    if kind == "leaf":
        name = f"leaf_{int(desc['index'])}"
        stored = arrays[name]
        used.add(name)
        dtype = jnp.dtype(desc["dtype"])
        leaf = stored.view(dtype) if desc["raw"] else stored
        if leaf.dtype != dtype or list(leaf.shape) != list(desc["shape"]):
            raise ValueError(
                f"{name} is {leaf.dtype}{list(leaf.shape)}, "
                f"the description says {dtype}{list(desc['shape'])}"
            )
        return _to_jax(leaf)
    raise ValueError(f"unknown node type {kind!r}")


def _to_jax(leaf: np.ndarray):
    """A JAX array, unless JAX would change the dtype (64-bit with x64 off): then NumPy."""
    if jax.dtypes.canonicalize_dtype(leaf.dtype) != leaf.dtype:
        return leaf
    return jnp.asarray(leaf)


# --------------------------------------------------------------------------------------------
# Models: spec, input shape, and the check that params fit
# --------------------------------------------------------------------------------------------


def _without_spec(layer: Layer) -> Layer:
    """The innermost layer inside ``layer`` that has no spec (``layer`` itself if none)."""
    for sub in layer.sublayers:
        if getattr(sub, "spec", None) is None:
            return _without_spec(sub)
    return layer


def _model_meta(model, params, input_shape) -> dict:
    """The ``"model"`` entry of the metadata; raises if the model cannot be stored exactly."""
    if not isinstance(model, Layer):
        raise TypeError(
            f"jaxnn.io.save: model must be a jaxnn Layer (e.g. jaxnn.mlp([2, 3, 1])), "
            f"got {type(model).__name__}"
        )
    spec = getattr(model, "spec", None)
    if spec is None:
        culprit = _without_spec(model)
        raise ValueError(
            f"jaxnn.io.save: the model {model.name} cannot be saved: its layer "
            f"{culprit.name} has no spec (a Dense with a custom initializer callable, or a "
            f"user layer that is not registered), so it cannot be rebuilt from a file. Use a "
            f"jaxnn or jax.nn initializer, register your constructor with "
            f"jaxnn.register_layer(name, constructor), or save the params alone with "
            f"io.save(path, params)"
        )
    try:
        spec_json = json.loads(json.dumps(spec))
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"jaxnn.io.save: the spec of {model.name} is not JSON-serialisable ({e})"
        ) from None
    _check_rebuilds(model, spec_json)
    inferred = input_shape is None
    input_shape = _input_shape(params, input_shape)
    try:
        _check_fits(model, params, input_shape)
    except ValueError as e:
        if inferred:
            e.add_note(
                f"(the input shape {input_shape} was inferred from the first Dense kernel 'w'; "
                f"pass input_shape= if the model starts otherwise)"
            )
        raise
    return {"spec": spec_json, "input_shape": list(input_shape)}


def _check_rebuilds(model: Layer, spec_json) -> None:
    """Refuse at save time a spec that `load_model` could not turn back into this model."""
    try:
        rebuilt = from_spec(spec_json)
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(
            f"jaxnn.io.save: the model {model.name} cannot be rebuilt from its spec, so "
            f"load_model could not read it back: {e}"
        ) from None
    if _spec_key(rebuilt.spec) != _spec_key(model.spec):
        raise ValueError(
            f"jaxnn.io.save: the model {model.name} does not rebuild as itself from its spec "
            f"(got {rebuilt.name}); check the constructor given to jaxnn.register_layer"
        )


def _spec_key(spec) -> str:
    """A canonical text for a spec: tuples and lists (JSON arrays) compare equal."""
    return json.dumps(spec, sort_keys=True)


def _input_shape(params, input_shape) -> tuple[int, ...]:
    """``input_shape`` checked, or the feature size of the first Dense kernel ``"w"``."""
    if input_shape is not None:
        if isinstance(input_shape, int | np.integer):
            input_shape = (input_shape,)
        shape = tuple(input_shape) if isinstance(input_shape, tuple | list) else None
        if shape is None or not all(
            isinstance(n, int | np.integer) and not isinstance(n, bool) and n >= 1 for n in shape
        ):
            raise TypeError(
                f"jaxnn.io.save: input_shape must be the shape of one example, a tuple of "
                f"positive ints such as (2,), got {input_shape!r}"
            )
        return tuple(int(n) for n in shape)
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        last = path[-1] if path else None
        if isinstance(last, jax.tree_util.DictKey) and last.key == "w" and np.ndim(leaf) == 2:
            return (int(np.shape(leaf)[0]),)
    raise ValueError(
        "jaxnn.io.save: cannot infer the model's input shape (no Dense kernel 'w' in the "
        "params); pass it, e.g. io.save(path, params, model=model, input_shape=(n_features,))"
    )


def _check_fits(model: Layer, params, input_shape: tuple[int, ...]) -> None:
    """Raise the layers' params-check ``ValueError`` unless ``params`` fit ``model``.

    Traces ``model.apply`` on a dummy batch of one example (``jax.eval_shape``: nothing is
    computed), so every layer checks the params it is given, then compares the params'
    structure and shapes with what ``model.init`` makes for ``input_shape``.
    """
    floats = [
        leaf.dtype for leaf in jax.tree.leaves(params) if jnp.issubdtype(leaf.dtype, jnp.floating)
    ]
    dtype = jax.dtypes.canonicalize_dtype(floats[0] if floats else jnp.float32)
    x = jax.ShapeDtypeStruct((1, *input_shape), dtype)
    # Evaluation mode (no key): Dropout is the identity, any model traces without a key.
    jax.eval_shape(lambda p, x: apply_layer(model, p, x), params, x)
    _check_structure(model, params, input_shape)


def _check_structure(model: Layer, params, input_shape) -> None:
    """Compare leaf paths and shapes with ``model.init``'s, for layers that check nothing."""
    try:
        made = jax.eval_shape(lambda key: model.init(key, input_shape)[1], jax.random.PRNGKey(0))
    except ValueError:
        raise
    except Exception:  # an init that cannot be traced: the apply check above must do
        return
    want = _leaf_shapes(made)
    got = _leaf_shapes(params)
    for path in sorted(set(want) | set(got)):
        if want.get(path) != got.get(path):
            raise ValueError(
                f"params do not fit the model {model.name} for input shape {input_shape}: "
                f"leaf params{path} should have shape {_shape_text(want.get(path))}, got "
                f"{_shape_text(got.get(path))} (are these the params of another model?)"
            )


def _leaf_shapes(tree) -> dict[str, tuple[int, ...]]:
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): tuple(np.shape(leaf)) for path, leaf in flat}


def _shape_text(shape) -> str:
    return "(missing)" if shape is None else str(shape)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _write_npz(f, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an npz into the open binary file ``f`` (a seam for tests)."""
    # A file object, not a file name: given a name without ".npz", np.savez appends one.
    np.savez(f, **arrays)


def save(
    path: str | os.PathLike,
    params: Params,
    *,
    model: Layer | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> None:
    """Write ``params`` (and optionally the network ``model``) to exactly ``path``, atomically.

    ``params`` may nest tuples, lists, dicts with str keys, ``()`` and ``None``, with JAX or
    NumPy array leaves of any dtype (float64, float32, bfloat16, ints, bool, ...). No suffix is
    added to ``path``; missing parent directories are created.

    With ``model``, the file also holds ``model.spec`` and the shape of one input example, so
    `load_model` rebuilds the whole network. ``input_shape`` defaults to ``(n,)`` where ``n``
    is the number of rows of the first Dense kernel ``"w"`` in ``params``; pass it for models
    that do not start with a Dense. The params are checked against the model first, so a file
    whose params do not fit its model is never written.

    The data goes to a short hidden temporary file in the same directory which then replaces
    ``path`` in one ``os.replace``: an error or a kill mid-write leaves any previous file at
    ``path`` untouched, and a temporary file left by a killed save is removed by the next save
    or load of ``path``.

    Raises:
      TypeError: ``path`` not a str/PathLike; ``params`` not a pytree of arrays (a Layer, a
        Python number, a NamedTuple, which would not come back as itself, non-str dict keys);
        ``model`` not a Layer; a malformed ``input_shape``.
      ValueError: ``path`` empty or a directory; ``model`` has no spec (custom initializer
        callable, unregistered user layer) or does not rebuild from it; ``params`` do not fit
        ``model`` (the layers' params check).
      OSError: the file system refused; the message names ``path``.
    """
    shown, target = _check_path(path, "save")
    leaves: list[np.ndarray] = []
    tree = _describe(params, leaves, "params")
    meta = {"format": FORMAT, "version": _PARAMS_ONLY_VERSION, "tree": tree}
    if model is not None:
        meta["version"] = VERSION
        meta["model"] = _model_meta(model, params, input_shape)
    elif input_shape is not None:
        raise TypeError("jaxnn.io.save: input_shape is only stored with a model; pass model=")
    arrays = {f"leaf_{i}": leaf for i, leaf in enumerate(leaves)}
    arrays[_META_KEY] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    try:
        _make_parents(target, shown)
        atomic_file.write_atomically(target, lambda f: _write_npz(f, arrays))
    except OSError as e:
        raise _os_error(e, "save", shown) from None


def _make_parents(target: str, shown: str) -> None:
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
    except FileExistsError:  # makedirs' word for "a parent is a file"
        raise NotADirectoryError(
            errno.ENOTDIR, "jaxnn.io.save: a parent of the path is a file, not a directory", shown
        ) from None


class _NotOurs(ValueError):
    """The file parsed, but it is not something `save` wrote."""


def load(path: str | os.PathLike, *, model: Layer | None = None) -> Params:
    """Read the params written by `save`: same containers, dtypes, shapes and bits.

    Leaves come back as JAX arrays, except 64-bit leaves (float64, int64, ...) while JAX's
    64-bit mode is off: those come back as NumPy arrays, so no precision is lost silently.
    Load inside ``with jax.enable_x64(True):`` to get them as JAX arrays. A file saved with a
    model loads here as its params alone.

    With ``model``, the params are checked against it (the layers' params check), and if the
    file holds a model too, it must be the same one (same spec).

    Raises:
      TypeError/ValueError: ``path`` not a str/PathLike, empty, or a directory.
      FileNotFoundError: if ``path`` does not exist (other ``OSError``s opening it propagate).
      ValueError: if the file is not a jaxnn params file (not an npz, corrupt or truncated, no
        jaxnn marker, an unsupported format version, an inconsistent description), or its
        params do not fit ``model``, or it holds a different model.
    """
    shown, meta, params = _load(path, "load")
    if model is not None:
        _check_against(model, meta, params, shown)
    return params


def load_model(path: str | os.PathLike) -> tuple[Layer, Params]:
    """Read a network saved with ``save(path, params, model=model)``: ``(model, params)``.

    The model is rebuilt from its stored spec with `jaxnn.from_spec` (user layers must
    be registered with `jaxnn.register_layer` under the same name first), then the params are
    checked against it, as `save` did.

    Raises:
      ValueError: the file holds no model (saved without ``model=``), its model cannot be
        rebuilt (an unregistered layer name), its params do not fit its model, or any reason
        `load` raises.
    """
    shown, meta, params = _load(path, "load_model")
    stored = meta.get("model")
    if stored is None:
        raise ValueError(
            f"jaxnn.io.load_model: {shown!r} holds params only, no model (it was saved "
            f"without model=); read it with io.load({shown!r}), or save it again with "
            f"io.save(path, params, model=model)"
        )
    try:
        model = from_spec(stored["spec"])
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(
            f"jaxnn.io.load_model: cannot rebuild the model stored in {shown!r}: {e}"
        ) from None
    _check_fits_file(model, params, tuple(stored["input_shape"]), shown)
    return model, params


def _check_against(model, meta, params, shown: str) -> None:
    """`load(path, model=)`: the file's model (if any) is ``model``, and the params fit it."""
    if not isinstance(model, Layer):
        raise TypeError(f"jaxnn.io.load: model must be a jaxnn Layer, got {type(model).__name__}")
    stored = meta.get("model")
    spec = getattr(model, "spec", None)
    if stored is not None and spec is not None:
        if _spec_key(stored["spec"]) != _spec_key(spec):
            raise ValueError(
                f"jaxnn.io.load: {shown!r} holds a different model than {model.name}: its "
                f"spec is {_spec_key(stored['spec'])}, the model's is {_spec_key(spec)}; "
                f"use io.load_model({shown!r}) to get the saved model"
            )
    input_shape = tuple(stored["input_shape"]) if stored is not None else None
    try:
        input_shape = _input_shape(params, input_shape)
    except ValueError:
        raise ValueError(
            f"jaxnn.io.load: cannot check the params of {shown!r} against {model.name}: the "
            f"file holds no input shape and the params have no Dense kernel 'w'"
        ) from None
    _check_fits_file(model, params, input_shape, shown)


def _check_fits_file(model, params, input_shape, shown: str) -> None:
    """`_check_fits`, with a note naming the file on the error (its type is kept)."""
    try:
        _check_fits(model, params, input_shape)
    except ValueError as e:
        e.add_note(f"(checking the params in {shown!r} against the model {model.name})")
        raise


def _load(path, fn: str) -> tuple[str, dict, Params]:
    """``(shown_path, metadata, params)`` of a file `save` wrote."""
    shown, target = _check_path(path, fn)
    atomic_file.remove_stale_temps(target)
    try:
        f = open(target, "rb")
    except OSError as e:
        raise _os_error(e, fn, shown) from None
    with f:
        try:
            meta, arrays = _read(f)
        except _NotOurs as e:
            raise ValueError(f"{shown!r} is not a jaxnn params file: {e}") from None
        except Exception as e:  # whatever NumPy or zipfile raise on damaged bytes
            raise ValueError(
                f"{shown!r} is not a valid jaxnn params file (corrupt or truncated): "
                f"{type(e).__name__}: {e}"
            ) from None
    _check_version(meta, shown)
    used: set[str] = set()
    try:
        params = _rebuild(meta["tree"], arrays, used)
    except Exception as e:  # a malformed description fails in many ways; all mean "bad file"
        raise ValueError(
            f"{shown!r} is not a valid jaxnn params file: its tree description does not match "
            f"its arrays ({type(e).__name__}: {e})"
        ) from None
    extra = set(arrays) - used
    if extra:
        raise ValueError(
            f"{shown!r} is not a valid jaxnn params file: it has arrays its tree description "
            f"does not mention: {sorted(extra)}"
        )
    return shown, meta, params


def _check_version(meta: dict, shown: str) -> None:
    version = meta.get("version")
    if type(version) is not int or not 1 <= version <= VERSION:
        raise ValueError(
            f"{shown!r} is a jaxnn params file of version {version!r}; "
            f"this jaxnn reads versions 1 to {VERSION}"
        )
    stored = meta.get("model")
    if stored is None:
        return
    shape = stored.get("input_shape") if isinstance(stored, dict) else None
    if (
        version < 2
        or "spec" not in stored
        or not isinstance(shape, list)
        or not all(type(n) is int and n >= 1 for n in shape)
    ):
        raise ValueError(f"{shown!r} is not a valid jaxnn params file: malformed model entry")


def _read(f) -> tuple[dict, dict[str, np.ndarray]]:
    """Parse an open file into (metadata, leaf arrays); ``ValueError`` if it is not ours."""
    # allow_pickle=False: a file that is neither .npy nor .npz (random bytes) raises here
    # instead of being unpickled.
    try:
        data = np.load(f, allow_pickle=False)
    except ValueError:
        raise _NotOurs("it is not a NumPy .npz archive") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise _NotOurs("it is a single .npy array, not an .npz archive")
    with data:
        if _META_KEY not in data.files:
            raise _NotOurs(f"it is an .npz without the {_META_KEY!r} marker")
        # Read every member now: a damaged member only shows up (CRC error) when read.
        arrays = {name: data[name] for name in data.files}
    marker = arrays.pop(_META_KEY)
    if marker.dtype != np.uint8 or marker.ndim != 1:
        raise _NotOurs(f"its {_META_KEY!r} entry is not a uint8 byte string")
    try:
        meta = json.loads(marker.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _NotOurs(f"its {_META_KEY!r} entry is not JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _NotOurs(f"its {_META_KEY!r} entry does not name the format {FORMAT!r}")
    return meta, arrays
