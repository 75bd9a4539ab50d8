"""Topics 14–15: sensitivity to initialisation, choice of activation, dropout.

The notes name three remedies for a network that trains badly from where it
starts: random initialisation (never all zeros: identical units stay
identical), an initial scale suited to the activation (Glorot for tanh and
sigmoid, He for ReLU), and an activation that does not saturate. Against
overfitting they name batch normalisation and dropout. Here:

1. the same small MLP trained from many random starts drawn by four schemes
   (N(0, 1), Glorot, He, zeros) with three activations: the spread of the
   final losses across starts;
2. a deep net (10 hidden layers): the size of ∂L/∂Wˡ per layer at
   initialisation, sigmoid vs ReLU (vanishing gradients);
3. dropout on a small noisy data set where a wide MLP overfits.

Batch normalisation is not implemented in jaxgd (the notes only name it).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

import jaxgd
from jaxgd.models import MLP
from jaxgd.optim import adam
from jaxgd.problems import MLPLoss, mlp_regression
from jaxgd.report import Experiment

# 1. The initialisation sweep: jaxgd's teacher-student regression, MLP 4-16-16-1, Adam.
SIZES = (4, 16, 16, 1)
N_EXAMPLES = 128
SCHEMES = ("normal", "glorot", "he", "zeros")  # "normal" is N(0, 1): scale 1
ACTIVATIONS = ("tanh", "relu", "sigmoid")
LEARNING_RATE = 3e-3
# 2. Vanishing gradients: 10 hidden layers of 16, on the same data as 1.
DEEP_SIZES = (SIZES[0],) + (SIZES[1],) * 10 + (1,)
DEEP_CASES = (("sigmoid", "glorot"), ("sigmoid", "he"), ("relu", "glorot"), ("relu", "he"))
# 3. Dropout: 32 noisy training points, 256 validation points, MLP 1-64-64-1 (ReLU).
DROPOUT_SIZES = (1, 64, 64, 1)
DROPOUT_RATES = (0.0, 0.3)
NOISE = 0.2
COLOURS = {"normal": "tab:red", "glorot": "tab:blue", "he": "tab:green", "zeros": "tab:gray"}


def sine_data(n: int, noise: float, seed: int):
    """x ~ U(−1, 1), y = sin(3x) + noise·N(0, 1), as float32 arrays [n, 1]."""
    rng = np.random.RandomState(seed)
    x = rng.uniform(-1.0, 1.0, (n, 1))
    y = np.sin(3.0 * x) + noise * rng.randn(n, 1)
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)


def draw_inits(sizes: tuple[int, ...], scheme: str, keys) -> list:
    """Parameters of MLP(sizes) drawn by `scheme` from each key, stacked on a leading axis.

    The initialiser does not depend on the activation, so every activation starts
    from the same weights. (Plain calls: a jitted, vmapped draw compiles for seconds.)
    """
    model = MLP(sizes, init_scheme=scheme)
    return stack([jax.tree.map(lambda leaf: leaf[None], model.init(k)) for k in keys])


def stack(trees):
    """Concatenate pytrees along their leading (lane) axis."""
    return jax.tree.map(lambda *leaves: jnp.concatenate(leaves), *trees)


@functools.partial(jax.jit, static_argnums=(0, 2))
def train_lanes(loss_fn, params, steps: int, data):
    """Full-batch Adam from every starting point (leading axis of params): one compiled call."""
    return jax.vmap(
        lambda p: jaxgd.fit(loss_fn, p, data, adam(LEARNING_RATE), steps=steps, record_every=steps)
    )(params)


@functools.partial(jax.jit, static_argnums=0)
def layer_gradient_norms(loss_fn, params, x, y):
    """‖∂L/∂Wˡ‖ (Frobenius) for every layer l, for each parameter set (leading axis)."""

    def norms(p):
        grads = jax.grad(loss_fn)(p, x, y)
        return jnp.stack([jnp.sqrt(jnp.sum(layer["w"] ** 2)) for layer in grads])

    return jax.vmap(norms)(params)


@functools.partial(jax.jit, static_argnums=(0, 5, 6))
def train_chunk(loss_fn, params, opt_state, keys, chunk, steps: int, with_dropout: bool):
    """`steps` more Adam updates for every lane, continuing from `opt_state`.

    With dropout each update draws its masks from fold_in(lane key, chunk).
    """

    def one(p, state, key):
        return jaxgd.fit(
            loss_fn,
            p,
            TRAIN,
            adam(LEARNING_RATE),
            steps=steps,
            key=jax.random.fold_in(key, chunk),
            loss_with_key=with_dropout,
            opt_state=state,
            record_every=steps,
        )

    return jax.vmap(one)(params, opt_state, keys)


TRAIN = sine_data(32, NOISE, seed=1)
VALIDATION = sine_data(256, NOISE, seed=2)


def run(out_dir: Path, quick: bool = False) -> dict:
    exp = Experiment(
        "initialisation",
        out_dir,
        title="Initialisation, activations and dropout",
        topics="topics 14–15: sensitivity to initialisation, random initialisation, choice of "
        "activation; dropout (batch normalisation named only)",
    )
    # Quick runs: tanh only, no dropout (each trained network is a compile of seconds).
    activations = ("tanh",) if quick else ACTIVATIONS
    n_seeds, steps = (8, 500) if quick else (16, 1000)
    deep_seeds = 8
    dropout_seeds, chunk, n_chunks = 4, 200, 10
    k_sweep, k_deep, k_drop = jax.random.split(jax.random.key(0), 3)

    # ---------------------------------------------------------------- 1. the init sweep
    data = mlp_regression(SIZES, N_EXAMPLES).data
    sweep_keys = jax.random.split(k_sweep, n_seeds)
    # lanes: scheme-major, n_seeds each
    starts = stack([draw_inits(SIZES, scheme, sweep_keys) for scheme in SCHEMES])
    lanes = {scheme: slice(i * n_seeds, (i + 1) * n_seeds) for i, scheme in enumerate(SCHEMES)}
    final, spread, median, unit_gap, zero_weights = {}, {}, {}, {}, {}
    for act in activations:
        result = train_lanes(MLPLoss(MLP(SIZES, hidden=act)), starts, steps, data)
        for scheme in SCHEMES:
            row = np.asarray(result.final_loss[lanes[scheme]])
            final[(act, scheme)] = row
            spread[(act, scheme)] = float(np.std(row))
            median[(act, scheme)] = float(np.median(row))
            # How different are the hidden units of each layer (rows of W¹, W²) after training?
            hidden = [np.asarray(result.params[i]["w"][lanes[scheme]]) for i in (0, 1)]
            unit_gap[(act, scheme)] = max(float(np.abs(w - w[:, :1]).max()) for w in hidden)
            if scheme == "zeros":
                zero_weights[act] = max(
                    float(np.abs(np.asarray(layer["w"][lanes[scheme]])).max())
                    for layer in result.params
                )

    # ---------------------------------------------------------------- 2. vanishing gradients
    deep_keys = jax.random.split(k_deep, deep_seeds)
    deep_inits = {scheme: draw_inits(DEEP_SIZES, scheme, deep_keys) for scheme in ("glorot", "he")}
    grad_norms = {}
    for act, scheme in DEEP_CASES:
        loss = MLPLoss(MLP(DEEP_SIZES, hidden=act))
        norms = layer_gradient_norms(loss, deep_inits[scheme], *data)
        grad_norms[(act, scheme)] = np.asarray(norms).mean(axis=0)  # mean over seeds
    ratio = {case: float(g[0] / g[-1]) for case, g in grad_norms.items()}

    # ---------------------------------------------------------------- 3. dropout (full runs)
    curves, curves_params = {}, {}
    drop_keys = jax.random.split(k_drop, dropout_seeds)
    drop_starts = None if quick else draw_inits(DROPOUT_SIZES, "glorot", drop_keys)
    evaluate = jax.jit(jax.vmap(MLPLoss(MLP(DROPOUT_SIZES)), in_axes=(0, None, None)))
    for rate in DROPOUT_RATES if not quick else ():
        loss = MLPLoss(MLP(DROPOUT_SIZES, hidden="relu", dropout_rate=rate))
        params = drop_starts
        opt_state = jax.vmap(adam(LEARNING_RATE).init)(params)
        train_curve = [np.asarray(evaluate(params, *TRAIN))]
        val_curve = [np.asarray(evaluate(params, *VALIDATION))]
        for c in range(n_chunks):
            result = train_chunk(loss, params, opt_state, drop_keys, c, chunk, rate > 0)
            params, opt_state = result.params, result.opt_state
            train_curve.append(np.asarray(evaluate(params, *TRAIN)))
            val_curve.append(np.asarray(evaluate(params, *VALIDATION)))
        curves[rate] = (np.stack(train_curve, axis=1), np.stack(val_curve, axis=1))
        curves_params[rate] = params
    total_steps = chunk * n_chunks
    off, on = DROPOUT_RATES
    train_end = {rate: curve[0][:, -1] for rate, curve in curves.items()}
    val_end = {rate: curve[1][:, -1] for rate, curve in curves.items()}
    noise_floor = NOISE**2

    # ---------------------------------------------------------------- claims
    for act in activations:
        exp.claim(
            f"{act}: the spread of final losses across starts is larger for N(0, 1) than for "
            "Glorot and He (std over seeds)",
            f"N(0,1) {spread[(act, 'normal')]:.2g}, Glorot {spread[(act, 'glorot')]:.2g}, "
            f"He {spread[(act, 'he')]:.2g}",
            "N(0,1) largest",
            spread[(act, "normal")] > max(spread[(act, "glorot")], spread[(act, "he")]),
        )
    if "relu" in activations:
        exp.claim(
            "ReLU with N(0, 1) ends far worse than with Glorot or He (median final loss)",
            f"{median[('relu', 'normal')]:.3g} vs {median[('relu', 'glorot')]:.3g} and "
            f"{median[('relu', 'he')]:.3g}",
            "more than 10× higher",
            median[("relu", "normal")]
            > 10 * max(median[("relu", "glorot")], median[("relu", "he")]),
        )
    zero_gap = max(unit_gap[(act, "zeros")] for act in activations)
    random_gap = min(unit_gap[(act, s)] for act in activations for s in ("glorot", "he"))
    exp.claim(
        "zero init: after training, the hidden units of each layer are still identical",
        "largest difference between two units of a layer: "
        + ", ".join(f"{act} {unit_gap[(act, 'zeros')]:.1g}" for act in activations)
        + f"; from Glorot or He starts at least {random_gap:.2f}",
        "≤ 1e-4 (float32 rounding) for zeros",
        zero_gap <= 1e-4 and random_gap > 0.1,
    )
    # tanh(0) = ReLU(0) = 0 (sigmoid(0) = 1/2 is not 0): from all-zero weights every weight's
    # gradient is 0, so only the output bias learns and the net ends as the best constant.
    constant_acts = [act for act in activations if act in ("tanh", "relu")]
    best_constant = float(np.var(np.asarray(data[1], np.float64)))
    exp.claim(
        "zero init with "
        + " and ".join(constant_acts)
        + ": f(0) = 0 and zero output weights give every weight a zero gradient, so only the "
        "output bias learns and the net ends as the best constant: MSE = var(y)",
        ", ".join(
            f"{act}: median {median[(act, 'zeros')]:.5f}, largest |weight| {zero_weights[act]:.0g}"
            for act in constant_acts
        ),
        f"var(y) = {best_constant:.5f} (NumPy) within 0.1%; every weight exactly 0",
        all(
            abs(median[(act, "zeros")] / best_constant - 1) < 1e-3 and zero_weights[act] == 0
            for act in constant_acts
        ),
    )
    for scheme in ("glorot", "he"):
        exp.claim(
            f"vanishing gradients ({scheme} init, 10 hidden layers): sigmoid's first-layer "
            "‖∂L/∂W‖ is orders of magnitude below its last layer's",
            f"first/last = {ratio[('sigmoid', scheme)]:.1e}",
            "< 1e-3",
            ratio[("sigmoid", scheme)] < 1e-3,
        )
    exp.claim(
        "ReLU does not vanish: its first-layer ‖∂L/∂W‖ stays within 10× of its last "
        "layer's, with He and with Glorot init",
        f"first/last = {ratio[('relu', 'he')]:.2f} (He), {ratio[('relu', 'glorot')]:.2f} (Glorot)",
        "both between 0.1 and 10",
        all(0.1 < ratio[("relu", s)] < 10 for s in ("he", "glorot")),
    )
    if curves:
        exp.claim(
            f"dropout {on} raises the training loss (mean over {dropout_seeds} seeds, "
            f"after {total_steps} steps)",
            f"{train_end[on].mean():.4f} vs {train_end[off].mean():.4f} without",
            "higher",
            train_end[on].mean() > train_end[off].mean(),
        )
        exp.claim(
            f"dropout {on} lowers the validation loss",
            f"{val_end[on].mean():.4f} vs {val_end[off].mean():.4f} without "
            f"(noise floor {noise_floor:.2f}); lower for {int(np.sum(val_end[on] < val_end[off]))}"
            f"/{dropout_seeds} seeds",
            "lower on average",
            val_end[on].mean() < val_end[off].mean(),
        )
        exp.claim(
            "without dropout the wide MLP overfits: training loss below the noise floor, "
            "validation above it",
            f"train {train_end[off].mean():.4f}, validation {val_end[off].mean():.4f}, "
            f"noise variance {noise_floor:.2f}",
            "train < noise² < validation",
            train_end[off].mean() < noise_floor < val_end[off].mean(),
        )

    # ---------------------------------------------------------------- figures
    fig = Figure(figsize=(max(4 * len(activations) + 0.5, 7), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(activations), sharey=True))
    jitter = np.random.RandomState(0).uniform(-0.15, 0.15, n_seeds)
    for ax, act in zip(axes, activations, strict=True):
        rows = [final[(act, s)] for s in SCHEMES]
        ax.boxplot(rows, widths=0.5, showfliers=False)
        for i, (scheme, row) in enumerate(zip(SCHEMES, rows, strict=True)):
            ax.plot(i + 1 + jitter, row, "o", ms=3.5, color=COLOURS[scheme], alpha=0.8)
        ax.set_xticks(range(1, len(SCHEMES) + 1), ["N(0, 1)", "Glorot", "He", "zeros"])
        ax.set(yscale="log", title=f"hidden activation: {act}", xlabel="initialisation")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    axes[0].set_ylabel(f"final MSE after {steps} Adam steps (log scale)")
    fig.suptitle(
        f"MLP {'-'.join(map(str, SIZES))} on {N_EXAMPLES} examples of a random tanh teacher "
        f"(mlp_regression):\n{n_seeds} random starts per scheme (dots), same Adam steps"
    )
    exp.figure(
        fig,
        "init_spread.png",
        "final loss of every start, per initialisation scheme and activation: N(0, 1) spreads "
        "widest (and fails with ReLU); zeros give one outcome for every seed",
    )

    fig = Figure(figsize=(7.0, 4.6), layout="constrained")
    ax = fig.add_subplot()
    layers = np.arange(1, len(DEEP_SIZES))
    styles = {"glorot": "-o", "he": "--s"}
    for (act, scheme), g in grad_norms.items():
        colour = "tab:purple" if act == "sigmoid" else "tab:orange"
        ax.plot(layers, g, styles[scheme], color=colour, ms=4, label=f"{act}, {scheme} init")
    ax.set(
        yscale="log",
        xlabel="layer l (1 = next to the input, 11 = output layer)",
        ylabel="‖∂L/∂Wˡ‖ at initialisation (log scale)",
        title=f"Deep net {DEEP_SIZES[1]}×10 hidden: gradient size per layer "
        f"(mean over {deep_seeds} seeds)",
        xticks=layers,
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    exp.figure(
        fig,
        "vanishing_gradients.png",
        "gradient norm per layer at initialisation: with sigmoid it shrinks by orders of "
        "magnitude towards the input; with ReLU it stays level",
    )

    if curves:
        fig = Figure(figsize=(12, 4.2), layout="constrained")
        axes = fig.subplots(1, 2)
        steps_axis = chunk * np.arange(n_chunks + 1)
        for rate, colour in zip(DROPOUT_RATES, ("tab:red", "tab:blue"), strict=True):
            train_curve, val_curve = curves[rate]
            label = "no dropout" if rate == 0 else f"dropout {rate}"
            axes[0].plot(
                steps_axis, train_curve.mean(0), "--", color=colour, label=f"{label}: train"
            )
            axes[0].plot(
                steps_axis, val_curve.mean(0), "-", color=colour, label=f"{label}: validation"
            )
        axes[0].axhline(
            noise_floor, color="k", ls=":", lw=1, label=f"noise variance {noise_floor:.2f}"
        )
        axes[0].set(
            yscale="log",
            xlabel="Adam update",
            ylabel=f"MSE, mean over {dropout_seeds} seeds (log scale)",
            title=f"MLP {'-'.join(map(str, DROPOUT_SIZES))} on 32 noisy points",
        )
        axes[0].grid(True, which="both", alpha=0.3)
        axes[0].legend(fontsize=8)
        grid = jnp.linspace(-1.0, 1.0, 200)[:, None]
        axes[1].plot(*map(np.asarray, TRAIN), "k.", ms=6, label="32 training points")
        axes[1].plot(grid[:, 0], np.sin(3 * grid[:, 0]), "k:", lw=1, label="sin(3x)")
        for rate, colour in zip(DROPOUT_RATES, ("tab:red", "tab:blue"), strict=True):
            final_params = jax.tree.map(lambda leaf: leaf[0], curves_params[rate])
            prediction = MLP(DROPOUT_SIZES).apply(final_params, grid)
            label = "no dropout" if rate == 0 else f"dropout {rate}"
            axes[1].plot(grid[:, 0], prediction[:, 0], color=colour, label=f"{label} (seed 0)")
        axes[1].set(xlabel="x", ylabel="y", title="The fitted functions")
        axes[1].legend(fontsize=8)
        exp.figure(
            fig,
            "dropout.png",
            "left: training (dashed) and validation (solid) loss with and without dropout; "
            "right: what each network learned",
        )

    # ---------------------------------------------------------------- table, data, text
    exp.table(
        "| activation | scheme | median final MSE | std over seeds | min | max |\n"
        "|---|---|---|---|---|---|\n"
        + "\n".join(
            f"| {act} | {scheme} | {median[(act, scheme)]:.3g} | {spread[(act, scheme)]:.2g} | "
            f"{final[(act, scheme)].min():.3g} | {final[(act, scheme)].max():.3g} |"
            for act in activations
            for scheme in SCHEMES
        )
    )
    exp.write_csv(
        "init_sweep.csv",
        [
            {"activation": act, "scheme": scheme, "seed": i, "final_loss": float(v)}
            for (act, scheme), row in final.items()
            for i, v in enumerate(row)
        ],
    )
    exp.write_json(
        "gradients_and_dropout.json",
        {
            "layer_gradient_norms": {f"{a}/{s}": g.tolist() for (a, s), g in grad_norms.items()},
            "dropout": {
                str(rate): {
                    "train_final": train_end[rate].tolist(),
                    "validation_final": val_end[rate].tolist(),
                }
                for rate in curves
            },
        },
    )
    fan_in = SIZES[1]
    exp.text(
        "Random initialisation matters twice. All-zero weights make every hidden unit of a "
        "layer compute the same thing and receive the same gradient, so they stay identical "
        "for ever: the network has one effective unit per layer (with tanh and ReLU not even "
        "that: their zero activations give zero weight gradients, and only the output bias "
        f"learns). And the scale of random weights must suit the activation: with N(0, 1) and "
        f"{fan_in} inputs per hidden unit the pre-activations have a std of about "
        f"√{fan_in} ≈ {np.sqrt(fan_in):.0f}, so tanh and sigmoid saturate and ReLU's outputs "
        "grow layer by layer; where training ends then depends much more on the seed. Glorot "
        "(variance 2/(fan_in + fan_out)) and He (2/fan_in) keep the signal's size. "
        + (
            f"With ReLU, N(0, 1) is even worse than zeros (median {median[('relu', 'normal')]:.3g} "
            f"vs {median[('relu', 'zeros')]:.3g}): the exploding outputs are a worse start than "
            "a constant prediction. "
            if "relu" in activations and median[("relu", "normal")] > median[("relu", "zeros")]
            else ""
        )
        + "How large "
        "the effect is depends on the problem and on the training budget; this is one problem "
        f"({N_EXAMPLES} examples from jaxgd's random tanh teacher, {steps} full-batch Adam "
        f"steps at α = {LEARNING_RATE})."
    )
    exp.text(
        "Vanishing gradients: backpropagation multiplies by Wˡᵀ and by f′(zˡ) at every layer. "
        "The sigmoid's slope is at most 1/4, so after 10 layers the first layer's gradient is "
        f"{ratio[('sigmoid', 'glorot')]:.0e} times the last layer's with Glorot init "
        f"({ratio[('sigmoid', 'he')]:.0e} with He), and the early layers barely learn. ReLU's "
        "slope is 1 where it is active, so its gradients keep their size down the layers: the "
        f"ratio is {ratio[('relu', 'he')]:.2f} with He init and "
        f"{ratio[('relu', 'glorot')]:.2f} with Glorot (the init sets the overall size of the "
        "gradients, the activation whether they vanish). The choice of activation is the "
        "notes' remedy 'suitable activations'."
    )
    if curves:
        exp.text(
            f"Dropout (each hidden activation zeroed with probability {on} during training, "
            "a fresh mask per update from an explicit PRNG key, no dropout at evaluation) keeps "
            "the wide network from fitting the noise of its 32 points: its training loss is "
            f"higher ({train_end[on].mean():.3f} vs {train_end[off].mean():.3f}) and its "
            f"validation loss lower ({val_end[on].mean():.3f} vs {val_end[off].mean():.3f}; "
            f"the noise variance, the best possible, is {noise_floor:.2f})."
        )
    exp.text(
        "Batch normalisation, the notes' other remedy, is not implemented in jaxgd: the notes "
        "only name it." + ("" if curves else " (Quick runs skip the dropout part.)")
    )
    return exp.finish()


if __name__ == "__main__":
    run(Path(sys.argv[1] if len(sys.argv) > 1 else "results/initialisation"))
