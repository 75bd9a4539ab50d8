"""``jaxgd sweep --optuna STORAGE_URL``: an Optuna study's sampler proposes the
configurations, ``--lanes`` at a time (:func:`jaxgd.integrations.optuna.optimize`); with
``--out DIR`` the study's trials are also written there (:data:`OPTUNA_FILES`)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

from jaxgd._commands import check_output_folder, fail
from jaxgd._commands.sweep import OPTUNA, parse_grid, run_options, sweep_space

OPTUNA_FILES = ("trials.csv", "study.json")
"""What ``--optuna`` writes into ``--out``: one row per trial, and the study's summary."""
TRIAL_ATTRS = ("jaxgd_status", "steps", "seeds", "reason")
"""The trials' user attributes that ``trials.csv`` has a column for (after the params)."""


def optuna_space(args: argparse.Namespace) -> dict[str, Any]:
    """The space of ``--optuna``: the learning rate log-uniform in ``--lr``'s range (or one
    of ``--grid learning_rate``'s values), one of each other ``--grid``'s values."""
    from jaxgd.sweeps import choice

    lr = args.lr if args.lr is None or args.lr.count(":") == 2 else f"{args.lr}:2"
    random = None if "learning_rate" in parse_grid(args.grid) else 1  # draws: the sampler's
    space = sweep_space(argparse.Namespace(**{**vars(args), "lr": lr, "random": random}))
    return {**{n: choice(v) for n, v in (space["grid"] or {}).items()}, **(space["random"] or {})}


def run(args: argparse.Namespace) -> int:
    """Add ``--trials`` trials to the study, write its trials into ``--out`` if given, and
    print its best trial.

    Returns 0; 2 for a user error (a ValueError or TypeError raised here reaches
    ``jaxgd sweep``'s own handler, which prints it on one line); 1 when the files cannot be
    written (the trials stay in the study's storage).
    """
    try:
        from jaxgd.integrations import optuna as integration
    except ImportError as error:
        return fail("sweep", error)
    from jaxgd import optim
    from jaxgd.problems import get_problem
    from jaxgd.sweeps.space import check_names

    out = None if args.out is None else check_output_folder(args.out)
    space, factory = optuna_space(args), getattr(optim, args.optimizer)
    check_names(factory, space, "--grid")  # before optimize would name its `space`
    options = {n: d if getattr(args, n) is None else getattr(args, n) for n, d in OPTUNA.items()}
    integration.optuna.logging.set_verbosity(integration.optuna.logging.WARNING)
    name = args.study_name or f"{args.problem}-{args.optimizer}"
    try:
        study = integration.open_study(args.optuna, name, options["sampler"], seed=args.seed)
    except ImportError as error:  # a sampler's package (cmaes) is missing
        return fail("sweep", error)
    except Exception as error:  # optuna and its storages raise many kinds
        return fail("sweep", f"--optuna {args.optuna}: cannot open the study ({error})")
    before, problem = len(study.trials), get_problem(args.problem)
    training = (problem.loss_fn, problem.init_fn, problem.data, factory, space)
    trials = dict(n_trials=options["trials"], lanes=options["lanes"])
    integration.optimize(study, *training, **trials, **run_options(args))
    report = {**integration.summary(study), "storage": args.optuna}
    report["added"] = len(study.trials) - before
    if out is not None:
        report["files"] = [str(out / file) for file in OPTUNA_FILES]
        try:
            write_study(study, report, out)
        except OSError as error:  # the trials are told: they are not lost
            fail("sweep", f"could not write into {out} ({error}); the trials are in {args.optuna}")
            return 1
    _print(report, args.json)
    return 0


def write_study(study: Any, report: dict[str, Any], out: Path) -> None:
    """Write the study's trials (``trials.csv``: number, state, value, one ``params_NAME``
    column per parameter, then :data:`TRIAL_ATTRS`) and ``report`` with the study's
    recorded setup (``study.json``) into ``out``; no pandas needed."""
    trials = study.get_trials(deepcopy=False)
    names = sorted({name for trial in trials for name in trial.params})
    with open(out / "trials.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["number", "state", "value", *(f"params_{n}" for n in names), *TRIAL_ATTRS])
        for trial in trials:
            params = [_cell(trial.params.get(name)) for name in names]
            attrs = [_cell(trial.user_attrs.get(attr)) for attr in TRIAL_ATTRS]
            writer.writerow([trial.number, trial.state.name, _cell(trial.value), *params, *attrs])
    setup = study.user_attrs.get("jaxgd_setup")
    text = json.dumps({**report, "setup": setup}, indent=1, allow_nan=False)
    (out / "study.json").write_text(text + "\n")


def _cell(value: Any) -> Any:
    """A CSV cell: nothing for None, else the value (floats as Python writes them)."""
    return "" if value is None else value


def _print(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=1, allow_nan=False))
        return
    counts = ", ".join(f"{n} {state}" for state, n in report["states"].items())
    best = report["best"] or {"number": "-", "value": "none (no trial completed)", "params": {}}
    print(f"study {report['study']}: {report['trials']} trials (+{report['added']}): {counts}")
    print(f"best trial #{best['number']}: value {best['value']}")
    print("".join(f"  {param} = {value}\n" for param, value in best["params"].items()), end="")
    if "files" in report:
        out = Path(report["files"][0]).parent
        print(f"wrote {out}/" + ", ".join(OPTUNA_FILES))
