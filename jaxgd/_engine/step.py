"""One update of gradient descent, the notes' learning step, and the losses it is judged by.

Update ``t`` of a run at parameters θ_t and optimizer state s_t::

    L_t = loss(θ_t; batch_t),   g_t = ∂L_t/∂θ_t,   (u_t, s_{t+1}) = update(g_t, s_t, θ_t),
    θ_{t+1} = θ_t + u_t

:func:`step` is that and nothing else (no check, no select): the body of the engine's
loop. The rest of this module gives the losses the engine's checks read: the batch
loss (a weighted mean when examples of a last, smaller batch are missing), the
whole-data loss and the divergence limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jaxgd._engine.order import select_batch
from jaxgd._engine.plan import Plan
from jaxgd._engine.state import RUNNING, Best, Carry, Record
from jaxgd._types import Array, Batch, OptState, Params, PRNGKey
from jaxgd.optim.base import GradientTransformation, apply_updates

LOSS_KEY_STREAM = 2**31 - 1
"""Update t's loss key (dropout) is ``fold_in(fold_in(key, LOSS_KEY_STREAM), t)``."""


def full_loss(plan: Plan, params: Params, data: Batch | None) -> Array:
    """The loss on the whole data set (or the surface's value when ``data`` is None)."""
    x, y = data if data is not None else (None, None)
    return jnp.asarray(plan.loss_fn(params, x, y))


def batch_loss(
    plan: Plan, params: Params, x: Any, y: Any, weights: Array | None, key: PRNGKey | None
) -> Array:
    """The loss of ``params`` on a batch: ``loss_fn``'s mean, or, with ``weights`` (0 for a
    missing example), the weighted mean of per-example losses; ``key`` for dropout."""
    if key is not None:
        return jnp.asarray(plan.loss_fn(params, x, y, key=key))
    if weights is None:
        return jnp.asarray(plan.loss_fn(params, x, y))
    per_example = jax.vmap(lambda xi, yi: plan.loss_fn(params, xi[None], yi[None]))(x, y)
    weights = weights.astype(per_example.dtype)
    return jnp.sum(weights * per_example) / jnp.sum(weights)


def loss_key(plan: Plan, key: PRNGKey, t: Array) -> PRNGKey | None:
    """The key ``loss_fn`` gets at update ``t`` (``None`` without ``loss_with_key``)."""
    if not plan.loss_with_key:
        return None
    return jax.random.fold_in(jax.random.fold_in(key, LOSS_KEY_STREAM), t)


def loss_on_batch(
    plan: Plan, data: Batch | None, key: PRNGKey, index: Array | None, t: Array
) -> Callable[[Params], Array]:
    """``θ ↦ L_t(θ)``: the loss on the batch of update ``t`` (examples ``index``)."""
    x, y, weights = select_batch(plan, data, index)
    return lambda params: batch_loss(plan, params, x, y, weights, loss_key(plan, key, t))


def eval_loss(plan: Plan, params: Params, eval_data: Batch, dtype: Any) -> Array:
    """The validation loss: ``loss_fn`` on the whole validation set (no key: evaluation mode)."""
    return full_loss(plan, params, eval_data).astype(dtype)


def improve(best: Best, params: Params, loss: Array, t: Array) -> Best:
    """``best`` with ``params`` (validation loss ``loss``, before update ``t``) where lower."""
    better = loss < best.eval_loss  # a NaN loss is never better
    return Best(
        select(better, params, best.params),
        jnp.where(better, loss, best.eval_loss),
        jnp.where(better, t, best.step).astype(jnp.int32),
    )


def global_norm(tree: Any) -> Array:
    """‖g‖₂ over every leaf of ``tree``."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(tree)))


def select(flag: Array, on_true: Any, on_false: Any) -> Any:
    """``on_true`` where ``flag``, else ``on_false``, leaf by leaf."""
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), on_true, on_false)


def loss_limit(plan: Plan, params: Params, data: Batch | None, dtype: Any) -> Array | None:
    """The loss above which a run that starts from ``params`` diverges.

    ``max_loss_ratio × L_ref`` with ``L_ref = max(L_init, L_zero)``: the whole-data losses
    of ``params`` and of all-zero parameters (the model that predicts 0, the scale of the
    problem). ``L_zero`` keeps a run that starts near the optimum (a fine-tuned or
    warm-started model, whose ``L_init`` can be 1e-13) from being judged against its own
    tiny starting loss. +inf when neither is positive and finite (the ratio then says
    nothing); ``None`` when the plan has no ``max_loss_ratio``.
    """
    if plan.max_loss_ratio is None:
        return None
    zero = jax.tree.map(jnp.zeros_like, params)
    losses = jnp.stack([full_loss(plan, p, data).astype(dtype) for p in (params, zero)])
    reference = jnp.max(jnp.where(jnp.isfinite(losses), losses, -jnp.inf))
    usable = jnp.isfinite(reference) & (reference > 0)
    return jnp.where(usable, plan.max_loss_ratio * reference, jnp.inf).astype(dtype)


def loss_dtype(params: Params) -> Any:
    """The dtype losses are kept in: the parameters' float type."""
    dtype = jnp.result_type(*jax.tree.leaves(params))
    return dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)


def init_carry(
    plan: Plan,
    optimizer: GradientTransformation,
    params: Params,
    opt_state: OptState | None,
    data: Batch | None,
) -> Carry:
    """The loop state of one run before the first update."""
    if opt_state is None:
        opt_state = optimizer.init(params)
    dtype = loss_dtype(params)
    return Carry(
        params=params,
        opt_state=opt_state,
        prev_loss=jnp.array(jnp.inf, dtype),
        status=jnp.array(RUNNING, jnp.int32),
        stopped_at=jnp.array(-1, jnp.int32),
        epoch_losses=(
            jnp.full((plan.n_epochs,), jnp.nan, dtype) if plan.n_epochs is not None else None
        ),
        loss_limit=loss_limit(plan, params, data, dtype),
        best=(
            Best(params, jnp.array(jnp.inf, dtype), jnp.array(0, jnp.int32))
            if plan.keep_best
            else None
        ),
    )


def _epoch_losses(
    plan: Plan, data: Batch | None, epoch_losses: Array | None, params: Params, t: Array, live: Any
) -> Array | None:
    """After the last update of an epoch, store the whole-data loss of ``params``."""
    if plan.n_epochs is None:
        return epoch_losses
    epoch_end = ((t + 1) % plan.updates_per_epoch == 0) & live
    epoch = jnp.minimum(t // plan.updates_per_epoch, plan.n_epochs - 1)
    return jax.lax.cond(
        epoch_end,
        lambda: epoch_losses.at[epoch].set(
            full_loss(plan, params, data).astype(epoch_losses.dtype)
        ),
        lambda: epoch_losses,
    )


def step(
    plan: Plan,
    optimizer: GradientTransformation,
    data: Batch | None,
    key: PRNGKey,
    limit: Array,
    carry: Carry,
    update: tuple[Array, Array | None],
) -> tuple[Carry, Record]:
    """Update ``t`` on the examples ``index``: it reports L_t (and θ_t, ‖g_t‖ when needed).

    No check and no select: the body of a bare loop of optimizer updates. A lane that
    must not take the update (it has stopped) is put back after the pass (see
    :func:`jaxgd._engine.chunks.advance`). ``limit``: updates from ``limit`` on store no
    epoch loss.
    """
    t, index = update
    loss, grads = jax.value_and_grad(loss_on_batch(plan, data, key, index, t))(carry.params)
    updates, opt_state = optimizer.update(grads, carry.opt_state, carry.params)
    params = apply_updates(carry.params, updates)
    new_carry = carry._replace(
        params=params,
        opt_state=opt_state,
        epoch_losses=_epoch_losses(plan, data, carry.epoch_losses, params, t, t < limit),
    )
    return new_carry, Record(
        loss=loss.astype(carry.prev_loss.dtype),
        params=carry.params if plan.record_params else None,
        grad_norm=global_norm(grads) if plan.stop_on == "grad_norm" else None,
    )


def end_loss(
    plan: Plan, data: Batch | None, key: PRNGKey, params: Params, t: Array, index: Array | None
) -> Array:
    """L_t of ``params`` on batch ``t``, without a gradient (the check after a chunk)."""
    return loss_on_batch(plan, data, key, index, t)(params)
