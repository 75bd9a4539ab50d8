"""Learning-rate schedules: functions ``count -> value`` of the number of updates taken.

Each schedule has optax 0.2.8's name, arguments and values (plus
:func:`inverse_time_schedule`, Géron's ``t0 / (t + t1)``), and is returned as a
:class:`jax.tree_util.Partial` whose arguments are the schedule's numbers. A
schedule is therefore a pytree: inside an optimizer, :func:`jaxgd.fit` passes
its float leaves to the compiled program as arguments, so a new initial value
does not recompile. Integer arguments (step counts) stay static.

Values derived from the arguments (``I - E``, ``1 - a``, ``E/P``) are computed
once, when the schedule is built, in Python's double precision as optax does,
and kept as leaves beside the arguments: that keeps jaxgd's values equal to
optax's even when the leaves enter a compiled program as float32 arguments.
To change a value, build a new schedule (do not edit single leaves).

Pass a schedule as an optimizer's ``learning_rate``; the optimizer evaluates
it at its update count ``t = 0, 1, 2, ...`` (the count *before* the update).
A schedule also accepts an array of counts and works under ``jit``/``vmap``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from jaxgd._types import Array, ArrayLike

Schedule = Callable[[ArrayLike], Any]
"""``count -> value``; every schedule here is a :class:`jax.tree_util.Partial`."""


def _is_concrete(*values: Any) -> bool:
    return not any(isinstance(v, jax.core.Tracer) for v in values)


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


def _piecewise_constant(
    init_value: ArrayLike, boundaries_and_scales: dict[int, Any] | None, count: ArrayLike
) -> Any:
    v = init_value
    if boundaries_and_scales is not None:
        for threshold, scale in sorted(boundaries_and_scales.items(), key=lambda kv: kv[0]):
            indicator = jnp.maximum(0.0, jnp.sign(threshold - count))
            v = v * indicator + (1 - indicator) * scale * v
    return v


def piecewise_constant_schedule(
    init_value: ArrayLike,
    boundaries_and_scales: dict[int, float] | None = None,
) -> Partial:
    """A constant value multiplied by ``scale`` at each boundary count.

    ::

        s(t) = I · Π_{b_i ≤ t} f_i          for boundaries_and_scales = {b_i: f_i}

    Args:
      init_value: I, the value before the first boundary.
      boundaries_and_scales: ``{count: factor}``; every factor must be ≥ 0.

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Raises:
      ValueError: if a (concrete) factor is negative.

    Example:
      >>> s = piecewise_constant_schedule(1.0, {10: 0.1, 20: 0.5})
      >>> [round(float(s(t)), 4) for t in (0, 10, 20)]
      [1.0, 0.1, 0.05]
    """
    if boundaries_and_scales is not None:
        for boundary, scale in boundaries_and_scales.items():
            if _is_concrete(scale) and not scale >= 0.0:
                raise ValueError(
                    f"boundaries_and_scales[{boundary}]={scale} is negative; "
                    "the factors multiply the value and must be >= 0."
                )
    return Partial(_piecewise_constant, init_value, boundaries_and_scales)


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
    if not decay_steps > 0:
        raise ValueError(
            f"decay_steps={decay_steps} must be positive: it is the length of the decay."
        )
    return Partial(_cosine_decay, init_value, decay_steps, alpha, exponent, 1 - alpha)


def _join(schedules: tuple[Partial, ...], boundaries: tuple[int, ...], count: ArrayLike) -> Any:
    output = schedules[0](count)
    for boundary, schedule in zip(boundaries, schedules[1:], strict=False):
        output = jnp.where(count < boundary, output, schedule(count - boundary))
    return output


def _ratio(end_value: ArrayLike, peak_value: ArrayLike) -> Any:
    """``end/peak``, 0 when ``peak == 0``: in Python for numbers (as optax), else with jnp."""
    if _is_concrete(peak_value, end_value):
        return 0.0 if peak_value == 0.0 else end_value / peak_value
    safe_peak = jnp.where(peak_value == 0.0, 1.0, peak_value)
    return jnp.where(peak_value == 0.0, 0.0, end_value / safe_peak)


def warmup_cosine_decay_schedule(
    init_value: ArrayLike,
    peak_value: ArrayLike,
    warmup_steps: int,
    decay_steps: int,
    end_value: ArrayLike = 0.0,
    exponent: ArrayLike = 1.0,
) -> Partial:
    """Linear warm-up from ``init_value`` to ``peak_value``, then cosine decay to ``end_value``.

    ::

        s(t) = I + (t/W)·(P - I)                                 t < W
        s(t) = P · ((1 - a)·(½ (1 + cos(π·min(t - W, D - W)/(D - W))))^p + a)   t ≥ W

    with ``a = E/P`` (0 when P = 0); ``decay_steps`` D counts the warm-up.

    Args:
      init_value: I, the value at count 0.
      peak_value: P, the value at the end of the warm-up.
      warmup_steps: W, the length of the warm-up.
      decay_steps: D > W, the total length of the schedule, warm-up included.
      end_value: E, the final value.
      exponent: p, the power applied to the cosine factor.

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Raises:
      ValueError: if ``decay_steps - warmup_steps <= 0``.

    Example:
      >>> s = warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=10, decay_steps=30)
      >>> [round(float(s(t)), 4) for t in (0, 5, 10, 20, 30)]
      [0.0, 0.5, 1.0, 0.5, 0.0]
    """
    schedules = (
        linear_schedule(init_value=init_value, end_value=peak_value, transition_steps=warmup_steps),
        cosine_decay_schedule(
            init_value=peak_value,
            decay_steps=decay_steps - warmup_steps,
            alpha=_ratio(end_value, peak_value),
            exponent=exponent,
        ),
    )
    return Partial(_join, schedules, (warmup_steps,))


def _inverse_time(t0: ArrayLike, t1: ArrayLike, count: ArrayLike) -> Array:
    return t0 / (count + t1)


def inverse_time_schedule(t0: ArrayLike, t1: ArrayLike) -> Partial:
    """Géron's learning schedule for SGD: ``t0 / (t + t1)``.

    ::

        s(t) = t0 / (t + t1)

    ``t`` counts updates from 0, so ``s(0) = t0/t1``; Géron uses ``t0, t1 = 5, 50``
    with ``t = epoch · m + i`` (the same count when each update sees one example).

    Args:
      t0: the numerator.
      t1: the offset, > 0 (it sets the initial value ``t0/t1``).

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Raises:
      ValueError: if a concrete ``t1`` is not positive.

    Example:
      >>> s = inverse_time_schedule(5.0, 50.0)
      >>> [round(float(s(t)), 4) for t in (0, 50, 950)]
      [0.1, 0.05, 0.005]
    """
    if _is_concrete(t1) and not jnp.all(jnp.asarray(t1) > 0):
        raise ValueError(f"t1={t1} must be > 0 (the schedule starts at t0/t1); Géron uses 50.")
    return Partial(_inverse_time, t0, t1)


__all__ = [
    "Schedule",
    "constant_schedule",
    "cosine_decay_schedule",
    "exponential_decay",
    "inverse_time_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "polynomial_schedule",
    "warmup_cosine_decay_schedule",
]
