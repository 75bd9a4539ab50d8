"""Type aliases shared across jaxgd.

Parameters, updates, gradients and optimizer states are pytrees: nested
dicts, lists and tuples whose leaves are arrays. The aliases below only
document intent; JAX does not check them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

import jax

Array: TypeAlias = jax.Array
ArrayLike: TypeAlias = jax.typing.ArrayLike
PRNGKey: TypeAlias = jax.Array

Params: TypeAlias = Any
"""A pytree of parameter arrays, e.g. ``{"w": Array, "b": Array}``."""

Updates: TypeAlias = Any
"""A pytree with the structure of ``Params``, added to them by ``apply_updates``."""

OptState: TypeAlias = Any
"""An optimizer state: a pytree, usually a NamedTuple of arrays."""

Batch: TypeAlias = tuple[Any, Any]
"""A pair ``(x, y)`` of inputs and targets, examples along the leading axis."""

LossFn: TypeAlias = Callable[[Params, Array, Array], Array]
"""``loss_fn(params, x, y) -> scalar``: the quantity gradient descent minimises."""

InitFn: TypeAlias = Callable[[PRNGKey], Params]
"""``init_fn(key) -> params``: builds a fresh parameter pytree from a key."""

ScalarOrSchedule: TypeAlias = float | Array | Callable[[Array], Array]
"""A hyperparameter: a number, a scalar array (or tracer), or a schedule of the step count."""


class JaxgdWarning(UserWarning):
    """Warnings raised by jaxgd itself (tests turn them into errors)."""
