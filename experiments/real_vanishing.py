"""Topic 14 on real data: vanishing gradients on the breast-cancer set (the course's study).

The course trains the same deep network three times on the Wisconsin breast-cancer data,
changing only the hidden activation (sigmoid, ReLU, leaky ReLU), and watches the size of
each layer's gradient and the accuracy. Here: MLP 30-16×8-1 (eight hidden layers of 16,
one logit), Glorot-uniform weights drawn from the same key for every activation, binary
cross-entropy (jaxgd.losses.sigmoid_binary_cross_entropy, averaged), full-batch SGD with
the same learning rate. The split is jaxgd.datasets.breast_cancer(0): stratified 60/20/20,
standardised on the training split.

Backpropagation multiplies the error by Wˡᵀ and by f′(zˡ) at every layer. For one example
δˡ = f′(zˡ) ⊙ Wˡ⁺¹ᵀδˡ⁺¹, so ‖δˡ‖ ≤ max f′ · ‖Wˡ⁺¹‖₂ · ‖δˡ⁺¹‖, and after eight hidden layers
‖δ¹‖ ≤ (max f′)⁸ · Π‖Wˡ‖₂ · |δ_out|: the sigmoid's slope is at most 1/4, so its bound carries
a factor 4⁻⁸ ≈ 1.5e-5 that ReLU's (slope 1) does not.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

import jaxgd
from jaxgd.datasets import breast_cancer
from jaxgd.losses import sigmoid_binary_cross_entropy
from jaxgd.metrics import accuracy
from jaxgd.models import MLP
from jaxgd.optim import apply_updates, sgd
from jaxgd.report import Experiment

SEED = 0  # the split: breast_cancer(SEED), stratified 60/20/20
DEPTH, WIDTH = 8, 16
SIZES = (30,) + (WIDTH,) * DEPTH + (1,)
ACTIVATIONS = ("sigmoid", "relu", "leaky_relu")
MAX_SLOPE = {"sigmoid": 0.25, "relu": 1.0, "leaky_relu": 1.0}
LABELS = {"sigmoid": "sigmoid", "relu": "ReLU", "leaky_relu": "leaky ReLU (0.01)"}
COLOURS = {"sigmoid": "tab:purple", "relu": "tab:orange", "leaky_relu": "tab:green"}
STYLES = {"sigmoid": "-", "relu": "-", "leaky_relu": "--"}  # leaky ReLU's lines lie on ReLU's
X_SCALE = {"value": "symlog", "linthresh": 10}  # linear up to update 10, logarithmic after
LEARNING_RATE = 0.1
RECORDS = 40  # recorded points per run


class BinaryCrossEntropy:
    """loss_fn(params, x, y): the mean binary cross-entropy of the model's one logit.

    (A plain class: jaxgd.fit and jax.jit take it as static, hashed by identity, so each
    loss is built once and reused.)
    """

    def __init__(self, model: MLP) -> None:
        self.model = model

    def __call__(self, params, x, y):
        logits = self.model.apply(params, x)[:, 0]
        return jnp.mean(sigmoid_binary_cross_entropy(logits, y.astype(logits.dtype)))


@functools.partial(jax.jit, static_argnums=(0, 1))
def train(activation: str, steps: int, start, train_split, test_split):
    """`steps` full-batch SGD updates of the net with this hidden activation, in one call.

    The loop is fit's update written out (loss and jax.grad on the whole training split,
    jaxgd.optim.sgd's update) so that the gradient of *every* update can be read: it returns
    the final parameters and, for t = 0 … steps, the training loss, ‖∂L/∂Wˡ‖ per layer, the
    test accuracy and the fraction of test examples predicted benign of θ_t, the parameters
    after t updates; and, for every training example at the start, ‖δ¹‖/|δ_out|, the
    error reaching layer 1 against the output's (δˡ = ∂ℓ/∂zˡ for one example, which is
    exactly ∂ℓ/∂bˡ).
    """
    loss_fn = BinaryCrossEntropy(MLP(SIZES, hidden=activation))
    optimizer = sgd(LEARNING_RATE)

    def observe(params):
        loss, grads = jax.value_and_grad(loss_fn)(params, *train_split)
        logits = loss_fn.model.apply(params, test_split[0])[:, 0]
        norms = jnp.stack([jnp.linalg.norm(g["w"]) for g in grads])
        record = (loss, norms, accuracy(logits, test_split[1]), jnp.mean(logits > 0))
        return grads, record

    def step(carry, _):
        params, state = carry
        grads, record = observe(params)
        updates, state = optimizer.update(grads, state, params)
        return (apply_updates(params, updates), state), record

    def error_ratio(xi, yi):
        grads = jax.grad(loss_fn)(start, xi[None], yi[None])
        return jnp.linalg.norm(grads[0]["b"]) / jnp.abs(grads[-1]["b"][0])

    (final, _), records = jax.lax.scan(step, (start, optimizer.init(start)), length=steps)
    records = jax.tree.map(
        lambda r, last: jnp.append(r, last[None], axis=0), records, observe(final)[1]
    )
    return final, records, jax.vmap(error_ratio)(*train_split)


def measure(activation: str, start, data, steps: int) -> dict:
    """One activation's run and what is read off it."""
    final, records, ratios = train(activation, steps, start, data.train, data.test)
    losses, norms, acc, benign = (np.asarray(r) for r in records)
    w_start, w_end = np.asarray(start[0]["w"]), np.asarray(final[0]["w"])
    spectral = [np.linalg.norm(np.asarray(layer["w"]), 2) for layer in start[1:]]
    return {
        "final": final,
        "updates": np.arange(steps + 1),
        "norms": norms,
        "losses": losses,
        "accuracy": acc,
        "benign": benign,
        "ratios": np.asarray(ratios),
        "bound": MAX_SLOPE[activation] ** DEPTH * float(np.prod(spectral)),
        "moved": float(np.linalg.norm(w_end - w_start) / np.linalg.norm(w_start)),
    }


def entropy(p: float) -> float:
    """−p ln p − (1 − p) ln(1 − p): the cross-entropy of the best constant prediction."""
    return float(-p * np.log(p) - (1 - p) * np.log(1 - p))


def check(exp, runs: dict, data, steps: int) -> None:
    """The claims."""
    start = {act: run["norms"][0, 0] / run["norms"][0, -1] for act, run in runs.items()}
    sig, fast = runs["sigmoid"], [a for a in runs if a != "sigmoid"]
    exp.claim(
        "at the start, the sigmoid net's first-layer ‖∂L/∂W¹‖ is orders of magnitude below "
        "its output layer's; with " + " and ".join(LABELS[a] for a in fast) + " it is not",
        ", ".join(f"{LABELS[a]} first/last {r:.2g}" for a, r in start.items()),
        "sigmoid < 1e-2; the others between 0.1 and 10",
        start["sigmoid"] < 1e-2 and all(0.1 < start[a] < 10 for a in fast),
    )
    exp.claim(
        f"the slope bound, example by example at the start: ‖δ¹‖/|δ_out| ≤ (max f′)^{DEPTH}·"
        "Π‖Wˡ‖₂ (max f′ = 1/4 for the sigmoid, 1 for ReLU), over all "
        f"{len(data.train[1])} training examples",
        ", ".join(
            f"{LABELS[a]}: largest {r['ratios'].max():.2g} ≤ bound {r['bound']:.2g}"
            for a, r in runs.items()
        ),
        "every ratio within its bound (×1.0001 for float32 rounding)",
        all(r["ratios"].max() <= r["bound"] * 1.0001 for r in runs.values()),
    )
    y_train, y_test = data.train[1], data.test[1]
    majority = float(np.mean(y_test == 1))
    exp.claim(
        f"the sigmoid net stays at the majority class for all {steps} updates: it predicts "
        "benign for every test example, so its test accuracy is the benign fraction",
        f"accuracy {sig['accuracy'].min():.4f} to {sig['accuracy'].max():.4f}; "
        f"predicted benign {sig['benign'].min():.0%} to {sig['benign'].max():.0%}",
        f"= {int(np.sum(y_test == 1))}/{len(y_test)} = {majority:.4f} at every record",
        np.allclose(sig["accuracy"], majority) and np.all(sig["benign"] == 1),
    )
    prior = float(np.mean(y_train == 1))
    exp.claim(
        "it has learned only the class prior: its training loss ends at the cross-entropy of "
        f"the best constant prediction, H({prior:.4f}) (benign fraction of the training split)",
        f"{sig['losses'][-1]:.5f}",
        f"H = {entropy(prior):.5f} within 1e-3",
        abs(sig["losses"][-1] - entropy(prior)) < 1e-3,
    )
    exp.claim(
        f"with {' and '.join(LABELS[a] for a in fast)} the same net learns: test accuracy "
        f"after {steps} updates (the classic level of a linear model is about 0.97)",
        ", ".join(f"{LABELS[a]} {runs[a]['accuracy'][-1]:.4f}" for a in fast),
        "≥ 0.92 each",
        all(runs[a]["accuracy"][-1] >= 0.92 for a in fast),
    )
    exp.claim(
        "the sigmoid net's first layer barely moves: ‖W¹_end − W¹_0‖/‖W¹_0‖",
        ", ".join(f"{LABELS[a]} {r['moved']:.2g}" for a, r in runs.items()),
        "sigmoid's < 1/100 of each other's",
        all(sig["moved"] < runs[a]["moved"] / 100 for a in fast),
    )


def check_against_fit(exp, runs: dict, start, data, steps: int) -> None:
    """The written-out loop is jaxgd.fit's full-batch SGD (full runs: fit compiles for seconds)."""
    model = MLP(SIZES, hidden="relu")
    result = jaxgd.fit(
        BinaryCrossEntropy(model), start, data.train, sgd(LEARNING_RATE), steps=steps
    )
    ours = runs["relu"]["final"]
    gap = max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b))) / np.max(np.abs(np.asarray(b))))
        for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(result.params), strict=True)
    )
    exp.claim(
        f"the loop written out here is jaxgd.fit's full-batch SGD: after {steps} updates of "
        "the ReLU net both give the same parameters (largest difference over the largest "
        "entry, per layer)",
        f"{gap:.1e}",
        "< 1e-4 (float32 rounding, accumulated over the updates)",
        gap < 1e-4,
    )


def norm_figure(runs: dict) -> Figure:
    """‖∂L/∂Wˡ‖ over updates, one line per layer, one panel per activation."""
    fig = Figure(figsize=(4.2 * len(runs) + 1, 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(runs), sharey=True))
    n_layers = len(SIZES) - 1
    colours = colormaps["viridis"](np.linspace(0, 0.9, n_layers))
    for ax, (act, run) in zip(axes, runs.items(), strict=True):
        for layer in range(n_layers):
            name = "output" if layer == n_layers - 1 else f"hidden {layer + 1}"
            ax.plot(run["updates"], run["norms"][:, layer], color=colours[layer], label=name)
        ax.set(yscale="log", title=f"hidden activation: {LABELS[act]}")
        ax.set_xscale(**X_SCALE)
        ax.set_xlim(0, run["updates"][-1])
        ax.set_xlabel("SGD update (linear to 10, log scale after)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("‖∂L/∂Wˡ‖ on the training set (log scale)")
    axes[-1].legend(title="layer l", fontsize=7, loc="lower right", ncol=2)
    fig.suptitle(
        f"Breast cancer, MLP {SIZES[0]}-{WIDTH}×{DEPTH}-1, Glorot init, SGD α = {LEARNING_RATE}: "
        "the gradient of each layer while training"
    )
    return fig


def training_figure(runs: dict, data) -> Figure:
    """Training loss and test accuracy over updates, and each layer's gradient at the start."""
    fig = Figure(figsize=(14, 4.4), layout="constrained")
    axes = fig.subplots(1, 3)
    prior = float(np.mean(data.train[1] == 1))
    majority = float(np.mean(data.test[1] == 1))
    for act, run in runs.items():
        style = {"color": COLOURS[act], "ls": STYLES[act], "label": LABELS[act]}
        axes[0].plot(run["updates"], run["losses"], **style)
        axes[1].plot(run["updates"], run["accuracy"], **style)
        axes[2].plot(np.arange(1, len(SIZES)), run["norms"][0], marker="o", ms=4, **style)
    axes[0].axhline(entropy(prior), color="k", ls=":", lw=1, label="best constant: H(prior)")
    axes[0].set(yscale="log", ylabel="training loss (cross-entropy, log scale)")
    axes[1].axhline(majority, color="k", ls=":", lw=1, label=f"always benign: {majority:.3f}")
    axes[1].set(ylabel="test accuracy", ylim=(0.5, 1.0))
    for ax in axes[:2]:
        ax.set_xscale(**X_SCALE)
        ax.set_xlim(0, runs["sigmoid"]["updates"][-1])
        ax.set_xlabel("SGD update (linear to 10, log scale after)")
    slope = 0.25 ** np.arange(len(SIZES) - 2, -1, -1) * runs["sigmoid"]["norms"][0, -1]
    axes[2].plot(
        np.arange(1, len(SIZES)), slope, "k:", lw=1, label="output layer's × (1/4)^(layers between)"
    )
    axes[2].set(
        yscale="log",
        xlabel=f"layer l (1 = next to the input, {len(SIZES) - 1} = output)",
        ylabel="‖∂L/∂Wˡ‖ at the start (log scale)",
        xticks=np.arange(1, len(SIZES)),
    )
    titles = ("training loss", f"test accuracy ({len(data.test[1])} examples)", "at the start")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def run(out_dir: Path, quick: bool = False) -> dict:
    exp = Experiment(
        "real-vanishing",
        out_dir,
        title="Vanishing gradients on real data: breast cancer, sigmoid vs ReLU vs leaky ReLU",
        topics="topic 14: choice of activation; vanishing gradients (the course's "
        "breast-cancer study)",
    )
    steps = 800 if quick else 4000
    data = breast_cancer(SEED)
    start = MLP(SIZES, init_scheme="glorot").init(jax.random.key(1))
    runs = {act: measure(act, start, data, steps) for act in ACTIVATIONS}
    check(exp, runs, data, steps)
    if not quick:
        check_against_fit(exp, runs, start, data, steps)
    exp.figure(
        norm_figure(runs),
        "layer_gradients.png",
        "the gradient of each layer's weights over training: with the sigmoid the layers next "
        "to the input get gradients orders of magnitude below the output layer's, and all of "
        "them shrink once the net predicts the class prior; with ReLU and leaky ReLU they "
        "stay within a factor of a few",
    )
    exp.figure(
        training_figure(runs, data),
        "training.png",
        "left: training loss (the sigmoid net stays at the best constant prediction); middle: "
        "test accuracy (the sigmoid net predicts benign for everyone); right: each layer's "
        "gradient at the start, with the sigmoid's slope bound 1/4 per layer (dotted)",
    )
    write_data(exp, runs, data, steps)
    explain(exp, runs, data)
    return exp.finish()


def write_data(exp, runs: dict, data, steps: int) -> None:
    """The table and the CSV/JSON data."""
    exp.table(
        "| activation | first/last ‖∂L/∂W‖ at the start | largest ‖δ¹‖/\\|δ_out\\| | its bound | "
        f"training loss after {steps} updates | test accuracy | first layer moved |\n"
        "|---|---|---|---|---|---|---|\n"
        + "\n".join(
            f"| {LABELS[a]} | {r['norms'][0, 0] / r['norms'][0, -1]:.2g} | "
            f"{r['ratios'].max():.2g} | {r['bound']:.2g} | {r['losses'][-1]:.3g} | "
            f"{r['accuracy'][-1]:.4f} | {r['moved']:.2g} |"
            for a, r in runs.items()
        )
    )
    exp.write_csv(
        "layer_gradients.csv",
        [
            {"activation": a, "update": int(u), "layer": layer + 1, "grad_norm": float(g)}
            for a, r in runs.items()
            for u, row in zip(r["updates"], r["norms"], strict=True)
            for layer, g in enumerate(row)
        ],
    )
    exp.write_json(
        "runs.json",
        {
            "data": {"name": data.name, "seed": SEED, "split": data.split, "source": data.source},
            "sizes": SIZES,
            "learning_rate": LEARNING_RATE,
            "steps": steps,
            "runs": {
                a: {
                    "updates": r["updates"].tolist(),
                    "training_loss": r["losses"].tolist(),
                    "test_accuracy": r["accuracy"].tolist(),
                    "error_ratio_max": float(r["ratios"].max()),
                    "error_ratio_bound": r["bound"],
                    "first_layer_moved": r["moved"],
                }
                for a, r in runs.items()
            },
        },
    )


def explain(exp, runs: dict, data) -> None:
    """The data set, its source and split, and why the sigmoid net does not learn."""
    sizes = ", ".join(
        f"{name} {len(part[1])}"
        for name, part in zip(
            ("training", "validation", "test"),
            (data.train, data.validation, data.test),
            strict=True,
        )
    )
    exp.text(
        f"Data: {data.description} Source: {data.source} Split: "
        f"jaxgd.datasets.breast_cancer({SEED}), stratified {sizes} (60/20/20), features "
        "standardised with the training split's mean and standard deviation; the validation "
        "split is not used here."
    )
    sig = runs["sigmoid"]
    exp.text(
        "Why the sigmoid net does not learn: the error that reaches layer 1 has passed "
        f"through {DEPTH} sigmoid slopes, each at most 1/4, so (for one example) "
        f"‖δ¹‖ ≤ (1/4)^{DEPTH}·Π‖Wˡ‖₂·|δ_out| = {sig['bound']:.2g}·|δ_out| with these Glorot "
        f"weights (measured at most {sig['ratios'].max():.2g}). The first layers' gradients "
        "are too small for SGD to move them, the net's output hardly depends on its input, "
        "and gradient descent does the one thing left: the output bias learns the class "
        "prior, which predicts benign for everyone. ReLU's slope is 1 where a unit is active, "
        "so its bound has no such factor and its gradients keep their size down the layers; "
        "leaky ReLU (slope 0.01 below zero) behaves the same here. The notes' remedy is this "
        "choice of activation (and an init that suits it); Adam, which divides each "
        "parameter's step by its own gradient size, would hide part of the effect, so the "
        "comparison here uses plain SGD."
    )


if __name__ == "__main__":
    run(Path(sys.argv[1] if len(sys.argv) > 1 else "results/real-vanishing"))
