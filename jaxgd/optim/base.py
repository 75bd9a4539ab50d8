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

Every jaxgd optimizer builds ``init`` and ``update`` as
:class:`jax.tree_util.Partial` objects holding its hyperparameters as
arguments. That makes the optimizer itself a pytree whose leaves are its
numeric hyperparameters: :func:`jaxgd.fit` passes those leaves to its
compiled function as arguments, so a new learning rate reuses the compiled
program instead of building a new one. The hyperparameters are positional-only
arguments of the function inside ``update``, so an extra keyword argument that
happens to share a hyperparameter's name (``learning_rate=...``) is ignored like
any other, never taken for it.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

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
