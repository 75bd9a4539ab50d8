"""``sweep``: every lane, chunk by chunk, through one compiled, vmapped program."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd._engine.checks import as_arrays, check_flag, check_loss_fn
from jaxgd._engine.plan import DEFAULT_MAX_LOSS_RATIO, LoopOptions, Plan, make_plan
from jaxgd._engine.state import FitResult
from jaxgd._keys import as_key
from jaxgd._progress import progress_bar
from jaxgd._types import Batch, InitFn, LossFn, PRNGKey
from jaxgd.sweeps import placement
from jaxgd.sweeps.checks import check_init_fn, check_lane_optimizers, is_transformation, seed_list
from jaxgd.sweeps.chunking import Chunking, chunking, lane_chunks
from jaxgd.sweeps.halving import SuccessiveHalving, check_prune
from jaxgd.sweeps.program import on_host_lanes_first, run_lanes
from jaxgd.sweeps.results import SweepResult
from jaxgd.sweeps.rungs import SweepRun, run_pruned
from jaxgd.sweeps.space import Configurations, configurations, program_groups


def sweep(
    loss_fn: LossFn,
    init_fn: InitFn,
    data: Batch | None,
    optimizer: Callable[..., Any],
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    random: Mapping[str, Any] | None = None,
    n_random: int | None = None,
    seeds: int | Sequence[int] = 1,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    key: PRNGKey,
    tol: float | None = None,
    record_every: int = 1,
    chunk_size: int | None = None,
    devices: int | Sequence[jax.Device] | None = None,
    progress: bool | None = None,
    stop_on: str = "loss_change",
    sampling: str = "shuffle",
    drop_last: bool = False,
    record_params: bool = False,
    loss_with_key: bool = False,
    memory_budget: int = placement.DEFAULT_MEMORY_BUDGET,
    max_loss_ratio: float | None = DEFAULT_MAX_LOSS_RATIO,
    eval_data: Batch | None = None,
    keep_best: bool = False,
    points: Sequence[Mapping[str, Any]] | None = None,
    prune: SuccessiveHalving | None = None,
) -> SweepResult:
    """Train every configuration × seed as a lane of one compiled, vmapped program.

    Args:
      loss_fn: ``loss_fn(params, x, y) -> scalar``.
      init_fn: ``init_fn(key) -> params``; each seed initialises its own parameters.
      data: ``(x, y)``, shared by all lanes, or None for an objective of the parameters.
      optimizer: a factory called with a lane's hyperparameters as keywords, e.g.
        ``jaxgd.optim.adam`` or ``optax.adam`` (or ``functools.partial`` of one).
      grid: name -> list of values; every combination is a configuration.
      random: name -> ``log_uniform(lo, hi)``, ``uniform(lo, hi)`` or ``choice([...])``.
      n_random: number of random draws (per grid point).
      seeds: number of seeds (0, 1, …) or an explicit list of seeds.
      steps, epochs, batch_size, tol, record_every, stop_on, sampling, drop_last,
        record_params, loss_with_key, max_loss_ratio: as in :func:`jaxgd.fit` (a lane
        diverges once its loss exceeds ``max_loss_ratio`` × max(its initial loss, the loss
        of all-zero parameters)).
      key: the sweep's PRNG key (random search draws and every lane's keys):
        ``jax.random.key(s)``, ``jax.random.PRNGKey(s)`` or the int seed ``s``.
      chunk_size: lanes per compiled call; by default the most that fit ``memory_budget``.
      devices: devices to shard lanes over (a count or a list); default all.
      progress: a progress bar over lanes; default on when stderr is a terminal.
      memory_budget: bytes per chunk used to choose ``chunk_size``.
      eval_data: ``(x_val, y_val)``, shared by all lanes: each lane records its validation
        loss as :func:`jaxgd.fit` does; the result then has ``eval_loss``,
        ``best_eval_loss`` and ``eval_losses``, and :meth:`SweepResult.best` selects on
        ``eval_loss`` by default.
      keep_best: as in :func:`jaxgd.fit`: each lane's ``params`` are its recorded
        parameters with the lowest validation loss (``best_step`` says where).
      points: explicit configurations instead of ``grid``/``random``: a list of mappings
        name -> value, all with the same names (e.g. the trials an outside search
        proposes, or the best few of an earlier sweep), in that order.
      prune: :class:`jaxgd.SuccessiveHalving` to stop weak lanes at rungs (status
        ``"pruned"``); the survivors of each rung go on as a smaller vectorised program.

    Every lane's hyperparameters are given to ``optimizer`` (the factory) before anything
    compiles, so its argument checks (every :mod:`jaxgd.optim` factory checks its
    arguments) refuse a bad value with the lane's configuration.

    Returns:
      A :class:`SweepResult`, lanes ordered configuration-major (all seeds of the
      first configuration, then the next).

    Example:
      >>> import jax
      >>> from jaxgd.optim import sgd
      >>> from jaxgd.problems import geron_linear
      >>> p = geron_linear()
      >>> r = sweep(p.loss_fn, p.init_fn, p.data, sgd, grid={"learning_rate": [0.02, 0.1, 0.5]},
      ...           steps=1000, key=jax.random.key(0))
      >>> [rec["status"] for rec in r.to_records()]
      ['completed', 'completed', 'diverged']
    """
    options = LoopOptions.pick(locals())
    _check_sweep_arguments(optimizer, chunk_size, memory_budget)
    progress = None if progress is None else check_flag("progress", progress)
    key = as_key(key)
    plan = make_plan(loss_fn, data, options, eval_data)
    check_prune(prune, plan.n_updates, plan.record_every, eval_data is not None)
    data, eval_data = as_arrays(data), as_arrays(eval_data)
    check_loss_fn(loss_fn, check_init_fn(init_fn, key), data)
    seeds = seed_list(seeds)
    configs = configurations(optimizer, grid, random, n_random, key, points)
    groups = program_groups(configs)
    check_lane_optimizers(optimizer, configs, groups)
    n_lanes = configs.count * len(seeds)
    devices = placement.resolve_devices(devices)
    chunks = chunking(plan, init_fn, data, key, n_lanes, chunk_size, memory_budget, devices)
    shared = (data, None if tol is None else jnp.asarray(tol), key, eval_data)
    if not placement.on_the_default_device(shared, chunks.devices):
        shared = placement.put(shared, chunks.replicated)  # one transfer for all the lanes share
    show = progress if progress is not None else sys.stderr.isatty()
    run = SweepRun(plan, optimizer, init_fn, shared, configs, groups, seeds, chunks)
    return _run_all(run, prune, show)


def _run_all(run: SweepRun, prune: SuccessiveHalving | None, show: bool) -> SweepResult:
    """Every lane of the sweep, group by group and chunk by chunk (rung by rung with
    ``prune``), with a progress bar if ``show``."""
    n_lanes = run.configs.count * len(run.seeds)
    if prune is not None:
        with _progress_bar(prune.lane_rungs(n_lanes, run.plan.n_updates) if show else None) as bar:
            merged, best, pruned = run_pruned(prune, run, bar)
        return _assemble(run.configs, run.seeds, merged, best, run.plan, pruned)
    outputs: list[tuple[np.ndarray, Any]] = []
    with _progress_bar(n_lanes if show else None) as bar:
        for static, members in run.groups.items():
            outputs += _run_group(
                run.plan, run.optimizer, run.init_fn, run.shared, run.configs, static, members,
                run.seeds, run.chunks, bar,
            )  # fmt: skip
    return _assemble(run.configs, run.seeds, *_in_lane_order(outputs), run.plan)


def _check_sweep_arguments(optimizer: Any, chunk_size: Any, memory_budget: Any) -> None:
    if chunk_size is not None and (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, (int, np.integer))
        or chunk_size <= 0
    ):
        raise ValueError(
            f"chunk_size={chunk_size!r} must be a positive integer (or None for automatic)."
        )
    if is_transformation(optimizer):
        raise TypeError(
            "optimizer is a transformation (such as sgd(0.1)); sweep needs the factory that "
            "builds one from a lane's hyperparameters: pass jaxgd.optim.sgd itself, "
            "with grid={'learning_rate': [...]}."
        )
    if not callable(optimizer):
        raise TypeError(
            "optimizer must be a factory called with hyperparameters as keywords, "
            f"e.g. jaxgd.optim.adam; got {optimizer!r}."
        )
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, np.integer)):
        raise TypeError(f"memory_budget={memory_budget!r} must be a number of bytes (an int).")
    if memory_budget <= 0:
        raise ValueError(f"memory_budget={memory_budget!r} must be a positive number of bytes.")


def _progress_bar(total: int | None) -> contextlib.AbstractContextManager[Any]:
    """A progress bar over ``total`` lanes on stderr (``None``: no bar)."""
    return progress_bar(total, "sweep", "lane")


def _run_group(
    plan: Plan,
    optimizer: Callable[..., Any],
    init_fn: InitFn,
    shared: tuple[Any, Any, Any, Any],
    configs: Configurations,
    static: tuple,
    members: np.ndarray,
    seeds: list[int],
    chunks: Chunking,
    bar: Any,
) -> list[tuple[np.ndarray, Any]]:
    """The lanes of one program group, chunk by chunk: ``(lane indices, results)`` pairs."""
    on_cpu = all(device.platform == "cpu" for device in chunks.devices)
    outputs = []
    for chunk in lane_chunks(configs, static, members, seeds, chunks):
        fit_result, best = placement.gather(
            run_lanes(
                plan,
                optimizer,
                static,
                init_fn,
                *shared,
                chunk.hyperparameters,
                chunk.seeds,
                chunks.lanes_per_block,
            ),
            on_cpu,
        )
        n_real = len(chunk.local)
        outputs.append(
            (chunk.lane_index, (on_host_lanes_first(fit_result, n_real), np.asarray(best)[:n_real]))
        )
        if bar is not None:
            bar.update(n_real)
    return outputs


def _in_lane_order(outputs: list[tuple[np.ndarray, Any]]) -> tuple[FitResult, np.ndarray]:
    """Chunks' ``(lane indices, (result, lowest))`` merged into lane order."""
    order = np.concatenate([index for index, _ in outputs])
    if len(outputs) == 1 and np.array_equal(order, np.arange(len(order))):
        return outputs[0][1]  # one chunk, lanes in order: no copies
    inverse = np.argsort(order)
    return jax.tree.map(
        lambda *parts: np.concatenate(parts)[inverse], *[result for _, result in outputs]
    )


def _assemble(
    configs: Configurations,
    seeds: list[int],
    merged: FitResult,
    best: np.ndarray,
    plan: Plan,
    pruned: np.ndarray | None = None,
) -> SweepResult:
    n_seeds = len(seeds)
    hyperparameters = {n: np.repeat(column, n_seeds) for n, column in configs.columns.items()}
    ran_out = "completed" if pruned is None else np.where(pruned, "pruned", "completed")
    status = np.where(merged.diverged, "diverged", np.where(merged.converged, "converged", ran_out))
    return SweepResult(
        hyperparameters=hyperparameters,
        seeds=np.tile(np.asarray(seeds), configs.count),
        final_loss=np.asarray(merged.final_loss, np.float64),
        best_loss=best[:, 0].astype(np.float64),
        status=status,
        steps=np.asarray(merged.steps),
        diverged_at=np.asarray(merged.diverged_at),
        losses=np.asarray(merged.losses),
        record_every=plan.record_every,
        params=merged.params,
        epoch_losses=merged.epoch_losses,
        param_history=merged.param_history,
        **_validation_fields(merged, best),
    )


def _validation_fields(merged: FitResult, best: np.ndarray) -> dict[str, Any]:
    """The validation losses of a sweep with ``eval_data`` (no fields without)."""
    if merged.eval_losses is None:
        return {}
    return dict(
        eval_loss=np.asarray(merged.final_eval_loss, np.float64),
        best_eval_loss=best[:, 1].astype(np.float64),
        eval_losses=np.asarray(merged.eval_losses),
        best_step=None if merged.best_step is None else np.asarray(merged.best_step),
    )
