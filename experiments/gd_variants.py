"""Topic 10: epoch and batch; batch GD vs stochastic GD vs mini-batch GD.

An *epoch* is one pass over the m training examples. Batch GD computes the
gradient from all m at every update (one update per epoch), stochastic GD
from one example (m updates per epoch), mini-batch GD from k examples
(m/k updates per epoch). Géron (Hands-On ML, ch. 4, fig. 4-11) runs the three
on his 100 points: batch GD (η = 0.1, 1000 iterations) stops at the optimum;
SGD (one random example per update, η = 5/(t + 50), 50 epochs) and mini-batch
GD (k = 20, η = 200/(t + 1000), 50 epochs) end near it and keep wandering
around it. Here the same three runs are drawn, and every row of the notes'
comparison table is measured on the same problem. Which examples each update
uses is read off fit's own steps and checked against the definitions (and, for
sampling with replacement, against 1 − (1 − 1/m)^m); the first 20 SGD steps are
drawn over the data (Géron's fig. 4-10) and each is checked to be his
one-example update. The cost rows (XLA's flops and buffers of one update) are
shown but not checked: they grow with the batch by construction. Wall-clock
times are shown, measured on this machine, but no verdict reads them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

import jaxgd
from jaxgd.optim import apply_updates, sgd
from jaxgd.plots import loss_grid
from jaxgd.problems import (
    FixedStart,
    geron_linear,
    geron_linear_data,
    geron_theta0,
    linear_mse,
    normal_equation,
    wells_1d,
)
from jaxgd.report import Experiment, median_seconds
from jaxgd.schedules import inverse_time_schedule

# Géron's three runs (notebook 04_training_linear_models).
BATCH_ETA, BATCH_EPOCHS = 0.1, 1000
EPOCHS = 50
SGD_T0, SGD_T1 = 5.0, 50.0
MINI_T0, MINI_T1, MINI_K = 200.0, 1000.0, 20
GERON_SGD = (4.21076011, 2.74856079)  # his θ after SGD (NumPy's random stream, not ours)
GERON_MINI = (4.25214635, 2.7896408)  # his θ after mini-batch GD
ZOOM = ((2.5, 4.5), (2.3, 3.9))  # the window of Géron's fig. 4-11
# The three variants as fit() settings: batch size and how batches are drawn.
VARIANTS = {
    "batch GD": {"batch_size": None},
    "stochastic GD": {"batch_size": 1, "sampling": "replacement"},
    "mini-batch GD": {"batch_size": MINI_K},
}
STYLES = {"batch GD": "b-o", "stochastic GD": "r-s", "mini-batch GD": "g-+"}  # Géron's
# The same constant rate for all three, to compare their noise alone.
SAME_ETA = 0.05
# Wall clock, information only: the median of 5 whole calls of the same number of updates.
TIMING_REPEATS, TIMED_UPDATES = 5, 25_000
# Escaping a local minimum: the 1-D wells plus a zero-mean random tilt per example.
TILT_STD, WELLS_ETA, WELLS_STEPS, WELLS_RUNS, LOCAL_MIN = 2.0, 0.1, 2000, 128, 1.5
WELLS = wells_1d().loss_fn
# Which examples each update uses, read off fit's own steps over this many epochs.
VISIT_EPOCHS = 50
FIRST_STEPS = 20  # Géron's fig. 4-10


def geron_start(key):
    """Every lane starts at Géron's θ (np.random.seed(42); randn(2, 1))."""
    return geron_theta0()


def sgd_inverse_time(t0, t1):
    """SGD with Géron's learning schedule η_t = t0 / (t + t1) (t0, t1 sweepable numbers)."""
    return sgd(inverse_time_schedule(t0, t1))


def theta_of(params) -> np.ndarray:
    """Géron's θ = (θ₀, θ₁) = (intercept, slope): one row per leading index."""
    return np.stack([np.asarray(params["b"]), np.asarray(params["w"])[..., 0]], axis=-1)


def flat_gradient(params, x, y) -> jnp.ndarray:
    grads = jax.grad(linear_mse)(params, x, y)
    return jnp.concatenate([grads["b"][None], grads["w"]])


@jax.jit
def example_gradients(params, x, y):
    """The gradient of the MSE on each single example (one row per example).

    The MSE of a batch is the mean over its examples, so the gradient on a batch B
    is exactly the mean of these rows over B.
    """
    return jax.vmap(lambda xi, yi: flat_gradient(params, xi[None], yi[None]))(x, y)


def tilted_wells(params, x, y):
    """The 1-D wells f(θ) plus a tilt x̄·θ: the batch mean x̄ of zero-mean slopes.

    On all the data x̄ = 0 and this is f itself; on one example the gradient is
    f'(θ) + xᵢ, i.e. f' plus noise, as a stochastic gradient is.
    """
    return WELLS(params) + jnp.mean(x[:, 0]) * params[0]


def update_cost(params, x, y, k: int) -> tuple[float, int]:
    """XLA's cost of one compiled update on k examples, the step fit takes (the loss and its
    gradient, then θ − η·g): its flops, and the bytes of its buffers (inputs + temps)."""
    optimizer = sgd(SAME_ETA)

    def one_update(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(linear_mse)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return loss, apply_updates(params, updates), opt_state

    compiled = jax.jit(one_update).lower(params, optimizer.init(params), x[:k], y[:k]).compile()
    stats = compiled.memory_analysis()
    return (
        float(compiled.cost_analysis()["flops"]),
        int(stats.argument_size_in_bytes + stats.temp_size_in_bytes),
    )


def visit_loss(w, x, y):
    """mean over the batch of x·w with x a one-hot row per example: ∂/∂wᵢ = (times example i
    is in the batch) / (batch size), so fit's steps with sgd(1) spell out which examples
    each update used."""
    return jnp.mean(x @ w)


def visits_per_epoch(name: str, m: int, epochs: int) -> tuple[np.ndarray, np.ndarray]:
    """How often fit's variant ``name`` uses each example: ``[epochs, m]`` counts per epoch,
    and ``[updates, m]`` counts per update (read from the steps of ``visit_loss``)."""
    eye = jnp.eye(m, dtype=jnp.float32)
    result = jaxgd.fit(
        visit_loss,
        jnp.zeros(m, jnp.float32),
        (eye, jnp.zeros(m, jnp.float32)),
        sgd(1.0),
        epochs=epochs,
        key=jax.random.key(11),
        record_params=True,
        **VARIANTS[name],
    )
    w = np.concatenate([np.asarray(result.param_history), np.asarray(result.params)[None]])
    batch = m if VARIANTS[name]["batch_size"] is None else VARIANTS[name]["batch_size"]
    per_update = np.rint(-np.diff(w, axis=0) * batch).astype(int)
    return per_update.reshape(epochs, -1, m).sum(axis=1), per_update


def one_example_steps(path: np.ndarray, x64, y64, t0: float, t1: float) -> np.ndarray:
    """For each step θ_t → θ_(t+1) of an SGD path, the distances from θ_(t+1) to the nearest
    and the second-nearest of Géron's one-example updates θ_t − η_t·2x̃ᵢ(x̃ᵢ·θ_t − yᵢ),
    η_t = t0/(t + t1), over all examples i (x̃ᵢ = (1, xᵢ); NumPy, float64): ``[steps, 2]``."""
    xb = np.concatenate([np.ones((x64.shape[0], 1)), x64], axis=1)
    gaps = []
    for t in range(path.shape[0] - 1):
        theta = path[t].astype(np.float64)
        candidates = theta - t0 / (t + t1) * 2 * xb * (xb @ theta - y64)[:, None]
        gaps.append(np.sort(np.linalg.norm(candidates - path[t + 1], axis=1))[:2])
    return np.asarray(gaps)


def run(out_dir: Path, quick: bool = False) -> dict:
    exp = Experiment(
        "gd-variants",
        out_dir,
        title="Batch, stochastic and mini-batch gradient descent",
        topics="topic 10: epoch, batch; batch GD vs SGD vs mini-batch GD; the comparison table",
    )
    n_seeds = 8 if quick else 32
    problem = geron_linear()
    x, y = problem.data
    m = x.shape[0]
    x64, y64 = geron_linear_data()
    exact = normal_equation(x64, y64)
    theta_exact = np.array([exact["b"], exact["w"][0]])
    optimum_params = {"w": jnp.asarray(exact["w"], x.dtype), "b": jnp.asarray(exact["b"], x.dtype)}
    optimum_loss = float(problem.loss(optimum_params))

    def train(name, optimizer, epochs):
        """One run of a variant from Géron's start, every θ recorded. Runs of the same
        variant and length share one compiled program (the rate is an argument)."""
        return jaxgd.fit(
            linear_mse,
            geron_theta0(),
            problem.data,
            optimizer,
            epochs=epochs,
            key=jax.random.key(42),
            record_params=True,
            **VARIANTS[name],
        )

    # 1. Géron's three runs: batch GD once; SGD and mini-batch GD over seeds (one sweep each),
    # the path of seed 0 drawn.
    batch = train("batch GD", sgd(BATCH_ETA), BATCH_EPOCHS)
    paths = {
        "batch GD": np.concatenate([theta_of(batch.param_history), theta_of(batch.params)[None]])
    }
    epoch_losses = {"batch GD": np.asarray(batch.epoch_losses, np.float64)}
    updates_per_epoch = {"batch GD": int(batch.steps) // BATCH_EPOCHS}
    spread = {}
    for name, (t0, t1) in (
        ("stochastic GD", (SGD_T0, SGD_T1)),
        ("mini-batch GD", (MINI_T0, MINI_T1)),
    ):
        result = jaxgd.sweep(
            linear_mse,
            geron_start,
            problem.data,
            sgd_inverse_time,
            grid={"t0": [t0], "t1": [t1]},
            seeds=n_seeds,
            epochs=EPOCHS,
            key=jax.random.key(0),
            record_params=True,
            **VARIANTS[name],
        )
        ends = theta_of(result.params)
        paths[name] = np.concatenate([theta_of(result.param_history)[0], ends[:1]])
        epoch_losses[name] = np.asarray(result.epoch_losses[0], np.float64)
        updates_per_epoch[name] = int(result.steps[0]) // EPOCHS
        spread[name] = np.linalg.norm(ends - theta_exact, axis=1)
    errors = {name: float(np.linalg.norm(p[-1] - theta_exact)) for name, p in paths.items()}
    # θ's wandering: the largest distance from θ_normal over the last 10 epochs.
    wander = {
        name: float(np.linalg.norm(p[-10 * updates_per_epoch[name] :] - theta_exact, axis=1).max())
        for name, p in paths.items()
    }
    # Whole-data loss after every update, from the recorded θ's.
    path_losses = {
        name: np.asarray(
            jax.vmap(lambda t: linear_mse({"w": t[1:], "b": t[0]}, x, y))(jnp.asarray(p, x.dtype))
        )
        for name, p in paths.items()
    }
    # A rise counts when larger than float32 rounding of the loss (about 1e-7 of it).
    rises = {
        name: float(np.mean(np.diff(losses) > 1e-6 * losses[1:]))
        for name, losses in path_losses.items()
    }
    close = {name: losses <= 1.01 * optimum_loss for name, losses in epoch_losses.items()}
    within = {name: int(np.argmax(c)) + 1 if c.any() else None for name, c in close.items()}
    last_std = {name: float(np.std(losses[-10:])) for name, losses in epoch_losses.items()}

    # Which examples fit's updates use, epoch by epoch (read off its steps on visit_loss).
    per_epoch_updates, once = {}, {}
    for name in VARIANTS:
        counts, per_update = visits_per_epoch(name, m, VISIT_EPOCHS)
        per_epoch_updates[name] = per_update.shape[0] // VISIT_EPOCHS
        once[name] = int(np.all(counts == 1, axis=1).sum())
        if name == "mini-batch GD":
            # an epoch's order: which batch each example fell in
            orders = np.argmax(per_update.reshape(VISIT_EPOCHS, -1, m), axis=1)
            distinct_orders = len({tuple(order) for order in orders})
        if name == "stochastic GD":
            sgd_distinct = float(np.mean(counts > 0))
    replacement_theory = 1 - (1 - 1 / m) ** m

    # 2. (full runs) The same constant rate for all three, 50 epochs: their noise alone.
    same_rate = {
        name: np.asarray(train(name, sgd(SAME_ETA), EPOCHS).epoch_losses, np.float64)
        for name in (VARIANTS if not quick else ())
    }
    same_std = {name: float(np.std(losses[-10:])) for name, losses in same_rate.items()}
    # Climb: the sum of the epoch-to-epoch increases of the loss over the last 10 epochs
    # (0 for a monotone descent, however fast; > 0 only when the loss goes back up).
    same_climb = {
        name: float(np.sum(np.maximum(np.diff(losses[-11:]), 0.0)))
        for name, losses in same_rate.items()
    }

    # 3. The cost of one update and of one epoch, from XLA's count of the compiled update
    # (flops, and its buffers: the memory of one update), and the batch itself.
    batch_sizes = {"batch GD": m, "stochastic GD": 1, "mini-batch GD": MINI_K}
    data_bytes = {name: k * (x.shape[1] + 1) * x.dtype.itemsize for name, k in batch_sizes.items()}
    costs = {name: update_cost(geron_theta0(), x, y, k) for name, k in batch_sizes.items()}
    update_flops = {name: flops for name, (flops, _) in costs.items()}
    xla_bytes = {name: nbytes for name, (_, nbytes) in costs.items()}
    epoch_flops = {name: updates_per_epoch[name] * update_flops[name] for name in VARIANTS}
    # Wall clock (full runs), information only: the median of whole calls of TIMED_UPDATES
    # updates at η = SAME_ETA, divided by the updates (so the fixed cost of a call is included,
    # the same share for every variant). Measured on this machine, not checked: no verdict
    # reads it.
    timed_epochs = {name: TIMED_UPDATES // updates_per_epoch[name] for name in VARIANTS}
    per_update = {}
    for name in VARIANTS if not quick else ():

        def long_run(name=name):
            return train(name, sgd(SAME_ETA), timed_epochs[name])

        jax.block_until_ready(long_run())  # compiles
        per_update[name] = median_seconds(long_run, TIMING_REPEATS) / TIMED_UPDATES
    per_epoch = {name: per_update[name] * updates_per_epoch[name] for name in per_update}

    # 4. Gradient noise at Géron's start θ₀ (and at θ_normal, where the full gradient is 0).
    n_permutations = 2000
    rng = np.random.RandomState(3)
    index = {
        "batch GD": np.arange(m)[None],
        "stochastic GD": np.arange(m)[:, None],  # every example once: the exact distribution
        # the batches of n_permutations shuffled epochs
        "mini-batch GD": np.concatenate(
            [rng.permutation(m).reshape(-1, MINI_K) for _ in range(n_permutations)]
        ),
    }

    def batch_gradients(point) -> dict[str, np.ndarray]:
        """Every batch's gradient at `point`, per variant (one row per batch)."""
        per_example = np.asarray(example_gradients(point, x, y), np.float64)
        return {name: per_example[idx].mean(axis=1) for name, idx in index.items()}

    def mean_squared_error(grads) -> dict[str, float]:
        """E‖g_B − g‖² over each variant's batches; g = the batch GD gradient."""
        full = grads["batch GD"][0]
        return {n: float(np.mean(np.sum((g - full) ** 2, axis=1))) for n, g in grads.items()}

    start_grads = batch_gradients(geron_theta0())
    full_norm2 = float(np.sum(start_grads["batch GD"][0] ** 2))
    noise = {n: v / full_norm2 for n, v in mean_squared_error(start_grads).items()}
    noise_at_optimum = mean_squared_error(batch_gradients(optimum_params))
    # Sampling k of m without replacement: E‖g_B − g‖² = (σ²/k)·(m − k)/(m − 1).
    sigma2 = noise["stochastic GD"]
    mini_theory = sigma2 / MINI_K * (m - MINI_K) / (m - 1)

    # 5. Escaping a local minimum (full runs only): the 1-D wells with per-example noise.
    ends, escaped, stayed = {}, {}, {}
    if not quick:
        tilts = np.random.RandomState(0).randn(m)
        tilts = (tilts - tilts.mean()) / tilts.std() * TILT_STD
        tilt_data = (jnp.asarray(tilts[:, None], x.dtype), jnp.zeros(m, x.dtype))
        for name, settings in VARIANTS.items():
            result = jaxgd.sweep(
                tilted_wells,
                FixedStart((LOCAL_MIN,)),
                tilt_data,
                sgd,
                grid={"learning_rate": [WELLS_ETA]},
                seeds=WELLS_RUNS,
                steps=WELLS_STEPS,
                key=jax.random.key(5),
                record_every=WELLS_STEPS,
                **{**settings, "sampling": "replacement"},
            )
            ends[name] = np.asarray(result.params)[:, 0]
            escaped[name] = float(np.mean(np.abs(ends[name] + LOCAL_MIN) < 0.5))
            stayed[name] = float(np.mean(np.abs(ends[name] - LOCAL_MIN) < 0.5))

    # ---------------------------------------------------------------- claims
    noisy = ("stochastic GD", "mini-batch GD")
    exp.claim(
        f"in every one of {VISIT_EPOCHS} epochs batch GD ({per_epoch_updates['batch GD']} "
        f"update) and mini-batch GD ({per_epoch_updates['mini-batch GD']} updates of "
        f"{MINI_K}, a new order each epoch) use every example exactly once; SGD with "
        f"replacement ({per_epoch_updates['stochastic GD']} draws) uses on average "
        "1 − (1 − 1/m)^m of them, some twice",
        f"exactly once: batch {once['batch GD']}/{VISIT_EPOCHS} epochs, mini-batch "
        f"{once['mini-batch GD']}/{VISIT_EPOCHS} ({distinct_orders} distinct epoch orders); "
        f"SGD: {100 * sgd_distinct:.1f}% of the examples per epoch",
        f"{VISIT_EPOCHS}/{VISIT_EPOCHS} and {VISIT_EPOCHS}/{VISIT_EPOCHS}, "
        f"{VISIT_EPOCHS} orders; {100 * replacement_theory:.1f}% ± 2 points",
        once["batch GD"] == once["mini-batch GD"] == VISIT_EPOCHS
        and distinct_orders == VISIT_EPOCHS
        and abs(sgd_distinct - replacement_theory) < 0.02
        and per_epoch_updates == {"batch GD": 1, "stochastic GD": m, "mini-batch GD": m // MINI_K},
    )
    exp.claim(
        f"batch GD (η = {BATCH_ETA}, {BATCH_EPOCHS} epochs) stops at the normal-equation θ",
        f"‖θ − θ_normal‖ = {errors['batch GD']:.1e}; at most {wander['batch GD']:.1e} "
        "away over the last 10 epochs",
        "< 1e-4 (float32)",
        wander["batch GD"] < 1e-4,
    )
    for name in noisy:
        seeds_text = (
            f"; over {n_seeds} seeds median {np.median(spread[name]):.3f}, "
            f"max {spread[name].max():.3f}"
            if spread
            else ""
        )
        exp.claim(
            f"{name} ({EPOCHS} epochs, Géron's schedule) ends close to θ_normal, not on it, "
            "and keeps moving around it",
            f"‖θ − θ_normal‖ = {errors[name]:.3f}; up to {wander[name]:.3f} away over the "
            f"last 10 epochs{seeds_text}",
            "< 0.1 (this run" + (" and the median" if spread else "") + "), > 1e-3",
            1e-3 < errors[name] < 0.1 and (not spread or np.median(spread[name]) < 0.1),
        )
    exp.claim(
        "gradient noise E‖g_B − g‖² of mini-batches of shuffled epochs equals the closed form "
        "of sampling k of m without replacement, σ²/k·(m − k)/(m − 1) (σ²: one example's)",
        f"{noise['mini-batch GD']:.4g} over {n_permutations * m // MINI_K} batches "
        f"(relative to ‖g‖²)",
        f"{mini_theory:.4g} within 10% (with replacement it would be "
        f"{sigma2 / MINI_K:.4g}, {100 * ((m - 1) / (m - MINI_K) - 1):.0f}% more)",
        abs(noise["mini-batch GD"] / mini_theory - 1) < 0.1,
    )
    exp.claim(
        "batch GD's whole-data loss never rises (beyond rounding); SGD's and mini-batch's do",
        ", ".join(f"{n}: {100 * rises[n]:.0f}% of updates" for n in VARIANTS),
        "batch 0%, the others > 10%",
        rises["batch GD"] == 0.0 and min(rises[n] for n in noisy) > 0.1,
    )
    exp.claim(
        "speed per epoch of progress: SGD gets within 1% of the optimal MSE in the fewest epochs",
        ", ".join(f"{n}: {within[n]}" for n in VARIANTS),
        "SGD < mini-batch < batch",
        None not in within.values()
        and within["stochastic GD"] < within["mini-batch GD"] < within["batch GD"],
    )
    work_ratio = update_flops["batch GD"] / update_flops["stochastic GD"]
    if same_rate:
        exp.claim(
            f"at one constant η = {SAME_ETA}: the loss climbs back up most for SGD, less for "
            "mini-batch, never for batch GD (sum of epoch-to-epoch rises, last 10 epochs)",
            " > ".join(
                f"{same_climb[n]:.2g}" for n in ("stochastic GD", "mini-batch GD", "batch GD")
            ),
            "strict order, batch 0",
            same_climb["stochastic GD"] > same_climb["mini-batch GD"] > same_climb["batch GD"] == 0,
        )
    if escaped:
        exp.claim(
            f"from the local minimum of the noisy 1-D wells only SGD's noise escapes "
            f"({WELLS_RUNS} runs of {WELLS_STEPS} updates each)",
            ", ".join(f"{n}: {100 * escaped[n]:.0f}%" for n in VARIANTS),
            "batch 0%, SGD > 25%",
            escaped["batch GD"] == 0.0 and escaped["stochastic GD"] > 0.25,
        )

    first = paths["stochastic GD"][: FIRST_STEPS + 1]
    gaps = one_example_steps(first, x64, y64, SGD_T0, SGD_T1)
    exp.claim(
        f"each of SGD's first {FIRST_STEPS} steps (fig. 4-10) is Géron's one-example update "
        f"θ ← θ − η_t·2x̃ᵢ(x̃ᵢ·θ − yᵢ) with η_t = {SGD_T0:g}/(t + {SGD_T1:g}) for some example i "
        "(recomputed in NumPy over all 100)",
        f"largest distance to the nearest such update {gaps[:, 0].max():.1e}; the next-nearest "
        f"example's update at least {gaps[:, 1].min():.1e} away",
        "< 1e-5 at every step (float32 rounding of θ ≈ 4 is 5e-7)",
        bool(gaps[:, 0].max() < 1e-5),
    )

    # ---------------------------------------------------------------- figures
    def loss_at(point):
        return linear_mse({"w": point[1:], "b": point[0]}, x, y)

    fig = Figure(figsize=(12, 5.0), layout="constrained")
    axes = fig.subplots(1, 2)
    windows = (((-0.5, 5.0), (-0.5, 4.0)), ZOOM)
    for ax, (xlim, ylim) in zip(axes, windows, strict=True):
        xs, ys = np.linspace(*xlim, 200), np.linspace(*ylim, 200)
        z = loss_grid(loss_at, xs, ys)
        ax.contour(
            xs, ys, z, levels=np.geomspace(z.min(), z.max(), 20), colors="0.6", linewidths=0.5
        )
        for name in ("stochastic GD", "mini-batch GD", "batch GD"):
            widths = {"batch GD": 3, "stochastic GD": 1, "mini-batch GD": 2}
            ax.plot(*paths[name].T, STYLES[name], lw=widths[name], ms=3, label=name, alpha=0.8)
        ax.plot(*theta_exact, "*", color="gold", mec="k", ms=16, label="normal equation", zorder=5)
        ax.set(xlim=xlim, ylim=ylim, xlabel="θ₀ (intercept)", ylabel="θ₁ (slope)")
    axes[0].set_title("From Géron's start θ = (0.50, −0.14): the whole paths")
    axes[1].set_title("Zoomed near the optimum, as Géron's fig. 4-11")
    axes[1].legend(loc="upper left", fontsize=9)
    fig.suptitle(
        f"θ paths: batch GD (η = {BATCH_ETA}, {BATCH_EPOCHS} updates), SGD "
        f"(η = {SGD_T0:g}/(t + {SGD_T1:g}), {EPOCHS} epochs), mini-batch k = {MINI_K} "
        f"(η = {MINI_T0:g}/(t + {MINI_T1:g}), {EPOCHS} epochs)"
    )
    exp.figure(
        fig,
        "paths.png",
        "the three paths in parameter space (grey: MSE contours); right: zoom like Géron's "
        "fig. 4-11 — batch GD stops at the optimum, SGD and mini-batch GD wander around it",
    )

    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(x64[:, 0], y64, "b.", ms=5, label="Géron's 100 points")
    line_x = np.array([0.0, 2.0])
    for t, (b, w) in enumerate(first[:FIRST_STEPS]):
        style = {"color": "r", "ls": "--", "alpha": 1.0} if t == 0 else {"color": "b", "ls": "-"}
        ax.plot(line_x, b + w * line_x, **{"lw": 1, "alpha": 0.3 + 0.6 * t / FIRST_STEPS, **style})
    start = f"({first[0, 0]:.2f}, {first[0, 1]:.2f})".replace("-", "−")
    ax.plot([], [], "r--", lw=1, label=f"the start θ = {start}")
    ax.plot([], [], "b-", lw=1, label=f"after steps 1 … {FIRST_STEPS - 1} (darker: later)")
    ax.set(
        xlim=(0, 2),
        ylim=(0, 15),
        xlabel="x₁",
        ylabel="y",
        title=f"The first {FIRST_STEPS} steps of stochastic GD (Géron's fig. 4-10)",
    )
    ax.legend(loc="upper left", fontsize=8)
    exp.figure(
        fig,
        "sgd_first_steps.png",
        f"the model ŷ = θ₀ + θ₁x₁ before each of SGD's first {FIRST_STEPS} steps (one random "
        f"example each, η_t = {SGD_T0:g}/(t + {SGD_T1:g})): it jumps about, then settles "
        "near the data",
    )

    panels = {"Géron's settings (batch GD for 1000 epochs)": epoch_losses}
    if same_rate:
        panels[f"The same constant η = {SAME_ETA} for all three"] = same_rate
    fig = Figure(figsize=(6 * len(panels), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    for ax, (title, curves) in zip(axes, panels.items(), strict=True):
        for name in VARIANTS:
            excess = curves[name] - optimum_loss
            epochs = np.arange(1, excess.size + 1)
            ax.plot(epochs, np.where(excess > 0, excess, np.nan), STYLES[name][0], label=name)
        ax.axhline(0.01 * optimum_loss, color="k", ls=":", lw=1, label="1% of the optimal MSE")
        ax.set(xscale="log", yscale="log", xlabel="epoch (log scale)", title=title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("whole-data MSE − optimal MSE (log scale)")
    exp.figure(
        fig,
        "epoch_losses.png",
        "whole-data loss above the optimum after each epoch: SGD gets close within a few "
        "epochs, then its noise keeps it above the optimum; batch GD descends smoothly "
        "(down to float32 rounding, about 1e-7)",
    )

    fig = Figure(figsize=(6.4, 5.0), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(*start_grads["stochastic GD"].T, "r.", ms=5, label="one example (SGD): all 100")
    ax.plot(*start_grads["mini-batch GD"][:500].T, "g.", ms=3, alpha=0.5, label="500 mini-batches")
    ax.plot(*start_grads["batch GD"].T, "b*", ms=16, mec="k", label="all the data (batch GD)")
    ax.set(
        xlabel="∂MSE/∂θ₀",
        ylabel="∂MSE/∂θ₁",
        title="The gradient each variant uses at Géron's start θ₀",
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    exp.figure(
        fig,
        "gradient_noise.png",
        "gradient estimates at one θ: one example is far off, a mini-batch of 20 close, all the "
        "data exact; every estimate is unbiased (their mean is the full gradient)",
    )
    if ends:
        fig = Figure(figsize=(6.4, 4.2), layout="constrained")
        ax = fig.add_subplot()
        bins = np.linspace(-9, 9, 91)
        for name in VARIANTS:
            colour = STYLES[name][0]
            ax.hist(ends[name], bins=bins, histtype="step", lw=2, color=colour, label=name)
        marks = (
            (-LOCAL_MIN, "global minimum ", "right"),
            (LOCAL_MIN, " local minimum (start)", "left"),
        )
        for where, label, side in marks:
            ax.axvline(where, color="k", ls=":", lw=1)
            ax.text(where, WELLS_RUNS * 0.5, label, fontsize=8, ha=side)
        ax.set(
            xlabel=f"θ after {WELLS_STEPS} updates (η = {WELLS_ETA})",
            ylabel=f"runs (of {WELLS_RUNS})",
            title="Noisy 1-D wells: where runs started in the local well end",
        )
        ax.legend(fontsize=8, loc="upper right")
        exp.figure(
            fig,
            "local_minimum.png",
            "runs started at the local minimum of the 1-D wells with a random tilt per example: "
            "batch GD stays, SGD's noise carries most runs into the global well",
        )

    # ---------------------------------------------------------------- table and text
    order = list(VARIANTS)

    def cells(values, fmt):
        if not values:
            return "full run only | | "
        return " | ".join(fmt(values[n]) for n in order)

    def times_batch(seconds):
        """A wall clock as a multiple of batch GD's (nan when batch GD's reads 0)."""
        return seconds / per_epoch["batch GD"] if per_epoch["batch GD"] > 0 else float("nan")

    unchecked = (
        f"measured on this machine, not checked: median of {TIMING_REPEATS} whole calls of "
        f"{TIMED_UPDATES} updates at η = {SAME_ETA} (the fixed cost of a call included)"
    )

    table = [
        "| criterion | the notes (batch / stochastic / mini-batch) | batch GD | "
        "stochastic GD | mini-batch GD |",
        "|---|---|---|---|---|",
        f"| gradient computed from | all data / one sample at a time / small batches | "
        f"{cells(batch_sizes, lambda v: f'{v} example' + ('s' if v > 1 else ''))} |",
        f"| updates per epoch | — | {cells(updates_per_epoch, str)} |",
        f"| work: XLA's flops of one update | — | {cells(update_flops, lambda v: f'{v:.0f}')} |",
        f"| speed: XLA's flops per epoch (updates × flops of one) | slow / fast / balance | "
        f"{cells(epoch_flops, lambda v: f'{v:.0f}')} |",
        f"| speed: wall clock per epoch (× batch GD), {unchecked} | slow / fast / balance | "
        f"{cells(per_epoch, lambda v: f'{1e6 * v:.1f} µs ({times_batch(v):.1f}×)')} |",
        f"| speed: epochs to within 1% of the optimal MSE | — | {cells(within, str)} |",
        f"| memory per update: the batch (x and y) | high / low / between | "
        f"{cells(data_bytes, lambda v: f'{v} B')} |",
        f"| memory per update: XLA's buffers for one update | high / low / between | "
        f"{cells(xla_bytes, lambda v: f'{v} B')} |",
        f"| gradient accuracy: E‖g_B − g‖²/‖g‖² at θ₀ | high / noisy / balance | "
        f"{cells(noise, lambda v: f'{v:.3g}')} |",
        f"| gradient noise at θ_normal: E‖g_B‖² | — | "
        f"{cells(noise_at_optimum, lambda v: f'{v:.3g}')} |",
        f"| oscillation: updates that raise the whole-data MSE | low / high / between | "
        f"{cells(rises, lambda v: f'{100 * v:.0f}%')} |",
        f"| oscillation: std of the MSE over the last 10 epochs, Géron's rates | "
        f"low / high / between | {cells(last_std, lambda v: f'{v:.2g}')} |",
        f"| oscillation: std of the MSE over the last 10 epochs, η = {SAME_ETA} for all | "
        f"low / high / between | {cells(same_std, lambda v: f'{v:.2g}')} |",
        f"| oscillation: climb of the MSE over the last 10 epochs, η = {SAME_ETA} for all | "
        f"low / high / between | {cells(same_climb, lambda v: f'{v:.2g}')} |",
        f"| final error ‖θ − θ_normal‖, Géron's runs | — | {cells(errors, lambda v: f'{v:.2g}')} |",
        f"| local minima: runs escaping the local well (noisy 1-D wells) | can get stuck / "
        f"noise can help escape / between | {cells(escaped, lambda v: f'{100 * v:.0f}%')} |",
        f"| parallelism: wall clock per update, {unchecked} | simple / simple / suits batches "
        f"on hardware | {cells(per_update, lambda v: f'{1e6 * v:.1f} µs')} |",
        "| typical use | small / very large data sets / the usual default | not measured | | |",
    ]
    exp.table("\n".join(table))
    exp.write_csv(
        "comparison.csv",
        [
            {
                "variant": n,
                "batch_size": batch_sizes[n],
                "updates_per_epoch": updates_per_epoch[n],
                "flops_per_update": update_flops[n],
                "flops_per_epoch": epoch_flops[n],
                "unchecked_seconds_per_epoch": per_epoch.get(n),
                "unchecked_seconds_per_update": per_update.get(n),
                "epochs_to_1pct": within[n],
                "batch_bytes": data_bytes[n],
                "xla_bytes": xla_bytes[n],
                "relative_gradient_noise": noise[n],
                "gradient_noise_at_optimum": noise_at_optimum[n],
                "share_of_rising_updates": rises[n],
                "loss_std_last10_geron": last_std[n],
                "loss_std_last10_same_rate": same_std.get(n),
                "loss_climb_last10_same_rate": same_climb.get(n),
                "final_error": errors[n],
                "escaped_local_minimum": escaped.get(n),
            }
            for n in order
        ],
    )
    exp.write_json(
        "endpoints.json",
        {
            "normal_equation": theta_exact.tolist(),
            "ours": {n: paths[n][-1].tolist() for n in order},
            "geron": {"stochastic GD": GERON_SGD, "mini-batch GD": GERON_MINI},
            "seed_errors": {n: v.tolist() for n, v in spread.items()},
        },
    )
    if per_epoch:
        exp.write_json(
            "wall_clock.json",
            {
                "note": unchecked,
                "updates_per_call": TIMED_UPDATES,
                "epochs_per_call": timed_epochs,
                "seconds_per_epoch": per_epoch,
                "seconds_per_update": per_update,
            },
        )
    ours_sgd, ours_mini = paths["stochastic GD"][-1], paths["mini-batch GD"][-1]
    exp.text(
        "An epoch is one pass over the m = 100 examples: one update for batch GD, 100 for SGD "
        f"(one example each), 5 for mini-batch GD (k = {MINI_K}). As in Géron's fig. 4-11, "
        f"batch GD walks down to the optimum and stops there (‖θ − θ_normal‖ = "
        f"{errors['batch GD']:.0e}), while SGD and mini-batch GD zigzag and end near it: ours "
        f"at ({ours_sgd[0]:.3f}, {ours_sgd[1]:.3f}) and ({ours_mini[0]:.3f}, {ours_mini[1]:.3f}), "
        f"Géron's at {GERON_SGD} and {GERON_MINI}, the normal equation at "
        f"({theta_exact[0]:.3f}, {theta_exact[1]:.3f}). The end points differ from his only "
        "because the random example orders differ (JAX keys, not NumPy's stream); they are as "
        "far from the optimum as his."
    )
    measured_times = (
        " On this machine (measured, not checked: timings move with the machine and its load) "
        "an epoch took "
        + ", ".join(f"{1e6 * per_epoch[n]:.1f} µs ({n})" for n in order)
        + f", i.e. SGD {times_batch(per_epoch['stochastic GD']):.0f}× batch GD's."
        if per_epoch
        else ""
    )
    exp.text(
        "The measured table agrees with the notes on gradient accuracy, oscillation and "
        "memory. Its cost rows are XLA's counts for one compiled update, shown, not checked: "
        "they grow with the batch by construction (the update reads k examples). One update "
        f"on all {m} examples is {work_ratio:.0f}× the flops of one on a single example, so per "
        "epoch all three do the same arithmetic (XLA's flops per epoch "
        + " / ".join(f"{epoch_flops[n]:.0f}" for n in order)
        + f"), but SGD cuts it into {m} sequential updates and batch GD does it in one. On "
        f"{m} examples an update is so small that its fixed cost (a loop step, drawing the "
        "batch, reading and writing θ) outweighs its arithmetic, so SGD's epoch should cost "
        "more than batch GD's, unlike the notes' 'batch slow, SGD fast'."
        + measured_times
        + " SGD is 'fast' in the sense that it improves after every example: it gets within 1% "
        f"of the optimal MSE in {within['stochastic GD']} epochs, batch GD in "
        f"{within['batch GD']}. "
        "With millions of examples one full-batch gradient no longer fits in one vectorised "
        "step (or in memory) and the notes' ordering returns."
    )
    exp.text(
        "With Géron's schedules the SGD rate has decayed to "
        f"{SGD_T0 / (EPOCHS * m + SGD_T1):.4f} by epoch 50 while mini-batch's is still "
        f"{MINI_T0 / (EPOCHS * m // MINI_K + MINI_T1):.2f}, so late in the run mini-batch GD's "
        "loss varies more than SGD's"
        + (
            "; at one shared constant rate the order is the notes' (SGD > mini-batch > batch "
            "= 0 on the climb, which unlike the std does not count batch GD's steady descent "
            "as oscillation)"
            if same_rate
            else ""
        )
        + ". Each batch gradient is an unbiased estimate of the full one with variance "
        "σ²/k·(m − k)/(m − 1); at the optimum, where the full gradient is zero, that noise is "
        "all that is left, which is why SGD and mini-batch GD never settle without a decaying "
        "rate."
    )
    if escaped:
        exp.text(
            "'Noise can help escape' is measured on the 1-D wells of topic 7 plus a random "
            f"zero-mean tilt per example (std {TILT_STD}; on all the data the tilts cancel and "
            f"the loss is the wells themselves), from the local minimum θ = {LOCAL_MIN} with "
            f"η = {WELLS_ETA}: batch GD stays there, SGD's one-example noise carries "
            f"{100 * escaped['stochastic GD']:.0f}% of the runs over the barrier into the global "
            f"well ({100 * stayed['stochastic GD']:.0f}% are back in the local well, the rest "
            "wander on the plateaus: the same noise also kicks runs out of the good well), "
            f"and mini-batch GD's √{MINI_K}-times smaller noise "
            f"({100 * escaped['mini-batch GD']:.0f}%) does not within {WELLS_STEPS} updates: "
            "'between' here means much closer to batch GD. The tilt's size was chosen to make "
            "the effect visible."
        )
    exp.text(
        "Not measured: typical use, and parallelism beyond one CPU. 'Suits batches on "
        "hardware' is the batch being one vectorised operation: one update of batch GD does "
        f"{m}× SGD's arithmetic in one step, not {m} sequential ones (the wall clock per "
        "update in the table is shown, not checked)."
    )
    return exp.finish()


if __name__ == "__main__":
    run(Path(sys.argv[1] if len(sys.argv) > 1 else "results/gd-variants"))
