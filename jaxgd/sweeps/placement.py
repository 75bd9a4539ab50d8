"""Where a sweep's lanes run and how many at once: memory and arithmetic per lane, chunk
and block sizes, devices, and moving arrays to and from them."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd._engine.plan import Plan
from jaxgd._types import Batch, InitFn, PRNGKey


def _tree_bytes(tree: Any) -> int:
    return sum(int(np.prod(leaf.shape)) * leaf.dtype.itemsize for leaf in jax.tree.leaves(tree))


class LaneCost(NamedTuple):
    """What one lane costs, estimated from the jaxpr of one gradient evaluation."""

    step_bytes: int  # intermediates of one update, plus eight copies of the parameters
    history_bytes: int  # the recorded losses (and parameters)
    step_flops: int  # arithmetic of one update: 2·|out|·K per matrix product, |out| otherwise


def estimate_lane_cost(plan: Plan, init_fn: InitFn, data: Batch | None, key: PRNGKey) -> LaneCost:
    """:class:`LaneCost` of one lane of ``plan`` (cached per problem shape).

    ``step_bytes`` sums the sizes of every intermediate value of one gradient evaluation
    on one batch (from the jaxpr of ``value_and_grad``) and eight copies of the parameters
    (parameters, gradients, updates, optimizer moments, and the copies a chunk keeps to
    run again from its start): a rough upper bound of what an update holds.
    """
    shapes = None if data is None else tuple((a.shape, a.dtype) for a in data)
    return _lane_cost(plan, init_fn, shapes, (key.shape, key.dtype))


def estimate_lane_bytes(plan: Plan, init_fn: InitFn, data: Batch | None, key: PRNGKey) -> int:
    """A rough upper bound of the memory one lane needs while it runs (update and history)."""
    cost = estimate_lane_cost(plan, init_fn, data, key)
    return cost.step_bytes + cost.history_bytes


def _flops(eqn: Any) -> int:
    out = sum(int(np.prod(v.aval.shape)) for v in eqn.outvars if hasattr(v.aval, "shape"))
    if eqn.primitive.name != "dot_general":
        return out
    (lhs_contracting, _), _ = eqn.params["dimension_numbers"]
    depth = int(np.prod([eqn.invars[0].aval.shape[axis] for axis in lhs_contracting]))
    return 2 * out * depth


def _jaxpr_flops(jaxpr: Any) -> int:
    """Arithmetic of a jaxpr, nested jaxprs (``jit``, ``custom_jvp_call`` …) included."""
    total = 0
    for eqn in jaxpr.eqns:
        inner = [
            value.jaxpr if hasattr(value, "jaxpr") else value
            for value in eqn.params.values()
            if hasattr(value, "eqns") or hasattr(getattr(value, "jaxpr", None), "eqns")
        ]
        total += sum(_jaxpr_flops(j) for j in inner) if inner else _flops(eqn)
    return total


@functools.lru_cache(maxsize=64)
def _lane_cost(plan: Plan, init_fn: InitFn, data_shapes, key_shape) -> LaneCost:
    params = jax.eval_shape(init_fn, jax.ShapeDtypeStruct(*key_shape))
    if data_shapes is None:
        batch = (None, None)
    else:
        k = plan.batch_size or plan.n_examples
        batch = tuple(jax.ShapeDtypeStruct((k, *shape[1:]), dtype) for shape, dtype in data_shapes)
    jaxpr = jax.make_jaxpr(jax.value_and_grad(plan.loss_fn))(params, *batch)
    intermediates = sum(
        int(np.prod(v.aval.shape)) * v.aval.dtype.itemsize
        for eqn in jaxpr.jaxpr.eqns
        for v in eqn.outvars
        if hasattr(v.aval, "shape")
    )
    param_bytes = _tree_bytes(params)
    history = plan.n_records * 8 + (plan.n_records * param_bytes if plan.record_params else 0)
    return LaneCost(intermediates + 8 * param_bytes, history, _jaxpr_flops(jaxpr.jaxpr))


DEFAULT_MEMORY_BUDGET = 512 * 2**20
"""Bytes a chunk of lanes may use when ``chunk_size`` is chosen automatically."""


def choose_chunk_size(lane_bytes: int, n_lanes: int, budget: int = DEFAULT_MEMORY_BUDGET) -> int:
    """The largest number of lanes whose estimated memory fits ``budget`` (at least 1)."""
    return int(max(1, min(n_lanes, budget // max(lane_bytes, 1))))


BLOCK_FLOPS = 4 * 10**6
"""On CPU, a block of lanes does at least this much arithmetic per update (see below)."""

LANES_PER_CORE = 2
"""On CPU, a block holds at least this many lanes per core (see below)."""


def choose_lanes_per_block(step_flops: int, chunk_size: int, devices: list[jax.Device]) -> int:
    """How many lanes of a chunk update together, block after block, inside the program.

    On one CPU device, a block is the fewest lanes that give every core
    ``LANES_PER_CORE`` lanes and the block ``BLOCK_FLOPS`` of arithmetic per update;
    the chunk is then cut into as many blocks of at least that size as it holds.
    (Why, with the measurements: ``benchmarks/RESULTS.md``, "Lane blocks on CPU".)
    A model with little arithmetic per lane (Géron's linear model: about 1,000 flops per
    update) needs thousands of lanes per block to pay for each operation's fixed cost, so
    it runs as one block. Accelerators, and lanes sharded over several devices, run the whole chunk
    as one block: there, width is what pays. Lanes are independent: blocks change no
    result, only the speed.
    """
    wanted = block_lanes(step_flops, devices)
    if wanted is None:
        return chunk_size
    n_blocks = max(1, chunk_size // wanted)
    return math.ceil(chunk_size / n_blocks)


def block_lanes(step_flops: int, devices: list[jax.Device]) -> int | None:
    """The fewest lanes of a block on one CPU device (see :func:`choose_lanes_per_block`);
    ``None`` elsewhere (no blocks)."""
    if len(devices) != 1 or devices[0].platform != "cpu":
        return None
    cores = os.cpu_count() or 1
    return max(LANES_PER_CORE * cores, math.ceil(BLOCK_FLOPS / max(step_flops, 1)))


def resolve_devices(devices: int | Sequence[jax.Device] | None) -> list[jax.Device]:
    """The devices to shard lanes over: all of them by default (across processes too)."""
    available = jax.devices()
    if devices is None:
        return list(available)
    if isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            raise ValueError(
                f"devices={devices} but {len(available)} device(s) exist "
                f"({available[0].platform}); use devices=None for all of them."
            )
        return list(available[:devices])
    if isinstance(devices, (str, bytes)) or not isinstance(devices, (Sequence, np.ndarray)):
        raise TypeError(
            f"devices={devices!r}; give a number of devices, a list of jax.Device "
            "(e.g. jax.devices('cpu')), or None for all of them."
        )
    devices = list(devices)
    if not devices:
        raise ValueError("devices=[] is empty; use devices=None for all devices.")
    if not all(isinstance(device, jax.Device) for device in devices):
        raise TypeError(
            f"devices={devices!r} holds something that is not a jax.Device; "
            "pass e.g. jax.devices('cpu')."
        )
    return devices


def lane_sharding(devices: list[jax.Device]) -> tuple[Any, Any]:
    """``(per-lane, replicated)`` shardings over ``devices``."""
    return _lane_sharding_of(tuple(devices))


@functools.lru_cache(maxsize=16)
def _lane_sharding_of(devices: tuple[jax.Device, ...]):
    mesh = jax.sharding.Mesh(np.asarray(devices), ("lanes",))
    return (
        jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("lanes")),
        jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()),
    )


def put(tree: Any, sharding: Any) -> Any:
    """Place per-lane arrays (leading lane axis) or replicated arrays on ``sharding``.

    In a multi-process run each process holds the full array and contributes
    the part of it that its own devices hold.
    """
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def put_leaf(leaf):
        leaf = np.asarray(leaf) if not jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf
        return jax.make_array_from_callback(leaf.shape, sharding, lambda index: leaf[index])

    return jax.tree.map(put_leaf, tree)


def on_the_default_device(tree: Any, devices: list[jax.Device]) -> bool:
    """Whether ``tree`` can go to the compiled call as it is: the lanes run on the one
    default device of a single process, and no array in ``tree`` is committed elsewhere."""
    if len(devices) != 1 or jax.process_count() != 1 or jax.config.jax_default_device:
        return False
    device = devices[0]
    return device == jax.devices()[0] and all(
        not getattr(leaf, "committed", False) or leaf.devices() == {device}
        for leaf in jax.tree.leaves(tree)
    )


def put_lanes(tree: Any, sharding: Any, n_devices: int) -> Any:
    """Place a chunk's per-lane NumPy arrays: split over the devices, or, with one device,
    left to the compiled call (which puts them beside the shared arguments) to save a
    ``device_put`` per chunk."""
    if n_devices == 1 and jax.process_count() == 1:
        return tree
    return put(tree, sharding)


def gather(tree: Any, on_cpu: bool) -> Any:
    """A chunk's results as NumPy arrays (from every process in a multi-process run).

    On CPU an array already lives in host memory and ``np.asarray`` views it (as
    ``jax.device_get`` does, at a fraction of its cost per leaf); elsewhere
    ``jax.device_get`` starts all the copies at once.
    """
    if jax.process_count() == 1:
        return jax.tree.map(np.asarray, tree) if on_cpu else jax.device_get(tree)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)
