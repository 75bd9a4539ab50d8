"""Stops: which lanes converged or diverged in a pass over a chunk, and the history they leave.

:func:`find_events` reads a pass's records for the first stopping event of each lane,
:func:`settle` writes the chunk's records as the history shows them. Both work on the
records as the pass wrote them, update-major (``[updates, lanes]``, or ``[updates]`` for
a single run): every reduction runs over axis 0, with no transposes.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxgd._engine.plan import NEVER, Plan
from jaxgd._engine.state import RUNNING, Carry, Record
from jaxgd._types import Array


class Events(NamedTuple):
    """What one lane's pass over a chunk met (see :func:`find_events`)."""

    stop: Array
    converged: Array
    stopped_at: Array


def _diverging(loss: Array, limit: Array | None) -> Array:
    """Not finite, or above the lane's limit."""
    if limit is None:
        return ~jnp.isfinite(loss)
    lanes_limit = limit.reshape((1,) * (loss.ndim - limit.ndim) + limit.shape)
    return ~jnp.isfinite(loss) | (loss > lanes_limit)


class _Pass(NamedTuple):
    """A pass over updates ``ts`` (the chunk), checked up to ``t_check``, planned to stop at
    ``stop``, from lane states ``start``, with the records it wrote."""

    ts: Array
    t_check: Array
    start: Carry
    stop: Array
    record: Record

    @property
    def update(self) -> Array:
        """``ts`` shaped to broadcast against the records' lanes."""
        return self.ts.reshape(self.ts.shape + (1,) * (self.record.loss.ndim - 1))


def _flags(plan: Plan, tol: Array | None, done: _Pass) -> tuple[Array, Array]:
    """Per record: ``(met, bad)``, a convergence or a divergence event."""
    losses, update = done.record.loss, done.update
    running = done.start.status == RUNNING
    finite = jnp.isfinite(losses)
    if plan.stop_on == "loss_change":
        previous = jnp.concatenate([done.start.prev_loss[None], losses[:-1]])
        met = finite & (jnp.abs(losses - previous) <= tol)
    elif plan.stop_on == "grad_norm":
        met = finite & (done.record.grad_norm <= tol)
    else:
        met = jnp.zeros_like(finite)
    written = running[None] & (update < done.t_check)  # rows past t_check are not this chunk's
    bad = _diverging(losses, done.start.loss_limit) & written & (update <= done.stop[None])
    return met & written & (update < done.stop[None]), bad


def _first_events(plan: Plan, tol: Array | None, done: _Pass, end_bad: Array) -> Events:
    """Each lane's first event: convergence at the first met record, divergence at the first
    bad one (or at ``t_check`` when the pass's result is bad), whichever comes first."""
    met, bad = _flags(plan, tol, done)
    update, ts = done.update, done.ts
    converged_at = jnp.min(jnp.where(met, update, NEVER), axis=0)
    bad_at = jnp.min(jnp.where(bad, update, NEVER), axis=0)
    bad_at = jnp.minimum(bad_at, jnp.where(end_bad, done.t_check, NEVER))
    converged = converged_at < bad_at
    diverged = bad_at < converged_at
    return Events(
        stop=jnp.where(
            converged, converged_at, jnp.where(diverged, jnp.maximum(bad_at - 1, ts[0]), done.stop)
        ),
        converged=converged,
        stopped_at=jnp.where(converged, converged_at, jnp.maximum(bad_at - 1, 0)),
    )


def find_events(
    plan: Plan,
    tol: Array | None,
    ts: Array,
    t_check: Array,
    start: Carry,
    stop: Array,
    record: Record,
    end_loss: Array,
) -> Events:
    """The first stopping event of each lane in a pass over updates ``ts`` that stopped at ``stop``.

    Convergence at ``t`` (a taken update, ``t < stop``): ``|L_t − L_{t−1}| <= tol`` (or
    ``‖g_t‖ <= tol``); the run keeps θ_t. Divergence at ``t <= stop``: L_t is not
    finite or above the lane's ``loss_limit``, so update ``t − 1`` is rejected and the run
    keeps θ_{t−1}; ``end_loss`` (the loss of the pass's result, on batch ``t_check``)
    checks the last update. Returns the new ``stop`` (unchanged if nothing happened).
    """
    done = _Pass(ts, t_check, start, stop, record)
    running = start.status == RUNNING
    losses = record.loss
    end_bad = running & (stop >= t_check) & _diverging(end_loss, start.loss_limit)
    # Most chunks meet no event: a cheap flag first, the search per lane only if it is set.
    # A column of records holds a non-finite loss exactly when its sum is not finite (or,
    # rarely, when the sum overflows; the search then finds nothing). The sums are a product
    # with a vector of ones, which reads the records faster than a masked reduction on
    # XLA's CPU backend. (Rows past t_check hold a running lane's finite earlier records,
    # all below its limit.) With a limit, the column maxima are compared with it too.
    n_records = losses.shape[0]
    sums = jnp.ones((1, n_records), losses.dtype) @ losses.reshape(n_records, -1)
    flagged = jnp.any(running.reshape(-1) & ~jnp.isfinite(sums[0])) | jnp.any(end_bad)
    if start.loss_limit is not None:
        flagged = flagged | jnp.any(running & (jnp.max(losses, axis=0) > start.loss_limit))
    if plan.stop_on is not None:
        flagged = flagged | jnp.any(_flags(plan, tol, done)[0])
    return jax.lax.cond(
        flagged,
        lambda: _first_events(plan, tol, done, end_bad),
        lambda: Events(stop=stop, converged=jnp.zeros_like(running), stopped_at=start.stopped_at),
    )


def settle(
    start: Carry,
    ts: Array,
    chunk_end: Array,
    stop: Array,
    end: Carry,
    record: Record,
    final_eval: Array | None = None,
) -> tuple[Carry, Record]:
    """A chunk's records as its history shows them: from a lane's ``stop`` on, the
    loss (and parameters, and ``final_eval``, the validation loss) of its final state
    ``end``, repeated."""
    stopped_index = jnp.clip(stop - ts[0], 0, ts.shape[0] - 1)
    losses = record.loss
    at_stop = jnp.take_along_axis(losses, stopped_index[None], axis=0)[0]
    # a lane that stops in this chunk: its loss at the stop; one stopped before: its final
    # loss, carried in prev_loss (its record here is the loss of its frozen parameters on
    # this chunk's batch, which changes with the batch)
    stops_here = (start.status == RUNNING) & jnp.isfinite(at_stop)
    final_loss = jnp.where(stops_here, at_stop, start.prev_loss)
    update = ts.reshape(ts.shape + (1,) * (losses.ndim - 1))
    keep = (start.status == RUNNING)[None] & (update <= stop[None])
    losses = jnp.where(keep, losses, final_loss[None])

    def repeat_final(recorded: Array, final: Array) -> Array:
        flag = keep.reshape(keep.shape + (1,) * (recorded.ndim - keep.ndim))
        return jnp.where(flag, recorded, final[None])

    params = (
        None if record.params is None else jax.tree.map(repeat_final, record.params, end.params)
    )
    eval_losses = None if final_eval is None else repeat_final(record.eval_loss, final_eval)
    # L_{t−1} before the next chunk: the loss of the chunk's last update taken
    prev_loss = jax.lax.dynamic_index_in_dim(losses, chunk_end - 1 - ts[0], 0, keepdims=False)
    return end._replace(prev_loss=prev_loss), Record(losses, params, None, eval_losses)
