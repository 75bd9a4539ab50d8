"""Optuna with jaxgd lanes against Optuna's usual loop, one training per trial (issue 18, 4b).

Both searches tune Adam's ``learning_rate`` (log-uniform in [1e-4, 1e-1]) and ``b1``
(uniform in [0.8, 0.99]) for the same model with the same sampler (``--sampler``: TPE by
default, or random or CMA-ES; seed 0),
the same number of trials and in-memory storage, and minimise the same value, the
validation MSE after ``--steps`` full-batch updates:

* **jaxgd.fit per trial** (Optuna's usual loop as the issue names it):
  ``study.optimize(objective, n_trials)``, the objective one :func:`jaxgd.fit` (which
  compiles once: the optimizer's hyperparameters are traced); the speed-ups are over it;
* **per trial, jit** (the fastest honest loop): the objective one call of a
  ``jax.jit``-compiled training function that takes the hyperparameters as traced
  arguments, so it compiles once (no Python per update, no checks, no recompilation);
* **jaxgd lanes**: :func:`jaxgd.integrations.optuna.optimize`, ``--lanes`` trials asked at
  a time and trained as lanes of one :func:`jaxgd.sweep`, recording the losses only at the
  end (``record_every=steps``: the per-trial loop records no curve either).

The data: scikit-learn's diabetes (``jaxgd.datasets.diabetes(0)``: 265 training and 89
validation patients, features standardised on the training split, the target standardised by
the training split's mean and standard deviation), the mean squared error, Adam. The model,
``--model``:

* ``mlp`` (default): an MLP 10-32-32-1 (tanh). Each update has enough arithmetic to keep
  both cores of a small CPU busy for one trial, so lanes add little throughput there and
  their larger program compiles for longer;
* ``small-mlp``: an MLP 10-8-1 (tanh), a fraction of the arithmetic per update;
* ``linear``: linear regression, ``x @ W + b`` with ``W`` a column [10, 1] and ``b`` [1],
  as users write it: almost no arithmetic, so each update costs mostly its operations'
  fixed per-operation cost (the regime where batching trials as lanes should pay most on a
  CPU).

Everything else is the same across models and between the two searches. The sampler's
``ask`` and ``tell`` per trial (TPE's cost grows with the trials told) is a floor common to
both: the table's ``ceiling`` is the speed-up over one ``fit`` per trial that a search would
reach if its training took no time (Amdahl's bound, :func:`ceiling`).

Each search runs once from a cold start (its compile included in its time). The time is
split into training (inside the objective, or inside the sweeps), the rest (the sampler's
``ask``, ``tell``, storage, Python), and compile (the first call's time less the median of
the others). Trials per second are over the whole search, compile included, and without
it. No assertion is made on time: this reports what this machine measured.

Usage, from the repository root::

    .venv/bin/python -m benchmarks.optuna_lanes --out results/optuna_lanes.json
    .venv/bin/python -m benchmarks.optuna_lanes --model linear --lanes 16 64
    .venv/bin/python -m benchmarks.optuna_lanes --model linear --sampler random
    .venv/bin/python -m benchmarks.optuna_lanes --trials 32 --steps 200   # quicker
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import jaxgd
from jaxgd.datasets import diabetes
from jaxgd.models import mlp_apply, mlp_init
from jaxgd.optim import adam
from jaxgd.sweeps import lane_keys

KEY = jax.random.key(0)


@dataclasses.dataclass(frozen=True)
class Workload:
    """A model to tune: its loss on a batch, its parameters' initialiser, a description."""

    name: str
    description: str
    loss_fn: Callable[[Any, jax.Array, jax.Array], jax.Array]
    init_fn: Callable[[jax.Array], Any]


def _mlp(sizes: tuple[int, ...]) -> tuple[Callable[..., jax.Array], Callable[..., Any]]:
    def loss_fn(params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
        """Mean squared error of the MLP's single output."""
        return jnp.mean((mlp_apply(params, x, hidden="tanh")[:, 0] - y) ** 2)

    def init_fn(key: jax.Array) -> Any:
        return mlp_init(key, sizes)

    return loss_fn, init_fn


def linear_loss(params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean squared error of ``x @ W + b``, ``W`` a column [10, 1] as users write it."""
    return jnp.mean(((x @ params["W"] + params["b"])[:, 0] - y) ** 2)


def linear_init(key: jax.Array) -> Any:
    return {"W": 0.1 * jax.random.normal(key, (10, 1)), "b": jnp.zeros(1)}


WORKLOADS = {
    "mlp": Workload("mlp", "MLP 10-32-32-1 tanh", *_mlp((10, 32, 32, 1))),
    "linear": Workload("linear", "linear regression, W [10, 1], b [1]", linear_loss, linear_init),
    "small-mlp": Workload("small-mlp", "MLP 10-8-1 tanh", *_mlp((10, 8, 1))),
}


def load_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Diabetes' training and validation splits, the target standardised on training."""
    data = diabetes(0)
    (x, y), (x_val, y_val) = data.train, data.validation
    mean, std = float(y.mean()), float(y.std())
    return (x, (y - mean) / std), (x_val, (y_val - mean) / std)


def space() -> dict[str, Any]:
    return {"learning_rate": jaxgd.log_uniform(1e-4, 1e-1), "b1": jaxgd.uniform(0.8, 0.99)}


def study_maker(sampler_name: str) -> Callable[[], Any]:
    """A function that creates an in-memory study with the sampler ``sampler_name``
    (``tpe``, ``random`` or ``cmaes``), seeded with 0: every search starts from the same."""
    import optuna

    from jaxgd.integrations.optuna import sampler

    return lambda: optuna.create_study(sampler=sampler(sampler_name, seed=0))


def _compile_estimate(calls: list[float]) -> float:
    """The first call's time less the median of the others (0 with one call)."""
    return max(0.0, calls[0] - statistics.median(calls[1:])) if len(calls) > 1 else 0.0


def per_trial(
    make_study: Callable[[], Any], workload: Workload, n_trials: int, steps: int
) -> dict[str, Any]:
    """Optuna's usual loop: one compiled training per trial."""
    train, validation = load_data()
    init_key = lane_keys(KEY, 0)[0]
    loss_fn, init_fn = workload.loss_fn, workload.init_fn

    @jax.jit
    def run(learning_rate: jax.Array, b1: jax.Array) -> jax.Array:
        optimizer = adam(learning_rate=learning_rate, b1=b1)
        params = init_fn(init_key)

        def update(carry: Any, _: Any) -> tuple[Any, None]:
            params, state = carry
            grads = jax.grad(loss_fn)(params, *train)
            updates, state = optimizer.update(grads, state, params)
            return (jax.tree.map(jnp.add, params, updates), state), None

        (params, _), _ = jax.lax.scan(update, (params, optimizer.init(params)), length=steps)
        return loss_fn(params, *validation)

    calls: list[float] = []

    def objective(trial: Any) -> float:
        learning_rate = trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
        b1 = trial.suggest_float("b1", 0.8, 0.99)
        start = time.perf_counter()
        value = float(run(np.float32(learning_rate), np.float32(b1)))  # blocks on the result
        calls.append(time.perf_counter() - start)
        return value

    study = make_study()
    start = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    return _row("per trial (jit, one call per trial)", study, time.perf_counter() - start, calls)


def per_trial_fit(
    make_study: Callable[[], Any], workload: Workload, n_trials: int, steps: int
) -> dict[str, Any]:
    """Optuna's usual loop with jaxgd's own ``fit``: one ``jaxgd.fit`` per trial (it compiles
    once: the optimizer's hyperparameters are traced), what the issue names as the peer."""
    train, validation = load_data()
    params = workload.init_fn(lane_keys(KEY, 0)[0])
    calls: list[float] = []

    def objective(trial: Any) -> float:
        learning_rate = trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
        b1 = trial.suggest_float("b1", 0.8, 0.99)
        start = time.perf_counter()
        result = jaxgd.fit(
            workload.loss_fn, params, train, adam(learning_rate=learning_rate, b1=b1),
            steps=steps, record_every=steps, eval_data=validation,
        )  # fmt: skip
        value = float(result.final_eval_loss)  # blocks on the result
        calls.append(time.perf_counter() - start)
        return value

    study = make_study()
    start = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    return _row("per trial (jaxgd.fit per trial)", study, time.perf_counter() - start, calls)


def lanes(
    make_study: Callable[[], Any], workload: Workload, n_trials: int, steps: int, n_lanes: int
) -> dict[str, Any]:
    """jaxgd lanes: ``n_lanes`` trials per sweep."""
    from jaxgd.integrations import optuna as integration

    train, validation = load_data()
    calls: list[float] = []
    sweep = integration.sweep

    def timed_sweep(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = sweep(*args, **kwargs)
        calls.append(time.perf_counter() - start)
        return result

    integration.sweep = timed_sweep  # the batches' training time, apart from the sampler's
    try:
        study = make_study()
        start = time.perf_counter()
        integration.optimize(
            study, workload.loss_fn, workload.init_fn, train, adam, space(), n_trials=n_trials,
            lanes=n_lanes, steps=steps, key=KEY, eval_data=validation, progress=False,
            record_every=steps,
        )  # fmt: skip
        total = time.perf_counter() - start
    finally:
        integration.sweep = sweep
    return _row(f"jaxgd lanes of {n_lanes}", study, total, calls)


def _row(method: str, study: Any, total: float, calls: list[float]) -> dict[str, Any]:
    n = len(study.trials)
    compile_s = _compile_estimate(calls)
    training = sum(calls)
    states = [t.state.name for t in study.trials]
    return {
        "method": method,
        "trials": n,
        "complete": states.count("COMPLETE"),
        "total_s": total,
        "compile_s": compile_s,
        "training_s": training,
        "other_s": total - training,
        "trials_per_s": n / total,
        "trials_per_s_without_compile": n / (total - compile_s),
        "best_value": study.best_value,
        "best_params": study.best_params,
    }


def ceiling(base: dict[str, Any], row: dict[str, Any]) -> float:
    """The most ``row``'s search could gain over ``base`` (without compile) if its training
    took no time at all: ``base``'s time per trial over ``row``'s time per trial outside
    training (the sampler's ``ask`` and ``tell``, the storage, Python), Amdahl's bound."""
    base_per_trial = (base["total_s"] - base["compile_s"]) / base["trials"]
    return base_per_trial / (row["other_s"] / row["trials"])


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table, with each method's speed over the first row's (one
    ``jaxgd.fit`` per trial), and the :func:`ceiling` of that speed-up."""
    base = rows[0]
    lines = [
        "| method | trials | total s | compile s | training s | sampler, tell, Python s "
        "| trials/s | trials/s w/o compile | speed-up | speed-up w/o compile | ceiling "
        "| best val. MSE |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['trials']} | {r['total_s']:.2f} | {r['compile_s']:.2f} "
            f"| {r['training_s']:.2f} | {r['other_s']:.2f} | {r['trials_per_s']:.1f} "
            f"| {r['trials_per_s_without_compile']:.1f} "
            f"| {r['trials_per_s'] / base['trials_per_s']:.1f}× "
            f"| {r['trials_per_s_without_compile'] / base['trials_per_s_without_compile']:.1f}× "
            f"| {ceiling(base, r):.1f}× | {r['best_value']:.4f} |"
        )
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=128, help="trials per search (128)")
    parser.add_argument("--steps", type=int, default=500, help="updates per trial (500)")
    parser.add_argument(
        "--lanes", type=int, nargs="+", default=[16], help="lanes per sweep, one search each"
    )
    parser.add_argument(
        "--model", choices=sorted(WORKLOADS), default="mlp", help="the model to tune (mlp)"
    )
    parser.add_argument(
        "--sampler", choices=("tpe", "random", "cmaes"), default="tpe",
        help="Optuna's sampler of every search, seeded with 0 (tpe)",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    workload = WORKLOADS[args.model]
    make_study = study_maker(args.sampler)
    searches: list[Callable[[], dict[str, Any]]] = [
        lambda: per_trial_fit(make_study, workload, args.trials, args.steps),
        lambda: per_trial(make_study, workload, args.trials, args.steps),
        *[lambda n=n: lanes(make_study, workload, args.trials, args.steps, n) for n in args.lanes],
    ]
    rows = [search() for search in searches]
    print(
        f"{workload.description}, diabetes, Adam, {args.steps} full-batch steps, "
        f"{args.trials} trials, sampler {args.sampler}, {jax.devices()[0].platform}"
    )
    print(table(rows))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "model": workload.name,
            "workload": f"{workload.description}, diabetes, Adam, full batch, "
            f"{args.steps} steps, sampler {args.sampler} (seed 0), in-memory storage",
            "machine": f"{platform.machine()} {platform.system()}, {jax.devices()[0].platform}",
            "sampler": args.sampler,
            "versions": {"jax": jax.__version__, "optuna": optuna.__version__},
            "rows": rows,
        }
        args.out.write_text(json.dumps(document, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
