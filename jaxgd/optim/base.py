"""The optimizer interface, shared by every optimizer in :mod:`jaxgd.optim`.

An optimizer is a pair of pure functions, exactly as in optax:

* ``init(params) -> state`` builds the optimizer's state (moment estimates,
  a step counter, ...), a pytree;
* ``update(grads, state, params=None, **extra_args) -> (updates, new_state)``
  turns a gradient into the *update* that ``apply_updates`` adds to the
  parameters. Extra keyword arguments (``value=``, ``grad=``, ``value_fn=``: what
  optax's line searches read, and ``optax.chain`` hands to every link) are
  accepted and ignored, as by optax's ``GradientTransformationExtraArgs``.

Updates are added, so a descent step carries its own minus sign:
plain gradient descent returns ``u = -α·g`` and ``apply_updates`` gives
``θ_new = θ + u = θ - α·g``.

How an optimizer holds its hyperparameters: each factory builds two small
:class:`~typing.NamedTuple` objects and hands them to :func:`transformation`:

* its *hyperparameters* (``SgdHyperparams(learning_rate, momentum, nesterov,
  accumulator_dtype)``), whose ``update`` method is the update rule;
* what its ``init`` reads to build the state (whether a counter or a momentum
  buffer is kept, the moments' dtype), whose ``init`` method builds it.

``init`` and ``update`` are :class:`jax.tree_util.Partial` objects of two
functions shared by all optimizers, each holding one of these NamedTuples as
its single argument. That makes the optimizer itself a pytree whose leaves are
its hyperparameters, named: ``jax.tree_util.tree_flatten_with_path(adam(0.1))``
shows paths ending in ``.learning_rate``, ``.b1``, ... The class of each
NamedTuple, and so the rule, is part of the tree's structure, not a leaf.
:func:`jaxgd.fit` passes the numeric leaves to its compiled function as
arguments and keeps the rest (flags, dtypes, schedule functions) static, so a
new learning rate reuses the compiled program instead of building a new one;
:func:`jaxgd.sweep` maps over the same leaves.

The NamedTuple is a positional-only argument of the shared ``update``, so an
extra keyword argument that happens to share a hyperparameter's name
(``learning_rate=...``) is ignored like any other, never taken for it.

Values that optax derives from hyperparameters on Python numbers are computed
by the factory and kept as fields of their own: ``one_minus_b1`` is ``1 - b1``
(see ``_common.one_minus`` for why). To change a hyperparameter, build a new
optimizer rather than editing one field.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from jaxgd._types import OptState, Params, Updates


class TransformInitFn(Protocol):
    """``init(params) -> state``."""

    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    """``update(updates, state, params=None, **extra_args) -> (updates, state)``.

    optax's ``TransformUpdateExtraArgsFn``: keyword arguments the optimizer does not
    use (``value``, ``grad``, ``value_fn``, ...) are accepted and ignored.
    """

    def __call__(
        self,
        updates: Updates,
        state: OptState,
        params: Params | None = None,
        **extra_args: Any,
    ) -> tuple[Updates, OptState]: ...


class GradientTransformation(NamedTuple):
    """An optimizer: ``init(params) -> state``, ``update(grads, state, params) -> (u, state)``.

    Field for field the same as ``optax.GradientTransformation``, so a jaxgd
    optimizer can be used wherever optax expects one (``optax.chain`` too).
    Like ``optax.GradientTransformationExtraArgs``, ``update`` also accepts and
    ignores extra keyword arguments (``update(g, state, params, value=loss)``).
    """

    init: TransformInitFn
    update: TransformUpdateFn


class EmptyState(NamedTuple):
    """The state of a transformation that keeps none."""


class StateInit(Protocol):
    """What an optimizer's ``init`` holds: a NamedTuple of what shapes its state."""

    def init(self, params: Params) -> OptState:
        """The optimizer's first state for ``params``."""
        ...


class UpdateRule(Protocol):
    """What an optimizer's ``update`` holds: a NamedTuple of its hyperparameters."""

    def update(
        self, updates: Updates, state: OptState, params: Params | None
    ) -> tuple[Updates, OptState]:
        """The update rule with these hyperparameters: ``(updates, new_state)``."""
        ...


def _init(state_init: StateInit, params: Params) -> OptState:
    return state_init.init(params)


def _update(
    hyperparams: UpdateRule,
    /,
    updates: Updates,
    state: OptState,
    params: Params | None = None,
    **extra_args: Any,
) -> tuple[Updates, OptState]:
    del extra_args
    return hyperparams.update(updates, state, params)


def transformation(state_init: StateInit, hyperparams: UpdateRule) -> GradientTransformation:
    """The optimizer whose ``init`` is ``state_init.init`` and ``update`` ``hyperparams.update``.

    Both are :class:`jax.tree_util.Partial` objects holding the NamedTuple as their
    only argument, so the optimizer is a pytree whose leaves are the NamedTuples'
    fields (see the module docstring); ``update`` also takes and ignores extra
    keyword arguments.

    Args:
      state_init: a NamedTuple with a method ``init(params) -> state``.
      hyperparams: a NamedTuple of hyperparameters with a method
        ``update(updates, state, params) -> (updates, new_state)``.

    Returns:
      The :class:`GradientTransformation`.
    """
    return GradientTransformation(Partial(_init, state_init), Partial(_update, hyperparams))


def apply_updates(params: Params, updates: Updates) -> Params:
    """Return ``params + updates`` leaf by leaf, keeping each parameter's dtype.

    Args:
      params: a pytree of parameters.
      updates: a pytree of the same structure, as returned by ``update``.

    Returns:
      The new parameters, with the structure, shapes and dtypes of ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> apply_updates({"w": jnp.array([1.0, 2.0])}, {"w": jnp.array([-0.5, 0.5])})
      {'w': Array([0.5, 2.5], dtype=float32)}
    """
    return jax.tree.map(
        lambda p, u: None if p is None else jnp.asarray(p + u).astype(jnp.asarray(p).dtype),
        params,
        updates,
        is_leaf=lambda x: x is None,
    )
