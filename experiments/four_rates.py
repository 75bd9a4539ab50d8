"""Topic 6: the notes' four learning rates 0.1, 0.3, 0.8, 0.9 on a convex quadratic.

For f(x) = c·x² the GD step is x ← x − α f'(x) = (1 − α f'') x with f'' = 2c,
so every step multiplies x by the factor r = 1 − α·f'':
0 < r < 1 creeps monotonically to 0, −1 < r < 0 overshoots and oscillates but
converges, r < −1 oscillates with growing amplitude and diverges. The
notes do not give their function; the curvature c = 1.2 (f'' = 2.4) was chosen
here so that their four rates show all three behaviours. Which behaviour a rate
gives follows from r alone, so the one check is that fit's steps multiply x by
r, with f'' taken from jax.grad.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

import jaxgd
from jaxgd.optim import sgd
from jaxgd.report import Experiment

RATES = (0.1, 0.3, 0.8, 0.9)
CURVATURE = 1.2  # f(x) = 1.2 x², f'' = 2.4
START = 2.0


def f(x, *_):
    return CURVATURE * jnp.sum(x**2)


def predicted_behaviour(factor: float) -> str:
    if 0 <= factor < 1:
        return "monotone"
    if -1 < factor < 0:
        return "oscillating"
    return "diverging"


def measured_behaviour(path: np.ndarray) -> str:
    """From the iterates alone: sign changes → oscillating; growing |x| → diverging."""
    size = np.abs(path)
    if not np.isfinite(size).all() or size[-1] > size[0]:
        return "diverging"
    return "oscillating" if (np.sign(path[1:]) != np.sign(path[:-1])).any() else "monotone"


def run(out_dir: Path, quick: bool = False) -> dict:
    exp = Experiment(
        "four-rates",
        out_dir,
        title="The notes' four learning rates on a convex quadratic",
        topics="topic 6: rates 0.1, 0.3, 0.8, 0.9; the factor (1 − α·f'')",
    )
    steps = 12
    # f'' from jax.grad twice, not from the formula 2c used to build f
    second_derivative = float(jax.grad(jax.grad(lambda x: f(x[None])))(START))
    rows, paths = [], {}
    for rate in RATES:
        result = jaxgd.fit(f, jnp.array([START]), None, sgd(rate), steps=steps, record_params=True)
        path = np.append(np.asarray(result.param_history)[:, 0], float(result.params[0]))
        paths[rate] = path
        factor = 1 - rate * second_derivative
        ratios = path[1:] / path[:-1]
        rows.append(
            {
                "learning_rate": rate,
                "factor": factor,
                "predicted": predicted_behaviour(factor),
                "measured": measured_behaviour(path),
                "measured_ratio": float(np.median(ratios)),
                "largest_ratio_error": float(np.max(np.abs(ratios - factor))),
                "final_x": float(path[-1]),
            }
        )
    worst = max(r["largest_ratio_error"] for r in rows)
    exp.claim(
        f"each of the {steps} GD steps of fit multiplies x by 1 − α·f'' (f'' = "
        f"{second_derivative:g} from jax.grad), at all four rates",
        ", ".join(f"α = {r['learning_rate']}: {r['measured_ratio']:+.6f}" for r in rows)
        + f"; largest error {worst:.1e}",
        ", ".join(f"{r['factor']:+.2f}" for r in rows) + " (to 1e-5, float32)",
        worst < 1e-5 and all(r["measured"] == r["predicted"] for r in rows),
    )

    fig = Figure(figsize=(11, 3.3), layout="constrained")
    axes = fig.subplots(1, 4, sharey=True)
    grid = np.linspace(-4.5, 4.5, 300)
    for ax, rate, row in zip(axes, RATES, rows, strict=True):
        path = paths[rate]
        ax.plot(grid, CURVATURE * grid**2, color="0.6", lw=1)
        shown = path[np.abs(path) < 4.5]
        ax.plot(shown, CURVATURE * shown**2, "-o", color="tab:red", markersize=3, lw=0.8)
        ax.plot(path[0], CURVATURE * path[0] ** 2, "s", color="k", markersize=5)
        ax.set(
            title=f"α = {rate}: {row['measured']}\n(1 − α·f'') = {row['factor']:+.2f}",
            xlabel="x",
            xlim=(-4.5, 4.5),
            ylim=(-0.5, 24),
        )
    axes[0].set_ylabel("f(x) = 1.2 x²")
    exp.figure(
        fig,
        "paths.png",
        "the first 12 GD iterates for each rate on f(x) = 1.2x² (black square: start x = 2)",
    )

    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for rate in RATES:
        ax.plot(np.abs(paths[rate]), "-o", markersize=3, label=f"α = {rate}")
    ax.set(
        yscale="log",
        xlabel="step t",
        ylabel="|x_t| (log scale)",
        title="distance to the minimum: a straight line of slope log|1 − α·f''|",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    exp.figure(fig, "distance.png", "|x_t| against t on a log scale for the four rates")
    exp.write_csv("four_rates.csv", rows)
    exp.table(
        "| α | 1 − α·f'' | predicted | measured |\n|---|---|---|---|\n"
        + "\n".join(
            f"| {r['learning_rate']} | {r['factor']:+.2f} | {r['predicted']} | {r['measured']} |"
            for r in rows
        )
    )
    exp.text(
        "The notes show these four rates without saying on which function; the curvature "
        "f'' = 2.4 (f(x) = 1.2x²) was chosen here so that the four rates show all three "
        "behaviours. On a quadratic, GD is a geometric sequence: x_t = (1 − α·f'')ᵗ·x₀. With "
        "f'' = 2.4 the "
        "notes' α = 0.1 and 0.3 give factors 0.76 and 0.28 (monotone descent, faster for 0.3); "
        "α = 0.8 gives −0.92: every step jumps over the minimum and lands slightly closer "
        "(oscillating convergence); α = 0.9 gives −1.16: each jump lands further out (divergence)."
    )
    exp.text(
        "The fastest rate is α = 1/f'' (factor 0, one step); the largest that still converges is "
        "2/f''. This is the one-dimensional case of the α < 2/λ_max rule of the learning-rate "
        "experiment."
    )
    return exp.finish()


if __name__ == "__main__":
    run(Path(sys.argv[1] if len(sys.argv) > 1 else "results/four-rates"))
