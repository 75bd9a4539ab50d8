"""The chunk engine: many updates of many lanes with cheap checks, equal to the plain loop.

The updates run in chunks of about ``CHUNK_UPDATES``, as passes of one ``while_loop``;
every pass runs the same compiled step (:func:`jaxgd._engine.step.step`), with no check
and no select in it (a select of the new or the old state at every update made XLA copy
the whole state before each update). A pass takes every lane's updates ``first, …,
last − 1`` of the chunk, shared by the lanes; then a lane that must not have taken them
(it had stopped) is put back where it was.

The first pass over a chunk runs all of it, then computes the loss of the result once
and looks for stopping events (a non-finite loss, ``tol``) in its records. If no lane
met one, the chunk is done. Otherwise the chunk is replayed from its start in segments
that end at the lanes' stops, in order: at the end of each segment the lanes that stop
there keep exactly the parameters and optimizer state they have, and the others go on
(computing what they computed the first time). The records of the first pass stand.

:func:`jaxgd.reference.reference_fit` states what this computes, one update at a time;
tests hold the engine to it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxgd._engine.events import Events, find_events, settle
from jaxgd._engine.lanes import Lanes
from jaxgd._engine.order import batch_indices
from jaxgd._engine.plan import Plan
from jaxgd._engine.state import CONVERGED, DIVERGED, RUNNING, Carry, History, Record
from jaxgd._engine.step import end_loss, eval_loss, improve, select, step
from jaxgd._types import Array, Batch, Params, PRNGKey
from jaxgd.optim.base import GradientTransformation

CHUNK_UPDATES = 100
"""About how many updates a lane takes between two rounds of checks."""


def records_per_chunk(n_records: int, record_every: int) -> int:
    """Records per chunk: a divisor of ``n_records`` near ``CHUNK_UPDATES / record_every``.

    (A poor divisor, e.g. of a prime, gives way to the target; the last chunk is then padded.)
    """
    target = max(1, CHUNK_UPDATES // record_every)
    divisor = max(d for d in range(1, min(target, n_records) + 1) if n_records % d == 0)
    return divisor if 4 * divisor >= min(target, n_records) else target


class _Chunks(NamedTuple):
    """What every pass of one :func:`advance` shares."""

    plan: Plan
    make_optimizer: Callable[[Any], GradientTransformation]
    lanes: Lanes
    data: Batch | None
    tol: Array | None
    start: Array
    limit: Array  # the first update not to take
    per_chunk: int  # records per chunk
    n_chunks: int
    eval_data: Batch | None = None

    @property
    def length(self) -> int:
        return self.per_chunk * self.plan.record_every

    def updates(self, chunk: Array) -> Array:
        """The updates of ``chunk``."""
        return self.start + chunk * self.length + jnp.arange(self.length, dtype=jnp.int32)

    def first_stop(self, status: Array, ts: Array) -> Array:
        """Where each lane's first pass over updates ``ts`` stops: a running lane at the end."""
        return jnp.where(status == RUNNING, self.limit, ts[0]).astype(jnp.int32)

    def lane_step(self, hyperparameters: Any, key: PRNGKey, lane: Carry, index: Any, t: Array):
        optimizer = self.make_optimizer(hyperparameters)
        return step(self.plan, optimizer, self.data, key, self.limit, lane, (t, index))

    def eval_losses(self, params: Params, dtype: Any) -> Array:
        """Every lane's validation loss at ``params``."""
        return self.lanes.map(lambda p: eval_loss(self.plan, p, self.eval_data, dtype))(params)


def _validate(c: _Chunks, lane: Carry, i: Array, t: Array) -> tuple[Carry, Array | None]:
    """At a record point (``i`` a multiple of ``record_every``), every lane's validation loss
    at θ_t, and its best parameters so far with ``keep_best``; NaN elsewhere. The test is
    the same for every lane, so the validation set is read once per record, not per update.
    """
    if c.eval_data is None:
        return lane, None
    dtype = lane.prev_loss.dtype

    def at_record() -> tuple[Any, Array]:
        loss = c.eval_losses(lane.params, dtype)
        best = lane.best
        if best is not None:
            best = c.lanes.map(improve)(best, lane.params, loss, jnp.broadcast_to(t, loss.shape))
        return best, loss

    def elsewhere() -> tuple[Any, Array]:
        return lane.best, jnp.full_like(lane.prev_loss, jnp.nan)

    best, loss = jax.lax.cond(i % c.plan.record_every == 0, at_record, elsewhere)
    return lane._replace(best=best), loss


class _Passes(NamedTuple):
    """The state of :func:`advance`'s loop before a pass over updates ``first, …`` of ``chunk``.

    ``carry`` is every lane's state at ``first`` (its ``status`` the one at the chunk's
    start); ``records`` the chunk's records so far (``[updates, (lanes,) …]``);
    ``replay``: whether the pass replays the chunk up to the next lane's stop.
    """

    chunk: Array
    first: Array
    replay: Array
    stop: Array
    status: Array
    stopped_at: Array
    carry: Carry
    records: Record
    history: History


def _run_pass(c: _Chunks, lane: Carry, records: Record, ts: Array, first: Array, last: Array):
    """Updates ``first … last − 1`` of chunk ``ts`` of every lane (the loop over updates
    outside, the lanes inside: records are written as rows, ``[updates, lanes]``)."""
    lanes = c.lanes

    def lane_batches(key: PRNGKey, ts: Array, last: Array) -> Array | None:
        return batch_indices(c.plan, key, jnp.concatenate([ts, last[None]]))

    both = lanes.map(lane_batches, 1)(lanes.keys, ts, last)
    if both is None:
        batches = end_batch = None
    else:  # [(lanes,) updates + 1, batch]
        batches, end_batch = both[..., :-1, :], both[..., -1, :]
    lane_step = lanes.map(c.lane_step, 4 if batches is not None else 3)

    def update(i: Array, state: tuple[Carry, Record]) -> tuple[Carry, Record]:
        lane, records = state
        lane, validation = _validate(c, lane, i, ts[i])
        if batches is None:
            lane, record = lane_step(lanes.hyperparameters, lanes.keys, lane, None, ts[i])
        else:
            index = batches[:, i] if lanes.batched else batches[i]
            lane, record = lane_step(lanes.hyperparameters, lanes.keys, lane, index, ts[i])
        record = record._replace(eval_loss=validation)
        # a dynamic_update_slice: no negative-index or bounds handling per update
        return lane, jax.tree.map(
            lambda a, b: jax.lax.dynamic_update_index_in_dim(a, b, i, 0), records, record
        )

    lane, records = jax.lax.fori_loop(first - ts[0], last - ts[0], update, (lane, records))
    return lane, records, end_batch


def _check(c: _Chunks, ts, t_check, start: Carry, stop, end: Carry, records, batch) -> Events:
    """The events of a first pass (its result's loss on batch ``t_check`` included)."""

    def lane_end_loss(key: PRNGKey, params: Params, index: Any, t: Array) -> Array:
        return end_loss(c.plan, c.data, key, params, t, index)

    end_losses = c.lanes.map(lane_end_loss, 3 if batch is not None else 2)(
        c.lanes.keys, end.params, batch, t_check
    )
    return find_events(c.plan, c.tol, ts, t_check, start, stop, records, end_losses)


def _no_check(c: _Chunks, ts, t_check, start: Carry, stop, *_) -> Events:
    """A replay pass looks for nothing: its stops are known."""
    return Events(stop=stop, converged=jnp.zeros_like(stop, bool), stopped_at=start.stopped_at)


def _strided(record: Record, r: int) -> History:
    """Every ``r``-th record of a chunk: what its history keeps."""
    every = functools.partial(jax.tree.map, lambda a: a[::r])
    return History(record.loss[::r], every(record.params), every(record.eval_loss))


def _pass(c: _Chunks, state: _Passes) -> _Passes:
    """One pass over (part of) a chunk, then the state of the next pass."""
    ts = c.updates(state.chunk)
    chunk_end = jnp.minimum(ts[-1] + 1, c.limit)
    running = state.carry.status == RUNNING
    ahead = running & (state.stop > state.first) & (state.stop < chunk_end)
    last = jnp.where(state.replay, jnp.min(jnp.where(ahead, state.stop, chunk_end)), chunk_end)
    end, records, end_batch = _run_pass(c, state.carry, state.records, ts, state.first, last)
    found = jax.lax.cond(
        state.replay,
        functools.partial(_no_check, c),
        functools.partial(_check, c),
        *(ts, chunk_end, state.carry, state.stop, end, records, end_batch),
    )
    changed = ~state.replay & (found.stop < state.stop)
    stop = jnp.where(changed, found.stop, state.stop)
    status = jnp.where(changed, jnp.where(found.converged, CONVERGED, DIVERGED), state.status)
    status = status.astype(jnp.int32)
    stopped_at = jnp.where(changed, found.stopped_at, state.stopped_at)
    event = jnp.any(changed)
    done = jnp.where(state.replay, last == chunk_end, ~event)  # the chunk is done
    took = running & (stop >= last) & ~event  # the lanes that keep this pass's result
    carry = c.lanes.map(select)(took, end, state.carry)
    final_eval = None if c.eval_data is None else c.eval_losses(carry.params, carry.prev_loss.dtype)
    settled, settled_records = settle(state.carry, ts, chunk_end, stop, carry, records, final_eval)
    # written after every pass; the chunk's last pass writes it for good
    history = jax.tree.map(
        lambda buffer, piece: jax.lax.dynamic_update_index_in_dim(buffer, piece, state.chunk, 0),
        state.history,
        _strided(settled_records, c.plan.record_every),
    )
    next_chunk = jnp.where(done, state.chunk + 1, state.chunk)
    next_ts = c.updates(next_chunk)
    return _Passes(
        chunk=next_chunk,
        first=jnp.where(done, next_ts[0], jnp.where(state.replay, last, ts[0])),
        replay=~done & (state.replay | event),
        stop=jnp.where(done, c.first_stop(status, next_ts), stop),
        status=status,
        stopped_at=stopped_at,
        carry=select(done, settled._replace(status=status, stopped_at=stopped_at), carry),
        records=records,
        history=history,
    )


def _first_passes(c: _Chunks, carry: Carry) -> _Passes:
    """The loop state before the first pass: empty records and history, shaped by one step."""
    ts = c.updates(jnp.array(0, jnp.int32))

    def one_record(hyperparameters: Any, key: PRNGKey, lane: Carry) -> Record:
        index = batch_indices(c.plan, key, ts[:1])
        _, record = c.lane_step(
            hyperparameters, key, lane, None if index is None else index[0], ts[0]
        )
        return record

    lanes = c.lanes
    record = jax.eval_shape(lanes.map(one_record), lanes.hyperparameters, lanes.keys, carry)
    if c.eval_data is not None:
        record = record._replace(eval_loss=record.loss)
    records = jax.tree.map(lambda a: jnp.zeros((c.length, *a.shape), a.dtype), record)
    history = jax.tree.map(
        lambda a: jnp.zeros((c.n_chunks, c.per_chunk, *a.shape), a.dtype),
        History(record.loss, record.params, record.eval_loss),
    )
    return _Passes(
        chunk=jnp.array(0, jnp.int32),
        first=ts[0],
        replay=jnp.array(False),
        stop=c.first_stop(carry.status, ts),
        status=carry.status,
        stopped_at=carry.stopped_at,
        carry=carry,
        records=records,
        history=history,
    )


def advance(
    plan: Plan,
    make_optimizer: Callable[[Any], GradientTransformation],
    lanes: Lanes,
    carry: Carry,
    data: Batch | None,
    tol: Array | None,
    start: Array | int,
    n_records: int,
    eval_data: Batch | None = None,
    end: Array | int | None = None,
) -> tuple[Carry, History]:
    """Run updates ``start, …, start + n_records × record_every − 1`` of every lane.

    Each chunk keeps the record of every ``record_every``-th update; updates past
    ``plan.n_updates`` (or past ``end``, which may be traced) are not taken, and their
    records are left as zeros. The history comes out records-first, ``[records, (lanes,)
    …]``, as the loop writes it.
    """
    per_chunk = records_per_chunk(n_records, plan.record_every)
    n_chunks = math.ceil(n_records / per_chunk)
    start = jnp.asarray(start, jnp.int32)
    limit = jnp.minimum(start + n_records * plan.record_every, plan.n_updates)
    if end is not None:
        limit = jnp.minimum(limit, jnp.asarray(end, jnp.int32))
    c = _Chunks(
        plan, make_optimizer, lanes, data, tol, start, limit, per_chunk, n_chunks, eval_data
    )

    def more(state: _Passes) -> Array:
        return (state.chunk < n_chunks) & (c.updates(state.chunk)[0] < limit)

    state = jax.lax.while_loop(more, functools.partial(_pass, c), _first_passes(c, carry))

    def records_first(a: Array) -> Array:  # [chunks, per_chunk, (lanes,) …] -> [records, …]
        return a.reshape(n_chunks * per_chunk, *a.shape[2:])[:n_records]

    return state.carry, jax.tree.map(records_first, state.history)
