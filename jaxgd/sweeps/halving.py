"""Successive halving inside one sweep: rungs of lanes, the best of each going on.

All lanes run ``min_steps`` updates (rung 0); the best ``1/reduction`` of them (by
``metric``; diverged lanes first out) continue to ``min_steps × reduction`` updates (rung
1), and so on, up to the sweep's ``steps`` (Jamieson & Talwalkar 2016). Survivors continue
from their state at the end of the rung (parameters, optimizer state, data order), so a
survivor's run equals a plain run of the same length. The rungs are synchronous: every
lane of a rung finishes it before any is promoted. ASHA (Li et al., MLSys 2020) promotes
asynchronously, as workers free up, because its trials are separate processes; here the
lanes of a rung are one vectorised program, so there is nothing to wait for.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from jaxgd._engine.checks import check_positive_int

METRICS = ("loss", "eval_loss")


@dataclasses.dataclass(frozen=True)
class SuccessiveHalving:
    """Prune a sweep's weak lanes at rungs of ``min_steps × reduction**k`` updates.

    Args:
      min_steps: the updates every lane takes before the first pruning (rung 0).
      reduction: η; the best ``⌊n/η⌋`` (at least 1) of the ``n`` lanes of a rung go on,
        to a rung η times longer; the last rung ends at the sweep's ``steps``.
      metric: ``"loss"``, the loss of the lane's parameters on the whole training data at
        the end of the rung, or ``"eval_loss"``, on the sweep's ``eval_data``. A diverged
        lane, or a non-finite metric, ranks last; ties keep the lanes' order.
      over_seeds: ``None`` ranks every lane (configuration × seed) by itself;
        ``"median"`` ranks configurations by the median over their seeds (a diverged
        seed counts as +inf), and keeps or prunes all seeds of a configuration together.

    A pruned lane keeps its result at the end of its last rung: status ``"pruned"``,
    ``steps`` the update it stopped at, and its history from there on repeating its
    final loss, as for a run that stopped.
    """

    min_steps: int
    reduction: int = 3
    metric: str = "loss"
    over_seeds: str | None = None

    def __post_init__(self) -> None:
        check_positive_int("min_steps", self.min_steps, "it is the length of the first rung.")
        check_positive_int("reduction", self.reduction, "the best 1/reduction go on.")
        if self.reduction < 2:
            raise ValueError(f"reduction={self.reduction} must be at least 2 (1 prunes nothing).")
        if self.metric not in METRICS:
            raise ValueError(f"metric={self.metric!r}; choose 'loss' or 'eval_loss'.")
        if self.over_seeds not in (None, "median"):
            raise ValueError(f"over_seeds={self.over_seeds!r}; use None or 'median'.")

    def rungs(self, steps: int) -> list[int]:
        """The update at which each rung ends: ``min_steps × reduction**k`` below ``steps``,
        then ``steps``."""
        ends, end = [], self.min_steps
        while end < steps:
            ends.append(end)
            end *= self.reduction
        return [*ends, steps]

    def keep(self, n: int) -> int:
        """How many of ``n`` candidates go on to the next rung."""
        return max(1, n // self.reduction)

    def lane_rungs(self, n_lanes: int, steps: int) -> int:
        """At most how many lane-rungs a sweep of ``n_lanes`` lanes runs (its progress)."""
        total = 0
        for _ in self.rungs(steps):
            total, n_lanes = total + n_lanes, self.keep(n_lanes)
        return total


def ranking(metric: np.ndarray, diverged: np.ndarray) -> np.ndarray:
    """Candidates best first: finite metrics ascending, then the rest, ties in order."""
    score = np.where(diverged | ~np.isfinite(metric), math.inf, metric)
    return np.argsort(score, kind="stable")


def promoted(
    prune: SuccessiveHalving,
    cohort: np.ndarray,
    metric: np.ndarray,
    diverged: np.ndarray,
    n_seeds: int,
) -> np.ndarray:
    """The lanes of ``cohort`` (sorted sweep lane indices) that go on to the next rung.

    ``metric`` and ``diverged`` are per sweep lane. With ``over_seeds="median"`` a
    configuration's seeds (lanes ``c × n_seeds …``) are ranked and kept together.
    """
    if prune.over_seeds is None:
        order = ranking(metric[cohort], diverged[cohort])
        return np.sort(cohort[order[: prune.keep(len(cohort))]])
    configs = cohort[::n_seeds] // n_seeds  # a cohort holds every seed of its configurations
    lanes = configs[:, None] * n_seeds + np.arange(n_seeds)
    scores = np.where(diverged[lanes] | ~np.isfinite(metric[lanes]), math.inf, metric[lanes])
    order = ranking(np.median(scores, axis=1), np.zeros(len(configs), bool))
    return np.sort(lanes[order[: prune.keep(len(configs))]].reshape(-1))


def check_prune(prune: Any, n_updates: int, record_every: int, validated: bool) -> None:
    """``prune`` is None or a :class:`SuccessiveHalving` that fits the sweep."""
    if prune is None:
        return
    if not isinstance(prune, SuccessiveHalving):
        raise TypeError(f"prune={prune!r}; pass jaxgd.SuccessiveHalving(min_steps=...) (or None).")
    if prune.metric == "eval_loss" and not validated:
        raise ValueError(
            "SuccessiveHalving(metric='eval_loss') ranks lanes on validation data; "
            "give sweep(..., eval_data=(x_val, y_val)) or use metric='loss'."
        )
    if prune.min_steps >= n_updates:
        raise ValueError(
            f"SuccessiveHalving(min_steps={prune.min_steps}) prunes nothing in a sweep of "
            f"{n_updates} updates; make min_steps smaller than steps."
        )
    if prune.min_steps % record_every:
        raise ValueError(
            f"SuccessiveHalving(min_steps={prune.min_steps}) must be a multiple of "
            f"record_every={record_every}, so that every rung ends at a record."
        )
