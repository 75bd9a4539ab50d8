"""Lion: :func:`lion` and its state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxgd._types import Array, ArrayLike, Params, ScalarOrSchedule, Updates
from jaxgd.optim import _common
from jaxgd.optim._checks import check_learning_rate, check_range
from jaxgd.optim.base import GradientTransformation, transformation


class LionState(NamedTuple):
    """State of :func:`lion`: the update count and the momentum ``m``."""

    count: Array
    mu: Updates


class _LionInit(NamedTuple):
    """What :func:`lion`'s ``init`` reads: the momentum's dtype."""

    mu_dtype: Any

    def init(self, params: Params) -> LionState:
        return LionState(count=_common.zero_count(), mu=_common.zeros_like(params, self.mu_dtype))


class LionHyperparams(NamedTuple):
    """The hyperparameters of :func:`lion`, the leaves of its ``update``."""

    learning_rate: ScalarOrSchedule
    b1: ArrayLike
    b2: ArrayLike
    mu_dtype: Any
    weight_decay: ScalarOrSchedule | None
    mask: Any
    one_minus_b1: ArrayLike
    one_minus_b2: ArrayLike

    def update(
        self, updates: Updates, state: LionState, params: Params | None
    ) -> tuple[Updates, LionState]:
        if params is None:
            raise ValueError(_common.NO_PARAMS_MSG)
        grads = updates
        one_minus_b1, b1 = self.one_minus_b1, self.b1
        updates = jax.tree.map(lambda g, m: jnp.sign(one_minus_b1 * g + b1 * m), grads, state.mu)
        mu = _common.ema(grads, state.mu, self.b2, self.one_minus_b2)
        mu = _common.cast(mu, self.mu_dtype)
        updates = _common.add_decayed_weights(
            updates, params, self.weight_decay, self.mask, state.count
        )
        updates = _common.scale_by_learning_rate(self.learning_rate, updates, state.count)
        return updates, LionState(count=_common.safe_increment(state.count), mu=mu)


def lion(
    learning_rate: ScalarOrSchedule,
    b1: ArrayLike = 0.9,
    b2: ArrayLike = 0.99,
    mu_dtype: Any = None,
    weight_decay: ScalarOrSchedule = 1e-3,
    mask: Any | Callable[[Params], Any] | None = None,
) -> GradientTransformation:
    """Lion, ``u = -α·(sign(β₁·m + (1 - β₁)·g) + λ·θ)``; optax's ``lion``.

    Lion (Chen et al. 2023, found by program search) keeps one moving average
    ``m`` and steps by the *sign* of a blend of it with the current gradient::

        c_t = β₁·m_{t-1} + (1 - β₁)·g_t
        u_t = -α_t·(sign(c_t) + λ_t·θ_t)        (λ·θ on masked leaves only)
        m_t = β₂·m_{t-1} + (1 - β₂)·g_t

    Every coordinate moves by exactly ±α before the weight decay, so α is
    usually 3-10x smaller than AdamW's and λ 3-10x larger. ``update`` needs the
    parameters.

    Args:
      learning_rate: the step size α: a float, a scalar array, or a schedule
        ``count -> α``.
      b1: β₁ in [0, 1), the weight of the momentum in the sign.
      b2: β₂ in [0, 1), the decay of the momentum.
      mu_dtype: dtype of ``m`` in the state; ``None`` keeps the parameters' dtype.
      weight_decay: λ ≥ 0, or a schedule ``count -> λ``; multiplied by α. The
        Python number 0 drops the decay from the program, as optax does.
      mask: which parameters to decay: a pytree of bools with the structure of
        (or a prefix of) the parameters, or a callable returning one.

    Returns:
      A :class:`GradientTransformation` whose state is a :class:`LionState`.

    Raises:
      TypeError: a hyperparameter of the wrong kind (see :mod:`jaxgd.optim`).
      ValueError: a learning rate or ``weight_decay`` that is negative or not finite,
        or ``b1`` or ``b2`` outside [0, 1).

    Example:
      >>> import jax.numpy as jnp
      >>> opt = lion(0.01, weight_decay=0.0)
      >>> params = jnp.zeros(2)
      >>> state = opt.init(params)
      >>> updates, state = opt.update(jnp.array([3.0, -1e-4]), state, params)
      >>> updates  # ±α whatever the gradient's size
      Array([-0.01,  0.01], dtype=float32)
    """
    check_learning_rate("learning_rate", learning_rate)
    check_range("b1", b1, 0.0, 1.0, hint="Pass e.g. b1=0.9.")
    check_range("b2", b2, 0.0, 1.0, hint="Pass e.g. b2=0.99.")
    weight_decay = _common.checked_weight_decay(weight_decay, "1e-3")
    mu_dtype = _common.canonical_dtype(mu_dtype, "mu_dtype")
    return transformation(
        _LionInit(mu_dtype),
        LionHyperparams(
            learning_rate,
            b1,
            b2,
            mu_dtype,
            weight_decay,
            mask,
            _common.one_minus(b1),
            _common.one_minus(b2),
        ),
    )
