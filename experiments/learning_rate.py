"""Topic 5: a learning rate too small is slow, too large overshoots and diverges.

Géron's figure 4-8 runs batch GD on his linear data at η = 0.02, 0.1 and 0.5
from the same start: 0.02 crawls, 0.1 converges, 0.5 jumps across the valley
further each step. On a quadratic loss with Hessian H, GD multiplies the error
along each eigenvector of H by (1 − η·λ) per step, so it diverges exactly when
η > 2/λ_max. A sweep of hundreds of learning rates in one compiled call finds
that boundary, and we compare it with 2/λ_max computed from the Hessian.
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
from jaxgd.problems import geron_linear, geron_theta0
from jaxgd.report import Experiment

GERON_RATES = (0.02, 0.1, 0.5)


def geron_start(key):
    """Every lane starts at Géron's θ (np.random.seed(42); randn(2, 1))."""
    return geron_theta0()


def flat(params) -> jnp.ndarray:
    return jnp.concatenate([params["b"][None], params["w"]])


def unflat(theta):
    return {"w": theta[1:], "b": theta[0]}


GERON_LABELS = {0.02: "slow", 0.1: "converges", 0.5: "diverges"}


def boundary_figure(rates, result, grows, eigenvalues, initial_loss, optimum, early) -> Figure:
    """The excess loss after ``early`` updates against η, diverged lanes marked at the top."""
    excess = (result.losses[:, early // result.record_every] - optimum) / (initial_loss - optimum)
    gone = (result.status == "diverged") & (np.asarray(result.diverged_at) < early)
    # below this a float32 loss cannot tell L from L* (a few units in its last place)
    floor = 8 * np.finfo(np.float32).eps * optimum / (initial_loss - optimum)
    top = 30.0
    fig = Figure(figsize=(7.4, 4.8), layout="constrained")
    ax = fig.add_subplot()
    ax.axhspan(floor / 10, floor, color="0.9", label="below float32 resolution")
    for chosen, colour, label in (
        (~grows, "tab:blue", "converges by update 1000"),
        (grows & ~gone, "tab:orange", f"grows, not yet flagged by update {early}"),
    ):
        if chosen.any():
            shown = np.clip(excess[chosen], floor / 2, top)
            ax.plot(rates[chosen], shown, ".", color=colour, ms=4, label=label)
    ax.plot(
        rates[gone],
        np.full(gone.sum(), top / 2),
        "x",
        color="tab:red",
        ms=5,
        label=f"diverged (flagged) before update {early}, drawn at the top",
    )
    best, bound = 2 / (eigenvalues[0] + eigenvalues[-1]), 2 / eigenvalues[-1]
    ax.axvline(
        best, color="k", ls=":", lw=1, label=f"best fixed rate 2/(λ_min + λ_max) = {best:.3f}"
    )
    ax.axvline(bound, color="k", ls="--", lw=1, label=f"2/λ_max = {bound:.3f}")
    for rate, colour in zip(GERON_RATES, ("tab:purple", "tab:green", "tab:brown"), strict=True):
        ax.axvline(
            rate, color=colour, ls="-.", lw=1.2, label=f"Géron's η = {rate}: {GERON_LABELS[rate]}"
        )
    ax.set(
        xscale="log",
        yscale="log",
        ylim=(floor / 10, top),
        xlabel="learning rate η (log scale)",
        ylabel=f"(L − L*) after {early} updates / (L − L*) at the start\n(log scale)",
        title=f"{len(rates)} learning rates in one sweep (batch GD on Géron's data)",
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7.5, loc="lower left")
    return fig


def run(out_dir: Path, quick: bool = False) -> dict:
    exp = Experiment(
        "learning-rate",
        out_dir,
        title="Learning rate: too small, right, too large",
        topics="topic 5: step size, overshooting, divergence, α < 2/λ_max",
    )
    problem = geron_linear()
    x, y = problem.data
    steps, n_rates = 1000, (128 if quick else 512)

    # 1. Géron's three rates, first ten steps drawn as fitted lines.
    fig = Figure(figsize=(10.5, 3.6), layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    outcomes, after_ten = {}, {}
    for ax, rate in zip(axes, GERON_RATES, strict=True):
        short = jaxgd.fit(
            problem.loss_fn, geron_theta0(), problem.data, sgd(rate), steps=10, record_params=True
        )
        long = jaxgd.fit(problem.loss_fn, geron_theta0(), problem.data, sgd(rate), steps=steps)
        outcomes[rate], after_ten[rate] = long, float(short.final_loss)
        ax.plot(np.asarray(x[:, 0]), np.asarray(y), "b.", markersize=4)
        grid = np.array([0.0, 2.0])
        for i in range(10):
            b, w = float(short.param_history["b"][i]), float(short.param_history["w"][i, 0])
            ax.plot(grid, b + w * grid, "r--" if i == 0 else "b-", lw=1, alpha=0.4 + 0.06 * i)
        ax.set(title=f"η = {rate}", xlabel="x₁", xlim=(0, 2), ylim=(0, 15))
    axes[0].set_ylabel("y")
    fig.suptitle(
        "Géron fig. 4-8 redone: the model after each of the first 10 GD steps "
        "(red dashed: the start)"
    )
    exp.figure(fig, "three_rates.png", "first ten steps of batch GD at η = 0.02, 0.1 and 0.5")

    initial_loss = float(problem.loss(geron_theta0()))
    optimum = float(outcomes[0.1].final_loss)
    exp.claim(
        "η = 0.02 is slow: after 10 steps its loss is well above η = 0.1's",
        f"MSE {after_ten[0.02]:.3f} vs {after_ten[0.1]:.3f}",
        "more than twice",
        after_ten[0.02] > 2 * after_ten[0.1],
    )
    exp.claim(
        "η = 0.02 and 0.1 both converge within 1000 steps",
        f"final MSE {float(outcomes[0.02].final_loss):.6f} and {optimum:.6f}",
        "within 1e-4 of each other, not diverged",
        abs(float(outcomes[0.02].final_loss) - optimum) < 1e-4
        and not bool(outcomes[0.02].diverged | outcomes[0.1].diverged),
    )
    exp.claim(
        "η = 0.5 diverges (flagged, parameters kept finite)",
        f"diverged at update {int(outcomes[0.5].diverged_at)}",
        "diverged=True",
        bool(outcomes[0.5].diverged),
    )

    # 2. The divergence boundary from a sweep, against 2 / λ_max of the Hessian.
    hessian = jax.hessian(lambda theta: problem.loss(unflat(theta)))(flat(geron_theta0()))
    eigenvalues = np.linalg.eigvalsh(np.asarray(hessian, np.float64))
    bound = 2.0 / eigenvalues.max()
    rates = np.geomspace(0.01, 1.0, n_rates)
    result = jaxgd.sweep(
        problem.loss_fn,
        geron_start,
        problem.data,
        sgd,
        grid={"learning_rate": list(rates)},
        steps=steps,
        key=jax.random.key(0),
        record_every=10,
    )
    grows = (result.status == "diverged") | ~(result.final_loss < initial_loss)
    largest_ok = rates[~grows].max()
    smallest_bad = rates[grows].min()
    boundary = float(np.sqrt(largest_ok * smallest_bad))
    spacing = rates[1] / rates[0] - 1
    exp.claim(
        "the sweep's divergence boundary equals 2/λ_max of the Hessian",
        f"boundary {boundary:.4f} (between {largest_ok:.4f} and {smallest_bad:.4f}); "
        f"2/λ_max = {bound:.4f}",
        f"within one grid step ({100 * spacing:.1f}%)",
        largest_ok <= bound <= smallest_bad or abs(boundary / bound - 1) <= spacing,
    )
    exp.claim(
        "every rate below the boundary converges, every rate above it grows",
        f"{int((~grows[rates < bound]).sum())}/{int((rates < bound).sum())} below converge, "
        f"{int(grows[rates > bound].sum())}/{int((rates > bound).sum())} above grow",
        "all",
        bool((~grows[rates < bound]).all() and grows[rates > bound].all()),
    )
    exp.claim(
        "diverged lanes are flagged, not crashed, and leave finite parameters",
        f"{int((result.status == 'diverged').sum())} lanes flagged diverged",
        "all parameters finite",
        all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(result.params)),
    )

    early = 50  # the loss after 50 updates shows both slowness and overshooting
    exp.figure(
        boundary_figure(rates, result, grows, eigenvalues, initial_loss, optimum, early),
        "boundary.png",
        f"how far each of {n_rates} rates got in {early} updates: too small (left) is slow, "
        "the loss falls fastest near the best fixed rate 2/(λ_min + λ_max) (dotted), just "
        "below 2/λ_max (dashed), and past it the run blows up (red ×: flagged diverged, drawn "
        "at the top instead of its last loss); dash-dotted: Géron's three rates",
    )
    exp.write_csv(
        "sweep.csv",
        [
            {
                "learning_rate": r["learning_rate"],
                "final_loss": r["final_loss"],
                "status": r["status"],
                "grows": bool(g),
            }
            for r, g in zip(result.to_records(), grows, strict=True)
        ],
    )
    exp.write_json(
        "hessian.json",
        {
            "hessian": np.asarray(hessian).tolist(),
            "eigenvalues": eigenvalues.tolist(),
            "two_over_lambda_max": bound,
        },
    )
    exp.text(
        "Too small a rate (0.02) moves the line a little each step: it gets there, slowly. "
        "0.1 lands in a few steps. 0.5 overshoots: each step crosses the valley and lands higher "
        "on the other side, so the loss grows without bound, as in Géron's figure 4-8."
    )
    exp.text(
        f"The MSE of a linear model is a quadratic with Hessian H = (2/m)XᵀX, here with "
        f"eigenvalues {eigenvalues[0]:.3f} and {eigenvalues[1]:.3f}. One GD step multiplies the "
        f"error along each eigenvector by (1 − ηλ), so GD converges iff η < 2/λ_max = {bound:.4f}. "
        f"The sweep of {n_rates} rates (one compiled call) puts the boundary at {boundary:.4f}. "
        "Steps also shrink near the minimum at a fixed η because the gradient itself shrinks."
    )
    return exp.finish()


if __name__ == "__main__":
    run(Path(sys.argv[1] if len(sys.argv) > 1 else "results/learning-rate"))
