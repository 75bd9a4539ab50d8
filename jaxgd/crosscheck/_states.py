"""How a jaxgd optimizer state corresponds to optax's, and the distance between the two."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd.crosscheck._distances import tree_stats

# optax builds each optimizer as a chain of transformations; its state is a
# tuple with one entry per link. Each link's state is a NamedTuple whose fields
# carry the same names as the fields of the jaxgd state that hold the same
# information (jaxgd keeps one flat NamedTuple per optimizer):
#
#   optax state class               fields                 jaxgd field(s)
#   TraceState                      trace                  trace        (sgd, rmsprop momentum)
#   ScaleByScheduleState            count                  count        (schedule learning rate)
#   WeightDecaySchedule             count                  count        (schedule weight decay)
#   ScaleByRssState                 sum_of_squares         sum_of_squares (adagrad)
#   ScaleByRmsState                 nu                     nu           (rmsprop)
#   ScaleByRmsWithCountState        count, nu              count, nu    (rmsprop, bias_correction)
#   ScaleByRStdDevState             mu, nu                 mu, nu       (rmsprop, centered)
#   ScaleByRStdDevWithCountState    count, mu, nu          count, mu, nu
#   ScaleByAdamState                count, mu, nu          count, mu, nu (adam*, adamax)
#   ScaleByLionState                count, mu              count, mu    (lion)
#   ScaleByAdaDeltaState            e_g, e_x               e_g, e_x     (adadelta)
#   EmptyState, MaskedNode          -                      -
#   MaskedState(inner_state)        (the inner state's)
#
# Every optax counter counts the updates taken, so all of them equal jaxgd's
# single ``count`` (an int32 scalar). Both keep a counter only where something
# reads it (a schedule, a bias correction, Adam's moments); elsewhere jaxgd's
# ``count`` is ``None``. Fields jaxgd sets to ``None`` (no momentum, not
# centered, no counter) have no optax counterpart, and every other field has one.
_OPTAX_STATE_FIELDS: dict[str, tuple[str, ...]] = {
    "TraceState": ("trace",),
    "ScaleByScheduleState": ("count",),
    "WeightDecaySchedule": ("count",),
    "ScaleByRssState": ("sum_of_squares",),
    "ScaleByRmsState": ("nu",),
    "ScaleByRmsWithCountState": ("count", "nu"),
    "ScaleByRStdDevState": ("mu", "nu"),
    "ScaleByRStdDevWithCountState": ("count", "mu", "nu"),
    "ScaleByAdamState": ("count", "mu", "nu"),
    "ScaleByLionState": ("count", "mu"),
    "ScaleByAdaDeltaState": ("e_g", "e_x"),
}
_OPTAX_EMPTY_STATES = ("EmptyState", "MaskedNode")


def optax_state_fields(optax_state: Any) -> dict[str, Any]:
    """The fields of an optax optimizer state, named as the matching jaxgd state fields.

    This is the one place that says how jaxgd's states correspond to optax's
    (see the table in the source above): the optax state, a tuple with one
    entry per link of its chain, is walked and each known state's fields are
    collected under their (shared) names.

    Args:
      optax_state: the state of one of optax's ``sgd``, ``adagrad``, ``rmsprop``,
        ``adam``, ``adamw``, ``nadam``, ``adamax``, ``adadelta``, ``lion``.

    Returns:
      ``{jaxgd field name: value}`` for every field optax keeps; compare with
      ``getattr(jaxgd_state, name)``.

    Raises:
      TypeError: for a state class not in the table.
      ValueError: if two of optax's counters disagree.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> state = optax.sgd(0.1, momentum=0.9).init(jnp.zeros(2))
      >>> optax_state_fields(state)
      {'trace': Array([0., 0.], dtype=float32)}
    """
    fields: dict[str, Any] = {}
    counts: list[Any] = []

    def walk(node: Any) -> None:
        name = type(node).__name__
        if name == "MaskedState":
            walk(node.inner_state)
        elif name in _OPTAX_EMPTY_STATES:
            return
        elif name in _OPTAX_STATE_FIELDS:
            for field in _OPTAX_STATE_FIELDS[name]:
                value = getattr(node, field)
                if field == "count":
                    counts.append(value)
                else:
                    fields[field] = value
        elif isinstance(node, tuple) and not hasattr(node, "_fields"):
            for child in node:
                walk(child)
        else:
            raise TypeError(f"no jaxgd counterpart is known for optax state {name}.")

    walk(optax_state)
    if counts:
        if any(int(c) != int(counts[0]) for c in counts[1:]):
            raise ValueError(f"optax's counters disagree: {[int(c) for c in counts]}.")
        fields = {"count": counts[0], **fields}
    return fields


def matching_state_fields(state: Any, optax_state: Any) -> dict[str, tuple[Any, Any]]:
    """``{field: (jaxgd value, optax value)}`` for every field both states keep.

    Args:
      state: a jaxgd optimizer state (a NamedTuple such as ``AdamState``).
      optax_state: the state of the optax twin.

    Returns:
      The pairs to compare, keyed by field name.

    Raises:
      ValueError: if one side keeps a field that the other lacks (or leaves ``None``):
        the two states must hold the same information.
    """
    pairs = {}
    theirs = optax_state_fields(optax_state)
    for name, value in theirs.items():
        ours = getattr(state, name, None)
        if ours is None:
            raise ValueError(
                f"optax keeps {name!r} but the jaxgd state {type(state).__name__} has none."
            )
        pairs[name] = (ours, value)
    kept = state._asdict() if hasattr(state, "_asdict") else {}
    extra = [n for n, v in kept.items() if v is not None and n not in theirs]
    if extra:
        raise ValueError(
            f"the jaxgd state {type(state).__name__} keeps {', '.join(extra)}, "
            "which the optax state has no counterpart of."
        )
    return pairs


def state_stats(state: Any, optax_state: Any) -> dict[str, float | int]:
    """:func:`tree_stats` over the fields both states keep (see :func:`matching_state_fields`).

    Integer fields (counters) count as 0 when equal and as infinitely far apart
    otherwise.

    Args:
      state: a jaxgd optimizer state.
      optax_state: the optax twin's state.

    Returns:
      ``{"max_abs", "max_rel", "max_ulp"}`` over every float entry of the shared fields.
    """
    ours, theirs = [], []
    mismatch = False
    for value, optax_value in matching_state_fields(state, optax_state).values():
        for a, b in zip(jax.tree.leaves(value), jax.tree.leaves(optax_value), strict=True):
            a, b = jnp.asarray(a), jnp.asarray(b)
            if jnp.issubdtype(a.dtype, jnp.floating):
                ours.append(a)
                theirs.append(b)
            else:
                mismatch = mismatch or bool(jnp.any(a != b))
    stats = tree_stats(ours, theirs)
    if mismatch:
        stats = {"max_abs": math.inf, "max_rel": math.inf, "max_ulp": np.iinfo(np.uint64).max}
    return stats
