"""AdaMax, Adam with an infinity norm: :func:`adamax` and its state."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxgd._types import Array, ArrayLike, Params, ScalarOrSchedule, Updates
from jaxgd.optim import _common
from jaxgd.optim.adam import _check_adam
from jaxgd.optim.base import GradientTransformation, transformation


class AdamaxState(NamedTuple):
    """State of :func:`adamax`: the count, the first moment ``m`` and the infinity norm ``u``."""

    count: Array
    mu: Updates
    nu: Updates


class _AdamaxInit(NamedTuple):
    """What :func:`adamax`'s ``init`` reads: nothing (its state is always the same)."""

    def init(self, params: Params) -> AdamaxState:
        return AdamaxState(
            count=_common.zero_count(),
            mu=_common.zeros_like(params),
            nu=_common.zeros_like(params),
        )


class AdamaxHyperparams(NamedTuple):
    """The hyperparameters of :func:`adamax`, the leaves of its ``update``."""

    learning_rate: ScalarOrSchedule
    b1: ArrayLike
    b2: ArrayLike
    eps: ArrayLike
    one_minus_b1: ArrayLike

    def update(
        self, updates: Updates, state: AdamaxState, params: Params | None
    ) -> tuple[Updates, AdamaxState]:
        del params
        count_inc = _common.safe_increment(state.count)
        mu = _common.ema(updates, state.mu, self.b1, self.one_minus_b1)
        eps, b2 = self.eps, self.b2
        nu = jax.tree.map(lambda g, t: jnp.maximum(jnp.abs(g) + eps, b2 * t), updates, state.nu)
        mu_hat = _common.bias_correction(mu, self.b1, count_inc)
        updates = jax.tree.map(lambda m, v: m / v, mu_hat, nu)
        updates = _common.scale_by_learning_rate(self.learning_rate, updates, state.count)
        return updates, AdamaxState(count=count_inc, mu=mu, nu=nu)


def adamax(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
) -> GradientTransformation:
    """AdaMax, Adam with an infinity norm in place of the RMS; optax's ``adamax``.

    :func:`adam`'s ``√v̂`` is replaced by an exponentially weighted infinity norm
    of the gradients, which needs no bias correction::

        m_t = β₁·m_{t-1} + (1 - β₁)·g_t
        u_t = max(|g_t| + ε, β₂·u_{t-1})          (the state's ``nu``)
        update = -α_t·(m_t/(1 - β₁^t))/u_t

    Args:
      learning_rate: the step size α: a float, a scalar array, or a schedule
        ``count -> α``.
      b1: β₁ in [0, 1), the decay of the first moment.
      b2: β₂ in [0, 1), the decay of the infinity norm.
      eps: ε ≥ 0, added to ``|g|`` (so the norm is never zero).

    Returns:
      A :class:`GradientTransformation` whose state is an :class:`AdamaxState`.

    Raises:
      TypeError: a hyperparameter of the wrong kind (see :mod:`jaxgd.optim`).
      ValueError: a learning rate or ``eps`` that is negative or not finite, or ``b1``
        or ``b2`` outside [0, 1).

    Example:
      >>> import jax.numpy as jnp
      >>> opt = adamax(0.1, eps=0.0)
      >>> state = opt.init(jnp.zeros(2))
      >>> updates, state = opt.update(jnp.array([3.0, -0.5]), state)
      >>> [round(u, 4) for u in updates.tolist()]
      [-0.1, 0.1]
    """
    _check_adam(learning_rate, b1, b2, eps)
    return transformation(
        _AdamaxInit(),
        AdamaxHyperparams(learning_rate, b1, b2, eps, _common.one_minus(b1)),
    )
