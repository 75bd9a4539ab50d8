"""jaxgd.schedules against optax 0.2.8's schedules: values, arrays of steps, jit, pytrees.

The expressions are optax's, term for term, so values are compared exactly
(``assert_array_equal``) for Python-int counts, int32 arrays and under jit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.tree_util import Partial

from jaxgd import optim, schedules

N = 120

SPECS = [
    ("constant_schedule", {"value": 0.3}),
    ("linear_schedule", {"init_value": 1.0, "end_value": 0.01, "transition_steps": 100}),
    (
        "linear_schedule",
        {"init_value": 0.1, "end_value": 0.5, "transition_steps": 40, "transition_begin": 10},
    ),
    ("linear_schedule", {"init_value": 0.1, "end_value": 0.5, "transition_steps": 0}),
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
    ("exponential_decay", {"init_value": 0.1, "transition_steps": 10, "decay_rate": 0.9}),
    (
        "exponential_decay",
        {
            "init_value": 0.1,
            "transition_steps": 7,
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
    ("exponential_decay", {"init_value": 0.2, "transition_steps": 10, "decay_rate": 0.0}),
    ("exponential_decay", {"init_value": 0.2, "transition_steps": 0, "decay_rate": 0.5}),
    (
        "piecewise_constant_schedule",
        {"init_value": 0.1, "boundaries_and_scales": {30: 0.5, 10: 0.1, 80: 2.0}},
    ),
    ("piecewise_constant_schedule", {"init_value": 0.1}),
    ("cosine_decay_schedule", {"init_value": 0.1, "decay_steps": 100}),
    (
        "cosine_decay_schedule",
        {"init_value": 0.1, "decay_steps": 50, "alpha": 0.2, "exponent": 2.0},
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
]
SPEC_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(SPECS)]


def _pair(name, kwargs):
    return getattr(schedules, name)(**kwargs), getattr(optax.schedules, name)(**kwargs)


@pytest.mark.parametrize(("name", "kwargs"), SPECS, ids=SPEC_IDS)
def test_values_equal_optax_for_each_step(name, kwargs):
    ours, theirs = _pair(name, kwargs)
    assert isinstance(ours, Partial)
    # In JAX's default dtype: optax returns some values as Python floats (e.g.
    # init_value for decay_rate=0), jaxgd as arrays; they meet as the same float32.
    ours_values = np.array([np.asarray(jnp.asarray(ours(t))) for t in range(N)])
    their_values = np.array([np.asarray(jnp.asarray(theirs(t))) for t in range(N)])
    np.testing.assert_array_equal(ours_values, their_values)


def test_values_equal_optax_on_arrays_and_under_jit():
    pairs = [_pair(name, kwargs) for name, kwargs in SPECS]
    steps = jnp.arange(N, dtype=jnp.int32)

    def values(t):
        return [(jnp.asarray(ours(t)), jnp.asarray(theirs(t))) for ours, theirs in pairs]

    # Arrays of steps, eagerly; then every schedule, both sides, in one compiled
    # program evaluated elementwise by vmap (one compile for the whole table).
    # (Compiled and eager values may differ by an ULP: XLA contracts a·b + c.)
    jitted = jax.jit(jax.vmap(values))(steps)
    for spec_id, (ours, theirs), (jit_ours, jit_theirs) in zip(
        SPEC_IDS, values(steps), jitted, strict=True
    ):
        np.testing.assert_array_equal(
            jnp.broadcast_to(ours, steps.shape), jnp.broadcast_to(theirs, steps.shape), spec_id
        )
        np.testing.assert_array_equal(jit_ours, jit_theirs, spec_id)


@pytest.mark.parametrize(
    ("name", "kwargs"), [s for s in SPECS if s[0] != "constant_schedule"][::3], ids=str
)
def test_values_equal_optax_in_float64(name, kwargs, x64):
    ours, theirs = _pair(name, kwargs)
    steps = jnp.arange(N)
    np.testing.assert_array_equal(
        jnp.broadcast_to(ours(steps), steps.shape), jnp.broadcast_to(theirs(steps), steps.shape)
    )


def test_inverse_time_schedule_is_gerons():
    t0, t1 = 5.0, 50.0
    schedule = schedules.inverse_time_schedule(t0, t1)
    steps = np.arange(1000)
    np.testing.assert_allclose(schedule(jnp.asarray(steps)), t0 / (steps + t1), rtol=1e-6)
    assert float(schedule(0)) == pytest.approx(0.1)
    assert jax.tree.leaves(schedule) == [5.0, 50.0]


def test_schedules_are_pytrees_of_their_numbers():
    schedule = schedules.warmup_cosine_decay_schedule(0.0, 0.1, 10, 100, end_value=0.01)
    assert 0.1 in jax.tree.leaves(schedule) and 0.01 / 0.1 in jax.tree.leaves(schedule)
    # As jaxgd.fit does: float leaves are arguments, ints static. A schedule
    # with another peak has the same structure and reuses the compiled program.
    traces = 0

    def split(schedule):
        leaves, treedef = jax.tree.flatten(schedule)
        numbers = [leaf if isinstance(leaf, float) else None for leaf in leaves]
        static = tuple(None if isinstance(leaf, float) else leaf for leaf in leaves)
        return numbers, (treedef, static)

    def value(numbers, t, static):
        nonlocal traces
        traces += 1
        treedef, fixed = static
        leaves = [n if f is None else f for n, f in zip(numbers, fixed, strict=True)]
        return treedef.unflatten(leaves)(t)

    value = jax.jit(value, static_argnums=2)
    for peak in (0.1, 0.2, 0.3):
        numbers, static = split(schedules.warmup_cosine_decay_schedule(0.0, peak, 10, 100, 0.01))
        expected = optax.warmup_cosine_decay_schedule(0.0, peak, 10, 100, end_value=0.01)(50)
        np.testing.assert_allclose(value(numbers, 50, static), expected, rtol=1e-6)
    assert traces == 1


def test_traced_arguments_under_vmap():
    peaks = jnp.array([0.1, 0.2, 0.4])
    values = jax.vmap(
        lambda peak: schedules.warmup_cosine_decay_schedule(0.0, peak, 10, 100, 0.01)(60)
    )(peaks)
    expected = [optax.warmup_cosine_decay_schedule(0.0, float(p), 10, 100, 0.01)(60) for p in peaks]
    # alpha = end/peak is computed in float32 when peak is traced, in Python otherwise.
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    rates = [0.0, 0.5, 0.95, 2.0]  # 0: constant; < 1: end_value bounds below; > 1: above
    values = jax.vmap(lambda r: schedules.exponential_decay(1.0, 10, r, end_value=0.8)(20))(
        jnp.array(rates)
    )
    expected = [optax.exponential_decay(1.0, 10, r, end_value=0.8)(20) for r in rates]
    np.testing.assert_allclose(values, expected, rtol=1e-6)


def test_schedule_drives_an_optimizer_like_optax():
    params = jnp.array([1.0, -2.0])
    ours = optim.sgd(schedules.exponential_decay(0.1, 5, 0.5), momentum=0.9)
    theirs = optax.sgd(optax.exponential_decay(0.1, 5, 0.5), momentum=0.9)
    s, t = ours.init(params), theirs.init(params)
    for _ in range(12):
        u, s = ours.update(params, s)
        v, t = theirs.update(params, t)
        np.testing.assert_array_equal(u, v)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.cosine_decay_schedule(0.1, 0)
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.warmup_cosine_decay_schedule(0.0, 0.1, warmup_steps=10, decay_steps=10)
    with pytest.raises(ValueError, match=r"boundaries_and_scales\[10\]"):
        schedules.piecewise_constant_schedule(0.1, {10: -0.5})
    with pytest.raises(ValueError, match="t1"):
        schedules.inverse_time_schedule(5.0, 0.0)
