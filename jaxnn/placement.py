"""Putting arrays on a 1-D device mesh: the members of an ensemble, or the batch of a run.

Arrays are built with `jax.make_array_from_callback` from host copies, so the same call works
with one process and under ``jax.distributed.initialize()``, where every process passes the
same full arrays and holds only its own devices' shards. The mesh's axis is ``Auto``
(`jax.make_mesh` defaults to ``Explicit``, under which a contraction over a sharded batch axis,
e.g. Dense's hand-written ``dw = tensordot(x, dy)``, would need explicit ``out_sharding``s);
with ``Auto`` XLA contracts each shard locally and adds one all-reduce per gradient.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec


def device_list(devices, who: str) -> list:
    """``devices`` as a non-empty list (default ``jax.devices()``)."""
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError(f"{who}: devices=[] names no device; pass None for jax.devices()")
    return devices


def mesh_1d(devices, axis: str) -> Mesh:
    return Mesh(np.array(devices), (axis,), axis_types=(AxisType.Auto,))


def sharded(mesh: Mesh, axis: str | None) -> NamedSharding:
    """Split the leading axis over the mesh (``axis``), or replicate (``None``)."""
    return NamedSharding(mesh, PartitionSpec(axis) if axis else PartitionSpec())


def put(tree, sharding: NamedSharding):
    """Every leaf of ``tree`` placed with ``sharding`` (PRNG keys included)."""

    if jax.process_count() == 1:
        return jax.tree.map(lambda a: jax.device_put(a, sharding), tree)

    def one(a):
        if isinstance(a, jax.Array) and a.sharding == sharding:
            return a
        if isinstance(a, jax.Array) and jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            data = put(jax.random.key_data(a), sharding)
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(a))
        host = np.asarray(a)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(one, tree)
