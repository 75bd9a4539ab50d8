"""fit(): gradient descent as one compiled loop.

One update is the notes' learning step: forward pass, loss, backward pass
(``jax.grad``), update::

    L_t = loss(θ_t; batch_t),   g_t = ∂L_t/∂θ_t,   (u_t, s_{t+1}) = update(g_t, s_t, θ_t),
    θ_{t+1} = θ_t + u_t

repeated inside one loop (``lax.while_loop``) compiled once with ``jax.jit``.

Batches
-------
``batch_size=None`` uses the whole data set at every update (batch GD);
``batch_size=1`` is stochastic GD; ``batch_size=k`` is mini-batch GD. An
*epoch* is one pass over the data: ``ceil(m / k)`` updates (``m // k`` with
``drop_last=True``), or a single update for batch GD.

* ``sampling="shuffle"`` (default): each epoch draws a fresh permutation from
  ``fold_in(key, epoch)`` (:func:`epoch_order`) and walks through it in batches of ``k``. When ``m``
  is not a multiple of ``k`` the last batch is smaller: it keeps the compiled
  shape ``k`` and masks the missing examples (the loss is then the mean of
  per-example losses, so ``loss_fn`` must be a mean over examples, as MSE is),
  unless ``drop_last=True`` drops it.
* ``sampling="replacement"``: every update draws ``k`` indices uniformly with
  replacement from ``fold_in(key, t)``, as Géron's stochastic GD does.

Stopping, divergence
--------------------
With ``tol`` a run stops (``converged=True``) at the first update where
``|L_t − L_{t−1}| <= tol`` (``stop_on="loss_change"``, the default) or
``‖g_t‖₂ <= tol`` (``stop_on="grad_norm"``); the losses compared are the
batch losses. Divergence is read off the batch loss L_t of θ_t. A run diverges
at the first update whose loss is

* not finite (NaN or infinite parameters give a non-finite loss, and so does a
  loss that overflows), or
* larger than ``max_loss_ratio × max(L_init, L_zero)``, where ``L_init`` is the
  loss of the starting parameters on the whole data set and ``L_zero`` that of
  all-zero parameters, the model that predicts 0 (default ``max_loss_ratio =
  1e6``; the rule applies when that reference is positive; ``max_loss_ratio=None``
  keeps the non-finite rule only). ``L_zero`` gives the problem's scale: a run
  that starts near the optimum (fine-tuning, a warm start) has a tiny ``L_init``
  and must not be judged against it.

The second rule is what makes divergence visible in every dtype: in float64 a
run above the critical learning rate grows for a long time before it overflows
(Géron's problem at η = 0.5 reaches a loss of 1e56 in 1,000 updates without
overflowing), in float32 much sooner. Either way the update that produced θ_t
is rejected, the run keeps θ_{t−1} and s_{t−1} (whose loss passed both rules)
and stops with ``diverged=True`` and ``diverged_at = t − 1``, the rejected
update. It never raises and never returns parameters with a non-finite loss.

Whether a run converged or diverged, the compiled loop keeps its length and a
stopped run's state stays frozen; from the update where it stopped on, its
history repeats the loss (and parameters) of its final state, and so do its
``epoch_losses`` for the epochs that end after it stopped. So
:func:`jaxgd.sweep` can run many runs side by side.

How a run is computed
---------------------
:func:`jaxgd.reference.reference_fit` states the semantics above as a plain loop, one
update at a time; ``fit`` and :func:`jaxgd.sweep` run the engine of the private package
``jaxgd._engine``, which computes the same thing in chunks with cheap checks and is held
to the reference by tests. The engine's modules, from the data to the result:
``checks`` (inputs), ``plan`` (settings, the loop's shape), ``order`` (which examples an
update sees), ``step`` (one update and its losses), ``events`` (stops), ``chunks`` (the
loop), ``lanes`` (many runs as one) and ``run`` (a whole run).
"""

from __future__ import annotations

import functools
import math
import sys
from typing import Any

import jax
import jax.numpy as jnp

from jaxgd import _static
from jaxgd._engine.checks import (
    as_arrays,
    check_flag,
    check_loss_fn,
    check_optimizer,
    check_params,
)
from jaxgd._engine.chunks import advance
from jaxgd._engine.lanes import Lanes
from jaxgd._engine.order import epoch_order
from jaxgd._engine.plan import DEFAULT_MAX_LOSS_RATIO, LoopOptions, Plan, make_plan
from jaxgd._engine.run import finish, init_lanes, run
from jaxgd._engine.state import FitResult
from jaxgd._keys import as_key
from jaxgd._types import Batch, LossFn, OptState, Params, PRNGKey
from jaxgd.optim.base import GradientTransformation

__all__ = ["DEFAULT_MAX_LOSS_RATIO", "FitResult", "epoch_order", "fit"]


def _check_opt_state(optimizer: GradientTransformation, params: Params, opt_state: Any) -> None:
    """A clear error when ``opt_state`` is not a state of ``optimizer`` for ``params``."""
    expected = jax.tree.structure(jax.eval_shape(optimizer.init, params))
    if jax.tree.structure(opt_state) != expected:
        raise ValueError(
            f"opt_state does not fit this optimizer: it is {jax.tree.structure(opt_state)}, "
            f"but optimizer.init(params) gives {expected}. Continue with the optimizer that "
            "made the state (e.g. sgd(0.1) keeps no update count, sgd with a schedule keeps "
            "one), or pass opt_state=None to start afresh."
        )


# ------------------------------------------------------------------------- compiled entry points


def _merged_optimizer(opt_static: Any, opt_dynamic: Any) -> GradientTransformation:
    return _static.merge(opt_dynamic, opt_static)


@functools.partial(jax.jit, static_argnames=("plan", "opt_static"))
def _run_compiled(plan, opt_static, opt_dynamic, params, data, key, tol, opt_state, eval_data):
    make = functools.partial(_merged_optimizer, opt_static)
    return run(plan, make, Lanes(opt_dynamic, key), params, data, tol, opt_state, eval_data)


@functools.partial(jax.jit, static_argnames=("plan", "opt_static"))
def _init_compiled(plan, opt_static, opt_dynamic, params, data, key, opt_state):
    make = functools.partial(_merged_optimizer, opt_static)
    return init_lanes(plan, make, Lanes(opt_dynamic, key), params, data, opt_state)


@functools.partial(jax.jit, static_argnames=("plan", "opt_static", "n_records"))
def _advance_compiled(
    plan, opt_static, opt_dynamic, carry, data, key, tol, start, n_records, eval_data
):
    make = functools.partial(_merged_optimizer, opt_static)
    lanes = Lanes(opt_dynamic, key)
    return advance(plan, make, lanes, carry, data, tol, start, n_records, eval_data)


@functools.partial(jax.jit, static_argnames="plan")
def _finish_compiled(plan, carry, data, key, history, eval_data):
    return finish(plan, Lanes(None, key), carry, data, history, eval_data)


PROGRESS_CHUNKS = 20


def _progress_bar(total: int, description: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="update", file=sys.stderr)


def fit(
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
    record_params: bool = False,
    loss_with_key: bool = False,
    opt_state: OptState | None = None,
    progress: bool = False,
    max_loss_ratio: float | None = DEFAULT_MAX_LOSS_RATIO,
    eval_data: Batch | None = None,
    keep_best: bool = False,
) -> FitResult:
    """Minimise ``loss_fn`` by gradient descent: forward, loss, ``jax.grad``, update, repeated.

    The whole run is one compiled loop. It is compiled once per shape of
    the problem: a second call with a new learning rate (for :mod:`jaxgd.optim`
    optimizers, whose hyperparameters are arguments of the compiled program),
    key, ``tol`` or data of the same shapes reuses it. (An optax optimizer is
    static: keep one object to reuse the program.) ``loss_fn`` is static too:
    pass the same function each time.

    Args:
      loss_fn: ``loss_fn(params, x, y) -> scalar``, a mean over the examples of the batch.
      params: the starting parameters (a pytree).
      data: ``(x, y)`` with examples along the first axis, or None for an
        objective of the parameters alone (called as ``loss_fn(params, None, None)``).
      optimizer: a ``GradientTransformation`` (jaxgd's or optax's).
      steps: number of updates. Exactly one of ``steps`` and ``epochs``.
      epochs: number of passes over the data (see the module docs for updates per epoch).
      batch_size: None for batch GD, 1 for stochastic GD, k for mini-batch GD.
      key: PRNG key for the data order, needed whenever ``batch_size`` is set:
        ``jax.random.key(s)``, ``jax.random.PRNGKey(s)`` or the int seed ``s`` (the
        three give the same run).
      tol: stop when the loss change (or gradient norm, see ``stop_on``) is ``<= tol``.
      record_every: record the loss every this many updates.
      stop_on: ``"loss_change"`` or ``"grad_norm"``.
      sampling: ``"shuffle"`` (a permutation per epoch) or ``"replacement"``.
      drop_last: drop the last, smaller batch of an epoch instead of masking it.
      record_params: also record the parameters every ``record_every`` updates.
      loss_with_key: call ``loss_fn(params, x, y, key=k_t)`` at each update with a fresh
        key ``k_t`` (for dropout); whole-data losses (``final_loss``, ``epoch_losses``) call
        ``loss_fn(params, x, y)`` without a key, i.e. in evaluation mode.
      opt_state: an optimizer state to continue from (e.g. ``previous.opt_state``),
        so schedules and moment estimates carry on; by default ``optimizer.init(params)``.
      progress: show a progress bar (the loop then runs in chunks; results are unchanged).
      max_loss_ratio: the run diverges once its loss exceeds this multiple of
        ``max(L_init, L_zero)``, the whole-data losses of ``params`` and of all-zero
        parameters (default 1e6); ``None`` flags non-finite losses only. See the module
        docs for the rule.
      eval_data: ``(x_val, y_val)``, validation data checked as ``data`` is: its loss (on
        the whole set, ``loss_fn`` without a key) is recorded in ``eval_losses`` at the
        same updates as ``losses``, and ``final_eval_loss`` is that of ``params``.
      keep_best: return the recorded parameters with the lowest validation loss instead of
        the final ones (early stopping as Géron's fig. 4-20 keeps the best model; the run
        itself goes on to its end) and their update in ``best_step``; needs ``eval_data``.

    Returns:
      A :class:`FitResult`.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgd.optim import sgd
      >>> loss = lambda w, x, y: jnp.mean((x @ w - y) ** 2)
      >>> x, y = jnp.array([[1.0], [2.0]]), jnp.array([2.0, 4.0])
      >>> result = fit(loss, jnp.zeros(1), (x, y), sgd(0.1), steps=100)
      >>> round(float(result.params[0]), 4), int(result.steps)
      (2.0, 100)
    """
    plan = make_plan(loss_fn, data, LoopOptions.pick(locals()), eval_data)
    data, eval_data = as_arrays(data), as_arrays(eval_data)
    check_params(params)
    check_loss_fn(loss_fn, params, data)
    optimizer = check_optimizer(optimizer)
    progress = check_flag("progress", progress)
    key = _data_key(plan, key)
    tol_array = None if tol is None else jnp.asarray(tol)
    if opt_state is not None:
        _check_opt_state(optimizer, params, opt_state)
    opt_dynamic, opt_static = _static.split(optimizer)
    arguments = (plan, opt_static, opt_dynamic, params, data, key, tol_array, opt_state, eval_data)
    if progress:
        return _fit_in_pieces(*arguments)
    return _run_compiled(*arguments)


def _data_key(plan: Plan, key: PRNGKey | None) -> PRNGKey:
    """``key`` as a typed key; a run that draws no random numbers may omit it."""
    if key is not None:
        return as_key(key)
    if plan.batch_size is not None or plan.loss_with_key:
        what = "loss_with_key=True" if plan.batch_size is None else f"batch_size={plan.batch_size}"
        raise ValueError(
            f"{what} draws random numbers and needs a key: pass key=jax.random.key(0) (or any key)."
        )
    return jax.random.key(0)


def _fit_in_pieces(
    plan, opt_static, opt_dynamic, params, data, key, tol, opt_state, eval_data
) -> FitResult:
    """:func:`fit` in ``PROGRESS_CHUNKS`` compiled calls, with a progress bar between them."""
    records_per_chunk = math.ceil(plan.n_records / PROGRESS_CHUNKS)
    chunk = records_per_chunk * plan.record_every
    carry = _init_compiled(plan, opt_static, opt_dynamic, params, data, key, opt_state)
    pieces = []
    with _progress_bar(plan.n_updates, "fit") as bar:
        for start in range(0, plan.n_updates, chunk):
            carry, piece = _advance_compiled(
                *(plan, opt_static, opt_dynamic, carry, data, key, tol, start, records_per_chunk),
                eval_data,
            )
            pieces.append(piece)
            jax.block_until_ready(carry.status)
            bar.update(min(chunk, plan.n_updates - start))
    history = jax.tree.map(lambda *parts: jnp.concatenate(parts)[: plan.n_records], *pieces)
    return _finish_compiled(plan, carry, data, key, history, eval_data)
