"""Topics 11–12: momentum, Nesterov and adaptive learning rates on three surfaces.

Six optimizers (GD, momentum β = 0.9 as in the notes, Nesterov β = 0.9,
AdaGrad, RMSprop, Adam) on three 2-D surfaces, each from one fixed start so
that the paths are comparable:

- an elongated bowl ½(θ₀² + 100·θ₁²) (condition number 100), where GD has to
  keep its step small for the steep axis and then crawls along the flat one;
- Rosenbrock's curved valley (1 − a)² + 100(b − a²)², from the classic (−1.2, 1);
- a saddle a² + ¼b⁴ − ½b², started next to the saddle point at (1.5, 0.001),
  where ∂f/∂b ≈ −0.001 and GD lingers before it falls off towards (0, 1).

Every optimizer runs at its own best learning rate, found by a sweep of
log-spaced rates (one compiled call per optimizer and surface). Best means:
the lowest final loss after STEPS updates among the lanes that did not
diverge; rates whose final loss is within TIE of that lowest one count as tied
(they all reached the minimum to float64 precision) and the tie goes to the
one that first got below the surface's threshold.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

import jaxgd
from jaxgd.optim import adagrad, adam, rmsprop, sgd
from jaxgd.plots import loss_grid
from jaxgd.problems import FixedStart, elongated_bowl, rosenbrock_function, saddle_function
from jaxgd.report import Experiment

CONDITION = 100.0  # condition number of the elongated bowl
MOMENTUM = 0.9  # β of the notes' example
STEPS = 2000  # updates per run, on every surface
RATES = (1e-4, 10.0)  # the swept learning rates, log-spaced
TIE = 1e-12  # final losses this close to the lowest count as tied
LEAVE = 0.5  # "left the saddle": |b| > LEAVE
FLOOR = 1e-16  # loss − minimum below this is drawn at this value
RELAPSE = 1e-2  # a run that reached the threshold and later rose above this is reported


class Surface(NamedTuple):
    index: int  # which of SURFACE_FUNCTIONS
    title: str
    start: tuple[float, float]
    minimum: tuple[float, float]
    f_min: float
    threshold: float  # "reached": f − f_min ≤ threshold
    xlim: tuple[float, float]
    ylim: tuple[float, float]


SURFACE_FUNCTIONS = (elongated_bowl(CONDITION).loss_fn, rosenbrock_function, saddle_function)
SURFACES = {
    "bowl": Surface(
        0,
        f"elongated bowl ½(θ₀² + {CONDITION:g}θ₁²)",
        (-2.0, 1.0),
        (0.0, 0.0),
        0.0,
        1e-6,
        (-2.6, 0.6),
        (-1.3, 1.3),
    ),
    "rosenbrock": Surface(
        1,
        "Rosenbrock (1 − a)² + 100(b − a²)²",
        (-1.2, 1.0),
        (1.0, 1.0),
        0.0,
        1e-3,
        (-1.6, 1.6),
        (-0.4, 1.8),
    ),
    "saddle": Surface(
        2,
        "saddle a² + ¼b⁴ − ½b²",
        (1.5, 1e-3),
        (0.0, 1.0),
        -0.25,
        1e-4,
        (-1.0, 1.8),
        (-0.6, 1.6),
    ),
}
# label -> (factory, fixed hyperparameters). GD is sgd with momentum 0 (m = g + 0·m = g),
# so GD and momentum 0.9 share one compiled program.
OPTIMIZERS = {
    "GD": (sgd, {"momentum": [0.0]}),
    "momentum 0.9": (sgd, {"momentum": [MOMENTUM]}),
    "Nesterov 0.9": (sgd, {"momentum": [MOMENTUM], "nesterov": [True]}),
    "AdaGrad": (adagrad, {}),
    "RMSprop": (rmsprop, {}),
    "Adam": (adam, {}),
}
COLOURS = dict(
    zip(
        OPTIMIZERS, ["k", "tab:blue", "tab:cyan", "tab:green", "tab:orange", "tab:red"], strict=True
    )
)


def surface_loss(shift, x, y):
    """Surface number ``x[0, 0]`` at the point ``y[0] + shift``.

    The surface and its start travel as data, so each optimizer compiles one
    program for all three surfaces (compiling dominates this experiment's time).
    The parameters are the displacement from the start, 0 at first; the
    optimizers see only gradients, so the path is the same as in plain coordinates.
    """
    return jax.lax.switch(x[0, 0].astype(jnp.int32), SURFACE_FUNCTIONS, y[0] + shift)


def surface_data(surface: Surface):
    return jnp.array([[float(surface.index)]]), jnp.array([surface.start])


def first_step(reached: np.ndarray) -> np.ndarray:
    """Per lane, the first update count at which ``reached`` holds; inf if never."""
    return np.where(reached.any(axis=1), reached.argmax(axis=1), np.inf)


def sweep_surface(surface: Surface, factory, fixed: dict, rates: np.ndarray) -> dict:
    """One sweep of the learning rate for one optimizer on one surface, summarised per lane."""
    result = jaxgd.sweep(
        surface_loss,
        FixedStart((0.0, 0.0)),
        surface_data(surface),
        factory,
        grid={"learning_rate": list(rates), **fixed},
        steps=STEPS,
        key=jax.random.key(0),
        record_params=True,
    )
    start = np.asarray(surface.start)
    final_params = np.asarray(result.params) + start
    paths = np.concatenate([np.asarray(result.param_history) + start, final_params[:, None]], 1)
    excess = np.asarray(result.losses) - surface.f_min  # before updates 0 … STEPS − 1
    final = np.asarray(result.final_loss) - surface.f_min
    excess = np.concatenate([excess, final[:, None]], axis=1)  # … and after the last one
    ok = (result.status != "diverged") & np.isfinite(final)
    return {
        "rates": rates,
        "ok": ok,
        "final": final,
        "excess": excess,
        "paths": paths,
        "steps_to_threshold": first_step(excess <= surface.threshold),
        "steps_to_leave": first_step(np.abs(paths[:, :, 1]) > LEAVE),
    }


def best_lane(lanes: dict) -> int:
    """Lowest final loss among non-diverged lanes; ties (within TIE) go to the fastest."""
    final = np.where(lanes["ok"], lanes["final"], np.inf)
    tied = np.nonzero(final <= final.min() + TIE)[0]
    return int(tied[np.argmin(lanes["steps_to_threshold"][tied])])


def in_frame(lanes: dict, surface: Surface) -> np.ndarray:
    """Per lane, whether its whole path stays inside the surface's plotted window."""
    a, b = lanes["paths"][..., 0], lanes["paths"][..., 1]
    (a_low, a_high), (b_low, b_high) = surface.xlim, surface.ylim
    return ((a >= a_low) & (a <= a_high) & (b >= b_low) & (b <= b_high)).all(axis=1)


def drawn_lane(lanes: dict, surface: Surface) -> int:
    """The lane drawn in the paths figure: the best (as :func:`best_lane`) among the lanes
    whose path stays in the window; the best lane overall if none does."""
    kept = lanes["ok"] & in_frame(lanes, surface)
    return best_lane({**lanes, "ok": kept}) if kept.any() else best_lane(lanes)


def worst_after(lanes: dict, i: int) -> float:
    """Highest f − f_min of lane i after it first got below the threshold (nan if it never did)."""
    first = lanes["steps_to_threshold"][i]
    return float(lanes["excess"][i, int(first) :].max()) if np.isfinite(first) else float("nan")


def csv_row(row: dict) -> dict:
    """Step counts as integers, "" where never reached (or not applicable)."""
    return {
        k: ("" if v is None or not np.isfinite(v) else int(v)) if k.startswith("steps") else v
        for k, v in row.items()
    }


def steps_text(steps: float) -> str:
    return f"{int(steps)}" if np.isfinite(steps) else f"not within {STEPS}"


def surface_figure(name: str, surface: Surface, runs: dict, chosen: dict) -> Figure:
    """Left: contours with each optimizer's path at its best rate. Right: loss curves."""
    fig = Figure(figsize=(12.5, 4.9), layout="constrained")
    ax_path, ax_loss = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.15, 1]})
    xs, ys = np.linspace(*surface.xlim, 300), np.linspace(*surface.ylim, 300)
    z = loss_grid(SURFACE_FUNCTIONS[surface.index], xs, ys) - surface.f_min
    levels = np.geomspace(max(z.min(), 1e-3), z.max(), 20)
    ax_path.contourf(
        xs, ys, np.maximum(z, 1e-3), levels=levels, norm=LogNorm(), cmap="Greys", alpha=0.35
    )
    ax_path.contour(xs, ys, z, levels=levels, colors="k", linewidths=0.3, alpha=0.4)
    for label, lanes in runs.items():
        i = drawn_lane(lanes, surface)
        best = chosen[label]
        rate = f"α = {lanes['rates'][i]:.3g}"
        if i != best:
            rate += f"; its best α = {lanes['rates'][best]:.3g} leaves the frame"
        path = lanes["paths"][i]
        ax_path.plot(path[:, 0], path[:, 1], "-", color=COLOURS[label], lw=1.3, alpha=0.85)
        ax_path.plot(*path[-1], "o", color=COLOURS[label], markersize=5)
        curve = np.maximum(lanes["excess"][i], FLOOR)
        ax_loss.plot(curve, color=COLOURS[label], lw=1.4, label=f"{label} ({rate})")
    ax_path.plot(*surface.start, "s", color="m", markersize=8, label="start", zorder=5)
    ax_path.plot(*surface.minimum, "*", color="red", markersize=14, label="minimum", zorder=5)
    if name == "saddle":
        ax_path.plot(0, 0, "X", color="m", markersize=9, label="saddle point", zorder=5)
    ax_path.set(
        title=f"{surface.title}:\neach optimizer at its best rate whose path stays in this frame",
        xlabel="a (θ₀)",
        ylabel="b (θ₁)",
        xlim=surface.xlim,
        ylim=surface.ylim,
    )
    ax_path.legend(loc="upper right", fontsize=8)
    ax_loss.axhline(surface.threshold, color="gray", ls="--", lw=1, label="threshold")
    ax_loss.set(
        yscale="log",
        xscale="symlog",
        xlim=(0, STEPS + 1),
        ylim=(FLOOR / 3, None),
        title=f"loss curves, f_min = {surface.f_min:g} (values < {FLOOR:g} drawn at {FLOOR:g})",
        xlabel="update (symlog scale: linear up to 1, log above)",
        ylabel="f − f_min (log scale)",
    )
    ax_loss.grid(True, which="major", alpha=0.3)
    ax_loss.legend(fontsize=8, loc="lower left")
    return fig


def run(out_dir: Path, quick: bool = False) -> dict:
    # float64: the bowl's losses fall below 1e-40, where float32 would flush to 0 and tie.
    with jax.enable_x64(True):
        return _run(out_dir, quick)


def _run(out_dir: Path, quick: bool) -> dict:
    exp = Experiment(
        "optimizers",
        out_dir,
        title="Momentum, Nesterov and adaptive rates on three surfaces",
        topics="topics 11–12: momentum (β = 0.9), Nesterov, AdaGrad, RMSprop, Adam",
    )
    rates = np.geomspace(*RATES, 16 if quick else 32)
    runs = {
        name: {
            label: sweep_surface(surface, factory, fixed, rates)
            for label, (factory, fixed) in OPTIMIZERS.items()
        }
        for name, surface in SURFACES.items()
    }
    chosen = {
        name: {label: best_lane(lanes) for label, lanes in by_opt.items()}
        for name, by_opt in runs.items()
    }

    rows, sweep_rows = [], []
    for name, by_opt in runs.items():
        for label, lanes in by_opt.items():
            i = chosen[name][label]
            rows.append(
                {
                    "surface": name,
                    "optimizer": label,
                    "best_rate": float(rates[i]),
                    "final_loss_minus_min": float(lanes["final"][i]),
                    "threshold": SURFACES[name].threshold,
                    "steps_to_threshold": lanes["steps_to_threshold"][i],
                    "steps_to_leave_saddle": lanes["steps_to_leave"][i]
                    if name == "saddle"
                    else None,
                    "rates_diverged": int((~lanes["ok"]).sum()),
                    "worst_after_threshold": worst_after(lanes, i),
                }
            )
            for j, rate in enumerate(rates):
                sweep_rows.append(
                    {
                        "surface": name,
                        "optimizer": label,
                        "learning_rate": float(rate),
                        "diverged": not bool(lanes["ok"][j]),
                        "final_loss_minus_min": float(lanes["final"][j]),
                        "steps_to_threshold": lanes["steps_to_threshold"][j],
                        "steps_to_leave_saddle": lanes["steps_to_leave"][j]
                        if name == "saddle"
                        else None,
                    }
                )
    best = {(r["surface"], r["optimizer"]): r for r in rows}

    def steps(surface, label, key="steps_to_threshold"):
        return best[(surface, label)][key]

    # --- the elongated bowl
    gd = steps("bowl", "GD")
    for label in ("momentum 0.9", "Nesterov 0.9"):
        exp.claim(
            f"elongated bowl (κ = {CONDITION:g}): {label} reaches f < 1e-6 in fewer steps than GD "
            "(each at its best rate)",
            f"{steps_text(steps('bowl', label))} vs {steps_text(gd)} steps",
            "fewer",
            steps("bowl", label) < gd,
        )
    # Heavy ball at the notes' fixed β contracts at best √β per step; GD at best (κ−1)/(κ+1).
    gd_factor = (CONDITION - 1) / (CONDITION + 1)
    heavy_factor = np.sqrt(MOMENTUM)

    # --- Rosenbrock
    reached = [o for o in OPTIMIZERS if np.isfinite(steps("rosenbrock", o))]
    gd_lanes = runs["rosenbrock"]["GD"]
    gd_best_final = float(np.min(np.where(gd_lanes["ok"], gd_lanes["final"], np.inf)))
    gd_lowest = float(np.min(gd_lanes["excess"][gd_lanes["ok"]]))
    exp.claim(
        f"Rosenbrock: plain GD does not reach f < 1e-3 within {STEPS} updates at any swept rate",
        f"lowest f of any non-diverged GD run at any update = {gd_lowest:.3g}",
        "> 1e-3",
        gd_lowest > 1e-3,
    )
    exp.claim(
        f"Rosenbrock: momentum and Nesterov reach f < 1e-3 within {STEPS} updates",
        f"momentum {steps_text(steps('rosenbrock', 'momentum 0.9'))}, "
        f"Nesterov {steps_text(steps('rosenbrock', 'Nesterov 0.9'))} steps",
        "both reach it",
        "momentum 0.9" in reached and "Nesterov 0.9" in reached,
    )

    # --- the saddle
    gd_leave = steps("saddle", "GD", "steps_to_leave_saddle")
    adaptive = ("AdaGrad", "RMSprop", "Adam")
    for label in adaptive:
        leave = steps("saddle", label, "steps_to_leave_saddle")
        exp.claim(
            f"saddle: {label} leaves the saddle (|b| > {LEAVE}) sooner than GD, each at its best "
            "rate",
            f"{steps_text(leave)} vs {steps_text(gd_leave)} updates",
            "fewer",
            leave < gd_leave,
        )
    gd_s, mom_s = runs["saddle"]["GD"], runs["saddle"]["momentum 0.9"]
    both = gd_s["ok"] & mom_s["ok"] & np.isfinite(gd_s["steps_to_leave"])
    faster = mom_s["steps_to_leave"][both] <= gd_s["steps_to_leave"][both]
    exp.claim(
        "saddle: at every swept rate where GD leaves and momentum is stable, momentum leaves "
        "no later than GD",
        f"{int(faster.sum())} of {int(both.sum())} rates",
        "all",
        bool(faster.all()) and both.sum() > 0,
    )

    # --- figures
    for name, surface in SURFACES.items():
        fig = surface_figure(name, surface, runs[name], chosen[name])
        exp.figure(
            fig,
            f"paths_{name}.png",
            f"{surface.title}: the six optimizers' paths from the same start (square), each at "
            "the best of its swept rates whose path stays inside the frame (the legend names "
            "the overall best rate where that one leaves it), and their loss curves",
        )

    fig = Figure(figsize=(7.0, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for label, lanes in runs["saddle"].items():
        shown = lanes["ok"] & np.isfinite(lanes["steps_to_leave"])
        ax.plot(
            rates[shown], lanes["steps_to_leave"][shown], ".-", color=COLOURS[label], label=label
        )
        i = chosen["saddle"][label]
        ax.plot(
            rates[i],
            lanes["steps_to_leave"][i],
            "o",
            color=COLOURS[label],
            markersize=9,
            mfc="none",
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="learning rate α (log scale)",
        ylabel=f"updates until |b| > {LEAVE} (log scale)",
        title="Leaving the saddle from b = 0.001 (circle: the best rate by final loss)",
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    exp.figure(
        fig,
        "saddle_leave.png",
        "updates needed to leave the saddle against the learning rate, every non-diverged lane",
    )

    exp.write_csv("best_rates.csv", [csv_row(r) for r in rows])
    exp.write_csv("sweeps.csv", [csv_row(r) for r in sweep_rows])
    exp.table(
        "| surface | optimizer | best α | final f − f_min | steps to threshold | "
        "steps to leave saddle |\n|---|---|---|---|---|---|\n"
        + "\n".join(
            f"| {r['surface']} (f − f_min ≤ {r['threshold']:g}) | {r['optimizer']} | "
            f"{r['best_rate']:.3g} | {r['final_loss_minus_min']:.3g} | "
            f"{steps_text(r['steps_to_threshold'])} | "
            f"{steps_text(r['steps_to_leave_saddle']) if r['surface'] == 'saddle' else ''} |"
            for r in rows
        )
    )
    at_edge = [o for o in OPTIMIZERS for n in SURFACES if chosen[n][o] == len(rates) - 1]
    exp.text(
        f"Each optimizer ran {len(rates)} learning rates from {RATES[0]:g} to {RATES[1]:g} "
        f"(log-spaced) for {STEPS} updates on each surface; its best rate is the one with the "
        f"lowest final loss among non-diverged runs, ties within {TIE:g} (runs that reached the "
        "minimum to float64 precision) going to the run that first got below the surface's "
        "threshold."
        + (
            f" For {', '.join(sorted(set(at_edge)))} the best rate is the largest one swept on "
            "some surface: it may do as well or better with a still larger rate."
            if at_edge
            else ""
        )
    )
    exp.text(
        f"On the elongated bowl GD must keep α < 2/{CONDITION:g} for the steep axis, so along the "
        f"flat axis it shrinks the error by at best (κ − 1)/(κ + 1) = {gd_factor:.3f} per step. "
        "Momentum sums the gradients, m = g + βm: along the flat axis they all point the same way "
        "and add up to a step up to 1/(1 − β) = 10 times larger, while across the valley they "
        "alternate in sign and cancel. With β fixed at 0.9 its error cannot shrink faster than "
        f"√β = {heavy_factor:.3f} per step, so it only wins where κ is large "
        f"(κ > (1 + √β)/(1 − √β) = {(1 + heavy_factor) / (1 - heavy_factor):.0f}): here it "
        f"needs {steps_text(steps('bowl', 'momentum 0.9'))} steps to f < 1e-6 against GD's "
        f"{steps_text(gd)}, and Nesterov, which looks ahead (g + βm), "
        f"{steps_text(steps('bowl', 'Nesterov 0.9'))}."
    )
    exp.text(
        "The adaptive methods divide each parameter's step by the root of its own squared-gradient "
        "history, so the steep and the flat axis get steps of similar size: on this axis-aligned "
        "bowl "
        + ", ".join(f"{o} needs {steps_text(steps('bowl', o))}" for o in adaptive)
        + " steps. That advantage relies on the valley being aligned with the axes; "
        "per-parameter scaling cannot undo a rotated one."
    )
    missed = [o for o in OPTIMIZERS if o not in reached and o != "GD"]
    exp.text(
        f"On Rosenbrock the valley is curved and its floor nearly flat: at its best rate GD still "
        f"has f = {gd_best_final:.2g} after {STEPS} updates, while "
        + ", ".join(f"{o} ({steps_text(steps('rosenbrock', o))} steps)" for o in reached)
        + " get below 1e-3"
        + (f" and {', '.join(missed)} do not" if missed else "")
        + ". Momentum keeps its speed along the floor of the valley, where successive gradients "
        "point the same way."
    )
    sooner = [o for o in adaptive if steps("saddle", o, "steps_to_leave_saddle") < gd_leave]
    exp.text(
        f"Next to the saddle ∂f/∂b ≈ −b, so GD multiplies b by about (1 + α) per step and needs "
        f"{steps_text(gd_leave)} updates at its best rate to get from 0.001 to |b| > {LEAVE}. "
        "Momentum compounds this growth and leaves no later at every rate (figure). "
        + ", ".join(
            f"{o} ({steps_text(steps('saddle', o, 'steps_to_leave_saddle'))})" for o in adaptive
        )
        + " rescale the tiny gradient along b to a step of about α, "
        + (
            "so all three walk off the saddle sooner than GD."
            if len(sooner) == len(adaptive)
            else f"yet only {', '.join(sooner) or 'none'} leave sooner than GD at the best rate."
        )
    )
    relapsed = [r for r in rows if r["worst_after_threshold"] > RELAPSE]
    if relapsed:
        exp.text(
            "The final-loss criterion does not see what happens before the end: "
            + "; ".join(
                f"{r['optimizer']} on the {r['surface']} (α = {r['best_rate']:.3g}) got below the "
                f"threshold, then rose again to f − f_min = {r['worst_after_threshold']:.2g}"
                for r in relapsed
            )
            + ", before returning to the minimum."
            + (
                " The momentum runs overshoot: m still carries the speed gathered on the way "
                "down, so the point swings past the minimum and back."
                if any("0.9" in r["optimizer"] for r in relapsed)
                else ""
            )
            + (
                " Adam and RMSprop divide by the root of a decaying average of g², so once the "
                "gradient has almost vanished that average shrinks to its size and the step "
                "m/√v is about α again: a large α throws the point off the minimum."
                if any(r["optimizer"] in ("Adam", "RMSprop") for r in relapsed)
                else ""
            )
        )
    return exp.finish()


if __name__ == "__main__":
    run(Path(sys.argv[1] if len(sys.argv) > 1 else "results/optimizers"))
