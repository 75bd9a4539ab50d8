"""sweep(): many training runs (lanes) in one compiled, vmapped, sharded call.

A *lane* is one training run: a configuration of hyperparameters and a seed.
``sweep`` builds the lanes from a ``grid`` (cartesian product of value lists)
and/or ``random`` draws, runs every lane with the same code as
:func:`jaxgd.fit`, vectorised with ``jax.vmap`` and compiled once with
``jax.jit``, in chunks of ``chunk_size`` lanes, sharded over devices.

Seeds and keys
--------------
``key`` is split into a key for the random search and a key for the lanes.
Lane seed ``s`` gets ``init_key, data_key = lane_keys(key, s)``: the first
initialises the parameters (``init_fn(init_key)``), the second orders the
data. So a lane is reproduced on its own by::

    init_key, data_key = jaxgd.sweeps.lane_keys(key, seed)
    jaxgd.fit(loss_fn, init_fn(init_key), data, optimizer(**hyperparameters),
              key=data_key, ...)

Hyperparameters
---------------
Numbers (``learning_rate``, ``momentum``, ``b1`` …) are vmapped: they enter
the compiled program as per-lane arrays. Other values (``nesterov=True``,
a schedule, a string) change the program itself: lanes are grouped by them
and each group compiles once.

Speed on the user's model
-------------------------
How a model is written must not decide how fast its lanes run. Two mechanisms, both
independent of the loss function (no loss is recognised by its form):

* Lanes enter matrix products without moving data (:func:`jaxgd._engine.lanes.lane_map`):
  ``vmap`` of ``X_b @ θ`` with column parameters ``θ [2, 1]`` writes the product as
  ``[m, lanes, 1]`` and then transposes it to lanes-first; the product is computed with
  its operands swapped instead.
* On one CPU device, the lanes of a chunk update in small blocks, one block after
  another inside the compiled call (:func:`choose_lanes_per_block`).

The measurements behind both are in ``benchmarks/RESULTS.md``.

The package
-----------
``space`` (distributions, configurations, program groups), ``checks`` (seeds, ``init_fn``,
the lanes' hyperparameters), ``placement`` (memory and arithmetic per lane, chunks,
blocks, devices), ``results`` (``SweepResult``, CSV and JSON), ``halving``
(``SuccessiveHalving``: pruning at rungs) and ``driver`` (``sweep``).
"""

from __future__ import annotations

from jaxgd.sweeps.checks import check_init_fn, check_lane_optimizers
from jaxgd.sweeps.driver import sweep
from jaxgd.sweeps.halving import SuccessiveHalving
from jaxgd.sweeps.placement import (
    BLOCK_FLOPS,
    DEFAULT_MEMORY_BUDGET,
    LANES_PER_CORE,
    LaneCost,
    choose_chunk_size,
    choose_lanes_per_block,
    estimate_lane_bytes,
    estimate_lane_cost,
    resolve_devices,
)
from jaxgd.sweeps.program import lane_keys
from jaxgd.sweeps.results import STATUSES, SweepResult, describe, read_records, to_portable
from jaxgd.sweeps.space import (
    Choice,
    Configurations,
    LogUniform,
    Uniform,
    choice,
    configurations,
    log_uniform,
    uniform,
)

__all__ = [
    "BLOCK_FLOPS",
    "DEFAULT_MEMORY_BUDGET",
    "LANES_PER_CORE",
    "STATUSES",
    "Choice",
    "Configurations",
    "LaneCost",
    "LogUniform",
    "SuccessiveHalving",
    "SweepResult",
    "Uniform",
    "check_init_fn",
    "check_lane_optimizers",
    "choice",
    "choose_chunk_size",
    "choose_lanes_per_block",
    "configurations",
    "describe",
    "estimate_lane_bytes",
    "estimate_lane_cost",
    "lane_keys",
    "log_uniform",
    "read_records",
    "resolve_devices",
    "sweep",
    "to_portable",
    "uniform",
]
