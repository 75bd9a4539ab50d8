"""Adadelta: :func:`adadelta` and its state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxgd._types import Array, ArrayLike, Params, ScalarOrSchedule, Updates
from jaxgd.optim import _common
from jaxgd.optim._checks import check_learning_rate, check_non_negative, check_range
from jaxgd.optim.base import GradientTransformation, transformation


class AdadeltaState(NamedTuple):
    """State of :func:`adadelta`: the averages ``e_g = E[g²]``, ``e_x = E[Δ²]``, and the
    update count when a schedule reads it (``None`` otherwise, as in optax)."""

    count: Array | None
    e_g: Updates
    e_x: Updates


class _AdadeltaInit(NamedTuple):
    """What :func:`adadelta`'s ``init`` reads: whether a schedule needs a counter."""

    counted: bool

    def init(self, params: Params) -> AdadeltaState:
        return AdadeltaState(
            count=_common.counter(self.counted),
            e_g=_common.zeros_like(params),
            e_x=_common.zeros_like(params),
        )


class AdadeltaHyperparams(NamedTuple):
    """The hyperparameters of :func:`adadelta`, the leaves of its ``update``."""

    learning_rate: ScalarOrSchedule | None
    rho: ArrayLike
    eps: ArrayLike
    weight_decay: ScalarOrSchedule | None
    weight_decay_mask: Any
    one_minus_rho: ArrayLike

    def update(
        self, updates: Updates, state: AdadeltaState, params: Params | None
    ) -> tuple[Updates, AdadeltaState]:
        grads = _common.add_decayed_weights(
            updates, params, self.weight_decay, self.weight_decay_mask, state.count
        )
        e_g = _common.ema_sq(grads, state.e_g, self.rho, self.one_minus_rho)
        eps = self.eps
        updates = jax.tree.map(
            lambda g, cur_e_g, prev_e_x: (jnp.sqrt(prev_e_x + eps) / jnp.sqrt(cur_e_g + eps)) * g,
            grads,
            e_g,
            state.e_x,
        )
        e_x = _common.ema_sq(updates, state.e_x, self.rho, self.one_minus_rho)
        updates = _common.scale_by_learning_rate(self.learning_rate, updates, state.count)
        new_state = AdadeltaState(count=_common.next_count(state.count), e_g=e_g, e_x=e_x)
        return updates, new_state


def adadelta(
    learning_rate: ScalarOrSchedule | None = None,
    rho: ArrayLike = 0.9,
    eps: ArrayLike = 1e-6,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: Any | Callable[[Params], Any] | None = None,
) -> GradientTransformation:
    """Adadelta, ``Δ = √(E[Δ²] + ε)/√(E[g²] + ε)·g``; optax's ``adadelta``.

    AdaGrad with moving averages (decay ρ) in place of sums, and a step measured
    in the parameters' units: the gradient is scaled by the ratio of the roots of
    the averaged squared step and the averaged squared gradient::

        g̃_t     = g_t + λ·θ_t                          (weight decay λ, on masked leaves)
        E[g²]_t = ρ·E[g²]_{t-1} + (1 - ρ)·g̃_t²
        Δ_t     = √(E[Δ²]_{t-1} + ε)/√(E[g²]_t + ε)·g̃_t
        E[Δ²]_t = ρ·E[Δ²]_{t-1} + (1 - ρ)·Δ_t²
        u_t     = -α_t·Δ_t,   or  +Δ_t  when learning_rate is None

    The default ``learning_rate=None`` applies no scaling and *no sign flip*
    (exactly as optax): the update then points uphill. Pass
    ``learning_rate=1.0`` for the descent step of Zeiler's paper (PyTorch's
    default ``lr=1.0``). ``update`` needs the parameters (for the weight decay,
    even when it is 0, as optax).

    As in optax (whose Adadelta squares with ``g**2``, where Adam, RMSprop and
    AdaGrad use ``|g|²``), ``g²`` and ``Δ²`` are plain squares: for complex
    parameters they are complex, not ``|g|²``.

    Args:
      learning_rate: α: a float, a scalar array, a schedule ``count -> α``, or
        ``None`` for no scaling.
      rho: ρ in [0, 1], the decay of both averages.
      eps: ε ≥ 0, added under both square roots.
      weight_decay: λ ≥ 0 (or a schedule), added to the gradient as ``λ·θ``. The
        Python number 0 (the default) drops it from the program, as optax does.
      weight_decay_mask: which parameters to decay: a pytree of bools with the
        structure of (or a prefix of) the parameters, or a callable returning one.

    Returns:
      A :class:`GradientTransformation` whose state is an :class:`AdadeltaState`.

    Raises:
      TypeError: a hyperparameter of the wrong kind (see :mod:`jaxgd.optim`).
      ValueError: a learning rate, ``eps`` or ``weight_decay`` that is negative or not
        finite, or ``rho`` outside [0, 1].

    Example:
      >>> import jax.numpy as jnp
      >>> opt = adadelta(learning_rate=1.0, rho=0.0, eps=1e-6)
      >>> params = jnp.zeros(1)
      >>> state = opt.init(params)
      >>> updates, state = opt.update(jnp.array([1e-6]), state, params)
      >>> print(f"{float(updates[0]):.3g}")  # -√ε/√(g² + ε)·g ≈ -g for tiny g
      -1e-06
    """
    check_learning_rate("learning_rate", learning_rate, optional=True)
    check_range("rho", rho, 0.0, 1.0, include_high=True, hint="Pass e.g. rho=0.9.")
    check_non_negative("eps", eps, hint="Pass a small constant such as 1e-6.")
    weight_decay = _common.checked_weight_decay(weight_decay, "0.0")
    return transformation(
        _AdadeltaInit(callable(learning_rate) or callable(weight_decay)),
        AdadeltaHyperparams(
            learning_rate, rho, eps, weight_decay, weight_decay_mask, _common.one_minus(rho)
        ),
    )
