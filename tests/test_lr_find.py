"""jaxgd.lr_find: the range test and the vectorised finder, held to numbers computed apart.

* Géron's problem: the Hessian of the MSE in NumPy gives the divergence boundary 2/λ_max; both
  methods suggest a rate below it, and gradient descent at the suggestion reaches the
  least-squares solution. The range test's batch losses are those of plain gradient descent
  with η_t = min_lr·(max_lr/min_lr)^(t/(N−1)), run in NumPy.
* fastai's valley rule on curves worked out by hand; the smoothing against the closed form of
  the bias-corrected moving average; the cut at 4× the running minimum.
* The sweep flags exactly the rates above 2/λ_max and never suggests one of them.
* A user's MLP (a dict of weights, ``x @ W``) with jaxgd's Adam and optax's.
* Keys of every kind, NumPy and JAX data, float64; the errors; the command line.
"""

import argparse
import csv
import dataclasses
import inspect
import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgd
from jaxgd import lr_find
from jaxgd.cli import main
from jaxgd.lr_finder import RULES, LRFindResult, divergence_cut, smooth_losses, valley_index
from jaxgd.optim import adam, sgd
from jaxgd.problems import geron_linear, geron_linear_data, geron_theta0
from jaxgd.train import fit

GERON = geron_linear()


def _design() -> tuple[np.ndarray, np.ndarray]:
    x, y = geron_linear_data()
    return np.concatenate([np.ones((len(x), 1)), x], axis=1), y


def _geron_bound_and_solution() -> tuple[float, np.ndarray]:
    """2/λ_max of the Hessian (2/m)·XᵦᵀXᵦ of mean((Xᵦθ − y)²), and the least-squares θ."""
    xb, y = _design()
    hessian = 2 / len(y) * xb.T @ xb
    theta = np.linalg.lstsq(xb, y, rcond=None)[0]
    return 2 / np.linalg.eigvalsh(hessian).max(), theta


BOUND, THETA = _geron_bound_and_solution()


def _numpy_range_losses(lrs: np.ndarray, start: dict) -> np.ndarray:
    """Gradient descent in float64 NumPy from ``start`` with rate lrs[t] at update t: the loss
    L_t of θ_t before each update."""
    xb, y = _design()
    theta = np.array([float(start["b"]), float(start["w"][0])])
    losses = []
    for lr in lrs:
        residual = xb @ theta - y
        losses.append(np.mean(residual**2))
        theta = theta - lr * 2 / len(y) * xb.T @ residual
    return np.array(losses)


def test_the_divergence_boundary_is_the_issues():
    assert pytest.approx(0.4843, abs=1e-4) == BOUND
    assert jaxgd.lr_find is lr_find and jaxgd.LRFindResult is LRFindResult


# ----------------------------------------------------------------------------- 1. Géron


@pytest.mark.parametrize(
    ("method", "settings"),
    [
        # The valley sits about halfway (in log-rate) down the part of the curve where the
        # loss falls; on this convex problem every rate lowers it, so min_lr places the
        # valley: fastai's 1e-7 gives 9e-4, too slow to converge in 2,000 updates.
        ("range", {"min_lr": 1e-3}),
        ("sweep", {}),
    ],
)
def test_geron_suggestion_is_stable_and_reaches_the_least_squares_solution(method, settings):
    result = lr_find(GERON.loss_fn, geron_theta0(), GERON.data, sgd, method=method, **settings)
    assert 0.01 < result.suggestion < BOUND
    trained = fit(GERON.loss_fn, geron_theta0(), GERON.data, sgd(result.suggestion), steps=2000)
    theta = [float(trained.params["b"]), float(trained.params["w"][0])]
    np.testing.assert_allclose(theta, THETA, atol=1e-4)


def test_every_range_rule_suggests_a_stable_rate():
    for rule in RULES["range"]:
        result = lr_find(GERON.loss_fn, geron_theta0(), GERON.data, sgd, min_lr=1e-3, rule=rule)
        assert 0 < result.suggestion < BOUND, rule
        assert result.rule == rule and result.method == "range"


# ----------------------------------------------------------------------------- 2. the rules


def test_valley_of_a_clean_valley_by_hand():
    # d_i (longest strictly decreasing subsequence ending at i): 1 1 2 3 4 5 6 7 7 1;
    # the first 7 is at e = 7, b = e − 7 = 0, (e − b)/3 = 2.33: index 0 + 2 + int(1.17) = 3.
    losses = [10, 10, 9, 8, 7, 6, 5, 4, 4.5, 20]
    assert valley_index(losses) == 3


def test_valley_follows_subsequences_not_runs():
    # d_i: 5→1, 7→1, 4→2, 6→2, 3→3, 2→4, 8→1, 1→5, 9→1, 0.5→6; e = 9, b = 9 − 6 = 3,
    # (e − b)/3 = 2: index 3 + 2 + 1 = 6 (fastai's formula, even though 6 is a peak).
    assert valley_index([5, 7, 4, 6, 3, 2, 8, 1, 9, 0.5]) == 6


def test_valley_ties_keep_the_first_and_no_valley_raises():
    # d = 1 2 3 1 2 3: the first 3 (e = 2) wins, b = −1, index −1 + 1 + 0 = 0.
    assert valley_index([9, 8, 7, 10, 9.5, 9.2]) == 0
    with pytest.raises(ValueError, match="no valley"):
        valley_index([2, 1, 4, 3])  # d = 1 2 1 2: e = 1, b = −1, index −1


def test_rate_sequence_smoothing_and_cut():
    steps, min_lr, max_lr = 100, 1e-3, 10.0
    r = lr_find(GERON.loss_fn, geron_theta0(), GERON.data, sgd, min_lr=min_lr, steps=steps)
    t = np.arange(steps)
    expected = min_lr * (max_lr / min_lr) ** (t / (steps - 1))
    np.testing.assert_allclose(r.learning_rates, expected, rtol=1e-6)
    assert r.learning_rates[0] == pytest.approx(min_lr, rel=1e-7)
    assert r.learning_rates[-1] == pytest.approx(max_lr, rel=1e-6)
    cut = int(np.argmax(r.diverged))
    assert r.diverged[cut:].all() and not r.diverged[:cut].any() and cut > steps // 2
    # the batch losses are those of gradient descent with these rates, while it contracts
    # (above 2/λ_max float32's rounding grows along the unstable direction, float64's less)
    stable = expected <= BOUND
    np.testing.assert_allclose(
        r.raw_losses[stable], _numpy_range_losses(expected, geron_theta0())[stable], rtol=1e-5
    )
    # s_t = Σ_{i≤t} (1 − β) β^(t−i) L_i / (1 − β^(t+1)), β = 0.98, in closed form
    beta, raw = 0.98, r.raw_losses[: cut + 1]
    weights = (1 - beta) * beta ** (np.arange(cut + 1)[:, None] - np.arange(cut + 1)[None, :])
    closed = np.tril(weights) @ raw / (1 - beta ** (np.arange(cut + 1) + 1))
    np.testing.assert_allclose(r.losses[: cut + 1], closed, rtol=1e-12)
    assert np.isnan(r.losses[cut + 1 :]).all()
    running_min = np.minimum.accumulate(closed)
    assert closed[cut] > 4 * running_min[cut] and (closed[:cut] <= 4 * running_min[:cut]).all()


def test_smoothing_and_cut_by_hand():
    np.testing.assert_allclose(
        smooth_losses([2.0, 4.0]), [2.0, (0.02 * 0.98 * 2 + 0.02 * 4) / (1 - 0.98**2)]
    )
    assert divergence_cut([5.0, 4.0, 3.0, 13.0]) == 3  # 13 > 4·3
    assert divergence_cut([5.0, 4.0, 3.0, 12.0]) is None  # 12 is not > 12
    assert divergence_cut([1.0, np.inf]) == 1


# ----------------------------------------------------------------------------- 3. the sweep


def test_sweep_flags_exactly_the_rates_above_the_boundary_and_never_suggests_them():
    r = lr_find(GERON.loss_fn, geron_theta0(), GERON.data, sgd, method="sweep")
    assert len(r.learning_rates) == 32 and r.rule == "best"
    np.testing.assert_array_equal(r.diverged, r.learning_rates > BOUND)
    assert np.isinf(r.losses[r.diverged]).all() and np.isfinite(r.raw_losses).all()
    assert r.suggestion not in r.learning_rates[r.diverged]
    stable = ~r.diverged
    assert r.suggestion == r.learning_rates[stable][np.argmin(r.raw_losses[stable])]


def _mlp_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype(np.float32)
    y = np.tanh(x @ rng.normal(size=8) / 2).astype(np.float32) + x[:, 0] ** 2 / 4

    def loss_fn(params, x, y):
        hidden = jnp.tanh(x @ params["w1"] + params["b1"])
        return jnp.mean((hidden @ params["w2"] + params["b2"] - y) ** 2)

    k1, k2 = jax.random.split(jax.random.key(1))
    params = {
        "w1": jax.random.normal(k1, (8, 32)) / np.sqrt(8),
        "b1": jnp.zeros((1, 32)),
        "w2": jax.random.normal(k2, (32,)) / np.sqrt(32),
        "b2": jnp.zeros(()),
    }
    return loss_fn, params, (x, y)


def test_mlp_written_as_users_write_it():
    loss_fn, params, data = _mlp_problem()
    initial = float(loss_fn(params, *data))
    found = {}
    for method in ("range", "sweep"):
        extra = {"num_rates": 12} if method == "sweep" else {}
        r = found[method] = lr_find(loss_fn, params, data, adam, method=method, max_lr=1.0, **extra)
        assert np.isfinite(r.suggestion) and 1e-7 <= r.suggestion <= 1.0
        trained = fit(loss_fn, params, data, adam(r.suggestion), steps=300)
        final = float(trained.final_loss)
        assert np.isfinite(final) and final < initial, (method, r.suggestion, final, initial)
    # optax's Adam, which jaxgd's equals, finds the same curve and rate
    twin = lr_find(loss_fn, params, data, optax.adam, max_lr=1.0)
    kept = ~found["range"].diverged
    np.testing.assert_allclose(twin.losses[kept], found["range"].losses[kept], rtol=1e-4)
    assert twin.suggestion == pytest.approx(found["range"].suggestion, rel=1e-6)


# ----------------------------------------------------------------------------- 4. inputs


@pytest.mark.parametrize("method", ["range", "sweep"])
def test_every_kind_of_key_and_of_data_gives_the_same_result(method):
    settings = {"method": method, "batch_size": 16, "min_lr": 1e-3, "steps": 40}
    if method == "sweep":
        settings["num_rates"] = 6
    x, y = (np.asarray(a) for a in GERON.data)
    runs = [
        lr_find(GERON.loss_fn, geron_theta0(), data, sgd, key=key, **settings)
        for key, data in [
            (None, GERON.data),
            (0, (x, y)),
            (jax.random.key(0), GERON.data),
            (jax.random.PRNGKey(0), (x, y)),
        ]
    ]
    for other in runs[1:]:
        np.testing.assert_array_equal(other.raw_losses, runs[0].raw_losses)
        assert other.suggestion == runs[0].suggestion
    moved = lr_find(GERON.loss_fn, geron_theta0(), GERON.data, sgd, key=1, **settings)
    assert not np.array_equal(moved.raw_losses, runs[0].raw_losses)  # the key orders the data


def test_float64_matches_numpy_gradient_descent():
    with jax.enable_x64(True):
        x, y = geron_linear_data()
        start = {k: np.asarray(v, np.float64) for k, v in geron_theta0().items()}
        r = lr_find(GERON.loss_fn, start, (x, y), sgd, min_lr=1e-3)
    stable = r.learning_rates <= BOUND
    expected = _numpy_range_losses(r.learning_rates, start)
    np.testing.assert_allclose(r.raw_losses[stable], expected[stable], rtol=1e-10)
    assert 0.01 < r.suggestion < BOUND


P = (GERON.loss_fn, geron_theta0(), GERON.data, sgd)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"min_lr": 0.0}, ValueError, "min_lr"),
        ({"min_lr": -1e-3}, ValueError, "min_lr"),
        ({"min_lr": "0.1"}, TypeError, "min_lr"),
        ({"max_lr": float("inf")}, ValueError, "max_lr"),
        ({"max_lr": 1e-8}, ValueError, "max_lr.*larger than min_lr"),
        ({"steps": 1}, ValueError, "steps"),
        ({"steps": 2.5}, ValueError, "steps"),
        ({"steps": True}, ValueError, "steps"),
        ({"steps": 6}, ValueError, "steps=6 must be an integer >= 7"),
        ({"num_rates": 8}, ValueError, "num_rates is for method='sweep'"),
        ({"method": "sweep", "num_rates": 1}, ValueError, "num_rates"),
        ({"method": "grid"}, ValueError, "method='grid'"),
        ({"rule": "best"}, ValueError, "rule='best'.*method='sweep'"),
        ({"method": "sweep", "rule": "valley"}, ValueError, "rule='valley'"),
        ({"rule": "median"}, ValueError, "rule='median'"),
        ({"key": "seed"}, TypeError, "key"),
        ({"min_lr": 1.0}, ValueError, "diverged at once.*lower min_lr"),
        ({"method": "sweep", "min_lr": 1.0}, ValueError, "every one.*lower min_lr"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        lr_find(*P, **kwargs)


def test_bad_params_and_factory_are_named():
    with pytest.raises(ValueError, match=r"params\['b'\].*NaN"):
        lr_find(GERON.loss_fn, {"w": jnp.ones(1), "b": jnp.array(jnp.nan)}, GERON.data, sgd)
    with pytest.raises(TypeError, match="optimizer_factory"):
        lr_find(GERON.loss_fn, geron_theta0(), GERON.data, sgd(0.1))


@pytest.mark.parametrize("method", ["range", "sweep"])
def test_a_factory_without_learning_rate_is_named_before_any_work(method, monkeypatch):
    def myopt(lr):
        return sgd(lr)

    def no_run(*args, **kwargs):
        raise AssertionError("lr_find trained before checking the factory")

    monkeypatch.setattr(jaxgd.train, "fit", no_run)
    monkeypatch.setattr(jaxgd.sweeps, "sweep", no_run)
    with pytest.raises(ValueError, match=r"does not accept learning_rate.*it accepts lr"):
        lr_find(GERON.loss_fn, geron_theta0(), GERON.data, myopt, method=method)
    # the message is the one jaxgd.sweep gives for the same factory
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"does not accept learning_rate.*it accepts lr"):
        jaxgd.sweep(
            GERON.loss_fn,
            GERON.init_fn,
            GERON.data,
            myopt,
            grid={"learning_rate": [0.1]},
            steps=1,
            key=0,
        )
    # a factory taking **kwargs can't be checked by name, and works
    r = lr_find(*P[:3], lambda **kw: sgd(**kw), min_lr=1e-3, steps=20)
    assert r.suggestion == lr_find(*P, min_lr=1e-3, steps=20).suggestion


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class _CallableLine:
    """A callable pytree of parameters (as an Equinox module is): not mistaken for a function."""

    b: jax.Array
    w: jax.Array

    def __call__(self, x):
        return self.b + x @ self.w


def test_a_function_passed_as_params_says_to_call_it():
    def init_fn(key):
        return geron_theta0()

    hint = r"params={} is a function; params must be the initial parameters \(a pytree of float"
    for fn, name in [(init_fn, "init_fn"), (GERON.init_fn, "geron_init"), (lambda k: 0, "init_fn")]:
        with pytest.raises(
            TypeError, match=hint.format(name) + rf".*{name}\(jax.random.key\(0\)\)"
        ):
            lr_find(GERON.loss_fn, fn, GERON.data, sgd)
    line = _CallableLine(**geron_theta0())
    r = lr_find(lambda p, x, y: jnp.mean((p(x) - y) ** 2), line, GERON.data, sgd, min_lr=1e-3)
    assert r.suggestion == lr_find(*P, min_lr=1e-3).suggestion


def test_best_breaks_exact_ties_to_the_smaller_rate():
    def flat(params, x, y):  # every rate ends at the same loss, 1.0
        return 0.0 * jnp.sum(params["w"]) + 1.0

    r = lr_find(flat, geron_theta0(), GERON.data, sgd, method="sweep", num_rates=5, steps=3)
    assert (r.losses == 1.0).all() and not r.diverged.any()
    assert r.suggestion == r.learning_rates[0] == pytest.approx(1e-7)


# ----------------------------------------------------------------------------- 5. output


def test_records_files_and_plot(tmp_path):
    r = lr_find(*P, method="sweep")
    records = r.to_records()
    assert len(records) == 32 and set(records[0]) == {
        "learning_rate",
        "loss",
        "raw_loss",
        "diverged",
    }
    saved = json.loads(r.to_json(tmp_path / "r.json").read_text())
    assert saved["suggestion"] == r.suggestion and saved["rule"] == "best"
    assert [row["loss"] is None for row in saved["records"]] == list(r.diverged)
    with r.to_csv(tmp_path / "r.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [float(row["learning_rate"]) for row in rows] == list(r.learning_rates)
    ax = r.plot()
    assert ax.get_xscale() == "log" and ax.get_title() == "lr_find: method sweep, rule best"


def test_cli_help_lists_lr_find_without_importing_jax():
    code = (
        "import sys, contextlib, io\n"
        "from jaxgd.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.suppress(SystemExit):\n"
        "    main(['lr-find', '--help'])\n"
        "print('--num-rates' in out.getvalue(), 'jax' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["True", "False"], done.stderr


def test_cli_writes_the_files_and_prints_the_suggestion(tmp_path, capsys):
    from jaxgd._commands import lr_find as command

    assert command.RULES == RULES
    argv = ["lr-find", "--problem", "geron", "--min-lr", "1e-3", "--out", str(tmp_path)]
    assert main([*argv, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["method"] == "range" and summary["rule"] == "valley"
    assert 0 < summary["suggestion"] < BOUND
    for name in ("lr_find.csv", "lr_find.json", "lr_find.png"):
        assert (tmp_path / name).stat().st_size > 0
    assert main(argv[:-2]) == 0  # the same run, as text, no files
    printed = capsys.readouterr().out
    assert f"suggested learning rate: {summary['suggestion']:.4g} (rule valley" in printed
    with pytest.raises(SystemExit) as exit_:
        main(["lr-find", "--method", "grid"])
    assert exit_.value.code == 2
    assert main(["lr-find", "--min-lr", "-1"]) == 2
    assert "min_lr=-1.0" in capsys.readouterr().err


def test_cli_defaults_are_lr_finds_and_its_sweep_is_the_readmes_python_call(capsys):
    from jaxgd._commands import lr_find as command

    parser = argparse.ArgumentParser()
    command.configure(parser)
    args, defaults = parser.parse_args([]), inspect.signature(lr_find).parameters
    for name in ("min_lr", "max_lr", "steps", "batch_size", "method", "num_rates", "rule"):
        assert getattr(args, name) == defaults[name].default, name
    # README: lr_find(problem.loss_fn, problem.init_fn(jax.random.key(0)), data, sgd, ...)
    params = GERON.init_fn(jax.random.key(0))
    found = lr_find(GERON.loss_fn, params, GERON.data, sgd, method="sweep")
    assert round(found.suggestion, 4) == 0.2829 and found.suggestion < BOUND
    assert main(["lr-find", "--problem", "geron", "--method", "sweep", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["suggestion"] == found.suggestion
    assert main(["lr-find", "--problem", "geron", "--method", "sweep"]) == 0
    marked = [line for line in capsys.readouterr().out.splitlines() if "<- suggested" in line]
    assert len(marked) == 1 and marked[0].split()[:2] == ["0.2829", f"{found.losses.min():.6g}"]


def test_table_always_prints_the_suggested_row():
    from jaxgd._commands.lr_find import TABLE_ROWS, _table

    n = 40  # the evenly spaced rows are round(i·39/11): 0, 4, 7, 11, …; index 1 is not one
    lrs, losses = np.geomspace(1e-4, 1.0, n), np.linspace(2.0, 1.0, n)
    for index in range(n):
        r = LRFindResult(lrs, losses, losses, np.zeros(n, bool), lrs[index], "best", "sweep")
        lines = _table(r).splitlines()[2:]
        marked = [line for line in lines if line.endswith("<- suggested")]
        assert marked == [line for line in lines if line.split()[0] == f"{lrs[index]:.4g}"]
        assert len(lines) == TABLE_ROWS + (index not in {round(i * 39 / 11) for i in range(12)})


def test_cli_minimum_rule_marks_the_minimum_and_the_row_nearest_the_suggestion(capsys):
    argv = ["lr-find", "--problem", "geron", "--rule", "minimum", "--min-lr", "1e-3"]
    assert main([*argv, "--json"]) == 0
    suggestion = json.loads(capsys.readouterr().out)["suggestion"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    (minimum,) = (float(line.split()[0]) for line in lines if line.endswith("<- minimum"))
    (near,) = (float(line.split()[0]) for line in lines if line.endswith("nearest the suggestion"))
    assert minimum / 10 == pytest.approx(suggestion, rel=1e-3)
    assert near == pytest.approx(suggestion, rel=0.1)  # 100 rates over 4 decades: ×1.1 apart
