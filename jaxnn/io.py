"""Save and load params pytrees: one ``.npz`` file, no pickle, atomic writes.

The file at ``path`` is a plain NumPy ``.npz`` archive holding

* ``leaf_0``, ``leaf_1``, ...: the array leaves, in the order the tree description names them;
* ``__jaxnn__``: a uint8 array of UTF-8 JSON ``{"format": "jaxnn.params", "version": 1,
  "tree": ...}`` describing the containers (tuple, list, dict with str keys, None) and each
  leaf's dtype and shape.

Dtypes NumPy cannot store natively (``bfloat16`` and other ``ml_dtypes`` types) are stored as
unsigned integers of the same width and viewed back on load, so every bit survives.
"""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Params = Any

FORMAT = "jaxnn.params"
VERSION = 1
_META_KEY = "__jaxnn__"
# NumPy kinds that .npy stores as themselves: bool, signed/unsigned int, float, complex.
_NATIVE_KINDS = "biufc"


# --------------------------------------------------------------------------------------------
# Tree <-> JSON description
# --------------------------------------------------------------------------------------------


def _describe(tree, leaves: list[np.ndarray], where: str) -> dict:
    """JSON description of ``tree``; appends its array leaves to ``leaves`` as NumPy arrays."""
    # Exact type checks: a NamedTuple or OrderedDict would come back as a plain tuple or dict,
    # which is not an exact round trip, so refuse it rather than change it silently.
    if tree is None:
        return {"t": "none"}
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
    raise TypeError(
        f"jaxnn.io.save: params may only contain tuples, lists, dicts, None and arrays; "
        f"got {type(tree).__name__} at {where}"
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
# Public API
# --------------------------------------------------------------------------------------------


def _write_npz(f, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an npz into the open binary file ``f`` (a seam for tests)."""
    # A file object, not a file name: given a name without ".npz", np.savez appends one.
    np.savez(f, **arrays)


def save(path: str | os.PathLike, params: Params) -> None:
    """Write ``params`` to exactly ``path`` (no suffix is added), atomically.

    ``params`` may nest tuples, lists, dicts with str keys, ``()`` and ``None``, with JAX or
    NumPy array leaves of any dtype (float64, float32, bfloat16, ints, bool, ...). Missing
    parent directories are created.

    The data goes to a temporary file in the same directory which then replaces ``path`` in one
    ``os.replace``: a crash or error mid-write leaves any previous file at ``path`` untouched,
    and the temporary file is removed.

    Raises:
      TypeError: for containers or leaves outside the list above (including NamedTuples, which
        would not come back as themselves), or non-str dict keys.
    """
    path = os.fspath(path)
    leaves: list[np.ndarray] = []
    tree = _describe(params, leaves, "params")
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree})
    arrays = {f"leaf_{i}": leaf for i, leaf in enumerate(leaves)}
    arrays[_META_KEY] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = _create_temp(directory, os.path.basename(path))
    try:
        with open(tmp, "wb") as f:
            _write_npz(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(path):
            # Overwriting in place would have kept the old file's permissions; so do we.
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _create_temp(directory: str, base: str) -> str:
    """Create an empty, uniquely named hidden file in ``directory``; return its path."""
    # os.open with 0o666 lets the umask decide the permissions, as a plain open() would
    # (tempfile.mkstemp would force 0o600 on the final file).
    while True:
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


class _NotOurs(ValueError):
    """The file parsed, but it is not something `save` wrote."""


def load(path: str | os.PathLike) -> Params:
    """Read params written by `save`: same containers, dtypes, shapes and bits.

    Leaves come back as JAX arrays, except 64-bit leaves (float64, int64, ...) while JAX's
    64-bit mode is off: those come back as NumPy arrays, so no precision is lost silently.
    Load inside ``with jax.enable_x64(True):`` to get them as JAX arrays.

    Raises:
      FileNotFoundError: if ``path`` does not exist (other ``OSError``s opening it propagate).
      ValueError: if the file is not a jaxnn params file: not an npz, corrupt or truncated, no
        jaxnn marker, an unsupported format version, or an inconsistent description.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        try:
            meta, arrays = _read(f)
        except _NotOurs as e:
            raise ValueError(f"{path!r} is not a jaxnn params file: {e}") from None
        except Exception as e:  # whatever NumPy or zipfile raise on damaged bytes
            raise ValueError(
                f"{path!r} is not a valid jaxnn params file (corrupt or truncated): "
                f"{type(e).__name__}: {e}"
            ) from None

    if meta.get("version") != VERSION:
        raise ValueError(
            f"{path!r} is a jaxnn params file of version {meta.get('version')!r}; "
            f"this jaxnn reads version {VERSION}"
        )
    used: set[str] = set()
    try:
        params = _rebuild(meta["tree"], arrays, used)
    except Exception as e:  # a malformed description fails in many ways; all mean "bad file"
        raise ValueError(
            f"{path!r} is not a valid jaxnn params file: its tree description does not match "
            f"its arrays ({type(e).__name__}: {e})"
        ) from None
    extra = set(arrays) - used
    if extra:
        raise ValueError(
            f"{path!r} is not a valid jaxnn params file: it has arrays its tree description "
            f"does not mention: {sorted(extra)}"
        )
    return params


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
