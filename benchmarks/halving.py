"""Successive halving inside one sweep against the full grid, side by side in one run.

Usage: ``python benchmarks/halving.py [--steps 810] [--min-steps 10] [--reps 2] [--out F]``.

The workload is what a user sweeps: an MLP written the usual way (a dict of weights,
``x @ W``, ReLU) with Adam, 243 configurations (27 learning rates from 1e-4 to 1, ``b1`` in
0.8/0.9/0.95, ``b2`` in 0.99/0.999/0.9999), mini-batches of 128, on a teacher-student
regression: 4,096 examples of a random 8-32-1 tanh network plus noise of standard
deviation 0.3, so on fresh examples no student can go below the noise, 0.09.

Both runs are ``jaxgd.sweep`` on the same lanes and key: the full grid trains every
configuration for ``steps`` updates; halving (``SuccessiveHalving(min_steps, reduction=3)``)
trains all 243 for ``min_steps``, then the best third for 3× longer, and so on up to
``steps`` (243 → 81 → 27 → 9 → 3 lanes at 10, 30, 90, 270, 810 updates). Each is timed on
its first call (compilation included) and on a second call (compiled programs reused), the
two methods interleaved; the chosen configuration is :meth:`SweepResult.best` (lowest final
training loss). The table gives both times, the ratio, and the chosen configuration's
final loss on the training data and on 4,096 fresh examples of the same distribution. The
machine may be shared: times are indicative, nothing is asserted here.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxgd
from jaxgd.optim import adam

GRID = {
    "learning_rate": [float(r) for r in np.geomspace(1e-4, 1.0, 27)],
    "b1": [0.8, 0.9, 0.95],
    "b2": [0.99, 0.999, 0.9999],
}
HIDDEN, NOISE = 64, 0.3


def teacher_student(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` examples of y = teacher(x) + noise, x ~ N(0, I₈), the teacher fixed by seed 0."""
    teacher = np.random.default_rng(0)
    w1, w2 = teacher.normal(size=(8, 32)) / np.sqrt(8), teacher.normal(size=(32, 1))
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = np.tanh(x @ w1) @ w2 / np.sqrt(32) * 3 + NOISE * rng.normal(size=(n, 1))
    return x, y.astype(np.float32)


def init_fn(key: jax.Array) -> dict[str, jax.Array]:
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "w1": jax.random.normal(k1, (8, HIDDEN)) / np.sqrt(8),
        "b1": jnp.zeros((1, HIDDEN)),
        "w2": jax.random.normal(k2, (HIDDEN, HIDDEN)) / np.sqrt(HIDDEN),
        "b2": jnp.zeros((1, HIDDEN)),
        "w3": jax.random.normal(k3, (HIDDEN, 1)) / np.sqrt(HIDDEN),
        "b3": jnp.zeros((1, 1)),
    }


def loss_fn(params: dict[str, jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
    h = jax.nn.relu(x @ params["w1"] + params["b1"])
    h = jax.nn.relu(h @ params["w2"] + params["b2"])
    return jnp.mean((h @ params["w3"] + params["b3"] - y) ** 2)


def one_run(data, steps: int, prune: Any) -> tuple[jaxgd.SweepResult, float]:
    start = time.perf_counter()
    result = jaxgd.sweep(
        loss_fn, init_fn, data, adam, grid=GRID, steps=steps, batch_size=128, key=0, prune=prune
    )
    return result, time.perf_counter() - start


def chosen(result: jaxgd.SweepResult, fresh) -> dict[str, Any]:
    best = result.best()
    lane = next(
        i
        for i in range(result.n_lanes)
        if all(result.hyperparameters[n][i] == best[n] for n in GRID)
    )
    params = jax.tree.map(lambda a: a[lane], result.params)
    held_out = float(loss_fn(params, *fresh))
    return {
        **{n: best[n] for n in GRID},
        "final_loss": best["final_loss"],
        "held_out_loss": held_out,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=810)
    parser.add_argument("--min-steps", type=int, default=10)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    data, fresh = teacher_student(4096, 1), teacher_student(4096, 2)
    halving = jaxgd.SuccessiveHalving(min_steps=args.min_steps, reduction=3)
    rows, picks = [], {}
    for rep in range(args.reps):
        for name, prune in (("full grid", None), ("halving", halving)):
            result, seconds = one_run(data, args.steps, prune)
            updates = int(result.steps.sum())
            rows.append({"rep": rep, "method": name, "seconds": seconds, "lane_updates": updates})
            picks[name] = chosen(result, fresh)
            statuses = {s: int((result.status == s).sum()) for s in set(result.status.tolist())}
            rows[-1]["statuses"] = statuses
    report = {"rows": rows, "chosen": picks, "rungs": halving.rungs(args.steps)}
    print(table(report))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2))
    return report


def table(report: dict[str, Any]) -> str:
    rows, picks = report["rows"], report["chosen"]
    lines = [
        "| call | method | wall s | halving / full | lane-updates | statuses |",
        "|---|---|--:|--:|--:|---|",
    ]
    for rep in sorted({r["rep"] for r in rows}):
        full = next(r for r in rows if r["rep"] == rep and r["method"] == "full grid")
        for r in (r for r in rows if r["rep"] == rep):
            call = "first (compiles)" if rep == 0 else f"again ({rep + 1})"
            ratio = r["seconds"] / full["seconds"]
            lines.append(
                f"| {call} | {r['method']} | {r['seconds']:.2f} | {ratio:.2f} | "
                f"{r['lane_updates']:,} | {r['statuses']} |"
            )
    lines += ["", "| method | learning_rate | b1 | b2 | final loss | held-out loss |"]
    lines.append("|---|--:|--:|--:|--:|--:|")
    for name, p in picks.items():
        lines.append(
            f"| {name} | {p['learning_rate']:.3g} | {p['b1']} | {p['b2']} | "
            f"{p['final_loss']:.5f} | {p['held_out_loss']:.5f} |"
        )
    rel = picks["halving"]["final_loss"] / picks["full grid"]["final_loss"] - 1
    lines.append(f"\nhalving's choice: final loss {rel:+.2%} from the full grid's best")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
