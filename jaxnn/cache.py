"""Compile once per math, not per object.

``jax.jit`` caches compiled programs per *function object*. A training runner built from a
model, a loss, an optax optimizer and a regularizer is a new function for every new set of
objects, so ``fit(model, loss, optax.sgd(0.1), ...)`` written inline compiled on every call.
This module keys such builders by what the objects compute instead:

* `math_key(obj)` -> a hashable key that is equal for two objects only when they do the same
  math. jaxnn layers, losses and regularizers with a ``spec`` are keyed by it. Anything else
  (optax's ``GradientTransformation``, a user's spec-less layer) gets a *structural
  fingerprint*: the code of every function reachable from it, with the values of its default
  arguments, closure cells and (for functions outside the libraries) the globals its code
  names, recursively. Numbers are keyed by type and exact value (``1``, ``1.0``, ``True``,
  ``0.0`` and ``-0.0`` all differ), arrays by dtype, shape, weak type and a digest of their
  bytes. When some reachable object cannot be described soundly (a tracer, an instance of an
  arbitrary class, a jitted wrapper, ...) the key is the object's identity, as ``jit`` does.
* `memoize(builder, *objs, **static)` -> ``builder(*objs, **static)``, built from the first
  objects seen with these keys and reused afterwards (a bounded LRU of ``MAXSIZE`` entries).

Why a fingerprint of the closures and not of a traced jaxpr: a jaxpr traced on float32
stand-in params rounds every hyperparameter to float32 (two learning rates that differ in
float64 would share a program) and cannot see what a mask or label function does to a params
structure other than the stand-in; it also costs 3-100 ms per fresh optimizer, against
~0.1 ms for the closure walk. Two optimizers get the same key only when they are built by the
same code from equal values, which is what makes reuse sound.

Not covered (as with ``jit`` itself): a closure that mutates its own cells after it was
fingerprinted, and module globals of jax/optax/numpy/jaxnn changed at run time.

`enable_persistent_cache(path)` turns on JAX's on-disk compilation cache with thresholds low
enough for tiny programs. The library never calls it: an application (a test session, the
experiments CLI) may.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import os
import sys
import tempfile
import threading
import types
import warnings
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

import numpy as np

MAXSIZE = 64  # compiled runners kept; each holds its objects and jit's compiled programs
_FINGERPRINTS = 256  # per-object memo of computed keys (fresh objects pay the walk once)
_BUDGET = 20_000  # objects visited per walk before giving up (identity fallback)

# Modules whose top-level names are stable: their functions are keyed by name, their globals
# are not walked. Anything else (a user's module, ``__main__``) is walked by value.
_LIBRARIES = frozenset(
    {"jax", "jaxlib", "optax", "numpy", "jaxnn", "chex", "ml_dtypes", "builtins", "math"}
    | {"operator", "functools", "typing", "collections", "dataclasses", "enum", "abc"}
)


class CacheInfo(NamedTuple):
    """Counters of `memoize` since the last `clear`."""

    hits: int
    misses: int
    size: int
    maxsize: int


class _Unknown(Exception):
    """Raised inside a walk: this object cannot be fingerprinted soundly."""


_lock = threading.Lock()
_entries: OrderedDict[Hashable, tuple[tuple, Any]] = OrderedDict()
_memo: OrderedDict[int, tuple[Any, Hashable]] = OrderedDict()
_stats = {"hits": 0, "misses": 0}


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def math_key(obj: Any) -> Hashable:
    """A hashable key equal for two objects only when they compute the same math.

    Args:
      obj: a jaxnn ``Layer``/``Loss``/``Regularizer``, an optax ``GradientTransformation``,
        ``None``, a string or number, or anything else.

    Returns:
      ``None`` for ``None``; the string for a string; ``(type name, repr)`` for a number;
      ``(type name, spec)`` for a jaxnn object with a spec; ``("fingerprint", ...)`` for an
      object whose closures can be walked soundly; otherwise ``("id", type name, id(obj))``
      (identity, as ``jit`` keys functions; `memoize` keeps the object alive meanwhile).
    """
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, (bool, int, float, complex)):
        return (type(obj).__name__, repr(obj))
    with _lock:
        hit = _memo.get(id(obj))
        if hit is not None and hit[0] is obj:
            _memo.move_to_end(id(obj))
            return hit[1]
    key = _compute_key(obj)
    with _lock:
        _memo[id(obj)] = (obj, key)  # holding obj keeps its id from being reused
        while len(_memo) > _FINGERPRINTS:
            _memo.popitem(last=False)
    return key


def memoize(builder: Callable, *objs: Any, **static: Any) -> Any:
    """``builder(*objs, **static)``, built once per math and reused.

    The key is ``builder`` itself, ``math_key`` of each of ``objs`` and of each static keyword
    value. A hit returns what was built from the first objects seen with that key (which are
    interchangeable with ``objs`` by construction of the key). At most ``MAXSIZE`` entries are
    kept, least recently used dropped first.

    Example: ``cache.memoize(_runner, model, loss, optimizer, reg, backprop="manual",
    ensemble=False)`` returns the same jitted runner for freshly built but identical objects,
    so ``jit`` finds its compiled program.
    """
    key = (
        builder,
        tuple(math_key(o) for o in objs),
        tuple(sorted((name, math_key(v)) for name, v in static.items())),
    )
    with _lock:
        hit = _entries.get(key)
        if hit is not None:
            _entries.move_to_end(key)
            _stats["hits"] += 1
            return hit[1]
    value = builder(*objs, **static)
    with _lock:
        _stats["misses"] += 1
        _entries[key] = ((objs, static), value)  # objs alive: identity keys stay unique
        while len(_entries) > MAXSIZE:
            _entries.popitem(last=False)
    return value


def explain(obj: Any) -> str | None:
    """Why ``obj`` is keyed by identity (what the fingerprint could not describe), or None."""
    if obj is None or isinstance(obj, (str, bool, int, float, complex)) or _spec_key(obj):
        return None
    try:
        hash(("fingerprint", _Walk().value(obj)))
    except _Unknown as e:
        return f"cannot fingerprint {e}"
    except (TypeError, ValueError, RecursionError) as e:
        return f"{type(e).__name__}: {e}"
    return None


def cache_info() -> CacheInfo:
    """Hits, misses and size of the `memoize` cache."""
    with _lock:
        return CacheInfo(_stats["hits"], _stats["misses"], len(_entries), MAXSIZE)


def clear() -> None:
    """Forget every memoized build and fingerprint (compiled programs go with them)."""
    with _lock:
        _entries.clear()
        _memo.clear()
        _stats.update(hits=0, misses=0)


def enable_persistent_cache(path: str, *, min_compile_time_secs: float = 0.0) -> bool:
    """Turn on JAX's on-disk compilation cache in ``path``, caching even tiny programs.

    For applications (test sessions, scripts); jaxnn itself never calls it. Call it before the
    first compile: JAX opens its cache once per process. Unreadable or corrupt entries are
    recompiled with a warning (``jax_raise_persistent_cache_errors`` stays off), so a stale
    cache costs time, never correctness; a directory that cannot be created or written leaves
    the cache off, with a warning.

    Args:
      path: cache directory (``~`` is expanded; created when missing).
      min_compile_time_secs: programs that compile faster are not written (JAX's default is
        1 s, which skips every program of a small network).

    Returns:
      True when the cache is on, False when ``path`` is unusable.
    """
    import jax

    directory = os.path.expanduser(str(path))
    try:  # JAX would raise at the first compile instead: fail here, softly
        os.makedirs(directory, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as e:
        message = f"compilation cache left off: {directory!r} is not writable ({e})"
        warnings.warn(message, stacklevel=2)
        return False
    jax.config.update("jax_compilation_cache_dir", directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_secs))
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    jax.config.update("jax_raise_persistent_cache_errors", False)
    return True


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


def _compute_key(obj: Any) -> Hashable:
    spec_key = _spec_key(obj)
    if spec_key is not None:
        return spec_key
    try:
        key = ("fingerprint", _Walk().value(obj))
        hash(key)
        return key
    except (_Unknown, TypeError, ValueError, RecursionError):  # see explain(obj)
        return ("id", type(obj).__qualname__, id(obj))


def _spec_key(obj: Any) -> Hashable | None:
    """``(type name, spec)`` for a jaxnn Layer/Loss/Regularizer with a hashable spec."""
    if not _is_jaxnn_object(obj):
        return None
    spec = getattr(obj, "spec", None)
    if spec is None:
        return None
    try:
        hash(spec)
    except TypeError:
        return None
    return (type(obj).__qualname__, spec)


def _is_jaxnn_object(obj: Any) -> bool:
    # Imported lazily: layers/losses must not depend on this module's import order.
    layers, losses = sys.modules.get("jaxnn.layers"), sys.modules.get("jaxnn.losses")
    kinds = tuple(
        t
        for t in (
            getattr(layers, "Layer", None),
            getattr(losses, "Loss", None),
            getattr(losses, "Regularizer", None),
        )
        if isinstance(t, type)
    )
    return bool(kinds) and isinstance(obj, kinds)


class _Walk:
    """One structural fingerprint: nested tuples of hashable, value-compared parts."""

    def __init__(self):
        self.budget = _BUDGET
        self.path: dict[int, int] = {}  # id -> depth, for objects being walked (cycles)

    def value(self, o: Any) -> Hashable:
        self.budget -= 1
        if self.budget < 0:
            raise _Unknown("too large")
        simple = _simple(o)
        if simple is not None:
            return simple
        if id(o) in self.path:  # a cycle: refer to the ancestor by its depth
            return ("cycle", self.path[id(o)])
        self.path[id(o)] = len(self.path)
        try:
            return self._compound(o)
        finally:
            del self.path[id(o)]

    def _compound(self, o: Any) -> Hashable:
        spec_key = _spec_key(o)
        if spec_key is not None:
            return ("spec", spec_key)
        if isinstance(o, types.FunctionType):
            return self._function(o)
        if isinstance(o, functools.partial):  # also jax.tree_util.Partial
            parts = (o.func, o.args, o.keywords)
            return ("partial", _type_name(o), *map(self.value, parts))
        if isinstance(o, types.MethodType):
            return ("method", self.value(o.__func__), self.value(o.__self__))
        if _is_custom_derivative(o):  # jax.custom_vjp / custom_jvp (jaxnn.manual_vjp uses one)
            names = sorted(k for k in vars(o) if not k.startswith("__"))
            return (_type_name(o), tuple((k, self.value(vars(o)[k])) for k in names))
        if type(o) in (tuple, list) or _is_namedtuple(o):  # optax's and jaxnn's NamedTuples
            return (_type_name(o), tuple(self.value(x) for x in o))
        if type(o) in (dict, OrderedDict):  # insertion order kept: another order is only a miss
            items = tuple((self.value(k), self.value(v)) for k, v in o.items())
            return (_type_name(o), items)
        if type(o) in (set, frozenset):
            return (_type_name(o), frozenset(self.value(x) for x in o))
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            # Every instance attribute, not only the declared fields (__post_init__ may add).
            state = vars(o) if hasattr(o, "__dict__") else {}
            names = sorted({f.name for f in dataclasses.fields(o)} | set(state))
            return (_type_name(o), tuple((n, self.value(getattr(o, n))) for n in names))
        # Other subclasses of dict/list (a defaultdict's factory, ...) and arbitrary objects:
        # their behaviour is not in their items.
        raise _Unknown(f"a {type(o).__qualname__} object")

    def _function(self, fn: types.FunctionType) -> Hashable:
        module = fn.__globals__.get("__name__", "")
        library = _is_library(module)
        if library and _named_global(fn) is not None:
            return ("global", module, fn.__qualname__)
        cells = []
        for cell in fn.__closure__ or ():
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell (a closure variable not yet assigned)
                cells.append(("empty-cell",))
                continue
            cells.append(self.value(contents))
        parts = [
            "function",
            module,
            fn.__code__,  # compares co_code, constants (typed), names, nested code, lines
            self.value(fn.__defaults__),
            self.value(fn.__kwdefaults__),
            tuple(cells),
        ]
        if fn.__dict__:  # attributes set on the function (functools.wraps' __wrapped__, ...)
            parts.append(self.value(dict(fn.__dict__)))
        if not library:  # a user's function may read module globals: key on their values
            parts.append(self._globals(fn))
        return tuple(parts)

    def _globals(self, fn: types.FunctionType) -> Hashable:
        names = sorted(_code_names(fn.__code__))
        builtins = fn.__globals__.get("__builtins__", {})
        found = []
        for name in names:
            if name in fn.__globals__:
                found.append((name, self.value(fn.__globals__[name])))
            elif not (isinstance(builtins, dict) and name in builtins):
                found.append((name, ("unbound",)))
        return tuple(found)


def _simple(o: Any) -> Hashable | None:
    """The key of a leaf value (number, string, module, dtype, array, named global), or None."""
    if o is None or isinstance(o, (str, bytes)):
        return ("const", o)
    if isinstance(o, (bool, int, float, complex)):
        return (type(o).__name__, repr(o))
    if isinstance(o, enum.Enum):
        return ("enum", _type_name(o), o.name)
    if isinstance(o, types.ModuleType):
        return ("module", o.__name__)
    if isinstance(o, np.dtype):
        return ("dtype", str(o))
    if isinstance(o, types.CodeType):
        return ("code", o)
    if _is_array(o):
        return _array_key(o)
    if isinstance(o, (type, types.BuiltinFunctionType, np.ufunc)) or (
        callable(o) and not isinstance(o, (types.FunctionType, types.MethodType))
    ):
        named = _named_global(o)
        if named is not None and (isinstance(o, type) or _is_library(named[0])):
            return ("global", *named)
        if isinstance(o, (type, types.BuiltinFunctionType, np.ufunc)):
            raise _Unknown(repr(o))
    return None


def _is_namedtuple(o: Any) -> bool:
    return isinstance(o, tuple) and isinstance(getattr(type(o), "_fields", None), tuple)


def _is_custom_derivative(o: Any) -> bool:
    t = type(o)
    return t.__module__ == "jax._src.custom_derivatives" and t.__name__ in (
        "custom_vjp",
        "custom_jvp",
    )


def _is_array(o: Any) -> bool:
    if isinstance(o, (np.ndarray, np.generic)):
        return True
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(o, jax.Array)


def _array_key(a: Any) -> Hashable:
    jax = sys.modules.get("jax")
    if jax is not None and isinstance(a, jax.core.Tracer):
        raise _Unknown("a traced array")  # its value is unknown until the trace runs
    weak = bool(getattr(a, "weak_type", False))
    dtype = str(a.dtype)  # for PRNG key arrays, e.g. "key<fry>": the implementation counts
    if jax is not None and jax.dtypes.issubdtype(a.dtype, jax.dtypes.extended):
        a = jax.random.key_data(a)
    host = np.asarray(a)  # a jax.Array not fully addressable raises: identity fallback
    if host.dtype == object:
        raise _Unknown("an object array")  # its bytes are pointers, not values
    digest = hashlib.blake2b(np.ascontiguousarray(host).tobytes(), digest_size=16).hexdigest()
    return ("array", type(a).__qualname__, dtype, host.shape, weak, digest)


def _named_global(o: Any) -> tuple[str, str] | None:
    """``(module, qualname)`` when ``o`` is what that dotted name resolves to right now."""
    module = getattr(o, "__module__", None)
    name = getattr(o, "__qualname__", None) or getattr(o, "__name__", None)
    if not isinstance(module, str) or not isinstance(name, str) or "<" in name:
        return None
    target = sys.modules.get(module)
    for part in name.split("."):
        target = getattr(target, part, None)
    return (module, name) if target is o else None


def _is_library(module: str) -> bool:
    return module.split(".", 1)[0] in _LIBRARIES


def _type_name(o: Any) -> str:
    t = type(o)
    if _named_global(t) is None and not _is_library(t.__module__):
        raise _Unknown(f"a local class {t.__qualname__}")  # two local classes may share a name
    return f"{t.__module__}.{t.__qualname__}"


def _code_names(code: types.CodeType) -> set[str]:
    """Every global/attribute name the code or its nested code objects mention."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names
