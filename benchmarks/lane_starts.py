"""How a sweep program computes its lanes' starts on CPU: vmapped, or one lane at a time.

Usage: ``python -m benchmarks.lane_starts [--reps 3]``.

Every lane of a sweep starts from ``init_fn(init_key)`` with keys derived from the sweep's
key and the lane's seed (:func:`jaxgd.sweeps.lane_keys`). Inside the sweep's compiled
program that can be ``jax.vmap`` over the lanes or ``lax.map`` (one lane after another);
the values are the same. This measures, for a linear model ``x @ W + b`` (``W`` [10, 1])
and an MLP 10-32-32-1 (jaxgd's ``mlp_init``):

* the start alone: compile time and run time, 16 and 4,096 lanes, both ways;
* a whole first ``jaxgd.sweep`` call (16 lanes of Adam, 500 full-batch updates on the
  diabetes data, compile included) with the start done each way (``jax.clear_caches()``
  before each call; the two ways interleaved, ``--reps`` times; the median).

The machine may be shared: times are indicative, nothing is asserted here.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

import jaxgd
from benchmarks.optuna_lanes import WORKLOADS, load_data
from jaxgd.optim import adam
from jaxgd.sweeps import program

WAYS: dict[str, Callable[[Callable[..., Any], Any], Any]] = {
    "vmap": lambda fn, seeds: jax.vmap(fn)(seeds),
    "lax.map": lambda fn, seeds: jax.lax.map(fn, seeds),
}


def start_alone(init_fn: Callable[..., Any], n_lanes: int, way: str) -> tuple[float, float]:
    """Compile time and run time (s) of the lanes' keys and initial parameters."""
    key, seeds = jax.random.key(0), jnp.arange(n_lanes, dtype=jnp.uint32)

    def starts(key: Any, seeds: Any) -> Any:
        def one(seed: Any) -> Any:
            init_key, data_key = program.lane_keys(key, seed)
            return init_fn(init_key), data_key

        return WAYS[way](one, seeds)

    begin = time.perf_counter()
    compiled = jax.jit(starts).lower(key, seeds).compile()
    compile_s = time.perf_counter() - begin
    jax.block_until_ready(compiled(key, seeds))
    begin = time.perf_counter()
    jax.block_until_ready(compiled(key, seeds))
    return compile_s, time.perf_counter() - begin


def first_sweep(name: str, way: str) -> float:
    """Wall time (s) of a first sweep call, compiles included, starts computed ``way``."""
    workload, (train, validation) = WORKLOADS[name], load_data()
    chosen = program._per_lane
    program._per_lane = WAYS[way]
    try:
        jax.clear_caches()
        begin = time.perf_counter()
        points = [{"learning_rate": 1e-3 * (i + 1), "b1": 0.9} for i in range(16)]
        jaxgd.sweep(
            workload.loss_fn, workload.init_fn, train, adam, points=points, key=0, steps=500,
            record_every=500, eval_data=validation, progress=False,
        ).to_records()  # fmt: skip
        return time.perf_counter() - begin
    finally:
        program._per_lane = chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="first sweep calls per way (3)")
    args = parser.parse_args(argv)
    print("| model | lanes | vmap: compile s, run ms | lax.map: compile s, run ms |")
    print("|---|--:|--:|--:|")
    for name in ("linear", "mlp"):
        for n_lanes in (16, 4096):
            cells = []
            for way in WAYS:
                compile_s, run_s = start_alone(WORKLOADS[name].init_fn, n_lanes, way)
                cells.append(f"{compile_s:.2f}, {run_s * 1e3:.1f}")
            print(f"| {name} | {n_lanes} | {cells[0]} | {cells[1]} |")
    print("\n| model | first sweep call, vmap s | first sweep call, lax.map s |")
    print("|---|--:|--:|")
    for name in ("linear", "mlp"):
        times: dict[str, list[float]] = {way: [] for way in WAYS}
        for _ in range(args.reps):
            for way in WAYS:
                times[way].append(first_sweep(name, way))
        medians = [statistics.median(times[way]) for way in WAYS]
        print(f"| {name} | {medians[0]:.2f} | {medians[1]:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
