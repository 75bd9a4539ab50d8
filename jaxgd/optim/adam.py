"""Adam and its relatives: AdamW, NAdam and AdaMax.

Adam keeps exponential moving averages of the gradient (first moment ``m``)
and of its square (second moment ``v``), corrects their bias towards the zero
start, and divides one by the root of the other::

    m_t = β₁ · m_{t-1} + (1 - β₁) · g_t
    v_t = β₂ · v_{t-1} + (1 - β₂) · |g_t|²
    m̂_t = m_t / (1 - β₁^t),    v̂_t = v_t / (1 - β₂^t)        (t = count + 1)
    u_t = -α_t · m̂_t / (√(v̂_t + ε_root) + ε)

``|g|²`` is ``g²`` for real gradients and ``re(g)² + im(g)²`` for complex ones
(optax's ``abs_sq``), so complex parameters get the same update as optax's.

AdamW adds decoupled weight decay ``λ·θ`` to the Adam direction before the
learning rate is applied (``u_t = -α_t·(m̂_t/(√v̂_t + ε) + λ·θ_t)``); NAdam
replaces ``m̂_t`` with a Nesterov look-ahead (Dozat 2016, without the momentum
schedule); AdaMax replaces ``√v̂`` with an exponentially weighted infinity norm.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from jaxgd._types import Array, ArrayLike, Params, ScalarOrSchedule, Updates
from jaxgd.optim import _common
from jaxgd.optim._checks import (
    check_flag,
    check_learning_rate,
    check_non_negative,
    check_range,
)
from jaxgd.optim.base import GradientTransformation

MaskOrFn = Any | Callable[[Params], Any] | None


class AdamState(NamedTuple):
    """State of :func:`adam`, :func:`adamw` and :func:`nadam`.

    ``count`` is the number of updates taken (``t - 1``); ``mu`` and ``nu`` the
    first and second moment estimates ``m`` and ``v`` (before bias correction).
    """

    count: Array
    mu: Updates
    nu: Updates


class AdamaxState(NamedTuple):
    """State of :func:`adamax`: the count, the first moment ``m`` and the infinity norm ``u``."""

    count: Array
    mu: Updates
    nu: Updates


def _check_adam(learning_rate: Any, b1: Any, b2: Any, eps: Any, eps_root: Any = 0.0) -> None:
    check_learning_rate("learning_rate", learning_rate)
    check_range("b1", b1, 0.0, 1.0, hint="Pass e.g. b1=0.9.")
    check_range("b2", b2, 0.0, 1.0, hint="Pass e.g. b2=0.999.")
    check_non_negative("eps", eps, hint="Pass a small constant such as 1e-8.")
    check_non_negative("eps_root", eps_root, hint="Pass 0.0, or a small constant such as 1e-8.")


def _adam_init(mu_dtype: Any, params: Params) -> AdamState:
    return AdamState(
        count=_common.zero_count(),
        mu=_common.zeros_like(params, mu_dtype),
        nu=_common.zeros_like(params),
    )


class _Derived(NamedTuple):
    """``1 - β₁`` and ``1 - β₂``, computed when the optimizer is built (see ``one_minus``)."""

    one_minus_b1: Any
    one_minus_b2: Any


def _derived(b1: ArrayLike, b2: ArrayLike) -> _Derived:
    return _Derived(_common.one_minus(b1), _common.one_minus(b2))


def _scale_by_adam(
    b1: ArrayLike,
    b2: ArrayLike,
    eps: ArrayLike,
    eps_root: ArrayLike,
    mu_dtype: Any,
    nesterov: bool,
    derived: _Derived,
    grads: Updates,
    state: AdamState,
) -> tuple[Updates, AdamState]:
    """Adam's direction ``m̂/(√(v̂ + ε_root) + ε)`` and the new state (no learning rate)."""
    mu = _common.ema(grads, state.mu, b1, derived.one_minus_b1)
    nu = _common.ema_abs_sq(grads, state.nu, b2, derived.one_minus_b2)
    count_inc = _common.safe_increment(state.count)
    if nesterov:
        mu_hat = jax.tree.map(
            lambda m, g: b1 * m + derived.one_minus_b1 * g,
            _common.bias_correction(mu, b1, _common.safe_increment(count_inc)),
            _common.bias_correction(grads, b1, count_inc),
        )
    else:
        mu_hat = _common.bias_correction(mu, b1, count_inc)
    nu_hat = _common.bias_correction(nu, b2, count_inc)
    updates = jax.tree.map(lambda m, v: m / (jnp.sqrt(v + eps_root) + eps), mu_hat, nu_hat)
    mu = _common.cast(mu, mu_dtype)
    nu = _common.cast_like(nu, state.nu)
    return updates, AdamState(count=count_inc, mu=mu, nu=nu)


def _adam_update(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike,
    b2: ArrayLike,
    eps: ArrayLike,
    eps_root: ArrayLike,
    mu_dtype: Any,
    nesterov: bool,
    derived: _Derived,
    /,
    updates: Updates,
    state: AdamState,
    params: Params | None = None,
    **extra_args: Any,
) -> tuple[Updates, AdamState]:
    del params, extra_args
    updates, new_state = _scale_by_adam(
        b1, b2, eps, eps_root, mu_dtype, nesterov, derived, updates, state
    )
    updates = _common.scale_by_learning_rate(learning_rate, updates, state.count)
    return updates, new_state


def _adamw_update(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike,
    b2: ArrayLike,
    eps: ArrayLike,
    eps_root: ArrayLike,
    mu_dtype: Any,
    weight_decay: ScalarOrSchedule | None,
    mask: MaskOrFn,
    nesterov: bool,
    derived: _Derived,
    /,
    updates: Updates,
    state: AdamState,
    params: Params | None = None,
    **extra_args: Any,
) -> tuple[Updates, AdamState]:
    del extra_args
    if params is None:
        raise ValueError(_common.NO_PARAMS_MSG)
    updates, new_state = _scale_by_adam(
        b1, b2, eps, eps_root, mu_dtype, nesterov, derived, updates, state
    )
    updates = _common.add_decayed_weights(updates, params, weight_decay, mask, state.count)
    updates = _common.scale_by_learning_rate(learning_rate, updates, state.count)
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

    ::

        m_t = β₁·m_{t-1} + (1 - β₁)·g_t,     v_t = β₂·v_{t-1} + (1 - β₂)·|g_t|²
        m̂_t = m_t/(1 - β₁^t),                v̂_t = v_t/(1 - β₂^t)        (t = count + 1)
        u_t = -α_t·m̂_t/(√(v̂_t + ε_root) + ε)

    ``|g|²`` is ``g²`` for real gradients, ``re(g)² + im(g)²`` for complex ones. With
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
      TypeError: a hyperparameter that is not a real number or an array of them
        (a str, a list, a bool, ``None`` where optax has no ``None``, a function
        where optax takes no schedule).
      ValueError: a known value outside its range (every element of an array
        is checked; tracers and schedules are not).

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
    return GradientTransformation(
        Partial(_adam_init, mu_dtype),
        Partial(
            _adam_update,
            learning_rate,
            b1,
            b2,
            eps,
            eps_root,
            mu_dtype,
            nesterov,
            _derived(b1, b2),
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

    Unlike PyTorch's and Keras's NAdam there is no momentum schedule
    (``momentum_decay``): β₁ is the same at every step.

    Args:
      learning_rate: the step size α: a float, a scalar array, or a schedule
        ``count -> α``.
      b1: β₁ in [0, 1), the decay of the first moment.
      b2: β₂ in [0, 1), the decay of the second moment.
      eps: ε ≥ 0, added outside the square root.
      eps_root: ε_root ≥ 0, added inside the square root.
      mu_dtype: dtype of ``m`` in the state; ``None`` keeps the parameters' dtype.
      nesterov: kept for parity with optax (``nadam`` is ``partial(adam,
        nesterov=True)`` there); ``False`` gives plain Adam.

    Returns:
      A :class:`GradientTransformation` whose state is an :class:`AdamState`.

    Raises:
      TypeError: a hyperparameter that is not a real number or an array of them
        (a str, a list, a bool, ``None`` where optax has no ``None``, a function
        where optax takes no schedule).
      ValueError: a known value outside its range (every element of an array
        is checked; tracers and schedules are not).

    Example:
      >>> import jax.numpy as jnp
      >>> opt = nadam(0.1)
      >>> state = opt.init(jnp.zeros(1))
      >>> updates, state = opt.update(jnp.array([2.0]), state)
      >>> [round(u, 4) for u in updates.tolist()]  # -α·(1 + β₁/(1 + β₁))
      [-0.1474]
    """
    return adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov)


def adamw(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
    eps_root: ArrayLike = 0.0,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-4,
    mask: MaskOrFn = None,
    *,
    nesterov: bool = False,
) -> GradientTransformation:
    """AdamW, Adam plus decoupled weight decay ``-α·λ·θ``; optax's ``adamw``.

    ::

        (m̂_t, v̂_t as in :func:`adam`)
        u_t = -α_t·( m̂_t/(√(v̂_t + ε_root) + ε) + λ_t·θ_t )

    The decay is multiplied by the learning rate (as in PyTorch; the paper
    multiplies it by the schedule only). optax's default λ is 1e-4; PyTorch's
    is 1e-2. The decay needs the parameters: call ``update(grads, state, params)``.

    Args:
      learning_rate: the step size α: a float, a scalar array, or a schedule
        ``count -> α``.
      b1: β₁ in [0, 1), the decay of the first moment.
      b2: β₂ in [0, 1), the decay of the second moment.
      eps: ε ≥ 0, added outside the square root.
      eps_root: ε_root ≥ 0, added inside the square root.
      mu_dtype: dtype of ``m`` in the state; ``None`` keeps the parameters' dtype.
      weight_decay: λ ≥ 0, or a schedule ``count -> λ``. The Python number 0
        drops the decay from the program, as optax does (an array 0.0 keeps it).
      mask: which parameters to decay: a pytree of bools with the structure of
        (or a prefix of) the parameters, or a callable ``params -> such a
        pytree``; ``None`` decays all. Adam itself is applied to all.
      nesterov: use Nesterov momentum (NAdamW).

    Returns:
      A :class:`GradientTransformation` whose state is an :class:`AdamState`.

    Raises:
      TypeError: a hyperparameter that is not a real number or an array of them
        (a str, a list, a bool, ``None`` where optax has no ``None``, a function
        where optax takes no schedule).
      ValueError: a known value outside its range (every element of an array
        is checked; tracers and schedules are not).

    Example:
      >>> import jax.numpy as jnp
      >>> opt = adamw(0.1, weight_decay=0.5, mask={"w": True, "b": False})
      >>> params = {"w": jnp.ones(1), "b": jnp.ones(1)}
      >>> state = opt.init(params)
      >>> updates, state = opt.update({"w": jnp.zeros(1), "b": jnp.zeros(1)}, state, params)
      >>> updates["w"], updates["b"]  # zero gradient: only the decay -α·λ·θ moves w
      (Array([-0.05], dtype=float32), Array([-0.], dtype=float32))
    """
    _check_adam(learning_rate, b1, b2, eps, eps_root)
    check_flag("nesterov", nesterov)
    check_non_negative(
        "weight_decay",
        weight_decay,
        hint="Pass e.g. weight_decay=1e-4, or a schedule.",
        schedule=True,
    )
    weight_decay = _common.weight_decay_argument(weight_decay)
    mu_dtype = _common.canonical_dtype(mu_dtype, "mu_dtype")
    return GradientTransformation(
        Partial(_adam_init, mu_dtype),
        Partial(
            _adamw_update,
            learning_rate,
            b1,
            b2,
            eps,
            eps_root,
            mu_dtype,
            weight_decay,
            mask,
            nesterov,
            _derived(b1, b2),
        ),
    )


def _adamax_init(params: Params) -> AdamaxState:
    return AdamaxState(
        count=_common.zero_count(),
        mu=_common.zeros_like(params),
        nu=_common.zeros_like(params),
    )


def _adamax_update(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike,
    b2: ArrayLike,
    eps: ArrayLike,
    one_minus_b1: ArrayLike,
    /,
    updates: Updates,
    state: AdamaxState,
    params: Params | None = None,
    **extra_args: Any,
) -> tuple[Updates, AdamaxState]:
    del params, extra_args
    count_inc = _common.safe_increment(state.count)
    mu = _common.ema(updates, state.mu, b1, one_minus_b1)
    nu = jax.tree.map(lambda g, t: jnp.maximum(jnp.abs(g) + eps, b2 * t), updates, state.nu)
    mu_hat = _common.bias_correction(mu, b1, count_inc)
    updates = jax.tree.map(lambda m, v: m / v, mu_hat, nu)
    updates = _common.scale_by_learning_rate(learning_rate, updates, state.count)
    return updates, AdamaxState(count=count_inc, mu=mu, nu=nu)


def adamax(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.999,
    eps: ArrayLike = 1e-8,
) -> GradientTransformation:
    """AdaMax, Adam with an infinity norm in place of the RMS; optax's ``adamax``.

    ::

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
      TypeError: a hyperparameter that is not a real number or an array of them
        (a str, a list, a bool, ``None`` where optax has no ``None``, a function
        where optax takes no schedule).
      ValueError: a known value outside its range (every element of an array
        is checked; tracers and schedules are not).

    Example:
      >>> import jax.numpy as jnp
      >>> opt = adamax(0.1, eps=0.0)
      >>> state = opt.init(jnp.zeros(2))
      >>> updates, state = opt.update(jnp.array([3.0, -0.5]), state)
      >>> [round(u, 4) for u in updates.tolist()]
      [-0.1, 0.1]
    """
    _check_adam(learning_rate, b1, b2, eps)
    return GradientTransformation(
        Partial(_adamax_init),
        Partial(_adamax_update, learning_rate, b1, b2, eps, _common.one_minus(b1)),
    )
