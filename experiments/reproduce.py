"""Run every experiment and write the report: what `jaxgd reproduce` runs.

Usage: python experiments/reproduce.py [--out DIR] [--only NAME] [--quick]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

from jaxgd.report import write_html, write_report

HERE = Path(__file__).resolve().parent

# (name, script) in the order of the notes' topics.
EXPERIMENTS = [
    ("gd-linear", "gd_linear.py"),
    ("learning-rate", "learning_rate.py"),
    ("four-rates", "four_rates.py"),
    ("non-convex", "non_convex.py"),
    ("worked-example", "worked_example.py"),
    ("gd-variants", "gd_variants.py"),
    ("optimizers", "optimizers.py"),
    ("search", "search.py"),
    ("initialisation", "initialisation.py"),
    ("feature-scaling", "feature_scaling.py"),
]


def load(script: str):
    spec = importlib.util.spec_from_file_location(
        f"jaxgd_experiment_{Path(script).stem}", HERE / script
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxgd reproduce",
        description="Run the experiments that reproduce each topic of the notes on gradient "
        "descent, writing figures, CSV/JSON data and results/REPORT.md.",
    )
    parser.add_argument("--out", default="results", help="output folder (default: results)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this experiment (repeatable); one of: "
        + ", ".join(n for n, _ in EXPERIMENTS),
    )
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a fast check")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    names = [n for n, _ in EXPERIMENTS]
    selected = args.only or names
    unknown = [n for n in selected if n not in names]
    if unknown:
        print(
            f"unknown experiment {', '.join(unknown)}; choose from {', '.join(names)}",
            file=sys.stderr,
        )
        return 2
    out = Path(args.out)
    summaries = []
    from tqdm.auto import tqdm

    todo = [(n, s) for n, s in EXPERIMENTS if n in selected]
    for name, script in tqdm(todo, desc="experiments", unit="exp", file=sys.stderr):
        print(f"\n== {name}")
        start = time.perf_counter()
        summaries.append(load(script).run(out / name, quick=args.quick))
        print(f"   ({time.perf_counter() - start:.1f} s)")
    report = write_report(out, summaries)
    write_html(out, summaries)
    failed = [c for s in summaries for c in s["claims"] if not c["passed"]]
    n_claims = sum(len(s["claims"]) for s in summaries)
    print(
        f"\nReport: {report} and {out / 'index.html'}  ({n_claims - len(failed)}/{n_claims} "
        "claims pass)"
    )
    for claim in failed:
        print(f"  FAIL: {claim['statement']}: measured {claim['measured']}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
