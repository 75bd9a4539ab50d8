"""How a sweep's lanes are cut into compiled calls: chunk sizes, blocks, devices."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxgd._engine.plan import Plan
from jaxgd._types import Batch, InitFn, PRNGKey
from jaxgd.sweeps import placement
from jaxgd.sweeps.space import Configurations


class Chunking(NamedTuple):
    """How a sweep's lanes are cut and placed: ``chunk_size`` lanes per compiled call, in
    blocks of ``lanes_per_block``, sharded over ``devices``."""

    chunk_size: int
    lanes_per_block: int
    devices: list[jax.Device]
    lane_sharding: Any
    replicated: Any
    step_flops: int

    def for_rungs(self, n_lanes: int) -> Chunking:
        """The chunking of a rung of ``n_lanes`` survivors of this sweep (successive halving).

        Where the sweep's chunks run in several blocks (a model with enough arithmetic, on
        one CPU device), a rung's chunk is one block of the smallest size that would
        still pay (:func:`placement.block_lanes`), so rungs of any number of lanes run the
        same compiled shape, one call per block. Otherwise (a chunk is one block: a small
        model, or accelerators, where width is cheap) it is the survivors, rounded up to a
        multiple of the devices, and no larger than the sweep's chunks.
        """
        block = placement.block_lanes(self.step_flops, self.devices)
        if block is not None and self.lanes_per_block < self.chunk_size:
            return self._replace(chunk_size=block, lanes_per_block=block)
        n_devices = len(self.devices)
        chunk_size = min(self.chunk_size, math.ceil(n_lanes / n_devices) * n_devices)
        lanes_per_block = placement.choose_lanes_per_block(
            self.step_flops, chunk_size, self.devices
        )
        chunk_size = math.ceil(chunk_size / lanes_per_block) * lanes_per_block
        return self._replace(chunk_size=chunk_size, lanes_per_block=lanes_per_block)


def chunking(
    plan: Plan,
    init_fn: InitFn,
    data: Batch | None,
    key: PRNGKey,
    n_lanes: int,
    chunk_size: int | None,
    memory_budget: int,
    devices: list[jax.Device],
) -> Chunking:
    """The chunk size (by memory unless given), a multiple of the devices and of the block."""
    if chunk_size is None:
        lane_bytes = placement.estimate_lane_bytes(plan, init_fn, data, key)
        chunk_size = placement.choose_chunk_size(lane_bytes, n_lanes, memory_budget)
    chunk_size = min(int(chunk_size), n_lanes)
    chunk_size = math.ceil(chunk_size / len(devices)) * len(devices)
    step_flops = placement.estimate_lane_cost(plan, init_fn, data, key).step_flops
    lanes_per_block = placement.choose_lanes_per_block(step_flops, chunk_size, devices)
    chunk_size = math.ceil(chunk_size / lanes_per_block) * lanes_per_block
    sharding = placement.lane_sharding(devices)
    return Chunking(chunk_size, lanes_per_block, devices, *sharding, step_flops)


class LaneChunk(NamedTuple):
    """One compiled call's lanes: ``local`` (indices into the group's lanes), ``padded``
    (``local`` padded to the chunk size with copies of its last lane), the lanes' numeric
    hyperparameters and seeds as the program takes them, and their sweep lane indices."""

    local: np.ndarray
    padded: np.ndarray
    hyperparameters: dict[str, Any]
    seeds: Any
    lane_index: np.ndarray


def lane_chunks(
    configs: Configurations,
    static: tuple,
    members: np.ndarray,
    seeds: list[int],
    chunks: Chunking,
    local: np.ndarray | None = None,
) -> Iterator[LaneChunk]:
    """The chunks of a program group's lanes (all of them, or those in ``local``).

    Lane ``j`` of the group is configuration ``members[j // n_seeds]`` with seed
    ``seeds[j % n_seeds]``; a last, partial chunk is padded with copies of its last lane.
    """
    static_names = {n for n, _ in static}
    values = {
        n: np.asarray(column[members], np.float64)
        for n, column in sorted(configs.columns.items())
        if n not in static_names
    }
    float_dtype = np.dtype(jax.dtypes.canonicalize_dtype(np.float64))
    seed_values = np.asarray(seeds, np.uint32)
    n_seeds, size = len(seeds), chunks.chunk_size
    local = np.arange(len(members) * n_seeds) if local is None else np.asarray(local)
    for start in range(0, len(local), size):
        part = local[start : start + size]
        padded = np.concatenate([part, np.full(size - len(part), part[-1])])
        hp = {n: np.asarray(v[padded // n_seeds], float_dtype) for n, v in values.items()}
        lane_hp, lane_seeds = placement.put_lanes(
            (hp, seed_values[padded % n_seeds]), chunks.lane_sharding, len(chunks.devices)
        )
        lane_index = np.asarray(members)[part // n_seeds] * n_seeds + part % n_seeds
        yield LaneChunk(part, padded, lane_hp, lane_seeds, lane_index)
