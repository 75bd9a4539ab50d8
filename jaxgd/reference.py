"""The specification of one run: ``reference_fit``, a plain loop that :func:`jaxgd.fit` must equal.

:func:`jaxgd.fit` and :func:`jaxgd.sweep` run updates in chunks with look-ahead and replays
(see :mod:`jaxgd._engine.chunks`) to keep their checks cheap. This module states what they compute,
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

With ``eval_data``, the validation loss (``loss_fn`` on the whole validation set) of the
parameters the run holds, θ_t while it runs and its final parameters once it stopped, is
recorded beside ``L_t``. With ``keep_best``, the result's parameters are those with the
lowest validation loss among the recorded ones of the running run and the final ones (the
final ones on a tie), and ``best_step`` is the update they were taken before.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxgd._engine.order import plain_epoch_order
from jaxgd._engine.plan import LoopOptions, Plan, make_plan
from jaxgd._engine.state import FitResult
from jaxgd._engine.step import batch_loss, global_norm, loss_dtype, loss_key
from jaxgd._keys import as_key
from jaxgd._types import Array, Batch, LossFn, Params, PRNGKey
from jaxgd.optim.base import GradientTransformation, apply_updates


class _Spec(NamedTuple):
    """One run's fixed parts."""

    plan: Plan
    optimizer: GradientTransformation
    data: Batch | None
    key: PRNGKey
    tol: float | None
    dtype: Any
    limit: Array  # the divergence limit (+inf for none)
    eval_data: Batch | None = None

    def validation(self, params: Params) -> Array | None:
        """The validation loss of ``params`` (None without validation data)."""
        if self.eval_data is None:
            return None
        return jnp.asarray(self.plan.loss_fn(params, *self.eval_data)).astype(self.dtype)

    def whole(self, params: Params) -> Array:
        """The loss on the whole data set."""
        x, y = self.data if self.data is not None else (None, None)
        return jnp.asarray(self.plan.loss_fn(params, x, y))

    def batch_loss(self, params: Params, t: Array) -> Array:
        """L_t: the loss of ``params`` on update ``t``'s batch."""
        x, y, weights = (None, None, None) if self.data is None else self.batch(t)
        return batch_loss(self.plan, params, x, y, weights, loss_key(self.plan, self.key, t))

    def batch(self, t: Array) -> tuple[Any, Any, Any]:
        """``(x_b, y_b, weights)`` of update ``t`` (weights None unless examples are missing)."""
        plan, (x, y) = self.plan, self.data
        k, m = plan.batch_size, plan.n_examples
        if k is None:
            return x, y, None
        if plan.sampling == "replacement":
            index = jax.random.randint(jax.random.fold_in(self.key, t), (k,), 0, m)
            return x[index], y[index], None
        order = plain_epoch_order(self.key, t // plan.updates_per_epoch, m)
        start = (t % plan.updates_per_epoch) * k
        padded = jnp.concatenate([order, jnp.full((k,), m, order.dtype)])
        index = jax.lax.dynamic_slice_in_dim(padded, start, k)
        if not plan.masked:
            return x[index], y[index], None
        present = index < m
        index = jnp.where(present, index, 0)
        return x[index], y[index], present

    def bad(self, loss: Array) -> Array:
        """Whether a loss means divergence: not finite, or above the limit."""
        return ~jnp.isfinite(loss) | (loss > self.limit)


class _Run(NamedTuple):
    """The scan's carry before update ``t``."""

    theta: Params  # θ_t
    state: Any  # s_t
    before: Params  # θ_{t−1}
    state_before: Any  # s_{t−1}
    previous: Array  # L_{t−1}
    running: Array
    converged: Array
    stopped_at: Array
    final: Array  # the loss of the parameters a stopped run ends with
    best: tuple[Params, Array, Array] | None = None  # θ, validation loss, update


def _pick(flag: Array, a: Any, b: Any) -> Any:
    return jax.tree.map(lambda u, v: jnp.where(flag, u, v), a, b)


def _limit(plan: Plan, whole: Any, params: Params, dtype: Any) -> Array:
    """``max_loss_ratio × max(L_init, L_zero)``, +inf without a usable reference."""
    if plan.max_loss_ratio is None:
        return jnp.array(jnp.inf, dtype)
    zero = jax.tree.map(jnp.zeros_like, params)
    references = jnp.stack([whole(params).astype(dtype), whole(zero).astype(dtype)])
    reference = jnp.max(jnp.where(jnp.isfinite(references), references, -jnp.inf))
    usable = jnp.isfinite(reference) & (reference > 0)
    return jnp.where(usable, plan.max_loss_ratio * reference, jnp.inf).astype(dtype)


def _update(spec: _Spec, run: _Run, t: Array) -> tuple[_Run, tuple[Array, Array | None]]:
    """Update ``t``: steps 2 to 5 of the module docs, and what it records."""
    loss, grads = jax.value_and_grad(spec.batch_loss)(run.theta, t)
    loss = loss.astype(spec.dtype)
    diverges = run.running & spec.bad(loss)
    if spec.tol is None:
        meets = jnp.array(False)
    elif spec.plan.stop_on == "grad_norm":
        meets = jnp.isfinite(loss) & (global_norm(grads) <= spec.tol)
    else:
        meets = jnp.isfinite(loss) & (jnp.abs(loss - run.previous) <= spec.tol)
    converges = run.running & ~diverges & meets
    steps_on = run.running & ~diverges & ~converges
    updates, new_state = spec.optimizer.update(grads, run.state, run.theta)
    new_theta = apply_updates(run.theta, updates)
    kept_theta = _pick(diverges, run.before, run.theta)  # the state a run ends with
    kept_state = _pick(diverges, run.state_before, run.state)
    final = jnp.where(diverges, run.previous, jnp.where(converges, loss, run.final))
    stopped_at = jnp.where(converges, t, run.stopped_at)
    next_run = _Run(
        theta=_pick(steps_on, new_theta, kept_theta),
        state=_pick(steps_on, new_state, kept_state),
        before=_pick(steps_on, run.theta, run.before),
        state_before=_pick(steps_on, run.state, run.state_before),
        previous=jnp.where(steps_on, loss, run.previous),
        running=steps_on,
        converged=run.converged | converges,
        stopped_at=jnp.where(diverges, jnp.maximum(t - 1, 0), stopped_at),
        final=final,
    )
    epoch_record = None
    if spec.plan.n_epochs is not None:
        epoch_end = steps_on & ((t + 1) % spec.plan.updates_per_epoch == 0)
        inf = jnp.array(jnp.inf, spec.dtype)
        epoch_record = jax.lax.cond(
            epoch_end, lambda: spec.whole(new_theta).astype(spec.dtype), lambda: inf
        )
    validation = spec.validation(kept_theta)  # θ_t, or the parameters the run ended with
    if run.best is not None:
        recorded = steps_on | converges
        better = recorded & (t % spec.plan.record_every == 0) & (validation < run.best[1])
        next_run = next_run._replace(best=_pick(better, (run.theta, validation, t), run.best))
    record = jnp.where(run.running & ~diverges, loss, final)
    return next_run, (record, validation, epoch_record)


def _result(spec: _Spec, run: _Run, records: tuple, epoch_records: Array | None) -> FitResult:
    """After the last update: its divergence test on the next batch, and the result."""
    plan = spec.plan
    last_bad = run.running & spec.bad(spec.batch_loss(run.theta, plan.n_updates).astype(spec.dtype))
    theta = _pick(last_bad, run.before, run.theta)
    state = _pick(last_bad, run.state_before, run.state)
    diverged = (~run.running & ~run.converged) | last_bad
    stopped_at = jnp.where(last_bad, plan.n_updates - 1, run.stopped_at)
    steps_taken = jnp.where(run.running & ~last_bad, plan.n_updates, stopped_at)
    final_loss = spec.whole(theta)
    epoch_losses = None
    if plan.n_epochs is not None:  # epochs that end after the run did: its final loss
        ends = (jnp.arange(plan.n_epochs) + 1) * plan.updates_per_epoch - 1
        epoch_losses = jnp.where(ends < steps_taken, epoch_records[ends], final_loss)
    losses, validations = records
    final_eval, best_step = spec.validation(theta), None
    if run.best is not None:
        use_best = (run.best[1] < final_eval) | (jnp.isnan(final_eval) & jnp.isfinite(run.best[1]))
        theta, final_eval, best_step = _pick(use_best, run.best, (theta, final_eval, steps_taken))
        final_loss = spec.whole(theta)
    return FitResult(
        params=theta,
        opt_state=state,
        losses=losses[:: plan.record_every],
        steps=steps_taken.astype(jnp.int32),
        converged=run.converged,
        diverged=diverged,
        diverged_at=jnp.where(diverged, stopped_at, -1).astype(jnp.int32),
        final_loss=final_loss,
        epoch_losses=epoch_losses,
        param_history=None,
        eval_losses=None if validations is None else validations[:: plan.record_every],
        final_eval_loss=final_eval,
        best_step=None if best_step is None else best_step.astype(jnp.int32),
    )


def reference_fit(
    loss_fn: LossFn,
    params: Params,
    data: Batch | None,
    optimizer: GradientTransformation,
    *,
    key: PRNGKey | None = None,
    eval_data: Batch | None = None,
    **options: Any,
) -> FitResult:
    """One run, update by update, as the module docs state it.

    Takes :func:`jaxgd.fit`'s loop keywords (``steps``, ``epochs``, ``batch_size``,
    ``tol``, ``record_every``, ``stop_on``, ``sampling``, ``drop_last``,
    ``loss_with_key``, ``max_loss_ratio``, ``keep_best``) and ``eval_data``;
    ``param_history`` is always None.
    """
    options = LoopOptions(**options)
    if options.record_params:
        raise ValueError("reference_fit records no parameters; leave record_params=False.")
    plan = make_plan(loss_fn, data, options, eval_data)
    arrays = functools.partial(jax.tree.map, jnp.asarray)
    data, eval_data = arrays(data), arrays(eval_data)
    dtype = loss_dtype(params)
    key = as_key(0 if key is None else key)
    spec = _Spec(plan, optimizer, data, key, options.tol, dtype, None, eval_data)
    spec = spec._replace(limit=_limit(plan, spec.whole, params, dtype))
    state = optimizer.init(params)
    inf = jnp.array(jnp.inf, dtype)
    best = (params, inf, jnp.array(0)) if plan.keep_best else None
    start = _Run(params, state, params, state, inf, jnp.array(True), jnp.array(False), 0, inf, best)
    run, (losses, validations, epoch_records) = jax.lax.scan(
        functools.partial(_update, spec), start, jnp.arange(plan.n_updates)
    )
    return _result(spec, run, (losses, validations), epoch_records)
