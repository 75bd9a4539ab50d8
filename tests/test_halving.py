"""Successive halving inside a sweep: ``sweep(..., prune=SuccessiveHalving(...))``.

Every claim is checked against plain sweeps of the same lanes (no pruning) run for the
length each lane reached: a survivor must be that run, a pruned lane the shorter one, and
the lanes promoted at a rung the best by the plain runs' losses at that length.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgd
from jaxgd.optim import adam, sgd
from jaxgd.problems import geron_linear
from jaxgd.sweeps import program
from jaxgd.sweeps.results import read_records

# Géron's problem diverges above 2/λ_max = 0.4843: the top rates blow up within 10 updates
RATES = [float(r) for r in np.geomspace(1e-3, 1.5, 27)]


def _geron_sweep(**kwargs):
    p = geron_linear()
    options = dict(grid={"learning_rate": RATES}, steps=90, key=jax.random.PRNGKey(3))
    return jaxgd.sweep(p.loss_fn, p.init_fn, p.data, sgd, **{**options, **kwargs})


def _user_mlp():
    """An MLP as users write it: a dict of weights, ``x @ W``, NumPy data."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 5))
    y = np.tanh(x @ rng.normal(size=(5, 1))) + 0.1 * rng.normal(size=(96, 1))

    def init_fn(key):
        k1, k2 = jax.random.split(key)
        return {
            "w1": jax.random.normal(k1, (5, 16)) / jnp.sqrt(5.0),
            "b1": jnp.zeros((1, 16)),
            "w2": jax.random.normal(k2, (16, 1)) / 4.0,
        }

    def loss_fn(params, x, y):
        hidden = jnp.tanh(x @ params["w1"] + params["b1"])
        return jnp.mean((hidden @ params["w2"] - y) ** 2)

    return loss_fn, init_fn, (x, y)


def _assert_lanes_equal(pruned, plain, lanes, n_records, rtol, atol):
    np.testing.assert_allclose(pruned.final_loss[lanes], plain.final_loss[lanes], rtol=rtol)
    np.testing.assert_allclose(
        pruned.losses[lanes, :n_records], plain.losses[lanes], rtol=rtol, atol=1e-30
    )
    for a, b in zip(jax.tree.leaves(pruned.params), jax.tree.leaves(plain.params), strict=True):
        np.testing.assert_allclose(np.asarray(a)[lanes], np.asarray(b)[lanes], rtol=rtol, atol=atol)


@pytest.mark.parametrize("batch_size", [None, 20])
def test_every_lane_is_the_plain_run_of_the_length_it_reached(x64, batch_size):
    halving = jaxgd.SuccessiveHalving(min_steps=10, reduction=3)
    result = _geron_sweep(prune=halving, batch_size=batch_size)
    assert halving.rungs(90) == [10, 30, 90]
    running = result.status != "diverged"
    for steps in (10, 30, 90):
        plain = _geron_sweep(steps=steps, batch_size=batch_size)
        stopped_here = running & (result.steps == steps)
        assert stopped_here.any()
        _assert_lanes_equal(result, plain, stopped_here, steps, rtol=1e-12, atol=1e-12)
        expected = "pruned" if steps < 90 else "completed"
        assert set(result.status[stopped_here]) == {expected}
        # a pruned lane's history repeats its final loss after its last rung
        after = result.losses[stopped_here, steps:]
        np.testing.assert_array_equal(
            after, np.repeat(result.final_loss[stopped_here, None], after.shape[1], 1)
        )


def test_each_rung_promotes_the_best_third_diverged_first_out(x64):
    result = _geron_sweep(prune=jaxgd.SuccessiveHalving(min_steps=10))
    diverged = result.status == "diverged"
    assert diverged.any() and (result.steps[diverged] <= 10).all()
    cohort = np.arange(27)
    for steps, survivors in ((10, 9), (30, 3)):
        plain = _geron_sweep(steps=steps)  # the losses every lane of the cohort had there
        score = np.where(plain.status == "diverged", np.inf, plain.final_loss)[cohort]
        promoted = cohort[result.steps[cohort] > steps]
        assert len(promoted) == survivors
        assert score[np.isin(cohort, promoted)].max() <= score[~np.isin(cohort, promoted)].min()
        cohort = promoted
    assert list(result.status).count("completed") == 3
    best = result.best()
    assert best["status"] == "completed" and best["steps"] == 90


def test_survivors_of_a_user_mlp_with_adam_in_float32():
    loss_fn, init_fn, data = _user_mlp()
    grid = {"learning_rate": [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3], "b1": [0.8, 0.9, 0.95]}
    options = dict(grid=grid, seeds=2, key=0, batch_size=32)
    halving = jaxgd.SuccessiveHalving(min_steps=20, reduction=3, over_seeds="median")
    result = jaxgd.sweep(loss_fn, init_fn, data, adam, steps=180, prune=halving, **options)
    plain = jaxgd.sweep(loss_fn, init_fn, data, adam, steps=180, **options)
    survivors = result.status == "completed"
    assert survivors.sum() == 4  # 18 configurations -> 6 -> 2, both seeds of each kept together
    # float32: programs of different widths round differently (1e-6 on parameters of ~1)
    _assert_lanes_equal(result, plain, survivors, 180, rtol=2e-5, atol=1e-5)
    # over_seeds: a configuration's two seeds share their fate
    by_config = result.status.reshape(-1, 2)
    assert (by_config[:, 0] == by_config[:, 1]).all()
    assert (result.steps.reshape(-1, 2)[:, 0] == result.steps.reshape(-1, 2)[:, 1]).all()
    # the median over seeds chooses among configurations that ran to the end
    best = result.best(over_seeds="median")
    chosen = (best["learning_rate"], best["b1"])
    records = result.to_records()
    lanes = [i for i, r in enumerate(records) if (r["learning_rate"], r["b1"]) == chosen]
    assert (result.status[lanes] == "completed").all() and best["pruned_seeds"] == 0
    assert best["final_loss"] == pytest.approx(float(np.median(result.final_loss[lanes])))


def test_median_over_seeds_after_pruning_seeds_one_by_one_says_why_nothing_qualifies(x64):
    # 4 rates x 2 seeds, keep 1 lane in 8: one seed of one configuration survives, so every
    # configuration has most of its seeds pruned (+inf in the median)
    halving = jaxgd.SuccessiveHalving(min_steps=10, reduction=8)
    result = _geron_sweep(grid={"learning_rate": RATES[:4]}, seeds=2, steps=20, prune=halving)
    assert (result.status == "completed").sum() == 1
    assert result.best()["status"] == "completed"  # the best lane is still there
    with pytest.raises(ValueError, match=r"pruned seeds one by one.*over_seeds='median'"):
        result.best(over_seeds="median")


def test_rungs_compile_a_bounded_set_of_programs_reused_across_calls(x64):
    loss_fn, init_fn, data = _user_mlp()
    grid = {"learning_rate": list(np.geomspace(1e-3, 0.3, 27))}
    options = dict(grid=grid, key=1, steps=270, prune=jaxgd.SuccessiveHalving(min_steps=10))
    before = program.run_rung._cache_size()
    first = jaxgd.sweep(loss_fn, init_fn, data, adam, **options)
    compiled = program.run_rung._cache_size() - before
    assert 1 <= compiled <= len(options["prune"].rungs(270))  # at most one per rung
    second = jaxgd.sweep(loss_fn, init_fn, data, adam, **options)
    assert program.run_rung._cache_size() - before == compiled  # none more
    np.testing.assert_array_equal(first.final_loss, second.final_loss)
    assert (first.status == second.status).all()


def test_pruning_on_validation_loss_with_keep_best(x64, tmp_path):
    loss_fn, init_fn, (x, y) = _user_mlp()
    halving = jaxgd.SuccessiveHalving(min_steps=10, metric="eval_loss")
    options = dict(key=0, eval_data=(x[64:], y[64:]), keep_best=True)
    grid = {"learning_rate": list(np.geomspace(1e-3, 1.0, 9))}
    train = (x[:64], y[:64])
    result = jaxgd.sweep(
        loss_fn, init_fn, train, adam, grid=grid, steps=90, prune=halving, **options
    )
    assert list(result.status).count("pruned") == 8
    kept = result.status == "completed"
    rate = result.hyperparameters["learning_rate"][kept][0]
    plain = jaxgd.sweep(
        loss_fn, init_fn, train, adam, points=[{"learning_rate": rate}], steps=90, **options
    )
    np.testing.assert_allclose(result.eval_loss[kept], plain.eval_loss, rtol=1e-12)
    assert result.best_step[kept] == plain.best_step
    # rung 0 promotes the 3 lanes with the lowest validation loss at update 10
    at_10 = jaxgd.sweep(loss_fn, init_fn, train, adam, grid=grid, steps=10, **options)
    promoted = np.flatnonzero(result.steps > 10)
    assert sorted(promoted) == sorted(np.argsort(at_10.eval_loss)[:3])
    records = read_records(result.to_csv(tmp_path / "halving.csv"))
    assert [r["status"] for r in records] == list(result.status)
    assert np.isfinite(result.eval_losses).all()


@pytest.mark.parametrize(
    "kwargs, prune, error, match",
    [
        ({}, "halving", TypeError, "SuccessiveHalving"),
        ({}, jaxgd.SuccessiveHalving(min_steps=90), ValueError, "prunes nothing"),
        ({"record_every": 4}, jaxgd.SuccessiveHalving(min_steps=10), ValueError, "record_every"),
        ({}, jaxgd.SuccessiveHalving(10, metric="eval_loss"), ValueError, "eval_data"),
    ],
)
def test_bad_prune_arguments_are_refused_before_any_work(kwargs, prune, error, match):
    with pytest.raises(error, match=match):
        _geron_sweep(prune=prune, **kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"min_steps": 0}, "min_steps"),
        ({"min_steps": 10, "reduction": 1}, "reduction"),
        ({"min_steps": 10, "reduction": 2.5}, "reduction"),
        ({"min_steps": 10, "metric": "accuracy"}, "metric"),
        ({"min_steps": 10, "over_seeds": "mean"}, "over_seeds"),
    ],
)
def test_successive_halving_checks_its_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        jaxgd.SuccessiveHalving(**kwargs)


def test_rungs_and_keep_counts():
    halving = jaxgd.SuccessiveHalving(min_steps=10, reduction=3)
    assert halving.rungs(810) == [10, 30, 90, 270, 810]
    assert halving.rungs(100) == [10, 30, 90, 100]
    assert [halving.keep(n) for n in (243, 81, 10, 2, 1)] == [81, 27, 3, 1, 1]
