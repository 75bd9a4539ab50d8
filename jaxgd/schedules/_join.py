"""Schedules run one after another: :func:`join_schedules`, the warm-ups, SGDR."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax.numpy as jnp
from jax.tree_util import Partial

from jaxgd._types import ArrayLike
from jaxgd.schedules._common import Schedule, check_decay_options, check_numbers
from jaxgd.schedules._decay import cosine_decay_schedule, exponential_decay
from jaxgd.schedules._polynomial import linear_schedule


def _join(
    schedules: tuple[Schedule, ...], boundaries: tuple[ArrayLike, ...], count: ArrayLike
) -> Any:
    output = schedules[0](count)
    for boundary, schedule in zip(boundaries, schedules[1:], strict=False):
        output = jnp.where(count < boundary, output, schedule(count - boundary))
    return output


def join_schedules(schedules: Iterable[Schedule], boundaries: Iterable[int]) -> Partial:
    """Run schedules one after the other, each counting from its own start.

    ::

        s(t) = s_0(t)                 t < b_1
        s(t) = s_k(t - b_k)           b_k ≤ t < b_{k+1}

    (with unsorted boundaries the last k in the list with ``b_k ≤ t`` wins, as in
    optax). As in optax, the lists are paired up to the shorter one: schedules
    beyond ``len(boundaries) + 1`` and boundaries beyond ``len(schedules) - 1``
    are not used.

    Args:
      schedules: the schedules ``s_0, s_1, ...``: jaxgd's (their numbers stay
        leaves of the joined schedule) or any function ``count -> value``.
      boundaries: the counts ``b_1, b_2, ...`` at which each next schedule
        starts, one fewer than the schedules.

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Raises:
      TypeError: if a schedule is not callable or a boundary not a number.
      ValueError: if ``schedules`` is empty.

    Example:
      >>> from jaxgd.schedules import constant_schedule, linear_schedule
      >>> s = join_schedules([constant_schedule(1.0), linear_schedule(1.0, 0.0, 10)], [5])
      >>> [round(float(s(t)), 4) for t in (0, 4, 5, 10, 15)]
      [1.0, 1.0, 1.0, 0.5, 0.0]
    """
    if callable(schedules) or not isinstance(schedules, Iterable):
        raise TypeError(
            f"schedules={schedules!r} must be a list of schedules, e.g. "
            "[constant_schedule(0.1), linear_schedule(0.1, 0.0, 100)]."
        )
    if isinstance(boundaries, (str, bytes)) or not isinstance(boundaries, Iterable):
        raise TypeError(
            f"boundaries={boundaries!r} must be a list of counts, one fewer than the "
            "schedules, e.g. [50]."
        )
    schedules, boundaries = tuple(schedules), tuple(boundaries)
    if not schedules:
        raise ValueError("schedules is empty: pass at least one schedule.")
    for i, schedule in enumerate(schedules):
        if not callable(schedule):
            raise TypeError(
                f"schedules[{i}]={schedule!r} is not a schedule: pass a function "
                "count -> value, e.g. constant_schedule(0.1)."
            )
    check_numbers(**{f"boundaries[{i}]": b for i, b in enumerate(boundaries)})
    return Partial(_join, schedules, boundaries)


def _ratio(end_value: ArrayLike, peak_value: ArrayLike) -> Any:
    """``end/peak``, 0 when ``peak == 0``: in Python for numbers (as optax), else with jnp."""
    if isinstance(peak_value, (int, float)) and isinstance(end_value, (int, float)):
        return 0.0 if peak_value == 0.0 else end_value / peak_value
    safe_peak = jnp.where(peak_value == 0.0, 1.0, peak_value)
    return jnp.where(peak_value == 0.0, 0.0, end_value / safe_peak)


def _after_warmup(
    init_value: ArrayLike,
    peak_value: ArrayLike,
    warmup_steps: int,
    factory: Callable[..., Partial],
    /,
    **kwargs: Any,
) -> Partial:
    """``factory(**kwargs)`` after a linear warm-up from I to P over W steps, as optax joins them.

    The warm-up is built first, as in optax, then the schedule that follows it.
    """
    warmup = linear_schedule(
        init_value=init_value, end_value=peak_value, transition_steps=warmup_steps
    )
    return Partial(_join, (warmup, factory(**kwargs)), (warmup_steps,))


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
    check_numbers(
        init_value=init_value,
        peak_value=peak_value,
        warmup_steps=warmup_steps,
        decay_steps=decay_steps,
        end_value=end_value,
        exponent=exponent,
    )
    if not decay_steps - warmup_steps > 0:
        raise ValueError(
            f"decay_steps={decay_steps} must be greater than warmup_steps={warmup_steps}: "
            "decay_steps is the whole schedule, warm-up included (the cosine decay lasts "
            "decay_steps - warmup_steps steps)."
        )
    return _after_warmup(
        init_value,
        peak_value,
        warmup_steps,
        cosine_decay_schedule,
        init_value=peak_value,
        decay_steps=decay_steps - warmup_steps,
        alpha=_ratio(end_value, peak_value),
        exponent=exponent,
    )


def warmup_constant_schedule(
    init_value: ArrayLike,
    peak_value: ArrayLike,
    warmup_steps: int,
) -> Partial:
    """Linear warm-up from ``init_value`` to ``peak_value``, then ``peak_value`` for ever.

    ::

        s(t) = I + min(t/W, 1)·(P - I)

    (:func:`linear_schedule` from I to P over W steps, as optax builds it).

    Args:
      init_value: I, the value at count 0.
      peak_value: P, the value from count W on.
      warmup_steps: W, the length of the warm-up; if ``W <= 0`` the schedule is
        the constant I (as in optax).

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Example:
      >>> s = warmup_constant_schedule(0.0, 1.0, warmup_steps=10)
      >>> [round(float(s(t)), 4) for t in (0, 5, 10, 100)]
      [0.0, 0.5, 1.0, 1.0]
    """
    check_numbers(init_value=init_value, peak_value=peak_value, warmup_steps=warmup_steps)
    return linear_schedule(
        init_value=init_value, end_value=peak_value, transition_steps=warmup_steps
    )


def warmup_exponential_decay_schedule(
    init_value: ArrayLike,
    peak_value: ArrayLike,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: ArrayLike,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: ArrayLike | None = None,
) -> Partial:
    """Linear warm-up from ``init_value`` to ``peak_value``, then :func:`exponential_decay`.

    ::

        s(t) = I + (t/W)·(P - I)              t < W
        s(t) = P                              W ≤ t ≤ W + B
        s(t) = P · r^((t - W - B)/T)          t > W + B   (exponent floored if staircase)

    then bounded by E as in :func:`exponential_decay` (below if r < 1, above if
    r > 1); the constant P after the warm-up when r = 0 or T <= 0.

    Args:
      init_value: I, the value at count 0.
      peak_value: P, the value at the end of the warm-up.
      warmup_steps: W, the length of the warm-up (``W <= 0``: no warm-up).
      transition_steps: T, as in :func:`exponential_decay`.
      decay_rate: r.
      transition_begin: B, the number of steps after the warm-up during which
        the value stays at P.
      staircase: as in :func:`exponential_decay`.
      end_value: E, as in :func:`exponential_decay` (``None``: no bound).

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Example:
      >>> s = warmup_exponential_decay_schedule(0.0, 1.0, 10, transition_steps=10, decay_rate=0.5)
      >>> [round(float(s(t)), 4) for t in (0, 5, 10, 20, 30)]
      [0.0, 0.5, 1.0, 0.5, 0.25]
    """
    check_numbers(
        init_value=init_value,
        peak_value=peak_value,
        warmup_steps=warmup_steps,
        transition_steps=transition_steps,
        decay_rate=decay_rate,
        transition_begin=transition_begin,
    )
    check_decay_options(staircase, end_value)
    return _after_warmup(
        init_value,
        peak_value,
        warmup_steps,
        exponential_decay,
        init_value=peak_value,
        transition_steps=transition_steps,
        decay_rate=decay_rate,
        transition_begin=transition_begin,
        staircase=staircase,
        end_value=end_value,
    )


def sgdr_schedule(cosine_kwargs: Iterable[Mapping[str, Any]]) -> Partial:
    """SGD with warm restarts: :func:`warmup_cosine_decay_schedule` cycles, one after the other.

    ::

        s(t) = c_k(t - D_0 - ... - D_{k-1})       D_0 + ... + D_{k-1} ≤ t < D_0 + ... + D_k

    where ``c_k`` is the k-th cycle, ``warmup_cosine_decay_schedule(**cosine_kwargs[k])``,
    and ``D_k`` its ``decay_steps`` (warm-up included); the last cycle holds its
    end value for ever.

    Args:
      cosine_kwargs: one dict per cycle, the keyword arguments of
        :func:`warmup_cosine_decay_schedule` (``decay_steps`` is the cycle's length).

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Raises:
      TypeError: if a cycle is not a dict of those arguments.
      ValueError: if there is no cycle, or a cycle's arguments are refused by
        :func:`warmup_cosine_decay_schedule` (the message names the cycle).

    Example:
      >>> cycle = {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 2, "decay_steps": 10}
      >>> s = sgdr_schedule([cycle, cycle])
      >>> [round(float(s(t)), 4) for t in (0, 2, 6, 10, 12, 20)]
      [0.0, 1.0, 0.5, 0.0, 1.0, 0.0]
    """
    if isinstance(cosine_kwargs, Mapping) or not isinstance(cosine_kwargs, Iterable):
        raise TypeError(
            f"cosine_kwargs={cosine_kwargs!r} must be a list of dicts, one per cycle, each the "
            "arguments of warmup_cosine_decay_schedule."
        )
    cycles, boundaries, step = [], [], 0
    for i, kwargs in enumerate(cosine_kwargs):
        if not isinstance(kwargs, Mapping):
            raise TypeError(
                f"cosine_kwargs[{i}]={kwargs!r} is a {type(kwargs).__name__}: pass a dict of "
                "warmup_cosine_decay_schedule's arguments, e.g. {'init_value': 0.0, "
                "'peak_value': 0.1, 'warmup_steps': 10, 'decay_steps': 100}."
            )
        try:
            cycles.append(warmup_cosine_decay_schedule(**kwargs))
        except (TypeError, ValueError) as error:
            kind = TypeError if isinstance(error, TypeError) else ValueError
            raise kind(f"cosine_kwargs[{i}]: {error}") from error
        boundaries.append(step + kwargs["decay_steps"])
        step += kwargs["decay_steps"]
    if not cycles:
        raise ValueError(
            "cosine_kwargs is empty: pass at least one cycle, e.g. [{'init_value': 0.0, "
            "'peak_value': 0.1, 'warmup_steps': 10, 'decay_steps': 100}]."
        )
    return Partial(_join, tuple(cycles), tuple(boundaries[:-1]))
