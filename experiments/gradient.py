"""Topic 8: the gradient, partial derivatives and the chain rule, evaluated by jax.grad.

The notes define the gradient as the vector of partial derivatives,
∇F(x, y) = (∂F/∂x, ∂F/∂y), the direction in which F changes fastest, and
work three examples by hand:

- F(x, y) = x² + y²  →  ∇F = (2x, 2y);
- f(x, y) = x³ + y²  →  ∂f/∂x = 3x², ∂f/∂y = 2y;
- y = 8z³ + z² + 5 with z = x⁵ + 9  →  dy/dx = dy/dz · dz/dx = (24z² + 2z)·5x⁴.

Here `jax.grad` evaluates each at many points and is compared with the hand-derived
forms; "fastest change" is checked without jax.grad, by finite differences along
360 directions; and gradient descent steps against the arrows.
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
from jaxgd.plots import loss_grid
from jaxgd.report import Experiment

GRID = np.linspace(-2.0, 2.0, 21)  # points where the gradients are compared
DIRECTIONS = 360  # directions tried at each point for "fastest change"
STEP = 1e-6  # finite-difference step (float64)
RATE, STEPS, START = 0.1, 12, (1.6, -1.2)  # GD on x² + y², drawn against the arrows


def bowl(v, *_):
    """F(x, y) = x² + y²."""
    return v[0] ** 2 + v[1] ** 2


def cubic(v, *_):
    """f(x, y) = x³ + y²."""
    return v[0] ** 3 + v[1] ** 2


def nested(x):
    """y = 8z³ + z² + 5 with z = x⁵ + 9."""
    z = x**5 + 9
    return 8 * z**3 + z**2 + 5


def by_hand(name: str, points: np.ndarray) -> np.ndarray:
    """The notes' hand-derived derivatives (NumPy)."""
    x, y = points[:, 0], points[:, 1]
    if name == "bowl":
        return np.stack([2 * x, 2 * y], axis=1)
    return np.stack([3 * x**2, 2 * y], axis=1)


def chain_rule_by_hand(x: np.ndarray) -> np.ndarray:
    z = x**5 + 9
    return (24 * z**2 + 2 * z) * 5 * x**4


def steepest_direction(f, point: np.ndarray) -> tuple[float, float]:
    """Without jax.grad: the direction (radians) of the largest central finite-difference
    slope of ``f`` at ``point`` among DIRECTIONS unit vectors, and that slope."""
    angles = 2 * np.pi * np.arange(DIRECTIONS) / DIRECTIONS
    units = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    ahead, behind = point[:, None] + STEP * units.T, point[:, None] - STEP * units.T
    values = (f(ahead) - f(behind)) / (2 * STEP)  # f on NumPy arrays [2, DIRECTIONS]
    best = int(np.argmax(values))
    return float(angles[best]), float(values[best])


def run(out_dir: Path, quick: bool = False) -> dict:
    with jax.enable_x64(True):
        return _run(out_dir, quick)


def _run(out_dir: Path, quick: bool) -> dict:
    exp = Experiment(
        "gradient",
        out_dir,
        title="Gradient, partial derivatives and the chain rule",
        topics="topic 8: ∇F = (∂F/∂x, ∂F/∂y), partial derivatives, the chain rule",
    )
    gx, gy = np.meshgrid(GRID, GRID)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    errors = {}
    for name, f in (("bowl", bowl), ("cubic", cubic)):
        auto = np.asarray(jax.vmap(jax.grad(f))(jnp.asarray(points)))
        expected = by_hand(name, points)
        errors[name] = float(np.max(np.abs(auto - expected)))
    xs = np.linspace(-1.2, 1.2, 241)
    chain_auto = np.asarray(jax.vmap(jax.grad(nested))(jnp.asarray(xs)))
    chain_expected = chain_rule_by_hand(xs)
    errors["chain"] = float(
        np.max(np.abs(chain_auto - chain_expected) / (1 + np.abs(chain_expected)))
    )
    exp.claim(
        f"jax.grad equals the notes' hand-derived derivatives at every point "
        f"({len(points)} points of [−2, 2]² for the two gradients, {len(xs)} of [−1.2, 1.2] "
        "for the chain rule; float64)",
        f"∇(x² + y²) vs (2x, 2y): {errors['bowl']:.1e}; ∇(x³ + y²) vs (3x², 2y): "
        f"{errors['cubic']:.1e}; dy/dx vs (24z² + 2z)·5x⁴: {errors['chain']:.1e} (relative)",
        "largest difference < 1e-12",
        max(errors.values()) < 1e-12,
    )

    # "The direction in which F changes fastest", measured without jax.grad.
    rng = np.random.RandomState(8)
    probes = rng.uniform(-2, 2, (4 if quick else 12, 2))
    angle_gap, slope_gap = 0.0, 0.0
    for f in (bowl, cubic):
        for point in probes:
            angle, slope = steepest_direction(f, point)
            g = np.asarray(jax.grad(f)(jnp.asarray(point)))
            gap = abs((angle - np.arctan2(g[1], g[0]) + np.pi) % (2 * np.pi) - np.pi)
            angle_gap = max(angle_gap, float(np.degrees(gap)))
            slope_gap = max(slope_gap, abs(slope / np.linalg.norm(g) - 1))
    exp.claim(
        "the gradient points where the function rises fastest, and its length is that rate: "
        f"at {len(probes)} random points of each function, the steepest of {DIRECTIONS} "
        "directions by finite differences (no jax.grad) against jax.grad's direction",
        f"largest angle {angle_gap:.2f}°, largest relative slope difference {slope_gap:.1e}",
        f"angle ≤ {360 / DIRECTIONS / 2:g}° (half the spacing of the directions); slope "
        "within 1e-4",
        angle_gap <= 360 / DIRECTIONS / 2 + 1e-9 and slope_gap < 1e-4,
    )

    result = jaxgd.fit(bowl, jnp.asarray(START), None, sgd(RATE), steps=STEPS, record_params=True)
    path = np.concatenate([np.asarray(result.param_history), np.asarray(result.params)[None]])
    exp.figure(
        gradient_figure(path, xs, chain_auto, chain_expected),
        "gradient.png",
        "left and middle: the gradient from jax.grad as arrows (they point uphill, across the "
        "contours) and GD's steps against them; right: the chain-rule derivative from jax.grad "
        "(line) and from the hand-derived formula (dots)",
    )
    exp.text(
        "The gradient collects the partial derivatives: ∂F/∂x is the slope of F when only x "
        "moves, ∂F/∂y when only y moves. As a vector it points where F rises fastest, across "
        "the contour lines, and its length is that rate of rise; checked here without any "
        f"derivative formula, by trying {DIRECTIONS} directions at random points. Gradient "
        f"descent steps the other way: on F = x² + y² from {START} with α = {RATE}, "
        f"θ ← θ − α·(2x, 2y) = {1 - 2 * RATE:g}·θ, a straight line to the minimum."
    )
    exp.text(
        "The chain rule: y depends on x only through z, so dy/dx = dy/dz · dz/dx = "
        "(24z² + 2z)·5x⁴. `jax.grad` applies the same rule mechanically, through every "
        "intermediate value: it is what backpropagation does in the worked example (topic 9), "
        "where each weight's gradient is a product of such factors."
    )
    return exp.finish()


def gradient_figure(path, xs, chain_auto, chain_expected) -> Figure:
    """The two gradient fields with GD's path on the bowl, and the chain-rule derivative."""
    fig = Figure(figsize=(14.0, 4.5), layout="constrained")
    axes = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.1]})
    arrows = np.linspace(-2, 2, 9)
    ax_, ay_ = np.meshgrid(arrows, arrows)
    at = jnp.asarray(np.stack([ax_.ravel(), ay_.ravel()], axis=1))
    panels = (
        (axes[0], bowl, "F(x, y) = x² + y²:  ∇F = (2x, 2y)"),
        (axes[1], cubic, "f(x, y) = x³ + y²:  ∇f = (3x², 2y)"),
    )
    contour_grid = np.linspace(-2.2, 2.2, 200)
    for ax, f, title in panels:
        z = loss_grid(f, contour_grid, contour_grid)
        ax.contour(contour_grid, contour_grid, z, levels=15, colors="0.6", linewidths=0.6)
        g = np.asarray(jax.vmap(jax.grad(f))(at))
        ax.quiver(ax_, ay_, g[:, 0], g[:, 1], color="tab:blue", angles="xy", width=0.004)
        ax.set(title=title, xlabel="x", ylabel="y", aspect="equal", xlim=(-2.2, 2.2))
        ax.set_ylim(-2.2, 2.2)
    axes[0].plot(*path.T, "-o", color="tab:red", ms=3, lw=1.2,
                 label=f"GD: θ ← θ − {RATE}·∇F, {STEPS} steps")  # fmt: skip
    axes[0].plot([], [], color="tab:blue", label="∇F from jax.grad (uphill)")
    axes[0].legend(fontsize=8, loc="lower left")
    ax = axes[2]
    ax.plot(xs, chain_auto, "-", color="tab:blue", lw=2, label="jax.grad(y)(x)")
    ax.plot(xs[::12], chain_expected[::12], "o", color="tab:red", ms=5,
            label="(24z² + 2z)·5x⁴, z = x⁵ + 9")  # fmt: skip
    ax.set(
        title="Chain rule: y = 8z³ + z² + 5, z = x⁵ + 9",
        xlabel="x",
        ylabel="dy/dx",
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper center")
    return fig


if __name__ == "__main__":
    run(Path(sys.argv[1] if len(sys.argv) > 1 else "results/gradient"))
