"""Sweep throughput, side by side: jaxgd.sweep against the ways people do it today.

Usage: ``jaxgd bench [--quick] [--json] [--out DIR] [--workload W1 ...]`` (from a checkout,
``python -m benchmarks.bench`` with the same options). JAX is imported only once the
arguments are read, so ``--help`` answers at once.

For each workload (see workloads.py) and lane count, in this one process:

  (a) jaxgd.sweep
  (b) a Python loop of jitted optax runs (lax.scan inside, learning rate as an argument)
  (c) a per-step Python loop of optax updates (timed on 2 lanes, extrapolated)
  (d) optax.inject_hyperparams + vmap
  (e) PyTorch when installed: a loop of torch.optim runs (2 lanes, extrapolated), torch.func
      vmap (full batch), and for W1 the lanes written by hand as matrix columns
  (f) the machine's limit: the float32 matrix-product rate for 2048² matrices and for the
      workload's own layer shapes

Reported: run-steps per second (lanes × steps / seconds), the ratio of jaxgd's rate to each
method's, compile time (first call minus a steady call), peak resident memory added while the
method ran, achieved matrix-product FLOP/s and its share of (f), and the largest relative
difference of the lanes' final losses from jaxgd's. Times are the minimum over steady calls
taken in rounds, one call of each method per round (see ``interleaved_minimum``): the
machine is shared, so only ratios measured side by side in the same run mean anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jaxgd._commands import check_output_folder, check_positive, fail, parse_and_run

if TYPE_CHECKING:
    from .workloads import Workload

WORKLOAD_HELP = {
    "W1": "Géron linear, full-batch SGD, 16 / 256 / 4,096 lanes",
    "W2": "the worked 2-2-2 net, full-batch SGD, 1,024 lanes",
    "W3": "MLP 16-64-64-1, full-batch Adam, 64 lanes",
    "W4": "MLP 16-64-64-1, mini-batches of 32, Adam, 64 lanes",
    "U1": "Géron's notebook form (θ [2, 1], X_b @ θ), SGD, 256 / 4,096 lanes",
    "U2": "MLP written with h @ W + b and ReLU, full-batch Adam, 64 lanes",
    "U3": "U2 with mini-batches of 32",
    "U4": "equinox.nn.MLP with ReLU, mini-batches of 32, 64 lanes (needs equinox)",
}
"""The workloads' names and one line each (``workloads.WORKLOADS`` defines them)."""


def methods() -> list[tuple[str, Any]]:
    """``(name, prepare)`` of every method run on this machine (PyTorch's when installed)."""
    from . import methods_jax, methods_torch

    found = [
        ("jaxgd.sweep", methods_jax.prepare_jaxgd),
        ("loop of jitted optax runs, loss every step", methods_jax.prepare_optax_loop),
        ("loop of jitted optax runs, final loss only", methods_jax.prepare_optax_loop_final),
        ("per-step loop of optax updates", methods_jax.prepare_per_step_loop),
        ("optax.inject_hyperparams + vmap", methods_jax.prepare_inject_vmap),
        ("by hand, lanes as matrix columns", methods_jax.prepare_columns),
    ]
    if methods_torch.available():
        found += [
            ("torch.optim loop", methods_torch.prepare_torch_loop),
            ("torch.func vmap", methods_torch.prepare_torch_func),
            ("torch by hand (lanes as columns)", methods_torch.prepare_torch_columns),
        ]
    return found


@dataclasses.dataclass
class Row:
    workload: str
    lanes: int
    method: str
    run_s: float
    compile_s: float
    lane_steps_per_s: float
    speedup_of_jaxgd: float | None = None
    gflops: float | None = None
    share_of_limit_shapes: float | None = None
    share_of_limit_2048: float | None = None
    peak_rss_mib: float | None = None
    max_rel_diff_vs_jaxgd: float | None = None
    calls: int = 1
    note: str = ""
    formulation: str = ""


class PeakMemory:
    """Samples this process's resident memory in a thread; ``peak_mib`` above the start."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        try:
            with open("/proc/self/statm") as handle:
                return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            return 0

    def __enter__(self):
        self.start = self.peak = self.rss()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())

    @property
    def peak_mib(self) -> float | None:
        return (self.peak - self.start) / 2**20 if self.start else None


def interleaved_minimum(
    runs: dict[str, Any], repeats: int, min_seconds: float, max_samples: int = 100
) -> tuple[dict[str, float], dict[str, int]]:
    """Each method's fastest steady call, sampled in rounds of one call per method.

    Rounds spread the machine's noise over every method alike (one method's slow
    minute does not fall on it alone). A method is called at least ``repeats`` times
    and, when its calls are short, until they add up to ``min_seconds`` (at most
    ``max_samples`` calls), so a run of a few milliseconds gets as many chances as
    one of a few seconds. Returns (minimum seconds, number of calls) per method.
    """
    best = dict.fromkeys(runs, float("inf"))
    spent = dict.fromkeys(runs, 0.0)
    calls = dict.fromkeys(runs, 0)

    def wanted(name: str) -> bool:
        return calls[name] < repeats or (spent[name] < min_seconds and calls[name] < max_samples)

    while pending := [name for name in runs if wanted(name)]:
        for name in pending:
            start = time.perf_counter()
            runs[name]()
            elapsed = time.perf_counter() - start
            best[name] = min(best[name], elapsed)
            spent[name] += elapsed
            calls[name] += 1
    return best, calls


LIMIT_MIN_SECONDS = 1.0
"""A limit's product is repeated until its calls add up to this (at most 100 calls): its
fastest call is the limit, and 3 calls of 10 ms can all fall on a busy moment."""


def matmul_rate(
    shape_a, shape_b, repeats: int = 5, min_seconds: float = LIMIT_MIN_SECONDS
) -> float:
    """FLOP/s of a jitted float32 (batched) matrix product of these shapes (its fastest call)."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(1), shape_a, jnp.float32)
    b = jax.random.normal(jax.random.key(2), shape_b, jnp.float32)
    product = jax.jit(jnp.matmul)
    product(a, b).block_until_ready()
    best, spent, calls = float("inf"), 0.0, 0
    while calls < repeats or (spent < min_seconds and calls < 100):
        start = time.perf_counter()
        product(a, b).block_until_ready()
        elapsed = time.perf_counter() - start
        best, spent, calls = min(best, elapsed), spent + elapsed, calls + 1
    batch = int(np.prod(shape_a[:-2])) if len(shape_a) > 2 else 1
    return 2.0 * batch * shape_a[-2] * shape_a[-1] * shape_b[-1] / best


def limit_for(workload: Workload, n_lanes: int) -> float | None:
    """The best rate of the workload's own layer products, batched over lanes (the limit)."""
    if workload.layer_sizes is None:
        return None
    m = workload.batch_size or workload.n_examples
    rates = []
    for a, b in zip(workload.layer_sizes[:-1], workload.layer_sizes[1:], strict=True):
        if a * b < 64:  # tiny layers (2×2, 64×1) have no meaningful matmul rate
            continue
        rates.append(matmul_rate((n_lanes, m, a), (n_lanes, a, b), repeats=3))
    return max(rates) if rates else None


def max_relative_difference(a, b) -> float | None:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)[: len(a)]
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return None
    return float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), 1e-30)))


SLOW_METHODS = ("per-step", "torch.optim")
"""Methods timed on 2 lanes and extrapolated, with one steady call (they take minutes in full)."""


def bench_workload(
    workload: Workload, n_lanes: int, repeats: int, min_seconds: float, limit_2048: float, log
):
    limit = limit_for(workload, n_lanes)
    flops = workload.flops_per_lane_step()
    prepared = {}
    for name, prepare in methods():
        if (entry := prepare(workload, n_lanes)) is not None:
            prepared[name] = entry
    first, finals, peak = {}, {}, {}
    for name, (run, _) in prepared.items():  # first calls: compile, and the results compared
        start = time.perf_counter()
        finals[name] = run()
        first[name] = time.perf_counter() - start
        with PeakMemory() as memory:  # one steady call watched for memory (not timed)
            run()
        peak[name] = memory.peak_mib
    fast = {n: run for n, (run, _) in prepared.items() if not n.startswith(SLOW_METHODS)}
    slow = {n: run for n, (run, _) in prepared.items() if n.startswith(SLOW_METHODS)}
    best, calls = interleaved_minimum(fast, repeats, min_seconds)
    slow_best, slow_calls = interleaved_minimum(slow, 1, 0.0)
    best.update(slow_best)
    calls.update(slow_calls)

    rows: list[Row] = []
    reference = None
    for name, (_, measured) in prepared.items():
        run_s = best[name] * n_lanes / measured
        notes = [f"timed on {measured} lane(s), extrapolated"] if measured < n_lanes else []
        row = Row(
            workload=workload.name,
            lanes=n_lanes,
            method=name,
            run_s=run_s,
            compile_s=max(first[name] - best[name], 0.0),
            lane_steps_per_s=n_lanes * workload.steps / run_s,
            peak_rss_mib=peak[name],
            calls=calls[name],
            note="; ".join(notes),
            formulation=workload.formulation,
        )
        if flops is not None:
            row.gflops = flops * n_lanes * workload.steps / run_s / 1e9
            row.share_of_limit_2048 = row.gflops * 1e9 / limit_2048
            if limit is not None:
                row.share_of_limit_shapes = row.gflops * 1e9 / limit
        if reference is None:
            reference = row
        else:
            row.speedup_of_jaxgd = run_s / reference.run_s
            row.max_rel_diff_vs_jaxgd = max_relative_difference(
                finals[name], finals[reference.method]
            )
        rows.append(row)
        log(format_row(row))
    return rows, limit


def format_row(row: Row) -> str:
    parts = [
        f"{row.workload} {row.lanes:>5} lanes  {row.method:<44}",
        f"{row.run_s:9.3f} s",
        f"{row.lane_steps_per_s:12.4g} run-steps/s",
        f"compile {row.compile_s:6.2f} s",
        f"min of {row.calls:3d}",
    ]
    if row.speedup_of_jaxgd is not None:
        parts.append(f"jaxgd is {row.speedup_of_jaxgd:7.2f}× faster")
    if row.gflops is not None:
        parts.append(f"{row.gflops:6.1f} GFLOP/s")
    if row.note:
        parts.append(f"({row.note})")
    return "  ".join(parts)


def markdown(rows: list[Row], limits: dict, meta: dict) -> str:
    lines = [
        "| workload | model written as | lanes | method | time (s) | run-steps/s | jaxgd faster by "
        "| compile (s) | GFLOP/s | share of own-shape limit | share of 2048² limit "
        "| peak RSS added (MiB) | max rel diff of final losses vs jaxgd | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def fmt(value, spec):
        return "—" if value is None else format(value, spec)

    for r in rows:
        lines.append(
            f"| {r.workload} | {r.formulation} | {r.lanes} | {r.method} | {r.run_s:.3f} | "
            f"{r.lane_steps_per_s:.3g} | "
            f"{fmt(r.speedup_of_jaxgd, '.2f')}{'×' if r.speedup_of_jaxgd else ''} | "
            f"{r.compile_s:.2f} | {fmt(r.gflops, '.1f')} | {fmt(r.share_of_limit_shapes, '.0%')} | "
            f"{fmt(r.share_of_limit_2048, '.0%')} | {fmt(r.peak_rss_mib, '.0f')} | "
            f"{fmt(r.max_rel_diff_vs_jaxgd, '.1e')} | {r.note} |"
        )
    lines += ["", "Machine limit (float32 matrix products, this process):", ""]
    lines.append(f"- 2048 × 2048: {meta['limit_2048_gflops']:.1f} GFLOP/s")
    for key, value in limits.items():
        if value is not None:
            lines.append(
                f"- {key}, the workload's own layer shapes batched over lanes: "
                f"{value / 1e9:.1f} GFLOP/s"
            )
    return "\n".join(lines)


def figure(rows: list[Row], path: Path) -> None:
    import matplotlib.patches
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 5.5), layout="constrained")
    methods = list(dict.fromkeys(r.method for r in rows))
    colour = {m: f"C{i}" for i, m in enumerate(methods)}
    scaling = [r for r in rows if r.workload in ("W1", "U1")]
    others = [r for r in rows if r.workload not in ("W1", "U1")]
    ax = fig.add_subplot(1, 2, 1)
    for workload, method in dict.fromkeys((r.workload, r.method) for r in scaling):
        points = sorted(
            (r.lanes, r.lane_steps_per_s)
            for r in scaling
            if r.method == method and r.workload == workload
        )
        ax.plot(
            *zip(*points, strict=True),
            "o-" if workload == "W1" else "s--",
            color=colour[method],
            lw=2.5 if method == "jaxgd.sweep" else 1,
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="lanes (log scale)",
        ylabel="run-steps per second (log)",
        title="Géron's problem, 1,000 SGD steps\n"
        "(W1 jaxgd's layout: solid; U1 notebook form: dashed)",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax = fig.add_subplot(1, 2, 2)
    workloads = list(dict.fromkeys(r.workload for r in others))
    bar_methods = [m for m in methods if any(r.method == m for r in others)]
    width = 0.8 / max(len(bar_methods), 1)
    for i, method in enumerate(bar_methods):
        values = [
            next(
                (r.lane_steps_per_s for r in others if r.workload == w and r.method == method),
                np.nan,
            )
            for w in workloads
        ]
        ax.bar(
            np.arange(len(workloads)) + i * width, values, width, color=colour[method], label=method
        )
    ax.set_xticks(np.arange(len(workloads)) + 0.4 - width / 2, workloads)
    ax.set(yscale="log", ylabel="run-steps per second (log)", title="the other workloads")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    handles = [matplotlib.patches.Patch(color=colour[m], label=m) for m in methods]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)


def configure(parser: argparse.ArgumentParser) -> None:
    """The description and options of ``jaxgd bench``."""
    parser.description = (
        "Measure jaxgd.sweep against a loop of jitted optax runs, a per-step loop, "
        "optax.inject_hyperparams + vmap and PyTorch (when installed) on four workloads, side by "
        "side in one process; print every ratio and write a Markdown table, JSON and a PNG."
    )
    parser.add_argument("--quick", action="store_true", help="smaller MLP workloads, one repeat")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON at the end")
    parser.add_argument(
        "--out", default="results/bench", help="output folder (default results/bench)"
    )
    parser.add_argument(
        "--workload",
        action="append",
        choices=list(WORKLOAD_HELP),
        help="run only these workloads (repeatable): "
        + "; ".join(f"{name}, {text}" for name, text in WORKLOAD_HELP.items()),
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="steady calls per method at least (default 3, quick 1); calls shorter than that "
        "repeat until they add up to 5 s (quick 0.5 s), at most 100",
    )


def run(args: argparse.Namespace) -> int:
    """Run the workloads, print each row and write bench.md, bench.json and bench.png into
    ``--out``; 0, or 2 for a user error."""
    try:
        check_positive("--repeats", args.repeats)
        out = check_output_folder(args.out)
    except ValueError as error:
        return fail("bench", error)
    import jax

    from . import methods_torch
    from .workloads import WORKLOADS, quick

    repeats = args.repeats or (1 if args.quick else 3)
    min_seconds = 0.5 if args.quick else 5.0
    log = (lambda text: print(text, file=sys.stderr)) if args.json else print
    limit_2048 = matmul_rate((2048, 2048), (2048, 2048))
    meta = {
        "machine": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "jax": jax.__version__,
        "device": str(jax.devices()[0]),
        "torch": methods_torch.torch.__version__ if methods_torch.available() else None,
        "limit_2048_gflops": limit_2048 / 1e9,
        "command": "jaxgd bench " + " ".join(getattr(args, "argv", sys.argv[1:])),
    }
    log(
        f"matrix-product limit (2048², float32): {limit_2048 / 1e9:.1f} GFLOP/s; "
        f"jax {jax.__version__} on {meta['device']}; torch {meta['torch'] or 'not installed'}"
    )
    rows, limits = [], {}
    for name in args.workload or list(WORKLOADS):
        workload = quick(WORKLOADS[name]) if args.quick else WORKLOADS[name]
        if not workload.available():
            log(
                f"\n{name}: skipped, {workload.needs} is not installed "
                f"(pip install {workload.needs})"
            )
            continue
        log(f"\n{name}: {workload.description}")
        for n_lanes in workload.lanes:
            new_rows, limit = bench_workload(
                workload, n_lanes, repeats, min_seconds, limit_2048, log
            )
            rows += new_rows
            limits[f"{name} ({n_lanes} lanes)"] = limit
    table = markdown(rows, limits, meta)
    (out / "bench.md").write_text(
        f"Command: `{meta['command']}`; {meta['machine']}, "
        f"{meta['cpus']} CPUs, jax {meta['jax']}, torch {meta['torch']}\n\n" + table + "\n"
    )
    (out / "bench.json").write_text(
        json.dumps(
            {"meta": meta, "limits": limits, "rows": [dataclasses.asdict(r) for r in rows]},
            indent=1,
        )
    )
    figure(rows, out / "bench.png")
    log(f"\nwrote {out / 'bench.md'}, bench.json, bench.png")
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in rows], indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.bench``: the same as ``jaxgd bench``."""
    return parse_and_run("jaxgd bench", configure, run, argv)


if __name__ == "__main__":
    sys.exit(main())
