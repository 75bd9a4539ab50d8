"""What ``jaxgd crosscheck`` runs once its arguments are parsed."""

from __future__ import annotations

import argparse
import sys

from jaxgd.crosscheck._run import run_table, tolerance_for
from jaxgd.crosscheck._table import format_table, rows_to_json


def run_from_args(args: argparse.Namespace) -> int:
    """Run the table as ``jaxgd crosscheck`` parsed ``args``, print it; 0 if every row is
    within tolerance, else 1 (the options are defined in :mod:`jaxgd._commands.crosscheck`)."""
    selected = getattr(args, "optimizer", None)
    names = None if not selected else [n for group in selected for n in group]
    if args.steps < 1:
        print(f"error: --steps={args.steps} must be >= 1", file=sys.stderr)
        return 2
    traced = bool(getattr(args, "traced", False))
    rows = run_table(names, dtype=args.dtype, steps=args.steps, traced=traced)
    if args.json:
        print(rows_to_json(rows, dtype=args.dtype, steps=args.steps, traced=traced))
    else:
        tolerance = tolerance_for(args.dtype, traced)
        print(format_table(rows))
        failed = sum(not r.ok for r in rows)
        mode = "traced hyperparameters" if traced else "constant hyperparameters"
        print(
            f"\n{len(rows) - failed}/{len(rows)} within tolerance ({args.dtype}, {args.steps} "
            f"steps, {mode}: {tolerance.describe()}; {tolerance.reason})"
        )
    return 0 if all(r.ok for r in rows) else 1
