"""Argument checks for optimizer factories.

A hyperparameter is checked only when its value is known while the
optimizer is built: a Python number or a concrete array. Tracers (the
optimizer built inside ``jit`` or ``vmap``, as :func:`jaxgd.sweep` does) and
schedules are passed through unchecked.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np


def concrete_value(value: Any) -> float | None:
    """The value as a Python float when it is a concrete scalar, else ``None``."""
    if value is None or callable(value) or isinstance(value, jax.core.Tracer):
        return None
    array = np.asarray(value)
    if array.ndim != 0 or not np.issubdtype(array.dtype, np.number):
        return None
    return float(array)


def check_learning_rate(name: str, value: Any) -> None:
    """Raise ``ValueError`` unless a concrete learning rate is finite and non-negative."""
    number = concrete_value(value)
    if number is None:
        return
    if not math.isfinite(number):
        raise ValueError(f"{name}={number} is not finite; pass a finite value such as 0.01.")
    if number < 0:
        raise ValueError(
            f"{name}={number} is negative; a learning rate must be >= 0 "
            "(updates are already subtracted: pass the step size, e.g. 0.01)."
        )


def check_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    include_high: bool = False,
    hint: str = "",
) -> None:
    """Raise ``ValueError`` unless ``low <= value < high`` (``<= high`` if ``include_high``)."""
    number = concrete_value(value)
    if number is None:
        return
    ok = low <= number <= high if include_high else low <= number < high
    if not ok:
        bracket = "]" if include_high else ")"
        raise ValueError(f"{name}={number} is outside [{low}, {high}{bracket}. {hint}".strip())


def check_non_negative(name: str, value: Any, *, hint: str = "") -> None:
    """Raise ``ValueError`` unless a concrete value is finite and ``>= 0``."""
    number = concrete_value(value)
    if number is None:
        return
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{name}={number} must be finite and >= 0. {hint}".strip())
