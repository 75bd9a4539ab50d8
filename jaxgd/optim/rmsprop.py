"""RMSprop: divide each gradient by a running root-mean-square of its recent values.

An exponential moving average of squared gradients (decay ρ) estimates each
coordinate's scale; the gradient is divided by its root::

    ν_t = ρ · ν_{t-1} + (1 - ρ) · |g_t|²               (ν_0 = initial_scale)
    u_t = -α_t · g_t / √(ν_t + ε)                      (eps_in_sqrt=True: optax, Keras)
    u_t = -α_t · g_t / (√ν_t + ε)                      (eps_in_sqrt=False: PyTorch)

``centered=True`` divides by a running standard deviation instead, subtracting
the squared running mean ``μ_t = ρ·μ_{t-1} + (1 - ρ)·g_t``: ``√(ν_t - |μ_t|² + ε)``.
(``|x|²`` is ``x²`` for real values and ``re(x)² + im(x)²`` for complex ones,
optax's ``abs_sq``.) With momentum β the scaled steps are then accumulated, the
learning rate already applied (as in optax and Keras; PyTorch applies α after
accumulating, which differs only when α changes)::

    m_t = u_t + β · m_{t-1},      update m_t   (or u_t + β · m_t if nesterov)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from jaxgd._types import Array, ArrayLike, Params, ScalarOrSchedule, Updates
from jaxgd.optim import _common
from jaxgd.optim._checks import (
    check_flag,
    check_learning_rate,
    check_momentum,
    check_non_negative,
    check_range,
)
from jaxgd.optim.base import GradientTransformation


class RmspropState(NamedTuple):
    """State of :func:`rmsprop`.

    ``count`` is the update count, kept when something reads it (``bias_correction``
    or a learning-rate schedule; ``None`` otherwise, as in optax); ``nu`` the running
    mean of squared gradients; ``mu`` the running mean of gradients (``None`` unless
    ``centered``); ``trace`` the momentum buffer (``None`` unless ``momentum`` is set).
    """

    count: Array | None
    mu: Updates
    nu: Updates
    trace: Updates


def _rmsprop_init(
    initial_scale: ArrayLike,
    centered: bool,
    momentum: ArrayLike | None,
    counted: bool,
    params: Params,
) -> RmspropState:
    return RmspropState(
        count=_common.counter(counted),
        mu=_common.zeros_like(params) if centered else None,
        nu=_common.full_like(params, initial_scale),
        trace=None if momentum is None else _common.zeros_like(params),
    )


def _rmsprop_update(
    learning_rate: ScalarOrSchedule,
    decay: ArrayLike,
    eps: ArrayLike,
    eps_in_sqrt: bool,
    centered: bool,
    momentum: ArrayLike | None,
    nesterov: bool,
    bias_correction: bool,
    one_minus_decay: ArrayLike,
    /,
    updates: Updates,
    state: RmspropState,
    params: Params | None = None,
    **extra_args: Any,
) -> tuple[Updates, RmspropState]:
    del params, extra_args
    grads = updates
    count_inc = _common.next_count(state.count)
    mu = _common.ema(grads, state.mu, decay, one_minus_decay) if centered else None
    nu = _common.ema_abs_sq(grads, state.nu, decay, one_minus_decay)
    mu_hat, nu_hat = mu, nu
    if bias_correction:
        nu_hat = _common.bias_correction(nu, decay, count_inc)
        if centered:
            mu_hat = _common.bias_correction(mu, decay, count_inc)

    if centered:
        if eps_in_sqrt:
            scaling = jax.tree.map(
                lambda m, n: jax.lax.rsqrt(n - _common.abs_sq(m) + eps), mu_hat, nu_hat
            )
        else:
            scaling = jax.tree.map(
                lambda m, n: 1 / (jnp.sqrt(n - _common.abs_sq(m)) + eps), mu_hat, nu_hat
            )
    elif eps_in_sqrt:
        scaling = jax.tree.map(lambda n: jax.lax.rsqrt(n + eps), nu_hat)
    else:
        scaling = jax.tree.map(lambda n: 1 / (jnp.sqrt(n) + eps), nu_hat)
    updates = jax.tree.map(lambda s, g: s * g, scaling, grads)
    updates = _common.scale_by_learning_rate(learning_rate, updates, state.count)

    trace = None
    if momentum is not None:
        updates, trace = _common.trace(updates, state.trace, momentum, nesterov)
    return updates, RmspropState(count=count_inc, mu=mu, nu=nu, trace=trace)


def rmsprop(
    learning_rate: ScalarOrSchedule,
    decay: ArrayLike = 0.9,
    eps: ArrayLike = 1e-8,
    initial_scale: ArrayLike = 0.0,
    eps_in_sqrt: bool = True,
    centered: bool = False,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    bias_correction: bool = False,
) -> GradientTransformation:
    """RMSprop, ``u = -α·g/√(ν + ε)`` with ν a moving average of g²; optax's ``rmsprop``.

    ::

        ν_t = ρ·ν_{t-1} + (1 - ρ)·|g_t|²,      ν_0 = initial_scale
        μ_t = ρ·μ_{t-1} + (1 - ρ)·g_t          (centered only)
        ν̂_t = ν_t/(1 - ρ^t), μ̂_t = μ_t/(1 - ρ^t)   (bias_correction only)
        d_t = ν̂_t  or  ν̂_t - |μ̂_t|²  (centered)
        u_t = -α_t·g_t/√(d_t + ε)  (eps_in_sqrt)   or   -α_t·g_t/(√d_t + ε)
        m_t = u_t + β·m_{t-1}; u_t ← m_t, or u_t + β·m_t if nesterov   (momentum β only)

    ``|x|²`` is ``x²`` for real values, ``re(x)² + im(x)²`` for complex ones (as optax).

    Args:
      learning_rate: the step size α: a float, a scalar array, or a schedule
        ``count -> α``.
      decay: ρ in [0, 1], the decay of the moving averages.
      eps: ε ≥ 0, the constant added to the denominator.
      initial_scale: ν_0 ≥ 0 (PyTorch uses 0, TF1 used 1).
      eps_in_sqrt: add ε inside the square root (optax, Keras) or outside (PyTorch).
      centered: divide by the running standard deviation instead of the RMS.
      momentum: β in [0, 1), or ``None`` (the default) for no momentum buffer.
      nesterov: use Nesterov momentum ``u + β·m``.
      bias_correction: divide the averages by ``1 - ρ^t`` as Adam does.

    Returns:
      A :class:`GradientTransformation` whose state is an :class:`RmspropState`.

    Raises:
      TypeError: a hyperparameter that is not a real number or an array of them
        (a str, a list, a bool, ``None`` where optax has no ``None``, a function
        where optax takes no schedule).
      ValueError: a known value outside its range (every element of an array
        is checked; tracers and schedules are not).

    Example:
      >>> import jax.numpy as jnp
      >>> opt = rmsprop(0.01, decay=0.75, eps=0.0)
      >>> state = opt.init(jnp.zeros(2))
      >>> updates, state = opt.update(jnp.array([2.0, -4.0]), state)
      >>> updates  # ν = 0.25·g², so u = -0.01·g/(0.5·|g|)
      Array([-0.02,  0.02], dtype=float32)
    """
    check_learning_rate("learning_rate", learning_rate)
    check_range("decay", decay, 0.0, 1.0, include_high=True, hint="Pass e.g. decay=0.9.")
    check_non_negative("eps", eps, hint="Pass a small constant such as 1e-8.")
    check_non_negative("initial_scale", initial_scale, hint="Pass 0.0 (PyTorch) or 1.0 (TF1).")
    check_momentum("momentum", momentum, none_means="no momentum")
    for name, flag in (
        ("eps_in_sqrt", eps_in_sqrt),
        ("centered", centered),
        ("nesterov", nesterov),
        ("bias_correction", bias_correction),
    ):
        check_flag(name, flag)
    return GradientTransformation(
        Partial(
            _rmsprop_init,
            initial_scale,
            centered,
            momentum,
            bool(bias_correction) or callable(learning_rate),
        ),
        Partial(
            _rmsprop_update,
            learning_rate,
            decay,
            eps,
            eps_in_sqrt,
            centered,
            momentum,
            nesterov,
            bias_correction,
            _common.one_minus(decay),
        ),
    )
