"""Distances between float arrays and pytrees: absolute, relative and in ULPs."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxgd._types import Array


@jax.jit
def ulp_distance(a: Any, b: Any) -> Array:
    """Elementwise distance between two float arrays in units in the last place.

    Each float is viewed as the signed integer of the same width; negative
    values are mapped to ``INT_MIN - i`` so that the integers are ordered like
    the floats (``+0`` and ``-0`` both become 0), and the distance is the
    difference of the two integers, as an unsigned integer of the same width.
    Adjacent floats are 1 apart; two NaNs are 0 apart, a NaN and a number the
    maximum. float64 needs ``jax_enable_x64``. Where the device flushes
    subnormals to zero (XLA on CPU does), they count as zero.

    Args:
      a: a float array (float16, bfloat16, float32 or float64).
      b: an array of the same shape and dtype.

    Returns:
      An unsigned integer array of ``a``'s shape (uint32 for float32).

    Example:
      >>> import jax.numpy as jnp
      >>> one = jnp.float32(1.0)
      >>> int(ulp_distance(one, jnp.nextafter(one, jnp.float32(2.0))))
      1
      >>> int(ulp_distance(jnp.float32(-0.0), jnp.float32(0.0)))
      0
    """
    a, b = jnp.asarray(a), jnp.asarray(b)
    if a.dtype != b.dtype:
        raise ValueError(f"ulp_distance needs equal dtypes, got {a.dtype} and {b.dtype}.")
    if not jnp.issubdtype(a.dtype, jnp.floating):
        raise ValueError(f"ulp_distance needs floats, got {a.dtype}.")
    width = a.dtype.itemsize
    signed = {2: jnp.int16, 4: jnp.int32, 8: jnp.int64}[width]
    unsigned = {2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint64}[width]

    def ordered(x: Array) -> Array:
        bits = jax.lax.bitcast_convert_type(jnp.where(x == 0, jnp.zeros_like(x), x), signed)
        return jnp.where(bits < 0, jnp.array(jnp.iinfo(signed).min, signed) - bits, bits)

    ia, ib = ordered(a), ordered(b)
    ua = jax.lax.bitcast_convert_type(ia, unsigned)
    ub = jax.lax.bitcast_convert_type(ib, unsigned)
    distance = jnp.where(ia >= ib, ua - ub, ub - ua)  # modular, exact: the true gap < 2^width
    nan_a, nan_b = jnp.isnan(a), jnp.isnan(b)
    distance = jnp.where(nan_a | nan_b, jnp.array(jnp.iinfo(unsigned).max, unsigned), distance)
    return jnp.where(nan_a & nan_b, jnp.zeros_like(distance), distance)


@jax.jit
def _leaf_stats(a: Array, b: Array) -> tuple[Array, Array, Array]:
    """``(max |a - b|, max |a - b|/max(|a|, |b|), max ULP distance)`` over one leaf."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    wide = jnp.promote_types(a.dtype, jnp.float32)
    same = (a == b) | (jnp.isnan(a) & jnp.isnan(b))
    aw, bw = a.astype(wide), b.astype(wide)
    diff = jnp.where(same, 0, jnp.abs(aw - bw))
    diff = jnp.where(jnp.isnan(diff), jnp.inf, diff)
    scale = jnp.maximum(jnp.abs(aw), jnp.abs(bw))
    rel = jnp.where(same, 0, diff / jnp.where(same, 1, scale))
    rel = jnp.where(jnp.isnan(rel), jnp.inf, rel)
    ulp = ulp_distance(a, b)
    return (
        jnp.max(diff, initial=0),
        jnp.max(rel, initial=0),
        jnp.max(ulp, initial=0),
    )


def _tree_stats_by_dtype(a: Any, b: Any) -> list[tuple[Array, Array, Array]]:
    """:func:`_leaf_stats` over the leaves of each dtype, raveled together (fewer ops)."""
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    if len(leaves_a) != len(leaves_b):
        raise ValueError("the two pytrees have different numbers of leaves.")
    groups: dict[Any, tuple[list[Array], list[Array]]] = {}
    for x, y in zip(leaves_a, leaves_b, strict=True):
        x, y = jnp.asarray(x), jnp.asarray(y)
        xs, ys = groups.setdefault((x.dtype, y.dtype), ([], []))
        xs.append(x.ravel())
        ys.append(y.ravel())
    return [_leaf_stats(jnp.concatenate(xs), jnp.concatenate(ys)) for xs, ys in groups.values()]


def tree_stats(a: Any, b: Any) -> dict[str, float | int]:
    """Max abs / rel / ULP distance between two pytrees of float arrays (host values).

    Args:
      a: a pytree of float arrays.
      b: a pytree of the same structure, shapes and dtypes.

    Returns:
      ``{"max_abs": float, "max_rel": float, "max_ulp": int}`` over all leaves.

    Example:
      >>> import jax.numpy as jnp
      >>> stats = tree_stats({"w": jnp.array([1.0, 2.0])}, {"w": jnp.array([1.0, 2.5])})
      >>> stats["max_abs"], round(stats["max_rel"], 6), stats["max_ulp"]  # 0.5 = 2^21 · 2^-22
      (0.5, 0.2, 2097152)
    """
    stats = _tree_stats_by_dtype(a, b)
    return {
        "max_abs": max((float(s[0]) for s in stats), default=0.0),
        "max_rel": max((float(s[1]) for s in stats), default=0.0),
        "max_ulp": max((int(s[2]) for s in stats), default=0),
    }
