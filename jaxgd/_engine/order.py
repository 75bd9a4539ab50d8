"""The data order: which examples update ``t`` sees.

One definition, :func:`epoch_order`, states the order of an epoch; it is computed by a
fast path proven equal to the plain reading of the definition (tests compare the two on
many data sizes and on keys tied on purpose). :func:`batch_indices` cuts a
chunk's updates out of those orders, or draws them with replacement; :func:`select_batch`
takes the examples.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxgd._engine.plan import Plan
from jaxgd._types import Array, Batch, PRNGKey

RANDOM_BITS = 32
MIN_KEY_BITS = 20


def key_bits(n_examples: int) -> int:
    """How many random bits an example's sort key keeps: 32 less the bits of an index
    (``ceil(log2 n)``, at least 1) while at least 20 remain, i.e. up to 4,096 examples;
    all 32 for larger data sets."""
    index_bits = max(1, (n_examples - 1).bit_length())
    kept = RANDOM_BITS - index_bits
    return kept if kept >= MIN_KEY_BITS else RANDOM_BITS


def _epoch_bits(key: PRNGKey, epoch: Array | int, n_examples: int) -> Array:
    return jax.random.bits(jax.random.fold_in(key, epoch), (n_examples,), jnp.uint32)


def order_by_keys(bits: Array) -> Array:
    """The permutation that sorts examples by their keys (the top :func:`key_bits` of
    ``bits``), equal keys in index order: the definition of the data order."""
    sort_keys = bits >> (RANDOM_BITS - key_bits(bits.shape[0]))
    return jnp.argsort(sort_keys, stable=True).astype(jnp.int32)


def order_by_packed_keys(bits: Array) -> Array:
    """:func:`order_by_keys`, computed as one sort of one array where keys leave room.

    When a key keeps fewer than 32 bits, the index fits in the bits it drops:
    ``key << index_bits | index`` is unique per example and orders as (key, index), so
    sorting that one array (XLA:CPU sorts one array several times faster than it sorts
    keys with indices alongside, as an argsort does) and keeping the low bits gives the
    same permutation.
    """
    n_examples = bits.shape[0]
    kept = key_bits(n_examples)
    if kept == RANDOM_BITS:
        return order_by_keys(bits)
    index_mask = jnp.uint32(2 ** (RANDOM_BITS - kept) - 1)
    packed = (bits & ~index_mask) | jnp.arange(n_examples, dtype=jnp.uint32)
    return (jnp.sort(packed) & index_mask).astype(jnp.int32)


def epoch_order(key: PRNGKey, epoch: Array | int, n_examples: int) -> Array:
    """The example order of one epoch: a random permutation of ``0 … n − 1``.

    Draw 32 random bits per example from ``fold_in(key, epoch)``; an example's sort key
    is the top :func:`key_bits` of them; the examples are sorted by key, equal keys in
    index order. With at least 20 random bits per key, the expected number of tied
    pairs, ``n (n − 1) / 2^(key_bits + 1)``, is below 8 per epoch. One random draw and a
    sort: no key split as in ``jax.random.permutation``.

    Computed by :func:`order_by_packed_keys`; :func:`plain_epoch_order` is the same
    definition written plainly (:func:`order_by_keys`), and tests hold the two equal.
    """
    return order_by_packed_keys(_epoch_bits(key, epoch, n_examples))


def plain_epoch_order(key: PRNGKey, epoch: Array | int, n_examples: int) -> Array:
    """:func:`epoch_order` as its definition reads: an argsort of the keys, stable."""
    return order_by_keys(_epoch_bits(key, epoch, n_examples))


def padded_length(plan: Plan) -> int:
    """Examples per epoch as batches walk them: padded to whole batches when masked."""
    return plan.updates_per_epoch * plan.batch_size if plan.masked else plan.n_examples


def _padded_epoch_order(plan: Plan, key: PRNGKey, epoch: Array) -> Array:
    """The epoch's order; with masking, padded with ``n_examples`` (= absent)."""
    order = epoch_order(key, epoch, plan.n_examples)
    padding = padded_length(plan) - plan.n_examples
    return jnp.concatenate([order, jnp.full((padding,), plan.n_examples, order.dtype)])


def batch_indices(plan: Plan, key: PRNGKey, ts: Array) -> Array | None:
    """The example indices of the batches of updates ``ts``: ``[len(ts), batch_size]``.

    ``None`` for batch GD. Update ``t`` of epoch ``e = t // u`` (``u`` updates per epoch)
    takes slice ``t % u`` of size ``k`` of the epoch's order; with masking, absent
    examples of a smaller last batch are ``n_examples``. With ``sampling="replacement"``
    it takes ``k`` indices drawn uniformly from ``fold_in(key, t)``. All the random
    draws of a chunk of updates are made here, at once (one compiled site for the
    permutations, not one per step variant).
    """
    if plan.batch_size is None:
        return None
    k = plan.batch_size
    if plan.sampling == "replacement":

        def draw(t: Array) -> Array:
            return jax.random.randint(jax.random.fold_in(key, t), (k,), 0, plan.n_examples)

        return jax.vmap(draw)(ts).astype(jnp.int32)
    per_epoch = plan.updates_per_epoch
    first = ts[0] // per_epoch
    n_epochs = (ts.shape[0] - 1) // per_epoch + 2  # the most epochs len(ts) updates can touch
    orders = jax.vmap(lambda e: _padded_epoch_order(plan, key, e))(first + jnp.arange(n_epochs))

    def cut(t: Array) -> Array:
        row = orders[t // per_epoch - first]
        return jax.lax.dynamic_slice_in_dim(row, (t % per_epoch) * k, k)

    return jax.vmap(cut)(ts)


def select_batch(plan: Plan, data: Batch | None, index: Array | None) -> tuple[Any, Any, Any]:
    """``(x_b, y_b, weights)`` for one update; weights are None unless the batch is masked."""
    if index is None:
        return (*((None, None) if data is None else data), None)
    x, y = data
    if not plan.masked:
        return x[index], y[index], None
    present = index < plan.n_examples
    index = jnp.where(present, index, 0)
    return x[index], y[index], present
