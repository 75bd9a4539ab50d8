"""AdamW, Adam with decoupled weight decay: :func:`adamw`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from jaxgd._types import ArrayLike, Params, ScalarOrSchedule, Updates
from jaxgd.optim import _common
from jaxgd.optim._checks import check_flag
from jaxgd.optim.adam import AdamState, _AdamInit, _check_adam, _scale_by_adam
from jaxgd.optim.base import GradientTransformation, transformation

MaskOrFn = Any | Callable[[Params], Any] | None


class AdamWHyperparams(NamedTuple):
    """The hyperparameters of :func:`adamw`, the leaves of its ``update``."""

    learning_rate: ScalarOrSchedule
    b1: ArrayLike
    b2: ArrayLike
    eps: ArrayLike
    eps_root: ArrayLike
    mu_dtype: Any
    weight_decay: ScalarOrSchedule | None
    mask: MaskOrFn
    nesterov: bool
    one_minus_b1: ArrayLike
    one_minus_b2: ArrayLike

    def update(
        self, updates: Updates, state: AdamState, params: Params | None
    ) -> tuple[Updates, AdamState]:
        if params is None:
            raise ValueError(_common.NO_PARAMS_MSG)
        updates, new_state = _scale_by_adam(self, updates, state)
        updates = _common.add_decayed_weights(
            updates, params, self.weight_decay, self.mask, state.count
        )
        updates = _common.scale_by_learning_rate(self.learning_rate, updates, state.count)
        return updates, new_state


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

    The decay ``λ·θ`` is added to the Adam direction, not to the gradient, before
    the learning rate is applied::

        (m̂_t, v̂_t as in :func:`adam`)
        u_t = -α_t·( m̂_t/(√(v̂_t + ε_root) + ε) + λ_t·θ_t )

    The decay is multiplied by the learning rate (as in PyTorch; the paper
    multiplies it by the schedule only). optax's default λ is 1e-4; PyTorch's
    is 1e-2. The decay needs the parameters: call ``update(grads, state, params)``.

    Args:
      learning_rate, b1, b2, eps, eps_root, mu_dtype: as in :func:`adam`.
      weight_decay: λ ≥ 0, or a schedule ``count -> λ``. The Python number 0
        drops the decay from the program, as optax does (an array 0.0 keeps it).
      mask: which parameters to decay: a pytree of bools with the structure of
        (or a prefix of) the parameters, or a callable ``params -> such a
        pytree``; ``None`` decays all. Adam itself is applied to all.
      nesterov: use Nesterov momentum (NAdamW).

    Returns:
      A :class:`GradientTransformation` whose state is an :class:`AdamState`.

    Raises:
      TypeError: a hyperparameter of the wrong kind (see :mod:`jaxgd.optim`).
      ValueError: as :func:`adam`, or a ``weight_decay`` that is negative or not finite.

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
    weight_decay = _common.checked_weight_decay(weight_decay, "1e-4")
    mu_dtype = _common.canonical_dtype(mu_dtype, "mu_dtype")
    return transformation(
        _AdamInit(mu_dtype),
        AdamWHyperparams(
            learning_rate,
            b1,
            b2,
            eps,
            eps_root,
            mu_dtype,
            weight_decay,
            mask,
            nesterov,
            _common.one_minus(b1),
            _common.one_minus(b2),
        ),
    )
