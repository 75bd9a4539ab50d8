"""No claim's verdict depends on the wall clock: the experiments with timing noise injected.

Experiments time things only through :func:`jaxgd.report.median_seconds`, for
information. Here it returns wild values (negative, zero, huge, not a number)
and every claim must come out the same as with the real clock.
"""

from __future__ import annotations

import importlib.util
import math
import random
import re
from pathlib import Path

import pytest

from jaxgd import report

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


def load(script: Path):
    """An experiment script as a module (as `jaxgd reproduce` loads it)."""
    spec = importlib.util.spec_from_file_location(f"jaxgd_experiment_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def claims(summary) -> list[tuple[str, str, str, bool]]:
    return [(c["statement"], c["measured"], c["expected"], c["passed"]) for c in summary["claims"]]


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


@pytest.mark.slow
def test_gd_variants_verdicts_do_not_depend_on_the_clock(tmp_path, monkeypatch):
    # One module, run four times: the later runs reuse its compiled programs (seconds each).
    gd_variants = load(EXPERIMENTS / "gd_variants.py")
    real = gd_variants.run(tmp_path / "real")
    assert all(c["passed"] for c in real["claims"]), real["claims"]

    # Per variant (batch GD, SGD, mini-batch): zero, negative, huge, random, infinite, NaN.
    noise = random.Random(0)
    scenarios = [(0.0, -1e9, 1e9), (-noise.uniform(0, 1e3), math.inf, math.nan)]

    def returning(readings):
        """A stand-in for median_seconds that returns the next reading, whatever the call."""
        return lambda call, repeats=5: next(readings)

    for scenario in scenarios:
        readings = iter(scenario)
        monkeypatch.setattr(gd_variants, "median_seconds", returning(readings))
        noisy = gd_variants.run(tmp_path / "noisy")
        assert next(readings, "all read") == "all read", "a full run times each variant"
        assert claims(noisy) == claims(real), scenario

    def no_clock(call, repeats=5):
        raise AssertionError("a quick run reads no clock")

    monkeypatch.setattr(gd_variants, "median_seconds", no_clock)
    quick = gd_variants.run(tmp_path / "quick", quick=True)
    assert all(c["passed"] for c in quick["claims"]), quick["claims"]
    assert set(claims(quick)) & set(claims(real)), "quick and full runs share claims"
