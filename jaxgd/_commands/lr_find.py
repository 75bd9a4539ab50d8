"""``jaxgd lr-find``: suggest a learning rate for a built-in problem, by the range test or by
a sweep of short runs (:func:`jaxgd.lr_find`)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from jaxgd._commands import add_problem_options, check_output_folder, check_positive, fail

LR_FIND_FILES = ("lr_find.csv", "lr_find.json", "lr_find.png")
"""Short names accepted by ``--problem``."""

RULES = {"range": ("valley", "minimum", "steep"), "sweep": ("best",)}
"""The rules of each method, the default first (as :data:`jaxgd.lr_finder.RULES`, which the
tests compare; read here without importing JAX)."""

TABLE_ROWS = 12


def configure(parser: argparse.ArgumentParser) -> None:
    """The description and options of ``jaxgd lr-find``."""
    parser.description = (
        "Suggest a learning rate for a built-in problem: the range test (one run whose rate "
        "grows exponentially from --min-lr to --max-lr, fastai's lr_find) or a sweep of "
        "--num-rates constant rates, each trained --steps updates, as one compiled call. "
        "Prints the suggestion and the curve; with --out, writes lr_find.csv, lr_find.json "
        "and lr_find.png there."
    )
    add_problem_options(parser)
    parser.add_argument(
        "--method",
        default="range",
        choices=list(RULES),
        help="range: the range test (default); sweep: constant rates side by side",
    )
    parser.add_argument("--min-lr", type=float, default=1e-7, help="lowest rate (default 1e-7)")
    parser.add_argument("--max-lr", type=float, default=10.0, help="highest rate (default 10)")
    parser.add_argument(
        "--steps",
        type=int,
        default=100,
        help="range: updates of the run, one per rate; sweep: updates per rate (default 100)",
    )
    parser.add_argument(
        "--batch-size", type=int, help="mini-batch size (default: full batch); 1 is SGD"
    )
    parser.add_argument("--num-rates", type=int, help="sweep: the number of rates (default 32)")
    parser.add_argument(
        "--rule",
        choices=[rule for rules in RULES.values() for rule in rules],
        help="range: valley (default), minimum or steep; sweep: best (default)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the start, init_fn(jax.random.key(SEED)), and of the data order, "
        "lr_find(..., key=SEED) (default 0)",
    )
    parser.add_argument("--out", help="folder for lr_find.csv, lr_find.json and lr_find.png")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    """Run the finder, print the suggestion (and write the files with ``--out``).

    Returns 0; 2 for a user error, or when every rate diverged; 1 when the files cannot be
    written (the result is then printed as JSON).
    """
    try:
        check_positive("--batch-size", args.batch_size)
        out = None if args.out is None else check_output_folder(args.out)
    except ValueError as error:
        return fail("lr-find", error)
    try:
        result = _find(args)
    except (ValueError, TypeError) as error:
        return fail("lr-find", error)
    files = [] if out is None else [str(out / name) for name in LR_FIND_FILES]
    summary = _summary(args, result, files)
    if out is not None and not _write_files(result, out, summary):
        return 1
    if args.json:
        print(json.dumps(summary, indent=1, allow_nan=False))
        return 0
    print(_table(result))
    print(
        f"suggested learning rate: {result.suggestion:.4g} (rule {result.rule}, method "
        f"{result.method}; {args.optimizer} on {args.problem})"
    )
    if files:
        print(f"wrote {out}/" + ", ".join(LR_FIND_FILES))
    return 0


def _find(args: argparse.Namespace) -> Any:
    """:func:`jaxgd.lr_find` on the chosen problem and optimizer, from
    ``init_fn(jax.random.key(seed))`` with ``key=seed``: the Python call the README shows, so
    that ``--seed 0`` suggests the same rate as ``lr_find(loss_fn, init_fn(jax.random.key(0)),
    data, factory)``."""
    import jax

    from jaxgd import optim
    from jaxgd.lr_finder import lr_find
    from jaxgd.problems import get_problem

    problem = get_problem(args.problem)
    return lr_find(
        problem.loss_fn,
        problem.init_fn(jax.random.key(args.seed)),
        problem.data,
        getattr(optim, args.optimizer),
        min_lr=args.min_lr,
        max_lr=args.max_lr,
        steps=args.steps,
        batch_size=args.batch_size,
        key=args.seed,
        method=args.method,
        num_rates=args.num_rates,
        rule=args.rule,
    )


def _summary(args: argparse.Namespace, result: Any, files: list[str]) -> dict[str, Any]:
    records = [
        {k: v if not isinstance(v, float) or math.isfinite(v) else None for k, v in r.items()}
        for r in result.to_records()
    ]
    return {
        "problem": args.problem,
        "optimizer": args.optimizer,
        "method": result.method,
        "rule": result.rule,
        "suggestion": result.suggestion,
        "records": records,
        "files": files,
    }


def _table(result: Any) -> str:
    """:data:`TABLE_ROWS` rows of the curve, evenly spaced, and always the suggested rate's
    row, marked ``<- suggested``. Rule ``minimum`` suggests a tenth of the rate at the
    minimum: that row is marked ``<- minimum``, and the row nearest the suggestion
    ``<- nearest the suggestion``."""
    import numpy as np

    lrs = np.asarray(result.learning_rates, np.float64)
    n = len(lrs)
    nearest = int(np.argmin(np.abs(np.log(lrs) - math.log(result.suggestion))))
    marks = {nearest: "<- suggested"}
    if lrs[nearest] != result.suggestion:
        marks = {nearest: "<- nearest the suggestion"}
        marks[int(np.nanargmin(np.abs(lrs - 10 * result.suggestion)))] = "<- minimum"
    rows = {round(i * (n - 1) / (TABLE_ROWS - 1)) for i in range(min(n, TABLE_ROWS))}
    name = "smoothed loss" if result.method == "range" else "final loss"
    lines = [f"{'learning rate':>14}  {name:>14}  status", f"{'-' * 14}  {'-' * 14}  {'-' * 8}"]
    for i in sorted(rows | set(marks)):
        status = "diverged" if result.diverged[i] else ""
        line = f"{lrs[i]:>14.4g}  {result.losses[i]:>14.6g}  {status:8}  {marks.get(i, '')}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def _write_files(result: Any, out: Path, summary: dict[str, Any]) -> bool:
    """Write :data:`LR_FIND_FILES` into ``out``; if that fails, print ``summary`` as JSON and
    the error, and return False."""
    from jaxgd import plots

    try:
        result.to_csv(out / "lr_find.csv")
        result.to_json(out / "lr_find.json")
        plots.save(result.plot().figure, out / "lr_find.png")
    except OSError as error:
        print(json.dumps({**summary, "files": []}, indent=1, allow_nan=False))
        print(
            f"jaxgd lr-find: error: could not write into {out} ({error}); the result is "
            "printed above as JSON.",
            file=sys.stderr,
        )
        return False
    return True
