"""Stochastic gradient descent, with optional (Nesterov) momentum: :func:`sgd` and its state."""

from __future__ import annotations

from typing import Any, NamedTuple

from jaxgd._types import Array, ArrayLike, Params, ScalarOrSchedule, Updates
from jaxgd.optim import _common
from jaxgd.optim._checks import check_flag, check_learning_rate, check_momentum
from jaxgd.optim.base import GradientTransformation, transformation


class SgdState(NamedTuple):
    """State of :func:`sgd`.

    ``count`` is the number of updates taken, kept only when the learning rate is a
    schedule (which reads it), as in optax; ``trace`` the momentum buffer ``m``
    (optax's ``TraceState.trace``), ``None`` without momentum.
    """

    count: Array | None
    trace: Updates = None


class _SgdInit(NamedTuple):
    """What :func:`sgd`'s ``init`` reads: is there a momentum buffer, its dtype, a counter."""

    momentum: ArrayLike | None
    accumulator_dtype: Any
    counted: bool

    def init(self, params: Params) -> SgdState:
        trace = None
        if self.momentum is not None:
            trace = _common.zeros_like(params, self.accumulator_dtype)
        return SgdState(count=_common.counter(self.counted), trace=trace)


class SgdHyperparams(NamedTuple):
    """The hyperparameters of :func:`sgd`, the leaves of its ``update``."""

    learning_rate: ScalarOrSchedule
    momentum: ArrayLike | None
    nesterov: bool
    accumulator_dtype: Any

    def update(
        self, updates: Updates, state: SgdState, params: Params | None
    ) -> tuple[Updates, SgdState]:
        del params
        trace = None
        if self.momentum is not None:
            updates, trace = _common.trace(updates, state.trace, self.momentum, self.nesterov)
            trace = _common.cast(trace, self.accumulator_dtype)
        updates = _common.scale_by_learning_rate(self.learning_rate, updates, state.count)
        return updates, SgdState(count=_common.next_count(state.count), trace=trace)


def sgd(
    learning_rate: ScalarOrSchedule,
    momentum: ArrayLike | None = None,
    nesterov: bool = False,
    accumulator_dtype: Any = None,
) -> GradientTransformation:
    """Gradient descent ``u = -α·g``, with optional (Nesterov) momentum; optax's ``sgd``.

    Plain gradient descent moves every parameter against its gradient,
    ``θ_{t+1} = θ_t - α_t·g_t`` with ``g_t = ∂L/∂θ(θ_t)``, so the update is
    ``u_t = -α_t·g_t``. With momentum μ (optax's ``trace``, PyTorch's
    ``SGD(momentum=μ)``)::

        m_t = g_t + μ·m_{t-1}           (m_0 = 0)
        u_t = -α_t·m_t                  (nesterov=False: heavy ball)
        u_t = -α_t·(g_t + μ·m_t)        (nesterov=True)

    The momentum buffer sums gradients (it is not an average): with a constant
    gradient the step tends to ``α·g / (1 - μ)``.

    Args:
      learning_rate: the step size α: a float, a scalar array, or a schedule
        ``count -> α`` evaluated at the number of updates taken so far.
      momentum: μ in [0, 1), or ``None`` (the default) for no momentum buffer at all.
      nesterov: use Nesterov's look-ahead form ``g + μ·m``.
      accumulator_dtype: dtype of the momentum buffer (e.g. ``jnp.bfloat16``);
        ``None`` keeps the parameters' dtype.

    Returns:
      A :class:`GradientTransformation` whose state is an :class:`SgdState`.

    Raises:
      TypeError: a hyperparameter of the wrong kind (see :mod:`jaxgd.optim`).
      ValueError: a learning rate that is negative or not finite, or a momentum
        outside [0, 1).

    Example:
      >>> import jax.numpy as jnp
      >>> opt = sgd(0.1)
      >>> state = opt.init({"w": jnp.ones(2)})
      >>> updates, state = opt.update({"w": jnp.array([1.0, -2.0])}, state)
      >>> updates["w"]
      Array([-0.1,  0.2], dtype=float32)
      >>> opt = sgd(0.1, momentum=0.9)
      >>> state = opt.init(jnp.zeros(1))
      >>> for _ in range(2):
      ...     updates, state = opt.update(jnp.ones(1), state)
      >>> updates  # -0.1 * (1 + 0.9 * 1)
      Array([-0.19], dtype=float32)
    """
    check_learning_rate("learning_rate", learning_rate)
    check_momentum("momentum", momentum, none_means="plain SGD")
    check_flag("nesterov", nesterov)
    accumulator_dtype = _common.canonical_dtype(accumulator_dtype, "accumulator_dtype")
    return transformation(
        _SgdInit(momentum, accumulator_dtype, callable(learning_rate)),
        SgdHyperparams(learning_rate, momentum, nesterov, accumulator_dtype),
    )
