"""jaxnn.io: exact round trips, one file at exactly `path`, atomic writes, clear errors."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnn import io


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
