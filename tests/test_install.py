"""A normal (non-editable) install does everything the README says, from any folder.

The wheel is built from this checkout and installed into a fresh virtual environment; the
commands then run from a temporary folder, as a user would run them. The fresh environment
borrows this one's dependencies (JAX, optax, ...) through a ``.pth`` line, which adds their
folder to ``sys.path`` after its own site-packages without running that folder's ``.pth``
files: the ``jaxgd`` it imports is the installed wheel, never this checkout (a test checks).
The build and the quick reproduce, most of this module's time, are background jobs
(tests/conftest.py): they start with the session and run beside the tests before these.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

EXPERIMENTS = {
    "real-vanishing",
    "real-digits",
    "real-regression",
    "early-stopping",
    "gradient",
    "gd-linear",
    "learning-rate",
    "four-rates",
    "non-convex",
    "worked-example",
    "gd-variants",
    "optimizers",
    "search",
    "initialisation",
    "feature-scaling",
}


def _run(command: list, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done


def _ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"{done.args}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return done


def build_and_install(tmp: Path, result) -> tuple[Path, Path]:
    """``(bin folder of a fresh venv holding the wheel, an empty working folder)``: a background
    job (see tests/conftest.py)."""
    wheels = tmp / "wheels"
    _ok(
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--no-deps",
                "--no-build-isolation",
                "-w",
                wheels,
                ROOT,
            ],
            cwd=tmp,
        )
    )
    (wheel,) = wheels.glob("jaxgd-*.whl")
    venv = tmp / "venv"
    _ok(_run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp))
    python = venv / "bin" / "python"
    _ok(
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                python,
                "install",
                "-q",
                "--no-deps",
                "--no-index",
                wheel,
            ],
            cwd=tmp,
        )
    )
    site = _ok(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp))
    dependencies = sysconfig.get_path("purelib")
    (Path(site.stdout.strip()) / "_jaxgd_test_dependencies.pth").write_text(dependencies + "\n")
    work = tmp / "elsewhere"
    work.mkdir()
    return venv / "bin", work


def quick_reproduce(tmp: Path, result) -> tuple[Path, subprocess.CompletedProcess]:
    """``jaxgd reproduce --quick`` from the installed wheel, in the empty working folder: a
    background job, started with the session (the assertions are the test's)."""
    bin_dir, work = result(build_and_install)
    out = work / "results"
    return out, _run([bin_dir / "jaxgd", "reproduce", "--quick", "--out", out], work)


# The wheel is built as soon as the session starts (the tests here wait for it if need be).
pytestmark = pytest.mark.background.with_args(build_and_install)


@pytest.fixture(scope="module")
def installed(background) -> tuple[Path, Path]:
    """``(bin folder of a fresh venv holding the wheel, an empty working folder)``."""
    return background(build_and_install)


def test_the_wheel_holds_the_experiments_and_the_benchmarks(installed):
    bin_dir, work = installed
    code = (
        "import jaxgd, jaxgd.experiments.reproduce, jaxgd.benchmarks.bench, json; "
        "print(json.dumps([jaxgd.__file__, jaxgd.experiments.__file__, "
        "jaxgd.benchmarks.__file__]))"
    )
    files = json.loads(_ok(_run([bin_dir / "python", "-c", code], work)).stdout)
    venv = bin_dir.parent.resolve()
    for file in files:
        assert Path(file).resolve().is_relative_to(venv), (file, "is not the installed copy")


def test_every_help_answers_from_another_folder(installed):
    bin_dir, work = installed
    jaxgd = bin_dir / "jaxgd"
    listing = _ok(_run([jaxgd, "--help"], work)).stdout
    for command in ("reproduce", "worked-example", "sweep", "crosscheck", "bench"):
        assert command in listing
    assert "W1" in _ok(_run([jaxgd, "bench", "--quick", "--help"], work)).stdout
    assert "--quick" in _ok(_run([jaxgd, "reproduce", "--help"], work)).stdout
    assert "rosenbrock" in _ok(_run([jaxgd, "sweep", "--help"], work)).stdout
    assert "lion" in _ok(_run([jaxgd, "crosscheck", "--help"], work)).stdout
    assert _ok(_run([jaxgd, "--version"], work)).stdout.startswith("jaxgd ")


def test_a_sweep_writes_its_files_from_another_folder(installed):
    bin_dir, work = installed
    command = [bin_dir / "jaxgd", "sweep", "--lr", "0.01:0.1:2", "--seeds", "1", "--steps", "20"]
    summary = json.loads(_ok(_run([*command, "--out", "sweep", "--json"], work)).stdout)
    assert [lane["status"] for lane in summary["lanes"]] == ["completed", "completed"]
    for file in summary["files"]:
        assert (work / file).stat().st_size > 0, file


@pytest.mark.slow
@pytest.mark.background.with_args(build_and_install, quick_reproduce)
def test_quick_reproduce_from_the_wheel_writes_report_figures_and_passing_claims(background):
    out, done = background(quick_reproduce)
    _ok(done)
    report = (out / "REPORT.md").read_text()
    summaries = [json.loads(p.read_text()) for p in sorted(out.glob("*/summary.json"))]
    assert {s["name"] for s in summaries} == EXPERIMENTS
    assert (out / "index.html").stat().st_size > 10_000
    for summary in summaries:
        assert summary["claims"], summary["name"]
        failed = [c["statement"] for c in summary["claims"] if not c["passed"]]
        assert not failed, (summary["name"], failed)
        assert summary["title"] in report
        for figure in summary["figures"]:
            path = out / summary["name"] / figure["file"]
            assert path.stat().st_size > 10_000, path
            assert f"{summary['name']}/{figure['file']}" in report
