"""jaxgd.schedules against optax 0.2.8's 14 schedules: values, arrays of counts, jit, vmap, errors.

Every expected value comes from optax (the oracle), never from jaxgd. The
expressions are optax's, term for term, so values are compared exactly
(``chex.assert_trees_all_equal``): eagerly at Python-int counts near every
boundary, and compiled over counts 0..300 on arrays of counts and under
``vmap``, in float32 and with ``jax_enable_x64`` (the ``x64`` fixture).
Compiled and eager values may differ by an ULP (XLA contracts ``a·b + c``),
so compiled jaxgd values are compared with compiled optax values. Where jaxgd
takes its numbers as traced arguments, values agree to rounding (rtol 1e-6).
"""

from __future__ import annotations

import inspect
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.tree_util import Partial

from jaxgd import _static, optim, schedules

OPTAX_SCHEDULES = frozenset(
    {
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
)
"""optax 0.2.8's schedules (``optax.schedules`` also exports inject_hyperparams & co.)."""

N = 301  # counts 0..300: every boundary of the table below is inside
# Boundaries used in SPECS (and the counts next to them), plus a coarse grid:
# the counts at which Python-int counts are checked one by one (slow, eager).
_BOUNDARIES = (0, 1, 5, 10, 20, 25, 30, 45, 50, 60, 75, 80, 85, 90, 100, 120, 150, 180, 200, 300)
SCALAR_STEPS = sorted(
    {t for b in _BOUNDARIES for t in (b - 1, b, b + 1) if 0 <= t < N} | set(range(0, N, 40))
)


def _cycle(init_value, peak_value, warmup_steps, decay_steps, **kwargs):
    """One cycle of sgdr_schedule: warmup_cosine_decay_schedule's arguments."""
    return dict(
        init_value=init_value,
        peak_value=peak_value,
        warmup_steps=warmup_steps,
        decay_steps=decay_steps,
        **kwargs,
    )


def _join(boundaries, *specs):
    """join_schedules' arguments, its schedules as (name, kwargs) specs built per library."""
    return ("join_schedules", {"schedules": list(specs), "boundaries": list(boundaries)})


# (name, kwargs), several settings per schedule, edge cases included; the ones
# optax accepts with a special meaning (transition_steps <= 0, decay_rate = 0,
# a negative transition_begin, colliding one-cycle boundaries, ...) too.
SPECS = [
    ("constant_schedule", {"value": 0.3}),
    ("constant_schedule", {"value": 2}),
    ("linear_schedule", {"init_value": 1.0, "end_value": 0.01, "transition_steps": 100}),
    (
        "linear_schedule",
        {"init_value": 0.1, "end_value": 0.5, "transition_steps": 40, "transition_begin": 10},
    ),
    ("linear_schedule", {"init_value": 0.1, "end_value": 0.5, "transition_steps": 0}),
    ("linear_schedule", {"init_value": 0.1, "end_value": 0.5, "transition_steps": -5}),
    (
        "linear_schedule",
        {"init_value": 0.3, "end_value": 0.0, "transition_steps": 300, "transition_begin": -20},
    ),
    (
        "polynomial_schedule",
        {"init_value": 1.0, "end_value": 0.01, "power": 2, "transition_steps": 100},
    ),
    (
        "polynomial_schedule",
        {
            "init_value": 0.5,
            "end_value": 0.0,
            "power": 0.5,
            "transition_steps": 30,
            "transition_begin": -5,
        },
    ),
    (
        "polynomial_schedule",
        {
            "init_value": 0.5,
            "end_value": 0.1,
            "power": 3,
            "transition_steps": 150,
            "transition_begin": 50,
        },
    ),
    (
        "polynomial_schedule",
        {"init_value": 1.0, "end_value": 0.0, "power": 0, "transition_steps": 50},
    ),
    ("exponential_decay", {"init_value": 0.1, "transition_steps": 10, "decay_rate": 0.9}),
    (
        "exponential_decay",
        {
            "init_value": 0.1,
            "transition_steps": 20,
            "decay_rate": 0.5,
            "transition_begin": 5,
            "staircase": True,
            "end_value": 0.01,
        },
    ),
    (
        "exponential_decay",
        {"init_value": 0.01, "transition_steps": 10, "decay_rate": 1.5, "end_value": 0.1},
    ),
    (
        "exponential_decay",
        {
            "init_value": 0.01,
            "transition_steps": 25,
            "decay_rate": 1.2,
            "transition_begin": 20,
            "staircase": True,
            "end_value": 0.02,
        },
    ),
    ("exponential_decay", {"init_value": 0.2, "transition_steps": 10, "decay_rate": 0.0}),
    ("exponential_decay", {"init_value": 0.2, "transition_steps": 0, "decay_rate": 0.5}),
    (
        "exponential_decay",
        {"init_value": 0.2, "transition_steps": 30, "decay_rate": 0.5, "transition_begin": -10},
    ),
    (
        "piecewise_constant_schedule",
        {"init_value": 0.1, "boundaries_and_scales": {30: 0.5, 10: 0.1, 80: 2.0}},
    ),
    ("piecewise_constant_schedule", {"init_value": 0.1}),
    ("piecewise_constant_schedule", {"init_value": 0.1, "boundaries_and_scales": {}}),
    (
        "piecewise_constant_schedule",
        {"init_value": 0.1, "boundaries_and_scales": {0: 0.5, 100: 0.0, 200: 3.0}},
    ),
    (
        "piecewise_interpolate_schedule",
        {
            "interpolate_type": "linear",
            "init_value": 200.0,
            "boundaries_and_scales": {5: 1.5, 10: 0.25},
        },
    ),
    (
        "piecewise_interpolate_schedule",
        {
            "interpolate_type": "cosine",
            "init_value": 0.1,
            "boundaries_and_scales": {30: 0.5, 10: 0.1, 80: 2.0},
        },
    ),
    ("piecewise_interpolate_schedule", {"interpolate_type": "linear", "init_value": 0.1}),
    (
        "piecewise_interpolate_schedule",
        {"interpolate_type": "cosine", "init_value": 0.1, "boundaries_and_scales": {}},
    ),
    (
        "piecewise_interpolate_schedule",
        {
            "interpolate_type": "linear",
            "init_value": 1.0,
            "boundaries_and_scales": {0: 2.0, 50: 0.5, 300: 0.1},
        },
    ),
    (
        "piecewise_interpolate_schedule",
        {
            "interpolate_type": "cosine",
            "init_value": 1.0,
            "boundaries_and_scales": {20: 0.0, 60: 5.0},
        },
    ),
    ("cosine_decay_schedule", {"init_value": 0.1, "decay_steps": 100}),
    (
        "cosine_decay_schedule",
        {"init_value": 0.1, "decay_steps": 50, "alpha": 0.2, "exponent": 2.0},
    ),
    ("cosine_decay_schedule", {"init_value": 1.0, "decay_steps": 1}),
    (
        "cosine_decay_schedule",
        {"init_value": 0.5, "decay_steps": 300, "alpha": 0.5, "exponent": 0.5},
    ),
    (
        "warmup_cosine_decay_schedule",
        {"init_value": 0.0, "peak_value": 0.1, "warmup_steps": 10, "decay_steps": 100},
    ),
    (
        "warmup_cosine_decay_schedule",
        {
            "init_value": 1e-3,
            "peak_value": 3e-2,
            "warmup_steps": 25,
            "decay_steps": 90,
            "end_value": 1e-4,
            "exponent": 1.5,
        },
    ),
    (
        "warmup_cosine_decay_schedule",
        {"init_value": 0.1, "peak_value": 0.0, "warmup_steps": 5, "decay_steps": 20},
    ),
    (
        "warmup_cosine_decay_schedule",
        {
            "init_value": 0.1,
            "peak_value": 1.0,
            "warmup_steps": 0,
            "decay_steps": 100,
            "end_value": 0.01,
        },
    ),
    ("warmup_constant_schedule", {"init_value": 0.0, "peak_value": 0.1, "warmup_steps": 20}),
    ("warmup_constant_schedule", {"init_value": 0.1, "peak_value": 0.5, "warmup_steps": 0}),
    ("warmup_constant_schedule", {"init_value": 0.5, "peak_value": 0.1, "warmup_steps": 300}),
    (
        "warmup_exponential_decay_schedule",
        {
            "init_value": 0.0,
            "peak_value": 0.1,
            "warmup_steps": 10,
            "transition_steps": 20,
            "decay_rate": 0.9,
        },
    ),
    (
        "warmup_exponential_decay_schedule",
        {
            "init_value": 1e-3,
            "peak_value": 0.1,
            "warmup_steps": 25,
            "transition_steps": 7,
            "decay_rate": 0.5,
            "transition_begin": 5,
            "staircase": True,
            "end_value": 0.01,
        },
    ),
    (
        "warmup_exponential_decay_schedule",
        {
            "init_value": 0.0,
            "peak_value": 0.1,
            "warmup_steps": 10,
            "transition_steps": 20,
            "decay_rate": 0.0,
        },
    ),
    (
        "warmup_exponential_decay_schedule",
        {
            "init_value": 0.0,
            "peak_value": 0.1,
            "warmup_steps": 10,
            "transition_steps": 0,
            "decay_rate": 0.5,
        },
    ),
    (
        "warmup_exponential_decay_schedule",
        {
            "init_value": 0.05,
            "peak_value": 0.1,
            "warmup_steps": 0,
            "transition_steps": 10,
            "decay_rate": 1.2,
            "end_value": 0.5,
        },
    ),
    (
        "warmup_exponential_decay_schedule",
        {
            "init_value": 0.0,
            "peak_value": 0.1,
            "warmup_steps": 50,
            "transition_steps": 10,
            "decay_rate": 0.5,
            "transition_begin": -10,
        },
    ),
    _join(
        (50, 150),
        ("constant_schedule", {"value": 0.1}),
        ("linear_schedule", {"init_value": 0.1, "end_value": 0.0, "transition_steps": 100}),
        ("cosine_decay_schedule", {"init_value": 0.05, "decay_steps": 50}),
    ),
    _join(  # unsorted boundaries: the last one passed wins
        (100, 50),
        ("constant_schedule", {"value": 0.1}),
        ("constant_schedule", {"value": 0.2}),
        ("exponential_decay", {"init_value": 0.3, "transition_steps": 10, "decay_rate": 0.5}),
    ),
    _join((), ("linear_schedule", {"init_value": 0.0, "end_value": 1.0, "transition_steps": 10})),
    _join(
        (0,),
        ("constant_schedule", {"value": 0.1}),
        (
            "warmup_cosine_decay_schedule",
            {"init_value": 0.0, "peak_value": 0.1, "warmup_steps": 20, "decay_steps": 120},
        ),
    ),
    _join(  # a boundary too many: unused, as in optax
        (20, 60), ("constant_schedule", {"value": 0.1}), ("constant_schedule", {"value": 0.2})
    ),
    _join(  # a schedule too many: unused, as in optax
        (30,),
        ("constant_schedule", {"value": 0.1}),
        ("constant_schedule", {"value": 0.2}),
        ("constant_schedule", {"value": 0.3}),
    ),
    _join(  # nested, and a piecewise-interpolated part
        (80,),
        _join(
            (30,),
            ("linear_schedule", {"init_value": 0.0, "end_value": 0.1, "transition_steps": 30}),
            ("constant_schedule", {"value": 0.1}),
        ),
        (
            "piecewise_interpolate_schedule",
            {
                "interpolate_type": "cosine",
                "init_value": 0.1,
                "boundaries_and_scales": {100: 0.1},
            },
        ),
    ),
    (
        "sgdr_schedule",
        {
            "cosine_kwargs": [
                _cycle(0.0, 0.1, 10, 100),
                _cycle(0.01, 0.05, 5, 80, end_value=1e-3),
                _cycle(0.0, 0.025, 0, 120, exponent=2.0),
            ]
        },
    ),
    ("sgdr_schedule", {"cosine_kwargs": [_cycle(0.0, 0.1, 20, 200, end_value=0.01)]}),
    ("sgdr_schedule", {"cosine_kwargs": [_cycle(0.1, 0.1, 0, 30)] * 4}),
    ("linear_onecycle_schedule", {"transition_steps": 100, "peak_value": 1.0}),
    (
        "linear_onecycle_schedule",
        {
            "transition_steps": 250,
            "peak_value": 0.1,
            "pct_start": 0.2,
            "pct_final": 0.6,
            "div_factor": 10.0,
            "final_div_factor": 100.0,
        },
    ),
    ("linear_onecycle_schedule", {"transition_steps": 1, "peak_value": 1.0}),  # boundaries meet
    (
        "linear_onecycle_schedule",
        {"transition_steps": 300, "peak_value": 3e-3, "pct_start": 0.5, "pct_final": 0.5},
    ),
    (
        "linear_onecycle_schedule",
        {
            "transition_steps": 10,
            "peak_value": 1000,
            "pct_start": 0.3,
            "pct_final": 0.7,
            "div_factor": 10.0,
            "final_div_factor": 100.0,
        },
    ),
    (
        "linear_onecycle_schedule",
        {"transition_steps": 50, "peak_value": 0.1, "pct_start": 0.9, "pct_final": 0.2},
    ),
    ("cosine_onecycle_schedule", {"transition_steps": 200, "peak_value": 1.0}),
    ("cosine_onecycle_schedule", {"transition_steps": 100, "peak_value": 0.1, "pct_start": 0.0}),
    (
        "cosine_onecycle_schedule",
        {
            "transition_steps": 90,
            "peak_value": 0.1,
            "pct_start": 1.0,
            "div_factor": 10.0,
            "final_div_factor": 10.0,
        },
    ),
    ("cosine_onecycle_schedule", {"transition_steps": 1, "peak_value": 1.0}),
    (
        "cosine_onecycle_schedule",
        {
            "transition_steps": 300,
            "peak_value": 5e-2,
            "pct_start": 0.25,
            "div_factor": 5.0,
            "final_div_factor": 100.0,
        },
    ),
]
SPEC_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SPECS)]


def _build(module, name, kwargs):
    """``name(**kwargs)`` from ``module``; join_schedules' parts are built there too."""
    if name == "join_schedules":
        kwargs = {**kwargs, "schedules": [_build(module, *spec) for spec in kwargs["schedules"]]}
    return getattr(module, name)(**kwargs)


def _pair(name, kwargs):
    """``(jaxgd's schedule, optax's schedule)``."""
    return _build(schedules, name, kwargs), _build(optax.schedules, name, kwargs)


# ----------------------------------------------------------------------------- coverage


def test_every_optax_schedule_is_here_with_optax_signature():
    in_optax = {name for name in dir(optax.schedules) if name in OPTAX_SCHEDULES}
    assert in_optax == OPTAX_SCHEDULES  # the list above is optax 0.2.8's
    assert in_optax <= set(dir(schedules))
    assert in_optax <= set(schedules.__all__)
    assert {name for name, _ in SPECS} == OPTAX_SCHEDULES  # the table covers each
    for name in sorted(in_optax):
        ours = inspect.signature(getattr(schedules, name)).parameters.values()
        theirs = inspect.signature(getattr(optax.schedules, name)).parameters.values()
        assert [(p.name, p.kind, p.default) for p in ours] == [
            (p.name, p.kind, p.default) for p in theirs
        ], name


# ----------------------------------------------------------------------------- values


@pytest.mark.parametrize(("name", "kwargs"), SPECS, ids=SPEC_IDS)
def test_values_equal_optax_at_python_int_counts(name, kwargs):
    ours, theirs = _pair(name, kwargs)
    assert isinstance(ours, Partial)
    # In JAX's default dtype: optax returns some values as Python floats (e.g.
    # init_value for decay_rate=0), jaxgd as arrays; they meet as the same array.
    ours_values = [jnp.asarray(ours(t)) for t in SCALAR_STEPS]
    their_values = [jnp.asarray(theirs(t)) for t in SCALAR_STEPS]
    chex.assert_trees_all_equal(ours_values, their_values)


def _check_table_on_arrays_vmap_and_jit():
    """Every SPECS row, compiled: jaxgd on an array of counts and under vmap vs optax under vmap."""
    pairs = [_pair(name, kwargs) for name, kwargs in SPECS]
    steps = jnp.arange(N)  # int32; int64 with x64

    def table(steps):
        # optax's piecewise_interpolate_schedule takes one count at a time (its
        # values on all counts come from vmap); jaxgd's schedules take the array too.
        return [
            (
                jnp.broadcast_to(ours(steps), steps.shape),
                jax.vmap(ours)(steps),
                jax.vmap(theirs)(steps),
            )
            for ours, theirs in pairs
        ]

    # Every schedule, both sides, in one compiled program (one compile for the whole table).
    for spec_id, (on_array, ours, theirs) in zip(SPEC_IDS, jax.jit(table)(steps), strict=True):
        assert theirs.dtype in (jnp.asarray(0.0).dtype, jnp.asarray(0).dtype), spec_id
        # strict: the same dtypes and shapes too. NaN equals NaN: compiled, XLA turns
        # count/T into count·(1/T), so optax's own 1 - count/T can end just below 0,
        # and a power 0.5 of it is NaN; jaxgd's expression is the same.
        chex.assert_trees_all_equal(on_array, theirs, strict=True, custom_message=spec_id)
        chex.assert_trees_all_equal(ours, theirs, strict=True, custom_message=spec_id)


def test_values_equal_optax_on_arrays_under_vmap_and_jit():
    _check_table_on_arrays_vmap_and_jit()


def test_values_equal_optax_on_arrays_under_vmap_and_jit_float64(x64):
    assert jnp.asarray(0.0).dtype == jnp.float64
    _check_table_on_arrays_vmap_and_jit()


def test_inverse_time_schedule_is_gerons():
    t0, t1 = 5.0, 50.0
    schedule = schedules.inverse_time_schedule(t0, t1)
    steps = np.arange(1000)
    chex.assert_trees_all_close(schedule(jnp.asarray(steps)), t0 / (steps + t1), rtol=1e-6)
    assert float(schedule(0)) == pytest.approx(0.1)
    assert jax.tree.leaves(schedule) == [5.0, 50.0]
    assert float(schedules.inverse_time_schedule(0.0, 50.0)(10)) == 0.0  # t0 = 0 is allowed


# ----------------------------------------------------------------------------- optimizers

# One setting per schedule whose changes happen within the first updates.
SGD_SPECS = {
    "constant_schedule": {"value": 0.1},
    "linear_schedule": {"init_value": 0.1, "end_value": 0.01, "transition_steps": 8},
    "polynomial_schedule": {
        "init_value": 0.1,
        "end_value": 0.0,
        "power": 2,
        "transition_steps": 8,
        "transition_begin": 2,
    },
    "exponential_decay": {
        "init_value": 0.1,
        "transition_steps": 3,
        "decay_rate": 0.5,
        "transition_begin": 2,
        "staircase": True,
        "end_value": 0.02,
    },
    "piecewise_constant_schedule": {"init_value": 0.1, "boundaries_and_scales": {3: 0.5, 7: 0.1}},
    "piecewise_interpolate_schedule": {
        "interpolate_type": "cosine",
        "init_value": 0.1,
        "boundaries_and_scales": {4: 0.5, 9: 0.2},
    },
    "cosine_decay_schedule": {"init_value": 0.1, "decay_steps": 8, "alpha": 0.1},
    "warmup_cosine_decay_schedule": {
        "init_value": 0.0,
        "peak_value": 0.1,
        "warmup_steps": 3,
        "decay_steps": 10,
        "end_value": 0.01,
    },
    "warmup_constant_schedule": {"init_value": 0.0, "peak_value": 0.1, "warmup_steps": 5},
    "warmup_exponential_decay_schedule": {
        "init_value": 0.0,
        "peak_value": 0.1,
        "warmup_steps": 3,
        "transition_steps": 2,
        "decay_rate": 0.5,
        "end_value": 0.02,
    },
    "join_schedules": _join(
        (4,),
        ("constant_schedule", {"value": 0.1}),
        ("linear_schedule", {"init_value": 0.1, "end_value": 0.0, "transition_steps": 6}),
    )[1],
    "sgdr_schedule": {"cosine_kwargs": [_cycle(0.0, 0.1, 2, 5), _cycle(0.0, 0.05, 1, 5)]},
    "linear_onecycle_schedule": {"transition_steps": 10, "peak_value": 0.1},
    "cosine_onecycle_schedule": {
        "transition_steps": 10,
        "peak_value": 0.1,
        "div_factor": 10.0,
        "final_div_factor": 100.0,
    },
}


def test_sgd_specs_cover_every_schedule():
    assert set(SGD_SPECS) == OPTAX_SCHEDULES


@pytest.mark.parametrize("name", sorted(SGD_SPECS))
def test_schedule_drives_sgd_like_optax(name):
    ours_schedule, their_schedule = _pair(name, SGD_SPECS[name])
    params = {"w": jnp.array([1.0, -2.0]), "b": jnp.array(0.5)}
    ours = optim.sgd(ours_schedule, momentum=0.9)
    theirs = optax.sgd(their_schedule, momentum=0.9)
    s, t = ours.init(params), theirs.init(params)
    p = q = params
    for i in range(12):
        grads = jax.tree.map(lambda x, i=i: x * (1.0 + 0.1 * i), p)
        u, s = ours.update(grads, s, p)
        v, t = theirs.update(jax.tree.map(lambda x, i=i: x * (1.0 + 0.1 * i), q), t, q)
        chex.assert_trees_all_equal(u, v, custom_message=f"{name}, update {i}")
        p, q = optax.apply_updates(p, u), optax.apply_updates(q, v)
    chex.assert_trees_all_equal(p, q)


# ----------------------------------------------------------------------------- pytrees


def test_schedules_are_pytrees_of_their_numbers():
    schedule = schedules.warmup_cosine_decay_schedule(0.0, 0.1, 10, 100, end_value=0.01)
    assert 0.1 in jax.tree.leaves(schedule) and 0.01 / 0.1 in jax.tree.leaves(schedule)
    onecycle = schedules.linear_onecycle_schedule(100, 0.5, div_factor=20.0)
    leaves = jax.tree.leaves(onecycle)
    assert 0.5 / 20.0 in leaves and 20.0 in leaves and 1.0 / 20.0 in leaves  # built in Python
    assert 30 in leaves and 85 in leaves and 100 in leaves  # boundaries: ints, static


# Two settings of each new schedule that differ in float leaves only: the same
# compiled program serves both (as in jaxgd.fit), and each equals optax's.
RETRACE_SPECS = {
    "join_schedules": [
        _join(
            (10,),
            ("constant_schedule", {"value": v}),
            ("linear_schedule", {"init_value": v, "end_value": 0.0, "transition_steps": 20}),
        )[1]
        for v in (0.1, 0.2)
    ],
    "sgdr_schedule": [
        {"cosine_kwargs": [_cycle(0.0, p, 5, 30), _cycle(0.0, p / 2, 5, 40, end_value=1e-3)]}
        for p in (0.1, 0.3)
    ],
    "piecewise_interpolate_schedule": [
        {"interpolate_type": "linear", "init_value": v, "boundaries_and_scales": {10: f, 30: 0.1}}
        for v, f in ((0.1, 0.5), (0.2, 0.7))
    ],
    "linear_onecycle_schedule": [{"transition_steps": 40, "peak_value": p} for p in (0.1, 0.4)],
    "cosine_onecycle_schedule": [
        {"transition_steps": 40, "peak_value": 0.1, "div_factor": d} for d in (25.0, 10.0)
    ],
    "warmup_constant_schedule": [
        {"init_value": 0.0, "peak_value": p, "warmup_steps": 20} for p in (0.1, 0.2)
    ],
    "warmup_exponential_decay_schedule": [
        {
            "init_value": 0.0,
            "peak_value": 0.1,
            "warmup_steps": 10,
            "transition_steps": 10,
            "decay_rate": r,
        }
        for r in (0.5, 0.8)
    ],
}


@pytest.mark.parametrize("name", sorted(RETRACE_SPECS))
def test_new_settings_reuse_the_compiled_program(name):
    traces = 0

    def values(numbers, static, t):
        nonlocal traces
        traces += 1
        return _static.merge(numbers, static)(t)

    values = jax.jit(values, static_argnums=1)
    steps = jnp.arange(0, 60, 3)
    statics = set()
    for kwargs in RETRACE_SPECS[name]:
        ours, theirs = _pair(name, kwargs)
        numbers, static = _static.split(ours)
        assert any(isinstance(n, float) for n in numbers)
        statics.add(static)
        expected = jax.jit(jax.vmap(theirs))(steps)
        # Traced float32 leaves against optax's Python constants: rounding only (XLA
        # reassociates differently, e.g. a value of 0 may come out as -1.5e-9).
        chex.assert_trees_all_close(values(numbers, static, steps), expected, rtol=1e-6, atol=1e-8)
    assert len(statics) == 1 and traces == 1


# Schedules built from traced numbers (inside vmap, as jaxgd.sweep does).
TRACED_BUILDS = {
    "linear_onecycle_schedule": lambda m, v: m.linear_onecycle_schedule(40, v, div_factor=10.0),
    "cosine_onecycle_schedule": lambda m, v: m.cosine_onecycle_schedule(
        40, 0.1, div_factor=v * 100
    ),
    "warmup_constant_schedule": lambda m, v: m.warmup_constant_schedule(0.0, v, 20),
    "warmup_exponential_decay_schedule": lambda m, v: m.warmup_exponential_decay_schedule(
        0.0, 0.1, 10, 10, decay_rate=v * 4, end_value=0.02
    ),
    "piecewise_interpolate_schedule": lambda m, v: m.piecewise_interpolate_schedule(
        "cosine", 0.1, {10: v * 5, 40: 0.5}
    ),
    "sgdr_schedule": lambda m, v: m.sgdr_schedule(
        [_cycle(0.0, v, 5, 20, end_value=0.01), _cycle(0.0, v, 5, 20)]
    ),
    "join_schedules": lambda m, v: m.join_schedules(
        [m.constant_schedule(v), m.cosine_decay_schedule(v, 20)], [15]
    ),
}


@pytest.mark.parametrize("name", sorted(TRACED_BUILDS))
def test_built_from_traced_numbers_under_vmap(name):
    build = TRACED_BUILDS[name]
    numbers = jnp.array([0.1, 0.15, 0.2])
    steps = jnp.arange(0, 60, 3)
    values = jax.jit(jax.vmap(lambda v: jax.vmap(build(schedules, v))(steps)))(numbers)
    expected = [jax.jit(jax.vmap(build(optax.schedules, float(v))))(steps) for v in numbers]
    # Derived values (P/d, E/P) are float32 from traced numbers, Python doubles in optax.
    chex.assert_trees_all_close(list(values), expected, rtol=1e-6, atol=1e-8)


def test_exponential_decay_rate_traced_under_vmap():
    rates = [0.0, 0.5, 0.95, 2.0]  # 0: constant; < 1: end_value bounds below; > 1: above
    values = jax.vmap(lambda r: schedules.exponential_decay(1.0, 10, r, end_value=0.8)(20))(
        jnp.array(rates)
    )
    expected = [optax.exponential_decay(1.0, 10, r, end_value=0.8)(20) for r in rates]
    chex.assert_trees_all_close(values, jnp.array(expected), rtol=1e-6)


# ----------------------------------------------------------------------------- bad input

# A valid call of each schedule (and inverse_time_schedule); each of its number
# arguments in turn is replaced by a string below.
VALID_CALLS = {
    "constant_schedule": {"value": 0.1},
    "linear_schedule": {
        "init_value": 0.1,
        "end_value": 0.0,
        "transition_steps": 10,
        "transition_begin": 2,
    },
    "polynomial_schedule": {
        "init_value": 0.1,
        "end_value": 0.0,
        "power": 2,
        "transition_steps": 10,
        "transition_begin": 2,
    },
    "exponential_decay": {
        "init_value": 0.1,
        "transition_steps": 10,
        "decay_rate": 0.5,
        "transition_begin": 2,
        "end_value": 0.01,
    },
    "piecewise_constant_schedule": {"init_value": 0.1, "boundaries_and_scales": {10: 0.5}},
    "piecewise_interpolate_schedule": {
        "interpolate_type": "linear",
        "init_value": 0.1,
        "boundaries_and_scales": {10: 0.5},
    },
    "cosine_decay_schedule": {"init_value": 0.1, "decay_steps": 10, "alpha": 0.1, "exponent": 2},
    "warmup_cosine_decay_schedule": _cycle(0.0, 0.1, 5, 20, end_value=0.01, exponent=2.0),
    "warmup_constant_schedule": {"init_value": 0.0, "peak_value": 0.1, "warmup_steps": 5},
    "warmup_exponential_decay_schedule": {
        "init_value": 0.0,
        "peak_value": 0.1,
        "warmup_steps": 5,
        "transition_steps": 10,
        "decay_rate": 0.5,
        "transition_begin": 2,
        "end_value": 0.01,
    },
    "linear_onecycle_schedule": {
        "transition_steps": 100,
        "peak_value": 0.1,
        "pct_start": 0.3,
        "pct_final": 0.8,
        "div_factor": 10.0,
        "final_div_factor": 100.0,
    },
    "cosine_onecycle_schedule": {
        "transition_steps": 100,
        "peak_value": 0.1,
        "pct_start": 0.3,
        "div_factor": 10.0,
        "final_div_factor": 100.0,
    },
    "inverse_time_schedule": {"t0": 5.0, "t1": 50.0},
}
NOT_NUMBERS = [
    (name, argument)
    for name, kwargs in VALID_CALLS.items()
    for argument, value in kwargs.items()
    if isinstance(value, (int, float))
]


@pytest.mark.parametrize(("name", "argument"), NOT_NUMBERS, ids=["/".join(c) for c in NOT_NUMBERS])
def test_a_string_for_a_number_is_a_type_error_naming_it(name, argument):
    getattr(schedules, name)(**VALID_CALLS[name])  # the valid call is fine
    kwargs = {**VALID_CALLS[name], argument: "0.1"}
    with pytest.raises(TypeError, match=rf"^{argument}='0.1' is a str, not a number"):
        getattr(schedules, name)(**kwargs)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("piecewise_constant_schedule", {"init_value": 0.1, "boundaries_and_scales": [(10, 0.5)]},
         "boundaries_and_scales=.*pass a dict"),
        ("piecewise_constant_schedule", {"init_value": 0.1, "boundaries_and_scales": {"10": 0.5}},
         "boundaries_and_scales has the key '10'"),
        ("piecewise_constant_schedule", {"init_value": 0.1, "boundaries_and_scales": {10: "0.5"}},
         r"boundaries_and_scales\[10\]='0.5' is a str"),
        ("piecewise_interpolate_schedule",
         {"interpolate_type": "cosine", "init_value": 0.1, "boundaries_and_scales": {10: None}},
         r"boundaries_and_scales\[10\]=None"),
        ("exponential_decay", {"init_value": 0.1, "transition_steps": 10, "decay_rate": 0.5,
                               "staircase": "yes"}, "staircase='yes'"),
        ("warmup_exponential_decay_schedule",
         {**VALID_CALLS["warmup_exponential_decay_schedule"], "staircase": None}, "staircase=None"),
        ("constant_schedule", {"value": [0.1, 0.2]}, r"value=\[0.1, 0.2\] is a list"),
        ("join_schedules", {"schedules": [optax.constant_schedule(0.1), "0.1"],
                            "boundaries": [5]}, r"schedules\[1\]='0.1' is not a schedule"),
        ("join_schedules", {"schedules": [optax.constant_schedule(0.1)] * 2,
                            "boundaries": ["5"]}, r"boundaries\[0\]='5' is a str"),
        ("join_schedules", {"schedules": optax.constant_schedule(0.1), "boundaries": []},
         "schedules=.*must be a list"),
        ("join_schedules", {"schedules": [optax.constant_schedule(0.1)] * 2, "boundaries": 5},
         "boundaries=5 must be a list"),
        ("sgdr_schedule", {"cosine_kwargs": _cycle(0.0, 0.1, 5, 20)},
         "cosine_kwargs=.*must be a list of dicts"),
        ("sgdr_schedule", {"cosine_kwargs": [(0.0, 0.1, 5, 20)]}, r"cosine_kwargs\[0\]=.*tuple"),
        ("sgdr_schedule", {"cosine_kwargs": [_cycle(0.0, 0.1, 5, 20), _cycle(0.0, "0.1", 5, 20)]},
         r"cosine_kwargs\[1\]: peak_value='0.1' is a str"),
        ("sgdr_schedule", {"cosine_kwargs": [{"init_value": 0.0, "peak_value": 0.1}]},
         r"cosine_kwargs\[0\]: .*warmup_steps"),
    ],
)  # fmt: skip
def test_other_non_numbers_are_type_errors_naming_the_argument(name, kwargs, message):
    with pytest.raises(TypeError, match=message):
        getattr(schedules, name)(**kwargs)


def _optax_refuses(name, kwargs):
    """Whether optax raises, building the schedule or at its first call."""
    try:
        _build(optax.schedules, name, kwargs)(0)
    except Exception:  # any refusal: ValueError, ZeroDivisionError, IndexError, ...
        return True
    return False


# Values refused with ValueError; the flag says whether optax refuses them too
# (inverse_time_schedule is jaxgd's own).
REFUSED = [
    ("inverse_time_schedule", {"t0": -5, "t1": 50}, r"t0=-5 must be >= 0.*pass t0 >= 0", None),
    ("inverse_time_schedule", {"t0": math.nan, "t1": 50}, r"t0=nan .*pass t0 >= 0", None),
    ("inverse_time_schedule", {"t0": 5, "t1": 0}, r"t1=0 must be > 0", None),
    ("inverse_time_schedule", {"t0": 5.0, "t1": -50.0}, r"t1=-50.0 must be > 0", None),
    ("cosine_decay_schedule", {"init_value": 0.1, "decay_steps": 0}, "decay_steps=0", True),
    (
        "piecewise_constant_schedule",
        {"init_value": 0.1, "boundaries_and_scales": {10: math.nan}},
        r"boundaries_and_scales\[10\]=nan must be >= 0",
        True,
    ),
    (
        "warmup_cosine_decay_schedule",
        _cycle(0.0, 0.1, 10, 10),
        "decay_steps=10 must be greater than warmup_steps=10",
        True,
    ),
    (
        "piecewise_constant_schedule",
        {"init_value": 0.1, "boundaries_and_scales": {10: -0.5}},
        r"boundaries_and_scales\[10\]=-0.5 must be >= 0",
        True,
    ),
    (
        "piecewise_interpolate_schedule",
        {"interpolate_type": "linear", "init_value": 0.1, "boundaries_and_scales": {10: -0.5}},
        r"boundaries_and_scales\[10\]=-0.5 must be >= 0",
        True,
    ),
    (
        "piecewise_interpolate_schedule",
        {"interpolate_type": "quadratic", "init_value": 0.1},
        "interpolate_type='quadratic' must be 'linear' or 'cosine'",
        True,
    ),
    (
        "linear_onecycle_schedule",
        {"transition_steps": 0, "peak_value": 0.1},
        "transition_steps=0 must be positive",
        True,
    ),
    (
        "linear_onecycle_schedule",
        {"transition_steps": 100, "peak_value": 0.1, "div_factor": 0.0},
        "div_factor=0.0 must be > 0",
        True,
    ),
    (
        "linear_onecycle_schedule",
        {"transition_steps": 100, "peak_value": 0.1, "div_factor": -2.0},
        "div_factor=-2.0 must be > 0",
        True,
    ),
    (
        "cosine_onecycle_schedule",
        {"transition_steps": -10, "peak_value": 0.1},
        "transition_steps=-10 must be positive",
        True,
    ),
    (
        "cosine_onecycle_schedule",
        {"transition_steps": 100, "peak_value": 0.1, "final_div_factor": 0.0},
        "final_div_factor=0.0 must be > 0",
        True,
    ),
    (
        "cosine_onecycle_schedule",
        {"transition_steps": 100, "peak_value": 0.1, "final_div_factor": -1.0},
        "final_div_factor=-1.0 must be > 0",
        True,
    ),
    ("join_schedules", {"schedules": [], "boundaries": []}, "schedules is empty", True),
    ("sgdr_schedule", {"cosine_kwargs": []}, "cosine_kwargs is empty", True),
    (
        "sgdr_schedule",
        {"cosine_kwargs": [_cycle(0.0, 0.1, 5, 20), _cycle(0.0, 0.1, 30, 20)]},
        r"cosine_kwargs\[1\]: decay_steps=20 must be greater than warmup_steps=30",
        True,
    ),
]


@pytest.mark.parametrize(
    ("name", "kwargs", "message", "optax_refuses"),
    REFUSED,
    ids=[f"{name}-{i}" for i, (name, *_) in enumerate(REFUSED)],
)
def test_refused_values_are_value_errors_naming_the_argument(name, kwargs, message, optax_refuses):
    with pytest.raises(ValueError, match=message):
        _build(schedules, name, kwargs)
    if optax_refuses is not None:
        assert _optax_refuses(name, kwargs) == optax_refuses


def test_checks_read_every_entry_of_an_array():
    # jaxgd.sweep checks a factory with one entry per lane in each hyperparameter.
    lanes = np.array([0.1, 0.2])
    schedules.linear_onecycle_schedule(100, lanes, div_factor=np.array([10.0, 20.0]))
    schedules.piecewise_interpolate_schedule("linear", lanes, {10: np.array([0.5, 0.0])})
    schedules.warmup_cosine_decay_schedule(0.0, lanes, 10, 100, end_value=0.01)
    schedules.inverse_time_schedule(np.array([5.0, 0.0]), np.array([50.0, 1.0]))
    with pytest.raises(ValueError, match=r"t0=\[ 5. -5.\] must be >= 0"):
        schedules.inverse_time_schedule(np.array([5.0, -5.0]), 50.0)
    with pytest.raises(ValueError, match=r"div_factor=\[10.  0.\] must be > 0"):
        schedules.cosine_onecycle_schedule(100, lanes, div_factor=np.array([10.0, 0.0]))
    with pytest.raises(ValueError, match=r"boundaries_and_scales\[10\]=\[ 0.5 -0.1\]"):
        schedules.piecewise_constant_schedule(lanes, {10: np.array([0.5, -0.1])})


# Values optax accepts with a meaning of its own: jaxgd accepts them with the same meaning.
ACCEPTED = [
    ("linear_schedule", {"init_value": 0.1, "end_value": 0.5, "transition_steps": 0}),
    ("linear_schedule", {"init_value": 0.1, "end_value": 0.5, "transition_steps": -5}),
    ("polynomial_schedule", {"init_value": 0.1, "end_value": 0.5, "power": 1,
                             "transition_steps": -1}),
    ("exponential_decay", {"init_value": 0.2, "transition_steps": 0, "decay_rate": 0.5}),
    ("exponential_decay", {"init_value": 0.2, "transition_steps": 10, "decay_rate": 0.0}),
    ("exponential_decay", {"init_value": 0.2, "transition_steps": 10, "decay_rate": 0.5,
                           "transition_begin": -3}),
    ("warmup_constant_schedule", {"init_value": 0.1, "peak_value": 0.5, "warmup_steps": -2}),
    ("warmup_exponential_decay_schedule", {"init_value": 0.1, "peak_value": 0.5, "warmup_steps": 0,
                                           "transition_steps": 0, "decay_rate": 0.0}),
    ("piecewise_constant_schedule", {"init_value": 0.1, "boundaries_and_scales": {5: 0.0}}),
    ("piecewise_interpolate_schedule", {"interpolate_type": "cosine", "init_value": -0.1,
                                        "boundaries_and_scales": {5: 0.0, 10: 0.0}}),
    ("linear_onecycle_schedule", {"transition_steps": 1, "peak_value": -0.1, "pct_start": 0.9,
                                  "pct_final": 0.1}),
    ("cosine_onecycle_schedule", {"transition_steps": 20, "peak_value": 0.1, "pct_start": 2.0}),
    _join((5, 10, 15), ("constant_schedule", {"value": 0.1}),
          ("constant_schedule", {"value": 0.2})),
    _join((), ("constant_schedule", {"value": 0.1}), ("constant_schedule", {"value": 0.2})),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "kwargs"), ACCEPTED, ids=[f"{name}-{i}" for i, (name, _) in enumerate(ACCEPTED)]
)
def test_values_optax_accepts_are_accepted(name, kwargs):
    ours, theirs = _pair(name, kwargs)
    steps = [0, 1, 2, 5, 9, 10, 11, 15, 20, 30]
    chex.assert_trees_all_equal(
        [jnp.asarray(ours(t)) for t in steps], [jnp.asarray(theirs(t)) for t in steps]
    )
