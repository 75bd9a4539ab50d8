"""Shared test settings and fixtures.

Tests run in float32 (JAX's default) unless they ask for the ``x64`` fixture,
which turns on ``jax_enable_x64`` for that test only. Rank promotion raises,
so a shape slip such as ``[m, 1] - [m]`` fails loudly instead of broadcasting.

Background jobs. A few tests spend most of their time waiting for other processes (a
quick ``jaxgd reproduce`` from a freshly built wheel, optax's own test suite, the clock
test's runs of an experiment, sweeps over several processes or devices), while this
process runs the other tests on about one core. Such a test names that waiting part, a
module-level function ``job(folder, result)``, with
``@pytest.mark.background.with_args(job)`` (``with_args``: a mark whose only argument is
a function would take it for the function marked), and gets the job's return value from
the ``background`` fixture: ``background(job)``. When the session's first test starts,
the jobs of the selected tests start one after another, in the order of their tests, on
a thread of this process; the tests that use them run last, so the jobs run beside all
the others. A job's exception is raised again where its test asks for its value; a job
not started yet when its test asks runs there and then. What a test asserts does not
change, only when its subprocesses run. A job may use an earlier job's value with
``result(other_job)``. ``JAXGD_TEST_BACKGROUND=0`` starts no job and keeps the order: each
job runs inside its test, as if written there. The terminal summary lists each job's
time and how long its test waited for it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import matplotlib
import pytest

matplotlib.use("Agg")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
    """Run the test with 64-bit floats enabled (float64 arrays by default)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def key():
    return jax.random.key(0)


# ------------------------------------------------------------------------ background jobs

Job = Callable[[Path, Callable[["Job"], Any]], Any]


class _Run:
    """One job: pending, running (on some thread) or done, with its value or exception."""

    def __init__(self, job: Job):
        self.job = job
        self.state = "pending"
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.seconds = 0.0
        self.waited = 0.0
        self.where = ""
        self.thread_id: int | None = None


class Background:
    """The jobs of one session (see the module's docstring)."""

    def __init__(self, folder: Callable[[str], Path]):
        self._folder = folder
        self._runs: dict[Job, _Run] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, jobs: list[Job]) -> None:
        """Queue ``jobs`` in this order and start running them on one thread."""
        with self._lock:
            for job in jobs:
                self._runs.setdefault(job, _Run(job))
        if jobs:
            self._thread = threading.Thread(
                target=self._work, args=(jobs,), name="background test jobs", daemon=True
            )
            self._thread.start()

    def _claim(self, job: Job, where: str) -> _Run | None:
        """The job's run, marked running here if nobody has started it; None if somebody has."""
        with self._lock:
            run = self._runs.setdefault(job, _Run(job))
            if run.state != "pending":
                return None
            run.state, run.where = "running", where
            return run

    def _execute(self, run: _Run) -> None:
        run.thread_id = threading.get_native_id()
        start = time.perf_counter()
        try:
            run.value = run.job(self._folder(run.job.__name__), self.result)
        except BaseException as error:  # re-raised in the test that asks for the result
            run.error = error
        finally:
            run.seconds = time.perf_counter() - start
            run.state = "done"
            run.done.set()

    def _work(self, jobs: list[Job]) -> None:
        for job in jobs:
            run = self._claim(job, "background")
            if run is not None:
                self._execute(run)

    def result(self, job: Job) -> Any:
        """The job's return value: waits for it if it is running, runs it here if it has not
        started; raises the job's exception."""
        run = self._claim(job, "in its test")
        if run is not None:
            self._execute(run)
        run = self._runs[job]
        start = time.perf_counter()
        run.done.wait()
        run.waited += time.perf_counter() - start
        if run.error is not None:
            raise run.error
        return run.value

    def stop(self) -> None:
        """End the session: jobs not started never start; a running one (its test was not
        reached, e.g. after ``-x``) has its child processes terminated."""
        with self._lock:
            for run in self._runs.values():
                if run.state == "pending":
                    run.state = "skipped"
            running = [run for run in self._runs.values() if run.state == "running"]
        for run in running:
            children = Path(f"/proc/self/task/{run.thread_id}/children")
            try:
                pids = [int(pid) for pid in children.read_text().split()]
            except (OSError, ValueError):
                pids = []
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGTERM)
            run.done.wait(timeout=30)

    def summary(self) -> list[str]:
        return [
            f"{run.job.__name__}: {run.seconds:.1f} s ({run.where}), its tests waited "
            f"{run.waited:.1f} s"
            for run in self._runs.values()
            if run.state == "done"
        ]


_BACKGROUND: list[Background] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "background(*jobs): the test's jobs (functions (folder, result) -> value) start when "
        "the session's first test does, on a background thread; the test reads their values "
        "with the background fixture (see tests/conftest.py)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests with background jobs run last, in their order: their jobs then have the whole
    session to run beside the other tests, and no test waits for them."""
    if os.environ.get("JAXGD_TEST_BACKGROUND", "1") == "0":
        return
    last = [item for item in items if item.get_closest_marker("background")]
    if last:
        items[:] = [item for item in items if not item.get_closest_marker("background")] + last


def _skipped(item: pytest.Item) -> bool:
    """Whether the item is skipped unconditionally or on a condition that is already True."""
    if any(True for _ in item.iter_markers("skip")):
        return True
    return any(
        mark.args and isinstance(mark.args[0], bool) and mark.args[0]
        for mark in item.iter_markers("skipif")
    )


@pytest.fixture(scope="session", autouse=True)
def _background_jobs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    tmp_path_factory.getbasetemp()  # made here, before a second thread makes folders in it
    runner = Background(tmp_path_factory.mktemp)
    _BACKGROUND.append(runner)
    if os.environ.get("JAXGD_TEST_BACKGROUND", "1") != "0":
        jobs: list[Job] = []
        for item in request.session.items:
            if _skipped(item):
                continue
            for mark in item.iter_markers("background"):
                jobs.extend(job for job in mark.args if job not in jobs)
        runner.start(jobs)
    yield runner
    runner.stop()


@pytest.fixture(scope="session")
def background(_background_jobs: Background) -> Callable[[Job], Any]:
    """``background(job)``: the job's return value (see the module's docstring)."""
    return _background_jobs.result


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = [line for runner in _BACKGROUND for line in runner.summary()]
    if lines:
        terminalreporter.write_sep("-", "background jobs")
        for line in lines:
            terminalreporter.write_line(line)
