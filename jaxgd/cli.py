"""The ``jaxgd`` command line.

Subcommands::

    jaxgd reproduce        run the experiments of the notes and write results/REPORT.md
    jaxgd worked-example   the 2-2-2 backpropagation example, every number, and the notes' errata
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

EXPERIMENTS_DIR = Path(__file__).resolve().parent.parent / "experiments"


def _reproduce(argv: list[str]) -> int:
    script = EXPERIMENTS_DIR / "reproduce.py"
    if not script.exists():
        print(
            "jaxgd reproduce runs the scripts in the source checkout's experiments/ folder, "
            f"which is not at {EXPERIMENTS_DIR}. Install from a clone with `pip install -e .`.",
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
    worked = sub.add_parser(
        "worked-example",
        help="the 2-2-2 backpropagation example: every value, chain-rule factor and the errata",
        description="Print the notes' worked example on the 2-2-2 network: pre-activations, "
        "activations, outputs, the loss, every chain-rule factor of dL/dW1_11 along both paths, "
        "the gradient from jax.grad and from the explicit chain rule, the SGD update, and the "
        "list of places where the notes' arithmetic differs from the exact values.",
    )
    _configure_worked_example(worked)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "reproduce":
        return _reproduce(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "worked-example":
        return _worked_example(args)
    raise AssertionError(f"unhandled command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
