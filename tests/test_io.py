"""jaxnn.io: exact round trips, one file at exactly `path`, atomic writes, clear errors."""

import json
import os
import pathlib
import re
import select
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxnn
from jaxnn import atomic_file, io


def nested_params(dtype):
    """A params tree using every supported container, with awkward shapes and values."""
    w = jnp.asarray(np.linspace(-1, 1, 6).reshape(2, 3) / 3, dtype=dtype)
    return (
        {"w": w, "b": jnp.asarray([np.pi, -0.0, 1e-30], dtype=dtype)},
        (),
        None,
        [jnp.arange(4, dtype=jnp.int32), {"flag": jnp.asarray([True, False])}],
        {"z": jnp.zeros((0, 5), dtype), "scalar": jnp.asarray(2.5, dtype), "a": ((), [None])},
    )


def assert_identical(got, want):
    """Same containers (exact types, dict key order) and bit-identical leaves with same dtype."""
    if isinstance(want, dict | tuple | list) or want is None:
        assert type(got) is type(want), (type(got), type(want))
    if isinstance(want, dict):
        assert list(got) == list(want)
        for k in want:
            assert_identical(got[k], want[k])
    elif isinstance(want, tuple | list):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert_identical(g, w)
    elif want is None:
        assert got is None
    else:
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes()


def test_round_trip_float32(tmp_path):
    params = nested_params(jnp.float32)
    path = tmp_path / "params.npz"
    io.save(path, params)
    loaded = io.load(path)
    assert_identical(loaded, params)
    assert all(isinstance(leaf, jax.Array) for leaf in jax.tree.leaves(loaded))


def test_round_trip_float64(tmp_path):
    path = tmp_path / "params64.npz"
    with jax.enable_x64(True):
        params = nested_params(jnp.float64)
        # A value float32 cannot hold: it must come back exactly.
        params[0]["b"] = params[0]["b"].at[2].set(1 / 3)
        io.save(path, params)
        loaded = io.load(path)
        assert_identical(loaded, params)
        assert loaded[0]["w"].dtype == jnp.float64
        assert isinstance(loaded[0]["w"], jax.Array)


def test_float64_without_x64_comes_back_as_numpy(tmp_path):
    path = tmp_path / "p"
    with jax.enable_x64(True):
        params = {"w": jnp.asarray([1 / 3, 2 / 3], jnp.float64), "n": jnp.asarray([1], jnp.int32)}
        io.save(path, params)
    loaded = io.load(path)
    assert isinstance(loaded["w"], np.ndarray) and loaded["w"].dtype == np.float64
    assert loaded["w"][0] == 1 / 3
    assert isinstance(loaded["n"], jax.Array) and loaded["n"].dtype == jnp.int32


def test_bfloat16_and_numpy_leaves(tmp_path):
    params = {
        "bf": jnp.asarray([1.5, -2.25, 3e38], jnp.bfloat16),
        "np": np.asarray([[1, 2]], np.uint8),
        "f16": np.asarray([0.1], np.float16),
    }
    io.save(tmp_path / "p", params)
    assert_identical(io.load(tmp_path / "p"), params)


def test_file_lands_exactly_at_path(tmp_path):
    path = tmp_path / "sub" / "checkpoint"
    io.save(path, (jnp.ones(2),))
    assert sorted(os.listdir(tmp_path / "sub")) == ["checkpoint"]
    assert_identical(io.load(str(path)), (jnp.ones(2),))


def test_save_overwrites(tmp_path):
    path = tmp_path / "p"
    io.save(path, {"a": jnp.ones(3)})
    io.save(path, [jnp.zeros(2, jnp.int32)])
    assert_identical(io.load(path), [jnp.zeros(2, jnp.int32)])
    assert os.listdir(tmp_path) == ["p"]


@pytest.mark.parametrize(
    "bad",
    [
        {1: jnp.ones(1)},  # non-str key
        {"a": 1.0},  # Python scalar, not an array
        {"a": "text"},
        (jnp.ones(1), {"s": {1, 2}}),
    ],
)
def test_save_rejects_what_it_cannot_round_trip(tmp_path, bad):
    with pytest.raises(TypeError):
        io.save(tmp_path / "p", bad)
    assert os.listdir(tmp_path) == []


def test_save_rejects_namedtuple(tmp_path):
    from typing import NamedTuple

    class P(NamedTuple):
        w: jax.Array

    with pytest.raises(TypeError, match="P"):
        io.save(tmp_path / "p", P(jnp.ones(1)))


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        io.load(tmp_path / "nope")


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_random_bytes_and_empty_file(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="not a"):
        io.load(_write(tmp_path / "r", rng.bytes(2000)))
    with pytest.raises(ValueError, match="not a"):
        io.load(_write(tmp_path / "e", b""))


@pytest.mark.parametrize("keep", [0.2, 0.5, 0.9, 0.99])
def test_truncated_file(tmp_path, keep):
    path = tmp_path / "p"
    io.save(path, nested_params(jnp.float32))
    data = path.read_bytes()
    with pytest.raises(ValueError, match="corrupt or truncated"):
        io.load(_write(tmp_path / "t", data[: int(len(data) * keep)]))


def test_corrupted_leaf_bytes(tmp_path):
    path = tmp_path / "p"
    io.save(path, {"w": jnp.arange(64, dtype=jnp.float32)})
    data = bytearray(path.read_bytes())
    # Flip a byte inside the leaf's data (the float 10.0 in little-endian).
    at = data.index(np.float32(10.0).tobytes())
    data[at] ^= 0xFF
    with pytest.raises(ValueError):
        io.load(_write(tmp_path / "c", bytes(data)))


def test_unrelated_npz_and_npy(tmp_path):
    with open(tmp_path / "other.npz", "wb") as f:
        np.savez(f, a=np.ones(3))
    with pytest.raises(ValueError, match="marker"):
        io.load(tmp_path / "other.npz")
    with open(tmp_path / "one.npy", "wb") as f:
        np.save(f, np.ones(3))
    with pytest.raises(ValueError, match="npz"):
        io.load(tmp_path / "one.npy")


def _save_with_meta(path, meta, **arrays):
    raw = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(path, "wb") as f:
        np.savez(f, __jaxnn__=raw, **arrays)
    return path


def test_wrong_version_and_bad_descriptions(tmp_path):
    leaf = {"t": "leaf", "index": 0, "dtype": "float32", "shape": [2], "raw": False}
    good = {"format": "jaxnn.params", "version": 1, "tree": leaf}
    ok = _save_with_meta(tmp_path / "ok", good, leaf_0=np.ones(2, np.float32))
    np.testing.assert_array_equal(io.load(ok), [1, 1])  # the hand-made file is valid

    cases = {
        "version": ({**good, "version": 99}, {"leaf_0": np.ones(2, np.float32)}),
        "format": ({**good, "format": "other"}, {"leaf_0": np.ones(2, np.float32)}),
        "dtype": (good, {"leaf_0": np.ones(2, np.float64)}),
        "shape": (good, {"leaf_0": np.ones(3, np.float32)}),
        "missing": (good, {}),
        "extra": (good, {"leaf_0": np.ones(2, np.float32), "leaf_1": np.ones(1)}),
        "node": ({**good, "tree": {"t": "set"}}, {}),
    }
    messages = {"version": "version 99", "format": "not a jaxnn params file"}
    for name, (meta, arrays) in cases.items():
        path = _save_with_meta(tmp_path / name, meta, **arrays)
        with pytest.raises(ValueError, match=messages.get(name, "params file")):
            io.load(path)


def test_interrupted_save_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "params"
    old = {"w": jnp.arange(5, dtype=jnp.float32)}
    io.save(path, old)
    before = path.read_bytes()

    def crash_midway(f, arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt  # even a non-Exception interruption must clean up

    monkeypatch.setattr(io, "_write_npz", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        io.save(path, {"w": jnp.zeros(5)})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["params"]
    assert_identical(io.load(path), old)


def test_failed_replace_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "params"

    def failing_replace(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(io.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        io.save(path, (jnp.ones(1),))
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------------------------
# Paths: any valid path works; bad ones are refused clearly, naming the user's path
# --------------------------------------------------------------------------------------------


def leftovers(directory, *keep):
    """Everything in ``directory`` except ``keep``: temporary files a save left behind."""
    return sorted(set(os.listdir(directory)) - set(keep))


@pytest.mark.parametrize(
    "path, error, words",
    [
        ("", ValueError, "path is empty"),
        (3, TypeError, "str or os.PathLike"),
        (None, TypeError, "str or os.PathLike"),
        ({"w": 1}, TypeError, "str or os.PathLike"),
        ("a\0b", ValueError, "NUL"),
    ],
)
def test_bad_paths(tmp_path, monkeypatch, path, error, words):
    monkeypatch.chdir(tmp_path)
    for call in (lambda: io.save(path, {"w": jnp.ones(1)}), lambda: io.load(path)):
        with pytest.raises(error, match=re.escape(words)):
            call()
    assert os.listdir(tmp_path) == []


def test_swapped_save_arguments(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TypeError, match=re.escape("got dict (the arguments are (path, params))")):
        io.save({"w": jnp.ones(1)}, "p")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("as_path", [str, pathlib.Path])
def test_directory_paths(tmp_path, as_path):
    for path in (as_path(tmp_path), str(tmp_path / "missing") + os.sep):
        with pytest.raises(ValueError, match="is a directory.*os.path.join"):
            io.save(path, {"w": jnp.ones(1)})
        with pytest.raises(ValueError, match="is a directory"):
            io.load(path)
    assert os.listdir(tmp_path) == []


def test_long_file_name(tmp_path):
    name = "n" * 250  # the old temp name, "." + name + ".<12 hex>.tmp", overflowed NAME_MAX
    params = nested_params(jnp.float32)
    io.save(tmp_path / name, params)
    io.save(tmp_path / name, params)  # overwriting too
    assert_identical(io.load(tmp_path / name), params)
    assert os.listdir(tmp_path) == [name]


def test_names_without_a_directory_and_relative_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = {"w": jnp.arange(3.0)}
    io.save("p.npz", params)
    io.save(os.path.join("sub", "deeper", "q"), params)
    assert_identical(io.load("p.npz"), params)
    assert_identical(io.load(pathlib.Path("sub") / "deeper" / "q"), params)
    assert sorted(os.listdir(tmp_path)) == ["p.npz", "sub"]
    assert os.listdir(tmp_path / "sub" / "deeper") == ["q"]


def test_os_errors_name_the_users_path_not_the_temp_file(tmp_path):
    too_long = str(tmp_path / ("x" * 300))
    with pytest.raises(OSError, match="File name too long") as info:
        io.save(too_long, {"w": jnp.ones(1)})
    assert too_long in str(info.value) and ".jaxnn-" not in str(info.value)
    assert info.value.filename == too_long and info.value.__cause__ is None
    assert os.listdir(tmp_path) == []

    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="parent of the path is a file"):
        io.save(tmp_path / "file" / "p", {"w": jnp.ones(1)})
    with pytest.raises(FileNotFoundError, match="missing") as info:
        io.load(tmp_path / "missing")
    assert info.value.filename == str(tmp_path / "missing")


@pytest.mark.parametrize(
    "params, words",
    [
        (jaxnn.mlp([2, 3, 1]), "got the layer mlp"),
        (1.5, "jnp.asarray(1.5)"),
        ({"w": jnp.ones(2), "b": 0}, "got int at params['b']"),
        ([jnp.ones(1), print], "function"),
        ("weights", "got str at params"),
    ],
)
def test_params_that_are_not_a_tree_of_arrays(tmp_path, params, words):
    with pytest.raises(TypeError, match=re.escape(words)):
        io.save(tmp_path / "p", params)
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------------------------
# Temporary files: a killed save leaves at most its own, and the next save or load removes it
# --------------------------------------------------------------------------------------------


def stale_temp(directory, name):
    """A temporary file as a save killed mid-write leaves it (unlocked), for ``name``."""
    target = os.path.join(str(directory), name)
    fd, tmp = atomic_file._create_locked_temp(target)
    os.write(fd, b"PK\x03\x04 half an archive")
    os.close(fd)  # what the kernel does when the writer dies: the lock goes
    return os.path.basename(tmp)


def test_stale_temp_files_are_removed_by_the_next_save_or_load(tmp_path):
    params = {"w": jnp.arange(4.0)}
    io.save(tmp_path / "p", params)
    stale = stale_temp(tmp_path, "p")
    other = stale_temp(tmp_path, "other")  # another target's temp file is not ours to remove
    assert len(stale) < 40 and leftovers(tmp_path, "p") == sorted([stale, other])
    assert_identical(io.load(tmp_path / "p"), params)
    assert leftovers(tmp_path, "p") == [other]

    stale = stale_temp(tmp_path, "p")
    io.save(tmp_path / "p", params)
    assert leftovers(tmp_path, "p") == [other]
    with pytest.raises(FileNotFoundError):  # a load that fails still cleans up
        io.load(tmp_path / "other")
    assert leftovers(tmp_path, "p") == []


def test_a_save_in_progress_keeps_its_temp_file(tmp_path):
    # A live writer holds a lock on its temp file: another save or load must leave it alone.
    fd, tmp = atomic_file._create_locked_temp(str(tmp_path / "p"))
    try:
        io.save(tmp_path / "p", {"w": jnp.ones(2)})
        io.load(tmp_path / "p")
        assert os.path.exists(tmp)
    finally:
        os.close(fd)
    io.load(tmp_path / "p")
    assert os.listdir(tmp_path) == ["p"]


CHILD = """
import io as bytes_io, sys, time
import numpy as np
from jaxnn import io

path, mode = sys.argv[1], sys.argv[2]
params = {"w": np.arange(4_000_000, dtype=np.float32).reshape(2000, 2000), "n": np.ones(3)}
if mode == "half":  # write half of the archive, then hang until killed
    def half(f, arrays):
        buffer = bytes_io.BytesIO()
        np.savez(buffer, **arrays)
        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        f.flush()
        print("HALF", flush=True)
        time.sleep(600)
    io._write_npz = half
    io.save(path, params)
else:  # save for ever once told to start, to be killed wherever it is
    print("READY", flush=True)
    sys.stdin.readline()
    while True:
        io.save(path, params)
"""


def child_params():
    return {"w": np.arange(4_000_000, dtype=np.float32).reshape(2000, 2000), "n": np.ones(3)}


def start_child(path, mode):
    root = pathlib.Path(__file__).resolve().parents[1]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_line(proc, timeout=300):
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the child did not report in time"
    return proc.stdout.readline().strip()


def kill(proc):
    """SIGKILL ``proc`` (if still running) and reap it."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    proc.stdin.close()
    proc.stdout.close()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkilled_saves_keep_the_old_file_and_leave_no_lasting_temp_file(tmp_path):
    name = "k" * 250  # long names and kills together
    path = tmp_path / name
    old = {"w": jnp.arange(10, dtype=jnp.float32), "s": (jnp.ones(2, jnp.int32),)}
    io.save(path, old)
    # Started together (one wait for their imports): three saves that hang half written, and
    # one that saves in a loop. They also test that no save removes another's live temp file.
    halves = [start_child(path, "half") for _ in range(3)]
    looper = start_child(path, "loop")
    try:
        assert [read_line(child) for child in halves] == ["HALF"] * 3
        live = leftovers(tmp_path, name)
        assert len(live) == 3 and all(len(temp) < 40 for temp in live)
        assert read_line(looper) == "READY"
        looper.stdin.write("go\n")
        looper.stdin.flush()
        time.sleep(0.3)
        kill(looper)  # mid-write (almost surely): the file is the old one or its, whole
        assert len(leftovers(tmp_path, name)) <= 4
        loaded = io.load(path)
        assert leftovers(tmp_path, name) == live
        assert_identical(loaded, old if loaded["w"].shape == (10,) else child_params())
        io.save(path, old)

        for i, child in enumerate(halves):
            assert path.read_bytes()[:2] == b"PK"
            assert_identical(io.load(path), old)  # live saves' temp files are not touched
            assert leftovers(tmp_path, name) == live
            kill(child)
            assert leftovers(tmp_path, name) == live  # dead: at most its own temp file is left
            live = leftovers(tmp_path, name)
            if i % 2:
                io.save(path, old)
            else:
                assert_identical(io.load(path), old)
            assert len(leftovers(tmp_path, name)) == len(live) - 1
            live = leftovers(tmp_path, name)
        assert live == []
        assert_identical(io.load(path), old)
    finally:
        for child in [*halves, looper]:
            kill(child)


# --------------------------------------------------------------------------------------------
# Whole networks: save(model=...) / load_model
# --------------------------------------------------------------------------------------------

L = jaxnn.layers

BUILT_IN_MODELS = {
    # name: (model, input_shape to pass to save, or None to let save infer it from "w")
    "Dense": (lambda: L.Dense(3), None),
    "Dense-no-bias": (lambda: L.Dense(3, use_bias=False), None),
    "Dense-he-uniform": (
        lambda: L.Dense(
            2, w_init=jax.nn.initializers.he_uniform(), b_init=jax.nn.initializers.ones
        ),
        None,
    ),
    "Sigmoid": (lambda: L.Sigmoid(), (4,)),
    "Tanh": (lambda: L.Tanh(), (4,)),
    "ReLU": (lambda: L.ReLU(), (4,)),
    "Softmax": (lambda: L.Softmax(), (4,)),
    "Identity": (lambda: L.Identity(), (4,)),
    "Step": (lambda: L.Step(0.25), (4,)),
    "Dropout": (lambda: L.Dropout(0.3), (4,)),
    "LeakyReLU": (lambda: L.LeakyReLU(0.2), (4,)),
    "ELU": (lambda: L.ELU(0.5), (4,)),
    "Softplus": (lambda: L.Softplus(), (4,)),
    "serial": (
        lambda: L.serial(L.Dense(5), L.Tanh(), L.Dropout(0.1), L.Dense(2), L.Softmax()),
        None,
    ),
    "mlp": (lambda: L.mlp([4, 3, 2]), None),
    "mlp-options": (
        lambda: L.mlp(
            [4, 5, 3, 2],
            activation="leaky_relu",
            output_activation="softmax",
            use_bias=False,
            dropout=0.25,
        ),
        None,
    ),
    "mlp-layer-activations": (
        lambda: L.mlp([4, 3, 1], activation=L.ELU(2.0), output_activation=L.Sigmoid()),
        (4,),
    ),
}


def run(model, params, x, key=None):
    return L.apply_layer(model, params, x, key=key)


@pytest.mark.parametrize("name", list(BUILT_IN_MODELS))
def test_whole_network_round_trip_for_every_built_in_layer(tmp_path, name):
    build, input_shape = BUILT_IN_MODELS[name]
    model = build()
    _, params = model.init(jax.random.PRNGKey(1), (4,))
    io.save(tmp_path / "net", params, model=model, input_shape=input_shape)
    loaded_model, loaded_params = io.load_model(tmp_path / "net")

    assert loaded_model == model and hash(loaded_model) == hash(model)
    assert repr(loaded_model) == repr(model)
    assert_identical(loaded_params, params)
    assert_identical(io.load(tmp_path / "net"), params)  # params alone, as before
    x = jax.random.normal(jax.random.PRNGKey(2), (3, 4))
    want, got = run(model, params, x), run(loaded_model, loaded_params, x)
    assert np.asarray(got).tobytes() == np.asarray(want).tobytes()
    if model.stochastic:  # the same key draws the same masks in the rebuilt model
        key = jax.random.PRNGKey(3)
        want, got = run(model, params, x, key), run(loaded_model, loaded_params, x, key)
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes()
        assert not np.array_equal(got, run(model, params, x))
    meta = stored_meta(tmp_path / "net")
    assert meta["version"] == 2 and meta["model"]["input_shape"] == [4]
    assert meta["model"]["spec"] == json.loads(json.dumps(model.spec))


def stored_meta(path):
    with np.load(path, allow_pickle=False) as data:
        return json.loads(data["__jaxnn__"].tobytes())


def test_whole_network_in_float64_is_exact(tmp_path):
    with jax.enable_x64(True):
        model = L.mlp([2, 3, 1], activation="tanh", dtype=jnp.float64)
        _, params = model.init(jax.random.PRNGKey(0), (2,))
        io.save(tmp_path / "net", params, model=model)
        loaded_model, loaded_params = io.load_model(tmp_path / "net")
        assert loaded_model == model
        assert_identical(loaded_params, params)
        assert loaded_params[0]["w"].dtype == jnp.float64


def test_params_only_file_is_version_1_and_load_model_refuses_it(tmp_path):
    io.save(tmp_path / "p", {"w": jnp.ones((2, 3))})
    assert stored_meta(tmp_path / "p")["version"] == 1  # jaxnn 0.1 still reads it
    with pytest.raises(ValueError, match=r"params only, no model.*io\.load\("):
        io.load_model(tmp_path / "p")


def test_version_1_file_made_by_hand_loads(tmp_path):
    leaf = {"t": "leaf", "index": 0, "dtype": "float32", "shape": [2, 1], "raw": False}
    tree = {"t": "tuple", "items": [{"t": "dict", "keys": ["w"], "items": [leaf]}]}
    meta = {"format": "jaxnn.params", "version": 1, "tree": tree}
    path = _save_with_meta(tmp_path / "v1", meta, leaf_0=np.full((2, 1), 0.5, np.float32))
    params = io.load(path)
    assert_identical(params, ({"w": jnp.full((2, 1), 0.5)},))
    model = L.serial(L.Dense(1, use_bias=False))
    assert_identical(io.load(path, model=model), params)  # checked against a model
    with pytest.raises(ValueError, match="no model"):
        io.load_model(path)


def test_input_shape_is_inferred_or_asked_for(tmp_path):
    model = L.serial(L.Tanh(), L.Dense(2))
    _, params = model.init(jax.random.PRNGKey(0), (3,))
    io.save(tmp_path / "a", params, model=model)  # inferred from the first "w": (3,)
    assert stored_meta(tmp_path / "a")["model"]["input_shape"] == [3]
    with pytest.raises(ValueError, match=re.escape("input_shape=(n_features,)")):
        io.save(tmp_path / "b", (), model=L.Sigmoid())
    for bad in [(0,), "3", (2.5,), (True,)]:
        with pytest.raises(TypeError, match="input_shape"):
            io.save(tmp_path / "b", (), model=L.Sigmoid(), input_shape=bad)
    with pytest.raises(TypeError, match="model="):
        io.save(tmp_path / "b", (), input_shape=(3,))
    assert sorted(os.listdir(tmp_path)) == ["a"]


def scale_layer(features: int, start: float = 1.0):
    """A user layer: a learned per-feature scale."""

    def init(key, input_shape):
        if input_shape[-1] != features:
            raise ValueError(f"Scale: expected {features} features, got {input_shape}")
        return tuple(input_shape), {"s": jnp.full((features,), start, jnp.float32)}

    def apply(params, x):
        if params["s"].shape != (features,):
            raise ValueError(f"Scale: params['s'] should be ({features},), got {params['s'].shape}")
        return x * params["s"]

    def vjp(params, x):
        y = apply(params, x)
        return y, lambda dy: (
            {"s": jnp.sum(dy * x, axis=tuple(range(x.ndim - 1)))},
            dy * params["s"],
        )

    return jaxnn.Layer(init, apply, vjp, name=f"Scale({features})")


Scale = jaxnn.register_layer("tests.test_io.Scale", scale_layer)


def test_whole_network_with_a_registered_user_layer(tmp_path):
    model = L.serial(L.Dense(3), Scale(3, start=2.0), L.Tanh())
    _, params = model.init(jax.random.PRNGKey(0), (2,))
    io.save(tmp_path / "net", params, model=model)
    loaded_model, loaded_params = io.load_model(tmp_path / "net")
    assert loaded_model == model
    assert_identical(loaded_params, params)
    x = jnp.asarray([[0.5, -1.0]])
    np.testing.assert_array_equal(run(loaded_model, loaded_params, x), run(model, params, x))


def test_loading_a_user_layer_that_is_not_registered_says_how(tmp_path, monkeypatch):
    model = L.serial(L.Dense(3), Scale(3))
    _, params = model.init(jax.random.PRNGKey(0), (2,))
    io.save(tmp_path / "net", params, model=model)
    monkeypatch.delitem(jaxnn.spec.REGISTRY, "tests.test_io.Scale")  # a fresh process
    with pytest.raises(ValueError, match=r"cannot rebuild.*register_layer\('tests.test_io.Scale'"):
        io.load_model(tmp_path / "net")
    assert_identical(io.load(tmp_path / "net"), params)  # the params are still readable


@pytest.mark.parametrize(
    "model, culprit",
    [
        (L.serial(L.Dense(3), scale_layer(3)), "Scale(3)"),  # unregistered user layer
        (scale_layer(2), "Scale(2)"),
        (L.Dense(3, w_init=lambda key, shape, dtype: jnp.ones(shape, dtype)), "Dense(3)"),
        (L.mlp([2, 3, 1], w_init=lambda key, shape, dtype: jnp.ones(shape, dtype)), "Dense(3)"),
    ],
)
def test_saving_a_model_without_spec_says_why_and_how(tmp_path, model, culprit):
    _, params = model.init(jax.random.PRNGKey(0), (2,))
    with pytest.raises(ValueError, match="no spec") as info:
        io.save(tmp_path / "net", params, model=model, input_shape=(2,))
    message = str(info.value)
    assert culprit in message and "jaxnn.register_layer" in message
    assert "custom initializer" in message and "io.save(path, params)" in message
    assert os.listdir(tmp_path) == []


def test_save_refuses_a_model_that_is_not_a_layer(tmp_path):
    with pytest.raises(TypeError, match="model must be a jaxnn Layer"):
        io.save(tmp_path / "net", {"w": jnp.ones((2, 1))}, model="mlp")


def test_params_that_do_not_fit_the_model_are_never_saved(tmp_path):
    _, params = L.mlp([2, 4, 2]).init(jax.random.PRNGKey(0), (2,))
    with pytest.raises(jaxnn.ParamsError, match=r"\[0\]"):
        io.save(tmp_path / "net", params, model=L.mlp([2, 3, 2]))
    _, no_bias = L.Dense(3, use_bias=False).init(jax.random.PRNGKey(0), (2,))
    with pytest.raises(jaxnn.ParamsError, match=re.escape("missing ['b']")):
        io.save(tmp_path / "net", no_bias, model=L.Dense(3))
    _, biased = L.Dense(3).init(jax.random.PRNGKey(0), (2,))
    with pytest.raises(jaxnn.ParamsError, match=re.escape("unexpected ['b']")):
        io.save(tmp_path / "net", biased, model=L.Dense(3, use_bias=False))
    assert os.listdir(tmp_path) == []


def rewrite_meta(path, change):
    """Edit the metadata of a saved file in place (a file tampered with, or by another tool)."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(arrays.pop("__jaxnn__").tobytes())
    change(meta)
    return _save_with_meta(path, meta, **arrays)


def test_a_stored_spec_that_does_not_match_the_params_is_the_params_check_error(tmp_path):
    model = L.mlp([2, 3, 2])
    _, params = model.init(jax.random.PRNGKey(0), (2,))
    io.save(tmp_path / "net", params, model=model)

    def wider(meta):
        meta["model"]["spec"] = json.loads(json.dumps(L.mlp([2, 5, 2]).spec))

    rewrite_meta(tmp_path / "net", wider)
    with pytest.raises(jaxnn.ParamsError, match=r"\[0\]\.w") as info:
        io.load_model(tmp_path / "net")
    assert any("net" in note for note in info.value.__notes__)

    def malformed(meta):
        meta["model"]["input_shape"] = "two"

    rewrite_meta(tmp_path / "net", malformed)
    with pytest.raises(ValueError, match="malformed model entry"):
        io.load(tmp_path / "net")


def test_load_with_a_model_checks_the_params_and_the_stored_model(tmp_path):
    model = L.mlp([2, 3, 2])
    _, params = model.init(jax.random.PRNGKey(0), (2,))
    io.save(tmp_path / "params", params)
    io.save(tmp_path / "net", params, model=model)
    assert_identical(io.load(tmp_path / "params", model=model), params)
    assert_identical(io.load(tmp_path / "net", model=model), params)
    with pytest.raises(jaxnn.ParamsError, match=r"\[0\]\.w"):
        io.load(tmp_path / "params", model=L.mlp([2, 4, 2]))
    # Same shapes, other math: the file says which model it holds.
    with pytest.raises(ValueError, match=r"different model.*load_model"):
        io.load(tmp_path / "net", model=L.mlp([2, 3, 2], activation="tanh"))
