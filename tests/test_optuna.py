"""jaxgd.integrations.optuna.optimize: Optuna's samplers and storages driving sweep lanes.

Every trial's value is recomputed independently with :func:`jaxgd.fit` from the lane keys
(:func:`jaxgd.sweeps.lane_keys`) of the batch's key, not by the code under test.
"""

from __future__ import annotations

import inspect
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import jaxgd
from jaxgd.optim import adam, sgd
from jaxgd.sweeps import lane_keys

optuna = pytest.importorskip("optuna")
from optuna.distributions import (  # noqa: E402
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState  # noqa: E402

from jaxgd.integrations.optuna import (  # noqa: E402
    open_study,
    optimize,
    sampler,
    summary,
    to_distributions,
)

ROOT = Path(__file__).resolve().parents[1]
KEY = jax.random.key(0)
GERON = jaxgd.problems.geron_linear()
RATES = {"learning_rate": jaxgd.log_uniform(1e-3, 0.3)}
SWEEP_HAS_PRUNE = "prune" in inspect.signature(jaxgd.sweep).parameters
needs_prune = pytest.mark.skipif(
    not SWEEP_HAS_PRUNE, reason="jaxgd.sweep(prune=...) has not landed yet"
)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _study(name="tpe", **kwargs):
    return optuna.create_study(sampler=sampler(name, seed=0), **kwargs)


def _fit(trial, key, *, seed=0, factory=sgd, data=GERON.data, **kwargs):
    """The trial's lane recomputed with jaxgd.fit from the batch key's lane keys."""
    init_key, data_key = lane_keys(jax.random.fold_in(key, trial.user_attrs["jaxgd_key"]), seed)
    optimizer = factory(**trial.params)
    return jaxgd.fit(
        GERON.loss_fn, GERON.init_fn(init_key), data, optimizer, key=data_key, **kwargs
    )


def test_every_trial_is_told_its_validation_loss_as_fit_computes_it():
    (x, y), split = GERON.data, 80
    train, validation = (x[:split], y[:split]), (x[split:], y[split:])
    study = _study()
    optimize(
        study,
        GERON.loss_fn,
        GERON.init_fn,
        train,
        adam,
        {"learning_rate": jaxgd.log_uniform(1e-3, 0.3), "b1": jaxgd.uniform(0.5, 0.95)},
        n_trials=10,
        lanes=4,
        steps=120,
        batch_size=20,
        key=KEY,
        eval_data=validation,
    )
    assert len(study.trials) == 10
    assert [t.user_attrs["jaxgd_key"] for t in study.trials] == [0] * 4 + [4] * 4 + [8] * 2
    for trial in study.trials:
        assert trial.state == TrialState.COMPLETE, trial.user_attrs
        run = _fit(trial, KEY, factory=adam, data=train, steps=120, batch_size=20,
                   eval_data=validation)  # fmt: skip
        np.testing.assert_allclose(trial.value, float(run.final_eval_loss), rtol=2e-5)
        np.testing.assert_allclose(trial.user_attrs["final_loss"], float(run.final_loss), rtol=2e-5)
        assert trial.user_attrs["eval_loss"] == trial.value
        assert trial.user_attrs["jaxgd_status"] == "completed"
        assert trial.user_attrs["steps"] == 120


def test_a_diverging_rate_is_a_failed_trial_with_the_reason():
    study = _study("random")
    study.enqueue_trial({"learning_rate": 0.9})  # SGD on Géron diverges above 2/λ_max = 0.4843
    study.enqueue_trial({"learning_rate": 0.45})
    optimize(
        study,
        GERON.loss_fn,
        GERON.init_fn,
        GERON.data,
        sgd,
        {"learning_rate": jaxgd.log_uniform(1e-3, 1.0)},
        n_trials=3,
        lanes=3,
        steps=200,
        key=KEY,
    )
    failed, fine, _ = study.trials
    assert failed.state == TrialState.FAIL and failed.value is None
    assert failed.user_attrs["jaxgd_status"] == "diverged"
    assert "diverged" in failed.user_attrs["reason"]
    reference = _fit(failed, KEY, steps=200)
    assert bool(reference.diverged)
    assert failed.user_attrs["diverged_at"] == int(reference.diverged_at)
    assert f"update {int(reference.diverged_at)}" in failed.user_attrs["reason"]
    assert fine.state == TrialState.COMPLETE
    np.testing.assert_allclose(fine.value, float(_fit(fine, KEY, steps=200).final_loss), rtol=2e-5)


def test_several_seeds_tell_the_median():
    study = _study()
    optimize(
        study,
        GERON.loss_fn,
        GERON.init_fn,
        GERON.data,
        sgd,
        RATES,
        n_trials=3,
        lanes=2,
        steps=30,
        seeds=3,
        key=KEY,
    )
    for trial in study.trials:
        losses = [float(_fit(trial, KEY, seed=s, steps=30).final_loss) for s in range(3)]
        np.testing.assert_allclose(trial.value, np.median(losses), rtol=2e-5)
        assert trial.user_attrs["seeds"] == 3


@pytest.mark.parametrize("name", ["tpe", "random", "cmaes"])
def test_each_sampler_runs(name):
    if name == "cmaes":
        pytest.importorskip("cmaes")
    study = _study(name)
    space = {"learning_rate": jaxgd.log_uniform(1e-3, 0.3), "b1": jaxgd.uniform(0.5, 0.95)}
    args = (GERON.loss_fn, GERON.init_fn, GERON.data, adam, space)
    optimize(study, *args, n_trials=12, lanes=6, steps=50, key=KEY)
    assert len(study.trials) == 12
    assert {t.state for t in study.trials} <= {TrialState.COMPLETE, TrialState.FAIL}
    assert all(set(t.params) == {"learning_rate", "b1"} for t in study.trials)
    assert math.isfinite(study.best_value)


RESUME = """
    import json, sys, jax, optuna, jaxgd
    from jaxgd.integrations.optuna import optimize
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="resume", storage=sys.argv[1])
    found = [[t.number, t.state.name, t.value, t.params] for t in study.trials]
    p = jaxgd.problems.geron_linear()
    optimize(study, p.loss_fn, p.init_fn, p.data, jaxgd.optim.sgd,
             {"learning_rate": jaxgd.log_uniform(1e-3, 0.3)},
             n_trials=4, lanes=3, steps=60, key=jax.random.key(0))
    print(json.dumps({"found": found, "after": len(study.trials)}))
"""


def test_sqlite_study_resumes_in_a_new_process(tmp_path):
    storage = f"sqlite:///{tmp_path}/s.db"
    study = open_study(storage, "resume", "tpe", seed=0)
    args = (GERON.loss_fn, GERON.init_fn, GERON.data, sgd, RATES)
    optimize(study, *args, n_trials=5, lanes=3, steps=60, key=KEY)
    before = [[t.number, t.state.name, t.value, t.params] for t in study.trials]
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RESUME), storage],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["found"] == json.loads(json.dumps(before))
    assert report["after"] == 9
    loaded = optuna.load_study(study_name="resume", storage=storage)
    assert len(loaded.trials) == 9
    assert all(t.state != TrialState.RUNNING for t in loaded.trials)
    # the resumed batches took keys no earlier batch had: the number of their first trial
    assert [t.user_attrs["jaxgd_key"] for t in loaded.trials] == [0, 0, 0, 3, 3, 5, 5, 5, 8]
    for trial in loaded.trials:
        if trial.state == TrialState.COMPLETE:
            reference = _fit(trial, KEY, steps=60)
            np.testing.assert_allclose(trial.value, float(reference.final_loss), rtol=2e-5)


def test_a_study_reopened_with_its_seed_proposes_new_trials(tmp_path):
    """Seeded again with the same seed, a sampler would repeat the search's first trials
    (TPE's random start-up); open_study seeds a resumed one with (seed, trials held)."""
    storage = f"sqlite:///{tmp_path}/s.db"
    args = (GERON.loss_fn, GERON.init_fn, GERON.data, sgd, RATES)
    for _ in range(2):
        study = open_study(storage, "again", "tpe", seed=0)
        optimize(study, *args, n_trials=4, lanes=4, steps=5, key=KEY)
    rates = [t.params["learning_rate"] for t in study.trials]
    assert len(rates) == 8 and not set(rates[:4]) & set(rates[4:])
    fresh = open_study(None, "fresh", "tpe", seed=0)  # a new study: the seed as given
    optimize(fresh, *args, n_trials=4, lanes=4, steps=5, key=KEY)
    assert [t.params["learning_rate"] for t in fresh.trials] == rates[:4]


def test_missing_extra_names_it(monkeypatch):
    import jaxgd.integrations

    monkeypatch.setitem(sys.modules, "optuna", None)
    monkeypatch.delitem(sys.modules, "jaxgd.integrations.optuna")
    monkeypatch.delattr(jaxgd.integrations, "optuna")
    with pytest.raises(ImportError, match=r"pip install 'jaxgd\[optuna\]'"):
        import jaxgd.integrations.optuna
    with pytest.raises(ImportError, match=r"jaxgd\[optuna\]"):
        jaxgd.integrations.optuna.optimize  # noqa: B018


def test_integrations_imports_without_optuna():
    code = (
        "import sys; sys.modules['optuna'] = None\n"
        "import jaxgd.integrations\n"
        "assert 'jax' not in sys.modules\n"
        "try:\n    jaxgd.integrations.optuna\nexcept ImportError as e:\n    print(e)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'jaxgd[optuna]'" in done.stdout


@needs_prune
def test_pruned_lanes_are_pruned_trials():
    study = _study("random")
    prune = jaxgd.SuccessiveHalving(min_steps=20, reduction=2)
    args = (GERON.loss_fn, GERON.init_fn, GERON.data, sgd, RATES)
    optimize(study, *args, n_trials=8, lanes=8, steps=160, key=KEY, prune=prune)
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) == 1 and states.count(TrialState.PRUNED) == 7
    for trial in study.trials:
        if trial.state == TrialState.PRUNED:
            stopped = trial.user_attrs["steps"]
            assert stopped in (20, 40, 80)
            assert f"update {stopped}" in trial.user_attrs["reason"]
            assert trial.intermediate_values == {stopped: trial.value}
    # the value is the loss where the lane stopped: fit's for that many steps (first rung)
    first_rung = [t for t in study.trials if t.user_attrs["steps"] == 20]
    assert len(first_rung) == 4
    for trial in first_rung:
        reference = _fit(trial, KEY, steps=20)
        np.testing.assert_allclose(trial.value, float(reference.final_loss), rtol=2e-5)


@needs_prune
def test_several_seeds_need_pruning_by_configuration():
    args = (GERON.loss_fn, GERON.init_fn, GERON.data, sgd, RATES)
    study = _study()
    with pytest.raises(ValueError, match="over_seeds='median'"):
        optimize(study, *args, n_trials=2, lanes=2, steps=20, key=KEY, seeds=2,
                 prune=jaxgd.SuccessiveHalving(min_steps=5))  # fmt: skip
    assert not study.trials


def test_jaxgd_spaces_become_optuna_distributions():
    space = {
        "learning_rate": jaxgd.log_uniform(1e-4, 1.0),
        "b1": jaxgd.uniform(0.5, 0.99),
        "nesterov": jaxgd.choice([False, True]),
        "kept": IntDistribution(1, 4),
    }
    assert to_distributions(space) == {
        "learning_rate": FloatDistribution(1e-4, 1.0, log=True),
        "b1": FloatDistribution(0.5, 0.99),
        "nesterov": CategoricalDistribution([False, True]),
        "kept": IntDistribution(1, 4),
    }


@pytest.mark.parametrize(
    "space, match",
    [
        ({"learning_rate": (1e-3, 1.0)}, r"space\['learning_rate'\].*not a distribution"),
        ({"learning_rate": jaxgd.choice([sgd])}, r"space\['learning_rate'\].*choices"),
        (
            {"learning_rat": jaxgd.log_uniform(1e-3, 1.0)},
            r"does not accept learning_rat \(in space\)",
        ),
        ({"learning_rate": FloatDistribution(-1.0, 1.0)}, r"allows the rate -1.0; .* > 0"),
        (
            {"learning_rate": jaxgd.log_uniform(1e-3, 0.3), "momentum": jaxgd.uniform(0.5, 1.2)},
            r"space\['momentum'\].*propose .*'momentum': 1.2.*momentum=1.2 is outside",
        ),
        ({}, "non-empty"),
    ],
)
def test_a_bad_space_is_refused_before_any_trial(space, match):
    study = _study()
    with pytest.raises(ValueError, match=match):
        optimize(study, GERON.loss_fn, GERON.init_fn, GERON.data, sgd, space,
                 n_trials=2, lanes=2, steps=5, key=KEY)  # fmt: skip
    assert not study.trials


def test_a_range_the_optimizer_refuses_is_refused_without_a_learning_rate_in_the_space():
    def sgd_at_0_1(momentum):
        return sgd(0.1, momentum=momentum)

    def run(study, high):
        training = (GERON.loss_fn, GERON.init_fn, GERON.data, sgd_at_0_1)
        space = {"momentum": jaxgd.uniform(0.0, high)}
        optimize(study, *training, space, n_trials=2, lanes=2, steps=5, key=KEY)

    study = _study()
    with pytest.raises(ValueError, match=r"space\['momentum'\].*momentum=1.2 is outside"):
        run(study, 1.2)
    assert not study.trials
    run(study, 0.99)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2


@pytest.mark.parametrize(
    "study_kwargs, kwargs, match",
    [
        ({"direction": "maximize"}, {}, "direction is maximize"),
        ({"directions": ["minimize", "minimize"]}, {}, "2 objectives"),
        ({}, {"lanes": 0}, "lanes=0"),
        ({}, {"n_trials": 0}, "n_trials=0"),
        ({}, {"grid": {"learning_rate": [0.1]}}, "sets grid itself"),
    ],
)
def test_bad_arguments_are_refused(study_kwargs, kwargs, match):
    study = _study(**study_kwargs)
    options = {"n_trials": 2, "lanes": 2, "steps": 5, "key": KEY, **kwargs}
    with pytest.raises(ValueError, match=match):
        optimize(study, GERON.loss_fn, GERON.init_fn, GERON.data, sgd, RATES, **options)
    assert not study.trials


def test_an_error_in_the_sweep_fails_its_trials_and_propagates():
    def picky_sgd(learning_rate):  # accepts the space's ends, refuses the queued trial's
        if learning_rate == 0.9:
            raise ValueError("picky_sgd refuses 0.9")
        return sgd(learning_rate)

    study = _study()
    study.enqueue_trial({"learning_rate": 0.9})
    with pytest.raises(ValueError, match="picky_sgd refuses"):
        optimize(study, GERON.loss_fn, GERON.init_fn, GERON.data, picky_sgd,
                 {"learning_rate": jaxgd.log_uniform(1e-3, 1.0)},
                 n_trials=4, lanes=2, steps=5, key=KEY)  # fmt: skip
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 2
    assert "picky_sgd refuses" in study.trials[0].user_attrs["reason"]


def test_summary_counts_states_and_names_the_best():
    study = _study()
    study.enqueue_trial({"learning_rate": 0.9})
    args = (GERON.loss_fn, GERON.init_fn, GERON.data, sgd)
    optimize(study, *args, {"learning_rate": jaxgd.log_uniform(1e-3, 1.0)},
             n_trials=4, lanes=4, steps=50, key=KEY)  # fmt: skip
    report = summary(study)
    assert report["trials"] == 4 and report["states"]["fail"] >= 1
    assert sum(report["states"].values()) == 4
    assert report["best"]["value"] == study.best_value
    assert report["best"]["params"] == study.best_params
    with pytest.raises(ValueError, match="choose one of tpe, random, cmaes"):
        sampler("grid")


def _sgd_k(learning_rate, k, nesterov):
    """sgd with an int and a categorical hyperparameter, for spaces of every kind."""
    return sgd(learning_rate / k, momentum=0.5, nesterov=nesterov)


MIXED = {
    "learning_rate": jaxgd.log_uniform(1e-3, 0.3),
    "k": IntDistribution(1, 4),
    "nesterov": jaxgd.choice([False, True]),
}


@pytest.mark.parametrize("name", ["tpe", "cmaes"])
def test_trials_are_sampled_as_study_ask_with_the_distributions_would(name):
    if name == "cmaes":
        pytest.importorskip("cmaes")
    made = {"tpe": lambda: optuna.samplers.TPESampler(seed=3, n_startup_trials=4),
            "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=3)}[name]  # fmt: skip
    study = optuna.create_study(sampler=made())
    args = (GERON.loss_fn, GERON.init_fn, GERON.data, _sgd_k, MIXED)
    optimize(study, *args, n_trials=12, lanes=4, steps=20, key=KEY)
    # the same sampler, asked in the same batches with study.ask(distributions) and told the
    # same outcomes, proposes the same parameters
    reference, distributions = optuna.create_study(sampler=made()), to_distributions(MIXED)
    for start in range(0, 12, 4):
        asked = [reference.ask(distributions) for _ in range(4)]
        for trial, done in zip(asked, study.trials[start : start + 4], strict=True):
            assert trial.params == done.params
            reference.tell(trial, done.value, state=done.state)
    assert len({t.params["k"] for t in study.trials}) > 1


def test_a_missing_cmaes_is_named_before_any_trial(monkeypatch):
    monkeypatch.setitem(sys.modules, "cmaes", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install cmaes") as error:
        sampler("cmaes")
    assert "\n" not in str(error.value) and error.value.name == "cmaes"
    study = optuna.create_study(sampler=optuna.samplers.CmaEsSampler(seed=0))  # not checked
    with pytest.raises(ModuleNotFoundError, match=r"jaxgd\[optuna\]"):
        optimize(study, GERON.loss_fn, GERON.init_fn, GERON.data, sgd, RATES,
                 n_trials=2, lanes=2, steps=5, key=KEY)  # fmt: skip
    assert not study.trials


class _BrokenSampler(optuna.samplers.RandomSampler):
    """Draws the learning rate, then fails on the next parameter, as CMA-ES did without
    its package."""

    def sample_independent(self, study, trial, name, distribution):
        if name != "learning_rate":
            raise RuntimeError("the sampler broke")
        return super().sample_independent(study, trial, name, distribution)


def test_a_failing_suggestion_leaves_no_trial_running():
    study = optuna.create_study(sampler=_BrokenSampler(seed=0))
    space = {"learning_rate": jaxgd.log_uniform(1e-3, 0.3), "momentum": jaxgd.uniform(0, 0.9)}
    with pytest.raises(RuntimeError, match="the sampler broke"):
        optimize(study, GERON.loss_fn, GERON.init_fn, GERON.data, sgd, space,
                 n_trials=4, lanes=2, steps=5, key=KEY)  # fmt: skip
    assert [t.state for t in study.trials] == [TrialState.FAIL]
    assert "the sampler broke" in study.trials[0].user_attrs["reason"]


def _first_trials(study, factory=sgd, space=None, **kwargs):
    options = {"n_trials": 2, "lanes": 2, "steps": 20, "key": KEY, **kwargs}
    optimize(study, GERON.loss_fn, GERON.init_fn, GERON.data, factory, space or RATES, **options)


@pytest.mark.parametrize(
    "first, then, match",
    [
        (RATES, {"learning_rate": jaxgd.choice([0.1, 0.2])},
         r"space\['learning_rate'\] = CategoricalDistribution\(.*FloatDistribution\(.*new study"),
        ({"learning_rate": jaxgd.uniform(0.01, 0.3)}, RATES, r"log configuration"),
        ({**RATES, "nesterov": jaxgd.choice([False])}, {**RATES, "nesterov": jaxgd.choice([True])},
         r"space\['nesterov'\].*dynamic value space"),
    ],
)  # fmt: skip
def test_a_space_that_does_not_fit_the_study_is_refused_before_any_trial(first, then, match):
    study = _study()
    _first_trials(study, space=first)
    study.set_user_attr("jaxgd_setup", None)  # as a study not made by jaxgd: no setup to compare
    with pytest.raises(ValueError, match=match):
        _first_trials(study, space=then)
    assert len(study.trials) == 2
    assert all(t.state != TrialState.RUNNING for t in study.trials)


@pytest.mark.parametrize(
    "then, match",
    [
        ({"steps": 30}, r"steps 20 in the study, 30 now"),
        ({"seeds": 2}, r"seeds \[0\] in the study, \[0, 1\] now"),
        ({"factory": adam}, r"optimizer jaxgd\.optim\..*sgd in the study, .*adam now"),
        ({"eval_data": GERON.data}, r"value final_loss in the study, eval_loss now"),
        ({"steps": None, "epochs": 2}, r"epochs None in the study, 2 now; steps 20"),
    ],
)
def test_a_study_refuses_another_setup(then, match):
    study = _study()
    _first_trials(study)
    assert study.user_attrs["jaxgd_setup"] == {
        "optimizer": "jaxgd.optim.sgd.sgd",
        "steps": 20,
        "epochs": None,
        "batch_size": None,
        "value": "final_loss",
        "seeds": [0],
        "space": {"learning_rate": str(FloatDistribution(1e-3, 0.3, log=True))},
    }
    with pytest.raises(ValueError, match=match) as error:
        _first_trials(study, **then)
    assert "new study name" in str(error.value)
    assert len(study.trials) == 2
    # the same setup goes on, even over another range: those values still compare
    _first_trials(study, space={"learning_rate": jaxgd.log_uniform(1e-2, 0.3)})
    assert len(study.trials) == 4


def test_init_fn_that_is_params_is_refused_in_a_short_line():
    params = GERON.init_fn(KEY)
    study = _study()
    with pytest.raises(TypeError, match=r"init_fn is a dict, not a function; .*key -> params"):
        optimize(study, GERON.loss_fn, params, GERON.data, sgd, RATES,
                 n_trials=2, lanes=2, steps=5, key=KEY)  # fmt: skip
    with pytest.raises(TypeError) as error:
        optimize(study, GERON.loss_fn, params, GERON.data, sgd, RATES,
                 n_trials=2, lanes=2, steps=5, key=KEY)  # fmt: skip
    assert len(str(error.value)) < 200 and "Array" not in str(error.value)
    assert not study.trials
