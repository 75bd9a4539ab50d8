"""Topic 7: convex vs non-convex costs; local minimum, global minimum, plateau.

A convex bowl has one minimum that GD always finds. A non-convex landscape
has several: where GD ends depends on where it starts. Here a deep well
(the global minimum), a shallow one (a local minimum) and far away a nearly
flat plateau where the gradient is so small that GD barely moves. Thousands of
starting points run as lanes of one sweep (each seed is a start), with and
without momentum. The notes' other remedies are shown as such: random
restarts (checked against 1 − (1 − p)^k) and a learning-rate schedule.
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
from jaxgd.problems import wells_1d, wells_2d
from jaxgd.report import Experiment
from jaxgd.schedules import cosine_decay_schedule

LEARNING_RATE, STEPS, RADIUS = 0.1, 300, 0.25
# Plain GD is momentum 0 (m = g): all three run as lanes of one sweep.
MOMENTA = {"plain GD": 0.0, "momentum 0.9": 0.9, "momentum 0.99": 0.99}
COLOURS = {"global": "tab:green", "local": "tab:orange", "stalled": "tab:gray"}
# Remedies. Random restarts: the best of k plain-GD runs from independent starts.
RESTARTS = (1, 2, 3, 5, 10)
# A learning-rate schedule: cosine decay from PEAK to LEARNING_RATE over the same STEPS.
PEAK = 4.0
ENDS = {"global": "global well", "local": "local well", "stalled": "neither: stalled or bouncing"}


def run_starts(problem, n_starts):
    """One sweep: every momentum × n_starts seeds, each seed a random start in the problem's box.

    Returns ``{momentum: (starts, ends)}``; a seed gives the same start for every momentum.
    """
    result = jaxgd.sweep(
        problem.loss_fn,
        problem.init_fn,
        None,
        sgd,
        grid={"learning_rate": [LEARNING_RATE], "momentum": list(MOMENTA.values())},
        seeds=n_starts,
        steps=STEPS,
        key=jax.random.key(7),
        record_params=True,
        record_every=STEPS,
    )
    starts = np.asarray(result.param_history)[:, 0]
    ends = np.asarray(result.params)
    momentum = result.hyperparameters["momentum"]
    return {m: (starts[momentum == m], ends[momentum == m]) for m in MOMENTA.values()}


def cosine_gd(peak, end):
    """GD whose rate falls from ``peak`` to ``end`` along a half cosine over STEPS updates
    (``end == peak``: a constant rate)."""
    return sgd(cosine_decay_schedule(peak, STEPS, alpha=end / peak))


def run_schedules(problem, n_starts):
    """One sweep: the cosine schedule PEAK → LEARNING_RATE and the constant rate PEAK, from
    the same starts as :func:`run_starts` (same key). Returns ``{name: ends}``."""
    result = jaxgd.sweep(
        problem.loss_fn,
        problem.init_fn,
        None,
        cosine_gd,
        grid={"peak": [PEAK], "end": [LEARNING_RATE, PEAK]},
        seeds=n_starts,
        steps=STEPS,
        key=jax.random.key(7),
        record_every=STEPS,
    )
    ends = np.asarray(result.params)
    end = result.hyperparameters["end"]
    return {
        f"cosine {PEAK:g} → {LEARNING_RATE:g}": ends[end == LEARNING_RATE],
        f"constant {PEAK:g}": ends[end == PEAK],
    }


def restart_success(outcome: np.ndarray, k: int) -> tuple[float, float, int]:
    """The share of groups of k consecutive starts (independent draws) of which at least one
    ends in the global well, i.e. the best of k restarts is the global minimum; the closed
    form 1 − (1 − p)^k from the single-start share p; and the number of groups."""
    groups = outcome[: outcome.size // k * k].reshape(-1, k) == "global"
    p = float(np.mean(outcome == "global"))
    return float(groups.any(axis=1).mean()), 1 - (1 - p) ** k, groups.shape[0]


def classify(ends, problem) -> np.ndarray:
    g = np.asarray(problem.loss_fn.global_center)
    loc = np.asarray(problem.loss_fn.local_center)
    near_g = np.linalg.norm(ends - g, axis=1) < RADIUS
    near_l = np.linalg.norm(ends - loc, axis=1) < RADIUS
    return np.where(near_g, "global", np.where(near_l, "local", "stalled"))


def shares(outcome) -> dict[str, float]:
    return {k: float(np.mean(outcome == k)) for k in COLOURS}


def wells_1d_figure(outcomes: dict, strips: tuple, n_starts: int) -> Figure:
    """The 1-D landscape, and one strip per method: each start at its x₀, coloured by where
    its run ends (the height in a strip is random, to spread the dots)."""
    problem = wells_1d()
    xs = np.linspace(-6, 6, 600)
    fig = Figure(figsize=(8.0, 6.6), layout="constrained")
    axes = fig.subplots(
        len(strips) + 1, 1, sharex=True, gridspec_kw={"height_ratios": [2.2] + [0.55] * len(strips)}
    )
    axes[0].plot(
        xs, np.asarray(jax.vmap(lambda v: problem.loss_fn(v[None]))(jnp.asarray(xs))), color="k"
    )
    arrow = {"arrowstyle": "->"}
    axes[0].annotate("global minimum", (-1.5, -0.99), (-0.5, -0.95), arrowprops=arrow, va="center")
    axes[0].annotate("local minimum", (1.5, -0.34), (2.5, -0.7), arrowprops=arrow)
    axes[0].annotate("plateau", (4.8, 0.12), (3.6, -0.25), arrowprops=arrow)
    axes[0].annotate("plateau", (-5.0, 0.14), (-5.6, -0.25), arrowprops=arrow)
    axes[0].text(
        0.5, 0.97, "f(x) = 0.005x² − exp(−(x+1.5)²) − 0.35·exp(−3(x−1.5)²)",
        transform=axes[0].transAxes, ha="center", va="top", fontsize=9,
    )  # fmt: skip
    axes[0].set(
        ylabel="f(x)",
        ylim=(-1.1, 0.45),
        title=f"Where GD ends, by starting point ({n_starts} starts, {STEPS} steps)\n"
        f"α = {LEARNING_RATE}, except the last row, whose α falls from {PEAK:g} to "
        f"{LEARNING_RATE:g}",
    )
    jitter = np.random.RandomState(0).rand(n_starts)
    for ax, name in zip(axes[1:], strips, strict=True):
        starts, outcome = outcomes[(1, name)]
        for kind, colour in COLOURS.items():
            chosen = outcome == kind
            ax.scatter(starts[chosen, 0], jitter[chosen], s=2, color=colour, label=kind)
        ax.set(yticks=[], ylim=(0, 1))
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    axes[-1].set_xlabel("starting point x₀ (colour: where the run ends)")
    fig.legend(
        *axes[1].get_legend_handles_labels(), loc="outside lower center", ncol=3, fontsize=8,
        markerscale=4, title="where the run ends", title_fontsize=8,
    )  # fmt: skip
    return fig


def remedies_figure(restarts: dict, outcomes: dict) -> Figure:
    """Left: the chance that the best of k restarts is global, measured and 1 − (1 − p)^k.
    Right: the outcome shares of a small constant rate, a large one, and the schedule."""
    fig = Figure(figsize=(11.5, 4.3), layout="constrained")
    ax_k, ax_s = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.25]})
    ks = np.arange(1, max(RESTARTS) + 1)
    for dim, colour in ((1, "tab:blue"), (2, "tab:purple")):
        p = restarts[dim][1][1]
        ax_k.plot(ks, 1 - (1 - p) ** ks, "-", color=colour, label=f"{dim}-D: 1 − (1 − {p:.2f})^k")
        measured = [restarts[dim][k][0] for k in RESTARTS]
        ax_k.plot(RESTARTS, measured, "o", color=colour, ms=7, mfc="none", mew=1.8,
                  label=f"{dim}-D: measured (groups of k seeds)")  # fmt: skip
    ax_k.set(
        xlabel="restarts k (plain GD from k independent random starts)",
        ylabel="P(the best of k runs is the global minimum)",
        ylim=(0, 1.02),
        xticks=ks,
        title="Random restarts",
    )
    ax_k.grid(True, alpha=0.3)
    ax_k.legend(fontsize=8, loc="lower right")
    methods = ("plain GD", f"constant {PEAK:g}", f"cosine {PEAK:g} → {LEARNING_RATE:g}")
    labels = (
        f"constant α = {LEARNING_RATE:g}",
        f"constant α = {PEAK:g}",
        f"cosine {PEAK:g} → {LEARNING_RATE:g}",
    )
    width = 0.38
    for offset, dim, hatch in ((-width / 2, 1, ""), (width / 2, 2, "//")):
        bottom = np.zeros(len(methods))
        for kind, colour in COLOURS.items():
            share = np.array([shares(outcomes[(dim, m)][1])[kind] for m in methods])
            ax_s.bar(np.arange(len(methods)) + offset, share, width * 0.95, bottom=bottom,
                     color=colour, hatch=hatch, edgecolor="white",
                     label=ENDS[kind] if dim == 1 else None)  # fmt: skip
            bottom += share
    ax_s.set_xticks(range(len(methods)), [f"{label}\n(left 1-D, right 2-D)" for label in labels])
    ax_s.set(
        ylabel="share of the starts", ylim=(0, 1), title=f"A learning-rate schedule ({STEPS} steps)"
    )
    ax_s.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="run ends")
    return fig


def run(out_dir: Path, quick: bool = False) -> dict:
    exp = Experiment(
        "non-convex",
        out_dir,
        title="Non-convex landscapes: which minimum GD finds",
        topics="topic 7: convex vs non-convex, local and global minima, plateaus; momentum",
    )
    n_starts = 1000 if quick else 4000
    rows = []
    outcomes = {}
    for dim, problem in ((1, wells_1d()), (2, wells_2d())):
        runs = run_starts(problem, n_starts)
        scheduled = run_schedules(problem, n_starts)
        methods = {name: runs[m] for name, m in MOMENTA.items()}
        methods.update({name: (runs[0.0][0], ends) for name, ends in scheduled.items()})
        for name, (starts, ends) in methods.items():
            outcome = classify(ends, problem)
            outcomes[(dim, name)] = (starts, outcome)
            rows.append(
                {
                    "dimension": dim,
                    "method": name,
                    "starts": n_starts,
                    **{f"share_{k}": v for k, v in shares(outcome).items()},
                }
            )

    for dim in (1, 2):
        plain = shares(outcomes[(dim, "plain GD")][1])
        heavy = shares(outcomes[(dim, "momentum 0.9")][1])
        exp.claim(
            f"{dim}-D, plain GD: starts end in the global well, the local well, or stall",
            ", ".join(f"{k} {100 * v:.1f}%" for k, v in plain.items()),
            "each outcome > 5%",
            all(v > 0.05 for v in plain.values()),
        )
        exp.claim(
            f"{dim}-D: momentum 0.9 leaves fewer starts stalled on the plateau",
            f"{100 * heavy['stalled']:.1f}% vs {100 * plain['stalled']:.1f}% without",
            "fewer",
            heavy["stalled"] < plain["stalled"],
        )
        exp.claim(
            f"{dim}-D: momentum 0.9 brings at least as many starts to the global minimum",
            f"{100 * heavy['global']:.1f}% vs {100 * plain['global']:.1f}% without",
            "≥",
            heavy["global"] >= plain["global"],
        )
    starts, outcome = outcomes[(1, "plain GD")]
    far = np.abs(starts[:, 0]) > 4
    exp.claim(
        "1-D, plain GD: most starts on the plateau (|x₀| > 4) stall there",
        f"{100 * np.mean(outcome[far] == 'stalled'):.0f}% are still far from both minima after "
        f"{STEPS} steps",
        "> 50% stall",
        np.mean(outcome[far] == "stalled") > 0.5,
    )

    # Remedies: random restarts and a learning-rate schedule.
    restarts = {
        dim: {k: restart_success(outcomes[(dim, "plain GD")][1], k) for k in RESTARTS}
        for dim in (1, 2)
    }
    worst = max(
        abs(measured - theory) / np.sqrt(theory * (1 - theory) / groups + 1e-12)
        for by_k in restarts.values()
        for measured, theory, groups in by_k.values()
    )
    exp.claim(
        "random restarts (the notes' remedy): the best of k plain-GD runs from independent "
        "starts reaches the global minimum with probability 1 − (1 − p)^k, p the single-start "
        "share",
        "; ".join(
            f"{dim}-D (p = {by_k[1][1]:.3f}): "
            + ", ".join(f"k = {k}: {m:.3f} vs {t:.3f}" for k, (m, t, _) in by_k.items() if k > 1)
            for dim, by_k in restarts.items()
        )
        + f"; largest gap {worst:.1f} standard errors",
        "within 4 standard errors of the closed form at every k (groups of k consecutive seeds)",
        worst < 4,
    )
    scheduled_name, constant_name = f"cosine {PEAK:g} → {LEARNING_RATE:g}", f"constant {PEAK:g}"
    schedule = {dim: shares(outcomes[(dim, scheduled_name)][1]) for dim in (1, 2)}
    large = {dim: shares(outcomes[(dim, constant_name)][1]) for dim in (1, 2)}
    small = {dim: shares(outcomes[(dim, "plain GD")][1]) for dim in (1, 2)}
    exp.claim(
        f"a learning-rate schedule (the notes' remedy): a rate falling from {PEAK:g} to "
        f"{LEARNING_RATE:g} along a cosine over the same {STEPS} steps brings most starts to "
        f"the global minimum and strands none, which neither constant rate does",
        "; ".join(
            f"{dim}-D global/stalled: schedule {100 * schedule[dim]['global']:.0f}%/"
            f"{100 * schedule[dim]['stalled']:.0f}%, constant {LEARNING_RATE:g} "
            f"{100 * small[dim]['global']:.0f}%/{100 * small[dim]['stalled']:.0f}%, constant "
            f"{PEAK:g} {100 * large[dim]['global']:.0f}%/{100 * large[dim]['stalled']:.0f}%"
            for dim in (1, 2)
        ),
        "schedule: global > 80%, stalled 0; each constant rate: global < 75%",
        all(
            schedule[d]["global"] > 0.8
            and schedule[d]["stalled"] == 0
            and max(small[d]["global"], large[d]["global"]) < 0.75
            for d in (1, 2)
        ),
    )

    # Figure 1: the 1-D landscape and where each start ends, per method.
    strips = (*MOMENTA, f"cosine {PEAK:g} → {LEARNING_RATE:g}")
    exp.figure(
        wells_1d_figure(outcomes, strips, n_starts),
        "wells_1d.png",
        "the 1-D landscape and, per method, each start coloured by where the run ends "
        f"(grey: stalled); the last row is the remedy of a schedule, a rate falling from "
        f"{PEAK:g} to {LEARNING_RATE:g}",
    )
    exp.figure(
        remedies_figure(restarts, outcomes),
        "remedies.png",
        "the notes' remedies for local minima and plateaus on the wells: left, random restarts "
        "(best of k plain-GD runs; dots measured, line 1 − (1 − p)^k); right, where runs end "
        f"with a constant rate of {LEARNING_RATE:g}, a constant {PEAK:g}, and a cosine "
        "schedule between the two",
    )

    # Figure 2: the 2-D basins, plain GD vs momentum.
    problem = wells_2d()
    fig = Figure(figsize=(11, 3.9), layout="constrained")
    axes = fig.subplots(1, len(MOMENTA), sharey=True)
    grid = np.linspace(-5, 5, 200)
    gx, gy = np.meshgrid(grid, grid)
    z = np.asarray(jax.vmap(problem.loss_fn)(jnp.stack([gx.ravel(), gy.ravel()], 1))).reshape(
        gx.shape
    )
    for ax, name in zip(axes, MOMENTA, strict=True):
        starts, outcome = outcomes[(2, name)]
        ax.contour(grid, grid, z, levels=15, colors="k", linewidths=0.4, alpha=0.6)
        for kind, colour in COLOURS.items():
            chosen = outcome == kind
            ax.scatter(
                starts[chosen, 0],
                starts[chosen, 1],
                s=2,
                color=colour,
                label=f"{kind} {100 * chosen.mean():.0f}%",
            )
        ax.set(title=name, xlabel="θ₁", xlim=(-5, 5), ylim=(-5, 5), aspect="equal")
        ax.legend(loc="lower left", fontsize=7, markerscale=4)
    axes[0].set_ylabel("θ₂")
    fig.suptitle(
        "2-D wells: each start coloured by where GD ends (global well left, local well right)"
    )
    exp.figure(fig, "wells_2d.png", "basins of attraction in 2-D, plain GD and with momentum")
    exp.write_csv("shares.csv", rows)
    exp.table(
        "| landscape | method | global | local | stalled |\n|---|---|---|---|---|\n"
        + "\n".join(
            f"| {r['dimension']}-D | {r['method']} | {100 * r['share_global']:.1f}% | "
            f"{100 * r['share_local']:.1f}% | {100 * r['share_stalled']:.1f}% |"
            for r in rows
        )
    )
    exp.text(
        "On a convex function every start leads to the same minimum; here the outcome depends on "
        "the start. Plain GD follows the slope into whichever well it starts above, and starts "
        "out on the plateau, where the gradient is about 0.01·|x|, hardly move in 300 steps."
    )
    exp.text(
        "Momentum accumulates past gradients (m ← g + βm), so on the gentle plateau its steps "
        "grow up to 1/(1 − β) times larger: fewer starts stall, and more of them reach the "
        "global well. It is no guarantee: with β = 0.99 many runs are still swinging after 300 "
        "steps, and a start deep inside the local well stays there, because momentum damps "
        "(β < 1) and cannot climb higher than where the run began."
    )
    exp.text(
        "The notes' remedies for local minima and plateaus, besides momentum, are random "
        "restarts and learning-rate schedules. Restarts: run plain GD from k independent random "
        "starts and keep the lowest final loss. If one start reaches the global well with "
        "probability p, the best of k does with probability 1 − (1 − p)^k: with p = "
        f"{restarts[1][1][1]:.2f} (1-D) five restarts succeed {100 * restarts[1][5][0]:.0f}% "
        f"of the time (measured on groups of five seeds; {100 * restarts[1][5][1]:.0f}% "
        "predicted). It costs k runs and needs nothing from the landscape but independent starts."
    )
    exp.text(
        f"A schedule: with α falling from {PEAK:g} to {LEARNING_RATE:g} along a cosine over "
        f"the same {STEPS} steps, the early large steps cross the plateaus and cannot stay in "
        "the narrow local well, and once α is small the run settles in the wide global one: "
        f"{100 * schedule[1]['global']:.0f}% (1-D) and {100 * schedule[2]['global']:.0f}% (2-D) "
        f"of the starts end there and none stall, against {100 * small[1]['global']:.0f}% and "
        f"{100 * small[2]['global']:.0f}% at a constant {LEARNING_RATE:g}. A constant {PEAK:g} "
        "is no remedy: it keeps jumping and never settles in either well. The schedule's peak "
        "was chosen for these wells; that large early steps then small ones help is the "
        "general lesson, not the number."
    )
    return exp.finish()


if __name__ == "__main__":
    run(Path(sys.argv[1] if len(sys.argv) > 1 else "results/non-convex"))
