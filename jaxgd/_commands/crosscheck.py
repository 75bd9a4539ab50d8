"""``jaxgd crosscheck``: every jaxgd optimizer and setting against its optax twin.

The options are read here; :func:`jaxgd.crosscheck.run_from_args` runs the table and
prints it (importing this module does not import JAX).
"""

from __future__ import annotations

import argparse

from jaxgd import _catalog
from jaxgd._commands import fail


def _optimizer_list(text: str) -> list[str]:
    try:
        return list(_catalog.parse_optimizers(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def configure(parser: argparse.ArgumentParser) -> None:
    """The description and options of ``jaxgd crosscheck``."""
    parser.description = (
        "Run every jaxgd optimizer and setting against its optax twin from the same "
        "start on the built-in problems; print max abs/rel differences, ULP distances and the "
        "first step where they differ; exit 1 if any row exceeds its tolerance."
    )
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


def run(args: argparse.Namespace) -> int:
    """Run and print the table: 0 if every row is within tolerance, 1 if not, 2 for bad --steps."""
    if args.steps < 1:
        return fail("crosscheck", ValueError(f"--steps {args.steps} must be >= 1."))
    from jaxgd.crosscheck import run_from_args

    return run_from_args(args)
