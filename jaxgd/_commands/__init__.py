"""The subcommands of ``jaxgd``, one module each, and what they share.

Every subcommand is a module with two functions:

* ``configure(parser: argparse.ArgumentParser) -> None`` gives the parser its
  description and options;
* ``run(args: argparse.Namespace) -> int`` does the work and returns the exit
  status.

:data:`jaxgd.cli.COMMANDS` lists them (name, module, one line of help):
``worked_example``, ``sweep`` and ``crosscheck`` here, ``reproduce`` and ``bench``
in ``jaxgd.experiments`` and ``jaxgd.benchmarks``. A module imports JAX only
inside ``run``, so that ``--help`` answers at once. A user error (a malformed
option, a value the library refuses, an output folder that cannot be written)
is one line on stderr and exit status 2, before any work starts.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path


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


def check_positive(option: str, value: int | None) -> None:
    """Raise ValueError, naming ``option``, unless ``value`` is ``None`` (not given) or >= 1."""
    if value is not None and value < 1:
        raise ValueError(f"{option} {value} must be >= 1")


def fail(command: str, error: Exception) -> int:
    """Print ``error`` as the one-line error of ``jaxgd command``; return exit status 2."""
    print(f"jaxgd {command}: error: {error}", file=sys.stderr)
    return 2


def parse_and_run(
    prog: str,
    configure: Callable[[argparse.ArgumentParser], None],
    run: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None = None,
) -> int:
    """Parse ``argv`` (default: the command line) with a :class:`Parser` named ``prog``
    that ``configure`` fills, and return ``run(args)``.

    ``args.argv`` keeps the arguments as given (``jaxgd bench`` writes them into its table).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = Parser(prog=prog)
    configure(parser)
    args = parser.parse_args(argv)
    args.argv = argv
    return run(args)


PROBLEM_ALIASES = {"geron": "geron-linear"}
"""Short names ``--problem`` also accepts."""


def add_problem_options(parser: argparse.ArgumentParser) -> None:
    """``--problem`` (a built-in problem, default Géron's) and ``--optimizer`` (default sgd)."""
    from jaxgd import _catalog

    parser.add_argument(
        "--problem",
        default="geron-linear",
        type=lambda name: PROBLEM_ALIASES.get(name, name),
        choices=list(_catalog.PROBLEMS),
        metavar="NAME",
        help="the built-in problem (default geron-linear, also called geron): "
        + "; ".join(f"{name}: {text}" for name, text in _catalog.PROBLEMS.items()),
    )
    parser.add_argument(
        "--optimizer",
        default="sgd",
        choices=_catalog.OPTIMIZERS,
        metavar="NAME",
        help="a jaxgd.optim optimizer: " + ", ".join(_catalog.OPTIMIZERS) + " (default sgd)",
    )
