"""jaxgd.crosscheck: distances, compare(), the optax state map, the table runner and its CLI."""

from __future__ import annotations

import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgd import _catalog, cli, crosscheck, optim, problems
from jaxgd.crosscheck import (
    CASES,
    OPTIMIZERS,
    compare,
    optax_state_fields,
    run_from_args,
    ulp_distance,
)
from jaxgd.crosscheck import _run as crosscheck_run  # where run_table finds its problems
from jaxgd.optim import GradientTransformation

# ----------------------------------------------------------------------------- ULPs


def test_ulp_distance_float32():
    one = jnp.float32(1.0)
    up = jnp.nextafter(one, jnp.float32(2.0))
    assert int(ulp_distance(one, up)) == 1
    assert int(ulp_distance(up, one)) == 1
    assert int(ulp_distance(jnp.float32(-0.0), jnp.float32(0.0))) == 0
    tiny = jnp.float32(np.finfo(np.float32).smallest_normal)
    assert int(ulp_distance(-tiny, tiny)) == 2 * 2**23  # 2^23 floats each side of zero
    bits_of_one = int(np.float32(1.0).view(np.int32))
    assert int(ulp_distance(-one, one)) == 2 * bits_of_one  # across zero, no int32 overflow
    nan = jnp.float32(jnp.nan)
    assert int(ulp_distance(nan, nan)) == 0
    assert int(ulp_distance(nan, one)) == np.iinfo(np.uint32).max
    assert ulp_distance(jnp.ones(3), jnp.ones(3)).dtype == jnp.uint32


def test_ulp_distance_float64_and_bfloat16(x64):
    one = jnp.float64(1.0)
    assert int(ulp_distance(one, jnp.nextafter(one, 2.0))) == 1
    assert int(ulp_distance(one, one + 1e-15)) == round(1e-15 / np.finfo(np.float64).eps)
    half = jnp.bfloat16(1.0)
    assert int(ulp_distance(half, jnp.bfloat16(1.0078125))) == 1  # bfloat16 has 7 mantissa bits


def test_ulp_distance_rejects_mixed_dtypes():
    with pytest.raises(ValueError, match="equal dtypes"):
        ulp_distance(jnp.ones(2, jnp.float32), jnp.ones(2, jnp.bfloat16))


def test_tree_stats():
    stats = crosscheck.tree_stats({"w": jnp.array([1.0, 2.0])}, {"w": jnp.array([1.0, 2.5])})
    # In [2, 4) float32 values are 2^-22 apart: 0.5 is 2^21 of them.
    assert stats == {"max_abs": 0.5, "max_rel": pytest.approx(0.2), "max_ulp": 2**21}


# ----------------------------------------------------------------------------- compare


def _loss(params):
    return jnp.sum((params["w"] - 1.0) ** 2) + jnp.sum(params["b"] ** 4)


_START = {"w": jnp.array([0.0, 2.0, -1.0]), "b": jnp.array(0.5)}


def test_compare_identical_optimizers_never_differ():
    result = compare(optim.adam(0.05), optim.adam(0.05), _loss, _START, steps=30)
    assert (result.max_abs, result.max_rel, result.max_ulp) == (0.0, 0.0, 0)
    assert result.first_diff_step is None
    assert result.per_step["max_ulp"].shape == (30,)
    assert result.reference_loss == result.candidate_loss < float(_loss(_START))
    assert result.within(max_rel=0.0, max_ulp=0)
    assert "first difference: never" in result.summary()


def test_compare_finds_the_first_differing_step():
    # Momentum 0.9 vs 0.9 + 1e-6: the first step has no momentum yet (m = g), so
    # the runs first differ at step 2.
    result = compare(
        optim.sgd(0.01, momentum=0.9), optim.sgd(0.01, momentum=0.900001), _loss, _START, steps=20
    )
    assert result.first_diff_step == 2 and result.first_diff_ulp > 0
    assert result.per_step["max_ulp"][0] == 0 and result.per_step["max_ulp"][1] > 0
    assert result.max_ulp > 0 and 0 < result.max_rel < 1e-3
    assert not result.within(max_ulp=0)


def test_compare_any_gradient_transformations():
    # A user's own optimizer: plain GD written as a NamedTuple of two functions.
    def init(params):
        return ()

    def update(grads, state, params=None):
        return jax.tree.map(lambda g: -0.1 * g, grads), state

    mine = GradientTransformation(init, update)
    result = compare(optax.sgd(0.1), mine, _loss, _START, steps=10)
    assert result.max_ulp == 0
    # optax.chain is fine on either side.
    chained = optax.chain(optax.scale_by_adam(), optax.scale(-0.01))
    assert compare(chained, optim.adam(0.01), _loss, _START, steps=10).max_ulp == 0


def test_compare_on_a_problem_in_float64():
    problem = problems.rosenbrock()
    result = compare(optax.nadam(1e-2), optim.nadam(1e-2), problem, steps=50, dtype="float64")
    assert result.dtype == "float64"
    assert result.max_ulp == 0
    assert not jax.config.jax_enable_x64  # switched on for the run only


def test_compare_needs_params_for_a_plain_loss():
    with pytest.raises(ValueError, match="params"):
        compare(optim.sgd(0.1), optim.sgd(0.1), _loss, steps=2)


def test_compare_many_runs_pairs_independently():
    pairs = {
        "same": (optax.adagrad(0.1), optim.adagrad(0.1)),
        "different": (optax.adagrad(0.1), optim.adagrad(0.1, eps=1e-6)),
    }
    results = crosscheck.compare_many(pairs, _loss, _START, steps=15)
    assert results["same"].max_ulp == 0
    assert results["different"].max_ulp > 0


# ----------------------------------------------------------------------------- state map


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_optax_state_fields_cover_every_case(case):
    params = {"w": jnp.ones((2, 2)), "b": jnp.ones(2)}
    ours, theirs = case.build_pair(params)
    fields = optax_state_fields(theirs.init(params))  # empty for sgd(constant)
    assert set(fields) <= set(ours.init(params)._fields), case.label


def test_state_stats_compares_the_shared_fields():
    params = {"w": jnp.ones((2, 2)), "b": jnp.zeros(2)}
    grads = {"w": jnp.full((2, 2), 0.5), "b": jnp.ones(2)}
    ours, theirs = optim.adam(0.1), optax.adam(0.1)
    _, state = ours.update(grads, ours.init(params))
    _, optax_state = theirs.update(grads, theirs.init(params))
    assert crosscheck.state_stats(state, optax_state)["max_ulp"] == 0
    _, later = ours.update(grads, state)  # count 2 against optax's 1
    assert crosscheck.state_stats(later, optax_state)["max_rel"] == float("inf")


def test_optax_state_fields_examples():
    params = jnp.zeros(2)
    assert set(optax_state_fields(optax.adam(0.1).init(params))) == {"count", "mu", "nu"}
    assert set(optax_state_fields(optax.sgd(0.1).init(params))) == set()
    schedule = optax.linear_schedule(0.1, 0.0, 10)
    assert set(optax_state_fields(optax.sgd(schedule).init(params))) == {"count"}
    rms = optax.rmsprop(0.1, centered=True, momentum=0.9, bias_correction=True)
    assert set(optax_state_fields(rms.init(params))) == {"count", "mu", "nu", "trace"}
    with pytest.raises(TypeError, match="ScaleByAmsgradState"):
        optax_state_fields(optax.amsgrad(0.1).init(params))


# ----------------------------------------------------------------------------- table and CLI


@pytest.fixture
def bowl_only(monkeypatch):
    """The table's problems cut to the quadratic bowl (one small compile per run)."""
    bowl = {"quadratic-bowl": crosscheck.builtin_problems()["quadratic-bowl"]}
    monkeypatch.setattr(crosscheck_run, "builtin_problems", lambda: bowl)


def test_builtin_problems_are_the_three_surfaces():
    # The table's default problems (the trajectory tests in test_optim run on them).
    assert list(crosscheck.builtin_problems()) == ["quadratic-bowl", "rosenbrock", "mlp-regression"]


def test_run_table_rows_and_formats(bowl_only):
    rows = crosscheck.run_table(["sgd", "lion"], steps=5, dtype="float32")
    labels = [c.label for c in CASES if c.optimizer in ("sgd", "lion")]
    assert [f"{r.optimizer}/{r.setting}" for r in rows] == labels
    assert all(r.ok for r in rows), crosscheck.format_table(rows)
    table = crosscheck.format_table(rows)
    assert table.splitlines()[0].split() == [
        "optimizer",
        "setting",
        "problem",
        "max_abs",
        "max_rel",
        "max_ulp",
        "first_diff",
        "ulp_there",
        "state_ulp",
        "verdict",
    ]
    payload = json.loads(crosscheck.rows_to_json(rows, dtype="float32", steps=5))
    assert payload["ok"] is True and len(payload["rows"]) == len(rows)
    assert payload["tolerance"]["max_ulp"] == crosscheck.TOLERANCES["float32"].max_ulp
    assert set(payload["rows"][0]) == {
        "optimizer",
        "setting",
        "problem",
        "max_abs",
        "max_rel",
        "max_ulp",
        "first_diff_step",
        "first_diff_ulp",
        "state_max_rel",
        "state_max_ulp",
        "verdict",
    }


# ----------------------------------------------------------------------------- schedules

OPTAX_SCHEDULES = {
    "constant_schedule",
    "linear_schedule",
    "polynomial_schedule",
    "exponential_decay",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "cosine_decay_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_constant_schedule",
    "warmup_exponential_decay_schedule",
    "join_schedules",
    "sgdr_schedule",
    "linear_onecycle_schedule",
    "cosine_onecycle_schedule",
}
SCHEDULE_CASES = [c for c in CASES if c.schedule or c.weight_decay_schedule]


def _schedule_names(spec):
    name, kwargs = spec
    parts = kwargs.get("schedules", ()) if name == "join_schedules" else ()
    return {name}.union(*(_schedule_names(part) for part in parts))


def test_table_runs_an_optimizer_with_every_optax_schedule():
    used = set()
    for case in SCHEDULE_CASES:
        for spec in (case.schedule, case.weight_decay_schedule):
            used |= _schedule_names(spec) if spec else set()
    assert used == OPTAX_SCHEDULES
    assert set(dir(optax.schedules)) >= OPTAX_SCHEDULES


def test_build_schedule_builds_join_parts_from_the_same_library():
    spec = (
        "join_schedules",
        {
            "schedules": [
                ("constant_schedule", {"value": 0.1}),
                ("cosine_onecycle_schedule", {"transition_steps": 20, "peak_value": 0.2}),
            ],
            "boundaries": [10],
        },
    )
    ours, theirs = crosscheck.build_schedule(spec), crosscheck.build_schedule(spec, "optax")
    assert isinstance(ours, jax.tree_util.Partial)
    assert all(isinstance(part, jax.tree_util.Partial) for part in ours.args[0])
    steps = jnp.arange(40)
    chex.assert_trees_all_equal(jax.vmap(ours)(steps), jax.vmap(theirs)(steps))
    with pytest.raises(ValueError, match="library='torch'"):
        crosscheck.build_schedule(spec, "torch")


@pytest.mark.parametrize("traced", [False, True], ids=["constants", "traced"])
def test_schedule_cases_follow_optax(traced):
    # Long enough for every schedule to pass its boundaries (one-cycle: 150 steps).
    problem = crosscheck.builtin_problems()["quadratic-bowl"]
    params = problem.init_fn(jax.random.key(0))
    pairs = {case.label: case.build_pair(params)[::-1] for case in SCHEDULE_CASES}
    results = crosscheck.compare_many(pairs, problem, params, steps=160, traced=traced)
    tolerance = crosscheck.tolerance_for("float32", traced)
    for label, result in results.items():
        states = crosscheck.state_stats(result.candidate_state, result.reference_state)
        assert tolerance.accepts(result), f"{label}: {result.summary()}"
        assert tolerance.accepts_state(states), f"{label}: {states}"


def test_run_table_reports_failures():
    bad = crosscheck.Row("sgd", "x", "p", 1.0, 1.0, 5, 1, "FAIL")
    assert not bad.ok
    assert "FAIL" in crosscheck.format_table([bad])


def _parse(*argv):
    return cli.build_parser().parse_args(["crosscheck", *argv])


def test_the_table_covers_the_optimizers_the_command_line_offers():
    assert OPTIMIZERS == _catalog.OPTIMIZERS
    assert set(OPTIMIZERS) == {n for n in optim.__all__ if n[0].islower()} - {"apply_updates"}


def test_parser_defaults_and_optimizer_lists():
    args = _parse()
    assert (args.steps, args.dtype, args.optimizer, args.json) == (200, "float32", None, False)
    args = _parse("--optimizer", "sgd,adam", "--optimizer", "lion", "--dtype", "float64")
    assert [n for group in args.optimizer for n in group] == ["sgd", "adam", "lion"]
    assert args.dtype == "float64"


def test_parser_rejects_unknown_optimizer_listing_valid_ones(capsys):
    with pytest.raises(SystemExit):
        _parse("--optimizer", "adamm")
    err = capsys.readouterr().err
    assert "adamm" in err and all(name in err for name in OPTIMIZERS)
    with pytest.raises(ValueError, match="choose from"):
        crosscheck.parse_optimizers(["sgd,nope"])


def test_run_from_args_prints_and_returns_status(bowl_only, capsys):
    assert run_from_args(_parse("--optimizer", "adamax", "--steps", "5", "--json")) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {r["optimizer"] for r in payload["rows"]} == {"adamax"}
    assert run_from_args(_parse("--optimizer", "nadam", "--steps", "5", "--dtype", "float64")) == 0
    out = capsys.readouterr().out
    assert "nadam" in out and "within tolerance" in out and "float64" in out


def test_traced_hyperparameters_as_jaxgd_fit_passes_them(bowl_only, capsys):
    # Hyperparameters as arguments of the compiled program: runs may part by
    # rounding (1 ULP) where XLA simplifies optax's constants differently.
    problem = crosscheck.builtin_problems()["quadratic-bowl"]
    result = compare(optax.adam(0.05, b1=0.8), optim.adam(0.05, b1=0.8), problem, traced=True)
    assert result.first_diff_ulp is None or result.first_diff_ulp <= 2, result.summary()
    assert run_from_args(_parse("--optimizer", "adam", "--steps", "20", "--traced")) == 0
    assert "traced hyperparameters" in capsys.readouterr().out


def test_run_from_args_returns_1_when_a_row_fails(bowl_only, monkeypatch, capsys):
    strict = crosscheck.Tolerance(max_rel=None, max_ulp=-1, reason="impossible, for the test")
    monkeypatch.setitem(crosscheck.TOLERANCES, "float32", strict)
    assert run_from_args(_parse("--optimizer", "adamax", "--steps", "3")) == 1
    assert "FAIL" in capsys.readouterr().out
