"""Early stopping (Géron, fig. 4-20) and choosing on validation, on his data and on real data.

Géron's example: y = 0.5x² + x + 2 + N(0, 1) at 100 points x ~ U(−3, 3) (np.random.seed(42)),
50 to train and 50 to validate; features x … x⁹⁰ standardised on the training half, a model
linear in them, one-example SGD with SGDRegressor's schedule η_t = 0.002/t^0.25 on ½(y − ŷ)²
for 500 epochs, keeping the model with the lowest validation RMSE. Here: jaxgd.fit(...,
batch_size=1, eval_data=validation, keep_best=True); the example order is jaxgd's (seeded),
not scikit-learn's, so the curve has his shape but not his numbers. Full runs add real data:
an MLP 10-30-1 (ReLU) on the diabetes set, heavy ball (β = 0.9), 13 rates × 3 seeds in one
jaxgd.sweep with the validation split: the rate chosen on the training loss against the one
chosen on validation (SweepResult.best()), and what keep_best makes of the first.
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
from jaxgd.models import MLP, linear_apply, linear_init
from jaxgd.optim import sgd
from jaxgd.problems import MLPInit, MLPLoss
from jaxgd.report import Experiment

DEGREE, ETA0, POWER_T = 90, 0.002, 0.25
EPOCHS = 500
M_TRAIN = 50  # one-example updates per epoch
MLP_SIZES = (10, 30, 1)
MLP_RATES = np.logspace(-4, -1, 13)
MLP_STEPS, MLP_SEEDS = 1000, 3
OPTIMIZER = functools.partial(sgd, momentum=0.9)


def geron_points() -> tuple[np.ndarray, np.ndarray]:
    """Géron's 100 points (x, y), float64: the first 50 train, the last 50 validate."""
    rng = np.random.RandomState(42)  # = np.random.seed(42) and np.random.rand / randn
    x = 6 * rng.rand(100, 1) - 3
    return x[:, 0], (0.5 * x**2 + x + 2 + rng.randn(100, 1))[:, 0]


def features(x) -> np.ndarray:
    """x, x², …, x⁹⁰ standardised with the training half's mean and std (float64: 3⁹⁰ ≈ 9e42
    would overflow float32), as float32."""
    train = geron_points()[0][:M_TRAIN, None] ** np.arange(1, DEGREE + 1)
    powers = np.asarray(x, np.float64)[:, None] ** np.arange(1, DEGREE + 1)
    return ((powers - train.mean(axis=0)) / train.std(axis=0)).astype(np.float32)


def geron_data() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Géron's training and validation halves, as (degree-90 features, y) in float32."""
    x, y = geron_points()
    return tuple(
        (features(x[part]), y[part].astype(np.float32))
        for part in (slice(0, M_TRAIN), slice(M_TRAIN, None))
    )


def half_squared_error(params, x, y):
    """scikit-learn's squared_error loss, ½(y − ŷ)², averaged."""
    return 0.5 * jnp.mean((linear_apply(params, x) - y) ** 2)


def invscaling(count):
    """SGDRegressor's default schedule η_t = η₀ / t^0.25, t = 1, 2, … (count = t − 1)."""
    return ETA0 / (count + 1.0) ** POWER_T


def geron_runs(epochs: int) -> dict:
    """The same SGD run twice: plainly, and keeping the best parameters."""
    train, validation = geron_data()
    one_run = functools.partial(
        jaxgd.fit,
        half_squared_error,
        linear_init(0, DEGREE),
        train,
        sgd(invscaling),
        epochs=epochs,
        batch_size=1,
        key=42,
        record_every=M_TRAIN,
        eval_data=validation,
    )
    return {
        "validation": validation,
        "plain": one_run(),
        "kept": one_run(keep_best=True, record_params=True),
    }


def rmse(params, data) -> float:
    """Validation RMSE of linear-model parameters, in float64 NumPy."""
    x, y = (np.asarray(a, np.float64) for a in data)
    pred = x @ np.asarray(params["w"], np.float64) + float(params["b"])
    return float(np.sqrt(np.mean((pred - y) ** 2)))


def check_geron(exp, runs: dict, epochs: int) -> dict:
    """The claims on Géron's example; returns the curve's numbers."""
    plain, kept = runs["plain"], runs["kept"]
    # The recorded curve: before each epoch, and after the last one.
    curve = np.sqrt(2 * np.append(plain.eval_losses, plain.final_eval_loss))
    best_epoch = int(np.argmin(curve))
    kept_rmse = rmse(kept.params, runs["validation"])
    exp.claim(
        "keep_best=True returns the parameters at the lowest point of the recorded validation "
        "curve: their validation RMSE (recomputed in float64 NumPy) is the curve's minimum, "
        "and best_step is that epoch's update",
        f"kept {kept_rmse:.5f} at update {int(kept.best_step)}; curve minimum "
        f"{curve[best_epoch]:.5f} at epoch {best_epoch} (update {best_epoch * M_TRAIN})",
        "equal within 1e-5 relative; best_step = epoch × 50",
        abs(kept_rmse / curve[best_epoch] - 1) < 1e-5
        and int(kept.best_step) == best_epoch * M_TRAIN,
    )
    same = float(np.max(np.abs(np.asarray(plain.eval_losses) / np.asarray(kept.eval_losses) - 1)))
    at_best = jax.tree.map(lambda leaf: leaf[min(best_epoch, epochs - 1)], kept.param_history)
    moved = max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
        for a, b in zip(jax.tree.leaves(at_best), jax.tree.leaves(kept.params), strict=True)
    )
    exp.claim(
        "keeping the best does not change the run: with and without keep_best the recorded "
        "validation losses are the same, and the kept parameters are the ones recorded at "
        "best_step",
        f"largest relative difference of the curves {same:.1e}; largest difference of the "
        f"parameters {moved:.1e}",
        "curves within 1e-5 (two compiled programs, the same arithmetic); parameters 0",
        same < 1e-5 and moved == 0,
    )
    final = float(curve[-1])
    exp.claim(
        f"early stopping pays: the degree-{DEGREE} polynomial overfits, and after {epochs} "
        "epochs its validation RMSE is well above the kept model's (Géron's fig. 4-20: the "
        "curve falls, then climbs)",
        f"kept {kept_rmse:.3f} (epoch {best_epoch}), final {final:.3f}, "
        f"ratio {final / kept_rmse:.2f}",
        "final > 1.3 × kept, and the best epoch neither the first nor the last",
        final > 1.3 * kept_rmse and 0 < best_epoch < epochs,
    )
    return {"curve": curve, "best_epoch": best_epoch, "kept": kept_rmse, "final": final}


def diabetes_splits() -> tuple[dict, object]:
    """diabetes(0), standardised; targets scaled by the training split's mean and std, [m, 1]."""
    from jaxgd.datasets import diabetes

    data = diabetes(0)
    mean, std = float(np.mean(data.train[1])), float(np.std(data.train[1]))
    splits = {
        name: (getattr(data, name)[0], ((getattr(data, name)[1] - mean) / std)[:, None])
        for name in ("train", "validation", "test")
    }
    return {k: (x, y.astype(np.float32)) for k, (x, y) in splits.items()}, data


@jax.jit
def lane_test_mse(params, x, y):
    """Every lane's MSE on (x, y) (params with a leading lane axis)."""
    return jax.vmap(MLPLoss(MLP(MLP_SIZES)), in_axes=(0, None, None))(params, x, y)


def mlp_sweeps() -> dict:
    """The MLP's learning-rate sweep on diabetes, plainly and keeping each lane's best."""
    splits, data = diabetes_splits()
    model = MLP(MLP_SIZES)
    out = {"data": data, "splits": splits}
    for keep in (False, True):
        result = jaxgd.sweep(
            MLPLoss(model),
            MLPInit(model),
            splits["train"],
            OPTIMIZER,
            grid={"learning_rate": MLP_RATES.tolist()},
            seeds=MLP_SEEDS,
            steps=MLP_STEPS,
            key=0,
            eval_data=splits["validation"],
            record_every=MLP_STEPS // 50,
            keep_best=keep,
            progress=False,
        )
        test = np.asarray(lane_test_mse(result.params, *splits["test"]))
        out["kept" if keep else "plain"] = {"result": result, "test": test}
    return out


def median_at(part: dict, rate: float, values) -> float:
    """The median over the seeds of per-lane values at one learning rate."""
    return float(
        np.median(np.asarray(values)[part["result"].hyperparameters["learning_rate"] == rate])
    )


def check_mlp(exp, sweeps: dict) -> dict:
    """The claims on the diabetes MLP (full runs); returns the two choices."""
    plain, kept = sweeps["plain"], sweeps["kept"]
    result = plain["result"]
    picks = {
        "training": result.best(by="loss", over_seeds="median")["learning_rate"],
        "validation": result.best(over_seeds="median")["learning_rate"],
    }
    score = {
        k: {
            "train": median_at(plain, r, result.final_loss),
            "validation": median_at(plain, r, result.eval_loss),
            "test": median_at(plain, r, plain["test"]),
            "kept test": median_at(kept, r, kept["test"]),
        }
        for k, r in picks.items()
    }
    t, v = score["training"], score["validation"]
    exp.claim(
        f"real data (diabetes, MLP {'-'.join(map(str, MLP_SIZES))}): the rate chosen on the "
        f"training loss (α = {picks['training']:.3g}) fits the training patients far better "
        f"than the rate chosen on validation (α = {picks['validation']:.3g}) but predicts the "
        f"held-out test patients worse (medians over {MLP_SEEDS} seeds, MSE of scaled y)",
        f"training {t['train']:.3f} vs {v['train']:.3f}; validation {t['validation']:.3f} vs "
        f"{v['validation']:.3f}; test {t['test']:.3f} vs {v['test']:.3f}",
        "training MSE below half the validation choice's; test MSE above 1.5× its",
        t["train"] < 0.5 * v["train"] and t["test"] > 1.5 * v["test"],
    )
    exp.claim(
        "early stopping rescues the overfitting rate: with keep_best=True the training "
        "choice's kept parameters predict the test patients about as well as the validation "
        "choice",
        f"test MSE {t['kept test']:.3f} kept vs {t['test']:.3f} final; validation choice "
        f"{v['test']:.3f}",
        "kept < ⅔ of final, and within 25% of the validation choice's",
        t["kept test"] < t["test"] * 2 / 3 and abs(t["kept test"] / v["test"] - 1) < 0.25,
    )
    return {"picks": picks, "score": score}


def geron_figure(runs: dict, numbers: dict) -> Figure:
    """Géron's fig. 4-20, and the two polynomials it chooses between."""
    fig = Figure(figsize=(13, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    curve, best = numbers["curve"], numbers["best_epoch"]
    epochs = np.arange(len(curve))
    training = np.sqrt(2 * np.asarray(runs["plain"].epoch_losses))  # after each epoch
    axes[0].plot(epochs, curve, "b-", lw=2, label="validation set")
    axes[0].plot(epochs[1:], training, "r--", lw=1.5, label="training set")
    axes[0].axhline(curve[best], color="k", ls=":", lw=1)
    axes[0].annotate(
        f"best model (epoch {best}, RMSE {curve[best]:.2f})",
        xy=(best, curve[best]),
        xytext=(best, curve[best] + 0.8),
        ha="center",
        arrowprops={"arrowstyle": "->", "color": "k"},
    )
    axes[0].set(xlabel="epoch", ylabel="RMSE", ylim=(0, 3.5))
    axes[0].set_title("Géron's fig. 4-20: SGD on a degree-90 polynomial, validation RMSE")
    x, y = geron_points()
    grid = np.linspace(-3, 3, 400)
    axes[1].plot(x[:M_TRAIN], y[:M_TRAIN], "r.", ms=7, label="training points")
    axes[1].plot(x[M_TRAIN:], y[M_TRAIN:], "b+", ms=7, label="validation points")
    axes[1].plot(grid, 0.5 * grid**2 + grid + 2, "k:", lw=1, label="0.5x² + x + 2")
    for params, style, label in (
        (runs["kept"].params, "g-", f"kept (epoch {best})"),
        (runs["plain"].params, "m-", f"final (epoch {len(curve) - 1})"),
    ):
        axes[1].plot(grid, np.asarray(linear_apply(params, features(grid))), style, label=label)
    axes[1].set(xlabel="x", ylabel="y", ylim=(-2, 12), title="the two models")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def selection_figure(sweeps: dict, choice: dict) -> Figure:
    """The diabetes MLP: MSE against the rate, and the training choice's curves."""
    fig = Figure(figsize=(13, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    plain, kept = sweeps["plain"], sweeps["kept"]
    result = plain["result"]
    for values, style, label in (
        (result.final_loss, "r--", "training"),
        (result.eval_loss, "b-", "validation"),
        (plain["test"], "k:", "test"),
        (kept["test"], "g-.", "test, keep_best=True"),
    ):
        part = kept if "keep" in label else plain
        medians = [median_at(part, r, values) for r in MLP_RATES]
        axes[0].plot(MLP_RATES, medians, style, marker="o", ms=3, label=label)
    for key, colour in (("training", "tab:red"), ("validation", "tab:blue")):
        rate = choice["picks"][key]
        axes[0].axvline(rate, color=colour, lw=1, label=f"chosen on {key}: α = {rate:.2g}")
    axes[0].set(xscale="log", yscale="log", xlabel="learning rate α")
    axes[0].set(ylabel=f"MSE after {MLP_STEPS} updates (median of {MLP_SEEDS} seeds)")
    axes[0].set_title(f"diabetes, MLP {'-'.join(map(str, MLP_SIZES))}, heavy ball β = 0.9")
    updates = np.arange(result.losses.shape[1]) * result.record_every
    for key, colour in (("training", "tab:red"), ("validation", "tab:blue")):
        rate = choice["picks"][key]
        lane = int(np.flatnonzero(result.hyperparameters["learning_rate"] == rate)[0])
        axes[1].plot(
            updates, result.losses[lane], "--", color=colour, label=f"α = {rate:.2g}: training"
        )
        axes[1].plot(
            updates,
            result.eval_losses[lane],
            "-",
            color=colour,
            label=f"α = {rate:.2g}: validation",
        )
        step = int(kept["result"].best_step[lane])
        axes[1].plot(step, kept["result"].best_eval_loss[lane], "o", ms=9, mfc="none", color=colour)
    axes[1].plot([], [], "ko", mfc="none", label="kept by keep_best")
    axes[1].set(yscale="log", xlabel="update", ylabel="MSE (scaled y)")
    axes[1].set_title("seed 0 of the two chosen rates")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def run(out_dir: Path, quick: bool = False) -> dict:
    exp = Experiment(
        "early-stopping",
        out_dir,
        title="Early stopping (Géron fig. 4-20) and choosing on validation data",
        topics="topics 13, 15: choosing hyperparameters; against overfitting (early stopping, "
        "Géron's fig. 4-20; selection on a validation split, on the diabetes set)",
    )
    runs = geron_runs(EPOCHS)
    numbers = check_geron(exp, runs, EPOCHS)
    # Quick runs skip the diabetes sweeps (each is a compile of seconds).
    sweeps = None if quick else mlp_sweeps()
    choice = check_mlp(exp, sweeps) if sweeps else None
    exp.figure(
        geron_figure(runs, numbers),
        "early_stopping.png",
        "left: validation and training RMSE per epoch of one-example SGD on a degree-90 "
        "polynomial, the best model marked (Géron's fig. 4-20); right: the kept and the "
        "final polynomial over the data",
    )
    if sweeps:
        exp.figure(
            selection_figure(sweeps, choice),
            "selection.png",
            "left: training, validation and test MSE of the diabetes MLP against the rate, "
            "with the rates chosen on the training and on the validation loss; right: their "
            "curves (seed 0), the circles where keep_best stopped",
        )
    write_data(exp, numbers, sweeps, choice)
    return exp.finish()


def write_data(exp, numbers: dict, sweeps: dict | None, choice: dict | None) -> None:
    """The CSV/JSON data and the text."""
    exp.write_csv(
        "geron_curve.csv",
        [{"epoch": e, "validation_rmse": float(v)} for e, v in enumerate(numbers["curve"])],
    )
    exp.text(
        "Data: Géron's (Hands-On Machine Learning, ch. 4, fig. 4-20) 100 points from "
        "np.random.seed(42), 50 to train, 50 to validate; degree-90 features standardised "
        "on the training half. After a steep fall the validation error rises again as the "
        f"polynomial bends to fit the noise of its 50 points: lowest at epoch "
        f"{numbers['best_epoch']} (RMSE {numbers['kept']:.2f}), {numbers['final']:.2f} after "
        f"{EPOCHS}. Early stopping keeps the parameters at the lowest point; jaxgd.fit(..., "
        "eval_data=..., keep_best=True) records the validation loss every epoch and returns "
        "those parameters with the update they were taken at (best_step), while the run "
        "itself goes on to the end, as Géron's loop does."
    )
    if sweeps is None:
        exp.text("(Quick runs skip the diabetes sweeps.)")
        return
    d = sweeps["data"]
    t, v = choice["score"]["training"], choice["score"]["validation"]
    exp.table(
        "| chosen on | α | training MSE | validation MSE | test MSE | test MSE, keep_best |\n"
        "|---|---|---|---|---|---|\n"
        + "\n".join(
            f"| {k} loss | {choice['picks'][k]:.3g} | {s['train']:.3f} | "
            f"{s['validation']:.3f} | {s['test']:.3f} | {s['kept test']:.3f} |"
            for k, s in choice["score"].items()
        )
    )
    exp.text(
        f"Real data: {d.description} Source: {d.source} Split: jaxgd.datasets.diabetes(0), "
        f"60/20/20 (train {len(d.train[1])}, validation {len(d.validation[1])}, test "
        f"{len(d.test[1])}), features standardised on the training split; "
        "targets scaled by the training split's mean and standard deviation. A 10-30-1 net "
        "has 361 weights for 265 patients: at large rates heavy ball fits the training "
        f"targets almost exactly (median MSE {t['train']:.3f}) and predicts new patients "
        f"badly (test {t['test']:.3f}), so a sweep ranked by the training loss picks the "
        "worst kind of run. Ranked by the validation loss (SweepResult.best(), the default "
        "when the sweep has eval_data) it picks a small rate whose 1,000 updates stop early "
        f"(test {v['test']:.3f}); keep_best=True gets the same from the large rate by "
        "stopping it at its best validation point."
    )


if __name__ == "__main__":
    run(Path(sys.argv[1] if len(sys.argv) > 1 else "results/early-stopping"))
