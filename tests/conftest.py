"""Test-session setup and shared helpers.

* JAX's persistent compilation cache is on for the session (and, through the environment, for
  the subprocesses tests start), in ``.pytest_cache/d/jax``: the suite is compile-bound, so a
  second run loads most programs from disk. ``JAXNN_TEST_CACHE=0`` turns it off; any other
  value is used as the cache directory. A corrupt or stale entry is recompiled with a warning,
  never an error (jaxnn.cache.enable_persistent_cache).
* `count_compiles()`: names of the XLA programs compiled inside a ``with`` block.
* chex-based tree comparisons (`assert_trees_close`, `assert_same_dtypes`), a ``variant``
  fixture running a test jitted and not jitted, and an ``x64`` fixture.

Import the helpers with ``from conftest import count_compiles`` (pytest puts ``tests/`` on the
path).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pathlib

import chex
import jax
import pytest
from jax import monitoring

from jaxnn import cache

BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"  # every in-memory cache miss
PERSISTENT_HIT = "/jax/compilation_cache/cache_hits"  # ... of which were loaded from disk


# --------------------------------------------------------------------------------------------
# Persistent compilation cache for the session
# --------------------------------------------------------------------------------------------


def _cache_dir(config) -> pathlib.Path | None:
    setting = os.environ.get("JAXNN_TEST_CACHE", "")
    if setting == "0":
        return None
    if setting:
        return pathlib.Path(setting)
    if getattr(config, "cache", None) is not None:  # pytest's own .pytest_cache (cacheprovider)
        return pathlib.Path(config.cache.mkdir("jax"))
    return pathlib.Path.home() / ".cache" / "jaxnn-tests"


def pytest_configure(config):
    path = _cache_dir(config)
    if path is None or not cache.enable_persistent_cache(str(path)):
        return  # off, or the directory is unusable (warned): tests run, only slower
    env = {
        "JAX_COMPILATION_CACHE_DIR": str(path),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1",
    }
    if importlib.util.find_spec("filelock") is not None:
        # A size bound makes JAX lock the directory: concurrent sessions never read a file
        # another is still writing, and the cache cannot grow without end.
        env["JAX_COMPILATION_CACHE_MAX_SIZE"] = str(2 * 1024**3)
        jax.config.update("jax_compilation_cache_max_size", 2 * 1024**3)
    for name, value in env.items():  # subprocesses (CLI, sharding) share the cache
        os.environ.setdefault(name, value)


# --------------------------------------------------------------------------------------------
# Compile counting
# --------------------------------------------------------------------------------------------


class Compiles(list):
    """Names of the programs compiled in a block (e.g. ``"jit(run)"``), in order.

    ``persistent_hits`` counts how many of them were loaded from the on-disk cache instead of
    being built by XLA; either way each one is a miss of jit's in-memory cache.
    """

    persistent_hits: int = 0


@contextlib.contextmanager
def count_compiles():
    """Record every XLA compile (jax's backend-compile event) inside the ``with`` block.

    Example::

        with count_compiles() as compiled:
            f(x)
        assert compiled == []  # f was already compiled for x's shapes
    """
    compiled = Compiles()

    def on_duration(event, duration, **kwargs):
        if event == BACKEND_COMPILE:
            compiled.append(kwargs.get("fun_name", "?"))

    def on_event(event, **kwargs):
        if event == PERSISTENT_HIT:
            compiled.persistent_hits += 1

    monitoring.register_event_duration_secs_listener(on_duration)
    monitoring.register_event_listener(on_event)
    try:
        yield compiled
    finally:
        monitoring.unregister_event_duration_listener(on_duration)
        monitoring.unregister_event_listener(on_event)


@pytest.fixture
def compiles():
    """The `count_compiles` context manager, as a fixture."""
    return count_compiles


# --------------------------------------------------------------------------------------------
# chex-based helpers
# --------------------------------------------------------------------------------------------


def assert_trees_close(actual, expected, *, rtol=1e-6, atol=1e-6):
    """Same structure, shapes and values within ``rtol``/``atol`` (chex names the leaf)."""
    chex.assert_trees_all_equal_structs(actual, expected)
    chex.assert_trees_all_close(actual, expected, rtol=rtol, atol=atol)


def assert_same_dtypes(actual, expected):
    """Same structure and, leaf by leaf, the same dtypes."""
    chex.assert_trees_all_equal_dtypes(actual, expected)


@pytest.fixture(params=["jit", "nojit"])
def variant(request):
    """Run the test twice: ``variant(fn)`` is ``jax.jit(fn)``, then ``fn`` itself."""
    if request.param == "jit":
        return jax.jit
    return lambda fn, **_: fn


@pytest.fixture
def x64():
    """Float64 enabled for the test's duration (and restored after)."""
    with jax.enable_x64(True):
        yield
