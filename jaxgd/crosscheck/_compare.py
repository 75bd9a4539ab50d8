"""The comparison engine: two optimizers from the same start, compiled as one ``lax.scan``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd import _static
from jaxgd._types import Array, Params, PRNGKey
from jaxgd.crosscheck._distances import _tree_stats_by_dtype
from jaxgd.optim.base import apply_updates


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
