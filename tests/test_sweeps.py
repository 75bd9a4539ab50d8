import functools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import optax
import pytest

import jaxgd
from jaxgd import problems
from jaxgd.cli import main
from jaxgd.optim import adam, sgd
from jaxgd.sweeps import (
    SweepResult,
    choice,
    lane_keys,
    log_uniform,
    read_records,
    sweep,
    uniform,
)

ROOT = Path(__file__).resolve().parent.parent
KEY = jax.random.key(0)


def solo(problem, optimizer, record, key=KEY, **kwargs):
    """The lane `record` of a sweep, rerun alone with jaxgd.fit."""
    init_key, data_key = lane_keys(key, record["seed"])
    hp = {
        n: v
        for n, v in record.items()
        if n not in ("seed", "final_loss", "best_loss", "status", "steps", "diverged_at")
    }
    return jaxgd.fit(
        problem.loss_fn,
        problem.init_fn(init_key),
        problem.data,
        optimizer(**hp),
        key=data_key,
        **kwargs,
    )


def max_relative_difference(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    with np.errstate(invalid="ignore"):
        return float(np.max(np.where(same, 0.0, np.abs(a - b) / np.maximum(np.abs(b), 1e-300))))


# A lane and its solo run do the same arithmetic, but XLA compiles the vmapped program with
# other fusions: when lanes share an input matrix product (full-batch MLP: x is shared, so the
# lanes fold into one larger matrix product, whose summation order depends on its size), and
# for Adam's element-wise chains (contracted multiply-adds, vectorised pow for β^t), results
# differ in the last bits. We check bit equality where it holds (SGD on lanes without a shared
# product) and relative differences < 1e-10 (float64) everywhere: a last-bit difference at one
# step grows over the following ones (measured: up to 4e-12 after 30 Adam steps on the MLP).
CASES = [
    ("geron-linear", dict(steps=60, batch_size=10), True),
    ("rosenbrock", dict(steps=60), True),  # the larger rates diverge: frozen lanes compared
    ("mlp-regression", dict(steps=30, batch_size=16), True),
    ("worked-example", dict(steps=30), False),
]
OPTIMIZERS = [
    ("sgd-momentum", functools.partial(sgd, momentum=0.9), {"learning_rate": [1e-3, 1e-2]}),
    ("adam", adam, {"learning_rate": [1e-3, 3e-2], "b1": [0.8, 0.9]}),
]


@pytest.mark.parametrize(("name", "kwargs", "exact"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize(
    ("opt_name", "factory", "grid"), OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS]
)
def test_every_lane_equals_its_solo_run(x64, name, kwargs, exact, opt_name, factory, grid):
    exact = exact and opt_name == "sgd-momentum"
    problem = problems.get_problem(name)
    result = sweep(
        problem.loss_fn,
        problem.init_fn,
        problem.data,
        factory,
        grid=grid,
        seeds=2,
        key=KEY,
        **kwargs,
    )
    for i, record in enumerate(result.to_records()):
        alone = solo(problem, factory, record, **kwargs)
        lane_params = jax.tree.map(lambda leaf, i=i: leaf[i], result.params)
        for a, b in zip(jax.tree.leaves(lane_params), jax.tree.leaves(alone.params), strict=True):
            assert max_relative_difference(a, b) < 1e-10
            if exact:
                np.testing.assert_array_equal(a, b)
        assert max_relative_difference(result.losses[i], alone.losses) < 1e-10
        if exact:
            np.testing.assert_array_equal(result.losses[i], alone.losses)
        assert record["steps"] == int(alone.steps)


def test_optax_factories_work_as_lanes(x64):
    problem = problems.geron_linear()
    result = sweep(
        problem.loss_fn,
        problem.init_fn,
        problem.data,
        optax.sgd,
        grid={"learning_rate": [0.01, 0.1], "momentum": [0.5]},
        steps=40,
        key=KEY,
        batch_size=20,
    )
    for i, record in enumerate(result.to_records()):
        alone = solo(problem, optax.sgd, record, steps=40, batch_size=20)
        np.testing.assert_array_equal(result.losses[i], alone.losses)


def test_geron_learning_rates_02_01_finite_and_05_diverged():
    # Géron, Hands-On ML fig. 4-8: eta = 0.02 is slow, 0.1 is good, 0.5 diverges.
    problem = problems.geron_linear()
    result = sweep(
        problem.loss_fn,
        problem.init_fn,
        problem.data,
        sgd,
        grid={"learning_rate": [0.02, 0.1, 0.5]},
        steps=1000,
        key=KEY,
    )
    assert list(result.status) == ["completed", "completed", "diverged"]
    assert np.isfinite(result.final_loss[:2]).all()
    assert 0 < result.diverged_at[2] < 1000 and result.diverged_at[:2].tolist() == [-1, -1]
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(result.params))


def test_numpy_and_jax_data_give_the_same_numpy_results():
    # JAX arrays go to the program as they are, NumPy arrays are converted (float64 to
    # float32); the results come back as NumPy arrays either way.
    problem = problems.geron_linear()
    x, y = (np.asarray(a, np.float64) for a in problem.data)
    results = [
        sweep(
            problem.loss_fn,
            problem.init_fn,
            data,
            sgd,
            grid={"learning_rate": [0.02, 0.1]},
            steps=50,
            key=KEY,
        )
        for data in ((x, y), (jax.numpy.asarray(x), jax.numpy.asarray(y)))
    ]
    for result in results:
        for leaf in (result.final_loss, result.losses, *jax.tree.leaves(result.params)):
            assert isinstance(leaf, np.ndarray)
    np.testing.assert_array_equal(results[0].losses, results[1].losses)
    np.testing.assert_array_equal(results[0].final_loss, results[1].final_loss)


@pytest.mark.parametrize("batch_size", [None, 20])
def test_diverged_lanes_leave_the_others_as_their_solo_runs(x64, batch_size):
    problem = problems.geron_linear()
    kwargs = dict(steps=300, batch_size=batch_size)
    mixed = sweep(
        problem.loss_fn,
        problem.init_fn,
        problem.data,
        sgd,
        seeds=2,
        key=KEY,
        grid={"learning_rate": [0.02, 0.1, 5.0, 50.0]},
        **kwargs,
    )
    assert (mixed.status[4:] == "diverged").all() and (mixed.status[:4] == "completed").all()
    # a history holds finite losses only (a diverged lane repeats its last finite one), so
    # best_loss is the plain minimum of the history and the final loss
    assert np.isfinite(mixed.losses).all()
    lowest = np.minimum(mixed.losses.min(axis=1), mixed.final_loss)
    np.testing.assert_array_equal(mixed.best_loss, lowest)
    for i, record in enumerate(mixed.to_records()[:4]):
        alone = solo(problem, sgd, record, **kwargs)
        if batch_size is None:  # shared input product: see the comment above CASES
            assert max_relative_difference(mixed.losses[i], alone.losses) < 1e-12
        else:
            np.testing.assert_array_equal(mixed.losses[i], alone.losses)
            np.testing.assert_array_equal(mixed.params["w"][i], alone.params["w"])


def test_chunks_give_the_same_lanes():
    problem = problems.geron_linear()
    kwargs = dict(
        grid={"learning_rate": list(np.geomspace(0.01, 0.3, 7))},
        seeds=3,
        steps=50,
        key=KEY,
        batch_size=25,
    )
    whole = sweep(problem.loss_fn, problem.init_fn, problem.data, sgd, **kwargs)
    chunked = sweep(problem.loss_fn, problem.init_fn, problem.data, sgd, chunk_size=4, **kwargs)
    np.testing.assert_array_equal(whole.losses, chunked.losses)
    assert whole.to_records() == chunked.to_records()


@pytest.mark.parametrize("lanes_per_block", [2, 3, 5])
def test_lanes_in_blocks_equal_lanes_in_one_block(monkeypatch, lanes_per_block):
    """On CPU the lanes of a chunk run block after block; every lane (diverged, converged,
    and the padding of a chunk that is not a multiple of the block) trains bit for bit as
    in one block. Only the whole-data loss at the end, a product whose input ``x`` every
    lane shares, is computed by one matrix product over the block's lanes, and its last
    bits depend on the number of lanes (as with ``chunk_size``)."""
    from jaxgd import sweeps

    problem = problems.mlp_regression()
    kwargs = dict(
        grid={"learning_rate": [1e-3, 3e-2, 0.3, 30.0]},  # 30 diverges
        seeds=2,
        epochs=4,
        batch_size=16,
        key=KEY,
        tol=1e-4,
        record_params=True,
    )
    monkeypatch.setattr(
        sweeps.placement, "choose_lanes_per_block", lambda flops, chunk, devices: chunk
    )
    whole = sweep(problem.loss_fn, problem.init_fn, problem.data, sgd, **kwargs)
    assert (whole.status == "diverged").any() and (whole.status == "completed").any()
    monkeypatch.setattr(
        sweeps, "choose_lanes_per_block", lambda flops, chunk, devices: lanes_per_block
    )
    blocked = sweep(problem.loss_fn, problem.init_fn, problem.data, sgd, **kwargs)
    for name in ("losses", "steps", "status", "diverged_at"):
        np.testing.assert_array_equal(getattr(blocked, name), getattr(whole, name), err_msg=name)
    for name in ("final_loss", "epoch_losses", "best_loss"):  # whole-data losses
        np.testing.assert_allclose(getattr(blocked, name), getattr(whole, name), rtol=1e-6)
    for a, b in zip(jax.tree.leaves(blocked.params), jax.tree.leaves(whole.params), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(
        jax.tree.leaves(blocked.param_history), jax.tree.leaves(whole.param_history), strict=True
    ):
        np.testing.assert_array_equal(a, b)


def test_lanes_per_block_rule(monkeypatch):
    from jaxgd import sweeps

    class Device:
        def __init__(self, platform):
            self.platform = platform

    cpu = [Device("cpu")]
    monkeypatch.setattr(sweeps.placement.os, "cpu_count", lambda: 2)
    # accelerators and several devices: the whole chunk is one block
    assert sweeps.choose_lanes_per_block(10**9, 64, [Device("gpu")]) == 64
    assert sweeps.choose_lanes_per_block(10**9, 64, cpu * 2) == 64
    # much arithmetic per lane: two lanes per core
    assert sweeps.choose_lanes_per_block(10**9, 64, cpu) == 4
    # little: enough lanes for BLOCK_FLOPS, the chunk cut into blocks at least that large
    assert sweeps.choose_lanes_per_block(1_000, 4096, cpu) == 4096
    assert sweeps.choose_lanes_per_block(10**5, 100, cpu) == 50  # 40 wanted: 2 blocks of 50
    assert sweeps.choose_lanes_per_block(10**6, 10, cpu) == 5  # a last block is never short
    assert sweeps.choose_lanes_per_block(10**9, 1, cpu) == 1


def test_lane_cost_counts_matrix_products():
    """2·m·n·k flops per matrix product, counted from the jaxpr of value_and_grad."""
    from jaxgd import sweeps

    def plan_for(problem):
        from jaxgd._engine.plan import LoopOptions, make_plan

        return make_plan(problem.loss_fn, problem.data, LoopOptions(steps=1))

    costs = []
    for width in (32, 64):
        problem = problems.mlp_regression(sizes=(16, width, width, 1), n_examples=256)
        cost = sweeps.estimate_lane_cost(plan_for(problem), problem.init_fn, problem.data, KEY)
        forward = 2 * 256 * (16 * width + width * width + width)
        # backward: every weight gradient (as much as the forward) and the input gradients
        # of layers 2 and 3 (none for the data); element-wise work adds a few percent
        products = 2 * forward + 2 * 256 * (width * width + width)
        assert products <= cost.step_flops <= 1.1 * products
        costs.append(cost.step_flops)
    assert 3 < costs[1] / costs[0] < 4  # dominated by the width² layer


def test_non_numeric_hyperparameters_form_their_own_programs(x64):
    problem = problems.rosenbrock()
    grid = {"learning_rate": [1e-4, 1e-3], "momentum": [0.9], "nesterov": [False, True]}
    result = sweep(problem.loss_fn, problem.init_fn, None, sgd, grid=grid, steps=50, key=KEY)
    assert [r["nesterov"] for r in result.to_records()] == [False, True, False, True]
    for i, record in enumerate(result.to_records()):
        np.testing.assert_array_equal(result.losses[i], solo(problem, sgd, record, steps=50).losses)


def test_a_hyperparameter_mixing_numbers_and_schedules_splits_only_the_schedules(x64):
    # learning_rate holds two numbers (traced lanes of one program) and a schedule (a
    # program of its own); a constant schedule of 1e-3 must train exactly as 1e-3 does.
    problem = problems.rosenbrock()
    schedule = optax.constant_schedule(1e-3)
    grid = {"learning_rate": [1e-4, schedule, 1e-3]}
    result = sweep(problem.loss_fn, problem.init_fn, None, sgd, grid=grid, steps=50, key=KEY)
    assert result.hyperparameters["learning_rate"].dtype == object
    assert result.hyperparameters["learning_rate"][1] is schedule
    np.testing.assert_array_equal(result.losses[1], result.losses[2])
    assert not np.array_equal(result.losses[0], result.losses[2])
    for i, record in enumerate(result.to_records()):
        np.testing.assert_array_equal(result.losses[i], solo(problem, sgd, record, steps=50).losses)


def test_random_search_is_reproducible_and_in_range():
    problem = problems.geron_linear()
    kwargs = dict(
        random={
            "learning_rate": log_uniform(1e-3, 0.3),
            "momentum": uniform(0.0, 0.9),
            "nesterov": choice([False, True]),
        },
        n_random=12,
        steps=20,
        key=jax.random.key(3),
    )
    a = sweep(problem.loss_fn, problem.init_fn, problem.data, sgd, **kwargs)
    b = sweep(problem.loss_fn, problem.init_fn, problem.data, sgd, **kwargs)
    assert a.to_records() == b.to_records() and a.n_lanes == 12
    lr = a.hyperparameters["learning_rate"]
    assert ((lr >= 1e-3) & (lr <= 0.3)).all() and len(set(lr)) == 12
    assert set(a.hyperparameters["nesterov"]) == {False, True}


def test_best_never_picks_a_diverged_lane():
    # A diverged lane whose recorded best loss is the lowest must still not be chosen.
    result = SweepResult(
        hyperparameters={"learning_rate": np.array([0.1, 0.2, 0.9])},
        seeds=np.array([0, 0, 0]),
        final_loss=np.array([0.5, 0.4, np.inf]),
        best_loss=np.array([0.5, 0.4, 0.01]),
        status=np.array(["completed", "completed", "diverged"]),
        steps=np.array([10, 10, 3]),
        diverged_at=np.array([-1, -1, 3]),
        losses=np.zeros((3, 10)),
        record_every=1,
        params=None,
    )
    assert result.best()["learning_rate"] == 0.2
    assert result.best(by="best_loss")["learning_rate"] == 0.2
    assert result.best(over_seeds="median")["learning_rate"] == 0.2


def test_best_median_over_seeds_prefers_the_reliable_configuration():
    problem = problems.geron_linear()
    result = sweep(
        problem.loss_fn,
        problem.init_fn,
        problem.data,
        sgd,
        grid={"learning_rate": [0.05, 0.1, 0.45]},
        seeds=4,
        steps=200,
        key=KEY,
    )
    best = result.best(over_seeds="median")
    assert best["diverged_seeds"] == 0 and best["seeds"] == 4


def test_records_round_trip_through_csv_and_json(tmp_path):
    problem = problems.geron_linear()
    result = sweep(
        problem.loss_fn,
        problem.init_fn,
        problem.data,
        sgd,
        grid={"learning_rate": [0.02, 0.5], "nesterov": [True], "momentum": [0.3]},
        seeds=2,
        steps=100,
        key=KEY,
    )
    records = result.to_records()
    assert read_records(result.to_csv(tmp_path / "r.csv")) == records
    assert read_records(result.to_json(tmp_path / "r.json")) == records
    assert set(records[0]) >= {
        "learning_rate",
        "seed",
        "final_loss",
        "best_loss",
        "status",
        "steps",
    }


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grid": {"learning_rate": []}}, "is empty"),
        ({"grid": {"learning_rat": [0.1]}}, "does not accept learning_rat.*accepts learning_rate"),
        ({"grid": {"learning_rate": [0.1, 0.0]}}, "non-positive"),
        ({"grid": {"learning_rate": [0.1]}, "chunk_size": 0}, "chunk_size=0"),
        ({"grid": {"learning_rate": [0.1]}, "devices": 99}, "devices=99"),
        (
            {
                "grid": {"learning_rate": [0.1]},
                "random": {"learning_rate": log_uniform(0.1, 1)},
                "n_random": 2,
            },
            "both grid and random",
        ),
        ({"random": {"learning_rate": log_uniform(0.1, 1)}}, "n_random"),
    ],
)
def test_bad_sweeps_raise_with_the_fix(kwargs, match):
    problem = problems.geron_linear()
    with pytest.raises(ValueError, match=match):
        sweep(problem.loss_fn, problem.init_fn, problem.data, sgd, steps=5, key=KEY, **kwargs)


def test_progress_bar_only_when_asked_or_on_a_terminal(capsys):
    problem = problems.geron_linear()
    args = (problem.loss_fn, problem.init_fn, problem.data, sgd)
    kwargs = dict(grid={"learning_rate": [0.1, 0.2]}, steps=10, key=KEY, chunk_size=1)
    quiet = sweep(*args, **kwargs)
    assert "lane" not in capsys.readouterr().err  # stderr is not a terminal under pytest
    shown = sweep(*args, progress=True, **kwargs)
    assert "2/2" in capsys.readouterr().err
    np.testing.assert_array_equal(quiet.losses, shown.losses)


def test_cli_sweep_writes_results(tmp_path, capsys):
    code = main(
        [
            "sweep",
            "--problem",
            "geron-linear",
            "--lr",
            "0.01:0.8:6",
            "--seeds",
            "2",
            "--steps",
            "200",
            "--grid",
            "momentum=0,0.5",
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["lanes"]) == 6 * 2 * 2 and data["statuses"]["diverged"] > 0
    assert data["best"]["diverged_seeds"] == 0
    for name in ("sweep.csv", "sweep.json", "final_loss.png", "loss_heatmap.png"):
        assert (tmp_path / name).stat().st_size > 0
    with pytest.raises(SystemExit) as exit_:
        main(["sweep", "--optimizer", "sgdd", "--out", str(tmp_path)])
    assert exit_.value.code == 2
    assert "adam" in capsys.readouterr().err


def _run_python(code: str, env_extra: dict, timeout: int = 300) -> str:
    env = {**os.environ, **env_extra}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


SHARDED = """
    import jax, numpy as np
    jax.config.update("jax_enable_x64", True)
    from jaxgd.sweeps import sweep
    from jaxgd.optim import sgd
    from jaxgd.problems import geron_linear, mlp_regression
    assert len(jax.devices()) == 4
    for problem, kwargs, exact in [(geron_linear(), dict(batch_size=10), True),
                                   (mlp_regression(), dict(), False)]:
        args = (problem.loss_fn, problem.init_fn, problem.data, sgd)
        kw = dict(grid={"learning_rate": list(np.geomspace(0.01, 0.2, 5))}, steps=40,
                  key=jax.random.key(0), seeds=3, **kwargs)
        one = sweep(*args, devices=1, **kw)
        four = sweep(*args, **kw)
        if exact:
            assert np.array_equal(one.losses, four.losses)
        else:
            assert np.max(np.abs(one.losses - four.losses) / np.abs(one.losses)) < 1e-12
        assert [r["status"] for r in one.to_records()] == [r["status"] for r in four.to_records()]
    print("ok")
"""


def sharded_run(folder: Path, result) -> str:
    """SHARDED's output: a background job (see tests/conftest.py), started with the session."""
    return _run_python(SHARDED, {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"})


@pytest.mark.background.with_args(sharded_run)
def test_sharded_over_four_devices_equals_one_device(background):
    out = background(sharded_run)
    assert out.strip().endswith("ok")


WORKER = """
    import sys, jax
    process_id, port, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                               process_id=process_id)
    from jaxgd.sweeps import sweep
    from jaxgd.optim import sgd
    from jaxgd.problems import geron_linear
    assert len(jax.devices()) == 2 and len(jax.local_devices()) == 1
    p = geron_linear()
    r = sweep(p.loss_fn, p.init_fn, p.data, sgd, grid={"learning_rate": [0.01, 0.1, 0.5]},
              seeds=2, steps=200, key=jax.random.key(0), batch_size=10)
    if process_id == 0:
        r.to_json(out)
"""


def two_processes(folder: Path, result) -> Path:
    """WORKER run as processes 0 and 1 of one JAX cluster; the lanes process 0 wrote: a
    background job (see tests/conftest.py), started with the session."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    script = folder / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    out = folder / "lanes.json"
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), str(i), port, str(out)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in (0, 1)
    ]
    for w in workers:
        _, err = w.communicate(timeout=300)
        assert w.returncode == 0, err[-3000:]
    return out


@pytest.mark.slow
@pytest.mark.background.with_args(two_processes)
def test_two_processes_share_the_lanes_and_gather_on_process_0(background):
    out = background(two_processes)
    p = problems.geron_linear()
    local = sweep(
        p.loss_fn,
        p.init_fn,
        p.data,
        sgd,
        grid={"learning_rate": [0.01, 0.1, 0.5]},
        seeds=2,
        steps=200,
        key=KEY,
        batch_size=10,
    )
    assert read_records(out) == local.to_records()


# Peak memory is the kernel's high-water mark of this process's own address space (VmHWM).
# getrusage's ru_maxrss would not do: Linux carries it over from the forking parent (pytest,
# gigabytes by then) across exec.
MEMORY = """
    import jax, numpy as np
    from jaxgd.sweeps import sweep
    from jaxgd.optim import sgd
    from jaxgd.problems import geron_linear
    p = geron_linear()
    r = sweep(p.loss_fn, p.init_fn, p.data, sgd,
              grid={"learning_rate": list(np.geomspace(1e-3, 1.0, 10_000))}, steps=1000,
              key=jax.random.key(0))
    assert r.n_lanes == 10_000 and r.losses.shape == (10_000, 1000)
    lines = open("/proc/self/status").read().splitlines()
    print(int(next(line for line in lines if line.startswith("VmHWM")).split()[1]) * 1024)
"""


def memory_run(folder: Path, result) -> str:
    """MEMORY's output: a background job (see tests/conftest.py), started with the session."""
    return _run_python(MEMORY, {})


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
@pytest.mark.background.with_args(memory_run)
def test_ten_thousand_lanes_of_geron_fit_in_two_gigabytes(background):
    peak = int(background(memory_run).split()[-1])
    print(f"peak resident memory of a 10,000-lane, 1,000-step sweep: {peak / 2**20:.0f} MiB")
    assert peak < 2 * 2**30
