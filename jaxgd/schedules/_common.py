"""What the schedules share: the ``Schedule`` type and the checks of their arguments."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd._types import ArrayLike

Schedule = Callable[[ArrayLike], Any]
"""``count -> value``; every schedule here is a :class:`jax.tree_util.Partial`."""


def is_concrete(*values: Any) -> bool:
    return not any(isinstance(v, jax.core.Tracer) for v in values)


def fails(value: Any, ok: Callable[[np.ndarray], Any]) -> bool:
    """Whether a concrete value (a number, or any entry of an array) fails ``ok``; tracers pass.

    Arrays hold one value per lane when :func:`jaxgd.sweep` checks a factory.
    """
    return is_concrete(value) and not np.all(ok(np.asarray(value)))


def is_number(value: Any) -> bool:
    """A Python or NumPy number, or a numeric (or boolean) array or tracer."""
    if isinstance(value, (numbers.Number, np.bool_)):
        return True
    if isinstance(value, (jax.Array, np.ndarray)):
        return bool(jnp.issubdtype(value.dtype, jnp.number) or value.dtype == np.bool_)
    return False


def check_numbers(**arguments: Any) -> None:
    """Raise ``TypeError`` naming the first argument that is not a number or a numeric array."""
    for name, value in arguments.items():
        if not is_number(value):
            raise TypeError(
                f"{name}={value!r} is a {type(value).__name__}, not a number: pass a Python "
                "number or a numeric JAX/NumPy array (e.g. 0.1, not '0.1')."
            )


def check_flag(name: str, value: Any) -> None:
    """Raise ``TypeError`` unless ``value`` is a bool (or an integer used as one)."""
    if not isinstance(value, (numbers.Integral, np.bool_)):
        raise TypeError(f"{name}={value!r} is a {type(value).__name__}: pass True or False.")


def check_scales(boundaries_and_scales: Any) -> None:
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
        if not is_number(boundary):
            raise TypeError(
                f"boundaries_and_scales has the key {boundary!r} (a {type(boundary).__name__}): "
                "the keys are the counts at which the factors apply, e.g. {100: 0.1}."
            )
        check_numbers(**{f"boundaries_and_scales[{boundary}]": scale})
        if fails(scale, lambda f: f >= 0.0):
            raise ValueError(
                f"boundaries_and_scales[{boundary}]={scale} must be >= 0: the factors "
                "multiply the value (pass 0 to stop it, 0.1 to divide it by 10)."
            )


def check_decay_options(staircase: Any, end_value: Any) -> None:
    """Check :func:`exponential_decay`'s ``staircase`` (a flag) and ``end_value`` (``None``
    or a number), in that function's order: ``end_value`` first."""
    if end_value is not None:
        check_numbers(end_value=end_value)
    check_flag("staircase", staircase)
