"""AdaGrad: :func:`adagrad` and its state."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxgd._types import Array, ArrayLike, Params, ScalarOrSchedule, Updates
from jaxgd.optim import _common
from jaxgd.optim._checks import check_learning_rate, check_non_negative
from jaxgd.optim.base import GradientTransformation, transformation


class AdagradState(NamedTuple):
    """State of :func:`adagrad`: the sums ``G`` of squared gradients, and the update count
    when the learning rate is a schedule (``None`` otherwise, as in optax)."""

    count: Array | None
    sum_of_squares: Updates


class _AdagradInit(NamedTuple):
    """What :func:`adagrad`'s ``init`` reads: the sums' first value, and whether to count."""

    initial_accumulator_value: ArrayLike
    counted: bool

    def init(self, params: Params) -> AdagradState:
        return AdagradState(
            count=_common.counter(self.counted),
            sum_of_squares=_common.full_like(params, self.initial_accumulator_value),
        )


class AdagradHyperparams(NamedTuple):
    """The hyperparameters of :func:`adagrad`, the leaves of its ``update``."""

    learning_rate: ScalarOrSchedule
    eps: ArrayLike

    def update(
        self, updates: Updates, state: AdagradState, params: Params | None
    ) -> tuple[Updates, AdagradState]:
        del params
        sum_of_squares = jax.tree.map(
            lambda g, t: _common.abs_sq(g) + t, updates, state.sum_of_squares
        )
        inv_sqrt = jax.tree.map(
            lambda t: jnp.where(t > 0, jax.lax.rsqrt(t + self.eps), 0.0), sum_of_squares
        )
        updates = _common.scale_by_learning_rate(
            self.learning_rate, _common.multiply(inv_sqrt, updates), state.count
        )
        count = _common.next_count(state.count)
        return updates, AdagradState(count=count, sum_of_squares=sum_of_squares)


def adagrad(
    learning_rate: ScalarOrSchedule,
    initial_accumulator_value: ArrayLike = 0.1,
    eps: ArrayLike = 1e-7,
) -> GradientTransformation:
    """AdaGrad, ``u = -α·g/√(G + ε)`` with ``G`` the sum of squared gradients; optax's ``adagrad``.

    Each coordinate keeps the running sum of its squared gradients, started at
    ``G_0``::

        G_t = G_{t-1} + |g_t|²,    G_0 = initial_accumulator_value
        u_t = -α_t · g_t / √(G_t + ε)     (0 where G_t = 0)

    ``|g|²`` is ``g·g`` for real gradients, ``re(g)² + im(g)²`` for complex ones
    (optax's ``abs_sq``). Coordinates with large past gradients take small steps;
    since ``G_t`` only grows, every step size decays towards zero.

    ε sits inside the square root (PyTorch adds it outside, Keras inside).

    Args:
      learning_rate: the step size α: a float, a scalar array, or a schedule
        ``count -> α``.
      initial_accumulator_value: ``G_0 ≥ 0``, the starting value of every sum
        (0.1, as optax and Keras; PyTorch starts at 0).
      eps: ε ≥ 0, added to ``G_t`` under the square root.

    Returns:
      A :class:`GradientTransformation` whose state is an :class:`AdagradState`.

    Raises:
      TypeError: a hyperparameter of the wrong kind (see :mod:`jaxgd.optim`).
      ValueError: a learning rate, ``initial_accumulator_value`` or ``eps`` that is
        negative or not finite.

    Example:
      >>> import jax.numpy as jnp
      >>> opt = adagrad(1.0, initial_accumulator_value=0.0, eps=0.0)
      >>> state = opt.init(jnp.zeros(2))
      >>> updates, state = opt.update(jnp.array([3.0, -0.5]), state)
      >>> updates  # the first step is -α·sign(g)
      Array([-1.,  1.], dtype=float32)
    """
    check_learning_rate("learning_rate", learning_rate)
    check_non_negative(
        "initial_accumulator_value",
        initial_accumulator_value,
        hint="Pass 0.1 (optax, Keras) or 0.0 (PyTorch).",
    )
    check_non_negative("eps", eps, hint="Pass a small constant such as 1e-7.")
    return transformation(
        _AdagradInit(initial_accumulator_value, callable(learning_rate)),
        AdagradHyperparams(learning_rate, eps),
    )
