"""Piecewise schedules: constant between boundaries, interpolated, and Smith's one-cycle."""

from __future__ import annotations

import functools
from typing import Any

import jax.numpy as jnp
from jax.tree_util import Partial

from jaxgd._types import Array, ArrayLike
from jaxgd.schedules._common import check_numbers, check_scales, fails


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
    check_numbers(init_value=init_value)
    check_scales(boundaries_and_scales)
    return Partial(_piecewise_constant, init_value, boundaries_and_scales)


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
    check_numbers(init_value=init_value)
    check_scales(boundaries_and_scales)
    if boundaries_and_scales:
        boundaries, scales = zip(*sorted(boundaries_and_scales.items()), strict=True)
    else:
        boundaries, scales = (), ()
    return Partial(
        _piecewise_interpolate, interpolate_type, init_value, tuple(boundaries), tuple(scales)
    )


def _check_onecycle(
    transition_steps: Any,
    peak_value: Any,
    fractions: dict[str, Any],
    div_factor: Any,
    final_div_factor: Any,
) -> None:
    """Check a one-cycle schedule's arguments (``fractions``: ``pct_start``, ``pct_final``).

    Numbers first, in the order of the signature, then ``T > 0``, ``d > 0`` and ``f > 0``.
    """
    check_numbers(
        transition_steps=transition_steps,
        peak_value=peak_value,
        **fractions,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
    )
    if not transition_steps > 0:
        raise ValueError(
            f"transition_steps={transition_steps} must be positive: it is the length of the cycle."
        )
    for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
        if fails(value, lambda v: v > 0):
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
    fractions = {"pct_start": pct_start, "pct_final": pct_final}
    _check_onecycle(transition_steps, peak_value, fractions, div_factor, final_div_factor)
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

    The arguments (without ``pct_final``), the result and the errors are those of
    :func:`linear_onecycle_schedule`: T is the length of the cycle, P the peak
    value, a the fraction of the cycle spent rising to P, d and f the divisors.

    Example:
      >>> s = cosine_onecycle_schedule(100, 1.0, pct_start=0.2, div_factor=10.0)
      >>> [round(float(s(t)), 4) for t in (0, 10, 20, 60, 100)]
      [0.1, 0.55, 1.0, 0.5, 0.0]
    """
    fractions = {"pct_start": pct_start}
    _check_onecycle(transition_steps, peak_value, fractions, div_factor, final_div_factor)
    return piecewise_interpolate_schedule(
        "cosine",
        peak_value / div_factor,
        {
            int(pct_start * transition_steps): div_factor,
            int(transition_steps): 1.0 / (div_factor * final_div_factor),
        },
    )
