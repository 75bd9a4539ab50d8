"""The benchmark's methods compute the same lanes (fast, untimed): a speed ratio means nothing if
the methods do different work."""

import dataclasses

import jax
import numpy as np
import pytest

from benchmarks import methods_jax, methods_torch
from benchmarks.bench import main as bench_main
from benchmarks.workloads import WORKLOADS


def tiny(name, **changes):
    return dataclasses.replace(WORKLOADS[name], steps=20, **changes)


@pytest.mark.parametrize("name", ["W1", "W2", "W4", "U1", "U3", "U4"])  # U2 is U3 full-batch
def test_every_jax_method_trains_the_same_lanes_as_jaxgd(name):
    workload = tiny(name)
    if not workload.available():
        pytest.skip(f"{workload.needs} is not installed: U4 cannot run (pip install equinox)")
    with jax.numpy_rank_promotion("allow"):  # user-written models broadcast b [out] over rows
        reference, _ = methods_jax.prepare_jaxgd(workload, 4)
        expected = reference()
        for prepare in (
            methods_jax.prepare_optax_loop,
            methods_jax.prepare_optax_loop_final,
            methods_jax.prepare_inject_vmap,
            methods_jax.prepare_per_step_loop,
            methods_jax.prepare_columns,
        ):
            if (prepared := prepare(workload, 4)) is None:
                continue
            run, measured = prepared
            np.testing.assert_allclose(
                run(), expected[:measured], rtol=2e-5, err_msg=prepare.__name__
            )


@pytest.mark.skipif(not methods_torch.available(), reason="PyTorch is not installed")
@pytest.mark.parametrize("name", ["W1", "W3"])
def test_torch_methods_train_the_same_lanes(name):
    workload = tiny(name, n_examples=WORKLOADS[name].n_examples)
    expected = methods_jax.prepare_jaxgd(workload, 2)[0]()
    for prepare in (
        methods_torch.prepare_torch_loop,
        methods_torch.prepare_torch_func,
        methods_torch.prepare_torch_columns,
    ):
        prepared = prepare(workload, 2)
        if prepared is None:
            continue
        run, measured = prepared
        np.testing.assert_allclose(run(), expected[:measured], rtol=1e-4, err_msg=prepare.__name__)


def test_bench_cli_writes_its_table(tmp_path):
    assert (
        bench_main(["--quick", "--workload", "W2", "--repeats", "1", "--out", str(tmp_path)]) == 0
    )
    table = (tmp_path / "bench.md").read_text()
    assert "jaxgd.sweep" in table and "loop of jitted optax runs" in table
    assert (tmp_path / "bench.png").stat().st_size > 10_000


def test_interleaved_minimum_samples_in_rounds_and_gives_short_calls_more_chances(monkeypatch):
    from benchmarks import bench

    clock, order = [0.0], []
    short_durations = iter([0.03, 0.01, 0.02] * 10)

    def method(name, duration):
        def run():
            order.append(name)
            clock[0] += duration() if callable(duration) else duration

        return run

    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    runs = {"short": method("short", lambda: next(short_durations)), "long": method("long", 1.0)}
    best, calls = bench.interleaved_minimum(runs, repeats=2, min_seconds=0.5, max_samples=20)
    assert order[:4] == ["short", "long", "short", "long"]  # one call of each per round
    assert calls == {"short": 20, "long": 2}  # short: capped at max_samples before 0.5 s
    assert best == pytest.approx({"short": 0.01, "long": 1.0})


def test_the_help_names_every_workload():
    from benchmarks import bench

    assert list(bench.WORKLOAD_HELP) == list(WORKLOADS)
