"""The ``jaxgd`` command line.

Subcommands::

    jaxgd reproduce        run the experiments of the notes and write results/REPORT.md
    jaxgd worked-example   the 2-2-2 backpropagation example, every number, and the notes' errata
    jaxgd sweep            many learning rates × seeds × hyperparameters in one compiled call
    jaxgd lr-find          suggest a learning rate: the range test, or a sweep of short runs
    jaxgd crosscheck       every jaxgd optimizer against its optax twin, step by step
    jaxgd bench            sweep throughput against optax loops, inject_hyperparams and PyTorch

Each subcommand is a module with ``configure(parser)`` and ``run(args)`` (see
:mod:`jaxgd._commands`), listed in :data:`COMMANDS`: ``worked-example``, ``sweep``, ``lr-find``
and ``crosscheck`` in ``jaxgd._commands``, ``reproduce`` and ``bench`` in
``jaxgd.experiments`` and ``jaxgd.benchmarks``, installed with the package (from a source
checkout, the top-level ``experiments/`` and ``benchmarks/`` folders). Only the module of
the command given is imported, and JAX only once it runs, so ``--help`` answers at once. A
user error (a malformed option, a value the library refuses, an output folder that cannot
be written) is one line on stderr and exit status 2, before any work starts.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

from jaxgd import __version__
from jaxgd._commands import Parser, check_output_folder, parse_and_run

__all__ = [
    "COMMANDS",
    "Command",
    "Parser",
    "build_parser",
    "bundled_module",
    "check_output_folder",
    "command_module",
    "main",
]


class Command(NamedTuple):
    """A subcommand: the module under ``jaxgd`` that defines it, and its line in the listing."""

    module: str
    help: str


COMMANDS: dict[str, Command] = {
    "reproduce": Command(
        "experiments.reproduce",
        "run every experiment of the notes and write results/REPORT.md "
        "(options: jaxgd reproduce --help)",
    ),
    "worked-example": Command(
        "_commands.worked_example",
        "the 2-2-2 backpropagation example: every value, chain-rule factor and the errata",
    ),
    "sweep": Command(
        "_commands.sweep",
        "train many learning rates × seeds × hyperparameters in one compiled call",
    ),
    "lr-find": Command(
        "_commands.lr_find",
        "suggest a learning rate: the range test (fastai's lr_find) or a sweep of short runs",
    ),
    "crosscheck": Command(
        "_commands.crosscheck",
        "run every jaxgd optimizer and setting against optax from the same start",
    ),
    "bench": Command(
        "benchmarks.bench",
        "sweep throughput side by side with the usual ways (options: jaxgd bench --help)",
    ),
}
"""Every subcommand, in the order of ``jaxgd --help``."""


def bundled_module(module: str) -> ModuleType:
    """``jaxgd.<module>``, e.g. ``jaxgd.experiments.reproduce`` or ``jaxgd._commands.sweep``.

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


def command_module(name: str) -> ModuleType:
    """The module that defines the subcommand ``name`` (its ``configure`` and ``run``)."""
    return bundled_module(COMMANDS[name].module)


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The ``jaxgd`` parser with every subcommand (none of them imports JAX to be built).

    Args:
      commands: the subcommands whose options are added, which imports their modules
        (default: all); the others are only listed.
    """
    parser = Parser(
        prog="jaxgd",
        description="Gradient descent in JAX: the lecture notes made runnable, hand-written "
        "optimizers equal to optax, and vectorised learning-rate sweeps.",
    )
    parser.add_argument("--version", action="version", version=f"jaxgd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    configured = set(COMMANDS if commands is None else commands)
    for name, command in COMMANDS.items():
        child = sub.add_parser(name, help=command.help)
        if name in configured:
            module = command_module(name)
            module.configure(child)
            child.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``jaxgd`` with ``argv`` (default: the command line); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        build_parser(commands=()).parse_args(argv)  # --help, --version or a usage error: exits
        return 2
    module = command_module(argv[0])
    return parse_and_run(f"jaxgd {argv[0]}", module.configure, module.run, argv[1:])


if __name__ == "__main__":
    sys.exit(main())
