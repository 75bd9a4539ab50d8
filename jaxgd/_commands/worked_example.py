"""``jaxgd worked-example``: the notes' 2-2-2 network, every number, and the notes' errata."""

from __future__ import annotations

import argparse
import math
import re
import textwrap

from jaxgd._commands import fail


def configure(parser: argparse.ArgumentParser) -> None:
    """The description and options of ``jaxgd worked-example``."""
    parser.description = (
        "Print the notes' worked example on the 2-2-2 network: pre-activations, "
        "activations, outputs, the loss, every chain-rule factor of dL/dW1_11 along both paths, "
        "the gradient from jax.grad and from the explicit chain rule, the SGD update, and the "
        "list of places where the notes' arithmetic differs from the exact values."
    )
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


def run(args: argparse.Namespace) -> int:
    """Print the example (text or JSON); 0, or 2 for a learning rate that is not a number >= 0."""
    lr = args.lr if args.lr is not None else (0.5 if args.hidden == "sigmoid" else 0.1)
    if not (math.isfinite(lr) and lr >= 0):
        return fail("worked-example", ValueError(f"--lr {lr} must be a finite number >= 0."))
    from jaxgd import worked_example as we

    values = we.compute(args.hidden, lr)
    rows = [] if args.no_errata else we.errata()
    if args.json:
        print(we.to_json(values, rows))
        return 0
    print(we.format_report(values))
    if rows:
        print()
        print(format_errata_text(rows))
    return 0


def format_errata_text(rows, width: int = 100) -> str:
    """The errata (:func:`jaxgd.worked_example.errata`) as plain text no wider than ``width``
    columns: grouped by step (forward pass, backward pass, update), one block per slip."""
    from jaxgd.worked_example import STEPS

    lines = [
        "Errata: where the notes differ from the exact values",
        "  correct: the notes' network (ReLU hidden layer, α = 0.1);",
        "  sigmoid: the classic original (α = 0.5);",
        "  cause gives: the number that the proposed cause produces, computed here.",
    ]
    for step in STEPS:
        lines += ["", f"{step[0].upper()}{step[1:]}"]
        for row in (r for r in rows if r.step == step):
            values = (
                f"notes {_number(row.notes, 8)} · correct {_number(row.correct, 10)} · "
                f"sigmoid {_number(row.sigmoid_original, 10)} · cause gives "
                f"{_number(row.explained_by, 10)}"
            )
            lines.append(f"  {row.quantity}")
            for text in (values, row.cause):
                lines += _wrap(text, width, indent=6)
    return "\n".join(lines)


_KEEP_TOGETHER = re.compile(r" ([−=×>+·]) ")


def _wrap(text: str, width: int, indent: int) -> list[str]:
    """``text`` in lines of at most ``width`` columns, indented, never broken next to an
    operator (a line does not end with "1 −" nor start with "= 0.5")."""
    glued = _KEEP_TOGETHER.sub("\u00a0\\1\u00a0", text)
    lines = textwrap.wrap(glued, width, initial_indent=" " * indent, subsequent_indent=" " * indent)
    return [line.replace("\u00a0", " ") for line in lines]


def _number(value, digits: int) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else f"{value:.{digits}g}"
