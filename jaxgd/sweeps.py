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

* Lanes enter matrix products without moving data (:func:`jaxgd._layout.lane_map`):
  ``vmap`` of ``X_b @ θ`` with column parameters ``θ [2, 1]`` writes the product as
  ``[m, lanes, 1]`` and then transposes it to lanes-first, which on XLA:CPU cost more
  than the training itself; the product is computed with its operands swapped instead.
  Géron's notebook form, 4,096 lanes × 1,000 updates: 1.5 s before, 0.17-0.19 s after,
  as fast as the same model written ``x * w + b``.
* On one CPU device, the lanes of a chunk update in small blocks, one block after
  another inside the compiled call (:func:`choose_lanes_per_block`): an MLP's 64 lanes
  updated at once ran 1.06-1.6× slower than in blocks of 4.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import inspect
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd._keys import as_key
from jaxgd._types import Array, Batch, InitFn, LossFn, PRNGKey
from jaxgd.train import (
    DEFAULT_MAX_LOSS_RATIO,
    FitResult,
    Lanes,
    Plan,
    as_arrays,
    check_arity,
    check_flag,
    check_loss_fn,
    check_params,
    make_plan,
    run,
)

# ----------------------------------------------------------------------------- search spaces


class LogUniform(NamedTuple):
    """Values drawn uniformly in log space between ``low`` and ``high`` (both > 0)."""

    low: float
    high: float


class Uniform(NamedTuple):
    """Values drawn uniformly between ``low`` and ``high``."""

    low: float
    high: float


class Choice(NamedTuple):
    """Values drawn uniformly from a finite list."""

    values: tuple[Any, ...]


def _bound(function: str, name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{function}: {name}={value!r} must be a number, e.g. {function}(1e-4, 1).")
    return float(value)


def log_uniform(low: float, high: float) -> LogUniform:
    """A log-uniform distribution on ``[low, high]`` for random search (e.g. learning rates)."""
    low, high = _bound("log_uniform", "low", low), _bound("log_uniform", "high", high)
    if not (0 < low < high and math.isfinite(high)):
        raise ValueError(f"log_uniform({low}, {high}) needs 0 < low < high < inf.")
    return LogUniform(low, high)


def uniform(low: float, high: float) -> Uniform:
    """A uniform distribution on ``[low, high]`` for random search."""
    low, high = _bound("uniform", "low", low), _bound("uniform", "high", high)
    if not (low < high and math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"uniform({low}, {high}) needs finite low < high.")
    return Uniform(low, high)


def choice(values: Sequence[Any]) -> Choice:
    """A uniform choice among ``values`` for random search."""
    values = tuple(values)
    if not values:
        raise ValueError("choice([]) needs at least one value.")
    return Choice(values)


def _draw(distribution: Any, key: PRNGKey, n: int, name: str) -> list[Any]:
    u = np.asarray(jax.random.uniform(key, (n,), jnp.float32), np.float64)
    if isinstance(distribution, LogUniform):
        return list(
            np.exp(np.log(distribution.low) + u * np.log(distribution.high / distribution.low))
        )
    if isinstance(distribution, Uniform):
        return list(distribution.low + u * (distribution.high - distribution.low))
    if isinstance(distribution, Choice):
        index = np.minimum((u * len(distribution.values)).astype(int), len(distribution.values) - 1)
        return [distribution.values[i] for i in index]
    raise ValueError(
        f"random[{name!r}] = {distribution!r}; use jaxgd.sweeps.log_uniform(low, high), "
        "uniform(low, high) or choice([...])."
    )


# ----------------------------------------------------------------------------- lanes


def lane_keys(key: PRNGKey | int, seed: int) -> tuple[PRNGKey, PRNGKey]:
    """``(init_key, data_key)`` of the lanes with seed ``seed`` in a sweep started from ``key``.

    ``key`` as :func:`jaxgd.sweep` takes it (a typed key, a legacy raw key or an int seed).
    """
    if isinstance(seed, (int, np.integer)) and not 0 <= seed < 2**32:
        raise ValueError(f"seed={seed} must be in [0, 2**32), as the sweep's seeds are.")
    lanes_key = jax.random.split(as_key(key))[1]
    init_key, data_key = jax.random.split(jax.random.fold_in(lanes_key, seed))
    return init_key, data_key


def _is_numeric_type(kind: type) -> bool:
    return issubclass(kind, (int, float, np.integer, np.floating)) and not issubclass(
        kind, (bool, np.bool_)
    )


def _is_numeric(value: Any) -> bool:
    return _is_numeric_type(type(value))


def _accepted_names(factory: Callable[..., Any]) -> list[str] | None:
    """Keyword names ``factory`` accepts; ``None`` if it takes ``**kwargs``."""
    try:
        return _cached_accepted_names(factory)
    except TypeError:  # an unhashable callable
        return _read_accepted_names(factory)


@functools.lru_cache(maxsize=64)
def _cached_accepted_names(factory: Callable[..., Any]) -> list[str] | None:
    return _read_accepted_names(factory)


def _read_accepted_names(factory: Callable[..., Any]) -> list[str] | None:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]


class Configurations(NamedTuple):
    """The hyperparameter configurations of a sweep, one column per hyperparameter.

    ``columns[name][c]`` is configuration ``c``'s value: a float64 array when every
    value is a number, otherwise an object array. ``count`` is the number of
    configurations (1 for a sweep over seeds only, which has no columns).
    """

    columns: dict[str, np.ndarray]
    count: int


def _as_scalar(value: Any) -> Any:
    """A 0-d NumPy or JAX array of numbers as its Python number (``list(jnp.logspace(...))``
    gives such arrays); anything else as it is."""
    is_scalar_array = isinstance(value, (np.ndarray, jax.Array)) and value.ndim == 0
    if is_scalar_array and (jnp.issubdtype(value.dtype, jnp.number) or value.dtype == bool):
        return value.item()
    return value


def _column(values: Sequence[Any]) -> np.ndarray:
    """Values as a float64 array if all are numbers, else as a 1-D object array."""
    values = [_as_scalar(value) for value in values]
    if all(_is_numeric_type(kind) for kind in set(map(type, values))):
        return np.asarray(values, np.float64)
    column = np.empty(len(values), object)
    column[:] = list(values)
    return column


def configurations(
    optimizer: Callable[..., Any],
    grid: Mapping[str, Sequence[Any]] | None,
    random: Mapping[str, Any] | None,
    n_random: int | None,
    key: PRNGKey,
) -> Configurations:
    """The hyperparameter configurations of a sweep: grid points × random draws.

    Each grid point (cartesian product of the value lists, the last name varying
    fastest) is combined with ``n_random`` independent draws from ``random``.
    """
    grid = dict(grid or {})
    random = dict(random or {})
    for name, values in grid.items():
        if isinstance(values, jax.Array):
            values = grid[name] = list(np.asarray(values).reshape(-1))
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
            raise ValueError(f"grid[{name!r}] must be a list of values, e.g. [0.01, 0.1].")
        if len(values) == 0:
            raise ValueError(f"grid[{name!r}] is empty; give at least one value.")
    both = sorted(set(grid) & set(random))
    if both:
        raise ValueError(
            f"{', '.join(both)} appear in both grid and random; search each hyperparameter one way."
        )
    if random and n_random is None:
        raise ValueError("random search needs n_random=N, the number of draws.")
    if n_random is not None and not random:
        raise ValueError("n_random is set but random is empty; give random={'name': distribution}.")
    if n_random is not None and (
        isinstance(n_random, bool) or int(n_random) != n_random or n_random <= 0
    ):
        raise ValueError(f"n_random={n_random!r} must be a positive integer.")
    accepted = _accepted_names(optimizer)
    unknown = sorted(n for n in [*grid, *random] if accepted is not None and n not in accepted)
    if unknown:
        raise ValueError(
            f"the optimizer factory does not accept {', '.join(unknown)}; it accepts "
            f"{', '.join(accepted)}."
        )
    grid_values = {name: _column(values) for name, values in grid.items()}
    if "learning_rate" in grid_values:
        rates = grid_values["learning_rate"]
        numbers = rates if rates.dtype != object else rates[[_is_numeric(v) for v in rates]]
        numbers = np.asarray(numbers, np.float64)
        bad = numbers[~(np.isfinite(numbers) & (numbers > 0))]
        if bad.size:
            raise ValueError(
                f"grid['learning_rate'] has non-positive or non-finite values {bad.tolist()}; "
                "learning rates must be > 0."
            )
    sizes = [len(values) for values in grid_values.values()]
    n_points = math.prod(sizes)
    point_index = np.indices(sizes).reshape(len(sizes), n_points) if sizes else []
    columns = {
        name: values[index]
        for (name, values), index in zip(grid_values.items(), point_index, strict=True)
    }
    if not random:
        return Configurations(columns, n_points)
    n = n_points * int(n_random)
    columns = {name: np.repeat(values, int(n_random)) for name, values in columns.items()}
    draw_key = jax.random.split(key)[0]
    for i, (name, dist) in enumerate(sorted(random.items())):
        columns[name] = _column(_draw(dist, jax.random.fold_in(draw_key, i), n, name))
    return Configurations(columns, n)


# ----------------------------------------------------------------------------- checks


def _is_transformation(value: Any) -> bool:
    return callable(getattr(value, "init", None)) and callable(getattr(value, "update", None))


def _configuration(configs: Configurations, c: int) -> dict[str, Any]:
    return {name: _python(column[c]) for name, column in configs.columns.items()}


_CHECKED: dict[Any, None] = {}
"""Hyperparameter columns already checked (a repeated sweep checks its lanes once)."""


def check_lane_optimizers(
    factory: Callable[..., Any], configs: Configurations, groups: Mapping[tuple, np.ndarray]
) -> None:
    """Give every lane's hyperparameters to the optimizer factory before anything compiles.

    The factory is called once per program group with each numeric hyperparameter as an
    array of all the group's values, so a factory that checks its arguments (every
    :mod:`jaxgd.optim` factory does, element-wise) checks every lane, exactly as it would
    check them one at a time. If it raises, the lanes are tried one by one to name the
    first configuration it refuses. The factory must return a transformation.

    Raises:
      ValueError, TypeError: the factory's own error, with the lane's configuration; or a
        ``TypeError`` when the factory returns something without ``init`` and ``update``.
    """
    for static, members in groups.items():
        static_names = {name for name, _ in static}
        values = {
            name: np.asarray(column[members], np.float64)
            for name, column in sorted(configs.columns.items())
            if name not in static_names
        }
        try:
            cache_key = (factory, static, tuple((n, v.tobytes()) for n, v in values.items()))
            hash(cache_key)
        except TypeError:  # an unhashable factory or static value: check every time
            cache_key = None
        if cache_key is not None and cache_key in _CHECKED:
            continue
        try:
            result = factory(**dict(static), **values)
        except (TypeError, ValueError) as error:
            _raise_for_first_refused(factory, configs, members, error)
        if not _is_transformation(result):
            raise TypeError(
                f"the optimizer factory returned {result!r}, not a GradientTransformation "
                "(with init and update); it must return one, e.g. "
                "lambda learning_rate: optax.sgd(learning_rate)."
            )
        if cache_key is not None:
            if len(_CHECKED) >= 256:
                _CHECKED.pop(next(iter(_CHECKED)))
            _CHECKED[cache_key] = None


def _raise_for_first_refused(
    factory: Callable[..., Any], configs: Configurations, members: np.ndarray, error: Exception
) -> None:
    """Re-raise ``error`` (from the factory given a group's columns) with the lane it is about."""
    for c in members:
        configuration = _configuration(configs, int(c))
        try:
            factory(**configuration)
        except (TypeError, ValueError) as lane_error:
            raise _same_kind(lane_error)(
                f"{lane_error} (sweep configuration {configuration})"
            ) from lane_error
    raise _same_kind(error)(
        f"{error} (the optimizer factory refused the lanes' hyperparameters given as arrays, "
        "one entry per lane, but accepts each lane alone: the sweep passes them as traced "
        "arrays, so the factory must not turn them into Python numbers or branch on them)"
    ) from error


def _same_kind(error: Exception) -> type[Exception]:
    """``TypeError`` or ``ValueError``, whichever ``error`` is (subclasses may need more
    arguments to be built)."""
    return TypeError if isinstance(error, TypeError) else ValueError


def _check_init_output(init_fn: InitFn, key_shape: tuple[Any, Any]) -> Any:
    params = jax.eval_shape(init_fn, jax.ShapeDtypeStruct(*key_shape))
    check_params(params, "init_fn(key)", finite=False)
    return params


_checked_init_output = functools.lru_cache(maxsize=64)(_check_init_output)


def check_init_fn(init_fn: Any, key: PRNGKey) -> Any:
    """``init_fn`` is callable and returns real floating-point parameters (checked once).

    The output is checked by its shapes and dtypes (``jax.eval_shape``), which are
    returned; a lane whose start has a non-finite loss diverges at update 0.
    """
    if not callable(init_fn):
        raise TypeError(
            f"init_fn={init_fn!r} is not callable; pass a function init_fn(key) -> params "
            "(to start every lane from the same params p: init_fn=lambda key: p)."
        )
    check_arity("init_fn", init_fn, 1, "init_fn(key)")
    key_shape = (key.shape, key.dtype)
    try:
        hash(init_fn)
    except TypeError:
        return _check_init_output(init_fn, key_shape)
    return _checked_init_output(init_fn, key_shape)


def _seed_list(seeds: Any) -> list[int]:
    """``seeds`` as a list of seeds: a count ``n`` gives ``0 … n − 1``."""
    hint = (
        "give a positive count (seeds=3) or a list of distinct integers in [0, 2**32) "
        "(seeds=[0, 7])."
    )
    if isinstance(seeds, (bool, np.bool_)):
        raise TypeError(f"seeds={seeds!r}; {hint}")
    if isinstance(seeds, (int, np.integer)):
        if seeds <= 0:
            raise ValueError(f"seeds={seeds!r}; {hint}")
        return list(range(int(seeds)))
    if not isinstance(seeds, (Sequence, np.ndarray)) or isinstance(seeds, (str, bytes)):
        raise TypeError(f"seeds={seeds!r}; {hint}")
    seed_list = list(seeds)
    if not seed_list:
        raise ValueError(f"seeds={seeds!r} is empty; {hint}")
    for seed in seed_list:
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seeds contains {seed!r}; {hint}")
        if not 0 <= seed < 2**32:
            raise ValueError(f"seeds contains {seed}; {hint}")
    if len(set(map(int, seed_list))) != len(seed_list):
        raise ValueError(f"seeds={seed_list} repeats a seed (its lanes would be identical); {hint}")
    return [int(seed) for seed in seed_list]


# ----------------------------------------------------------------------------- the compiled lanes


def _lane_optimizer(factory: Callable[..., Any], static_hp: tuple, hyperparameters: dict):
    return factory(**dict(static_hp), **hyperparameters)


@functools.partial(
    jax.jit, static_argnames=("plan", "factory", "static_hp", "init_fn", "lanes_per_block")
)
def _run_lanes(
    plan, factory, static_hp, init_fn, data, tol, key, lane_hp, lane_seeds, lanes_per_block
):
    """Every lane of a chunk: :func:`jaxgd.train.run` over hyperparameters and seeds.

    Each lane derives its keys from the sweep's ``key`` and its seed with
    :func:`lane_keys`, so the program depends on the chunk size only. The lanes run in
    blocks of ``lanes_per_block``, one block after another inside the program (see
    :func:`choose_lanes_per_block`); lanes are independent, so blocks change no result.
    """
    make_optimizer = functools.partial(_lane_optimizer, factory, static_hp)

    def run_block(block_hp: Any, block_seeds: Array) -> tuple[FitResult, Array]:
        init_keys, data_keys = jax.vmap(lambda seed: lane_keys(key, seed))(block_seeds)
        params = jax.vmap(init_fn)(init_keys)
        result = run(plan, make_optimizer, Lanes(block_hp, data_keys), params, data, tol)
        result = result._replace(opt_state=None)  # a SweepResult keeps none: not copied out
        return result, _lowest_finite(result.losses, result.final_loss)

    n_lanes = lane_seeds.shape[0]
    if lanes_per_block >= n_lanes:
        return run_block(lane_hp, lane_seeds)
    n_blocks = n_lanes // lanes_per_block
    blocks = jax.tree.map(
        lambda a: a.reshape(n_blocks, lanes_per_block, *a.shape[1:]), (lane_hp, lane_seeds)
    )
    result, lowest = jax.lax.map(lambda block: run_block(*block), blocks)

    def lanes_first(a: Array) -> Array:  # [blocks, block, …] -> [lanes, …]
        return a.reshape(n_lanes, *a.shape[2:])

    def records_first(a: Array) -> Array:  # [blocks, records, block, …] -> [records, lanes, …]
        return jnp.moveaxis(a, 0, 1).reshape(a.shape[1], n_lanes, *a.shape[3:])

    histories = {"losses": result.losses, "param_history": result.param_history}
    result = jax.tree.map(lanes_first, result._replace(losses=None, param_history=None))
    result = result._replace(**jax.tree.map(records_first, histories))
    return result, lanes_first(lowest)


def _lowest_finite(losses: Array, final_loss: Array) -> Array:
    """Per lane: the lowest finite recorded or final loss (+inf if none is finite).

    ``losses`` is records-first, ``[records, lanes]``, as :func:`jaxgd.train.run` returns it.
    A history holds finite losses only, or +inf where a run's very first loss was not
    finite: a run stops at its first non-finite loss and from there repeats the loss of
    its final parameters. So its plain minimum needs no mask (a mask made XLA write a
    masked copy of the whole history first).
    """
    final_loss = final_loss.astype(losses.dtype)
    return jnp.minimum(
        jnp.min(losses, axis=0), jnp.where(jnp.isfinite(final_loss), final_loss, jnp.inf)
    )


def _on_host_lanes_first(result: FitResult, n_lanes: int) -> FitResult:
    """The first ``n_lanes`` lanes of ``result`` as NumPy arrays, every field lanes-first.

    The histories come records-first from the program; their lanes-first form is a
    transposed view (no copy).
    """
    lanes_first = functools.partial(np.moveaxis, source=0, destination=1)
    result = result._replace(
        losses=lanes_first(np.asarray(result.losses)),
        param_history=jax.tree.map(lambda a: lanes_first(np.asarray(a)), result.param_history),
    )
    return jax.tree.map(lambda a: np.asarray(a)[:n_lanes], result)


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
    Measured on this project's 2-core CPU (64 lanes of Adam, 200 updates; the fastest
    call, and the median of 7 calls interleaved with the other block size):

    ==============================================  ================  ================
    model                                            1 block           blocks of 4
    ==============================================  ================  ================
    MLP 16-64-64-1, ``h @ W``, ReLU, 1,024 examples  8.4 s             5.3 s
    same, mini-batches of 32                         0.305 (0.364) s   0.288 (0.317) s
    jaxgd's MLP (tanh, ``x @ W.T``), batches of 32   0.363 (0.479) s   0.340 (0.388) s
    ==============================================  ================  ================

    (blocks of 1 or 2 lanes: 6.7 and 6.4 s on the first row, timed one after another).
    A model with little arithmetic per lane (Géron's linear model: about 1,000 flops per
    update) needs thousands of lanes per block to pay for each operation's fixed cost, so
    it runs as one block. Accelerators, and lanes sharded over several devices, run the whole chunk
    as one block: there, width is what pays. Lanes are independent: blocks change no
    result, only the speed.
    """
    if len(devices) != 1 or devices[0].platform != "cpu":
        return chunk_size
    cores = os.cpu_count() or 1
    wanted = max(LANES_PER_CORE * cores, math.ceil(BLOCK_FLOPS / max(step_flops, 1)))
    n_blocks = max(1, chunk_size // wanted)
    return math.ceil(chunk_size / n_blocks)


# ----------------------------------------------------------------------------- devices


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


def _lane_sharding(devices: list[jax.Device]):
    return _lane_sharding_of(tuple(devices))


@functools.lru_cache(maxsize=16)
def _lane_sharding_of(devices: tuple[jax.Device, ...]):
    mesh = jax.sharding.Mesh(np.asarray(devices), ("lanes",))
    return (
        jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("lanes")),
        jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()),
    )


def _put(tree: Any, sharding: Any) -> Any:
    """Place per-lane arrays (leading lane axis) or replicated arrays on ``sharding``.

    In a multi-process run each process holds the full array and contributes
    the part of it that its own devices hold.
    """
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def put(leaf):
        leaf = np.asarray(leaf) if not jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key) else leaf
        return jax.make_array_from_callback(leaf.shape, sharding, lambda index: leaf[index])

    return jax.tree.map(put, tree)


def _on_the_default_device(tree: Any, devices: list[jax.Device]) -> bool:
    """Whether ``tree`` can go to the compiled call as it is: the lanes run on the one
    default device of a single process, and no array in ``tree`` is committed elsewhere."""
    if len(devices) != 1 or jax.process_count() != 1 or jax.config.jax_default_device:
        return False
    device = devices[0]
    return device == jax.devices()[0] and all(
        not getattr(leaf, "committed", False) or leaf.devices() == {device}
        for leaf in jax.tree.leaves(tree)
    )


def _put_lanes(tree: Any, sharding: Any, n_devices: int) -> Any:
    """Place a chunk's per-lane NumPy arrays: split over the devices, or, with one device,
    left to the compiled call (which puts them beside the shared arguments) to save a
    ``device_put`` per chunk."""
    if n_devices == 1 and jax.process_count() == 1:
        return tree
    return _put(tree, sharding)


def _gather(tree: Any, on_cpu: bool) -> Any:
    """A chunk's results as NumPy arrays (from every process in a multi-process run).

    On CPU an array already lives in host memory and ``np.asarray`` views it (as
    ``jax.device_get`` does, at 1/8 of its cost per leaf: about 15 against 130 µs
    for nine leaves); elsewhere ``jax.device_get`` starts all the copies at once.
    """
    if jax.process_count() == 1:
        return jax.tree.map(np.asarray, tree) if on_cpu else jax.device_get(tree)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


# ----------------------------------------------------------------------------- results

STATUSES = ("completed", "converged", "diverged")


@dataclasses.dataclass
class SweepResult:
    """Every lane of a sweep: its hyperparameters, seed, outcome and histories (NumPy arrays).

    Attributes:
      hyperparameters: name -> per-lane values (``n_lanes`` entries).
      seeds: per-lane seed.
      final_loss: loss on the whole data set at the final parameters (for a diverged
        lane, at its last parameters with a finite loss, which can be huge: filter by
        ``status``, as :meth:`best` does).
      best_loss: lowest loss seen (recorded losses and final loss).
      status: ``"converged"`` (met ``tol``), ``"completed"`` (ran all its updates,
        finite) or ``"diverged"`` (frozen at its last finite parameters).
      steps: updates taken.
      diverged_at: update at which divergence was detected, ``-1`` if none.
      losses: ``[n_lanes, n_records]`` recorded losses (every ``record_every`` updates).
      record_every: the stride of ``losses``.
      params: final parameters, each leaf with a leading lane axis.
      epoch_losses, param_history: as in :class:`jaxgd.FitResult`, per lane (or None).
    """

    hyperparameters: dict[str, np.ndarray]
    seeds: np.ndarray
    final_loss: np.ndarray
    best_loss: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    diverged_at: np.ndarray
    losses: np.ndarray
    record_every: int
    params: Any
    epoch_losses: np.ndarray | None = None
    param_history: Any = None

    @property
    def n_lanes(self) -> int:
        return int(self.seeds.shape[0])

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per lane: each hyperparameter, ``seed``, ``final_loss``, ``best_loss``,
        ``status``, ``steps`` (and ``diverged_at``)."""
        records = []
        for i in range(self.n_lanes):
            record = {name: _python(values[i]) for name, values in self.hyperparameters.items()}
            record.update(
                seed=int(self.seeds[i]),
                final_loss=float(self.final_loss[i]),
                best_loss=float(self.best_loss[i]),
                status=str(self.status[i]),
                steps=int(self.steps[i]),
                diverged_at=int(self.diverged_at[i]),
            )
            records.append(record)
        return records

    def best(self, *, by: str = "final_loss", over_seeds: str | None = None) -> dict[str, Any]:
        """The best lane (lowest ``by``), never a diverged one.

        With ``over_seeds="median"`` lanes are grouped by configuration and the
        configuration with the lowest median over its seeds is returned (its
        diverged seeds count as +inf, so a configuration that diverges for most
        seeds is not chosen); the record then holds the median and the number of
        seeds that diverged.
        """
        if by not in ("final_loss", "best_loss"):
            raise ValueError(f"by={by!r}; choose final_loss or best_loss.")
        records = self.to_records()
        if over_seeds is None:
            finite = [r for r in records if r["status"] != "diverged" and math.isfinite(r[by])]
            if not finite:
                raise ValueError(f"every lane diverged; {self._divergence_hint()}")
            return min(finite, key=lambda r: r[by])
        if over_seeds != "median":
            raise ValueError(f"over_seeds={over_seeds!r}; use None or 'median'.")
        groups: dict[tuple, list[dict[str, Any]]] = {}
        for r in records:
            groups.setdefault(tuple((n, repr(r[n])) for n in self.hyperparameters), []).append(r)
        summaries = []
        for lanes in groups.values():
            values = [
                r[by] if r["status"] != "diverged" and math.isfinite(r[by]) else math.inf
                for r in lanes
            ]
            summary = {n: lanes[0][n] for n in self.hyperparameters}
            summary.update(
                {
                    by: float(np.median(values)),
                    "seeds": len(lanes),
                    "diverged_seeds": sum(r["status"] == "diverged" for r in lanes),
                }
            )
            summaries.append(summary)
        finite = [s for s in summaries if math.isfinite(s[by])]
        if not finite:
            raise ValueError(
                f"every configuration diverged for most seeds; {self._divergence_hint()}"
            )
        return min(finite, key=lambda s: s[by])

    def _divergence_hint(self) -> str:
        """What to change when no lane can be chosen."""
        at_start = (self.status == "diverged") & (self.diverged_at == 0)
        if at_start.all():
            return (
                "all of them at update 0, so their starting loss was not finite (or already "
                "above max_loss_ratio): check init_fn and loss_fn at the start."
            )
        return "lower the learning rates."

    def to_csv(self, path: str | Path) -> Path:
        """Write :meth:`to_records` as CSV (one row per lane)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        records = [to_portable(record) for record in self.to_records()]
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
        return path

    def to_json(self, path: str | Path, *, histories: bool = False) -> Path:
        """Write :meth:`to_records` as strict JSON (``{"lanes": [...]}``), optionally with
        histories: non-finite numbers as the strings ``"inf"``, ``"-inf"``, ``"nan"``
        (:func:`read_records` reads them back as floats), schedules by their description."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        document: dict[str, Any] = {"record_every": self.record_every, "lanes": self.to_records()}
        if histories:
            document["losses"] = self.losses.tolist()
        path.write_text(json.dumps(to_portable(document), indent=1, allow_nan=False))
        return path


def _python(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def describe(value: Any) -> str:
    """A readable, stable name for a non-numeric hyperparameter (a schedule, a function):
    ``inverse_time(5.0, 50.0)`` for a jaxgd schedule, the function's name otherwise."""
    if isinstance(value, jax.tree_util.Partial):
        arguments = ", ".join(
            _portable_scalar(a) if not callable(a) else describe(a) for a in value.args
        )
        return f"{value.func.__name__.lstrip('_')}({arguments})"
    return getattr(value, "__name__", type(value).__name__)


def _portable_scalar(value: Any) -> str:
    value = _python(value)
    return repr(value) if isinstance(value, (int, float)) else describe(value)


def to_portable(value: Any) -> Any:
    """``value`` (records, lists of them, dicts) as plain JSON: non-finite numbers as the
    strings ``"inf"``, ``"-inf"``, ``"nan"``, callables by :func:`describe`."""
    if isinstance(value, dict):
        return {key: to_portable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_portable(item) for item in value]
    value = _python(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if callable(value):
        return describe(value)
    return value


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Read the records written by :meth:`SweepResult.to_csv` or :meth:`SweepResult.to_json`."""
    path = Path(path)
    if path.suffix == ".json":
        return [
            {k: _NON_FINITE.get(v, v) if isinstance(v, str) else v for k, v in record.items()}
            for record in json.loads(path.read_text())["lanes"]
        ]
    with path.open(newline="") as handle:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def _parse(text: str) -> Any:
    """A CSV cell back to int, float, bool, None or str."""
    for convert in (int, float):
        with contextlib.suppress(ValueError):
            return convert(text)
    return {"True": True, "False": False, "None": None}.get(text, text)


# ----------------------------------------------------------------------------- sweep()


def sweep(
    loss_fn: LossFn,
    init_fn: InitFn,
    data: Batch | None,
    optimizer: Callable[..., Any],
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    random: Mapping[str, Any] | None = None,
    n_random: int | None = None,
    seeds: int | Sequence[int] = 1,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    key: PRNGKey,
    tol: float | None = None,
    record_every: int = 1,
    chunk_size: int | None = None,
    devices: int | Sequence[jax.Device] | None = None,
    progress: bool | None = None,
    stop_on: str = "loss_change",
    sampling: str = "shuffle",
    drop_last: bool = False,
    record_params: bool = False,
    loss_with_key: bool = False,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    max_loss_ratio: float | None = DEFAULT_MAX_LOSS_RATIO,
) -> SweepResult:
    """Train every configuration × seed as a lane of one compiled, vmapped program.

    Args:
      loss_fn: ``loss_fn(params, x, y) -> scalar``.
      init_fn: ``init_fn(key) -> params``; each seed initialises its own parameters.
      data: ``(x, y)``, shared by all lanes, or None for an objective of the parameters.
      optimizer: a factory called with a lane's hyperparameters as keywords, e.g.
        ``jaxgd.optim.adam`` or ``optax.adam`` (or ``functools.partial`` of one).
      grid: name -> list of values; every combination is a configuration.
      random: name -> ``log_uniform(lo, hi)``, ``uniform(lo, hi)`` or ``choice([...])``.
      n_random: number of random draws (per grid point).
      seeds: number of seeds (0, 1, …) or an explicit list of seeds.
      steps, epochs, batch_size, tol, record_every, stop_on, sampling, drop_last,
        record_params, loss_with_key, max_loss_ratio: as in :func:`jaxgd.fit` (a lane
        diverges once its loss exceeds ``max_loss_ratio`` × max(its initial loss, the loss
        of all-zero parameters)).
      key: the sweep's PRNG key (random search draws and every lane's keys):
        ``jax.random.key(s)``, ``jax.random.PRNGKey(s)`` or the int seed ``s``.
      chunk_size: lanes per compiled call; by default the most that fit ``memory_budget``.
      devices: devices to shard lanes over (a count or a list); default all.
      progress: a progress bar over lanes; default on when stderr is a terminal.
      memory_budget: bytes per chunk used to choose ``chunk_size``.

    Every lane's hyperparameters are given to ``optimizer`` (the factory) before anything
    compiles, so its argument checks (every :mod:`jaxgd.optim` factory checks its
    arguments) refuse a bad value with the lane's configuration.

    Returns:
      A :class:`SweepResult`, lanes ordered configuration-major (all seeds of the
      first configuration, then the next).

    Example:
      >>> import jax
      >>> from jaxgd.optim import sgd
      >>> from jaxgd.problems import geron_linear
      >>> p = geron_linear()
      >>> r = sweep(p.loss_fn, p.init_fn, p.data, sgd, grid={"learning_rate": [0.02, 0.1, 0.5]},
      ...           steps=1000, key=jax.random.key(0))
      >>> [rec["status"] for rec in r.to_records()]
      ['completed', 'completed', 'diverged']
    """
    if chunk_size is not None and (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, (int, np.integer))
        or chunk_size <= 0
    ):
        raise ValueError(
            f"chunk_size={chunk_size!r} must be a positive integer (or None for automatic)."
        )
    if _is_transformation(optimizer):
        raise TypeError(
            "optimizer is a transformation (such as sgd(0.1)); sweep needs the factory that "
            "builds one from a lane's hyperparameters: pass jaxgd.optim.sgd itself, "
            "with grid={'learning_rate': [...]}."
        )
    if not callable(optimizer):
        raise TypeError(
            "optimizer must be a factory called with hyperparameters as keywords, "
            f"e.g. jaxgd.optim.adam; got {optimizer!r}."
        )
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, np.integer)):
        raise TypeError(f"memory_budget={memory_budget!r} must be a number of bytes (an int).")
    if memory_budget <= 0:
        raise ValueError(f"memory_budget={memory_budget!r} must be a positive number of bytes.")
    if progress is not None:
        progress = check_flag("progress", progress)
    key = as_key(key)
    plan = make_plan(
        loss_fn,
        data,
        steps=steps,
        epochs=epochs,
        batch_size=batch_size,
        sampling=sampling,
        drop_last=drop_last,
        tol=tol,
        stop_on=stop_on,
        record_every=record_every,
        record_params=record_params,
        loss_with_key=loss_with_key,
        max_loss_ratio=max_loss_ratio,
    )
    data = as_arrays(data)
    check_loss_fn(loss_fn, check_init_fn(init_fn, key), data)
    seed_list = _seed_list(seeds)
    configs = configurations(optimizer, grid, random, n_random, key)
    n_seeds = len(seed_list)
    n_lanes = configs.count * n_seeds
    devices_used = resolve_devices(devices)
    tol_array = None if tol is None else jnp.asarray(tol)
    float_dtype = np.dtype(jax.dtypes.canonicalize_dtype(np.float64))
    groups = _program_groups(configs)
    check_lane_optimizers(optimizer, configs, groups)

    if chunk_size is None:
        lane_bytes = estimate_lane_bytes(plan, init_fn, data, key)
        chunk_size = choose_chunk_size(lane_bytes, n_lanes, memory_budget)
    chunk_size = min(int(chunk_size), n_lanes)
    n_devices = len(devices_used)
    chunk_size = math.ceil(chunk_size / n_devices) * n_devices
    step_flops = estimate_lane_cost(plan, init_fn, data, key).step_flops
    lanes_per_block = choose_lanes_per_block(step_flops, chunk_size, devices_used)
    chunk_size = math.ceil(chunk_size / lanes_per_block) * lanes_per_block
    lane_sharding, replicated = _lane_sharding(devices_used)
    on_cpu = all(device.platform == "cpu" for device in devices_used)
    shared = (data, tol_array, key)
    if not _on_the_default_device(shared, devices_used):
        shared = _put(shared, replicated)  # one transfer for everything the lanes share
    data_on_devices, tol_on_devices, key_on_devices = shared
    seed_values = np.asarray(seed_list, np.uint32)

    show = progress if progress is not None else sys.stderr.isatty()
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_lanes, desc="sweep", unit="lane", file=sys.stderr)

    outputs: list[tuple[np.ndarray, Any]] = []
    try:
        for static, members in groups.items():
            static_names = {n for n, _ in static}
            values = {
                n: np.asarray(column[members], np.float64)
                for n, column in sorted(configs.columns.items())
                if n not in static_names
            }
            # Lane j of this group: configuration members[j // n_seeds], seed j % n_seeds.
            group_lanes = len(members) * n_seeds
            for start in range(0, group_lanes, chunk_size):
                local = np.arange(start, min(start + chunk_size, group_lanes))
                padded = np.concatenate([local, np.full(chunk_size - len(local), local[-1])])
                hp = {n: np.asarray(v[padded // n_seeds], float_dtype) for n, v in values.items()}
                lane_hp, lane_seeds = _put_lanes(
                    (hp, seed_values[padded % n_seeds]), lane_sharding, n_devices
                )
                result = _run_lanes(
                    plan,
                    optimizer,
                    static,
                    init_fn,
                    data_on_devices,
                    tol_on_devices,
                    key_on_devices,
                    lane_hp,
                    lane_seeds,
                    lanes_per_block,
                )
                result = _gather(result, on_cpu)
                lane_index = np.asarray(members)[local // n_seeds] * n_seeds + local % n_seeds
                n_real = len(local)
                fit_result, best = result
                outputs.append(
                    (
                        lane_index,
                        (_on_host_lanes_first(fit_result, n_real), np.asarray(best)[:n_real]),
                    )
                )
                if bar is not None:
                    bar.update(len(local))
    finally:
        if bar is not None:
            bar.close()
    return _assemble(configs, seed_list, outputs, plan)


def _program_groups(configs: Configurations) -> dict[tuple, np.ndarray]:
    """Configurations that share one compiled program: static values -> their indices.

    A configuration's non-numeric values (a string, a bool, a schedule) are static
    arguments of the program; its numbers are traced, one per lane.
    """
    splitting = sorted(n for n, column in configs.columns.items() if column.dtype == object)
    if not splitting:
        return {(): np.arange(configs.count)}
    groups: dict[tuple, list[int]] = {}
    for c in range(configs.count):
        values = ((n, configs.columns[n][c]) for n in splitting)
        static = tuple((n, v) for n, v in values if not _is_numeric(v))
        groups.setdefault(static, []).append(c)
    return {static: np.asarray(members) for static, members in groups.items()}


def _assemble(configs: Configurations, seed_list, outputs, plan: Plan) -> SweepResult:
    order = np.concatenate([index for index, _ in outputs])
    if len(outputs) == 1 and np.array_equal(order, np.arange(len(order))):
        merged, best = outputs[0][1]  # one chunk, lanes in order: no copies
    else:
        inverse = np.argsort(order)
        merged, best = jax.tree.map(
            lambda *parts: np.concatenate(parts)[inverse], *[result for _, result in outputs]
        )
    n_seeds = len(seed_list)
    hyperparameters = {n: np.repeat(column, n_seeds) for n, column in configs.columns.items()}
    status = np.where(
        merged.diverged, "diverged", np.where(merged.converged, "converged", "completed")
    )
    return SweepResult(
        hyperparameters=hyperparameters,
        seeds=np.tile(np.asarray(seed_list), configs.count),
        final_loss=np.asarray(merged.final_loss, np.float64),
        best_loss=best.astype(np.float64),
        status=status,
        steps=np.asarray(merged.steps),
        diverged_at=np.asarray(merged.diverged_at),
        losses=np.asarray(merged.losses),
        record_every=plan.record_every,
        params=merged.params,
        epoch_losses=merged.epoch_losses,
        param_history=merged.param_history,
    )
