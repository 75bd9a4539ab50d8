"""The specification of one run: ``reference_fit``, a plain loop that :func:`jaxgd.fit` must equal.

:func:`jaxgd.fit` and :func:`jaxgd.sweep` run updates in chunks with look-ahead and replays
(see :mod:`jaxgd.train`) to keep their checks cheap. This module states what they compute,
one update at a time, in a ``lax.scan`` with a select for a stopped run, and nothing else.
Tests hold the fast engine to it (``tests/test_reference.py``).

One update ``t = 0, 1, …, n − 1`` of a running run, from parameters θ_t and state s_t:

1. **Batch.** The whole data (``batch_size=None``). With ``sampling="shuffle"``, epoch
   ``e = t // u`` (``u`` updates per epoch) walks through :func:`jaxgd.train.epoch_order`
   ``(key, e, m)`` in slices of ``k``; a last, smaller slice is padded and its missing
   examples weigh 0 (the loss is then the weighted mean of per-example losses), unless
   ``drop_last``. With ``sampling="replacement"``: ``k`` indices drawn uniformly from
   ``fold_in(key, t)``.
2. **Loss and gradient** ``L_t, g_t`` of θ_t on the batch.
3. **Divergence.** If ``L_t`` is not finite or exceeds the limit
   ``max_loss_ratio × max(L_init, L_zero)`` (whole-data losses of the start and of all-zero
   parameters; no limit when that reference is not positive and finite), the update that
   made θ_t is rejected: the run ends with θ_{t−1}, s_{t−1}, ``diverged_at = max(t − 1, 0)``.
4. **Convergence.** Else, with ``tol``, if ``|L_t − L_{t−1}| <= tol`` (``L_{−1} = +∞``) or,
   with ``stop_on="grad_norm"``, ``‖g_t‖ <= tol``: the run ends with θ_t, s_t, ``steps = t``.
5. **Update.** Else ``θ_{t+1}, s_{t+1}`` from the optimizer.

After the last update, θ_n's loss on batch ``n`` passes the divergence test of 3 or the last
update is rejected. The history records ``L_t`` every ``record_every`` updates; from the
update a run ends at, it repeats the loss of the run's final parameters as last recorded
(``+∞`` when the very first loss was not finite). ``epoch_losses[e]`` is the whole-data loss
after epoch ``e``'s last update, or the final loss for an epoch that ends after the run did.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxgd._keys import as_key
from jaxgd._types import Batch, LossFn, Params, PRNGKey
from jaxgd.optim.base import GradientTransformation, apply_updates
from jaxgd.train import DEFAULT_MAX_LOSS_RATIO, LOSS_KEY_STREAM, FitResult, epoch_order, make_plan


def _batch_of(plan: Any, data: Batch, key: PRNGKey, t: Any) -> tuple[Any, Any, Any]:
    """``(x_b, y_b, weights)`` of update ``t`` (weights None unless examples are missing)."""
    x, y = data
    k, m = plan.batch_size, plan.n_examples
    if k is None:
        return x, y, None
    if plan.sampling == "replacement":
        index = jax.random.randint(jax.random.fold_in(key, t), (k,), 0, m)
        return x[index], y[index], None
    order = epoch_order(key, t // plan.updates_per_epoch, m)
    start = (t % plan.updates_per_epoch) * k
    padded = jnp.concatenate([order, jnp.full((k,), m, order.dtype)])
    index = jax.lax.dynamic_slice_in_dim(padded, start, k)
    if not plan.masked:
        return x[index], y[index], None
    present = index < m
    index = jnp.where(present, index, 0)
    return x[index], y[index], present


def _loss(plan: Any, params: Params, x: Any, y: Any, weights: Any, key: Any) -> Any:
    if key is not None:
        return jnp.asarray(plan.loss_fn(params, x, y, key=key))
    if weights is None:
        return jnp.asarray(plan.loss_fn(params, x, y))
    per_example = jax.vmap(lambda xi, yi: plan.loss_fn(params, xi[None], yi[None]))(x, y)
    weights = weights.astype(per_example.dtype)
    return jnp.sum(weights * per_example) / jnp.sum(weights)


def reference_fit(
    loss_fn: LossFn,
    params: Params,
    data: Batch | None,
    optimizer: GradientTransformation,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    key: PRNGKey | None = None,
    tol: float | None = None,
    record_every: int = 1,
    stop_on: str = "loss_change",
    sampling: str = "shuffle",
    drop_last: bool = False,
    loss_with_key: bool = False,
    max_loss_ratio: float | None = DEFAULT_MAX_LOSS_RATIO,
) -> FitResult:
    """One run, update by update, as the module docs state it (``param_history`` is None)."""
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
        record_params=False,
        loss_with_key=loss_with_key,
        max_loss_ratio=max_loss_ratio,
    )
    key = as_key(0 if key is None else key)
    data = None if data is None else tuple(jnp.asarray(a) for a in data)

    def whole(p: Params) -> Any:
        x, y = data if data is not None else (None, None)
        return jnp.asarray(loss_fn(p, x, y))

    def batch_loss(p: Params, t: Any) -> Any:
        x, y, weights = (None, None, None) if data is None else _batch_of(plan, data, key, t)
        loss_key = None
        if loss_with_key:
            loss_key = jax.random.fold_in(jax.random.fold_in(key, LOSS_KEY_STREAM), t)
        return _loss(plan, p, x, y, weights, loss_key)

    dtype = jnp.result_type(*jax.tree.leaves(params))
    dtype = dtype if jnp.issubdtype(dtype, jnp.floating) else jnp.result_type(float)
    limit = jnp.array(jnp.inf, dtype)
    if max_loss_ratio is not None:
        references = jnp.stack(
            [whole(params).astype(dtype), whole(jax.tree.map(jnp.zeros_like, params)).astype(dtype)]
        )
        reference = jnp.max(jnp.where(jnp.isfinite(references), references, -jnp.inf))
        usable = jnp.isfinite(reference) & (reference > 0)
        limit = jnp.where(usable, max_loss_ratio * reference, jnp.inf).astype(dtype)

    def bad(loss: Any) -> Any:
        return ~jnp.isfinite(loss) | (loss > limit)

    state0 = optimizer.init(params)
    inf = jnp.array(jnp.inf, dtype)
    # carry: θ_t, s_t, θ_{t−1}, s_{t−1}, L_{t−1}, running, converged, stopped_at, final loss
    carry0 = (params, state0, params, state0, inf, jnp.array(True), jnp.array(False), 0, inf)

    def update(carry: tuple, t: Any) -> tuple[tuple, Any]:
        theta, state, before, state_before, previous, running, converged, stopped_at, final = carry
        loss, grads = jax.value_and_grad(batch_loss)(theta, t)
        loss = loss.astype(dtype)
        diverges = running & bad(loss)
        if tol is None:
            meets = jnp.array(False)
        elif stop_on == "grad_norm":
            norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))
            meets = jnp.isfinite(loss) & (norm <= tol)
        else:
            meets = jnp.isfinite(loss) & (jnp.abs(loss - previous) <= tol)
        converges = running & ~diverges & meets
        steps_on = running & ~diverges & ~converges
        updates, new_state = optimizer.update(grads, state, theta)
        new_theta = apply_updates(theta, updates)

        def pick(flag: Any, a: Any, b: Any) -> Any:
            return jax.tree.map(lambda u, v: jnp.where(flag, u, v), a, b)

        kept_theta = pick(diverges, before, theta)  # the state a run ends with
        kept_state = pick(diverges, state_before, state)
        final = jnp.where(diverges, previous, jnp.where(converges, loss, final))
        record = jnp.where(running & ~diverges, loss, final)
        next_carry = (
            pick(steps_on, new_theta, kept_theta),
            pick(steps_on, new_state, kept_state),
            pick(steps_on, theta, before),
            pick(steps_on, state, state_before),
            jnp.where(steps_on, loss, previous),
            steps_on,
            converged | converges,
            jnp.where(diverges, jnp.maximum(t - 1, 0), jnp.where(converges, t, stopped_at)),
            final,
        )
        epoch_end = steps_on & ((t + 1) % plan.updates_per_epoch == 0)
        epoch_record = (
            jax.lax.cond(epoch_end, lambda: whole(new_theta).astype(dtype), lambda: inf)
            if plan.n_epochs is not None
            else None
        )
        return next_carry, (record, epoch_record)

    ts = jnp.arange(plan.n_updates)
    carry, (records, epoch_records) = jax.lax.scan(update, carry0, ts)
    theta, state, before, state_before, _, running, converged, stopped_at, _ = carry
    # the last update passes the divergence test on the next batch, or is rejected
    last_bad = running & bad(batch_loss(theta, plan.n_updates).astype(dtype))
    theta = jax.tree.map(lambda a, b: jnp.where(last_bad, a, b), before, theta)
    state = jax.tree.map(lambda a, b: jnp.where(last_bad, a, b), state_before, state)
    last = plan.n_updates - 1
    diverged = (~running & ~converged) | last_bad
    stopped_at = jnp.where(last_bad, last, stopped_at)
    steps_taken = jnp.where(running & ~last_bad, plan.n_updates, stopped_at)
    final_loss = whole(theta)
    epoch_losses = None
    if plan.n_epochs is not None:  # epochs that end after the run did: its final loss
        ends = (jnp.arange(plan.n_epochs) + 1) * plan.updates_per_epoch - 1
        epoch_losses = jnp.where(ends < steps_taken, epoch_records[ends], final_loss)
    return FitResult(
        params=theta,
        opt_state=state,
        losses=records[:: plan.record_every],
        steps=steps_taken.astype(jnp.int32),
        converged=converged,
        diverged=diverged,
        diverged_at=jnp.where(diverged, stopped_at, -1).astype(jnp.int32),
        final_loss=final_loss,
        epoch_losses=epoch_losses,
        param_history=None,
    )
