"""What :func:`jaxgd.integrations.optuna.optimize` checks before it asks any trial, and
how it asks one.

Its arguments (functions, study, pruning, sweep options, space), then the study itself: the
space fits the distributions its trials already have, and the setup is the one the study
recorded. A trial is created before its parameters are suggested, so that a failing
suggestion can still be told ``FAIL``.
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_distribution_compatibility,
)
from optuna.trial import Trial

from jaxgd.sweeps import SuccessiveHalving
from jaxgd.sweeps.space import check_names

_OWN_OPTIONS = ("points", "grid", "random", "n_random", "key", "seeds", "prune", "keep_best")
SETUP_ATTR = "jaxgd_setup"
"""The study's user attribute holding the setup of its first :func:`optimize` call."""


def check_study(study: Any) -> None:
    if not isinstance(study, optuna.Study):
        raise TypeError(
            f"study is a {type(study).__name__}; pass an optuna.Study (optuna.create_study())."
        )
    if len(study.directions) != 1:
        raise ValueError(
            f"the study has {len(study.directions)} objectives; optimize tells one value, "
            "the loss: create it with optuna.create_study(direction='minimize')."
        )
    if study.direction != optuna.study.StudyDirection.MINIMIZE:
        raise ValueError(
            f"the study's direction is {study.direction.name.lower()}; optimize tells losses "
            "to minimize: create it with optuna.create_study(direction='minimize')."
        )
    if isinstance(study.sampler, optuna.samplers.CmaEsSampler):
        check_cmaes()


def check_cmaes() -> None:
    """Optuna's CMA-ES sampler imports ``cmaes`` only when it first samples, mid-search."""
    try:
        importlib.import_module("cmaes")
    except ImportError:
        raise ModuleNotFoundError(
            "the cmaes sampler needs the cmaes package: pip install cmaes "
            "(or pip install 'jaxgd[optuna]')",
            name="cmaes",
        ) from None


_FUNCTIONS = {
    "loss_fn": "a function loss_fn(params, x, y) -> loss",
    "init_fn": "a function key -> params (to start every trial from the same params p: "
    "init_fn=lambda key: p)",
    "optimizer_factory": "a function hyperparameters -> optimizer, e.g. jaxgd.optim.sgd",
}


def check_functions(loss_fn: Any, init_fn: Any, optimizer_factory: Any) -> None:
    """Each is callable; the error names its type, not its value (params can be large)."""
    given = {"loss_fn": loss_fn, "init_fn": init_fn, "optimizer_factory": optimizer_factory}
    for name, value in given.items():
        if not callable(value):
            raise TypeError(
                f"{name} is a {type(value).__name__}, not a function; pass {_FUNCTIONS[name]}."
            )


def check_prune(prune: Any, n_seeds: int) -> None:
    if prune is not None and not isinstance(prune, SuccessiveHalving):
        raise TypeError(f"prune={prune!r} must be a jaxgd.SuccessiveHalving or None.")
    if prune is not None and n_seeds > 1 and prune.over_seeds != "median":
        raise ValueError(
            f"with {n_seeds} seeds per trial, prune must keep or prune a trial's seeds "
            "together: SuccessiveHalving(..., over_seeds='median')."
        )


def check_sweep_options(options: Mapping[str, Any]) -> None:
    taken = sorted(set(options) & set(_OWN_OPTIONS))
    if taken:
        raise ValueError(
            f"optimize sets {', '.join(taken)} itself: the trials are the points, the keys "
            "come from key, and seeds and prune are its own arguments."
        )


def check_space(factory: Callable[..., Any], distributions: Mapping[str, Any]) -> None:
    """The factory accepts every name of the space and the ends of every range (every
    choice), and its learning rates are finite and > 0 (checked before any trial is asked,
    so that no proposal the optimizer refuses stops the search halfway)."""
    check_names(factory, distributions, "space")
    rates = distributions.get("learning_rate")
    ends = [] if rates is None else _ends(rates)
    bad = [v for v in ends if isinstance(v, (int, float)) and not (0 < v < math.inf)]
    if bad:
        raise ValueError(
            f"space['learning_rate'] = {rates} allows the rate {bad[0]}; learning rates must "
            "be finite and > 0, e.g. jaxgd.log_uniform(1e-4, 1.0)."
        )
    _check_ends(factory, distributions)


def _check_ends(factory: Callable[..., Any], distributions: Mapping[str, Any]) -> None:
    """``factory`` builds an optimizer at each end of each range and at each choice, the
    other names at their first end: the values a sampler may propose (the ranges' ends
    included: Optuna's ranges are closed)."""
    ends = {name: _ends(distribution) for name, distribution in distributions.items()}
    first = {name: values[0] for name, values in ends.items()}
    for name, values in ends.items():
        for value in values:
            point = {**first, name: value}
            try:
                factory(**point)
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"space[{name!r}] = {distributions[name]} lets the sampler propose "
                    f"{point}, which the optimizer factory refuses: {error} Narrow the space "
                    "to values the optimizer accepts."
                ) from None


def _ends(distribution: BaseDistribution) -> list[Any]:
    if isinstance(distribution, CategoricalDistribution):
        return list(distribution.choices)
    return [distribution.low, distribution.high]


def check_space_fits(study: optuna.Study, distributions: Mapping[str, BaseDistribution]) -> None:
    """Every distribution of the space can be suggested in ``study``: Optuna refuses a
    parameter whose kind (float, int, categorical), log scale or choices differ from those
    of the study's earlier trials (raises ValueError naming the parameter)."""
    seen: dict[str, tuple[int, BaseDistribution]] = {}
    for trial in study.get_trials(deepcopy=False):
        for name, old in trial.distributions.items():
            seen.setdefault(name, (trial.number, old))
    for name, new in distributions.items():
        if name not in seen:
            continue
        number, old = seen[name]
        try:
            check_distribution_compatibility(old, new)
        except ValueError as error:
            raise ValueError(
                f"space[{name!r}] = {new} does not fit study {study.study_name!r}: its trial "
                f"#{number} drew {name} from {old}, and Optuna refuses the change ({error}). "
                "Use a new study name, or the space its trials used."
            ) from None


def setup(
    factory: Callable[..., Any],
    distributions: Mapping[str, BaseDistribution],
    **training: Any,
) -> dict[str, Any]:
    """The setup of an :func:`optimize` call as JSON-ready values: the optimizer factory's
    name, ``training`` (steps, epochs, batch_size, seeds, value) and the space's
    distributions as strings."""
    space = {name: str(distribution) for name, distribution in sorted(distributions.items())}
    return {"optimizer": callable_name(factory), **training, "space": space}


def check_setup(study: optuna.Study, current: Mapping[str, Any]) -> None:
    """Record ``current`` on ``study`` (user attribute :data:`SETUP_ATTR`) the first time;
    later, refuse (ValueError) a setup that differs from the recorded one, listing how.

    The space is recorded (the first call's) but not compared: values drawn from other
    ranges still compare, and :func:`check_space_fits` refuses what Optuna cannot mix.
    """
    recorded = study.user_attrs.get(SETUP_ATTR)
    if recorded is None:
        study.set_user_attr(SETUP_ATTR, dict(current))
        return
    before, now = _compared(recorded), _compared(current)
    differ = [name for name in sorted(set(before) | set(now)) if before.get(name) != now.get(name)]
    if differ:
        changes = "; ".join(
            f"{name} {_shown(before, name)} in the study, {_shown(now, name)} now"
            for name in differ
        )
        raise ValueError(
            f"study {study.study_name!r} was run with another setup ({changes}): its trials' "
            "values would not compare with this call's. Use a new study name, or the same "
            "settings as its earlier trials."
        )


def suggest(trial: Trial, distributions: Mapping[str, BaseDistribution]) -> None:
    """Suggest every parameter of ``distributions`` in ``trial`` with Optuna's public
    ``suggest_*`` (which ``study.ask(distributions)`` amounts to: the same draws)."""
    for name, d in distributions.items():
        if isinstance(d, FloatDistribution):
            trial.suggest_float(name, d.low, d.high, step=d.step, log=d.log)
        elif isinstance(d, IntDistribution):
            trial.suggest_int(name, d.low, d.high, step=d.step, log=d.log)
        elif isinstance(d, CategoricalDistribution):
            trial.suggest_categorical(name, d.choices)
        else:  # to_distributions lets no other kind through
            raise TypeError(f"space[{name!r}] = {d} is not a distribution optimize suggests.")


def callable_name(function: Any) -> str:
    """A name of ``function`` that is the same in every process (no memory address)."""
    if isinstance(function, functools.partial):
        arguments = [*map(repr, function.args)]
        arguments += [f"{k}={v!r}" for k, v in function.keywords.items()]
        return f"functools.partial({callable_name(function.func)}, {', '.join(arguments)})"
    kind = function if hasattr(function, "__qualname__") else type(function)
    return f"{getattr(kind, '__module__', None) or '?'}.{kind.__qualname__}"


def _compared(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` without its space, lists for tuples (a database gives lists back)."""
    return {n: list(v) if isinstance(v, tuple) else v for n, v in record.items() if n != "space"}


def _shown(record: Mapping[str, Any], name: str) -> str:
    return "absent" if name not in record else str(record[name])
