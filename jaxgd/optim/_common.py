"""Pieces shared by the optimizers: counters, learning-rate scaling, moments, weight decay.

Each helper spells out one step of optax 0.2.8's arithmetic in the same order
(same operands, same association, same casts), so that a jaxgd optimizer and
its optax twin round identically. Where optax computes something in a
particular way for a numerical reason, the comment says so.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from jaxgd._types import Array, Params, ScalarOrSchedule, Updates
from jaxgd.optim._checks import check_non_negative

NO_PARAMS_MSG = (
    "this optimizer applies weight decay, which needs the parameters: call "
    "update(grads, state, params) with params."
)


def zero_count() -> Array:
    """A fresh update counter: an int32 scalar 0."""
    return jnp.zeros([], jnp.int32)


def counter(needed: bool) -> Array | None:
    """A fresh update counter if something reads it (a schedule, a bias correction), else None.

    optax keeps a counter only in the links of its chain that read one (``sgd(0.1)``
    has none, ``sgd(schedule)`` has one); jaxgd's states do the same. A counter that
    nothing reads would still be incremented at every update (of every lane of a sweep).
    """
    return zero_count() if needed else None


def next_count(count: Array | None) -> Array | None:
    """:func:`safe_increment` of a counter; ``None`` (no counter kept) stays ``None``."""
    return None if count is None else safe_increment(count)


def safe_increment(count: Array) -> Array:
    """``count + 1``, saturating at the dtype's maximum instead of wrapping around."""
    count_dtype = jnp.asarray(count).dtype
    if jnp.issubdtype(count_dtype, jnp.integer):
        max_value = jnp.iinfo(count_dtype).max
    else:
        max_value = jnp.finfo(count_dtype).max
    max_value = jnp.array(max_value, count_dtype)
    one = jnp.array(1, count_dtype)
    return jnp.where(count < max_value, count + one, max_value)


def canonical_dtype(dtype: Any, name: str = "dtype") -> Any:
    """``dtype`` as JAX will store it (float64 → float32 without x64); ``None`` stays ``None``.

    Raises:
      TypeError: naming ``name`` when ``dtype`` is not a dtype.
    """
    if dtype is None:
        return None
    try:
        return jax.dtypes.canonicalize_dtype(dtype)
    except TypeError:
        raise TypeError(
            f"{name}={dtype!r} is not a dtype; pass e.g. jnp.bfloat16, or None to keep the "
            "parameters' dtype."
        ) from None


def zeros_like(tree: Any, dtype: Any = None) -> Any:
    """A tree of zeros shaped like ``tree`` (in ``dtype`` if given)."""
    return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def full_like(tree: Any, fill_value: Any) -> Any:
    """A tree shaped and typed like ``tree``, every entry ``fill_value``."""
    return jax.tree.map(lambda x: jnp.full_like(x, fill_value), tree)


def cast(tree: Any, dtype: Any) -> Any:
    """Cast every leaf to ``dtype``; ``None`` leaves the tree as it is."""
    if dtype is None:
        return tree
    return jax.tree.map(lambda t: t.astype(dtype), tree)


def cast_like(tree: Any, other: Any) -> Any:
    """Cast every leaf of ``tree`` to the dtype of the matching leaf of ``other``."""
    return jax.tree.map(lambda t, o: t.astype(o.dtype), tree, other)


def one_minus(value: Any) -> Any:
    """``1 - value``, computed when the optimizer is built.

    optax evaluates ``1 - β`` on the Python number (in double precision) and
    rounds the result once to the gradients' dtype. Keeping that difference as
    a hyperparameter of its own, computed the same way, gives the same constant
    even when the hyperparameters later enter a compiled program as float32
    arguments (as in :func:`jaxgd.fit`), where ``1 - float32(β)`` would differ
    in the last bits. For arrays and tracers it is the same ``1 - β`` as optax's.
    """
    return 1 - value


def ema(grads: Updates, moments: Any, decay: Any, one_minus_decay: Any) -> Any:
    """First moment: ``(1 - β)·g + β·m`` per leaf (``1 - β`` from :func:`one_minus`)."""
    return jax.tree.map(lambda g, t: one_minus_decay * g + decay * t, grads, moments)


def ema_sq(grads: Updates, moments: Any, decay: Any, one_minus_decay: Any) -> Any:
    """``(1 - β)·g² + β·v`` per leaf, ``g²`` the plain square (``1 - β`` from :func:`one_minus`).

    optax's ``update_moment(g, v, β, 2)``, which only Adadelta uses; for complex ``g`` it
    is the complex square ``g·g``, not ``|g|²`` (as in optax). The second moments of
    Adam and RMSprop use :func:`ema_abs_sq`.
    """
    return jax.tree.map(lambda g, t: one_minus_decay * (g**2) + decay * t, grads, moments)


def abs_sq(x: Array) -> Array:
    """``|x|²`` as a real array: ``(x̄·x).real``, optax's ``numerics.abs_sq``.

    For real ``x`` it is ``x·x`` (``conj`` and ``real`` are no-ops, the program is the
    same); for complex ``x`` it is ``re(x)² + im(x)²``, real, where ``x²`` would be complex.
    """
    return (x.conj() * x).real


def _norm_sq(g: Array) -> Array:
    """``|g|²`` as optax's ``update_moment_per_elem_norm`` spells it for order 2.

    A real ``g`` is squared as ``g**2``; a complex one as ``abs_sq(g) ** 1`` (optax
    raises ``abs_sq`` to the integer power ``order / 2``; kept for the same program).
    """
    if jnp.isrealobj(g):
        return g**2
    return abs_sq(g) ** 1


def ema_abs_sq(grads: Updates, moments: Any, decay: Any, one_minus_decay: Any) -> Any:
    """Second moment ``(1 - β)·|g|² + β·v`` per leaf (``1 - β`` from :func:`one_minus`).

    optax's ``update_moment_per_elem_norm(g, v, β, 2)`` (Adam's and RMSprop's ``ν``):
    ``g²`` for real ``g``, ``|g|² = re(g)² + im(g)²`` for complex ``g``. The moment keeps
    the parameters' dtype, so for complex parameters it is complex with a zero imaginary
    part, as in optax.
    """
    return jax.tree.map(lambda g, t: one_minus_decay * _norm_sq(g) + decay * t, grads, moments)


@functools.partial(jax.jit, inline=True)
def bias_correction(moment: Any, decay: Any, count: Array) -> Any:
    """``m / (1 - β^t)`` per leaf.

    ``1 - β^t`` is computed in the default float precision and only then cast to
    the moment's dtype: computing ``β^t`` in bfloat16 would round it to 1 and
    divide by zero. Compiled (and inlined) as optax does, so that ``β`` enters
    as a traced scalar of the default float dtype on both sides.
    """
    correction = 1 - decay**count
    return jax.tree.map(lambda t: t / correction.astype(t.dtype), moment)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule | None,
    updates: Updates,
    count: Array,
) -> Updates:
    """``-α·u``; ``α`` a number, or a schedule read at ``count``; ``None`` leaves ``u`` as is.

    A constant is applied as ``(-α)·u`` in the promotion of ``α`` with ``u``; a
    schedule's value is cast to each leaf's dtype first, as optax does.
    """
    if learning_rate is None:
        return updates
    if callable(learning_rate):
        step_size = -1 * learning_rate(count)
        return jax.tree.map(lambda g: jnp.array(step_size, dtype=g.dtype) * g, updates)
    step_size = -1 * learning_rate
    return jax.tree.map(lambda g: step_size * g, updates)


def multiply(scales: Any, updates: Updates) -> Updates:
    """``s·u`` per leaf: a per-coordinate scaling (a preconditioner) applied to the updates."""
    return jax.tree.map(lambda s, g: s * g, scales, updates)


def trace(updates: Updates, trace_tree: Any, decay: Any, nesterov: bool) -> tuple[Updates, Any]:
    """Heavy-ball momentum ``m = u + μ·m``; returns ``(m or u + μ·m if nesterov, m)``."""
    new_trace = jax.tree.map(lambda g, t: g + decay * t, updates, trace_tree)
    if nesterov:
        updates = jax.tree.map(lambda g, t: g + decay * t, updates, new_trace)
    else:
        updates = new_trace
    return updates, new_trace


def _mask_is_callable(mask: Any) -> bool:
    callable_leaves = jax.tree.leaves(jax.tree.map(callable, mask))
    return len(callable_leaves) > 0 and all(callable_leaves)


def weight_decay_argument(weight_decay: Any) -> Any:
    """``None`` for a weight decay given as the Python number 0, else ``weight_decay``.

    optax leaves ``u + 0·θ`` out of its program when the decay is the number 0;
    doing the same keeps the compiled programs identical (XLA fuses, and
    contracts multiply-adds, differently when the extra add is there). This is
    decided when the optimizer is built, from a Python number: arrays, tracers
    and schedules are kept, so a swept decay stays a traced hyperparameter.
    """
    is_number = isinstance(weight_decay, (int, float)) and not isinstance(weight_decay, bool)
    return None if is_number and weight_decay == 0 else weight_decay


def checked_weight_decay(weight_decay: Any, example: str) -> Any:
    """Check a weight decay λ (finite and ``>= 0``, or a schedule); :func:`weight_decay_argument`.

    ``example`` is the value the error's hint suggests (the factory's default).
    """
    check_non_negative(
        "weight_decay",
        weight_decay,
        hint=f"Pass e.g. weight_decay={example}, or a schedule.",
        schedule=True,
    )
    return weight_decay_argument(weight_decay)


def add_decayed_weights(
    updates: Updates,
    params: Params | None,
    weight_decay: ScalarOrSchedule | None,
    mask: Any,
    count: Array,
) -> Updates:
    """``u + λ·θ`` on the leaves selected by ``mask`` (all when ``mask`` is ``None``).

    ``mask`` is a pytree of bools with the structure of (or a prefix of) the
    parameters, or a callable ``updates -> such a pytree``; ``λ`` a number or a
    schedule read at ``count``, or ``None`` for no decay (see
    :func:`weight_decay_argument`). ``params`` are required either way, as in optax.
    """
    if params is None:
        raise ValueError(NO_PARAMS_MSG)
    if weight_decay is None:
        return updates
    decay = weight_decay(count) if callable(weight_decay) else weight_decay

    def apply(u: Any, p: Any) -> Any:
        return jax.tree.map(lambda g, q: g + decay * q, u, p)

    if mask is None:
        return apply(updates, params)
    mask_tree = mask(updates) if _mask_is_callable(mask) else mask

    def select(m: Any, u: Any, p: Any) -> Any:
        return apply(u, p) if m else u

    return jax.tree.map(select, mask_tree, updates, params)
