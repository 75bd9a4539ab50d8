"""A sweep that prunes: rung after rung of ever fewer lanes, each rung one vectorised run.

Rung ``k`` runs the updates from the previous rung's end to its own (see
:meth:`SuccessiveHalving.rungs`) for the lanes promoted to it, from their loop state at
the previous rung's end (parameters, optimizer state, divergence limit, best so far);
data order and schedules depend on the update's index only, so a lane that goes on is the
plain run of that length. Each rung packages every lane it ran as if its run ended there;
a lane's outcome is that of its last rung, its history the rungs' records joined.

The survivors of a rung are cut into chunks by the rules of the sweep's first (no larger
than its chunks), so each rung compiles one program per program group, and a sweep of the
same lanes reuses them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxgd._engine.plan import Plan
from jaxgd._engine.state import FitResult
from jaxgd._types import InitFn
from jaxgd.sweeps import placement
from jaxgd.sweeps.chunking import Chunking, lane_chunks
from jaxgd.sweeps.halving import SuccessiveHalving, promoted
from jaxgd.sweeps.program import on_host_lanes_first, run_rung, start_lanes
from jaxgd.sweeps.space import Configurations


class SweepRun(NamedTuple):
    """What every rung of a sweep shares."""

    plan: Plan
    optimizer: Callable[..., Any]
    init_fn: InitFn
    shared: tuple[Any, Any, Any, Any]  # data, tol, key, eval_data
    configs: Configurations
    groups: dict[tuple, np.ndarray]
    seeds: list[int]
    chunks: Chunking

    def group_lanes(self, members: np.ndarray) -> np.ndarray:
        """The sweep lane index of each of a group's lanes (configuration-major)."""
        n_seeds = len(self.seeds)
        return (np.asarray(members)[:, None] * n_seeds + np.arange(n_seeds)).reshape(-1)


_HISTORIES = ("losses", "param_history", "eval_losses")


class _Outcome:
    """Every lane's outcome so far, on the host: the result of its last rung (histories:
    the records of every rung it ran), its lowest losses, and where its history ends."""

    def __init__(self, n_lanes: int, n_records: int) -> None:
        self.n_lanes, self.n_records = n_lanes, n_records
        self.result: FitResult | None = None
        self.lowest: np.ndarray | None = None
        self.running = np.zeros(n_lanes, bool)  # still running at its last rung's end
        self.records_to = np.zeros(n_lanes, np.int64)  # records its history holds
        self.repeat = np.zeros(n_lanes)  # the loss its history repeats after that

    def write(self, lanes: np.ndarray, result: FitResult, lowest: np.ndarray, first: int, carry):
        """A chunk's rung: lanes ``lanes``, their records from record ``first`` on."""
        if self.result is None:
            self._allocate(result, lowest)
        for name in _HISTORIES:
            for whole, part in zip(
                jax.tree.leaves(getattr(self.result, name)),
                jax.tree.leaves(getattr(result, name)),
                strict=True,
            ):
                whole[lanes, first : first + part.shape[1]] = part
        for whole, part in zip(
            jax.tree.leaves(self.result._replace(**dict.fromkeys(_HISTORIES))),
            jax.tree.leaves(result._replace(**dict.fromkeys(_HISTORIES))),
            strict=True,
        ):
            whole[lanes] = part
        self.lowest[lanes] = np.minimum(self.lowest[lanes], lowest)
        running = ~(np.asarray(result.converged) | np.asarray(result.diverged))
        self.running[lanes] = running
        self.records_to[lanes] = first + result.losses.shape[1]
        # as a run that stops: the loss at its stop (the engine's L_{t−1}); a pruned run:
        # the loss of its final parameters on the whole training set
        self.repeat[lanes] = np.where(running, result.final_loss, carry.prev_loss[: len(lanes)])

    def _allocate(self, result: FitResult, lowest: np.ndarray) -> None:
        def whole(part: np.ndarray, history: bool) -> np.ndarray:
            rest = (self.n_records, *part.shape[2:]) if history else part.shape[1:]
            return np.zeros((self.n_lanes, *rest), part.dtype)

        histories = {
            name: jax.tree.map(lambda a: whole(a, True), getattr(result, name))
            for name in _HISTORIES
        }
        rest = result._replace(**dict.fromkeys(_HISTORIES))
        self.result = jax.tree.map(lambda a: whole(a, False), rest)._replace(**histories)
        self.lowest = np.full((self.n_lanes, lowest.shape[1]), np.inf)

    def filled(self) -> FitResult:
        """The lanes' results, each history past its last rung repeating its final values
        (:attr:`repeat`; the validation loss and the parameters of its result)."""
        result = self.result
        after = np.arange(self.n_records)[None, :] >= self.records_to[:, None]  # [lanes, records]

        def fill(history: np.ndarray, final: Any) -> np.ndarray:
            mask = after.reshape(after.shape + (1,) * (history.ndim - 2))
            return np.where(mask, np.asarray(final)[:, None].astype(history.dtype), history)

        return result._replace(
            losses=fill(result.losses, self.repeat),
            eval_losses=None
            if result.eval_losses is None
            else fill(result.eval_losses, result.final_eval_loss),
            param_history=None
            if result.param_history is None
            else jax.tree.map(fill, result.param_history, result.params),
        )


def run_pruned(
    prune: SuccessiveHalving, run: SweepRun, bar: Any
) -> tuple[FitResult, np.ndarray, np.ndarray]:
    """Every lane through the rungs: ``(result, lowest losses, pruned)``, lanes in order."""
    plan, n_seeds = run.plan, len(run.seeds)
    n_lanes = run.configs.count * n_seeds
    outcome = _Outcome(n_lanes, plan.n_records)
    cohort, start = np.arange(n_lanes), 0
    carries: dict[tuple, Any] = {}
    ends = prune.rungs(plan.n_updates)
    # one history buffer for every rung (the longest): rungs share their compiled program
    lengths = np.diff([0, *ends])
    n_records = max(math.ceil(length / plan.record_every) for length in lengths)
    for k, end in enumerate(ends):
        to_run = cohort if k == 0 else cohort[outcome.running[cohort]]
        for static, members in run.groups.items():
            lanes = run.group_lanes(members)
            local = np.flatnonzero(np.isin(lanes, to_run))
            if local.size:
                span = (start, end, n_records)
                _run_rung(run, outcome, carries, static, members, local, span, bar)
        if k + 1 < len(ends):
            metric = _metric(outcome.result, prune.metric)
            kept = promoted(prune, cohort, metric, np.asarray(outcome.result.diverged), n_seeds)
            cohort, start = kept, end
    pruned = outcome.running & (np.asarray(outcome.result.steps) < plan.n_updates)
    return outcome.filled(), outcome.lowest, pruned


def _run_rung(
    run: SweepRun,
    outcome: _Outcome,
    carries: dict[tuple, Any],
    static: tuple,
    members: np.ndarray,
    local: np.ndarray,
    span: tuple[int, int, int],
    bar: Any,
) -> None:
    """One rung, updates ``start … end − 1`` (``span = (start, end, buffer records)``), of
    a program group's lanes ``local``, chunk by chunk."""
    (start, end, n_records), plan = span, run.plan
    data, tol, key, eval_data = run.shared
    chunks = run.chunks.for_rungs(len(local))
    on_cpu = all(device.platform == "cpu" for device in chunks.devices)
    first_record = start // plan.record_every
    n_rung_records = math.ceil((end - start) / plan.record_every)
    group_carry = carries.get(static)
    first_rung = group_carry is None
    for chunk in lane_chunks(run.configs, static, members, run.seeds, chunks, local):
        hp, seeds = chunk.hyperparameters, chunk.seeds
        if first_rung:
            carry = start_lanes(plan, run.optimizer, static, run.init_fn, data, key, hp, seeds)
        else:
            rows = jax.tree.map(lambda a, rows=chunk.padded: a[rows], group_carry)
            carry = placement.put_lanes(rows, chunks.lane_sharding, len(chunks.devices))
        result, lowest, carry = placement.gather(
            run_rung(
                plan, run.optimizer, static, data, tol, key, eval_data, hp, seeds, carry,
                start, end, n_records, chunks.lanes_per_block,
            ),
            on_cpu,
        )  # fmt: skip
        n_real = len(chunk.local)
        result = _first_records(on_host_lanes_first(result, n_real), n_rung_records)
        outcome.write(chunk.lane_index, result, np.asarray(lowest)[:n_real], first_record, carry)
        group_carry = _stored(group_carry, carry, chunk, len(members) * len(run.seeds))
        if bar is not None:
            bar.update(n_real)
    carries[static] = group_carry


def _first_records(result: FitResult, n: int) -> FitResult:
    """``result`` with its (lanes-first) histories cut to their first ``n`` records."""
    return result._replace(
        **{name: jax.tree.map(lambda a: a[:, :n], getattr(result, name)) for name in _HISTORIES}
    )


def _stored(group_carry: Any, carry: Any, chunk: Any, n_group_lanes: int) -> Any:
    """The group's loop states (one row per lane of the group) with a chunk's written in."""
    n_real = len(chunk.local)
    if group_carry is None:
        group_carry = jax.tree.map(
            lambda a: np.zeros((n_group_lanes, *a.shape[1:]), a.dtype), carry
        )

    def write(whole: np.ndarray, part: Any) -> np.ndarray:
        whole[chunk.local] = np.asarray(part)[:n_real]
        return whole

    return jax.tree.map(write, group_carry, carry)


def _metric(result: FitResult, metric: str) -> np.ndarray:
    values = result.final_loss if metric == "loss" else result.final_eval_loss
    return np.asarray(values, np.float64)
