"""No claim's verdict depends on the wall clock: the experiments with timing noise injected.

Experiments time things only through :func:`jaxgd.report.median_seconds`, for
information. Here it returns wild values (negative, zero, huge, not a number)
and every claim must come out the same as with the real clock.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jaxgd import report

ROOT = Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"


def load(script: Path):
    """An experiment script as a module (as `jaxgd reproduce` loads it)."""
    spec = importlib.util.spec_from_file_location(f"jaxgd_experiment_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def claims(listed: list[dict]) -> list[tuple[str, str, str, bool]]:
    return [(c["statement"], c["measured"], c["expected"], c["passed"]) for c in listed]


def test_experiments_read_the_clock_only_through_median_seconds():
    clocks = re.compile(r"perf_counter|time\.time\b|time\.monotonic|\btimeit\b|process_time")
    for script in sorted(EXPERIMENTS.glob("*.py")):
        assert not clocks.search(script.read_text()), script.name


def test_median_seconds_times_whole_calls_and_is_never_negative(monkeypatch):
    # Pairs of readings (start, end): a clock that steps back, stands still, jumps ahead.
    readings = iter([5.0, 1.0, 2.0, 2.0, 0.0, 1e9, 3.0, 3.5, 10.0, -7.0])
    monkeypatch.setattr(report, "clock", lambda: next(readings))
    calls = []
    assert report.median_seconds(lambda: calls.append(1), repeats=5) == 0.0  # 0, 0, 1e9, .5, 0
    assert len(calls) == 5
    readings = iter([0.0, 1.0, 0.0, 3.0, 0.0, 2.0])
    assert report.median_seconds(lambda: None, repeats=3) == 2.0
    noisy = random.Random(0)
    monkeypatch.setattr(report, "clock", lambda: noisy.uniform(-1e6, 1e6))
    assert all(report.median_seconds(lambda: None, repeats=4) >= 0 for _ in range(100))


def clock_runs(out: Path) -> dict:
    """gd_variants run with the real clock, with clock noise, and quick with no clock.

    One module, run four times: the later runs reuse its compiled programs (seconds each).
    Returns each run's claims, the readings a noisy run left unread, and the clock reads of
    the quick run; :func:`test_gd_variants_verdicts_do_not_depend_on_the_clock` checks them.
    """
    gd_variants = load(EXPERIMENTS / "gd_variants.py")
    real = gd_variants.run(out / "real")

    # Per variant (batch GD, SGD, mini-batch): zero, negative, huge, random, infinite, NaN.
    noise = random.Random(0)
    scenarios = [(0.0, -1e9, 1e9), (-noise.uniform(0, 1e3), math.inf, math.nan)]

    def returning(readings):
        """A stand-in for median_seconds that returns the next reading, whatever the call."""
        return lambda call, repeats=5: next(readings)

    noisy = []
    for scenario in scenarios:
        readings = iter(scenario)
        gd_variants.median_seconds = returning(readings)
        summary = gd_variants.run(out / "noisy")
        noisy.append(
            {"scenario": repr(scenario), "claims": summary["claims"], "unread": [*readings]}
        )

    reads = []

    def no_clock(call, repeats=5):
        reads.append(repeats)
        raise AssertionError("a quick run reads no clock")

    gd_variants.median_seconds = no_clock
    quick = gd_variants.run(out / "quick", quick=True)
    return {"real": real["claims"], "noisy": noisy, "quick": quick["claims"], "clock_reads": reads}


def gd_variants_clock_runs(folder: Path, result) -> dict:
    """:func:`clock_runs` in a process of its own (this file run as a script), so that it can
    run beside other tests: a background job (see tests/conftest.py)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONPATH"] = str(ROOT)  # this checkout's jaxgd, as in the tests' own process
    done = subprocess.run(
        [sys.executable, __file__, str(folder)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-6000:]}"
    return json.loads((folder / "clock.json").read_text())


@pytest.mark.slow
@pytest.mark.background.with_args(gd_variants_clock_runs)
def test_gd_variants_verdicts_do_not_depend_on_the_clock(background):
    runs = background(gd_variants_clock_runs)
    real = claims(runs["real"])
    assert all(passed for *_, passed in real), runs["real"]
    for noisy in runs["noisy"]:
        assert noisy["unread"] == [], "a full run times each variant"
        assert claims(noisy["claims"]) == real, noisy["scenario"]
    assert runs["clock_reads"] == [], "a quick run reads no clock"
    quick = claims(runs["quick"])
    assert all(passed for *_, passed in quick), runs["quick"]
    assert set(quick) & set(real), "quick and full runs share claims"


if __name__ == "__main__":
    # gd_variants_clock_runs: this suite's settings (conftest: rank promotion raises, the Agg
    # backend; pyproject.toml: jaxgd's warnings are errors), then the runs, written as JSON.
    import warnings

    import conftest  # noqa: F401

    from jaxgd._types import JaxgdWarning

    warnings.simplefilter("error", JaxgdWarning)
    folder = Path(sys.argv[1])
    (folder / "clock.json").write_text(json.dumps(clock_runs(folder)))
