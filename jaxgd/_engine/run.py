"""Whole runs of every lane: start, the chunk engine, and the result."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from jaxgd._engine.chunks import advance
from jaxgd._engine.lanes import Lanes
from jaxgd._engine.plan import Plan
from jaxgd._engine.state import CONVERGED, DIVERGED, RUNNING, Carry, FitResult, History
from jaxgd._engine.step import eval_loss, full_loss, init_carry, select
from jaxgd._types import Array, Batch, OptState, Params
from jaxgd.optim.base import GradientTransformation


def init_lanes(
    plan: Plan,
    make_optimizer: Callable[[Any], GradientTransformation],
    lanes: Lanes,
    params: Params,
    data: Batch | None,
    opt_state: OptState | None = None,
) -> Carry:
    """Every lane's loop state before the first update (``params`` lane-batched)."""

    def one(hyperparameters: Any, params: Params, opt_state: Any) -> Carry:
        return init_carry(plan, make_optimizer(hyperparameters), params, opt_state, data)

    return lanes.map(one)(lanes.hyperparameters, params, opt_state)


def finish(
    plan: Plan,
    lanes: Lanes,
    carry: Carry,
    data: Batch | None,
    history: History,
    eval_data: Batch | None = None,
    end: Array | int | None = None,
) -> FitResult:
    """Package every lane's loop state and recorded history as a :class:`FitResult`.

    ``end``: the update the lanes that still run have reached (default: the plan's last,
    ``n_updates``); a sweep that prunes packages its lanes at the end of every rung.
    """
    stopped = carry.status != RUNNING
    end = plan.n_updates if end is None else end
    steps = jnp.where(stopped, carry.stopped_at, end).astype(jnp.int32)
    final_loss = lanes.map(lambda p: full_loss(plan, p, data))(carry.params)
    epoch_losses = carry.epoch_losses
    if epoch_losses is not None:  # epochs that end after a run stopped (or ``end``): its final loss
        epoch_ends = (jnp.arange(plan.n_epochs) + 1) * plan.updates_per_epoch - 1
        epoch_ends = epoch_ends.reshape((1,) * steps.ndim + epoch_ends.shape)  # [(lanes,) epochs]
        after_stop = epoch_ends >= steps[..., None]
        epoch_losses = jnp.where(after_stop, final_loss[..., None], epoch_losses)
    params, final_eval, best_step = carry.params, None, None
    if eval_data is not None:
        dtype = carry.prev_loss.dtype
        final_eval = lanes.map(lambda p: eval_loss(plan, p, eval_data, dtype))(carry.params)
    if carry.best is not None:
        params, final_eval, best_step = _best_or_final(lanes, carry, final_eval, steps)
        final_loss = lanes.map(lambda p: full_loss(plan, p, data))(params)
    return FitResult(
        params=params,
        opt_state=carry.opt_state,
        losses=history.losses,
        steps=steps,
        converged=carry.status == CONVERGED,
        diverged=carry.status == DIVERGED,
        diverged_at=jnp.where(carry.status == DIVERGED, carry.stopped_at, -1).astype(jnp.int32),
        final_loss=final_loss,
        epoch_losses=epoch_losses,
        param_history=history.params,
        eval_losses=history.eval_losses,
        final_eval_loss=final_eval,
        best_step=best_step,
    )


def _best_or_final(
    lanes: Lanes, carry: Carry, final_eval: Array, steps: Array
) -> tuple[Params, Array, Array]:
    """The recorded parameters with the lowest validation loss, unless the final ones are
    as low (or every recorded one was NaN): ``(params, their validation loss, their step)``."""
    best = carry.best
    use_best = (best.eval_loss < final_eval) | (
        jnp.isnan(final_eval) & jnp.isfinite(best.eval_loss)
    )
    params = lanes.map(select)(use_best, best.params, carry.params)
    return (
        params,
        jnp.where(use_best, best.eval_loss, final_eval),
        jnp.where(use_best, best.step, steps).astype(jnp.int32),
    )


def run(
    plan: Plan,
    make_optimizer: Callable[[Any], GradientTransformation],
    lanes: Lanes,
    params: Params,
    data: Batch | None,
    tol: Array | None = None,
    opt_state: OptState | None = None,
    eval_data: Batch | None = None,
) -> FitResult:
    """Whole runs of every lane as one pure, traceable function (what :func:`jaxgd.sweep` jits).

    ``params`` (and ``opt_state``, if given) carry a leading lane axis, as do the
    fields of the result, except the histories (``losses``, ``param_history``): those
    are records-first, ``[records, lanes, …]``, as the loop writes them.
    """
    carry = init_lanes(plan, make_optimizer, lanes, params, data, opt_state)
    carry, history = advance(
        plan, make_optimizer, lanes, carry, data, tol, 0, plan.n_records, eval_data
    )
    return finish(plan, lanes, carry, data, history, eval_data)
