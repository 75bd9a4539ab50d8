"""``jaxgd sweep``'s pruning (--prune halving) and Optuna (--optuna STORAGE_URL) options."""

from __future__ import annotations

import csv
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

import jaxgd
from jaxgd._commands import sweep as command
from jaxgd.cli import main

ROOT = Path(__file__).resolve().parents[1]
needs_prune = pytest.mark.skipif(
    "prune" not in inspect.signature(jaxgd.sweep).parameters,
    reason="jaxgd.sweep(prune=...) has not landed yet",
)


def _optuna(storage: str, *options: str) -> list[str]:
    return ["sweep", "--optuna", storage, "--steps", "60", "--seeds", "1", *options]


def test_optuna_study_is_created_then_resumed(tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    storage = f"sqlite:///{tmp_path}/study.db"
    assert (
        main([*_optuna(storage, "--trials", "6", "--lanes", "3", "--lr", "1e-3:0.9"), "--json"])
        == 0
    )
    first = json.loads(capsys.readouterr().out)
    assert first["study"] == "geron-linear-sgd" and first["trials"] == first["added"] == 6
    assert sum(first["states"].values()) == 6 and first["storage"] == storage
    assert 1e-3 <= first["best"]["params"]["learning_rate"] <= 0.9
    assert main(_optuna(storage, "--trials", "3", "--lanes", "3", "--sampler", "random")) == 0
    text = capsys.readouterr().out
    assert text.startswith("study geron-linear-sgd: 9 trials (+3): ")
    assert "best trial #" in text and "learning_rate = " in text
    study = optuna.load_study(study_name="geron-linear-sgd", storage=storage)
    assert len(study.trials) == 9
    assert {t.state.name for t in study.trials} <= {"COMPLETE", "FAIL"}
    assert study.best_value == min(first["best"]["value"], study.best_value)


def test_optuna_grid_options_become_choices(tmp_path, capsys):
    pytest.importorskip("optuna")
    storage = f"sqlite:///{tmp_path}/grid.db"
    argv = _optuna(storage, "--trials", "4", "--lanes", "4", "--grid", "momentum=0,0.9")
    assert main([*argv, "--study-name", "mine", "--optimizer", "sgd", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["study"] == "mine" and report["trials"] == 4
    assert report["best"]["params"]["momentum"] in (0.0, 0.9)


def test_optuna_without_the_extra_is_one_line_naming_it(tmp_path, capsys, monkeypatch):
    import jaxgd.integrations

    monkeypatch.setitem(sys.modules, "optuna", None)
    monkeypatch.delitem(sys.modules, "jaxgd.integrations.optuna", raising=False)
    if "optuna" in vars(jaxgd.integrations):
        monkeypatch.delattr(jaxgd.integrations, "optuna")
    assert main(_optuna(f"sqlite:///{tmp_path}/s.db")) == 2
    err = capsys.readouterr().err
    assert "pip install 'jaxgd[optuna]'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.db").exists()


def _one_line_error(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_optuna_cmaes_without_its_package_is_one_line_before_any_trial(
    tmp_path, capsys, monkeypatch
):
    pytest.importorskip("optuna")
    monkeypatch.setitem(sys.modules, "cmaes", None)
    storage = f"sqlite:///{tmp_path}/c.db"
    assert main(_optuna(storage, "--sampler", "cmaes")) == 2
    _one_line_error(capsys, "pip install cmaes", "jaxgd[optuna]")
    assert not (tmp_path / "c.db").exists()


def test_optuna_grid_of_an_unknown_name_names_the_flag(tmp_path, capsys):
    pytest.importorskip("optuna")
    assert main(_optuna(f"sqlite:///{tmp_path}/g.db", "--grid", "lr=0.1")) == 2
    err = _one_line_error(capsys, "does not accept lr (in --grid)")
    assert "points" not in err and "space" not in err


def test_optuna_reruns_that_do_not_fit_the_study_are_refused(tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    storage = f"sqlite:///{tmp_path}/r.db"
    assert main(_optuna(storage, "--trials", "3", "--lanes", "3", "--json")) == 0
    capsys.readouterr()
    refused = {
        ("--grid", "learning_rate=0.1,0.2"): ("learning_rate", "CategoricalDistribution"),
        ("--steps", "80"): ("steps 60 in the study, 80 now", "new study name"),
        ("--seeds", "2"): ("seeds [0] in the study, [0, 1] now", "new study name"),
        ("--optimizer", "adam", "--study-name", "geron-linear-sgd"): ("adam now",),
    }
    for options, fragments in refused.items():
        assert main([*_optuna(storage, "--trials", "3"), *options]) == 2, options
        _one_line_error(capsys, *fragments)
    study = optuna.load_study(study_name="geron-linear-sgd", storage=storage)
    assert len(study.trials) == 3
    assert all(t.state.name in ("COMPLETE", "FAIL") for t in study.trials)


def test_optuna_out_writes_the_trials_and_the_summary(tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    storage, out = f"sqlite:///{tmp_path}/o.db", tmp_path / "out"
    argv = _optuna(storage, "--trials", "4", "--lanes", "4", "--grid", "momentum=0,0.9")
    assert main([*argv, "--lr", "1e-3:0.9", "--out", str(out)]) == 0
    assert f"wrote {out}/trials.csv, study.json" in capsys.readouterr().out
    study = optuna.load_study(study_name="geron-linear-sgd", storage=storage)
    with open(out / "trials.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == [
        "number", "state", "value", "params_learning_rate", "params_momentum",
        "jaxgd_status", "steps", "seeds", "reason",
    ]  # fmt: skip
    assert len(rows) == len(study.trials) == 4
    for row, trial in zip(rows, study.trials, strict=True):
        assert int(row["number"]) == trial.number and row["state"] == trial.state.name
        assert row["value"] == ("" if trial.value is None else repr(trial.value))
        assert float(row["params_learning_rate"]) == trial.params["learning_rate"]
        assert float(row["params_momentum"]) == trial.params["momentum"]
        assert row["jaxgd_status"] == trial.user_attrs["jaxgd_status"]
        assert row["steps"] == "60" and row["seeds"] == "1"
        assert row["reason"] == trial.user_attrs.get("reason", "")
    report = json.loads((out / "study.json").read_text())
    from jaxgd.integrations.optuna import summary

    assert {k: report[k] for k in ("study", "trials", "states", "best")} == summary(study)
    assert report["setup"]["steps"] == 60 and report["files"][0] == str(out / "trials.csv")
    assert main([*argv, "--lr", "1e-3:0.9", "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["trials"] == 8
    assert len((out / "trials.csv").read_text().splitlines()) == 1 + 8


@needs_prune
def test_prune_halving_counts_pruned_lanes(tmp_path, capsys):
    argv = ["sweep", "--lr", "0.01:0.4:9", "--seeds", "1", "--steps", "90", "--prune", "halving"]
    assert main([*argv, "--min-steps", "10", "--out", str(tmp_path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # 9 lanes, reduction 3: 3 go on after 10 updates, 1 after 30; none of these rates diverge
    assert data["statuses"] == {"completed": 1, "converged": 0, "diverged": 0, "pruned": 8}
    assert sorted(lane["steps"] for lane in data["lanes"]) == [10] * 6 + [30] * 2 + [90]
    assert main([*argv, "--min-steps", "10", "--out", str(tmp_path)]) == 0
    assert "9 lanes: 1 completed, 0 converged, 0 diverged, 8 pruned" in capsys.readouterr().out


@needs_prune
def test_optuna_with_pruning_tells_pruned_trials(tmp_path, capsys):
    pytest.importorskip("optuna")
    argv = _optuna(f"sqlite:///{tmp_path}/p.db", "--trials", "9", "--lanes", "9", "--seeds", "2")
    assert (
        main([*argv, "--lr", "0.01:0.4", "--prune", "halving", "--min-steps", "10", "--json"]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["states"] == {"complete": 1, "pruned": 8}


@pytest.mark.parametrize(
    "options, message",
    [
        (["--min-steps", "10"], "--min-steps and --reduction: only with --prune halving"),
        (["--reduction", "2"], "only with --prune halving"),
        (["--prune", "halving"], "--prune halving needs --min-steps"),
        (["--prune", "halving", "--min-steps", "5", "--reduction", "1"], "reduction=1"),
        (["--trials", "5"], "--trials: only with --optuna"),
        (["--study-name", "x", "--lanes", "4"], "--study-name, --lanes: only with --optuna"),
        (["--optuna", "sqlite:///x.db", "--random", "4"], "--random: not with --optuna"),
    ],
)
def test_options_that_do_not_apply_are_usage_errors(options, message, tmp_path, capsys):
    out = [] if "--out" in options or "--optuna" in options else ["--out", str(tmp_path)]
    assert main(["sweep", "--steps", "20", *options, *out]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_an_unknown_sampler_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--optuna", "sqlite:///x.db", "--sampler", "grid"])
    assert exit_.value.code == 2
    assert "tpe" in capsys.readouterr().err


def test_samplers_match_the_integration():
    integration = pytest.importorskip("jaxgd.integrations.optuna")
    assert command.SAMPLERS == integration.SAMPLERS


def test_help_imports_neither_jax_nor_optuna():
    code = (
        "import sys\nfrom jaxgd.cli import main\n"
        "try:\n    main(['sweep', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'jax' not in sys.modules and 'optuna' not in sys.modules, 'imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "--optuna STORAGE_URL" in done.stdout and "--prune {halving}" in done.stdout
