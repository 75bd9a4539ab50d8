"""Argument checks for optimizer factories.

Every numeric hyperparameter is checked when the optimizer is built, as far as
its value is known then:

* a Python number, a NumPy scalar, or a concrete NumPy or JAX array of any
  shape (a sweep passes one array holding every lane's value) is checked
  element by element; the error names the argument and the first offending
  value (and, for an array, where it is);
* a tracer (the optimizer built inside ``jit`` or ``vmap``, as
  :func:`jaxgd.sweep` does) passes unchecked: its value is not known yet;
* a schedule (a callable) passes unchecked where optax takes one (learning
  rates, weight decays), and is a ``TypeError`` elsewhere (optax's ``b1`` or
  ``eps`` is a number, and a function there fails only at the first update);
* ``None`` passes only where optax's signature allows it (``sgd(momentum=None)``,
  ``adadelta(learning_rate=None)``), and is a ``TypeError`` elsewhere:
  ``sgd(None)`` would otherwise step *up* the gradient;
* anything else (a str, a list, a dict, a bool, a complex number, an array of
  bools) is a ``TypeError`` that says what to pass instead.

Messages start with ``name=value`` and end with the fix. A value out of range
raises :class:`HyperparameterRangeError`, a ``ValueError`` that also carries the
argument, the value and its index.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

SCHEDULE_FIX = "Pass a number such as 0.1, or a schedule (a function of the update count)."


class HyperparameterRangeError(ValueError):
    """A known hyperparameter value outside its range (a ``ValueError``).

    Besides the message, it says where, for callers that map an array entry back to
    what it came from (a sweep's lane):

    Attributes:
      argument: the argument's name, e.g. ``"momentum"``.
      value: the first offending value, as the message shows it (``"1.5"``).
      index: its index in the array (a tuple), or ``None`` for a scalar.
    """

    def __init__(
        self, message: str, argument: str, value: str, index: tuple[int, ...] | None
    ) -> None:
        super().__init__(message)
        self.argument = argument
        self.value = value
        self.index = index


class _Failure:
    """The first offending entry: ``prefix`` is ``"name=v"`` (and where, for an array)."""

    __slots__ = ("argument", "index", "prefix", "value")

    def __init__(
        self, argument: str, value: str, index: tuple[int, ...] | None, prefix: str
    ) -> None:
        self.argument, self.value, self.index, self.prefix = argument, value, index, prefix

    def error(self, message: str) -> HyperparameterRangeError:
        return HyperparameterRangeError(message, self.argument, self.value, self.index)


def _short_repr(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_real_dtype(dtype: Any) -> bool:
    return bool(jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating))


def _not_a_number(name: str, value: Any, fix: str) -> TypeError:
    if isinstance(value, (list, tuple)):
        kind = f"a {type(value).__name__}"
        fix = f"{fix} For one value per lane of a sweep, pass a NumPy or JAX array."
    elif isinstance(value, (bool, np.bool_)):
        kind = "a bool"
    elif isinstance(value, (complex, np.complexfloating)):
        kind = "a complex number"
    else:
        kind = f"a {type(value).__name__}"
    return TypeError(f"{name}={_short_repr(value)} is {kind}, not a real number. {fix}")


def concrete_values(
    name: str,
    value: Any,
    *,
    fix: str,
    optional: bool = False,
    schedule: bool = False,
    none_reason: str = "",
) -> np.ndarray | None:
    """The value as a NumPy array when it is known now, ``None`` when it cannot be checked.

    Args:
      name: the argument's name, for messages.
      value: the argument.
      fix: the sentence that says what to pass instead, ending the messages.
      optional: whether ``None`` is accepted (as in optax's signature).
      schedule: whether a callable (a schedule of the update count) is accepted.
      none_reason: why ``None`` is refused, for the message (optional).

    Returns:
      The values as a NumPy array in their own dtype (0-d for a number), or ``None``
      for an accepted ``None``, a tracer or an accepted schedule.

    Raises:
      TypeError: for ``None`` where it is not accepted, a callable where no schedule
        is accepted, and anything that is not a real number or an array of them.
    """
    if value is None:
        if optional:
            return None
        reason = f" {none_reason}" if none_reason else ""
        raise TypeError(f"{name}=None is not accepted.{reason} {fix}")
    if isinstance(value, jax.core.Tracer):
        return None
    if callable(value):
        if schedule:
            check_schedule(name, value, fix)
            return None
        raise TypeError(
            f"{name}={_short_repr(value)} is a function, but {name} takes a number, "
            f"not a schedule (as in optax). {fix}"
        )
    if isinstance(value, (bool, np.bool_)):
        raise _not_a_number(name, value, fix)
    if isinstance(value, (int, float, np.generic)):
        array = np.asarray(value)
    elif isinstance(value, (np.ndarray, jax.Array)):
        if isinstance(value, jax.Array) and not value.is_fully_addressable:
            return None  # its values live on other processes
        array = np.asarray(value)
    else:
        raise _not_a_number(name, value, fix)
    if not _is_real_dtype(array.dtype):
        if array.ndim == 0:
            raise _not_a_number(name, array.item() if array.dtype != object else value, fix)
        raise TypeError(f"{name} is an array of dtype {array.dtype}, not of real numbers. {fix}")
    return array


def _first_failure(name: str, array: np.ndarray, ok: np.ndarray) -> _Failure | None:
    """The first value where ``ok`` is false, or ``None`` when every value is ok."""
    if bool(np.all(ok)):
        return None
    index = tuple(int(i) for i in np.argwhere(~ok)[0])
    value = str(array[index])  # str: NumPy's shortest repr (0.1 for float32 0.1)
    if array.ndim == 0:
        return _Failure(name, value, None, f"{name}={value}")
    where = index[0] if len(index) == 1 else list(index)
    prefix = f"{name}={value} (at index {where} of an array of shape {array.shape})"
    return _Failure(name, value, index, prefix)


def _as_float(array: np.ndarray) -> np.ndarray:
    return array.astype(np.float64)


def check_learning_rate(name: str, value: Any, *, optional: bool = False) -> None:
    """Raise unless a learning rate is finite and ``>= 0`` everywhere, or a schedule.

    ``None`` is a ``TypeError`` unless ``optional`` (Adadelta's "no scaling").
    """
    array = concrete_values(
        name,
        value,
        fix=SCHEDULE_FIX,
        optional=optional,
        schedule=True,
        none_reason="Without a learning rate the update would be +g, a step uphill.",
    )
    if array is None:
        return
    numbers = _as_float(array)
    bad = _first_failure(name, array, np.isfinite(numbers))
    if bad:
        raise bad.error(f"{bad.prefix} is not finite; pass a finite value such as 0.01.")
    bad = _first_failure(name, array, numbers >= 0)
    if bad:
        raise bad.error(
            f"{bad.prefix} is negative; a learning rate must be >= 0 "
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
    reason: str = "",
    optional: bool = False,
) -> None:
    """Raise unless ``low <= value < high`` (``<= high`` if ``include_high``) everywhere.

    ``reason`` (why the range, e.g. what a value above it would do) goes between the
    range and ``hint``; ``optional`` accepts ``None``. A NaN is outside every range.
    """
    array = concrete_values(name, value, fix=hint, optional=optional)
    if array is None:
        return
    numbers = _as_float(array)
    ok = (low <= numbers) & ((numbers <= high) if include_high else (numbers < high))
    bad = _first_failure(name, array, ok)
    if bad:
        bracket = "]" if include_high else ")"
        text = f"{bad.prefix} is outside [{low}, {high}{bracket}."
        raise bad.error(" ".join(part for part in (text, reason, hint) if part))


def check_non_negative(name: str, value: Any, *, hint: str = "", schedule: bool = False) -> None:
    """Raise unless a value is finite and ``>= 0`` everywhere (or, if ``schedule``, a schedule)."""
    array = concrete_values(name, value, fix=hint, schedule=schedule)
    if array is None:
        return
    numbers = _as_float(array)
    bad = _first_failure(name, array, np.isfinite(numbers) & (numbers >= 0))
    if bad:
        raise bad.error(f"{bad.prefix} must be finite and >= 0. {hint}".strip())


def check_momentum(name: str, value: Any, *, none_means: str) -> None:
    """Raise unless a momentum is in [0, 1) everywhere, or ``None`` (no momentum buffer).

    Args:
      name: the argument's name.
      value: the momentum μ.
      none_means: what ``None`` gives, for the hint (e.g. "plain SGD").
    """
    check_range(
        name,
        value,
        0.0,
        1.0,
        reason=(
            "The buffer m = g + μ·m sums past gradients with weights μ^k: with μ >= 1 "
            "it grows without bound (a negative μ flips their signs)."
        ),
        hint=f"Pass a momentum such as 0.9, or None for {none_means}.",
        optional=True,
    )


def check_flag(name: str, value: Any) -> None:
    """Raise ``TypeError`` unless ``value`` is a bool: a string such as ``"False"`` (from a
    config file) is true for Python, and would silently switch the option on."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={_short_repr(value)} must be True or False.")


def check_schedule(name: str, schedule: Any, fix: str) -> None:
    """A schedule must be callable as ``schedule(count)`` and return a real number.

    Checked by tracing it once on an int32 count (``jax.eval_shape``, nothing runs), so a
    schedule with the wrong signature, or one that returns a string, a list or a complex
    number, fails here, naming the argument, instead of deep inside the first update.
    (The shape is not checked: a schedule built from a sweep's columns of hyperparameters
    returns one value per lane.)
    """
    try:
        out = jax.eval_shape(schedule, jax.ShapeDtypeStruct((), jnp.int32))
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name}={_short_repr(schedule)} is called as a schedule, {name}(count) with the "
            f"update count, and that failed: {str(error).rstrip('.')}. {fix}"
        ) from None
    dtype = getattr(out, "dtype", None)
    if not isinstance(out, jax.ShapeDtypeStruct) or not _is_real_dtype(dtype):
        what = f"dtype {dtype}" if isinstance(out, jax.ShapeDtypeStruct) else _short_repr(out)
        raise TypeError(
            f"{name}={_short_repr(schedule)} is a schedule that returns {what}; it must return "
            f"a real number for each count. {fix}"
        )
