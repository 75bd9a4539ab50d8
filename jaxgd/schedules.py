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
To change a value, build a new schedule (do not edit single leaves). One
exception: :func:`piecewise_interpolate_schedule` (and the one-cycle schedules
built on it) multiplies its factors into values at each call, with ``jnp`` in
the dtype of the call, because optax does so too.

Arguments are checked when the schedule is built: a non-numeric argument (a
string ``"0.1"``, a list) raises ``TypeError`` naming it, and values optax
refuses raise ``ValueError`` naming the argument and what to pass instead.
Values optax accepts are accepted with optax's meaning (``transition_steps <= 0``
in :func:`linear_schedule` makes a constant schedule, not an error).

Pass a schedule as an optimizer's ``learning_rate``; the optimizer evaluates
it at its update count ``t = 0, 1, 2, ...`` (the count *before* the update).
A schedule also accepts an array of counts and works under ``jit``/``vmap``.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from jaxgd._types import Array, ArrayLike

Schedule = Callable[[ArrayLike], Any]
"""``count -> value``; every schedule here is a :class:`jax.tree_util.Partial`."""


def _is_concrete(*values: Any) -> bool:
    return not any(isinstance(v, jax.core.Tracer) for v in values)


def _fails(value: Any, ok: Callable[[np.ndarray], Any]) -> bool:
    """Whether a concrete value (a number, or any entry of an array) fails ``ok``; tracers pass.

    Arrays hold one value per lane when :func:`jaxgd.sweep` checks a factory.
    """
    return _is_concrete(value) and not np.all(ok(np.asarray(value)))


def _is_number(value: Any) -> bool:
    """A Python or NumPy number, or a numeric (or boolean) array or tracer."""
    if isinstance(value, (numbers.Number, np.bool_)):
        return True
    if isinstance(value, (jax.Array, np.ndarray)):
        return bool(jnp.issubdtype(value.dtype, jnp.number) or value.dtype == np.bool_)
    return False


def _check_numbers(**arguments: Any) -> None:
    """Raise ``TypeError`` naming the first argument that is not a number or a numeric array."""
    for name, value in arguments.items():
        if not _is_number(value):
            raise TypeError(
                f"{name}={value!r} is a {type(value).__name__}, not a number: pass a Python "
                "number or a numeric JAX/NumPy array (e.g. 0.1, not '0.1')."
            )


def _check_flag(name: str, value: Any) -> None:
    """Raise ``TypeError`` unless ``value`` is a bool (or an integer used as one)."""
    if not isinstance(value, (numbers.Integral, np.bool_)):
        raise TypeError(f"{name}={value!r} is a {type(value).__name__}: pass True or False.")


def _check_scales(boundaries_and_scales: Any) -> None:
    """Check a ``{count: factor}`` dict (or ``None``): numbers, and concrete factors ``>= 0``."""
    if boundaries_and_scales is None:
        return
    if not isinstance(boundaries_and_scales, Mapping):
        raise TypeError(
            f"boundaries_and_scales={boundaries_and_scales!r} is a "
            f"{type(boundaries_and_scales).__name__}: pass a dict {{count: factor}} such as "
            "{100: 0.1, 200: 0.5}, or None."
        )
    for boundary, scale in boundaries_and_scales.items():
        if not _is_number(boundary):
            raise TypeError(
                f"boundaries_and_scales has the key {boundary!r} (a {type(boundary).__name__}): "
                "the keys are the counts at which the factors apply, e.g. {100: 0.1}."
            )
        _check_numbers(**{f"boundaries_and_scales[{boundary}]": scale})
        if _fails(scale, lambda f: f >= 0.0):
            raise ValueError(
                f"boundaries_and_scales[{boundary}]={scale} must be >= 0: the factors "
                "multiply the value (pass 0 to stop it, 0.1 to divide it by 10)."
            )


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
    _check_numbers(value=value)
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
    _check_numbers(
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
    _check_numbers(init_value=init_value)
    _check_scales(boundaries_and_scales)
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
    _check_numbers(
        init_value=init_value,
        transition_steps=transition_steps,
        decay_rate=decay_rate,
        transition_begin=transition_begin,
    )
    if end_value is not None:
        _check_numbers(end_value=end_value)
    _check_flag("staircase", staircase)
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
    _check_numbers(init_value=init_value, decay_steps=decay_steps, alpha=alpha, exponent=exponent)
    if not decay_steps > 0:
        raise ValueError(
            f"decay_steps={decay_steps} must be positive: it is the length of the decay."
        )
    return Partial(_cosine_decay, init_value, decay_steps, alpha, exponent, 1 - alpha)


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
    _check_numbers(**{f"boundaries[{i}]": b for i, b in enumerate(boundaries)})
    return Partial(_join, schedules, boundaries)


def _ratio(end_value: ArrayLike, peak_value: ArrayLike) -> Any:
    """``end/peak``, 0 when ``peak == 0``: in Python for numbers (as optax), else with jnp."""
    if isinstance(peak_value, (int, float)) and isinstance(end_value, (int, float)):
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
    _check_numbers(
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
    _check_numbers(init_value=init_value, peak_value=peak_value, warmup_steps=warmup_steps)
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
      transition_steps: T, the number of steps over which the value is
        multiplied by r.
      decay_rate: r.
      transition_begin: B, the number of steps after the warm-up during which
        the value stays at P.
      staircase: floor the exponent, decaying in discrete jumps every T steps.
      end_value: E, a bound the value does not pass (``None``: no bound).

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Example:
      >>> s = warmup_exponential_decay_schedule(0.0, 1.0, 10, transition_steps=10, decay_rate=0.5)
      >>> [round(float(s(t)), 4) for t in (0, 5, 10, 20, 30)]
      [0.0, 0.5, 1.0, 0.5, 0.25]
    """
    _check_numbers(
        init_value=init_value,
        peak_value=peak_value,
        warmup_steps=warmup_steps,
        transition_steps=transition_steps,
        decay_rate=decay_rate,
        transition_begin=transition_begin,
    )
    if end_value is not None:
        _check_numbers(end_value=end_value)
    _check_flag("staircase", staircase)
    schedules = (
        linear_schedule(init_value=init_value, end_value=peak_value, transition_steps=warmup_steps),
        exponential_decay(
            init_value=peak_value,
            transition_steps=transition_steps,
            decay_rate=decay_rate,
            transition_begin=transition_begin,
            staircase=staircase,
            end_value=end_value,
        ),
    )
    return Partial(_join, schedules, (warmup_steps,))


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


def _linear_interpolate(start: ArrayLike, end: ArrayLike, pct: ArrayLike) -> Array:
    return (end - start) * pct + start


def _cosine_interpolate(start: ArrayLike, end: ArrayLike, pct: ArrayLike) -> Array:
    return end + (start - end) / 2.0 * (jnp.cos(jnp.pi * pct) + 1)


_INTERPOLATIONS = {"linear": _linear_interpolate, "cosine": _cosine_interpolate}


def _piecewise_interpolate(
    interpolate_type: str,
    init_value: ArrayLike,
    boundaries: tuple[int, ...],
    scales: tuple[ArrayLike, ...],
    count: ArrayLike,
) -> Array:
    if jnp.ndim(count) > 0:
        # optax's expressions broadcast one count against the boundaries: map over the counts.
        one = functools.partial(
            _piecewise_interpolate, interpolate_type, init_value, boundaries, scales
        )
        return jnp.vectorize(one)(count)
    # The cumulative products are taken here, in the call's dtype, as optax does.
    bounds = jnp.stack((0, *boundaries))
    values = jnp.cumprod(jnp.stack((init_value, *scales)))
    interval_sizes = jnp.maximum(bounds[1:] - bounds[:-1], 1)
    indicator = jnp.logical_and(bounds[:-1] <= count, count < bounds[1:])
    pct = (count - bounds[:-1]) / interval_sizes
    interp_vals = _INTERPOLATIONS[interpolate_type](values[:-1], values[1:], pct)
    return indicator.dot(interp_vals) + (bounds[-1] <= count) * values[-1]


def piecewise_interpolate_schedule(
    interpolate_type: str,
    init_value: ArrayLike,
    boundaries_and_scales: dict[int, float] | None = None,
) -> Partial:
    """Linear or cosine interpolation between values that change by a factor at each boundary.

    ::

        v_0 = I,  v_i = v_{i-1} · f_i             for sorted boundaries_and_scales = {b_i: f_i}
        s(t) = v_{i-1} + (v_i - v_{i-1}) · (t - b_{i-1})/(b_i - b_{i-1})        linear
        s(t) = v_i + (v_{i-1} - v_i) · ½ (1 + cos(π (t - b_{i-1})/(b_i - b_{i-1})))   cosine
                                                  b_{i-1} ≤ t < b_i   (b_0 = 0)
        s(t) = v_n                                t ≥ b_n
        s(t) = 0                                  t < 0

    (an interval of length 0 divides by 1, as in optax). optax's schedule takes
    one count at a time; this one also takes an array of counts (mapped over them).

    Args:
      interpolate_type: ``"linear"`` or ``"cosine"``.
      init_value: I, the value at count 0.
      boundaries_and_scales: ``{count: factor}``; every factor must be ≥ 0.
        The factors multiply the value reached so far (``v_i = I · f_1 ··· f_i``).

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Raises:
      ValueError: if ``interpolate_type`` is neither, or a (concrete) factor is negative.

    Example:
      >>> s = piecewise_interpolate_schedule("linear", 1.0, {4: 0.1, 8: 0.01})
      >>> [round(float(s(t)), 6) for t in (0, 2, 4, 6, 8, 10)]
      [1.0, 0.55, 0.1, 0.0505, 0.001, 0.001]
    """
    if not (isinstance(interpolate_type, str) and interpolate_type in _INTERPOLATIONS):
        raise ValueError(f"interpolate_type={interpolate_type!r} must be 'linear' or 'cosine'.")
    _check_numbers(init_value=init_value)
    _check_scales(boundaries_and_scales)
    if boundaries_and_scales:
        boundaries, scales = zip(*sorted(boundaries_and_scales.items()), strict=True)
    else:
        boundaries, scales = (), ()
    return Partial(
        _piecewise_interpolate, interpolate_type, init_value, tuple(boundaries), tuple(scales)
    )


def _check_onecycle(transition_steps: Any, div_factor: Any, final_div_factor: Any) -> None:
    if not transition_steps > 0:
        raise ValueError(
            f"transition_steps={transition_steps} must be positive: it is the length of the cycle."
        )
    for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
        if _fails(value, lambda v: v > 0):
            raise ValueError(
                f"{name}={value} must be > 0: the schedule divides the peak value by it "
                f"(the default is {25.0 if name == 'div_factor' else 1e4})."
            )


def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: ArrayLike,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Partial:
    """Smith's one-cycle schedule with three linear phases.

    ::

        s(t) from P/d up to P                 0 ≤ t ≤ ⌊a·T⌋
        s(t) from P down to P/d               ⌊a·T⌋ ≤ t ≤ ⌊b·T⌋
        s(t) from P/d down to P/(d·f)         ⌊b·T⌋ ≤ t ≤ T
        s(t) = P/(d·f)                        t ≥ T

    each phase linear: :func:`piecewise_interpolate_schedule` ``("linear", P/d,
    {⌊a·T⌋: d, ⌊b·T⌋: 1/d, T: 1/f})``, as optax builds it (``P/d``, ``1/d`` and
    ``1/f`` are computed here, in Python).

    Args:
      transition_steps: T > 0, the length of the cycle.
      peak_value: P, the largest value.
      pct_start: a, the fraction of the cycle spent rising to P.
      pct_final: b, the fraction of the cycle at whose end the value is back at P/d.
      div_factor: d > 0; the schedule starts at P/d.
      final_div_factor: f > 0; the schedule ends at P/(d·f).

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Raises:
      ValueError: if ``transition_steps <= 0``, or a concrete ``div_factor`` or
        ``final_div_factor`` is not positive.

    Example:
      >>> s = linear_onecycle_schedule(100, 1.0, div_factor=10.0, final_div_factor=100.0)
      >>> [round(float(s(t)), 4) for t in (0, 15, 30, 85, 100)]
      [0.1, 0.55, 1.0, 0.1, 0.001]
    """
    _check_numbers(
        transition_steps=transition_steps,
        peak_value=peak_value,
        pct_start=pct_start,
        pct_final=pct_final,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
    )
    _check_onecycle(transition_steps, div_factor, final_div_factor)
    return piecewise_interpolate_schedule(
        "linear",
        peak_value / div_factor,
        {
            int(pct_start * transition_steps): div_factor,
            int(pct_final * transition_steps): 1.0 / div_factor,
            transition_steps: 1.0 / final_div_factor,
        },
    )


def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: ArrayLike,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Partial:
    """Smith's one-cycle schedule: a cosine rise to ``peak_value``, then a cosine fall.

    ::

        s(t) = P + (P/d - P) · ½ (1 + cos(π t/⌊a·T⌋))                          0 ≤ t < ⌊a·T⌋
        s(t) = P/(d·f) + (P - P/(d·f)) · ½ (1 + cos(π (t - ⌊a·T⌋)/(T - ⌊a·T⌋)))   ⌊a·T⌋ ≤ t < T
        s(t) = P/(d·f)                                                        t ≥ T

    that is :func:`piecewise_interpolate_schedule` ``("cosine", P/d, {⌊a·T⌋: d,
    T: 1/(d·f)})``, as optax builds it (``P/d`` and ``1/(d·f)`` computed here, in Python).

    Args:
      transition_steps: T > 0, the length of the cycle.
      peak_value: P, the largest value.
      pct_start: a, the fraction of the cycle spent rising to P.
      div_factor: d > 0; the schedule starts at P/d.
      final_div_factor: f > 0; the schedule ends at P/(d·f).

    Returns:
      The schedule, a :class:`~jax.tree_util.Partial` ``count -> value``.

    Raises:
      ValueError: if ``transition_steps <= 0``, or a concrete ``div_factor`` or
        ``final_div_factor`` is not positive.

    Example:
      >>> s = cosine_onecycle_schedule(100, 1.0, pct_start=0.2, div_factor=10.0)
      >>> [round(float(s(t)), 4) for t in (0, 10, 20, 60, 100)]
      [0.1, 0.55, 1.0, 0.5, 0.0]
    """
    _check_numbers(
        transition_steps=transition_steps,
        peak_value=peak_value,
        pct_start=pct_start,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
    )
    _check_onecycle(transition_steps, div_factor, final_div_factor)
    return piecewise_interpolate_schedule(
        "cosine",
        peak_value / div_factor,
        {
            int(pct_start * transition_steps): div_factor,
            int(transition_steps): 1.0 / (div_factor * final_div_factor),
        },
    )


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
    _check_numbers(t0=t0, t1=t1)
    if _fails(t0, lambda v: v >= 0):
        raise ValueError(
            f"t0={t0} must be >= 0: with a negative t0, t0/(t + t1) is negative and climbs "
            "towards 0 instead of decaying; pass t0 >= 0 (Géron uses t0=5)."
        )
    if _fails(t1, lambda v: v > 0):
        raise ValueError(f"t1={t1} must be > 0 (the schedule starts at t0/t1); Géron uses 50.")
    return Partial(_inverse_time, t0, t1)


__all__ = [
    "Schedule",
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "exponential_decay",
    "inverse_time_schedule",
    "join_schedules",
    "linear_onecycle_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
]
