"""The ``jaxgd`` command line.

Subcommands::

    jaxgd reproduce        run the experiments of the notes and write results/REPORT.md
    jaxgd worked-example   the 2-2-2 backpropagation example, every number, and the notes' errata
    jaxgd sweep            many learning rates × seeds × hyperparameters in one compiled call
    jaxgd crosscheck       every jaxgd optimizer against its optax twin, step by step
    jaxgd bench            sweep throughput against optax loops, inject_hyperparams and PyTorch
"""

from __future__ import annotations

import argparse
import json
import math
import runpy
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


def _run_checkout_script(command: str, relative: str, argv: list[str]) -> int:
    """Run ``main(argv)`` of a script of the source checkout (experiments/, benchmarks/)."""
    script = CHECKOUT / relative
    if not script.exists():
        print(
            f"jaxgd {command} runs {relative} of the source checkout, which is not at "
            f"{script.parent}. Install from a clone with `pip install -e .`.",
            file=sys.stderr,
        )
        return 2
    return runpy.run_path(str(script))["main"](argv)


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
    from jaxgd import worked_example as we

    lr = args.lr if args.lr is not None else (0.5 if args.hidden == "sigmoid" else 0.1)
    if not lr >= 0:
        print(f"--lr {lr} must be a non-negative number", file=sys.stderr)
        return 2
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


def _optimizer_factories() -> dict:
    from jaxgd import optim

    return {
        name: getattr(optim, name)
        for name in optim.__all__
        if name[0].islower() and name != "apply_updates"
    }


def _parse_value(text: str):
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    try:
        return float(text)
    except ValueError:
        return text.strip()


def _parse_grid(items: list[str]) -> dict:
    grid = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep or not name or not values:
            raise ValueError(f"--grid {item!r}: write name=v1,v2,... e.g. --grid momentum=0,0.9")
        grid[name.strip()] = [_parse_value(v) for v in values.split(",")]
    return grid


def _parse_lr(text: str) -> tuple[float, float, int]:
    try:
        start, stop, n = text.split(":")
        start, stop, n = float(start), float(stop), int(n)
    except ValueError:
        raise ValueError(f"--lr {text!r}: write START:STOP:N, e.g. --lr 1e-3:1:32") from None
    if not (0 < start <= stop and math.isfinite(stop)) or n <= 0:
        raise ValueError(f"--lr {text!r}: need 0 < START <= STOP and N >= 1.")
    return start, stop, n


def _configure_sweep(parser: argparse.ArgumentParser) -> None:
    from jaxgd.problems import PROBLEMS

    parser.add_argument(
        "--problem",
        default="geron-linear",
        choices=list(PROBLEMS),
        help="built-in problem: geron-linear (Géron's linear regression), worked-example (the "
        "2-2-2 net), quadratic-bowl, elongated-bowl (ill-conditioned), rosenbrock, "
        "mlp-regression (synthetic MLP regression). Default: geron-linear.",
    )
    parser.add_argument(
        "--optimizer",
        default="sgd",
        metavar="NAME",
        help="a jaxgd.optim optimizer: " + ", ".join(_optimizer_factories()) + " (default sgd)",
    )
    parser.add_argument(
        "--lr",
        default="1e-3:1:16",
        metavar="START:STOP:N",
        help="N learning rates log-spaced from START to STOP (default 1e-3:1:16)",
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
        help="another hyperparameter of the optimizer to grid over (repeatable), "
        "e.g. --grid momentum=0,0.9 --grid nesterov=false,true",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per configuration (default 3)")
    parser.add_argument("--steps", type=int, help="updates per run (default 500 unless --epochs)")
    parser.add_argument("--epochs", type=int, help="passes over the data instead of --steps")
    parser.add_argument(
        "--batch-size", type=int, help="mini-batch size (default: full batch); 1 is SGD"
    )
    parser.add_argument("--tol", type=float, help="stop a run when its loss changes by <= TOL")
    parser.add_argument(
        "--record-every", type=int, default=1, help="record the loss every N updates (default 1)"
    )
    parser.add_argument("--key", type=int, default=0, help="PRNG seed of the sweep (default 0)")
    parser.add_argument(
        "--out", default="results/sweep", help="output folder (default results/sweep)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _sweep(args: argparse.Namespace) -> int:
    import jax
    import numpy as np

    from jaxgd import plots
    from jaxgd.problems import get_problem
    from jaxgd.sweeps import log_uniform, sweep

    factories = _optimizer_factories()
    try:
        if args.optimizer not in factories:
            raise ValueError(
                f"--optimizer {args.optimizer!r} is not one of {', '.join(factories)}."
            )
        start, stop, n = _parse_lr(args.lr)
        grid = _parse_grid(args.grid)
        random = None
        if args.random is not None:
            random = {"learning_rate": log_uniform(start, stop)} if start < stop else None
            if random is None:
                grid["learning_rate"] = [start]
        else:
            grid["learning_rate"] = list(np.geomspace(start, stop, n))
        steps = args.steps if args.steps is not None or args.epochs is not None else 500
        problem = get_problem(args.problem)
        result = sweep(
            problem.loss_fn,
            problem.init_fn,
            problem.data,
            factories[args.optimizer],
            grid=grid or None,
            random=random,
            n_random=args.random if random else None,
            seeds=args.seeds,
            steps=steps,
            epochs=args.epochs,
            batch_size=args.batch_size,
            key=jax.random.key(args.key),
            tol=args.tol,
            record_every=args.record_every,
            progress=False if args.no_progress else None,
        )
    except ValueError as error:
        print(f"jaxgd sweep: {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    result.to_csv(out / "sweep.csv")
    result.to_json(out / "sweep.json")
    plots.save(
        plots.sweep_final_loss(
            result, title=f"{args.problem}, {args.optimizer}: final loss against learning rate"
        ),
        out / "final_loss.png",
    )
    plots.save(plots.sweep_heatmap(result), out / "loss_heatmap.png")
    try:
        best = result.best(over_seeds="median" if args.seeds > 1 else None)
    except ValueError as error:
        best = {"error": str(error)}
    statuses = {s: int((result.status == s).sum()) for s in ("completed", "converged", "diverged")}
    if args.json:
        print(
            json.dumps(
                {
                    "best": best,
                    "statuses": statuses,
                    "lanes": result.to_records(),
                    "files": [
                        str(out / f)
                        for f in ("sweep.csv", "sweep.json", "final_loss.png", "loss_heatmap.png")
                    ],
                },
                indent=1,
            )
        )
        return 0
    print(f"{result.n_lanes} lanes: " + ", ".join(f"{v} {k}" for k, v in statuses.items()))
    print("best configuration" + (" (median over seeds)" if args.seeds > 1 else "") + ":")
    for name, value in best.items():
        print(f"  {name} = {value}")
    print(f"wrote {out}/sweep.csv, sweep.json, final_loss.png, loss_heatmap.png")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxgd",
        description="Gradient descent in JAX: the lecture notes made runnable, hand-written "
        "optimizers equal to optax, and vectorised learning-rate sweeps.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser(
        "reproduce",
        help="run every experiment of the notes and write results/REPORT.md "
        "(options: jaxgd reproduce --help)",
        add_help=False,
    )
    sub.add_parser(
        "bench",
        help="sweep throughput side by side with the usual ways (options: jaxgd bench --help)",
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
    sweep = sub.add_parser(
        "sweep",
        help="train many learning rates × seeds × hyperparameters in one compiled call",
        description="Run a learning-rate sweep (times seeds, times any --grid) of a built-in "
        "problem as one compiled, vmapped program; write sweep.csv, sweep.json, final_loss.png "
        "and loss_heatmap.png into --out and print the best configuration.",
    )
    _configure_sweep(sweep)
    from jaxgd import crosscheck

    check = sub.add_parser(
        "crosscheck",
        help="run every jaxgd optimizer and setting against optax from the same start",
        description="Run every jaxgd optimizer and setting against its optax twin from the same "
        "start on the built-in problems; print max abs/rel differences, ULP distances and the "
        "first step where they differ; exit 1 if any row exceeds its tolerance.",
    )
    crosscheck.configure_parser(check)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "reproduce":
        return _run_checkout_script("reproduce", "experiments/reproduce.py", argv[1:])
    if argv and argv[0] == "bench":
        return _run_checkout_script("bench", "benchmarks/bench.py", argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "worked-example":
        return _worked_example(args)
    if args.command == "sweep":
        return _sweep(args)
    if args.command == "crosscheck":
        from jaxgd import crosscheck

        return crosscheck.run_from_args(args)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
