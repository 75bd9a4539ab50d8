"""The ``jaxgd`` command line.

Subcommands::

    jaxgd reproduce        run the experiments of the notes and write results/REPORT.md
    jaxgd worked-example   the 2-2-2 backpropagation example, every number, and the notes' errata
    jaxgd sweep            many learning rates × seeds × hyperparameters in one compiled call
    jaxgd crosscheck       every jaxgd optimizer against its optax twin, step by step
    jaxgd bench            sweep throughput against optax loops, inject_hyperparams and PyTorch

Every subcommand is defined here; ``reproduce`` and ``bench`` run the ``main`` of
``jaxgd.experiments.reproduce`` and ``jaxgd.benchmarks.bench``, installed with the package
(from a source checkout, the top-level ``experiments/`` and ``benchmarks/`` folders). JAX is
imported only once a command runs, so ``--help`` answers at once. A user error (a malformed
option, a value the library refuses, an output folder that cannot be written) is one line on
stderr and exit status 2, before any work starts.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from jaxgd import __version__, _catalog


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block), exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def check_output_folder(text: str, option: str = "--out") -> Path:
    """The output folder ``text``, created and probed with a file before any work starts.

    Raises:
      ValueError: naming ``option`` when the path is a file, lies under a file, or cannot
        be written.
    """
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{option} {text} is a file, not a folder; pass a folder.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()  # a probe: can a file be written there?
    except OSError as error:
        reason = error.strerror or str(error)
        raise ValueError(
            f"{option} {text}: cannot write there ({reason}); pass a folder you can write to."
        ) from None
    return path


def _fail(command: str, error: Exception) -> int:
    print(f"jaxgd {command}: error: {error}", file=sys.stderr)
    return 2


# ----------------------------------------------------------------------------- reproduce, bench

BUNDLED = {"reproduce": "experiments.reproduce", "bench": "benchmarks.bench"}
"""Subcommands that run the ``main(argv)`` of a module of ``jaxgd.experiments`` / ``benchmarks``."""


def bundled_module(module: str) -> ModuleType:
    """``jaxgd.<module>``, e.g. ``jaxgd.experiments.reproduce``.

    An installed jaxgd holds ``jaxgd.experiments`` and ``jaxgd.benchmarks`` (the top-level
    folders of the repository, mapped into the package by ``pyproject.toml``); jaxgd run
    from a source checkout loads the checkout's folder under the same name.
    """
    package = f"jaxgd.{module.split('.')[0]}"
    try:
        importlib.import_module(package)
    except ModuleNotFoundError as error:
        if error.name != package:
            raise
        folder = Path(__file__).resolve().parent.parent / module.split(".")[0]
        spec = importlib.util.spec_from_file_location(
            package, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        if spec is None or not (folder / "__init__.py").is_file():
            raise ModuleNotFoundError(
                f"{package} is neither installed nor in a source checkout at {folder}; "
                "reinstall jaxgd (pip install jaxgd, or pip install . in a clone).",
                name=package,
            ) from None
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[package] = loaded
        spec.loader.exec_module(loaded)
    return importlib.import_module(f"jaxgd.{module}")


# ----------------------------------------------------------------------------- worked-example


def _configure_worked_example(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hidden",
        choices=["relu", "sigmoid"],
        default="relu",
        help="hidden activation: relu (the notes' network) or sigmoid (the classic original, "
        "whose published numbers use --lr 0.5)",
    )
    parser.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate of the SGD step (default: 0.1 as in the notes' arithmetic for "
        "relu, 0.5 as in the original for sigmoid)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--no-errata", action="store_true", help="leave out the table of the notes' slips"
    )


def _worked_example(args: argparse.Namespace) -> int:
    lr = args.lr if args.lr is not None else (0.5 if args.hidden == "sigmoid" else 0.1)
    if not (math.isfinite(lr) and lr >= 0):
        return _fail("worked-example", ValueError(f"--lr {lr} must be a finite number >= 0."))
    from jaxgd import worked_example as we

    values = we.compute(args.hidden, lr)
    rows = [] if args.no_errata else we.errata()
    if args.json:
        print(we.to_json(values, rows))
        return 0
    print(we.format_report(values))
    if rows:
        print("\nErrata: where the notes differ from the exact values\n")
        print(we.format_errata(rows))
    return 0


# ----------------------------------------------------------------------------- sweep

DEFAULT_LR = "1e-3:1:16"
DEFAULT_STEPS = 500


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


def _configure_sweep(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--problem",
        default="geron-linear",
        choices=list(_catalog.PROBLEMS),
        metavar="NAME",
        help="the built-in problem (default geron-linear): "
        + "; ".join(f"{name}: {text}" for name, text in _catalog.PROBLEMS.items()),
    )
    parser.add_argument(
        "--optimizer",
        default="sgd",
        choices=_catalog.OPTIMIZERS,
        metavar="NAME",
        help="a jaxgd.optim optimizer: " + ", ".join(_catalog.OPTIMIZERS) + " (default sgd)",
    )
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
    parser.add_argument(
        "--out", default="results/sweep", help="output folder (default results/sweep)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


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


SWEEP_FILES = ("sweep.csv", "sweep.json", "final_loss.png", "loss_heatmap.png")


def _sweep(args: argparse.Namespace) -> int:
    try:
        out = check_output_folder(args.out)
        space = sweep_space(args)
    except ValueError as error:
        return _fail("sweep", error)
    import jax

    from jaxgd import optim, plots
    from jaxgd.problems import get_problem
    from jaxgd.sweeps import sweep, to_portable

    steps = args.steps if args.steps is not None or args.epochs is not None else DEFAULT_STEPS
    problem = get_problem(args.problem)
    try:
        result = sweep(
            problem.loss_fn,
            problem.init_fn,
            problem.data,
            getattr(optim, args.optimizer),
            **space,
            seeds=args.seeds,
            steps=steps,
            epochs=args.epochs,
            batch_size=args.batch_size,
            key=jax.random.key(args.seed),
            tol=args.tol,
            record_every=args.record_every,
            progress=False if args.no_progress else None,
            max_loss_ratio=args.max_loss_ratio,
        )
    except (ValueError, TypeError) as error:
        return _fail("sweep", error)
    try:
        best = result.best(over_seeds="median" if args.seeds > 1 else None)
    except ValueError as error:
        best = {"error": str(error)}
    statuses = {s: int((result.status == s).sum()) for s in ("completed", "converged", "diverged")}
    summary = to_portable(
        {
            "best": best,
            "statuses": statuses,
            "lanes": result.to_records(),
            "files": [str(out / name) for name in SWEEP_FILES],
        }
    )
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


# ----------------------------------------------------------------------------- crosscheck


def _optimizer_list(text: str) -> list[str]:
    try:
        return list(_catalog.parse_optimizers(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _configure_crosscheck(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--steps", type=int, default=200, help="updates per run (default: %(default)s)"
    )
    parser.add_argument(
        "--dtype",
        choices=_catalog.DTYPES,
        default="float32",
        help="parameter dtype; float64 turns on jax_enable_x64 (default: %(default)s)",
    )
    parser.add_argument(
        "--optimizer",
        action="append",
        type=_optimizer_list,
        metavar="NAME",
        help="optimizer(s) to check, repeatable or comma-separated: "
        f"{', '.join(_catalog.OPTIMIZERS)} (default: all)",
    )
    parser.add_argument(
        "--traced",
        action="store_true",
        help="pass jaxgd's hyperparameters as arguments of the compiled program, as "
        "jaxgd.fit does (default: compile-time constants, as optax's)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _crosscheck(args: argparse.Namespace) -> int:
    if args.steps < 1:
        return _fail("crosscheck", ValueError(f"--steps {args.steps} must be >= 1."))
    from jaxgd import crosscheck

    return crosscheck.run_from_args(args)


# ----------------------------------------------------------------------------- the parser


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxgd`` parser with every subcommand (none of them imports JAX to be built)."""
    parser = Parser(
        prog="jaxgd",
        description="Gradient descent in JAX: the lecture notes made runnable, hand-written "
        "optimizers equal to optax, and vectorised learning-rate sweeps.",
    )
    parser.add_argument("--version", action="version", version=f"jaxgd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser(
        "reproduce",
        help="run every experiment of the notes and write results/REPORT.md "
        "(options: jaxgd reproduce --help)",
        add_help=False,
    )
    worked = sub.add_parser(
        "worked-example",
        help="the 2-2-2 backpropagation example: every value, chain-rule factor and the errata",
        description="Print the notes' worked example on the 2-2-2 network: pre-activations, "
        "activations, outputs, the loss, every chain-rule factor of dL/dW1_11 along both paths, "
        "the gradient from jax.grad and from the explicit chain rule, the SGD update, and the "
        "list of places where the notes' arithmetic differs from the exact values.",
    )
    _configure_worked_example(worked)
    worked.set_defaults(handler=_worked_example)
    sweep = sub.add_parser(
        "sweep",
        help="train many learning rates × seeds × hyperparameters in one compiled call",
        description="Run a learning-rate sweep (times seeds, times any --grid) of a built-in "
        "problem as one compiled, vmapped program; write sweep.csv, sweep.json, final_loss.png "
        "and loss_heatmap.png into --out and print the best configuration.",
    )
    _configure_sweep(sweep)
    sweep.set_defaults(handler=_sweep)
    check = sub.add_parser(
        "crosscheck",
        help="run every jaxgd optimizer and setting against optax from the same start",
        description="Run every jaxgd optimizer and setting against its optax twin from the same "
        "start on the built-in problems; print max abs/rel differences, ULP distances and the "
        "first step where they differ; exit 1 if any row exceeds its tolerance.",
    )
    _configure_crosscheck(check)
    check.set_defaults(handler=_crosscheck)
    sub.add_parser(
        "bench",
        help="sweep throughput side by side with the usual ways (options: jaxgd bench --help)",
        add_help=False,
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``jaxgd`` with ``argv`` (default: the command line); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in BUNDLED:
        return bundled_module(BUNDLED[argv[0]]).main(argv[1:])
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
