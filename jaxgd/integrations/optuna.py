"""Optuna's samplers and storage driving lanes of a sweep: :func:`optimize`.

Optuna's usual loop trains one trial per call of an objective. Here the study's sampler
proposes ``lanes`` trials at a time (``study.ask``), one :func:`jaxgd.sweep` trains them
as lanes of one compiled, vmapped program (``points=[trial.params, ...]``), and each
trial's outcome is told back (``study.tell``): its loss as the value, a diverged lane as a
failed trial, a lane pruned by :class:`jaxgd.SuccessiveHalving` as a pruned one. Any
sampler (TPE, CMA-ES, random, ...) and any storage (in memory, SQLite, ...) serve; a study
loaded again from its storage goes on where it stopped.

Optuna is an optional extra: ``pip install 'jaxgd[optuna]'``.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

try:
    import optuna
except ImportError as error:  # the extra is not installed
    raise ModuleNotFoundError(
        "jaxgd.integrations.optuna needs Optuna, an optional extra of jaxgd: "
        "pip install 'jaxgd[optuna]'",
        name="optuna",
    ) from error

import jax
import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import Trial, TrialState

from jaxgd._engine.checks import check_positive_int
from jaxgd._keys import as_key
from jaxgd._progress import progress_bar
from jaxgd._types import Batch, InitFn, LossFn, PRNGKey
from jaxgd.integrations._optuna_checks import (
    check_cmaes,
    check_functions,
    check_prune,
    check_setup,
    check_space,
    check_space_fits,
    check_study,
    check_sweep_options,
    setup,
    suggest,
)
from jaxgd.sweeps import Choice, LogUniform, SuccessiveHalving, Uniform, sweep
from jaxgd.sweeps.checks import seed_list

__all__ = ["SAMPLERS", "open_study", "optimize", "sampler", "summary", "to_distributions"]

SAMPLERS = ("tpe", "random", "cmaes")
"""The samplers :func:`sampler` makes by name."""

_CHOICE_TYPES = (type(None), bool, int, float, str)


def optimize(
    study: optuna.Study,
    loss_fn: LossFn,
    init_fn: InitFn,
    data: Batch | None,
    optimizer_factory: Callable[..., Any],
    space: Mapping[str, Any],
    *,
    n_trials: int,
    lanes: int,
    steps: int | None,
    key: PRNGKey,
    eval_data: Batch | None = None,
    prune: SuccessiveHalving | None = None,
    seeds: int | Sequence[int] = 1,
    epochs: int | None = None,
    batch_size: int | None = None,
    progress: bool | None = None,
    **sweep_options: Any,
) -> optuna.Study:
    """Run ``n_trials`` trials of ``study``, ``lanes`` at a time as lanes of one sweep.

    Args:
      study: a single-objective study that minimizes (``optuna.create_study()`` or
        ``optuna.load_study(...)``), with any sampler and storage.
      loss_fn, init_fn, data, optimizer_factory: as for :func:`jaxgd.sweep`.
      space: name -> an Optuna distribution (``FloatDistribution``, ``IntDistribution``,
        ``CategoricalDistribution``) or jaxgd's ``log_uniform(lo, hi)``,
        ``uniform(lo, hi)``, ``choice([...])``; each name a keyword of the factory, which
        must accept both ends of every range and every choice (checked before any trial:
        a proposal it refused would stop the search halfway).
      n_trials: trials told by this call (the study keeps those it had).
      lanes: trials asked per batch, trained together; the last batch may be smaller.
      steps, epochs, batch_size, eval_data: the training of every trial, as in
        :func:`jaxgd.sweep`.
      key: the search's PRNG key (see Reproducibility).
      prune: a :class:`jaxgd.SuccessiveHalving`, applied within each batch: its lanes
        are ranked at the rungs against each other. With several ``seeds`` it must rank
        configurations (``over_seeds="median"``).
      seeds: seeds per trial (a count or a list, as in :func:`jaxgd.sweep`); the value is
        the median over them, a diverged seed counting as +inf.
      progress: a progress bar over trials; default on when stderr is a terminal.
      sweep_options: other keywords of :func:`jaxgd.sweep` (``tol``, ``max_loss_ratio``,
        ``record_every``, ``devices``, ...).

    Each trial is told, in the order asked: a completed (or converged) run as
    ``COMPLETE`` with the value ``eval_loss`` when ``eval_data`` is given, else
    ``final_loss``; a diverged run as ``FAIL``; a pruned one as ``PRUNED`` with its loss
    at the update it stopped at as its last intermediate value. Every trial carries the
    user attributes ``jaxgd_status``, ``steps``, ``jaxgd_key`` and, where they apply,
    ``final_loss``, ``eval_loss``, ``diverged_at`` and a readable ``reason``. If the
    sweep raises (or is interrupted), the trials of its batch are told ``FAIL`` with the
    reason before the error propagates, so no trial is left running in the storage.
    Trials carry ``seeds`` too, the number of seeds their value is the median over.

    One study, one setup: the first call records on the study (user attribute
    ``jaxgd_setup``) the optimizer factory's name, ``steps``, ``epochs``, ``batch_size``,
    the seeds, the value (``eval_loss`` or ``final_loss``) and the space's distributions.
    A later call with another setup raises ValueError listing what differs, before any
    trial is asked, rather than mix values that do not compare: use a new study name (or
    the same settings). The space may change its ranges (the values still compare), but a
    parameter whose kind (float, int, categorical), log scale or choices differ from the
    study's earlier trials is refused the same way, whether jaxgd recorded a setup or not.

    Reproducibility: the lanes of a batch use ``jax.random.fold_in(key, n)``, ``n`` the
    number of the batch's first trial (its ``jaxgd_key`` user attribute), so a trial's
    run is reproduced by ``jaxgd.sweep(..., points=[trial.params],
    key=jax.random.fold_in(key, trial.user_attrs["jaxgd_key"]))`` (to rounding: a program
    of another width may sum in another order, about 1e-6 relative in float32), and a
    search resumed on the loaded study never reuses a batch's key. With a seeded sampler,
    the same call on a new study proposes and scores the same trials (same device and JAX
    version); a resumed search is not the uninterrupted one, as the sampler's random state
    restarts.
    The last batch of an unpruned search is padded to ``lanes`` with copies of its last
    trial, so every batch runs the program compiled once. Returns ``study``.

    Example:
      >>> import jax, optuna, jaxgd
      >>> from jaxgd.integrations.optuna import optimize
      >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
      >>> p = jaxgd.problems.geron_linear()
      >>> study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
      >>> study = optimize(study, p.loss_fn, p.init_fn, p.data, jaxgd.optim.sgd,
      ...                  {"learning_rate": jaxgd.log_uniform(1e-3, 1.0)},
      ...                  n_trials=32, lanes=16, steps=200, key=jax.random.key(0))
      >>> len(study.trials), study.best_value < 1.0
      (32, True)
    """
    check_functions(loss_fn, init_fn, optimizer_factory)
    check_study(study)
    n_trials = check_positive_int("n_trials", n_trials, "the number of trials to tell.")
    lanes = check_positive_int("lanes", lanes, "the number of trials trained together.")
    distributions = to_distributions(space)
    seed_values = [int(seed) for seed in seed_list(seeds)]
    n_seeds = len(seed_values)
    check_prune(prune, n_seeds)
    check_sweep_options(sweep_options)
    key = as_key(key)
    check_space(optimizer_factory, distributions)
    metric = "eval_loss" if eval_data is not None else "final_loss"
    check_space_fits(study, distributions)
    training = dict(steps=steps, epochs=epochs, batch_size=batch_size, value=metric)
    check_setup(study, setup(optimizer_factory, distributions, seeds=seed_values, **training))
    options = dict(sweep_options, seeds=seeds, steps=steps, epochs=epochs, progress=False)
    options.update(batch_size=batch_size, eval_data=eval_data)
    if prune is not None:
        options["prune"] = prune
    batch = _Batch(
        lambda points, batch_key: sweep(
            loss_fn, init_fn, data, optimizer_factory, points=points, key=batch_key, **options
        ),
        n_seeds,
        metric,
        prune,
        steps,
    )
    with _trial_bar(n_trials, progress) as bar:
        told = 0
        while told < n_trials:
            size = min(lanes, n_trials - told)
            batch.run(study, distributions, size, key, lanes if prune is None else size)
            told += size
            if bar is not None:
                bar.update(size)
    return study


def to_distributions(space: Mapping[str, Any]) -> dict[str, BaseDistribution]:
    """``space`` as Optuna distributions: jaxgd's ``log_uniform``, ``uniform`` and
    ``choice`` converted, Optuna's own kept.

    Example:
      >>> import jaxgd
      >>> to_distributions({"learning_rate": jaxgd.log_uniform(1e-4, 1.0)})
      {'learning_rate': FloatDistribution(high=1.0, log=True, low=0.0001, step=None)}
    """
    if not isinstance(space, Mapping) or not space:
        raise ValueError(
            f"space={space!r} must be a non-empty mapping name -> distribution, e.g. "
            "{'learning_rate': jaxgd.log_uniform(1e-4, 1.0)}."
        )
    return {name: _distribution(name, entry) for name, entry in space.items()}


def _distribution(name: Any, entry: Any) -> BaseDistribution:
    if not isinstance(name, str):
        raise ValueError(f"space key {name!r} must be a hyperparameter name (a str).")
    if type(entry) in (FloatDistribution, IntDistribution, CategoricalDistribution):
        return entry
    for kind in (FloatDistribution, IntDistribution):  # Optuna's deprecated subclasses
        if isinstance(entry, kind):
            return kind(entry.low, entry.high, log=entry.log, step=entry.step)
    if isinstance(entry, LogUniform):
        return FloatDistribution(entry.low, entry.high, log=True)
    if isinstance(entry, Uniform):
        return FloatDistribution(entry.low, entry.high)
    if isinstance(entry, Choice):
        odd = [v for v in entry.values if not isinstance(v, _CHOICE_TYPES)]
        if odd:
            raise ValueError(
                f"space[{name!r}]: Optuna stores None, bool, int, float or str choices; "
                f"{odd[0]!r} is none of them."
            )
        return CategoricalDistribution(entry.values)
    raise ValueError(
        f"space[{name!r}] = {entry!r} is not a distribution; use jaxgd.log_uniform(lo, hi), "
        "jaxgd.uniform(lo, hi), jaxgd.choice([...]) or an optuna.distributions one "
        "(FloatDistribution, IntDistribution, CategoricalDistribution)."
    )


def sampler(name: str, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The Optuna sampler named ``name`` (one of :data:`SAMPLERS`), seeded with ``seed``."""
    samplers = optuna.samplers
    kinds = {"tpe": samplers.TPESampler, "random": samplers.RandomSampler}
    if name == "cmaes":
        check_cmaes()
        return samplers.CmaEsSampler(seed=seed)
    if name not in kinds:
        raise ValueError(f"sampler {name!r}; choose one of {', '.join(SAMPLERS)}.")
    return kinds[name](seed=seed)


def open_study(
    storage: str | None, study_name: str, sampler_name: str = "tpe", seed: int | None = None
) -> optuna.Study:
    """The study ``study_name`` in ``storage`` (a URL such as ``sqlite:///study.db``; None:
    in memory), loaded if it exists, else created to minimize, with :func:`sampler`.

    A loaded study that holds ``n`` trials gets its sampler seeded with ``(seed, n)``
    (NumPy's ``SeedSequence``), not ``seed``: a sampler seeded again with ``seed`` would
    propose the first trials of the search over again (TPE's random start-up trials).
    """
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        sampler=sampler(sampler_name, seed),
        load_if_exists=True,
    )
    held = len(study.get_trials(deepcopy=False))
    if held and seed is not None:
        resumed = int(np.random.SeedSequence([seed, held]).generate_state(1)[0])
        study.sampler = sampler(sampler_name, resumed)
    return study


def summary(study: optuna.Study) -> dict[str, Any]:
    """The study's name, its trials counted by state, and its best trial (or None)."""
    states = [trial.state.name.lower() for trial in study.trials]
    best = None
    if "complete" in states:
        trial = study.best_trial
        best = {"number": trial.number, "value": trial.value, "params": trial.params}
    return {
        "study": study.study_name,
        "trials": len(states),
        "states": {state: states.count(state) for state in sorted(set(states))},
        "best": best,
    }


# ----------------------------------------------------------------------------- batches


class _Batch:
    """Runs a batch of trials as one sweep and tells each trial its outcome."""

    def __init__(
        self,
        run: Callable[[list[dict[str, Any]], Any], Any],
        n_seeds: int,
        metric: str,
        prune: SuccessiveHalving | None,
        steps: int | None,
    ) -> None:
        self.sweep, self.n_seeds, self.metric, self.prune = run, n_seeds, metric, prune
        self.rungs = None if prune is None or steps is None else prune.rungs(steps)

    def run(
        self, study: optuna.Study, distributions: dict[str, Any], n: int, key: Any, size: int
    ) -> None:
        """Ask ``n`` trials, sweep them (padded to ``size`` lanes with copies of the last)
        and tell each its outcome."""
        trials: list[Trial] = []
        told = 0
        try:
            for _ in range(n):  # the trial is kept before its suggestions, which may raise
                trials.append(study.ask())
                suggest(trials[-1], distributions)
            first = trials[0].number
            points = [dict(trial.params) for trial in trials]
            points += [points[-1]] * (size - len(points))
            records = self.sweep(points, jax.random.fold_in(key, first)).to_records()
            for i, trial in enumerate(trials):
                trial.set_user_attr("jaxgd_key", first)
                self._tell(study, trial, records[i * self.n_seeds : (i + 1) * self.n_seeds])
                told += 1
        except BaseException as error:
            for trial in trials[told:]:
                trial.set_user_attr("jaxgd_status", "error")
                reason = f"{type(error).__name__} while its batch was asked, swept or told"
                trial.set_user_attr("reason", f"{reason}: {error}" if str(error) else reason)
                study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            raise

    def _tell(self, study: optuna.Study, trial: Trial, lanes: list[dict[str, Any]]) -> None:
        statuses = [lane["status"] for lane in lanes]
        steps = max(lane["steps"] for lane in lanes)
        values = [lane[self.metric] if lane["status"] != "diverged" else math.inf for lane in lanes]
        value = float(np.median(values))
        trial.set_user_attr("steps", steps)
        trial.set_user_attr("seeds", self.n_seeds)
        if "pruned" in statuses:
            trial.set_user_attr("jaxgd_status", "pruned")
            trial.set_user_attr("reason", self._pruned_reason(steps, value))
            if math.isfinite(value):
                trial.report(value, steps)
            study.tell(trial, state=TrialState.PRUNED)
            return
        diverged = [lane["diverged_at"] for lane in lanes if lane["status"] == "diverged"]
        if diverged:
            trial.set_user_attr("diverged_at", min(diverged))
            trial.set_user_attr("diverged_seeds", len(diverged))
        if not math.isfinite(value):
            trial.set_user_attr("jaxgd_status", "diverged")
            trial.set_user_attr("reason", _diverged_reason(diverged, len(lanes), value))
            study.tell(trial, state=TrialState.FAIL)
            return
        trial.set_user_attr("jaxgd_status", "converged" if "converged" in statuses else "completed")
        for name in ("final_loss", "eval_loss"):
            if name in lanes[0]:
                trial.set_user_attr(name, float(np.median([lane[name] for lane in lanes])))
        study.tell(trial, value)

    def _pruned_reason(self, steps: int, value: float) -> str:
        where = f"at update {steps}"
        if self.rungs is not None and steps in self.rungs:
            ends = ", ".join(map(str, self.rungs))
            where += f", the end of rung {self.rungs.index(steps)} (rungs end at {ends})"
        prune, median = self.prune, " (median over seeds)" if self.n_seeds > 1 else ""
        return (
            f"pruned by successive halving {where}: not among the best 1/{prune.reduction} of "
            f"its batch's lanes by {prune.metric}; its {self.metric} there{median}: {value:.6g}"
        )


def _diverged_reason(diverged_at: list[int], n_lanes: int, value: float) -> str:
    if not diverged_at:
        return f"the loss is {value} (not finite) though no lane was flagged diverged"
    seeds = "" if n_lanes == 1 else f"{len(diverged_at)} of {n_lanes} seeds; the first "
    return (
        f"diverged ({seeds}at update {min(diverged_at)}): the loss exceeded max_loss_ratio × "
        "its initial loss, or stopped being finite; try lower learning rates"
    )


def _trial_bar(total: int, progress: bool | None) -> contextlib.AbstractContextManager[Any]:
    """A progress bar over trials on stderr, or None (``progress`` False, or not a tty)."""
    show = progress or (progress is None and sys.stderr.isatty())
    return progress_bar(total if show else None, "optuna", "trial")
