"""Figures: loss contours with optimisation paths, and loss curves.

Built on ``matplotlib.figure.Figure`` directly (no pyplot, no GUI backend),
so figures can be drawn on machines without a screen and inside tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from jaxgd._types import Array, ArrayLike


def loss_grid(
    loss_of_point: Callable[[Array], Array],
    xs: ArrayLike,
    ys: ArrayLike,
) -> np.ndarray:
    """``Z[i, j] = loss_of_point([xs[j], ys[i]])`` on a grid, evaluated with one ``vmap``."""
    gx, gy = jnp.meshgrid(jnp.asarray(xs), jnp.asarray(ys))
    points = jnp.stack([gx.ravel(), gy.ravel()], axis=1)
    values = jax.jit(jax.vmap(loss_of_point))(points)
    return np.asarray(values).reshape(gx.shape)


def contour_paths(
    loss_of_point: Callable[[Array], Array],
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    paths: Mapping[str, ArrayLike],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    minimum: Sequence[float] | None = None,
    minimum_label: str = "minimum",
    resolution: int = 200,
    n_levels: int = 25,
    ax: Any = None,
) -> Figure:
    """Loss contours (log-spaced levels) with one or more optimisation paths drawn on top.

    Args:
      loss_of_point: maps a point ``[x, y]`` of the plane to the loss.
      xlim, ylim: the plotted window.
      paths: label -> array ``[n_steps, 2]`` of visited points (in order).
      title, xlabel, ylabel: text of the figure.
      minimum: a point to mark with a star.
      resolution: grid points per axis.
      n_levels: number of contour levels.
      ax: draw into this matplotlib Axes (a panel of a larger figure) instead of a new figure.

    Returns:
      The figure drawn on.
    """
    xs = np.linspace(*xlim, resolution)
    ys = np.linspace(*ylim, resolution)
    z = loss_grid(loss_of_point, xs, ys)
    z_min = float(np.nanmin(z))
    shift = 0.0 if z_min > 0 else (1e-3 - z_min)
    levels = np.geomspace(np.nanmin(z) + shift, np.nanmax(z) + shift, n_levels)
    if ax is None:
        fig = Figure(figsize=(6.4, 5.0), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    filled = ax.contourf(xs, ys, z + shift, levels=levels, norm=LogNorm(), cmap="viridis_r")
    ax.contour(xs, ys, z + shift, levels=levels, colors="k", linewidths=0.3, alpha=0.5)
    colorbar = fig.colorbar(filled, ax=ax, format="%.3g")
    colorbar.set_label("loss" + (f" + {shift:.3g}" if shift else "") + " (log scale)")
    for (label, path), colour in zip(paths.items(), _colours(len(paths)), strict=True):
        path = np.asarray(path)
        ax.plot(path[:, 0], path[:, 1], "-o", color=colour, markersize=2.5, lw=1.2, label=label)
        ax.plot(path[0, 0], path[0, 1], "s", color=colour, markersize=6)
    if minimum is not None:
        ax.plot(*minimum, "*", color="red", markersize=14, label=minimum_label, zorder=5)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xlim=xlim, ylim=ylim)
    ax.legend(loc="best", fontsize=8)
    return fig


def loss_curves(
    curves: Mapping[str, ArrayLike],
    *,
    title: str,
    xlabel: str = "update",
    ylabel: str = "loss",
    log_y: bool = True,
    steps: Mapping[str, ArrayLike] | None = None,
    reference: float | None = None,
    reference_label: str = "optimum",
) -> Figure:
    """Loss against update number, one line per label (log y-axis by default)."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.add_subplot()
    for (label, curve), colour in zip(curves.items(), _colours(len(curves)), strict=True):
        curve = np.asarray(curve)
        x = np.asarray(steps[label]) if steps is not None else np.arange(curve.shape[0])
        ax.plot(x, curve, color=colour, lw=1.5, label=label)
    if reference is not None:
        ax.axhline(reference, color="k", ls="--", lw=1, label=reference_label)
    if log_y:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel + (" (log scale)" if log_y else ""))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _colours(n: int) -> list:
    palette = [
        "tab:blue",
        "tab:orange",
        "tab:green",
        "tab:red",
        "tab:purple",
        "tab:brown",
        "tab:pink",
        "tab:gray",
        "tab:olive",
        "tab:cyan",
    ]
    return [palette[i % len(palette)] for i in range(n)]


def save(fig: Figure, path: str | Path, *, dpi: int = 130) -> Path:
    """Write ``fig`` to ``path`` (PNG by suffix), creating the folder; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path


def sweep_final_loss(
    result: Any,
    *,
    hyperparameter: str = "learning_rate",
    title: str | None = None,
) -> Figure:
    """Final loss against a hyperparameter: one faint line per seed, bold median.

    Lanes that differ in other hyperparameters get their own colour. Diverged
    lanes are marked with a red × at the top of the plot; lanes pruned by
    :class:`jaxgd.SuccessiveHalving` with a hollow grey circle at their loss where they
    stopped, shorter runs kept out of the lines and medians. The axes are logarithmic
    where every value on them is positive, linear otherwise (a loss that reaches 0 or
    goes negative, a momentum of 0), so that no lane drops out of the figure.
    """
    if hyperparameter not in result.hyperparameters:
        raise ValueError(
            f"hyperparameter={hyperparameter!r} is not swept here; choose one of "
            f"{', '.join(result.hyperparameters) or '(none: the sweep has only seeds)'}."
        )
    values = np.asarray(result.hyperparameters[hyperparameter], np.float64)
    others = [n for n in result.hyperparameters if n != hyperparameter]
    groups: dict[tuple, list[int]] = {}
    for i in range(result.n_lanes):
        groups.setdefault(tuple(result.hyperparameters[n][i] for n in others), []).append(i)
    diverged = result.status == "diverged"
    finite = result.final_loss[~diverged & np.isfinite(result.final_loss)]
    log_loss = _all_positive(finite)
    log_values = bool(np.all(values > 0))
    fig = Figure(figsize=(6.8, 4.4), layout="constrained")
    ax = fig.add_subplot()
    for (group, lanes), colour in zip(groups.items(), _colours(len(groups)), strict=True):
        label = ", ".join(f"{n}={_short(v)}" for n, v in zip(others, group, strict=True))
        _draw_lane_group(ax, result, values, np.asarray(lanes), colour, label)
    if diverged.any():
        ax.plot(
            values[diverged],
            np.full(diverged.sum(), _top_of_axis(finite, log_loss)),
            "x",
            color="red",
            label=f"diverged ({int(diverged.sum())} lanes)",
        )
    pruned = result.status == "pruned"
    if pruned.any():
        ax.plot(
            values[pruned],
            result.final_loss[pruned],
            "o",
            mfc="none",
            color="grey",
            ms=4,
            label=f"pruned ({int(pruned.sum())} lanes): loss where each stopped",
        )
    ax.set_xscale("log" if log_values else "linear")
    ax.set_yscale("log" if log_loss else "linear")
    ax.set(
        title=title or f"Final loss against {hyperparameter} ({result.n_lanes} lanes)",
        xlabel=f"{hyperparameter}" + (" (log scale)" if log_values else ""),
        ylabel="final loss" + (" (log scale)" if log_loss else ""),
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _all_positive(finite: np.ndarray) -> bool:
    """Whether a log scale can show every one of these finite values (there is at least one)."""
    return bool(finite.size) and float(finite.min()) > 0


def _top_of_axis(finite: np.ndarray, log_scale: bool) -> float:
    """A height just above every finite loss, where the diverged lanes are marked."""
    if not finite.size:
        return 1.0
    if log_scale:
        return float(np.max(finite)) * 3
    return float(np.max(finite)) + 0.1 * max(float(np.ptp(finite)), 1e-12)


def _draw_lane_group(
    ax: Any, result: Any, values: np.ndarray, lanes: np.ndarray, colour: str, label: str
) -> None:
    """One faint line per seed through ``lanes``' final losses, and their median in bold,
    each point marked (a lane between two gaps is a point of its own).

    A diverged or pruned lane is a gap in its seed's line and counts as +∞ in the median
    (as in ``best(over_seeds="median")``), so a hyperparameter value where half the seeds
    or more diverged or were pruned has no median point.
    """
    stopped_early = np.isin(result.status, ("diverged", "pruned"))
    per_seed: dict[int, list[tuple[float, float]]] = {}
    for i in lanes:
        loss = result.final_loss[i] if not stopped_early[i] else np.nan
        per_seed.setdefault(int(result.seeds[i]), []).append((values[i], loss))
    for points in per_seed.values():
        points.sort()
        ax.plot(*zip(*points, strict=True), "o-", color=colour, alpha=0.45, lw=0.8, ms=3.5)
    x_values = np.unique(values[lanes])
    medians = []
    for x in x_values:
        at_x = lanes[values[lanes] == x]
        losses = np.where(stopped_early[at_x], np.inf, result.final_loss[at_x])
        medians.append(np.median(losses))
    medians = np.where(np.isfinite(medians), medians, np.nan)
    ax.plot(
        x_values,
        medians,
        "o-",
        color=colour,
        lw=2.2,
        ms=3.5,
        label=("median over seeds" + (f" ({label})" if label else "")),
    )


def sweep_heatmap(result: Any, *, title: str | None = None) -> Figure:
    """Recorded loss of every lane (rows) at every recorded update (columns).

    The colour scale is logarithmic when every loss shown is positive, linear otherwise.
    Diverged lanes show as blank after the update they diverged at, and lanes pruned by
    :class:`jaxgd.SuccessiveHalving` after the update they stopped at.
    """
    losses = np.asarray(result.losses, np.float64)
    if losses.ndim != 2 or losses.shape[0] != result.n_lanes:
        raise ValueError(
            "sweep_heatmap draws a SweepResult (losses of shape [lanes, records]); for one "
            "run's FitResult draw loss_curves."
        )
    steps = np.arange(losses.shape[1]) * result.record_every
    last_run = np.where(result.status == "diverged", result.diverged_at, result.steps)
    stopped = np.isin(result.status, ("diverged", "pruned"))[:, None]
    after_stop = stopped & (steps[None, :] > np.asarray(last_run)[:, None])
    shown = np.where(np.isfinite(losses) & ~after_stop, losses, np.nan)
    fig = Figure(figsize=(7.2, 4.6), layout="constrained")
    ax = fig.add_subplot()
    kept = shown[result.status != "diverged"]
    finite = kept[np.isfinite(kept)] if np.isfinite(kept).any() else shown[np.isfinite(shown)]
    log_scale = _all_positive(finite)
    if not finite.size:
        norm = None
    elif log_scale:
        norm = LogNorm(vmin=finite.min(), vmax=finite.max())
    else:
        norm = Normalize(vmin=finite.min(), vmax=finite.max())
    cmap = matplotlib.colormaps["magma"].with_extremes(over="tab:cyan", bad="white")
    image = ax.imshow(
        shown,
        aspect="auto",
        interpolation="nearest",
        cmap=cmap,
        norm=norm,
        extent=(steps[0], steps[-1] + result.record_every, result.n_lanes - 0.5, -0.5),
    )
    colorbar = fig.colorbar(image, ax=ax, format="%.3g", extend="max")
    colorbar.set_label("loss (log scale)" if log_scale else "loss")
    ax.set(
        title=title or f"Loss of every lane ({result.n_lanes} lanes)",
        xlabel="update\n(cyan: above the range of the non-diverged lanes; white: after a lane "
        "diverged or was pruned)",
    )
    _label_configurations(ax, result)
    return fig


MAX_ROW_LABELS = 24


def _label_configurations(ax: Any, result: Any) -> None:
    """Label the heatmap's rows by their hyperparameters (at most MAX_ROW_LABELS labels, evenly
    spaced), one label per configuration at the middle of its seeds' lanes, with a thin line
    between configurations when each has several seeds."""
    names = list(result.hyperparameters)
    configs: dict[tuple, list[int]] = {}
    for lane in range(result.n_lanes):
        configs.setdefault(tuple(result.hyperparameters[n][lane] for n in names), []).append(lane)
    if not names:
        ax.set_ylabel("lane (one per seed)")
        return
    every = max(1, math.ceil(len(configs) / MAX_ROW_LABELS))
    shown = list(configs.items())[::every]
    ax.set_yticks(
        [float(np.mean(lanes)) for _, lanes in shown],
        [
            ", ".join(f"{_name(n)} = {_short(v)}" for n, v in zip(names, c, strict=True))
            for c, _ in shown
        ],
        fontsize=7,
    )
    per_config = result.n_lanes / len(configs)
    if per_config > 1:
        for lanes in configs.values():
            ax.axhline(max(lanes) + 0.5, color="white", lw=0.4)
    seeds = f"{per_config:g} seeds each, " if per_config > 1 else ""
    sparse = f"; one label in {every}" if every > 1 else ""
    ax.set_ylabel(f"configuration ({seeds}{len(configs)} in all{sparse})")


def _name(hyperparameter: str) -> str:
    """The symbol of the common hyperparameters in the notes (α, β), else the name."""
    return {"learning_rate": "α", "momentum": "β"}.get(hyperparameter, hyperparameter)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, (float, np.floating)) else str(value)
