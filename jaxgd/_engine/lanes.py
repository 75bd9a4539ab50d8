"""Lanes: what differs between the runs of one program, and ``lane_map``, the ``vmap``
that maps a lane's function over them, absorbing the transposes vmap writes after products.

``jax.vmap`` places a lane axis where each primitive's batching rule puts it. For a
matrix product with one lane-batched operand, the rule puts the lane axis among the
free axes of that operand, so ``x @ θ`` with data ``x [m, n]`` and lane parameters
``θ [lanes, n, 1]`` comes out as ``[m, lanes, 1]``; the next element-wise operation with
unbatched data (``− y``) moves the lanes to the front, a ``transpose`` of a whole
``lanes × m`` array, which XLA:CPU runs unfused; with thousands of lanes it can cost
more than the training arithmetic (measured in ``benchmarks/RESULTS.md``). How a model
is written decides whether it pays this: ``x * w + b`` never does.

``lane_map(fn)`` traces ``jax.vmap(fn)`` to a jaxpr and evaluates it with one algebraic
rewrite: a matrix product whose only use is a transpose is computed as the product of
its operands in the other order, ``(A B)ᵀ = Bᵀ Aᵀ``, whenever that order puts the axes
where the transpose wants them (so the transpose is a reshape, free) and does not make
the new left operand need a transpose of its own (XLA's matrix product wants the left
operand's contracted axes innermost). A ``dot_general`` with operands swapped yields
(batch, right free, left free) instead of (batch, left free, right free): the same
numbers, summed by the same product routine, so the rewrite changes no value beyond the
order of a sum's terms. Nested ``jit`` calls are inlined so that products inside them
are seen. Everything else binds as traced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.extend import core as jax_core

from jaxgd._types import PRNGKey

DimensionNumbers = tuple[tuple[Sequence[int], Sequence[int]], tuple[Sequence[int], Sequence[int]]]


def _in_order(shape: Sequence[int], axes: Sequence[int]) -> bool:
    """Whether ``axes`` lie in memory order (row-major) once axes of size 1 are ignored."""
    kept = [axis for axis in axes if shape[axis] != 1]
    return kept == sorted(kept)


def _free_axes(ndim: int, contracting: Sequence[int], batch: Sequence[int]) -> list[int]:
    return [axis for axis in range(ndim) if axis not in contracting and axis not in batch]


def _left_contiguous(
    shape: Sequence[int], contracting: Sequence[int], batch: Sequence[int]
) -> bool:
    """Whether a left operand is (batch, free, contracted) in memory: no transpose needed."""
    free = _free_axes(len(shape), contracting, batch)
    return _in_order(shape, [*batch, *free, *contracting])


def swapped_permutation(
    lhs_shape: Sequence[int],
    rhs_shape: Sequence[int],
    dimension_numbers: DimensionNumbers,
    permutation: Sequence[int],
) -> list[int] | None:
    """The transpose that follows ``dot_general(rhs, lhs)`` to give
    ``transpose(dot_general(lhs, rhs), permutation)``, if that is the better order.

    None when the swap gains nothing: the transpose after the swapped product still
    moves data, or the original one moves none, or the swap makes the new left operand
    need a transpose that the old one did not.
    """
    (lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch) = dimension_numbers
    n_batch = len(lhs_batch)
    lhs_free = _free_axes(len(lhs_shape), lhs_contracting, lhs_batch)
    rhs_free = _free_axes(len(rhs_shape), rhs_contracting, rhs_batch)
    n_lhs_free = len(lhs_free)
    out_shape = (
        [lhs_shape[a] for a in lhs_batch]
        + [lhs_shape[a] for a in lhs_free]
        + [rhs_shape[a] for a in rhs_free]
    )
    if _in_order(out_shape, permutation):
        return None
    # position in the swapped output of each axis of the original output
    swapped_order = (
        list(range(n_batch))
        + [n_batch + n_lhs_free + i for i in range(len(rhs_free))]
        + [n_batch + i for i in range(n_lhs_free)]
    )
    where = {original: new for new, original in enumerate(swapped_order)}
    new_permutation = [where[axis] for axis in permutation]
    swapped_shape = [out_shape[axis] for axis in swapped_order]
    if not _in_order(swapped_shape, new_permutation):
        return None
    lhs_was_contiguous = _left_contiguous(lhs_shape, lhs_contracting, lhs_batch)
    if lhs_was_contiguous and not _left_contiguous(rhs_shape, rhs_contracting, rhs_batch):
        return None
    return new_permutation


def _is_jit(primitive: Any) -> bool:
    return primitive.name in ("jit", "pjit")


def _uses(jaxpr: Any) -> dict[Any, list[Any]]:
    """Every variable's consuming equations (jaxpr outputs count as a use with None)."""
    uses: dict[Any, list[Any]] = {}
    for eqn in jaxpr.eqns:
        for var in eqn.invars:
            if not isinstance(var, jax_core.Literal):
                uses.setdefault(var, []).append(eqn)
    for var in jaxpr.outvars:
        if not isinstance(var, jax_core.Literal):
            uses.setdefault(var, []).append(None)
    return uses


def evaluate(closed: Any, *args: Any) -> list[Any]:
    """Evaluate a ``ClosedJaxpr`` as ``jax.core.eval_jaxpr`` does, with the product rewrite."""
    jaxpr = closed.jaxpr
    uses = _uses(jaxpr)
    env: dict[Any, Any] = {}

    def read(var: Any) -> Any:
        return var.val if isinstance(var, jax_core.Literal) else env[var]

    env.update(zip(jaxpr.constvars, closed.consts, strict=True))
    env.update(zip(jaxpr.invars, args, strict=True))
    absorbed: dict[Any, Any] = {}  # transpose equation -> its value, computed by the product
    for eqn in jaxpr.eqns:
        if eqn in absorbed:
            env[eqn.outvars[0]] = absorbed.pop(eqn)
            continue
        values = [read(var) for var in eqn.invars]
        if eqn.primitive.name == "dot_general":
            consumers = uses.get(eqn.outvars[0], [])
            if len(consumers) == 1 and consumers[0] is not None:
                transpose = consumers[0]
                if transpose.primitive.name == "transpose":
                    value = _product_in_place(eqn, values, transpose.params["permutation"])
                    if value is not None:
                        absorbed[transpose] = value
                        continue
        if _is_jit(eqn.primitive):
            inner = eqn.params["jaxpr"]
            outs = evaluate(inner, *values)
        else:
            outs = eqn.primitive.bind(*values, **eqn.primitive.get_bind_params(eqn.params))
            if not eqn.primitive.multiple_results:
                outs = [outs]
        env.update(zip(eqn.outvars, outs, strict=True))
    return [read(var) for var in jaxpr.outvars]


def _product_in_place(eqn: Any, values: list[Any], permutation: Sequence[int]) -> Any | None:
    """``transpose(dot_general(lhs, rhs), permutation)`` as the swapped product, or None."""
    lhs, rhs = values
    dimension_numbers = eqn.params["dimension_numbers"]
    new_permutation = swapped_permutation(lhs.shape, rhs.shape, dimension_numbers, permutation)
    if new_permutation is None:
        return None
    (lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch) = dimension_numbers
    product = lax.dot_general(
        rhs,
        lhs,
        ((rhs_contracting, lhs_contracting), (rhs_batch, lhs_batch)),
        precision=eqn.params["precision"],
        preferred_element_type=eqn.params["preferred_element_type"],
    )
    target = tuple(product.shape[axis] for axis in new_permutation)
    return jnp.reshape(product, target)  # the axes moved have size 1 or keep their order


def lane_map(fn: Callable[..., Any], in_axes: Any = 0) -> Callable[..., Any]:
    """``jax.vmap(fn, in_axes)`` (output lanes on axis 0), with the matrix-product rewrite."""
    mapped = jax.vmap(fn, in_axes=in_axes)

    def run(*args: Any) -> Any:
        closed, out_shape = jax.make_jaxpr(mapped, return_shape=True)(*args)
        outs = evaluate(closed, *jax.tree.leaves(args))
        return jax.tree.unflatten(jax.tree.structure(out_shape), outs)

    return run


class Lanes(NamedTuple):
    """What differs between the lanes of one program, each leaf with a leading lane axis.

    ``hyperparameters`` is the pytree that the program's ``make_optimizer`` turns into
    a lane's optimizer; ``keys`` are the lanes' data-order keys. A single run (``fit``)
    is the same program without the lane axis: ``keys`` is then one key.
    """

    hyperparameters: Any
    keys: PRNGKey

    @property
    def batched(self) -> bool:
        return self.keys.ndim == 1

    def map(self, fn: Callable[..., Any], lane_args: int | None = None) -> Callable[..., Any]:
        """``fn`` of one lane, applied to every lane (:func:`lane_map`, a
        ``jax.vmap`` whose matrix products absorb the transposes vmap writes after them;
        ``fn`` as is for a single run).

        With ``lane_args``, only the first ``lane_args`` arguments carry the lane axis; the
        others are shared by every lane.
        """
        if not self.batched:
            return fn
        if lane_args is None:
            return lane_map(fn)
        return lambda *args: lane_map(lambda *mapped: fn(*mapped, *args[lane_args:]))(
            *args[:lane_args]
        )
