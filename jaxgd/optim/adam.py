"""Adam and NAdam (:func:`adam`, :func:`nadam`), their state, and Adam's direction.

:mod:`jaxgd.optim.adamw` and :mod:`jaxgd.optim.adamax` build on the pieces here.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxgd._types import Array, ArrayLike, Params, ScalarOrSchedule, Updates
from jaxgd.optim import _common
from jaxgd.optim._checks import (
    check_flag,
    check_learning_rate,
    check_non_negative,
    check_range,
)
from jaxgd.optim.base import GradientTransformation, transformation


class AdamState(NamedTuple):
    """State of :func:`adam`, :func:`adamw` and :func:`nadam`.

    ``count`` is the number of updates taken (``t - 1``); ``mu`` and ``nu`` the
    first and second moment estimates ``m`` and ``v`` (before bias correction).
    """

    count: Array
    mu: Updates
    nu: Updates


def _check_adam(learning_rate: Any, b1: Any, b2: Any, eps: Any, eps_root: Any = 0.0) -> None:
    check_learning_rate("learning_rate", learning_rate)
    check_range("b1", b1, 0.0, 1.0, hint="Pass e.g. b1=0.9.")
    check_range("b2", b2, 0.0, 1.0, hint="Pass e.g. b2=0.999.")
    check_non_negative("eps", eps, hint="Pass a small constant such as 1e-8.")
    check_non_negative("eps_root", eps_root, hint="Pass 0.0, or a small constant such as 1e-8.")


class _AdamInit(NamedTuple):
    """What the ``init`` of :func:`adam`, :func:`nadam` and :func:`adamw` reads: ``m``'s dtype."""

    mu_dtype: Any

    def init(self, params: Params) -> AdamState:
        return AdamState(
            count=_common.zero_count(),
            mu=_common.zeros_like(params, self.mu_dtype),
            nu=_common.zeros_like(params),
        )


def _scale_by_adam(hp: Any, grads: Updates, state: AdamState) -> tuple[Updates, AdamState]:
    """Adam's direction ``m̂/(√(v̂ + ε_root) + ε)`` and the new state (no learning rate).

    ``hp`` is an :class:`AdamHyperparams` or an ``AdamWHyperparams``: the fields
    ``b1, b2, eps, eps_root, mu_dtype, nesterov, one_minus_b1, one_minus_b2``.
    """
    b1, one_minus_b1 = hp.b1, hp.one_minus_b1
    mu = _common.ema(grads, state.mu, b1, one_minus_b1)
    nu = _common.ema_abs_sq(grads, state.nu, hp.b2, hp.one_minus_b2)
    count_inc = _common.safe_increment(state.count)
    if hp.nesterov:
        mu_hat = jax.tree.map(
            lambda m, g: b1 * m + one_minus_b1 * g,
            _common.bias_correction(mu, b1, _common.safe_increment(count_inc)),
            _common.bias_correction(grads, b1, count_inc),
        )
    else:
        mu_hat = _common.bias_correction(mu, b1, count_inc)
    nu_hat = _common.bias_correction(nu, hp.b2, count_inc)
    eps, eps_root = hp.eps, hp.eps_root
    updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
    mu = _common.cast(mu, hp.mu_dtype)
    nu = _common.cast_like(nu, state.nu)
    return updates, AdamState(count=count_inc, mu=mu, nu=nu)


class AdamHyperparams(NamedTuple):
    """The hyperparameters of :func:`adam` and :func:`nadam`, the leaves of their ``update``."""

    learning_rate: ScalarOrSchedule
    b1: ArrayLike
    b2: ArrayLike
    eps: ArrayLike
    eps_root: ArrayLike
    mu_dtype: Any
    nesterov: bool
    one_minus_b1: ArrayLike
    one_minus_b2: ArrayLike

    def update(
        self, updates: Updates, state: AdamState, params: Params | None
    ) -> tuple[Updates, AdamState]:
        del params
        updates, new_state = _scale_by_adam(self, updates, state)
        updates = _common.scale_by_learning_rate(self.learning_rate, updates, state.count)
        return updates, new_state


def adam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """Adam, ``u = -α·m̂/(√(v̂ + ε_root) + ε)``; optax's ``adam``.

    Adam keeps exponential moving averages of the gradient (first moment ``m``)
    and of its square (second moment ``v``), corrects their bias towards the zero
    start, and divides one by the root of the other::

        m_t = β₁·m_{t-1} + (1 - β₁)·g_t,     v_t = β₂·v_{t-1} + (1 - β₂)·|g_t|²
        m̂_t = m_t/(1 - β₁^t),                v̂_t = v_t/(1 - β₂^t)        (t = count + 1)
        u_t = -α_t·m̂_t/(√(v̂_t + ε_root) + ε)

    ``|g|²`` is ``g²`` for real gradients, ``re(g)² + im(g)²`` for complex ones
    (optax's ``abs_sq``), so complex parameters get the same update as optax's. With
    ``nesterov=True`` (NAdam), ``m̂_t = β₁·m_t/(1 - β₁^{t+1}) + (1 - β₁)·g_t/(1 - β₁^t)``.

    Args:
      learning_rate: the step size α: a float, a scalar array, or a schedule
        ``count -> α``.
      b1: β₁ in [0, 1), the decay of the first moment.
      b2: β₂ in [0, 1), the decay of the second moment.
      eps: ε ≥ 0, added outside the square root (as in the paper and PyTorch).
      eps_root: ε_root ≥ 0, added inside the square root (keeps the gradient
        of the update finite when differentiating through it).
      mu_dtype: dtype of ``m`` in the state (e.g. ``jnp.bfloat16``); ``None``
        keeps the parameters' dtype.
      nesterov: use Nesterov momentum (this is :func:`nadam`).

    Returns:
      A :class:`GradientTransformation` whose state is an :class:`AdamState`.

    Raises:
      TypeError: a hyperparameter of the wrong kind (see :mod:`jaxgd.optim`).
      ValueError: a learning rate, ``eps`` or ``eps_root`` that is negative or not
        finite, or ``b1`` or ``b2`` outside [0, 1).

    Example:
      >>> import jax.numpy as jnp
      >>> opt = adam(0.1)
      >>> state = opt.init(jnp.zeros(2))
      >>> updates, state = opt.update(jnp.array([3.0, -0.5]), state)
      >>> [round(u, 4) for u in updates.tolist()]  # the first step is ≈ -α·sign(g)
      [-0.1, 0.1]
    """
    _check_adam(learning_rate, b1, b2, eps, eps_root)
    check_flag("nesterov", nesterov)
    mu_dtype = _common.canonical_dtype(mu_dtype, "mu_dtype")
    return transformation(
        _AdamInit(mu_dtype),
        AdamHyperparams(
            learning_rate,
            b1,
            b2,
            eps,
            eps_root,
            mu_dtype,
            nesterov,
            _common.one_minus(b1),
            _common.one_minus(b2),
        ),
    )


def nadam(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
) -> GradientTransformation:
    """NAdam: Adam with Nesterov momentum, ``adam(..., nesterov=True)``; optax's ``nadam``.

    ::

        m_t = β₁·m_{t-1} + (1 - β₁)·g_t,     v_t = β₂·v_{t-1} + (1 - β₂)·|g_t|²
        m̂_t = β₁·m_t/(1 - β₁^{t+1}) + (1 - β₁)·g_t/(1 - β₁^t)
        u_t = -α_t·m̂_t/(√(v_t/(1 - β₂^t) + ε_root) + ε)

    This is Dozat's (2016) NAdam without the momentum schedule of PyTorch's and
    Keras's (``momentum_decay``): β₁ is the same at every step.

    The arguments, the result and the errors are :func:`adam`'s. ``nesterov`` is
    kept for parity with optax (``nadam`` is ``partial(adam, nesterov=True)``
    there); ``False`` gives plain Adam.

    Example:
      >>> import jax.numpy as jnp
      >>> opt = nadam(0.1)
      >>> state = opt.init(jnp.zeros(1))
      >>> updates, state = opt.update(jnp.array([2.0]), state)
      >>> [round(u, 4) for u in updates.tolist()]  # -α·(1 + β₁/(1 + β₁))
      [-0.1474]
    """
    return adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov)
