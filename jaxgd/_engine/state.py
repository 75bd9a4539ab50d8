"""The data a run carries and returns: its loop state, what an update reports, its result."""

from __future__ import annotations

from typing import NamedTuple

from jaxgd._types import Array, OptState, Params

RUNNING, CONVERGED, DIVERGED = 0, 1, 2
"""A run's ``status``."""


class FitResult(NamedTuple):
    """What :func:`fit` returns (every field a JAX array, or ``None`` when not requested).

    Attributes:
      params: the final parameters (the last ones with a finite loss if the run diverged).
      opt_state: the optimizer state after the last update taken (a rejected update is
        undone, state included).
      losses: the batch loss ``L_t`` before updates ``t = 0, r, 2r, …`` (``r = record_every``);
        after a run stops, the loss of its final parameters repeated.
      steps: the number of updates taken.
      converged: whether ``tol`` was met.
      diverged: whether the loss became non-finite (parameters or loss blew up).
      diverged_at: the rejected update, whose result had a non-finite loss; ``-1`` if none.
      final_loss: the loss of ``params`` on the whole data set.
      epoch_losses: with ``epochs``: the whole-data loss after each epoch.
      param_history: with ``record_params=True``: ``params`` before updates ``0, r, 2r, …``,
        each leaf with a leading axis of that length.
      eval_losses: with ``eval_data``: the validation loss (``loss_fn`` on the whole
        validation set) of the parameters before updates ``0, r, 2r, …``; after a run
        stops, that of its final parameters repeated.
      final_eval_loss: with ``eval_data``: the validation loss of ``params``.
      best_step: with ``keep_best=True``: the update before which ``params`` were taken
        (``steps`` when they are the final parameters).
    """

    params: Params
    opt_state: OptState
    losses: Array
    steps: Array
    converged: Array
    diverged: Array
    diverged_at: Array
    final_loss: Array
    epoch_losses: Array | None = None
    param_history: Params | None = None
    eval_losses: Array | None = None
    final_eval_loss: Array | None = None
    best_step: Array | None = None


class Best(NamedTuple):
    """The parameters with the lowest validation loss recorded so far, and where."""

    params: Params
    eval_loss: Array
    step: Array


class Carry(NamedTuple):
    """The loop state of one run (one lane of a sweep) before update ``t``.

    ``params`` θ_t and ``opt_state`` s_t; ``prev_loss`` L_{t−1} (after the run
    stops: the loss of its final parameters); ``stopped_at`` the update at which
    the run stopped (see ``status``); ``loss_limit`` the loss above which the run
    diverges (``max_loss_ratio × L_init``, +inf when ``L_init <= 0``; ``None`` when
    the plan has no such rule); ``best`` with ``keep_best`` (:class:`Best`).
    """

    params: Params
    opt_state: OptState
    prev_loss: Array
    status: Array
    stopped_at: Array
    epoch_losses: Array | None
    loss_limit: Array | None = None
    best: Best | None = None


class Record(NamedTuple):
    """What one update reports: L_t (and θ_t, ‖g_t‖, the validation loss when needed)."""

    loss: Array
    params: Params | None
    grad_norm: Array | None
    eval_loss: Array | None = None


class History(NamedTuple):
    """What a run records every ``record_every`` updates."""

    losses: Array
    params: Params | None
    eval_losses: Array | None = None
