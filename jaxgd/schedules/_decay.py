"""Decays: exponential, cosine and inverse-time (Géron's ``t0 / (t + t1)``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from jaxgd._types import Array, ArrayLike
from jaxgd.schedules._common import check_decay_options, check_numbers, fails
from jaxgd.schedules._polynomial import constant_schedule


def _exponential_decay(
    init_value: ArrayLike,
    transition_steps: int,
    decay_rate: ArrayLike,
    transition_begin: int,
    staircase: bool,
    end_value: ArrayLike | None,
    count: ArrayLike,
) -> Array:
    decreased_count = count - transition_begin
    p = decreased_count / transition_steps
    if staircase:
        p = jnp.floor(p)
    decayed_value = jnp.where(
        decreased_count <= 0, init_value, init_value * jnp.power(decay_rate, p)
    )
    if end_value is not None:
        # A lower bound when decaying (rate < 1), an upper bound when growing.
        decayed_value = jnp.where(
            decay_rate < 1.0,
            jnp.maximum(decayed_value, end_value),
            jnp.minimum(decayed_value, end_value),
        )
    # optax returns the constant init_value when decay_rate == 0.
    return jnp.where(decay_rate == 0, init_value, decayed_value)


def exponential_decay(
    init_value: ArrayLike,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: ArrayLike | None = None,
) -> Partial:
    """Exponential decay ``I · r^((t - B)/T)``, optionally in steps and bounded by ``end_value``.

    ::

        s(t) = I                              t ≤ B
        s(t) = I · r^((t - B)/T)              t > B   (exponent floored if staircase)
        s(t) = max(s(t), E) if r < 1, min(s(t), E) if r > 1     (when end_value E is set)
        s(t) = I                              for every t when r = 0

    Args:
      init_value: I, the initial value.
      transition_steps: T, the number of steps over which the value is
        multiplied by r; if ``T <= 0`` the schedule is the constant I.
      decay_rate: r.
      transition_begin: B, the count at which the decay starts.
      staircase: floor the exponent, decaying in discrete jumps every T steps.
      end_value: E, a bound the value does not pass (``None``: no bound).

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Example:
      >>> s = exponential_decay(1.0, transition_steps=10, decay_rate=0.5)
      >>> [round(float(s(t)), 4) for t in (0, 10, 20, 5)]
      [1.0, 0.5, 0.25, 0.7071]
    """
    check_numbers(
        init_value=init_value,
        transition_steps=transition_steps,
        decay_rate=decay_rate,
        transition_begin=transition_begin,
    )
    check_decay_options(staircase, end_value)
    if transition_steps <= 0:
        return constant_schedule(init_value)
    transition_begin = max(transition_begin, 0)
    return Partial(
        _exponential_decay,
        init_value,
        transition_steps,
        decay_rate,
        transition_begin,
        staircase,
        end_value,
    )


def _cosine_decay(
    init_value: ArrayLike,
    decay_steps: int,
    alpha: ArrayLike,
    exponent: ArrayLike,
    one_minus_alpha: ArrayLike,
    count: ArrayLike,
) -> Array:
    # Python ints become floats, so that a large count does not overflow int32 under jit.
    decay_steps, count = jax.tree.map(
        lambda x: float(x) if isinstance(x, int) else x, (decay_steps, count)
    )
    count = jnp.minimum(count, decay_steps)
    cosine_decay = 0.5 * (1 + jnp.cos(jnp.pi * count / decay_steps))
    decayed = one_minus_alpha * cosine_decay**exponent + alpha
    return init_value * decayed


def cosine_decay_schedule(
    init_value: ArrayLike,
    decay_steps: int,
    alpha: ArrayLike = 0.0,
    exponent: ArrayLike = 1.0,
) -> Partial:
    """Cosine decay from ``init_value`` to ``alpha · init_value`` over ``decay_steps`` steps.

    ::

        s(t) = I · ((1 - a) · (½ (1 + cos(π · min(t, T)/T)))^p + a)

    Args:
      init_value: I, the initial value.
      decay_steps: T > 0, the length of the decay.
      alpha: a, the final value as a fraction of I.
      exponent: p, the power applied to the cosine factor.

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Raises:
      ValueError: if ``decay_steps <= 0``.

    Example:
      >>> s = cosine_decay_schedule(1.0, decay_steps=10, alpha=0.1)
      >>> [round(float(s(t)), 4) for t in (0, 5, 10, 20)]
      [1.0, 0.55, 0.1, 0.1]
    """
    check_numbers(init_value=init_value, decay_steps=decay_steps, alpha=alpha, exponent=exponent)
    if not decay_steps > 0:
        raise ValueError(
            f"decay_steps={decay_steps} must be positive: it is the length of the decay."
        )
    return Partial(_cosine_decay, init_value, decay_steps, alpha, exponent, 1 - alpha)


def _inverse_time(t0: ArrayLike, t1: ArrayLike, count: ArrayLike) -> Array:
    return t0 / (count + t1)


def inverse_time_schedule(t0: ArrayLike, t1: ArrayLike) -> Partial:
    """Géron's learning schedule for SGD: ``t0 / (t + t1)``.

    ::

        s(t) = t0 / (t + t1)

    ``t`` counts updates from 0, so ``s(0) = t0/t1``; Géron uses ``t0, t1 = 5, 50``
    with ``t = epoch · m + i`` (the same count when each update sees one example).

    Args:
      t0: the numerator, ≥ 0 (a negative t0 would make the schedule climb
        towards 0 from below instead of decaying).
      t1: the offset, > 0 (it sets the initial value ``t0/t1``).

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Raises:
      ValueError: if a concrete ``t0`` is negative or a concrete ``t1`` is not positive.

    Example:
      >>> s = inverse_time_schedule(5.0, 50.0)
      >>> [round(float(s(t)), 4) for t in (0, 50, 950)]
      [0.1, 0.05, 0.005]
    """
    check_numbers(t0=t0, t1=t1)
    if fails(t0, lambda v: v >= 0):
        raise ValueError(
            f"t0={t0} must be >= 0: with a negative t0, t0/(t + t1) is negative and climbs "
            "towards 0 instead of decaying; pass t0 >= 0 (Géron uses t0=5)."
        )
    if fails(t1, lambda v: v > 0):
        raise ValueError(f"t1={t1} must be > 0 (the schedule starts at t0/t1); Géron uses 50.")
    return Partial(_inverse_time, t0, t1)
