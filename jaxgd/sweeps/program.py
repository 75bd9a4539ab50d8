"""The compiled program of a chunk of lanes: each lane's keys, parameters and run."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd._engine.chunks import advance
from jaxgd._engine.lanes import Lanes
from jaxgd._engine.run import finish, init_lanes, run
from jaxgd._engine.state import Carry, FitResult
from jaxgd._keys import as_key
from jaxgd._types import Array, PRNGKey


def lane_keys(key: PRNGKey | int, seed: int) -> tuple[PRNGKey, PRNGKey]:
    """``(init_key, data_key)`` of the lanes with seed ``seed`` in a sweep started from ``key``.

    ``key`` as :func:`jaxgd.sweep` takes it (a typed key, a legacy raw key or an int seed).
    """
    if isinstance(seed, (int, np.integer)) and not 0 <= seed < 2**32:
        raise ValueError(f"seed={seed} must be in [0, 2**32), as the sweep's seeds are.")
    lanes_key = jax.random.split(as_key(key))[1]
    init_key, data_key = jax.random.split(jax.random.fold_in(lanes_key, seed))
    return init_key, data_key


def _starts(init_fn: Callable[[PRNGKey], Any], key: PRNGKey, seeds: Array) -> tuple[Any, Any]:
    """Each lane's initial parameters ``init_fn(init_key)`` and its ``data_key``
    (:func:`lane_keys`), lanes-first: the same values however they are computed.

    On CPU one lane after another (``lax.map``): vmapped, the random draws compile on
    XLA:CPU for about as long as a small model's whole training loop (0.8–1.4 s, against
    0.4–0.55 s one lane at a time; ``benchmarks/RESULTS.md``, "Lanes' starts on CPU"), and
    a start runs once per sweep, so the loop over lanes costs little (8 ms for 4,096 lanes
    of a linear model). Elsewhere vmapped, as a loop of thousands of small steps would keep
    an accelerator waiting.
    """

    def start(seed: Array) -> tuple[Any, Any]:
        init_key, data_key = lane_keys(key, seed)
        return init_fn(init_key), data_key

    return _per_lane(start, seeds)


def _data_keys(key: PRNGKey, seeds: Array) -> Any:
    """Each lane's ``data_key`` (:func:`lane_keys`), computed as in :func:`_starts`."""
    return _per_lane(lambda seed: lane_keys(key, seed)[1], seeds)


def _per_lane(fn: Callable[[Array], Any], seeds: Array) -> Any:
    """``fn`` over ``seeds``: ``lax.map`` on CPU, ``vmap`` on other platforms."""
    return jax.lax.platform_dependent(
        seeds, cpu=lambda s: jax.lax.map(fn, s), default=lambda s: jax.vmap(fn)(s)
    )


def _lane_optimizer(factory: Callable[..., Any], static_hp: tuple, hyperparameters: dict):
    return factory(**dict(static_hp), **hyperparameters)


@functools.partial(
    jax.jit, static_argnames=("plan", "factory", "static_hp", "init_fn", "lanes_per_block")
)
def run_lanes(
    plan,
    factory,
    static_hp,
    init_fn,
    data,
    tol,
    key,
    eval_data,
    lane_hp,
    lane_seeds,
    lanes_per_block,
):
    """Every lane of a chunk: :func:`jaxgd.train.run` over hyperparameters and seeds.

    Each lane derives its keys from the sweep's ``key`` and its seed with
    :func:`lane_keys`, so the program depends on the chunk size only. The lanes run in
    blocks of ``lanes_per_block``, one block after another inside the program (see
    :func:`choose_lanes_per_block`); lanes are independent, so blocks change no result.
    """
    make_optimizer = functools.partial(_lane_optimizer, factory, static_hp)

    def run_block(block_hp: Any, block_seeds: Array) -> tuple[FitResult, Array, None]:
        params, data_keys = _starts(init_fn, key, block_seeds)
        lanes = Lanes(block_hp, data_keys)
        result = run(plan, make_optimizer, lanes, params, data, tol, None, eval_data)
        return _packed(result), _lowest(result, eval_data), None

    result, lowest, _ = _over_blocks(run_block, (lane_hp, lane_seeds), lanes_per_block)
    return result, lowest


@functools.partial(jax.jit, static_argnames=("plan", "factory", "static_hp", "init_fn"))
def start_lanes(plan, factory, static_hp, init_fn, data, key, lane_hp, lane_seeds):
    """Every lane's loop state before its first update, initialised as in :func:`run_lanes`."""
    make_optimizer = functools.partial(_lane_optimizer, factory, static_hp)
    params, data_keys = _starts(init_fn, key, lane_seeds)
    return init_lanes(plan, make_optimizer, Lanes(lane_hp, data_keys), params, data)


@functools.partial(
    jax.jit, static_argnames=("plan", "factory", "static_hp", "lanes_per_block", "n_records")
)
def run_rung(
    plan,
    factory,
    static_hp,
    data,
    tol,
    key,
    eval_data,
    lane_hp,
    lane_seeds,
    carry,
    start,
    end,
    n_records,
    lanes_per_block,
):
    """Updates ``start, …, end − 1`` of every lane of a chunk from its loop state ``carry``
    (``end − start`` at most ``n_records × record_every``; both traced, so rungs of any
    length share the program), packaged as if the run ended at ``end``.

    Returns ``(result, lowest, carry)``: the :class:`FitResult` at ``end`` (its histories
    ``n_records`` long, the records past ``end`` zeros), the lowest losses as
    :func:`run_lanes` gives them, and every lane's loop state, from which it goes on.
    """
    make_optimizer = functools.partial(_lane_optimizer, factory, static_hp)
    start = jnp.asarray(start, jnp.int32)
    end = jnp.asarray(end, jnp.int32)

    def run_block(block_hp: Any, block_seeds: Array, block_carry: Carry):
        data_keys = _data_keys(key, block_seeds)
        lanes = Lanes(block_hp, data_keys)
        block_carry, history = advance(
            plan, make_optimizer, lanes, block_carry, data, tol, start, n_records, eval_data, end
        )
        result = finish(plan, lanes, block_carry, data, history, eval_data, end)
        n_valid = (end - start + plan.record_every - 1) // plan.record_every
        return _packed(result), _lowest(result, eval_data, n_valid), block_carry

    return _over_blocks(run_block, (lane_hp, lane_seeds, carry), lanes_per_block)


def _packed(result: FitResult) -> FitResult:
    """What leaves the program: a SweepResult keeps no optimizer state, so none is copied out."""
    return result._replace(opt_state=None)


def _lowest(result: FitResult, eval_data: Any, n_valid: Array | None = None) -> Array:
    """Per lane: the lowest finite training loss, and validation loss with ``eval_data``
    (of the first ``n_valid`` records only, if given)."""
    histories = [result.losses, *([result.eval_losses] if eval_data is not None else [])]
    if n_valid is not None:
        rows = jnp.arange(result.losses.shape[0]).reshape(-1, 1)
        histories = [jnp.where(rows < n_valid, h, jnp.inf) for h in histories]
    lowest = [_lowest_finite(histories[0], result.final_loss)]
    if eval_data is not None:
        validation = histories[1]  # may hold NaN: masked
        validation = jnp.where(jnp.isfinite(validation), validation, jnp.inf)
        lowest.append(_lowest_finite(validation, result.final_eval_loss))
    return jnp.stack(lowest, axis=-1)


_HISTORIES = ("losses", "param_history", "eval_losses")


def _over_blocks(run_block: Callable[..., tuple], inputs: tuple, lanes_per_block: int) -> tuple:
    """``run_block`` over the lanes of ``inputs`` (lanes-first pytrees), ``lanes_per_block``
    at a time, one block after another: ``(result, lowest, carry)`` of all lanes, the
    result's histories records-first, everything else lanes-first."""
    n_lanes = jax.tree.leaves(inputs)[0].shape[0]
    if lanes_per_block >= n_lanes:
        return run_block(*inputs)
    n_blocks = n_lanes // lanes_per_block
    blocks = jax.tree.map(lambda a: a.reshape(n_blocks, lanes_per_block, *a.shape[1:]), inputs)
    result, lowest, carry = jax.lax.map(lambda block: run_block(*block), blocks)

    def lanes_first(a: Array) -> Array:  # [blocks, block, …] -> [lanes, …]
        return a.reshape(n_lanes, *a.shape[2:])

    def records_first(a: Array) -> Array:  # [blocks, records, block, …] -> [records, lanes, …]
        return jnp.moveaxis(a, 0, 1).reshape(a.shape[1], n_lanes, *a.shape[3:])

    histories = {name: getattr(result, name) for name in _HISTORIES}
    result = jax.tree.map(lanes_first, result._replace(**dict.fromkeys(_HISTORIES)))
    result = result._replace(**jax.tree.map(records_first, histories))
    return result, lanes_first(lowest), jax.tree.map(lanes_first, carry)


def _lowest_finite(losses: Array, final_loss: Array) -> Array:
    """Per lane: the lowest finite recorded or final loss (+inf if none is finite).

    ``losses`` is records-first, ``[records, lanes]``, as :func:`jaxgd.train.run` returns it.
    A training history holds finite losses only, or +inf where a run's very first loss was
    not finite: a run stops at its first non-finite loss and from there repeats the loss of
    its final parameters. So its plain minimum needs no mask (a mask made XLA write a
    masked copy of the whole history first).
    """
    final_loss = final_loss.astype(losses.dtype)
    return jnp.minimum(
        jnp.min(losses, axis=0), jnp.where(jnp.isfinite(final_loss), final_loss, jnp.inf)
    )


def on_host_lanes_first(result: FitResult, n_lanes: int) -> FitResult:
    """The first ``n_lanes`` lanes of ``result`` as NumPy arrays, every field lanes-first.

    The histories come records-first from the program; their lanes-first form is a
    transposed view (no copy).
    """
    lanes_first = functools.partial(np.moveaxis, source=0, destination=1)
    result = result._replace(
        losses=lanes_first(np.asarray(result.losses)),
        param_history=jax.tree.map(lambda a: lanes_first(np.asarray(a)), result.param_history),
        eval_losses=jax.tree.map(lambda a: lanes_first(np.asarray(a)), result.eval_losses),
    )
    return jax.tree.map(lambda a: np.asarray(a)[:n_lanes], result)
