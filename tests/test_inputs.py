"""Every bad input to fit, sweep and the command line gets a clear error naming the argument.

Each case states the input, the error type and a word the message must contain (the
argument's name, and the offending value or the fix where it matters). Nothing may run,
compile, or come back as NaN first.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgd
from jaxgd import cli
from jaxgd.optim import adam, sgd
from jaxgd.problems import geron_linear, geron_linear_data, normal_equation
from jaxgd.sweeps import log_uniform, uniform

PROBLEM = geron_linear()
X, Y = PROBLEM.data


def linear_loss(params, x, y):
    """A user's model written as users write it: θ of shape [2, 1], x @ θ."""
    xb = jnp.concatenate([jnp.ones((x.shape[0], 1), x.dtype), x], axis=1)
    return jnp.mean((xb @ params - y[:, None]) ** 2)


THETA = jnp.zeros((2, 1))


def fit_with(**changes):
    arguments = dict(
        loss_fn=linear_loss, params=THETA, data=(X, Y), optimizer=sgd(0.1), steps=5, key=0
    )
    arguments.update(changes)
    positional = [arguments.pop(n) for n in ("loss_fn", "params", "data", "optimizer")]
    return jaxgd.fit(*positional, **arguments)


def sweep_with(**changes):
    arguments = dict(
        loss_fn=linear_loss,
        init_fn=lambda key: THETA,
        data=(X, Y),
        optimizer=sgd,
        grid={"learning_rate": [0.01, 0.1]},
        steps=5,
        key=0,
    )
    arguments.update(changes)
    positional = [arguments.pop(n) for n in ("loss_fn", "init_fn", "data", "optimizer")]
    return jaxgd.sweep(*positional, **arguments)


FIT_CASES = {
    "the optimizer factory, not called": (dict(optimizer=sgd), TypeError, r"call it.*sgd\(0\.1\)"),
    "optimizer None": (dict(optimizer=None), TypeError, "optimizer"),
    "an optax factory": (dict(optimizer=optax.adam), TypeError, "call it"),
    "params with NaN": (dict(params=jnp.array([[jnp.nan], [0.0]])), ValueError, "params"),
    "params of ints": (dict(params=jnp.zeros((2, 1), jnp.int32)), TypeError, "params"),
    "params a Python int": (dict(params={"w": 1}), TypeError, r"params\['w'\]"),
    "params with no leaves": (dict(params={}), ValueError, "params"),
    "complex params": (dict(params=jnp.zeros((2, 1), jnp.complex64)), TypeError, "params"),
    "data with 0 rows": (dict(data=(X[:0], Y[:0])), ValueError, "0 examples"),
    "data of strings": (dict(data=(np.array([["a"]] * 3), np.zeros(3))), TypeError, "x"),
    "x and y of other lengths": (dict(data=(X, Y[:5])), ValueError, "examples"),
    "data with NaN": (dict(data=(X.at[0, 0].set(jnp.nan), Y)), ValueError, "NaN"),
    "data not a pair": (dict(data=X), ValueError, "pair"),
    "loss_fn not callable": (dict(loss_fn="mse"), TypeError, "loss_fn"),
    "loss_fn taking (params, batch)": (
        dict(loss_fn=lambda params, batch: 0.0),
        TypeError,
        r"loss_fn\(params, x, y\)",
    ),
    "data (x, None)": (dict(data=(X, None)), ValueError, "y is None"),
    "data with a dict x": (dict(data=({"a": X}, Y)), TypeError, "x is a dict"),
    "steps beyond what a run can count": (dict(steps=3_000_000_000), ValueError, "steps"),
    "loss_fn returning per-example losses": (
        dict(loss_fn=lambda p, x, y: (jnp.concatenate([x**0, x], 1) @ p - y[:, None]) ** 2),
        TypeError,
        r"loss_fn.*shape \(100, 1\)",
    ),
    "no key with mini-batches": (dict(key=None, batch_size=10), ValueError, "key"),
    "a string key": (dict(key="0"), TypeError, "key"),
    "tol a string": (dict(tol="1e-3"), TypeError, "tol"),
    "tol negative": (dict(tol=-1.0), ValueError, "tol"),
    "steps zero": (dict(steps=0), ValueError, "steps"),
    "steps a float": (dict(steps=2.5), ValueError, "steps"),
    "steps and epochs": (dict(epochs=2), ValueError, "exactly one"),
    "record_every zero": (dict(record_every=0), ValueError, "record_every"),
    "batch_size zero": (dict(batch_size=0), ValueError, "batch_size"),
    "batch_size above m": (dict(batch_size=1000), ValueError, "batch_size"),
    "drop_last a string": (dict(drop_last="no"), TypeError, "drop_last"),
    "record_params a number": (dict(record_params=1), TypeError, "record_params"),
    "progress a string": (dict(progress="yes"), TypeError, "progress"),
    "sampling unknown": (dict(sampling="random"), ValueError, "sampling"),
    "stop_on unknown": (dict(stop_on="loss"), ValueError, "stop_on"),
    "max_loss_ratio below 1": (dict(max_loss_ratio=0.5), ValueError, "max_loss_ratio"),
    "an opt_state of another optimizer": (
        dict(opt_state=adam(0.1).init(THETA)),
        ValueError,
        "opt_state",
    ),
}


@pytest.mark.parametrize("case", list(FIT_CASES))
def test_fit_refuses(case):
    changes, error, pattern = FIT_CASES[case]
    with pytest.raises(error, match=pattern):
        fit_with(**changes)


def _returns_none(**hyperparameters):
    return None


SWEEP_CASES = {
    "a transformation, not the factory": (dict(optimizer=sgd(0.1)), TypeError, "factory"),
    "optimizer None": (dict(optimizer=None), TypeError, "optimizer"),
    "momentum 1.5 in the grid": (
        dict(grid={"learning_rate": [0.1], "momentum": [0.9, 1.5]}),
        ValueError,
        r"momentum.*1\.5.*configuration",
    ),
    "b1 1.5 in the grid": (
        dict(optimizer=adam, grid={"learning_rate": [0.1], "b1": [1.5]}),
        ValueError,
        r"b1.*1\.5",
    ),
    "eps -1 in the grid": (
        dict(optimizer=adam, grid={"learning_rate": [0.1], "eps": [-1.0]}),
        ValueError,
        "eps",
    ),
    "momentum 1.5 drawn at random": (
        dict(
            grid=None,
            random={"learning_rate": uniform(0.01, 0.1), "momentum": uniform(1.2, 2.0)},
            n_random=3,
        ),
        ValueError,
        "momentum",
    ),
    "a learning rate that is a string": (
        dict(grid={"learning_rate": ["0.1"]}),
        TypeError,
        "learning_rate",
    ),
    "a learning rate of 0": (dict(grid={"learning_rate": [0.0]}), ValueError, "learning_rate"),
    "an unknown hyperparameter": (
        dict(grid={"learning_rate": [0.1], "mom": [0.9]}),
        ValueError,
        "mom",
    ),
    "seeds 2.5": (dict(seeds=2.5), TypeError, "seeds"),
    "seeds 0": (dict(seeds=0), ValueError, "seeds"),
    "seeds negative in a list": (dict(seeds=[0, -1]), ValueError, "seeds"),
    "seeds a string": (dict(seeds="3"), TypeError, "seeds"),
    "seeds empty": (dict(seeds=[]), ValueError, "seeds"),
    "seeds repeated": (dict(seeds=[0, 0]), ValueError, "repeats"),
    "seeds beyond 32 bits": (dict(seeds=[2**40]), ValueError, r"2\*\*32"),
    "init_fn without a key argument": (dict(init_fn=lambda: THETA), TypeError, r"init_fn\(key\)"),
    "devices a string": (dict(devices="cpu"), TypeError, "devices"),
    "nesterov a string in the grid": (
        dict(grid={"learning_rate": [0.1], "momentum": [0.9], "nesterov": ["False"]}),
        TypeError,
        "nesterov",
    ),
    "key None": (dict(key=None), TypeError, "key"),
    "init_fn not callable": (dict(init_fn=THETA), TypeError, "init_fn"),
    "init_fn returning ints": (
        dict(init_fn=lambda key: jnp.zeros((2, 1), jnp.int32)),
        TypeError,
        "init_fn",
    ),
    "a factory returning None": (dict(optimizer=_returns_none), TypeError, "returned None"),
    "data with 0 rows": (dict(data=(X[:0], Y[:0])), ValueError, "0 examples"),
    "loss_fn returning an int": (
        dict(loss_fn=lambda p, x, y: jnp.sum(x > 0)),
        TypeError,
        "loss_fn",
    ),
    "n_random without random": (dict(n_random=4), ValueError, "n_random"),
    "random without n_random": (
        dict(grid=None, random={"learning_rate": log_uniform(0.01, 1)}),
        ValueError,
        "n_random",
    ),
    "n_random zero": (
        dict(grid=None, random={"learning_rate": log_uniform(0.01, 1)}, n_random=0),
        ValueError,
        "n_random",
    ),
    "a distribution that is a tuple": (
        dict(grid=None, random={"learning_rate": (0.01, 1)}, n_random=2),
        ValueError,
        "log_uniform",
    ),
    "an empty grid list": (dict(grid={"learning_rate": []}), ValueError, "learning_rate"),
    "a grid value that is not a list": (
        dict(grid={"learning_rate": 0.1}),
        ValueError,
        "learning_rate",
    ),
    "chunk_size zero": (dict(chunk_size=0), ValueError, "chunk_size"),
    "memory_budget zero": (dict(memory_budget=0), ValueError, "memory_budget"),
    "memory_budget a string": (dict(memory_budget="1GB"), TypeError, "memory_budget"),
    "devices too many": (dict(devices=10_000), ValueError, "devices"),
    "progress a string": (dict(progress="yes"), TypeError, "progress"),
    "max_loss_ratio a string": (dict(max_loss_ratio="big"), TypeError, "max_loss_ratio"),
    "tol negative": (dict(tol=-1.0), ValueError, "tol"),
}


@pytest.mark.parametrize("case", list(SWEEP_CASES))
def test_sweep_refuses(case):
    changes, error, pattern = SWEEP_CASES[case]
    with pytest.raises(error, match=pattern):
        sweep_with(**changes)


def test_a_lane_error_names_its_configuration_and_nothing_compiles():
    compiled_before = jaxgd.sweeps.program.run_lanes._cache_size()
    with pytest.raises(ValueError, match=r"momentum=1\.5.*'learning_rate': 0\.01"):
        sweep_with(grid={"learning_rate": [0.01], "momentum": [0.0, 1.5]})
    assert jaxgd.sweeps.program.run_lanes._cache_size() == compiled_before


def test_a_factory_that_needs_python_numbers_is_told_why():
    def branching(learning_rate, momentum):
        if momentum > 0:  # fails on the lanes' arrays (and on tracers)
            return sgd(learning_rate, momentum)
        return sgd(learning_rate)

    with pytest.raises(ValueError, match="traced"):
        sweep_with(optimizer=branching, grid={"learning_rate": [0.1], "momentum": [0.0, 0.9]})


@pytest.mark.parametrize(
    "make",
    [lambda: log_uniform("a", 1), lambda: log_uniform(0, 1), lambda: uniform(1, None)],
    ids=["log_uniform of a string", "log_uniform from 0", "uniform to None"],
)
def test_search_spaces_refuse_bad_bounds(make):
    with pytest.raises((TypeError, ValueError), match="uniform"):
        make()


def test_valid_inputs_as_users_write_them_still_run():
    """NumPy data, an [n, 1] column, a Python-float hyperparameter, an optax factory."""
    x, y = np.asarray(X), np.asarray(Y)
    exact = normal_equation(*geron_linear_data())
    theta = np.array([[exact["b"]], [exact["w"][0]]])
    result = jaxgd.fit(linear_loss, np.zeros((2, 1)), (x, y), sgd(0.1), steps=1000)
    assert result.params.shape == (2, 1) and not bool(result.diverged)
    np.testing.assert_allclose(result.params, theta, rtol=1e-4)
    lanes = jaxgd.sweep(
        linear_loss,
        lambda key: jax.random.normal(key, (2, 1)),
        (x, y),
        optax.sgd,
        grid={"learning_rate": [0.05, 0.1]},
        steps=1000,
        key=jax.random.PRNGKey(0),
    )
    assert list(lanes.status) == ["completed", "completed"]
    np.testing.assert_allclose(lanes.params, np.stack([theta, theta]), rtol=1e-3)


# ----------------------------------------------------------------------------- the command line


def run_cli(capsys, *argv):
    try:
        code = cli.main(list(argv))
    except SystemExit as exit_:  # argparse
        code = exit_.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


CLI_CASES = {
    "--out is a file": (["sweep", "--out", "{file}"], "--out"),
    "--out under a file": (["sweep", "--out", "{file}/sub"], "--out"),
    "--grid value not a number": (["sweep", "--grid", "momentum=a,b"], "--grid"),
    "--grid without values": (["sweep", "--grid", "momentum="], "--grid"),
    "--grid twice for one name": (
        ["sweep", "--grid", "momentum=0", "--grid", "momentum=1"],
        "twice",
    ),
    "learning rates given twice": (
        ["sweep", "--lr", "1e-3:1:4", "--grid", "learning_rate=0.1"],
        "--lr",
    ),
    "--lr malformed": (["sweep", "--lr", "0.1"], "--lr"),
    "--lr from 0": (["sweep", "--lr", "0:1:4"], "--lr"),
    "--seeds 2.5": (["sweep", "--seeds", "2.5"], "--seeds"),
    "--seeds 0": (["sweep", "--seeds", "0", "--steps", "2"], "seeds"),
    "--steps 0": (["sweep", "--steps", "0"], "steps"),
    "momentum 1.5": (["sweep", "--steps", "2", "--grid", "momentum=1.5"], "momentum"),
    "an unknown optimizer": (["sweep", "--optimizer", "adamm"], "--optimizer"),
    "an unknown problem": (["sweep", "--problem", "iris"], "--problem"),
    "--max-loss-ratio a word": (["sweep", "--max-loss-ratio", "big"], "--max-loss-ratio"),
    "crosscheck --steps 0": (["crosscheck", "--steps", "0"], "--steps"),
    "crosscheck unknown optimizer": (["crosscheck", "--optimizer", "adamm"], "adamm"),
    "worked-example --lr nan": (["worked-example", "--lr", "nan"], "--lr"),
    "reproduce --out is a file": (["reproduce", "--out", "{file}"], "--out"),
    "reproduce unknown experiment": (["reproduce", "--only", "nope"], "nope"),
    "reproduce --jobs 0": (["reproduce", "--jobs", "0"], "--jobs"),
    "bench --out is a file": (["bench", "--out", "{file}"], "--out"),
    "bench unknown workload": (["bench", "--workload", "W9"], "--workload"),
    "no command": ([], "COMMAND"),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_the_cli_answers_a_user_error_in_one_line_with_status_2(case, capsys, tmp_path):
    argv, pattern = CLI_CASES[case]
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    argv = [arg.replace("{file}", str(a_file)) for arg in argv]
    code, out, err = run_cli(
        capsys,
        *argv,
        *(["--out", str(tmp_path / "o")] * ("--out" not in argv and argv[:1] == ["sweep"])),
    )
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert pattern in lines[0], lines[0]
    assert "Traceback" not in err
    assert a_file.read_text() == "not a folder"


def test_an_unwritable_out_is_refused_before_any_work(capsys, tmp_path):
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / "sweep"
    elif os.path.isdir("/proc"):  # root writes everywhere but in /proc
        target = "/proc/jaxgd-sweep"
    else:
        pytest.skip("running as root without /proc: no folder here refuses writes")
    code, _, err = run_cli(capsys, "sweep", "--out", str(target))
    assert code == 2 and "--out" in err and "cannot write" in err


def test_the_grid_takes_the_learning_rates(capsys, tmp_path):
    out = tmp_path / "sweep"
    code, stdout, err = run_cli(
        capsys, "sweep", "--grid", "learning_rate=0.01,0.1", "--seeds", "1", "--steps", "20",
        "--out", str(out), "--json",
    )  # fmt: skip
    assert code == 0, err
    import json

    lanes = json.loads(stdout)["lanes"]
    assert [lane["learning_rate"] for lane in lanes] == [0.01, 0.1]


def test_results_are_printed_when_the_files_cannot_be_written(capsys, tmp_path, monkeypatch):
    def refuse(self, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(jaxgd.SweepResult, "to_csv", refuse)
    code, stdout, err = run_cli(
        capsys, "sweep", "--lr", "0.01:0.1:2", "--seeds", "1", "--steps", "20",
        "--out", str(tmp_path / "sweep"),
    )  # fmt: skip
    assert code == 1
    import json

    assert len(json.loads(stdout)["lanes"]) == 2  # nothing lost
    assert "could not write" in err


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["sweep", "--help"], ["crosscheck", "--help"], ["worked-example", "--help"],
     ["reproduce", "--help"], ["bench", "--quick", "--help"]],
    ids=lambda argv: " ".join(argv),
)  # fmt: skip
def test_help_answers_without_importing_jax(argv):
    code = textwrap.dedent(f"""
        import sys
        from jaxgd.cli import main
        try:
            main({argv!r})
        except SystemExit as exit_:
            assert exit_.code in (0, None), exit_.code
        print("jax imported:", "jax" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout
    assert done.stdout.strip().endswith("jax imported: False")


def test_a_pairwise_broadcast_of_predictions_and_targets_is_warned_about():
    """x @ θ of shape [m, 1] minus y of shape [m] is [m, m]: the fit goes wrong silently.
    (JAX's default rank promotion, as users run it; the tests' "raise" would stop it first.)"""

    def slip(t, x, y):
        return jnp.mean((x @ t - y) ** 2)

    def gram(t, x, y):  # an [m, m] Gram matrix built on purpose by a matrix product
        return jnp.mean((x * t) @ (x * t).T) + jnp.mean((x[:, 0] * t[0] - y) ** 2)

    with jax.numpy_rank_promotion("allow"):
        with pytest.warns(jaxgd._types.JaxgdWarning, match=r"\(100, 100\).*reshape"):
            jaxgd.fit(slip, jnp.zeros((1, 1)), (X, Y), sgd(0.1), steps=2)
        jaxgd.fit(gram, jnp.zeros(1), (X, Y), sgd(0.01), steps=2)


@pytest.mark.parametrize(
    "bad",
    [lambda count: "0.1", lambda: 0.1, lambda count: [0.1, 0.2], lambda count: 1j],
    ids=["returns a string", "takes no count", "returns a list", "returns a complex"],
)
def test_a_schedule_that_cannot_be_one_is_refused_when_the_optimizer_is_built(bad):
    with pytest.raises(TypeError, match=r"learning_rate.*schedule"):
        sgd(bad)


@pytest.mark.parametrize("flag", ["False", "yes", 1, None])
def test_option_flags_of_optimizers_must_be_bools(flag):
    from jaxgd.optim import rmsprop

    with pytest.raises(TypeError, match="nesterov"):
        sgd(0.1, 0.9, nesterov=flag)
    with pytest.raises(TypeError, match="centered"):
        rmsprop(0.1, centered=flag)
    with pytest.raises(TypeError, match="nesterov"):
        adam(0.1, nesterov=flag)


def test_a_dtype_argument_that_is_not_a_dtype_is_named():
    with pytest.raises(TypeError, match="mu_dtype"):
        adam(0.1, mu_dtype="banana")


def test_lane_keys_refuses_a_seed_a_sweep_cannot_have():
    with pytest.raises(ValueError, match="seed"):
        jaxgd.sweeps.lane_keys(0, -1)


def test_learning_rates_built_with_jax_numpy_are_numbers():
    rates = jnp.logspace(-3, -1, 3)
    for grid in ({"learning_rate": list(rates)}, {"learning_rate": rates}):
        result = sweep_with(grid=grid)
        np.testing.assert_allclose(result.hyperparameters["learning_rate"], rates, rtol=1e-6)
        assert result.hyperparameters["learning_rate"].dtype == np.float64


def test_when_every_lane_diverges_at_its_start_best_says_to_check_the_start():
    result = sweep_with(init_fn=lambda key: jnp.full((2, 1), jnp.nan))
    assert list(result.status) == ["diverged", "diverged"]
    with pytest.raises(ValueError, match=r"update 0.*init_fn"):
        result.best()
    with pytest.raises(ValueError, match="lower the learning rates"):
        sweep_with(grid={"learning_rate": [5.0, 9.0]}, steps=50).best()
