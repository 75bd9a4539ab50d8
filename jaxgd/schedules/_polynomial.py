"""The constant, polynomial and linear schedules."""

from __future__ import annotations

import jax.numpy as jnp
from jax.tree_util import Partial

from jaxgd._types import Array, ArrayLike
from jaxgd.schedules._common import check_numbers


def _constant(value: ArrayLike, count: ArrayLike) -> ArrayLike:
    del count
    return value


def constant_schedule(value: ArrayLike) -> Partial:
    """A schedule returning ``value`` at every count.

    ::

        s(t) = v

    Args:
      value: the value v (a number or a scalar array).

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Example:
      >>> constant_schedule(0.1)(1000)
      0.1
    """
    check_numbers(value=value)
    return Partial(_constant, value)


def _polynomial(
    init_value: ArrayLike,
    end_value: ArrayLike,
    power: ArrayLike,
    transition_steps: int,
    transition_begin: int,
    init_minus_end: ArrayLike,
    count: ArrayLike,
) -> Array:
    count = jnp.clip(count - transition_begin, 0, transition_steps)
    frac = 1 - count / transition_steps
    return init_minus_end * (frac**power) + end_value


def polynomial_schedule(
    init_value: ArrayLike,
    end_value: ArrayLike,
    power: ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> Partial:
    """Polynomial decay from ``init_value`` to ``end_value`` over ``transition_steps`` steps.

    ::

        s(t) = I                                   t < B
        s(t) = (I - E)·(1 - (t - B)/T)^P + E       B ≤ t < B + T
        s(t) = E                                   t ≥ B + T

    Args:
      init_value: I, the value before and at the start of the transition.
      end_value: E, the value after it.
      power: P, the polynomial's power (1 is linear).
      transition_steps: T; if ``T <= 0`` the schedule is the constant I.
      transition_begin: B, the count at which the transition starts (a
        negative B is treated as 0).

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Example:
      >>> s = polynomial_schedule(1.0, 0.0, power=2, transition_steps=10)
      >>> [round(float(s(t)), 4) for t in (0, 5, 10, 20)]
      [1.0, 0.25, 0.0, 0.0]
    """
    check_numbers(
        init_value=init_value,
        end_value=end_value,
        power=power,
        transition_steps=transition_steps,
        transition_begin=transition_begin,
    )
    if transition_steps <= 0:
        return constant_schedule(init_value)
    transition_begin = max(transition_begin, 0)
    return Partial(
        _polynomial,
        init_value,
        end_value,
        power,
        transition_steps,
        transition_begin,
        init_value - end_value,
    )


def linear_schedule(
    init_value: ArrayLike,
    end_value: ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> Partial:
    """Linear interpolation from ``init_value`` to ``end_value`` over ``transition_steps`` steps.

    ::

        s(t) = I + clip((t - B)/T, 0, 1)·(E - I)

    (computed as :func:`polynomial_schedule` with ``power=1``, as optax does).

    Args:
      init_value: I, the value up to ``transition_begin``.
      end_value: E, the value from ``transition_begin + transition_steps`` on.
      transition_steps: T; if ``T <= 0`` the schedule is the constant I.
      transition_begin: B, the count at which the transition starts.

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Example:
      >>> s = linear_schedule(1.0, 0.5, transition_steps=10)
      >>> [round(float(s(t)), 4) for t in (0, 5, 10, 20)]
      [1.0, 0.75, 0.5, 0.5]
    """
    return polynomial_schedule(
        init_value=init_value,
        end_value=end_value,
        power=1,
        transition_steps=transition_steps,
        transition_begin=transition_begin,
    )
