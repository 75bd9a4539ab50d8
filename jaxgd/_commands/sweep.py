"""``jaxgd sweep``: many learning rates × seeds × hyperparameters of a built-in problem,
as one compiled, vmapped program."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from jaxgd._commands import add_problem_options, check_output_folder, fail

DEFAULT_LR = "1e-3:1:16"
DEFAULT_STEPS = 500
DEFAULT_OUT = "results/sweep"
SWEEP_FILES = ("sweep.csv", "sweep.json", "final_loss.png", "loss_heatmap.png")
SAMPLERS = ("tpe", "random", "cmaes")  # jaxgd.integrations.optuna.SAMPLERS, without importing it
OPTUNA = {"trials": 64, "lanes": 16, "sampler": "tpe"}
"""The options of ``--optuna`` and their defaults."""


def parse_grid_value(option: str, text: str) -> float | bool | None:
    """A ``--grid`` value: a number, ``true``/``false`` or ``none``."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"{option}: {text.strip()!r} is not a number, true/false or none."
        ) from None


def parse_grid(items: list[str]) -> dict[str, list[Any]]:
    """``--grid NAME=V1,V2`` options as ``{name: [v1, v2]}``."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            raise ValueError(f"--grid {item!r}: write NAME=V1,V2,... e.g. --grid momentum=0,0.9")
        if name in grid:
            raise ValueError(f"--grid {name} is given twice; list all its values in one option.")
        grid[name] = [parse_grid_value(f"--grid {item}", v) for v in values.split(",")]
    return grid


def parse_lr(text: str) -> tuple[float, float, int]:
    """``--lr START:STOP:N`` as ``(start, stop, n)``."""
    try:
        start, stop, n = text.split(":")
        start, stop, n = float(start), float(stop), int(n)
    except ValueError:
        raise ValueError(f"--lr {text!r}: write START:STOP:N, e.g. --lr 1e-3:1:32") from None
    if not (0 < start <= stop and math.isfinite(stop)) or n <= 0:
        raise ValueError(f"--lr {text!r}: need 0 < START <= STOP and N >= 1.")
    return start, stop, n


def _max_loss_ratio(text: str) -> float | None:
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or none") from None


# ----------------------------------------------------------------------------- options


def configure(parser: argparse.ArgumentParser) -> None:
    """The description and options of ``jaxgd sweep``."""
    parser.description = (
        "Run a learning-rate sweep (times seeds, times any --grid) of a built-in "
        "problem as one compiled, vmapped program; write sweep.csv, sweep.json, final_loss.png "
        "and loss_heatmap.png into --out and print the best configuration. With --optuna, an "
        "Optuna study's sampler proposes the configurations instead, --lanes at a time."
    )
    _add_search_options(parser)
    _add_run_options(parser)
    _add_output_options(parser)
    _add_mode_options(parser)


def _add_search_options(parser: argparse.ArgumentParser) -> None:
    """What is trained and which configurations: problem, optimizer, learning rates, grid."""
    add_problem_options(parser)
    parser.add_argument(
        "--lr",
        default=None,
        metavar="START:STOP:N",
        help=f"N learning rates log-spaced from START to STOP (default {DEFAULT_LR}); "
        "or give them with --grid learning_rate=...",
    )
    parser.add_argument(
        "--random",
        type=int,
        metavar="N",
        help="random search instead: N learning rates drawn log-uniformly in [START, STOP]",
    )
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="a hyperparameter of the optimizer to grid over (repeatable), values numbers, "
        "true/false or none, e.g. --grid momentum=0,0.9 --grid nesterov=false,true "
        "(or --grid learning_rate=0.01,0.1 instead of --lr)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per configuration (default 3)")


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """How each run trains and when it stops."""
    parser.add_argument(
        "--steps", type=int, help=f"updates per run (default {DEFAULT_STEPS} unless --epochs)"
    )
    parser.add_argument("--epochs", type=int, help="passes over the data instead of --steps")
    parser.add_argument(
        "--batch-size", type=int, help="mini-batch size (default: full batch); 1 is SGD"
    )
    parser.add_argument("--tol", type=float, help="stop a run when its loss changes by <= TOL")
    parser.add_argument(
        "--record-every", type=int, default=1, help="record the loss every N updates (default 1)"
    )
    parser.add_argument(
        "--max-loss-ratio",
        type=_max_loss_ratio,
        default=1e6,
        metavar="R",
        help="a run diverges once its loss exceeds R × max(its initial loss, the loss of zero "
        "parameters) (default 1e6; "
        "none: only when the loss is no longer finite)",
    )
    parser.add_argument(
        "--seed",
        "--key",
        dest="seed",
        type=int,
        default=0,
        help="seed of the sweep's PRNG key: random draws and every lane's keys (default 0)",
    )


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    """Where the results go and how they are printed."""
    parser.add_argument(
        "--out",
        help=f"output folder (default {DEFAULT_OUT}; with --optuna, none unless given: then "
        "trials.csv and study.json)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_mode_options(parser: argparse.ArgumentParser) -> None:
    """Successive halving inside the sweep; a search by an Optuna study instead."""
    group = parser.add_argument_group("pruning")
    group.add_argument(
        "--prune",
        choices=["halving"],
        help="successive halving: every lane runs --min-steps updates, the best 1/R go on to "
        "R times as many, and so on up to --steps; the others stop, status pruned",
    )
    group.add_argument("--min-steps", type=int, metavar="N", help="updates of the first rung")
    group.add_argument("--reduction", type=int, metavar="R", help="the R of --prune (default 3)")
    group = parser.add_argument_group("Optuna (pip install 'jaxgd[optuna]')")
    group.add_argument(
        "--optuna",
        metavar="STORAGE_URL",
        help="instead of a sweep, let an Optuna study stored at STORAGE_URL (e.g. "
        "sqlite:///study.db) propose the learning rate, log-uniform in --lr START:STOP (and one "
        "of each --grid's values), --lanes trials per compiled call; run again to add trials; "
        "with --out DIR, also write the study's trials.csv and study.json there",
    )
    group.add_argument("--study-name", metavar="NAME", help="default PROBLEM-OPTIMIZER")
    group.add_argument("--trials", type=int, metavar="N", help="trials to add (default 64)")
    group.add_argument("--lanes", type=int, metavar="L", help="trials per call (default 16)")
    group.add_argument("--sampler", choices=SAMPLERS, help="Optuna's sampler (default tpe)")


def check_modes(args: argparse.Namespace) -> None:
    """Options that only apply with ``--prune halving`` or ``--optuna`` need it (ValueError)."""
    if args.prune is None and (args.min_steps is not None or args.reduction is not None):
        raise ValueError("--min-steps and --reduction: only with --prune halving.")
    if args.prune is not None and args.min_steps is None:
        raise ValueError("--prune halving needs --min-steps N, the updates of the first rung.")
    given = [n for n in ("study_name", *OPTUNA) if getattr(args, n) is not None]
    if args.optuna is None and given:
        names = ", ".join("--" + n.replace("_", "-") for n in given)
        raise ValueError(f"{names}: only with --optuna STORAGE_URL.")
    if args.optuna is not None and args.random is not None:
        raise ValueError("--random: not with --optuna: the study's sampler proposes the rates.")


def pruning(args: argparse.Namespace) -> Any:
    """``jaxgd.SuccessiveHalving`` of ``--prune halving`` (by configuration over several
    seeds), or None."""
    if args.prune is None:
        return None
    from jaxgd.sweeps import SuccessiveHalving

    reduction = 3 if args.reduction is None else args.reduction
    over_seeds = "median" if args.seeds > 1 else None
    return SuccessiveHalving(args.min_steps, reduction, over_seeds=over_seeds)


def sweep_space(args: argparse.Namespace) -> dict[str, Any]:
    """``grid``, ``random`` and ``n_random`` of ``jaxgd.sweep`` from the options."""
    grid = parse_grid(args.grid)
    if "learning_rate" in grid:
        if args.lr is not None or args.random is not None:
            raise ValueError(
                "learning rates are given twice: use either --lr START:STOP:N (with --random N "
                "for random search) or --grid learning_rate=V1,V2,..."
            )
        return {"grid": grid, "random": None, "n_random": None}
    start, stop, n = parse_lr(args.lr if args.lr is not None else DEFAULT_LR)
    if args.random is None:
        grid["learning_rate"] = [float(v) for v in _geomspace(start, stop, n)]
        return {"grid": grid, "random": None, "n_random": None}
    from jaxgd.sweeps import log_uniform

    if start == stop:
        grid["learning_rate"] = [start]
        return {"grid": grid, "random": None, "n_random": None}
    return {
        "grid": grid or None,
        "random": {"learning_rate": log_uniform(start, stop)},
        "n_random": args.random,
    }


def _geomspace(start: float, stop: float, n: int) -> list[float]:
    if n == 1:
        return [start]
    ratio = math.log(stop / start) / (n - 1)
    return [start * math.exp(ratio * i) for i in range(n - 1)] + [stop]


# ----------------------------------------------------------------------------- the run


def run(args: argparse.Namespace) -> int:
    """Run the sweep, write its files into ``--out`` and print the best configuration.

    Returns 0; 2 for a user error (before any work); 1 when the files cannot be written
    (the results are then printed as JSON, so nothing is lost).
    """
    try:
        check_modes(args)
        if args.optuna is not None:
            from jaxgd._commands import sweep_optuna

            return sweep_optuna.run(args)
        out = check_output_folder(args.out or DEFAULT_OUT)
        space = sweep_space(args)
        from jaxgd.problems import get_problem

        result = _sweep(args, get_problem(args.problem), space)
    except (ValueError, TypeError) as error:
        return fail("sweep", error)
    try:
        best = result.best(over_seeds="median" if args.seeds > 1 else None)
    except ValueError as error:
        best = {"error": str(error)}
    from jaxgd.sweeps import to_portable
    from jaxgd.sweeps.results import STATUSES

    statuses = {s: int((result.status == s).sum()) for s in STATUSES}

    summary = to_portable(
        {
            "best": best,
            "statuses": statuses,
            "lanes": result.to_records(),
            "files": [str(out / name) for name in SWEEP_FILES],
        }
    )
    if not _write_files(result, args, out, summary):
        return 1
    if args.json:
        print(json.dumps(summary, indent=1, allow_nan=False))
        return 0
    print(f"{result.n_lanes} lanes: " + ", ".join(f"{v} {k}" for k, v in statuses.items()))
    print("best configuration" + (" (median over seeds)" if args.seeds > 1 else "") + ":")
    for name, value in best.items():
        print(f"  {name} = {value}")
    print(f"wrote {out}/" + ", ".join(SWEEP_FILES))
    return 0


def _sweep(args: argparse.Namespace, problem: Any, space: dict[str, Any]) -> Any:
    """``jaxgd.sweep`` of ``problem`` with the chosen optimizer over ``space``, as the options
    say."""
    from jaxgd import optim
    from jaxgd.sweeps import sweep

    factory = getattr(optim, args.optimizer)
    training = (problem.loss_fn, problem.init_fn, problem.data, factory)
    return sweep(*training, **space, **run_options(args))


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keywords of ``jaxgd.sweep`` (and ``optimize``) that say how every lane trains."""
    import jax

    steps = args.steps if args.steps is not None or args.epochs is not None else DEFAULT_STEPS
    options = dict(seeds=args.seeds, steps=steps, epochs=args.epochs, batch_size=args.batch_size)
    options.update(tol=args.tol, record_every=args.record_every, key=jax.random.key(args.seed))
    options.update(max_loss_ratio=args.max_loss_ratio, progress=False if args.no_progress else None)
    return options if args.prune is None else {**options, "prune": pruning(args)}


def _write_files(result: Any, args: argparse.Namespace, out: Path, summary: Any) -> bool:
    """Write :data:`SWEEP_FILES` into ``out``; if that fails, print ``summary`` as JSON and
    the error, and return False."""
    from jaxgd import plots

    try:
        result.to_csv(out / "sweep.csv")
        result.to_json(out / "sweep.json")
        title = f"{args.problem}, {args.optimizer}: final loss against learning rate"
        plots.save(plots.sweep_final_loss(result, title=title), out / "final_loss.png")
        plots.save(plots.sweep_heatmap(result), out / "loss_heatmap.png")
    except OSError as error:  # the sweep ran: its results go to stdout rather than nowhere
        print(json.dumps({**summary, "files": []}, indent=1, allow_nan=False))
        print(
            f"jaxgd sweep: error: could not write into {out} ({error}); the results are "
            "printed above as JSON.",
            file=sys.stderr,
        )
        return False
    return True
