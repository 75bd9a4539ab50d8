"""Cross-check optimizers: run two from the same start and measure how far apart they drift.

Three layers:

* :func:`compare` runs any two gradient transformations (jaxgd's, optax's,
  your own) side by side on a problem, compiled as one ``lax.scan``, and
  returns per-step and overall distances between their parameters: max
  absolute and relative differences, max distance in ULPs (units in the last
  place) and the first step at which they differ at all.
* :data:`CASES` is the table of jaxgd optimizers × settings, each with its
  optax twin; :func:`run_table` runs it on the built-in problems and judges
  each row against :data:`TOLERANCES` (:data:`TRACED_TOLERANCES` when the
  hyperparameters are passed as arguments, as ``jaxgd.fit`` does). The test
  suite imports the same table.
* :func:`run_from_args` runs the ``jaxgd crosscheck`` command (its options are
  defined in :mod:`jaxgd.cli`).

How a jaxgd state corresponds to an optax state is documented (and computed)
in one place, :func:`optax_state_fields`.

Example:
  >>> import optax
  >>> from jaxgd import optim, problems
  >>> result = compare(optax.adam(1e-2), optim.adam(1e-2), problems.rosenbrock(), steps=50)
  >>> result.max_ulp, result.first_diff_step
  (0, None)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgd import _catalog, _static, optim, schedules
from jaxgd import problems as _problems
from jaxgd._catalog import parse_optimizers
from jaxgd._types import Array, Params, PRNGKey
from jaxgd.optim.base import apply_updates

DTYPES = _catalog.DTYPES

# ----------------------------------------------------------------------------- distances


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


# ----------------------------------------------------------------------------- compare


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What :func:`compare` measured.

    Steps are numbered from 1: step ``k`` is the state after ``k`` updates.

    Attributes:
      steps: the number of updates run.
      dtype: the dtype of the parameters (of their first leaf).
      max_abs: max over steps and coordinates of ``|θ_ref - θ_cand|``.
      max_rel: max of ``|θ_ref - θ_cand| / max(|θ_ref|, |θ_cand|)`` (0 where equal).
      max_ulp: max distance in ULPs (see :func:`ulp_distance`).
      first_diff_step: the first step at which any parameter differs in any
        bit (``+0``/``-0`` aside), or ``None`` if the runs are identical.
      first_diff_ulp: the max ULP distance at that step (``None`` if
        identical): 1 for a rounding difference, large for a different rule.
      per_step: ``{"max_abs", "max_rel", "max_ulp"}``, one NumPy array of
        length ``steps`` each (the max over the parameters after that step).
      reference_params: the reference's final parameters.
      candidate_params: the candidate's final parameters.
      reference_loss: the loss at the reference's final parameters.
      candidate_loss: the loss at the candidate's final parameters.
      reference_state: the reference's final optimizer state.
      candidate_state: the candidate's final optimizer state.
    """

    steps: int
    dtype: str
    max_abs: float
    max_rel: float
    max_ulp: int
    first_diff_step: int | None
    first_diff_ulp: int | None
    per_step: dict[str, np.ndarray]
    reference_params: Params
    candidate_params: Params
    reference_loss: float
    candidate_loss: float
    reference_state: Any = None
    candidate_state: Any = None

    def within(
        self,
        *,
        max_abs: float | None = None,
        max_rel: float | None = None,
        max_ulp: int | None = None,
        max_first_diff_ulp: int | None = None,
    ) -> bool:
        """True if every given bound holds (bounds left ``None`` are not checked)."""
        first = 0 if self.first_diff_ulp is None else self.first_diff_ulp
        return (
            (max_abs is None or self.max_abs <= max_abs)
            and (max_rel is None or self.max_rel <= max_rel)
            and (max_ulp is None or self.max_ulp <= max_ulp)
            and (max_first_diff_ulp is None or first <= max_first_diff_ulp)
        )

    def summary(self) -> str:
        """One line: the overall stats."""
        first = (
            "never"
            if self.first_diff_step is None
            else f"step {self.first_diff_step} ({self.first_diff_ulp} ULP)"
        )
        return (
            f"{self.steps} steps ({self.dtype}): max_abs={self.max_abs:.3g} "
            f"max_rel={self.max_rel:.3g} max_ulp={self.max_ulp} first difference: {first}"
        )


def _cast_floats(tree: Any, dtype: Any) -> Any:
    if dtype is None:
        return tree

    def cast(x: Any) -> Any:
        x = jnp.asarray(x)
        return x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x

    return jax.tree.map(cast, tree)


def _loss_of(problem: Any, dtype: Any) -> Callable[[Params], Array]:
    """``params -> scalar`` from a Problem-like object or from a loss function."""
    if hasattr(problem, "loss_fn"):
        data = problem.data
        if data is None:
            return lambda params: problem.loss_fn(params, None, None)
        x, y = _cast_floats(data, dtype)
        return lambda params: problem.loss_fn(params, x, y)
    if callable(problem):
        return problem
    raise TypeError(
        "problem must be a jaxgd.problems.Problem (init_fn, loss_fn, data) or a "
        f"function params -> loss, got {type(problem).__name__}."
    )


def _trajectories(
    pairs: Mapping[str, tuple[Any, Any]],
    loss: Callable[[Params], Array],
    params: Params,
    steps: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run every ``(reference, candidate)`` pair for ``steps`` updates in one ``lax.scan``."""
    grad = jax.grad(loss)

    def step(optimizer: Any, p: Params, s: Any) -> tuple[Params, Any]:
        updates, s = optimizer.update(grad(p), s, p)
        return apply_updates(p, updates), s

    def body(carry: dict[str, Any], _: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        new_carry, stats = {}, {}
        for name, (reference, candidate) in pairs.items():
            p_ref, s_ref, p_cand, s_cand = carry[name]
            p_ref, s_ref = step(reference, p_ref, s_ref)
            p_cand, s_cand = step(candidate, p_cand, s_cand)
            new_carry[name] = (p_ref, s_ref, p_cand, s_cand)
            stats[name] = _tree_stats_by_dtype(p_ref, p_cand)
        return new_carry, stats

    carry = {
        name: (params, reference.init(params), params, candidate.init(params))
        for name, (reference, candidate) in pairs.items()
    }
    final, stats = jax.lax.scan(body, carry, None, length=steps)
    return final, stats


def _comparison(
    final: tuple[Any, Any, Any, Any],
    stats: list[tuple[Array, Array, Array]],
    loss: Callable[[Params], Array],
    steps: int,
    dtype: str,
) -> Comparison:
    if stats:
        per_abs = np.max(np.stack([np.asarray(s[0], np.float64) for s in stats]), axis=0)
        per_rel = np.max(np.stack([np.asarray(s[1], np.float64) for s in stats]), axis=0)
        per_ulp = np.max(np.stack([np.asarray(s[2]).astype(np.uint64) for s in stats]), axis=0)
    else:
        per_abs = per_rel = np.zeros(steps)
        per_ulp = np.zeros(steps, np.uint64)
    differing = np.flatnonzero(per_ulp > 0)
    p_ref, s_ref, p_cand, s_cand = final
    return Comparison(
        steps=steps,
        dtype=dtype,
        max_abs=float(per_abs.max()),
        max_rel=float(per_rel.max()),
        max_ulp=int(per_ulp.max()),
        first_diff_step=int(differing[0]) + 1 if differing.size else None,
        first_diff_ulp=int(per_ulp[differing[0]]) if differing.size else None,
        per_step={"max_abs": per_abs, "max_rel": per_rel, "max_ulp": per_ulp},
        reference_params=p_ref,
        candidate_params=p_cand,
        reference_loss=float(loss(p_ref)),
        candidate_loss=float(loss(p_cand)),
        reference_state=s_ref,
        candidate_state=s_cand,
    )


def compare_many(
    pairs: Mapping[str, tuple[Any, Any]],
    problem: Any,
    params: Params | None = None,
    *,
    steps: int = 200,
    key: PRNGKey | None = None,
    dtype: Any = None,
    traced: bool = False,
) -> dict[str, Comparison]:
    """:func:`compare` for several ``{name: (reference, candidate)}`` pairs, compiled once.

    All pairs run from the same start in a single compiled program, which is
    much faster than one :func:`compare` per pair when compilation dominates
    (short runs, many optimizers). Each pair is independent of the others.

    Args:
      pairs: ``{name: (reference, candidate)}``.
      problem: as for :func:`compare`.
      params: as for :func:`compare`.
      steps: the number of updates.
      key: as for :func:`compare`.
      dtype: as for :func:`compare`.
      traced: as for :func:`compare`.

    Returns:
      ``{name: Comparison}``.

    Example:
      >>> import jax.numpy as jnp, optax
      >>> from jaxgd import optim
      >>> loss = lambda p: jnp.sum(p**2)
      >>> pairs = {n: (getattr(optax, n)(0.1), getattr(optim, n)(0.1)) for n in ("sgd", "adam")}
      >>> results = compare_many(pairs, loss, jnp.ones(2), steps=20)
      >>> {n: r.max_ulp for n, r in results.items()}
      {'sgd': 0, 'adam': 0}
    """
    if steps < 1:
        raise ValueError(f"steps={steps} must be >= 1.")
    if dtype is not None and np.dtype(dtype) == np.float64 and not jax.config.jax_enable_x64:
        with jax.enable_x64(True):
            return compare_many(
                pairs, problem, params, steps=steps, key=key, dtype=dtype, traced=traced
            )
    if params is None:
        if not hasattr(problem, "init_fn"):
            raise ValueError("pass params: the start is needed when problem is a loss function.")
        params = problem.init_fn(jax.random.key(0) if key is None else key)
    params = _cast_floats(params, dtype)
    loss = _loss_of(problem, dtype)
    pairs = dict(pairs)
    if traced:
        # As jaxgd.fit: numeric leaves become arguments, the rest stays static.
        split = {name: _static.split(pair) for name, pair in pairs.items()}
        dynamic = {name: leaves for name, (leaves, _) in split.items()}

        def program(p: Params, dynamic: dict[str, list[Any]]) -> Any:
            rebuilt = {name: _static.merge(dynamic[name], split[name][1]) for name in pairs}
            return _trajectories(rebuilt, loss, p, steps)

        final, stats = jax.jit(program)(params, dynamic)
    else:
        final, stats = jax.jit(lambda p: _trajectories(pairs, loss, p, steps))(params)
    leaves = jax.tree.leaves(params)
    dtype_name = str(jnp.asarray(leaves[0]).dtype) if leaves else "none"
    return {name: _comparison(final[name], stats[name], loss, steps, dtype_name) for name in pairs}


def compare(
    reference: Any,
    candidate: Any,
    problem: Any,
    params: Params | None = None,
    *,
    steps: int = 200,
    key: PRNGKey | None = None,
    dtype: Any = None,
    traced: bool = False,
) -> Comparison:
    """Run two optimizers from the same start on one problem; report how far apart they get.

    Both take ``steps`` full-batch gradient steps ``θ ← θ + update(∇L(θ))``,
    each from its own parameters, in one compiled ``lax.scan``. After each
    step the two parameter pytrees are compared coordinate by coordinate.
    By default hyperparameters are compile-time constants on both sides;
    ``traced=True`` passes the numeric leaves of both optimizers (jaxgd's
    hyperparameters; optax's closures have none) as arguments of the compiled
    program, as :func:`jaxgd.fit` does.

    Args:
      reference: a gradient transformation (``init``, ``update``): optax's,
        jaxgd's or your own.
      candidate: the one to check against it.
      problem: a :class:`jaxgd.problems.Problem` (any object with ``init_fn``,
        ``loss_fn`` and ``data``), or a function ``params -> scalar loss``.
      params: the start; by default ``problem.init_fn(key)`` (required when
        ``problem`` is a plain function).
      steps: the number of updates.
      key: the key for ``init_fn`` (default ``jax.random.key(0)``).
      dtype: cast the start and the data to this float dtype (e.g.
        ``"float64"``, which turns on ``jax_enable_x64`` for the run).
      traced: pass numeric hyperparameters as arguments (see above).

    Returns:
      A :class:`Comparison`.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgd import optim
      >>> loss = lambda p: jnp.sum((p - 1.0) ** 2)
      >>> result = compare(optim.sgd(0.1), optim.sgd(0.1000001), loss, jnp.zeros(3), steps=5)
      >>> result.first_diff_step, result.max_ulp > 0
      (1, True)
    """
    pairs = {"pair": (reference, candidate)}
    results = compare_many(pairs, problem, params, steps=steps, key=key, dtype=dtype, traced=traced)
    return results["pair"]


# ----------------------------------------------------------------------------- states

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


# ----------------------------------------------------------------------------- the table


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


def decay_matrices(params: Params) -> Any:
    """Weight-decay mask: ``True`` for leaves with 2 or more dimensions (weights, not biases)."""
    return jax.tree.map(lambda x: jnp.ndim(x) > 1, params)


Library = Literal["jaxgd", "optax"]

ScheduleSpec = tuple[str, Mapping[str, Any]]
"""``(name, kwargs)`` of a schedule, the same in :mod:`jaxgd.schedules` and ``optax.schedules``."""


def build_schedule(spec: ScheduleSpec, library: Library = "jaxgd") -> Any:
    """The schedule ``name(**kwargs)`` from ``library``'s schedules.

    The ``schedules`` of ``join_schedules`` are specs too, built from the same library.

    Args:
      spec: ``(name, kwargs)``.
      library: ``"jaxgd"`` (:mod:`jaxgd.schedules`) or ``"optax"`` (``optax.schedules``).

    Returns:
      The schedule, a function ``count -> value``.

    Example:
      >>> spec = ("join_schedules", {
      ...     "schedules": [("constant_schedule", {"value": 0.1}),
      ...                   ("linear_schedule", {"init_value": 0.1, "end_value": 0.0,
      ...                                        "transition_steps": 10})],
      ...     "boundaries": [5]})
      >>> [round(float(build_schedule(spec, lib)(10)), 6) for lib in ("jaxgd", "optax")]
      [0.05, 0.05]
    """
    if library == "jaxgd":
        module: Any = schedules
    elif library == "optax":
        module = optax.schedules
    else:
        raise ValueError(f"library={library!r} must be 'jaxgd' or 'optax'.")
    name, kwargs = spec
    if name == "join_schedules":
        parts = [build_schedule(part, library) for part in kwargs["schedules"]]
        kwargs = {**kwargs, "schedules": parts}
    return getattr(module, name)(**kwargs)


@dataclasses.dataclass(frozen=True)
class Case:
    """One row of the table: a jaxgd optimizer with one setting, and its optax twin.

    Attributes:
      optimizer: the factory's name, the same in :mod:`jaxgd.optim` and optax.
      setting: a short label for the arguments ("default", "nesterov", ...).
      kwargs: keyword arguments passed to both factories.
      schedule: ``(name, kwargs)`` of a learning-rate schedule built from
        :mod:`jaxgd.schedules` / ``optax.schedules`` by :func:`build_schedule`
        and passed as ``learning_rate``; ``None`` to use ``kwargs`` alone.
      weight_decay_schedule: the same for ``weight_decay``.
      mask: ``"tree"`` (a pytree of bools built from the parameters with
        :func:`decay_matrices`), ``"callable"`` (:func:`decay_matrices`
        itself) or ``None``; passed as ``mask_arg``.
      mask_arg: the factory's name for the mask argument.
    """

    optimizer: str
    setting: str
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    schedule: ScheduleSpec | None = None
    weight_decay_schedule: ScheduleSpec | None = None
    mask: Literal["tree", "callable"] | None = None
    mask_arg: str = "mask"

    @property
    def label(self) -> str:
        """``optimizer/setting``."""
        return f"{self.optimizer}/{self.setting}"

    @property
    def has_weight_decay(self) -> bool:
        """Whether the optimizer adds ``λ·θ`` (so a zero gradient can still move θ)."""
        if self.optimizer in ("adamw", "lion"):
            return True
        return bool(self.kwargs.get("weight_decay", 0.0)) or self.weight_decay_schedule is not None

    def build(self, library: Library = "jaxgd", params: Params | None = None) -> Any:
        """The optimizer from ``library``; ``params`` is needed for ``mask="tree"``."""
        if library == "jaxgd":
            factory = getattr(optim, self.optimizer)
        elif library == "optax":
            factory = getattr(optax, self.optimizer)
        else:
            raise ValueError(f"library={library!r} must be 'jaxgd' or 'optax'.")
        kwargs = dict(self.kwargs)
        if self.schedule is not None:
            kwargs["learning_rate"] = build_schedule(self.schedule, library)
        if self.weight_decay_schedule is not None:
            kwargs["weight_decay"] = build_schedule(self.weight_decay_schedule, library)
        if self.mask == "callable":
            kwargs[self.mask_arg] = decay_matrices
        elif self.mask == "tree":
            if params is None:
                raise ValueError(f"{self.label} uses a pytree mask: pass params to build it.")
            kwargs[self.mask_arg] = decay_matrices(params)
        return factory(**kwargs)

    def build_pair(self, params: Params | None = None) -> tuple[Any, Any]:
        """``(jaxgd optimizer, optax optimizer)``."""
        return self.build("jaxgd", params), self.build("optax", params)


CASES: tuple[Case, ...] = (
    Case("sgd", "default", {"learning_rate": 1e-3}),
    Case("sgd", "momentum", {"learning_rate": 1e-3, "momentum": 0.9}),
    Case("sgd", "nesterov", {"learning_rate": 1e-3, "momentum": 0.9, "nesterov": True}),
    Case(
        "sgd",
        "momentum_bf16",
        {"learning_rate": 1e-3, "momentum": 0.9, "accumulator_dtype": jnp.bfloat16},
    ),
    Case(
        "sgd",
        "schedule",
        {"momentum": 0.5},
        schedule=(
            "exponential_decay",
            {"init_value": 2e-3, "transition_steps": 50, "decay_rate": 0.5},
        ),
    ),
    Case(
        "sgd",
        "warmup_exponential_decay",
        {"momentum": 0.9},
        schedule=(
            "warmup_exponential_decay_schedule",
            {
                "init_value": 0.0,
                "peak_value": 2e-3,
                "warmup_steps": 10,
                "transition_steps": 20,
                "decay_rate": 0.7,
                "transition_begin": 5,
                "staircase": True,
                "end_value": 2e-4,
            },
        ),
    ),
    Case("adagrad", "default", {"learning_rate": 0.1}),
    Case(
        "adagrad",
        "zero_init",
        {"learning_rate": 0.1, "initial_accumulator_value": 0.0, "eps": 1e-10},
    ),
    Case(
        "adagrad",
        "schedule",
        {},
        schedule=(
            "piecewise_constant_schedule",
            {"init_value": 0.1, "boundaries_and_scales": {20: 0.5, 60: 0.2}},
        ),
    ),
    Case(
        "adagrad",
        "sgdr",
        {},
        schedule=(
            "sgdr_schedule",
            {
                "cosine_kwargs": (
                    {"init_value": 0.01, "peak_value": 0.1, "warmup_steps": 5, "decay_steps": 60},
                    {
                        "init_value": 0.02,
                        "peak_value": 0.05,
                        "warmup_steps": 5,
                        "decay_steps": 80,
                        "end_value": 1e-3,
                    },
                )
            },
        ),
    ),
    Case("rmsprop", "default", {"learning_rate": 1e-3}),
    Case(
        "rmsprop", "centered_momentum", {"learning_rate": 1e-3, "centered": True, "momentum": 0.9}
    ),
    Case(
        "rmsprop",
        "nesterov",
        {"learning_rate": 1e-3, "momentum": 0.9, "nesterov": True, "initial_scale": 1.0},
    ),
    Case("rmsprop", "eps_outside_sqrt", {"learning_rate": 1e-3, "eps_in_sqrt": False}),
    Case(
        "rmsprop",
        "bias_correction",
        {"learning_rate": 1e-3, "bias_correction": True, "centered": True},
    ),
    Case(
        "rmsprop",
        "schedule",
        {"decay": 0.95},
        schedule=("cosine_decay_schedule", {"init_value": 1e-3, "decay_steps": 100, "alpha": 0.1}),
    ),
    Case(
        "rmsprop",
        "linear_onecycle",
        {"momentum": 0.9},
        schedule=("linear_onecycle_schedule", {"transition_steps": 150, "peak_value": 3e-3}),
    ),
    Case("adam", "default", {"learning_rate": 1e-2}),
    Case("adam", "eps_root", {"learning_rate": 1e-2, "eps_root": 1e-8}),
    Case("adam", "nesterov", {"learning_rate": 1e-2, "nesterov": True}),
    Case("adam", "mu_bf16", {"learning_rate": 1e-2, "mu_dtype": jnp.bfloat16}),
    Case(
        "adam",
        "schedule",
        {"b1": 0.8},
        schedule=(
            "warmup_cosine_decay_schedule",
            {
                "init_value": 0.0,
                "peak_value": 1e-2,
                "warmup_steps": 10,
                "decay_steps": 150,
                "end_value": 1e-3,
            },
        ),
    ),
    Case(
        "adam",
        "cosine_onecycle",
        {},
        schedule=(
            "cosine_onecycle_schedule",
            {
                "transition_steps": 150,
                "peak_value": 2e-2,
                "pct_start": 0.25,
                "div_factor": 10.0,
                "final_div_factor": 100.0,
            },
        ),
    ),
    Case("adamw", "default", {"learning_rate": 1e-2}),
    Case("adamw", "mask_tree", {"learning_rate": 1e-2, "weight_decay": 0.1}, mask="tree"),
    Case("adamw", "mask_callable", {"learning_rate": 1e-2, "weight_decay": 0.1}, mask="callable"),
    Case(
        "adamw",
        "schedules",
        {"nesterov": True},
        schedule=(
            "linear_schedule",
            {"init_value": 1e-2, "end_value": 1e-3, "transition_steps": 100},
        ),
        weight_decay_schedule=(
            "polynomial_schedule",
            {"init_value": 0.1, "end_value": 0.0, "power": 2, "transition_steps": 100},
        ),
    ),
    Case("nadam", "default", {"learning_rate": 1e-2}),
    Case("nadam", "eps_root", {"learning_rate": 1e-2, "eps_root": 1e-10, "b2": 0.99}),
    Case(
        "nadam",
        "piecewise_interpolate",
        {},
        schedule=(
            "piecewise_interpolate_schedule",
            {
                "interpolate_type": "cosine",
                "init_value": 1e-2,
                "boundaries_and_scales": {30: 0.5, 90: 0.1},
            },
        ),
    ),
    Case("adamax", "default", {"learning_rate": 1e-2}),
    Case("adamax", "b2", {"learning_rate": 1e-2, "b2": 0.9, "eps": 1e-6}),
    Case(
        "adamax",
        "join_schedules",
        {},
        schedule=(
            "join_schedules",
            {
                "schedules": (
                    ("constant_schedule", {"value": 1e-2}),
                    (
                        "exponential_decay",
                        {"init_value": 1e-2, "transition_steps": 25, "decay_rate": 0.5},
                    ),
                ),
                "boundaries": (50,),
            },
        ),
    ),
    Case("adadelta", "default", {}),
    Case("adadelta", "learning_rate", {"learning_rate": 1.0, "rho": 0.95}),
    Case(
        "adadelta",
        "weight_decay_mask",
        {"learning_rate": 1.0, "weight_decay": 0.1},
        mask="callable",
        mask_arg="weight_decay_mask",
    ),
    Case("lion", "default", {"learning_rate": 1e-3}),
    Case("lion", "mask_tree", {"learning_rate": 1e-3, "weight_decay": 0.1}, mask="tree"),
    Case(
        "lion",
        "schedule",
        {"b2": 0.9, "mu_dtype": jnp.bfloat16},
        schedule=(
            "linear_schedule",
            {"init_value": 1e-3, "end_value": 0.0, "transition_steps": 100},
        ),
    ),
    Case(
        "lion",
        "warmup_constant",
        {},
        schedule=(
            "warmup_constant_schedule",
            {"init_value": 0.0, "peak_value": 1e-3, "warmup_steps": 20},
        ),
    ),
)
"""Every jaxgd optimizer × setting that is checked against optax (tests and CLI)."""

OPTIMIZERS: tuple[str, ...] = tuple(dict.fromkeys(case.optimizer for case in CASES))
"""The optimizer names in :data:`CASES`, in table order."""


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """Bounds for one dtype, and why they are what they are (``None``: not checked)."""

    max_rel: float | None
    max_ulp: int | None
    reason: str
    max_first_diff_ulp: int | None = None

    def accepts(self, comparison: Comparison) -> bool:
        """Whether ``comparison`` is within the bounds."""
        return comparison.within(
            max_rel=self.max_rel,
            max_ulp=self.max_ulp,
            max_first_diff_ulp=self.max_first_diff_ulp,
        )

    def accepts_state(self, stats: Mapping[str, float | int]) -> bool:
        """Whether final-state distances (:func:`state_stats`) are within max_rel and max_ulp."""
        return (self.max_rel is None or stats["max_rel"] <= self.max_rel) and (
            self.max_ulp is None or stats["max_ulp"] <= self.max_ulp
        )

    def describe(self) -> str:
        """The bounds that are checked, e.g. ``"max_ulp <= 0"``."""
        bounds = (
            ("max_rel", self.max_rel),
            ("max_ulp", self.max_ulp),
            ("ULP at the first difference", self.max_first_diff_ulp),
        )
        return ", ".join(f"{name} <= {value}" for name, value in bounds if value is not None)


TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(
        max_rel=1e-12,
        max_ulp=None,
        reason="same operations in the same order as optax: agreement to 1e-12 relative.",
    ),
    "float32": Tolerance(
        max_rel=None,
        max_ulp=0,
        reason="same operations, same order, same constants: bit-for-bit equal parameters.",
    ),
}
"""Per-dtype bounds for :func:`run_table` (the test suite uses the same)."""

_TRACED_REASON = (
    "hyperparameters as arguments: XLA simplifies optax's constants differently (e.g. folds "
    "constant products), so runs may part by 1 ULP at some step and the dynamics amplify it; "
    "only the size of the first difference is judged (a wrong rule would jump by far more)."
)
TRACED_TOLERANCES: dict[str, Tolerance] = {
    "float64": Tolerance(max_rel=None, max_ulp=None, reason=_TRACED_REASON, max_first_diff_ulp=2),
    "float32": Tolerance(max_rel=None, max_ulp=None, reason=_TRACED_REASON, max_first_diff_ulp=2),
}
"""Per-dtype bounds for ``run_table(traced=True)`` (``jaxgd crosscheck --traced``)."""


def tolerance_for(dtype: str, traced: bool = False) -> Tolerance:
    """The bounds :func:`run_table` applies for ``dtype`` (and ``traced``)."""
    return (TRACED_TOLERANCES if traced else TOLERANCES)[dtype]


def builtin_problems() -> dict[str, Any]:
    """The problems the table runs on: a quadratic bowl, Rosenbrock and a small MLP regression."""
    return {
        "quadratic-bowl": _problems.quadratic_bowl((1.0, 4.0, 0.25)),
        "rosenbrock": _problems.rosenbrock(),
        "mlp-regression": _problems.mlp_regression((3, 8, 1), 64),
    }


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of :func:`run_table`'s result."""

    optimizer: str
    setting: str
    problem: str
    max_abs: float
    max_rel: float
    max_ulp: int
    first_diff_step: int | None
    verdict: str
    first_diff_ulp: int | None = None
    state_max_rel: float | None = None
    state_max_ulp: int | None = None

    @property
    def ok(self) -> bool:
        """Whether the row is within tolerance."""
        return self.verdict == "ok"


def run_table(
    optimizers: str | Sequence[str] | None = None,
    *,
    dtype: str = "float32",
    steps: int = 200,
    problems: Mapping[str, Any] | None = None,
    key: PRNGKey | None = None,
    traced: bool = False,
) -> list[Row]:
    """Run every case of :data:`CASES` (for ``optimizers``) against optax on each problem.

    Args:
      optimizers: names (or comma lists of names) to run; ``None`` for all.
      dtype: ``"float32"`` or ``"float64"`` (run with ``jax_enable_x64`` on).
      steps: updates per run.
      problems: ``{name: Problem}``; by default :func:`builtin_problems`.
      key: the key for each problem's ``init_fn`` (default ``jax.random.key(0)``).
      traced: pass jaxgd's numeric hyperparameters as arguments of the compiled
        program, as :func:`jaxgd.fit` does (see :func:`compare`).

    Returns:
      One :class:`Row` per case × problem, judged against ``tolerance_for(dtype, traced)``:
      the parameters along the run and the final optimizer states (fields
      matched by :func:`matching_state_fields`).

    Example:
      >>> rows = run_table("sgd", steps=10)
      >>> all(row.ok for row in rows), len(rows)  # 6 sgd settings × 3 problems
      (True, 18)
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} must be one of {', '.join(DTYPES)}.")
    names = parse_optimizers(optimizers)
    if dtype == "float64" and not jax.config.jax_enable_x64:
        with jax.enable_x64(True):
            return run_table(
                names, dtype=dtype, steps=steps, problems=problems, key=key, traced=traced
            )
    tolerance = tolerance_for(dtype, traced)
    problems = builtin_problems() if problems is None else problems
    key = jax.random.key(0) if key is None else key
    cases = [c for c in CASES if c.optimizer in names]
    rows = []
    for problem_name, problem in problems.items():
        params = _cast_floats(problem.init_fn(key), dtype)
        pairs = {case.label: case.build_pair(params)[::-1] for case in cases}
        results = compare_many(pairs, problem, params, steps=steps, dtype=dtype, traced=traced)
        for case in cases:
            result = results[case.label]
            states = state_stats(result.candidate_state, result.reference_state)
            ok = tolerance.accepts(result) and tolerance.accepts_state(states)
            rows.append(
                Row(
                    optimizer=case.optimizer,
                    setting=case.setting,
                    problem=problem_name,
                    max_abs=result.max_abs,
                    max_rel=result.max_rel,
                    max_ulp=result.max_ulp,
                    first_diff_step=result.first_diff_step,
                    verdict="ok" if ok else "FAIL",
                    first_diff_ulp=result.first_diff_ulp,
                    state_max_rel=float(states["max_rel"]),
                    state_max_ulp=int(states["max_ulp"]),
                )
            )
    order = {case.label: i for i, case in enumerate(cases)}
    rows.sort(key=lambda r: order[f"{r.optimizer}/{r.setting}"])
    return rows


def format_table(rows: Sequence[Row]) -> str:
    """The rows as an aligned text table."""
    header = (
        "optimizer",
        "setting",
        "problem",
        "max_abs",
        "max_rel",
        "max_ulp",
        "first_diff",
        "ulp_there",
        "state_ulp",
        "verdict",
    )
    lines = [
        (
            r.optimizer,
            r.setting,
            r.problem,
            f"{r.max_abs:.3g}",
            f"{r.max_rel:.3g}",
            str(r.max_ulp),
            "-" if r.first_diff_step is None else str(r.first_diff_step),
            "-" if r.first_diff_ulp is None else str(r.first_diff_ulp),
            "-" if r.state_max_ulp is None else str(r.state_max_ulp),
            r.verdict,
        )
        for r in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=False)]
    numeric = {3, 4, 5, 6, 7, 8}

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), rule, *(fmt(line) for line in lines)])


def rows_to_json(
    rows: Sequence[Row],
    *,
    dtype: str | None = None,
    steps: int | None = None,
    traced: bool | None = None,
) -> str:
    """The rows as JSON: ``{"dtype", "steps", "traced", "tolerance", "ok", "rows": [...]}``."""
    tolerance = None if dtype is None else tolerance_for(dtype, bool(traced))

    def number(x: float) -> float | str:
        return x if math.isfinite(x) else str(x)

    payload = {
        "dtype": dtype,
        "steps": steps,
        "traced": traced,
        "tolerance": None if tolerance is None else dataclasses.asdict(tolerance),
        "ok": all(r.ok for r in rows),
        "rows": [
            {
                **dataclasses.asdict(r),
                "max_abs": number(r.max_abs),
                "max_rel": number(r.max_rel),
                "state_max_rel": None if r.state_max_rel is None else number(r.state_max_rel),
            }
            for r in rows
        ],
    }
    return json.dumps(payload, indent=2)


# ----------------------------------------------------------------------------- command line


def run_from_args(args: argparse.Namespace) -> int:
    """Run the table as ``jaxgd crosscheck`` parsed ``args``, print it; 0 if every row is
    within tolerance, else 1 (the options are defined in :mod:`jaxgd.cli`)."""
    selected = getattr(args, "optimizer", None)
    names = None if not selected else [n for group in selected for n in group]
    if args.steps < 1:
        print(f"error: --steps={args.steps} must be >= 1", file=sys.stderr)
        return 2
    traced = bool(getattr(args, "traced", False))
    rows = run_table(names, dtype=args.dtype, steps=args.steps, traced=traced)
    if args.json:
        print(rows_to_json(rows, dtype=args.dtype, steps=args.steps, traced=traced))
    else:
        tolerance = tolerance_for(args.dtype, traced)
        print(format_table(rows))
        failed = sum(not r.ok for r in rows)
        mode = "traced hyperparameters" if traced else "constant hyperparameters"
        print(
            f"\n{len(rows) - failed}/{len(rows)} within tolerance ({args.dtype}, {args.steps} "
            f"steps, {mode}: {tolerance.describe()}; {tolerance.reason})"
        )
    return 0 if all(r.ok for r in rows) else 1
