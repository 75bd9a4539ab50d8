"""Stochastic gradient descent: the update rule of the notes.

Plain gradient descent moves every parameter against its gradient::

    θ_{t+1} = θ_t - α_t · g_t,        g_t = ∂L/∂θ (θ_t)

so the update returned is ``u_t = -α_t · g_t``. ``α_t`` is the learning rate,
a constant or a schedule of the update count ``t``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from jaxgd._types import Array, Params, ScalarOrSchedule, Updates
from jaxgd.optim._checks import check_learning_rate
from jaxgd.optim.base import GradientTransformation


class SgdState(NamedTuple):
    """State of :func:`sgd`: the number of updates taken (used by schedules)."""

    count: Array


def _learning_rate_at(learning_rate: ScalarOrSchedule, count: Array) -> Any:
    return learning_rate(count) if callable(learning_rate) else learning_rate


def _sgd_init(params: Params) -> SgdState:
    del params
    return SgdState(count=jnp.zeros([], jnp.int32))


def _sgd_update(
    learning_rate: ScalarOrSchedule,
    grads: Updates,
    state: SgdState,
    params: Params | None = None,
) -> tuple[Updates, SgdState]:
    del params
    step_size = -1 * _learning_rate_at(learning_rate, state.count)
    if callable(learning_rate):
        updates = jax.tree.map(lambda g: jnp.array(step_size, dtype=g.dtype) * g, grads)
    else:
        updates = jax.tree.map(lambda g: step_size * g, grads)
    return updates, SgdState(count=state.count + 1)


def sgd(learning_rate: ScalarOrSchedule) -> GradientTransformation:
    """Plain gradient descent, ``u = -α·g``, with optax's name and argument.

    Args:
      learning_rate: the step size α: a float, a scalar array, or a schedule
        ``count -> α`` evaluated at the number of updates taken so far.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> opt = sgd(0.1)
      >>> state = opt.init({"w": jnp.ones(2)})
      >>> updates, state = opt.update({"w": jnp.array([1.0, -2.0])}, state)
      >>> updates["w"]
      Array([-0.1,  0.2], dtype=float32)
    """
    check_learning_rate("learning_rate", learning_rate)
    return GradientTransformation(Partial(_sgd_init), Partial(_sgd_update, learning_rate))
