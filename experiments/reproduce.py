"""Run every experiment and write the report: what `jaxgd reproduce` runs.

Usage: ``jaxgd reproduce [--out DIR] [--only NAME] [--quick] [--jobs N] [--lang en|fa]``
(from a checkout, ``python experiments/reproduce.py`` with the same options). JAX is
imported once the arguments are read, so ``--help`` answers at once.

Experiments are independent; with several CPU cores they run in a pool of
processes, longest first (most of a quick run is XLA compiling, which uses
one core per program).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from jaxgd._commands import check_output_folder, check_positive, fail, parse_and_run

HERE = Path(__file__).resolve().parent

# (name, script, rough seconds of a full run on 2 cores: only used to start the longest first),
# in the order of the notes' topics.
EXPERIMENTS = [
    ("gd-linear", "gd_linear.py", 3),
    ("learning-rate", "learning_rate.py", 6),
    ("four-rates", "four_rates.py", 2),
    ("non-convex", "non_convex.py", 5),
    ("gradient", "gradient.py", 2),
    ("worked-example", "worked_example.py", 3),
    ("gd-variants", "gd_variants.py", 19),
    ("optimizers", "optimizers.py", 9),
    ("search", "search.py", 15),
    ("initialisation", "initialisation.py", 27),
    ("real-vanishing", "real_vanishing.py", 12),
    ("real-digits", "real_digits.py", 14),
    ("feature-scaling", "feature_scaling.py", 8),
    ("real-regression", "real_regression.py", 7),
    ("early-stopping", "early_stopping.py", 16),
]


def configure(parser: argparse.ArgumentParser) -> None:
    """The description and options of ``jaxgd reproduce``."""
    parser.description = (
        "Run the experiments that reproduce each topic of the notes on gradient "
        "descent, writing figures, CSV/JSON data and results/REPORT.md."
    )
    parser.add_argument("--out", default="results", help="output folder (default: results)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this experiment (repeatable); one of: "
        + ", ".join(n for n, _, _ in EXPERIMENTS),
    )
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a fast check")
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="experiments run side by side (default: the number of CPU cores, at most 4)",
    )
    parser.add_argument(
        "--lang",
        choices=("en", "fa"),
        default="en",
        help="language of REPORT.md and index.html: en (English, the default) or fa (Persian, "
        "right to left, with the notes' names of the topics)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the selected experiments and write the report; 0 when every claim passes, 1 when
    one fails, 2 for a user error."""
    from jaxgd.report import run_experiment_file, write_html, write_report

    names = [n for n, _, _ in EXPERIMENTS]
    selected = args.only or names
    unknown = [n for n in selected if n not in names]
    if unknown:
        print(
            f"unknown experiment {', '.join(unknown)}; choose from {', '.join(names)}",
            file=sys.stderr,
        )
        return 2
    try:
        check_positive("--jobs", args.jobs)
        out = check_output_folder(args.out)
    except ValueError as error:
        return fail("reproduce", error)
    todo = [(n, s, cost) for n, s, cost in EXPERIMENTS if n in selected]
    jobs = max(1, min(args.jobs or min(os.cpu_count() or 1, 4), len(todo)))
    from tqdm.auto import tqdm

    results = {}
    with tqdm(total=len(todo), desc="experiments", unit="exp", file=sys.stderr) as bar:

        def report(name, result):
            summary, printed, seconds = result
            results[name] = summary
            print(f"\n== {name}  ({seconds:.1f} s)\n{printed.rstrip()}", flush=True)
            bar.update(1)

        if jobs == 1:
            for name, script, _ in todo:
                report(name, run_experiment_file(HERE / script, out / name, args.quick))
        else:
            context = multiprocessing.get_context("spawn")  # JAX is not fork-safe
            with ProcessPoolExecutor(jobs, mp_context=context) as pool:
                futures = {
                    pool.submit(run_experiment_file, HERE / script, out / name, args.quick): name
                    for name, script, _ in sorted(todo, key=lambda item: -item[2])
                }
                for future in as_completed(futures):
                    report(futures[future], future.result())
    summaries = [results[name] for name, _, _ in todo]
    report = write_report(out, summaries, lang=args.lang)
    write_html(out, summaries, lang=args.lang)
    failed = [c for s in summaries for c in s["claims"] if not c["passed"]]
    n_claims = sum(len(s["claims"]) for s in summaries)
    print(
        f"\nReport: {report} and {out / 'index.html'}  ({n_claims - len(failed)}/{n_claims} "
        "claims pass)"
    )
    for claim in failed:
        print(f"  FAIL: {claim['statement']}: measured {claim['measured']}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """``python experiments/reproduce.py``: the same as ``jaxgd reproduce``."""
    return parse_and_run("jaxgd reproduce", configure, run, argv)


if __name__ == "__main__":
    sys.exit(main())
