"""The learning-rate finders against a full sweep, side by side in one run.

Usage: ``python benchmarks/lr_find.py [--out benchmarks/lr_find.json] [--quick]``.

On (a) Géron's linear problem (full-batch SGD from his θ₀) and (b) an MLP 10-64-64-1 (ReLU,
Adam, full batch) on the diabetes data (features and target standardised on the training
split), this runs

* the range test, ``jaxgd.lr_find(method="range")`` with fastai's settings (1e-7 to 10 in 100
  updates) and each of its rules (valley is the default; the three read the same curve);
* the vectorised finder, ``lr_find(method="sweep")``: 32 constant rates × 100 updates;
* a full sweep: 64 constant rates from 1e-7 to 10, each trained for the full length, whose
  best rate (lowest final training loss; for the MLP also lowest validation loss) is what the
  finders try to guess without paying for it.

For each suggestion it trains once for the full length with ``jaxgd.fit`` and reports the final
training loss (and, for the MLP, validation loss), with each finder's wall time: the first call
(compilation included) and a second, compiled one. It prints a markdown table and writes the
rows as JSON to ``--out``. The machine may be shared: times are indicative, nothing is asserted.

The full sweep's "first call" includes compilation; the finders share programs (the three range
rules run one compiled program), so only the first of a kind pays for compiling. Adam on the
MLP drives the training loss to ~1e-10 at rates above ~1e-3 and then spikes: a final training
loss there depends on rounding (a lane of a sweep and a lone fit at the same rate part after a
few hundred updates), so compare the validation column for the MLP.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

FULL_RATES = 64
FINDER_STEPS = 100
SWEEP_RATES = 32
MIN_LR, MAX_LR = 1e-7, 10.0


def geron() -> dict[str, Any]:
    """Géron's 100 points, linear model, MSE; his θ₀; full-batch SGD; 1,000 updates."""
    from jaxgd import optim
    from jaxgd.problems import geron_linear, geron_theta0

    p = geron_linear()
    return {
        "name": "Géron linear, SGD",
        "loss_fn": p.loss_fn,
        "params": geron_theta0(),
        "data": p.data,
        "eval_data": None,
        "factory": optim.sgd,
        "steps": 1000,
    }


def mlp_loss(params: Any, x: Any, y: Any) -> Any:
    """MSE of an MLP written as users write it: a list of ``{"W", "b"}``, ``relu(h @ W + b)``."""
    import jax
    import jax.numpy as jnp

    h = x
    for layer in params[:-1]:
        h = jax.nn.relu(h @ layer["W"] + layer["b"])
    out = h @ params[-1]["W"] + params[-1]["b"]
    return jnp.mean((out[:, 0] - y) ** 2)


def diabetes_mlp() -> dict[str, Any]:
    """MLP 10-64-64-1 on diabetes (standardised target too), He initialisation; Adam; 2,000
    full-batch updates; validation on the validation split."""
    import jax
    import numpy as np

    from jaxgd import optim
    from jaxgd.datasets import diabetes

    d = diabetes(0)
    mean, std = float(d.train[1].mean()), float(d.train[1].std())
    scale = lambda split: (split[0], ((split[1] - mean) / std).astype(np.float32))  # noqa: E731
    sizes, keys = (10, 64, 64, 1), jax.random.split(jax.random.key(0), 3)
    params = [
        {"W": jax.random.normal(k, (m, n)) * math.sqrt(2 / m), "b": np.zeros((1, n), np.float32)}
        for k, m, n in zip(keys, sizes[:-1], sizes[1:], strict=True)
    ]
    return {
        "name": "diabetes MLP 10-64-64-1, Adam",
        "loss_fn": mlp_loss,
        "params": params,
        "data": scale(d.train),
        "eval_data": scale(d.validation),
        "factory": optim.adam,
        "steps": 2000,
    }


def timed(function: Any) -> tuple[Any, float, float]:
    """``function()``'s result, the seconds of a first call and of a second one."""
    start = time.perf_counter()
    function()
    first = time.perf_counter() - start
    start = time.perf_counter()
    result = function()
    return result, first, time.perf_counter() - start


def train(problem: dict[str, Any], rate: float) -> dict[str, float | None]:
    """The final training (and validation) loss of ``problem`` trained at ``rate``."""
    from jaxgd import fit

    result = fit(
        problem["loss_fn"],
        problem["params"],
        problem["data"],
        problem["factory"](learning_rate=rate),
        steps=problem["steps"],
        eval_data=problem["eval_data"],
    )
    valid = None if result.final_eval_loss is None else float(result.final_eval_loss)
    return {"train_loss": float(result.final_loss), "valid_loss": valid}


def finders(problem: dict[str, Any]) -> list[dict[str, Any]]:
    """The range test (each rule) and the vectorised finder: rate and wall times."""
    from jaxgd import lr_find

    args = (problem["loss_fn"], problem["params"], problem["data"], problem["factory"])
    rows = []
    for method, rule, extra in [
        ("range", "valley", {}),
        ("range", "minimum", {}),
        ("range", "steep", {}),
        ("sweep", "best", {"num_rates": SWEEP_RATES}),
    ]:
        result, first, again = timed(
            lambda m=method, r=rule, e=extra: lr_find(
                *args, min_lr=MIN_LR, max_lr=MAX_LR, steps=FINDER_STEPS, method=m, rule=r, **e
            )
        )
        rows.append(
            {
                "finder": f"lr_find {method} ({rule})",
                "updates": FINDER_STEPS * (SWEEP_RATES if method == "sweep" else 1),
                "rate": result.suggestion,
                "first_s": first,
                "compiled_s": again,
            }
        )
    return rows


def full_sweep(problem: dict[str, Any]) -> list[dict[str, Any]]:
    """64 constant rates, each for the full length: the best by training (and validation)."""
    import numpy as np

    from jaxgd import sweep

    params = problem["params"]
    start = lambda key: params  # noqa: E731  (one object: the second call reuses the program)
    result, first, again = timed(
        lambda: sweep(
            problem["loss_fn"],
            start,
            problem["data"],
            problem["factory"],
            grid={"learning_rate": [float(r) for r in np.geomspace(MIN_LR, MAX_LR, FULL_RATES)]},
            steps=problem["steps"],
            key=0,
            eval_data=problem["eval_data"],
        )
    )
    criteria = ["final_loss"] + (["eval_loss"] if problem["eval_data"] is not None else [])
    rows = []
    for by in criteria:
        best = result.best(by=by)
        name = "training" if by == "final_loss" else "validation"
        rows.append(
            {
                "finder": f"full sweep, best {name} loss",
                "updates": FULL_RATES * problem["steps"],
                "rate": best["learning_rate"],
                "first_s": first,
                "compiled_s": again,
            }
        )
    return rows


def run_problem(problem: dict[str, Any]) -> list[dict[str, Any]]:
    rows = finders(problem) + full_sweep(problem)
    for row in rows:
        row.update(
            problem=problem["name"], train_steps=problem["steps"], **train(problem, row["rate"])
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table."""
    number = lambda v: "–" if v is None else f"{v:.4g}"  # noqa: E731
    lines = [
        "| problem | finder | updates run | suggested rate | train loss | valid loss | "
        "first call (s) | compiled (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['problem']} | {r['finder']} | {r['updates']:,} | {r['rate']:.3g} | "
            f"{number(r['train_loss'])} | {number(r['valid_loss'])} | {r['first_s']:.3f} | "
            f"{r['compiled_s']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/lr_find.json", help="JSON file to write")
    parser.add_argument("--quick", action="store_true", help="Géron only")
    args = parser.parse_args(argv)
    import jax

    problems = [geron()] + ([] if args.quick else [diabetes_mlp()])
    rows = [row for problem in problems for row in run_problem(problem)]
    print(table(rows))
    print(
        f"\nEach suggestion trained with jaxgd.fit for the problem's full length (train steps); "
        f"{jax.device_count()} {jax.default_backend()} device(s)."
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
