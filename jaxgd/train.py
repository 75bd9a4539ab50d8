"""fit(): gradient descent as one compiled loop.

One update is the notes' learning step: forward pass, loss, backward pass
(``jax.grad``), update::

    L_t = loss(θ_t; batch_t),   g_t = ∂L_t/∂θ_t,   (u_t, s_{t+1}) = update(g_t, s_t, θ_t),
    θ_{t+1} = θ_t + u_t

repeated inside one loop (``lax.while_loop``) compiled once with ``jax.jit``.

Batches
-------
``batch_size=None`` uses the whole data set at every update (batch GD);
``batch_size=1`` is stochastic GD; ``batch_size=k`` is mini-batch GD. An
*epoch* is one pass over the data: ``ceil(m / k)`` updates (``m // k`` with
``drop_last=True``), or a single update for batch GD.

* ``sampling="shuffle"`` (default): each epoch draws a fresh permutation from
  ``fold_in(key, epoch)`` (:func:`epoch_order`) and walks through it in batches of ``k``. When ``m``
  is not a multiple of ``k`` the last batch is smaller: it keeps the compiled
  shape ``k`` and masks the missing examples (the loss is then the mean of
  per-example losses, so ``loss_fn`` must be a mean over examples, as MSE is),
  unless ``drop_last=True`` drops it.
* ``sampling="replacement"``: every update draws ``k`` indices uniformly with
  replacement from ``fold_in(key, t)``, as Géron's stochastic GD does.

Stopping, divergence
--------------------
With ``tol`` a run stops (``converged=True``) at the first update where
``|L_t − L_{t−1}| <= tol`` (``stop_on="loss_change"``, the default) or
``‖g_t‖₂ <= tol`` (``stop_on="grad_norm"``); the losses compared are the
batch losses. Divergence is read off the batch loss L_t of θ_t. A run diverges
at the first update whose loss is

* not finite (NaN or infinite parameters give a non-finite loss, and so does a
  loss that overflows), or
* larger than ``max_loss_ratio × max(L_init, L_zero)``, where ``L_init`` is the
  loss of the starting parameters on the whole data set and ``L_zero`` that of
  all-zero parameters, the model that predicts 0 (default ``max_loss_ratio =
  1e6``; the rule applies when that reference is positive; ``max_loss_ratio=None``
  keeps the non-finite rule only). ``L_zero`` gives the problem's scale: a run
  that starts near the optimum (fine-tuning, a warm start) has a tiny ``L_init``
  and must not be judged against it.

The second rule is what makes divergence visible in every dtype: in float64 a
run above the critical learning rate grows for a long time before it overflows
(Géron's problem at η = 0.5 reaches a loss of 1e56 in 1,000 updates without
overflowing), in float32 much sooner. Either way the update that produced θ_t
is rejected, the run keeps θ_{t−1} and s_{t−1} (whose loss passed both rules)
and stops with ``diverged=True`` and ``diverged_at = t − 1``, the rejected
update. It never raises and never returns parameters with a non-finite loss.

Whether a run converged or diverged, the compiled loop keeps its length and a
stopped run's state stays frozen; from the update where it stopped on, its
history repeats the loss (and parameters) of its final state, and so do its
``epoch_losses`` for the epochs that end after it stopped. So
:func:`jaxgd.sweep` can run many runs side by side.

How the checks are made cheap
-----------------------------
The updates run in chunks of about ``CHUNK_UPDATES``. The first pass over a
chunk runs every lane's updates with no check and no select at all (the loop
body is a bare optimizer update), then computes the loss of the result once and
looks for stopping events (a non-finite loss, ``tol``) in the chunk's records.
Lanes that had already stopped are put back where they were after the pass.
Only when some lane met an event is the chunk replayed from its start, in
segments that end at the lanes' stops: a lane then keeps exactly the parameters
and optimizer state it had at its stop, and the others recompute what they
computed the first time. Every pass, first or replay, is one iteration of the
same compiled loop.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import sys
import warnings
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd import _static
from jaxgd._keys import as_key
from jaxgd._layout import lane_map
from jaxgd._types import Array, Batch, JaxgdWarning, LossFn, OptState, Params, PRNGKey
from jaxgd.optim.base import GradientTransformation, apply_updates

RUNNING, CONVERGED, DIVERGED = 0, 1, 2
SAMPLING = ("shuffle", "replacement")
STOP_ON = ("loss_change", "grad_norm")


class FitResult(NamedTuple):
    """What :func:`fit` returns (every field a JAX array, or ``None`` when not requested).

    Attributes:
      params: the final parameters (the last ones with a finite loss if the run diverged).
      opt_state: the optimizer state after the last update taken (a rejected update is
        undone, state included).
      losses: the batch loss ``L_t`` before updates ``t = 0, r, 2r, …`` (``r = record_every``);
        after a run stops, the loss of its final parameters repeated.
      steps: the number of updates taken.
      converged: whether ``tol`` was met.
      diverged: whether the loss became non-finite (parameters or loss blew up).
      diverged_at: the rejected update, whose result had a non-finite loss; ``-1`` if none.
      final_loss: the loss of ``params`` on the whole data set.
      epoch_losses: with ``epochs``: the whole-data loss after each epoch.
      param_history: with ``record_params=True``: ``params`` before updates ``0, r, 2r, …``,
        each leaf with a leading axis of that length.
    """

    params: Params
    opt_state: OptState
    losses: Array
    steps: Array
    converged: Array
    diverged: Array
    diverged_at: Array
    final_loss: Array
    epoch_losses: Array | None = None
    param_history: Params | None = None


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything about a run that fixes the compiled program's shape (hashable, static)."""

    loss_fn: LossFn
    n_updates: int
    n_examples: int | None
    batch_size: int | None
    updates_per_epoch: int
    sampling: str
    drop_last: bool
    stop_on: str | None
    record_every: int
    record_params: bool
    n_epochs: int | None
    loss_with_key: bool = False
    max_loss_ratio: float | None = None

    @property
    def n_records(self) -> int:
        return math.ceil(self.n_updates / self.record_every)

    @property
    def masked(self) -> bool:
        """Whether the last batch of an epoch is smaller than ``batch_size`` and masked."""
        return (
            self.batch_size is not None
            and self.sampling == "shuffle"
            and not self.drop_last
            and self.n_examples % self.batch_size != 0
        )


class Carry(NamedTuple):
    """The loop state of one run (one lane of a sweep) before update ``t``.

    ``params`` θ_t and ``opt_state`` s_t; ``prev_loss`` L_{t−1} (after the run
    stops: the loss of its final parameters); ``stopped_at`` the update at which
    the run stopped (see ``status``); ``loss_limit`` the loss above which the run
    diverges (``max_loss_ratio × L_init``, +inf when ``L_init <= 0``; ``None`` when
    the plan has no such rule).
    """

    params: Params
    opt_state: OptState
    prev_loss: Array
    status: Array
    stopped_at: Array
    epoch_losses: Array | None
    loss_limit: Array | None = None


class Record(NamedTuple):
    """What one update reports: L_t (and θ_t, ‖g_t‖ when needed)."""

    loss: Array
    params: Params | None
    grad_norm: Array | None


class History(NamedTuple):
    """What a run records every ``record_every`` updates."""

    losses: Array
    params: Params | None


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
        """``fn`` of one lane, applied to every lane (:func:`jaxgd._layout.lane_map`, a
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


# ----------------------------------------------------------------------------- input checks


def _check_positive_int(name: str, value: Any, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive integer; {hint}")
    return int(value)


_FINITE_ARRAYS: dict[int, weakref.ref] = {}
"""JAX arrays already found finite (``id`` -> weak reference), so that repeated calls
with the same data (a sweep per learning rate, a benchmark) check it once."""


def _is_finite(array: Any) -> bool:
    """Whether every entry is finite; a JAX array is checked where it lives (one scalar back).

    JAX arrays are immutable, so a finite one is remembered while it lives.
    """
    if not isinstance(array, jax.Array):
        return bool(np.all(np.isfinite(np.asarray(array))))
    known = _FINITE_ARRAYS.get(id(array))
    if known is not None and known() is array:
        return True
    with jax.ensure_compile_time_eval():  # concrete even when fit is called under jit
        finite = bool(jnp.all(jnp.isfinite(array)))
    if finite:
        identity = id(array)
        _FINITE_ARRAYS[identity] = weakref.ref(
            array, lambda _, identity=identity: _FINITE_ARRAYS.pop(identity, None)
        )
    return finite


def as_arrays(data: Batch | None) -> Batch | None:
    """``(x, y)`` as JAX arrays (a JAX array is taken as it is: ``jnp.asarray`` of one
    costs about 20 µs per call, a sizeable part of a small sweep's host work)."""
    if data is None:
        return None
    return tuple(a if isinstance(a, jax.Array) else jnp.asarray(a) for a in data)


def check_data(data: Batch | None) -> int | None:
    """Validate ``data = (x, y)``; return the number of examples (``None`` for no data)."""
    if data is None:
        return None
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(
            "data must be a pair (x, y) of arrays with examples along the first axis, "
            "or None for an objective of the parameters alone."
        )
    x, y = data
    for name, array in (("x", x), ("y", y)):
        if array is None:
            raise ValueError(
                f"data's {name} is None; give data=(x, y) with both arrays, or data=None for an "
                "objective of the parameters alone (called as loss_fn(params, None, None))."
            )
        if not isinstance(array, (jax.Array, np.ndarray, list, np.generic, int, float)):
            raise TypeError(
                f"data's {name} is a {type(array).__name__}; give an array with examples along "
                "the first axis (several inputs: stack or concatenate them into one array)."
            )
        dtype = getattr(array, "dtype", None) or np.asarray(array).dtype
        if not (jnp.issubdtype(dtype, jnp.number) or jnp.issubdtype(dtype, jnp.bool_)):
            raise TypeError(
                f"data's {name} has dtype {dtype}; give numbers (e.g. np.asarray({name}, float))."
            )
    n_x, n_y = np.shape(x)[:1], np.shape(y)[:1]
    if not n_x or not n_y:
        raise ValueError(
            f"x has shape {np.shape(x)} and y has shape {np.shape(y)}; both need a leading "
            "axis of examples, e.g. x of shape [m, n_features] and y of shape [m]."
        )
    if n_x != n_y:
        raise ValueError(
            f"x has {n_x[0]} examples but y has {n_y[0]}; give one target per example."
        )
    if n_x[0] == 0:
        raise ValueError(
            "data has 0 examples (x and y have an empty first axis); give at least one."
        )
    for name, array in (("x", x), ("y", y)):
        if not isinstance(array, jax.core.Tracer) and not _is_finite(array):
            raise ValueError(
                f"{name} contains NaN or infinite values; remove or impute them before fitting."
            )
    return int(n_x[0])


def check_params(params: Params, name: str = "params", *, finite: bool = True) -> None:
    """Parameters to train: at least one leaf, every leaf a real floating-point array, finite.

    ``finite=False`` checks the structure and dtypes only (for ``jax.eval_shape`` output).

    Raises:
      TypeError: a leaf that is not a real floating-point array (an int ``1``, a string, a
        complex array: jax.grad needs real floats here).
      ValueError: no leaves at all, or a leaf with NaN or infinite entries.
    """
    leaves = jax.tree_util.tree_leaves_with_path(params)
    if not leaves:
        raise ValueError(f"{name} has no arrays to train (got {params!r}).")
    for path, leaf in leaves:
        where = f"{name}{jax.tree_util.keystr(path)}"
        dtype = getattr(leaf, "dtype", None)
        if dtype is None:
            dtype = np.asarray(leaf).dtype if isinstance(leaf, (int, float)) else None
        if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
            kind = f"dtype {dtype}" if dtype is not None else f"type {type(leaf).__name__}"
            raise TypeError(
                f"{where} has {kind}; parameters must be real floating-point arrays "
                "(write 1.0, not 1, or jnp.asarray(p, jnp.float32))."
            )
        if finite and not isinstance(leaf, jax.core.Tracer) and not _is_finite(leaf):
            raise ValueError(
                f"{where} contains NaN or infinite values; start from finite parameters."
            )


def _struct(leaf: Any) -> jax.ShapeDtypeStruct:
    if isinstance(leaf, jax.ShapeDtypeStruct):
        return leaf
    return jax.ShapeDtypeStruct(np.shape(leaf), jnp.result_type(leaf))


def check_loss_fn(loss_fn: LossFn, params: Params, data: Batch | None) -> None:
    """``loss_fn(params, x, y)`` returns one real floating-point number (checked once per shape).

    ``params`` and ``data`` may be arrays or ``jax.ShapeDtypeStruct``s; the loss is traced
    with ``jax.eval_shape``, never run.

    Raises:
      TypeError: naming ``loss_fn`` when it returns an array of another shape (e.g. the
        per-example losses instead of their mean) or a non-float value.
    """
    leaves, treedef = jax.tree.flatten((params, data))
    _checked_loss(loss_fn, treedef, tuple(_struct(leaf) for leaf in leaves))


def _check_loss_output(loss_fn: LossFn, treedef: Any, structs: tuple) -> None:
    params, data = jax.tree.unflatten(treedef, structs)
    x, y = data if data is not None else (None, None)
    check_arity("loss_fn", loss_fn, 3, "loss_fn(params, x, y)")
    closed = jax.make_jaxpr(loss_fn, return_shape=True)(params, x, y)
    jaxpr, out = closed
    shape, dtype = getattr(out, "shape", None), getattr(out, "dtype", None)
    if shape != () or dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        what = f"shape {shape} and dtype {dtype}" if shape is not None else repr(out)
        raise TypeError(
            f"loss_fn(params, x, y) must return one real number, the mean loss over the batch "
            f"(e.g. jnp.mean((pred - y) ** 2)); it returned {what}."
        )
    if data is not None and x.shape and x.shape[0] >= 2:
        _warn_on_pairwise_broadcast(jaxpr.jaxpr, x.shape[0])


def check_arity(name: str, fn: Callable[..., Any], n_args: int, how: str) -> None:
    """A ``TypeError`` naming ``name`` when ``fn`` cannot take ``n_args`` positional arguments."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin or C callable: it will say so itself
        return
    try:
        signature.bind(*range(n_args))
    except TypeError as error:
        raise TypeError(f"{name} is called as {how}, but {error}.") from None


_NOT_ELEMENTWISE = {"dot_general", "conv_general_dilated"}


def _warn_on_pairwise_broadcast(jaxpr: Any, m: int) -> None:
    """Warn when an element-wise step of the loss pairs every example with every other.

    ``pred`` of shape ``[m, 1]`` minus ``y`` of shape ``[m]`` (or the reverse) broadcasts
    to ``[m, m]``, and the mean over it fits the wrong model without any error: the
    commonest silent slip with Géron-style ``[m, 1]`` targets. An element-wise operation
    whose result has two axes of length ``m`` while none of its operands has two is that
    slip (matrix products, which build ``[m, m]`` Gram matrices on purpose, are left out).
    """
    for eqn in jaxpr.eqns:
        for value in eqn.params.values():
            inner = getattr(value, "jaxpr", value)
            if hasattr(inner, "eqns"):
                _warn_on_pairwise_broadcast(inner, m)
        if eqn.primitive.name in _NOT_ELEMENTWISE:
            continue
        shapes = [tuple(getattr(v.aval, "shape", ())) for v in eqn.invars]
        for out in eqn.outvars:
            out_shape = tuple(getattr(out.aval, "shape", ()))
            if out_shape.count(m) >= 2 and all(shape.count(m) <= 1 for shape in shapes):
                if not any(shape.count(m) == 1 for shape in shapes):
                    continue
                warnings.warn(
                    f"loss_fn combines arrays of shapes {' and '.join(map(str, shapes))} into "
                    f"{out_shape} on data of {m} examples: every example is paired with every "
                    "other, as when predictions of shape [m, 1] meet targets of shape [m] (or "
                    "the reverse), and the mean over that fits the wrong model. Give both the "
                    "same shape (e.g. y.reshape(-1, 1), or pred[:, 0]); if the pairing is "
                    "intended, filter this warning.",
                    JaxgdWarning,
                    stacklevel=2,
                )
                return


_checked_loss = functools.lru_cache(maxsize=64)(_check_loss_output)


def check_optimizer(optimizer: Any, name: str = "optimizer") -> GradientTransformation:
    """``optimizer`` if it is a transformation (``init`` and ``update``), else a clear error."""
    if callable(getattr(optimizer, "init", None)) and callable(getattr(optimizer, "update", None)):
        return optimizer
    if callable(optimizer):
        label = getattr(optimizer, "__name__", None) or "the factory"
        raise TypeError(
            f"{name}={label} is an optimizer factory, not a transformation: call it, "
            f"e.g. {label}(0.1) (jaxgd.sweep takes the factory itself)."
        )
    raise TypeError(
        f"{name}={optimizer!r} is not a GradientTransformation (with init and update); "
        "pass e.g. jaxgd.optim.sgd(0.1) or optax.adam(1e-3)."
    )


def check_flag(name: str, value: Any) -> bool:
    """A bool option; anything else (a string such as "no", a number) is an error."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}={value!r} must be True or False.")
    return bool(value)


DEFAULT_MAX_LOSS_RATIO = 1e6
"""A run diverges once its loss exceeds this multiple of max(L_init, L_zero) (see the module)."""


def _check_number(name: str, value: Any, hint: str) -> float | None:
    """``value`` as a float (``None`` for a tracer, left to the compiled program)."""
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating, np.ndarray, jax.Array)
    ):
        raise TypeError(f"{name}={value!r} must be a number; {hint}")
    if np.ndim(value) != 0:
        raise TypeError(f"{name} must be a single number, got shape {np.shape(value)}; {hint}")
    return float(value)


def make_plan(
    loss_fn: LossFn,
    data: Batch | None,
    *,
    steps: int | None,
    epochs: int | None,
    batch_size: int | None,
    sampling: str,
    drop_last: bool,
    tol: float | None,
    stop_on: str,
    record_every: int,
    record_params: bool,
    loss_with_key: bool = False,
    max_loss_ratio: float | None = DEFAULT_MAX_LOSS_RATIO,
) -> Plan:
    """Check the run's settings and fix the shape of its compiled loop."""
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable loss_fn(params, x, y); got {loss_fn!r}.")
    n_examples = check_data(data)
    if (steps is None) == (epochs is None):
        raise ValueError(
            "give exactly one of steps= (number of updates) or epochs= (passes over the data); "
            f"got steps={steps!r}, epochs={epochs!r}."
        )
    record_every = _check_positive_int(
        "record_every", record_every, "use 1 to record the loss at every update."
    )
    if sampling not in SAMPLING:
        raise ValueError(f"sampling={sampling!r}; choose one of {', '.join(SAMPLING)}.")
    if stop_on not in STOP_ON:
        raise ValueError(f"stop_on={stop_on!r}; choose one of {', '.join(STOP_ON)}.")
    tol_hint = "pass e.g. tol=1e-6, or None for no stopping."
    tol_value = None if tol is None else _check_number("tol", tol, tol_hint)
    if tol_value is not None and not (math.isfinite(tol_value) and tol_value >= 0):
        raise ValueError(f"tol={tol!r} must be a finite number >= 0; {tol_hint}")
    ratio_hint = "pass e.g. max_loss_ratio=1e6, or None to flag only non-finite losses."
    if max_loss_ratio is not None:
        ratio = _check_number("max_loss_ratio", max_loss_ratio, ratio_hint)
        if ratio is None or not (math.isfinite(ratio) and ratio > 1):
            raise ValueError(
                f"max_loss_ratio={max_loss_ratio!r} must be a number > 1; {ratio_hint}"
            )
        max_loss_ratio = ratio
    drop_last = check_flag("drop_last", drop_last)
    record_params = check_flag("record_params", record_params)
    loss_with_key = check_flag("loss_with_key", loss_with_key)
    if batch_size is None:
        updates_per_epoch = 1
    else:
        batch_size = _check_positive_int(
            "batch_size", batch_size, "use batch_size=None for full-batch GD."
        )
        if n_examples is None:
            raise ValueError(
                "batch_size needs data to draw batches from; this objective has data=None, "
                "so use batch_size=None."
            )
        if batch_size > n_examples:
            raise ValueError(
                f"batch_size={batch_size} is larger than the {n_examples} examples; "
                "use batch_size=None for full-batch GD."
            )
        updates_per_epoch = (
            n_examples // batch_size if drop_last else math.ceil(n_examples / batch_size)
        )
    if steps is not None:
        n_updates = _check_positive_int("steps", steps, "it is the number of updates to take.")
        n_epochs = None
    else:
        n_epochs = _check_positive_int(
            "epochs", epochs, "it is the number of passes over the data."
        )
        n_updates = n_epochs * updates_per_epoch
    if n_updates >= NEVER:
        raise ValueError(
            f"{n_updates} updates are more than one run can count (at most {NEVER - 1}); "
            "lower steps or epochs, and continue a run with opt_state=result.opt_state."
        )
    plan = Plan(
        loss_fn=loss_fn,
        n_updates=n_updates,
        n_examples=n_examples,
        batch_size=batch_size,
        updates_per_epoch=updates_per_epoch,
        sampling=sampling,
        drop_last=bool(drop_last),
        stop_on=None if tol is None else stop_on,
        record_every=record_every,
        record_params=bool(record_params),
        n_epochs=n_epochs,
        loss_with_key=bool(loss_with_key),
        max_loss_ratio=max_loss_ratio,
    )
    if plan.masked and plan.loss_with_key:
        raise ValueError(
            f"loss_with_key=True with batch_size={batch_size} not dividing the {n_examples} "
            "examples: pass drop_last=True (or a batch size that divides the data)."
        )
    return plan


# ----------------------------------------------------------------------------- the loop


def full_loss(plan: Plan, params: Params, data: Batch | None) -> Array:
    """The loss on the whole data set (or the surface's value when ``data`` is None)."""
    x, y = data if data is not None else (None, None)
    return jnp.asarray(plan.loss_fn(params, x, y))


def _padded_length(plan: Plan) -> int:
    return plan.updates_per_epoch * plan.batch_size if plan.masked else plan.n_examples


PACKED_ORDER_MAX_EXAMPLES = 4096
"""Up to this many examples, :func:`epoch_order` sorts one packed 32-bit key per example."""


def epoch_order(key: PRNGKey, epoch: Array | int, n_examples: int) -> Array:
    """The example order of one epoch: a random permutation of ``0 … n − 1``.

    The examples sorted by random bits drawn from ``fold_in(key, epoch)``, 32 per
    example; equal draws keep their index order. For ``n <= 4096`` the sort key is one
    32-bit word per example, the top ``32 − k`` random bits above the example's own
    ``k = ceil(log2 n)``-bit index: XLA's CPU sort of one array is about 6× faster than
    sorting the random bits with the indices alongside (an argsort). With at least 20
    random bits the expected number of tied pairs (kept in index order) per epoch,
    ``n (n − 1) / 2^(33 − k)``, is below 8. Larger data sets use the argsort of all 32 bits.
    One random draw and a sort: no key split as in ``jax.random.permutation``.
    """
    bits = jax.random.bits(jax.random.fold_in(key, epoch), (n_examples,), jnp.uint32)
    if n_examples > PACKED_ORDER_MAX_EXAMPLES:
        return jnp.argsort(bits, stable=True).astype(jnp.int32)
    index_bits = max(1, (n_examples - 1).bit_length())
    index_mask = jnp.uint32(2**index_bits - 1)
    packed = (bits & ~index_mask) | jnp.arange(n_examples, dtype=jnp.uint32)
    return (jnp.sort(packed) & index_mask).astype(jnp.int32)


def _epoch_order(plan: Plan, key: PRNGKey, epoch: Array) -> Array:
    """:func:`epoch_order`; with masking, padded with ``n_examples`` (= absent)."""
    order = epoch_order(key, epoch, plan.n_examples)
    padding = _padded_length(plan) - plan.n_examples
    return jnp.concatenate([order, jnp.full((padding,), plan.n_examples, order.dtype)])


def batch_indices(plan: Plan, key: PRNGKey, ts: Array) -> Array | None:
    """The example indices of the batches of updates ``ts``: ``[len(ts), batch_size]``.

    ``None`` for batch GD. With masking, absent examples of a smaller last batch are
    ``n_examples``. All the random draws of a chunk of updates are made here, at
    once (one compiled site for the permutations, not one per step variant).
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
    orders = jax.vmap(lambda e: _epoch_order(plan, key, e))(first + jnp.arange(n_epochs))

    def cut(t: Array) -> Array:
        row = orders[t // per_epoch - first]
        return jax.lax.dynamic_slice_in_dim(row, (t % per_epoch) * k, k)

    return jax.vmap(cut)(ts)


def _batch(plan: Plan, data: Batch | None, index: Array | None):
    """``(x_b, y_b, weights)`` for one update; weights are None unless the batch is masked."""
    if index is None:
        return (*((None, None) if data is None else data), None)
    x, y = data
    if not plan.masked:
        return x[index], y[index], None
    present = index < plan.n_examples
    index = jnp.where(present, index, 0)
    return x[index], y[index], present


LOSS_KEY_STREAM = 2**31 - 1
"""Update t's loss key (dropout) is ``fold_in(fold_in(key, LOSS_KEY_STREAM), t)``."""


def _batch_loss(
    plan: Plan, params: Params, x: Any, y: Any, weights: Array | None, key: PRNGKey | None
) -> Array:
    if key is not None:
        return jnp.asarray(plan.loss_fn(params, x, y, key=key))
    if weights is None:
        return jnp.asarray(plan.loss_fn(params, x, y))
    per_example = jax.vmap(lambda xi, yi: plan.loss_fn(params, xi[None], yi[None]))(x, y)
    weights = weights.astype(per_example.dtype)
    return jnp.sum(weights * per_example) / jnp.sum(weights)


def _global_norm(tree: Any) -> Array:
    return jnp.sqrt(sum(jnp.sum(jnp.square(leaf)) for leaf in jax.tree.leaves(tree)))


def _select(flag: Array, on_true: Any, on_false: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), on_true, on_false)


def _evaluate(
    plan: Plan, data: Batch | None, key: PRNGKey, index: Array | None, t: Array, params: Params
) -> tuple[Array, Params]:
    """``(L, ∂L/∂θ)`` of ``params`` on batch ``t`` (examples ``index``)."""
    x, y, weights = _batch(plan, data, index)
    loss_key = (
        jax.random.fold_in(jax.random.fold_in(key, LOSS_KEY_STREAM), t)
        if plan.loss_with_key
        else None
    )
    return jax.value_and_grad(lambda p: _batch_loss(plan, p, x, y, weights, loss_key))(params)


def loss_limit(plan: Plan, params: Params, data: Batch | None, dtype: Any) -> Array | None:
    """The loss above which a run that starts from ``params`` diverges.

    ``max_loss_ratio × L_ref`` with ``L_ref = max(L_init, L_zero)``: the whole-data losses
    of ``params`` and of all-zero parameters (the model that predicts 0, the scale of the
    problem). ``L_zero`` keeps a run that starts near the optimum (a fine-tuned or
    warm-started model, whose ``L_init`` can be 1e-13) from being judged against its own
    tiny starting loss. +inf when neither is positive and finite (the ratio then says
    nothing); ``None`` when the plan has no ``max_loss_ratio``.
    """
    if plan.max_loss_ratio is None:
        return None
    zero = jax.tree.map(jnp.zeros_like, params)
    losses = jnp.stack([full_loss(plan, p, data).astype(dtype) for p in (params, zero)])
    reference = jnp.max(jnp.where(jnp.isfinite(losses), losses, -jnp.inf))
    usable = jnp.isfinite(reference) & (reference > 0)
    return jnp.where(usable, plan.max_loss_ratio * reference, jnp.inf).astype(dtype)


def init_carry(
    plan: Plan,
    optimizer: GradientTransformation,
    params: Params,
    opt_state: OptState | None,
    data: Batch | None,
) -> Carry:
    """The loop state of one run before the first update."""
    if opt_state is None:
        opt_state = optimizer.init(params)
    loss_dtype = jnp.result_type(*jax.tree.leaves(params))
    loss_dtype = loss_dtype if jnp.issubdtype(loss_dtype, jnp.floating) else jnp.result_type(float)
    return Carry(
        params=params,
        opt_state=opt_state,
        prev_loss=jnp.array(jnp.inf, loss_dtype),
        status=jnp.array(RUNNING, jnp.int32),
        stopped_at=jnp.array(-1, jnp.int32),
        epoch_losses=(
            jnp.full((plan.n_epochs,), jnp.nan, loss_dtype) if plan.n_epochs is not None else None
        ),
        loss_limit=loss_limit(plan, params, data, loss_dtype),
    )


def _gradient_step(
    plan: Plan,
    optimizer: GradientTransformation,
    data: Batch | None,
    key: PRNGKey,
    carry: Carry,
    t: Array,
    index: Array | None,
) -> tuple[Array, Params, Params, OptState]:
    """Update ``t`` on the examples ``index``: ``(L_t, g_t)`` and ``(θ_{t+1}, s_{t+1})``."""
    loss, grads = _evaluate(plan, data, key, index, t, carry.params)
    updates, opt_state = optimizer.update(grads, carry.opt_state, carry.params)
    params = apply_updates(carry.params, updates)
    return loss.astype(carry.prev_loss.dtype), grads, params, opt_state


def _epoch_losses(
    plan: Plan, data: Batch | None, epoch_losses: Array | None, params: Params, t: Array, live: Any
) -> Array | None:
    """After the last update of an epoch, store the whole-data loss of ``params``."""
    if plan.n_epochs is None:
        return epoch_losses
    epoch_end = ((t + 1) % plan.updates_per_epoch == 0) & live
    epoch = jnp.minimum(t // plan.updates_per_epoch, plan.n_epochs - 1)
    return jax.lax.cond(
        epoch_end,
        lambda: epoch_losses.at[epoch].set(
            full_loss(plan, params, data).astype(epoch_losses.dtype)
        ),
        lambda: epoch_losses,
    )


def _step(
    plan: Plan,
    optimizer: GradientTransformation,
    data: Batch | None,
    key: PRNGKey,
    limit: Array,
    carry: Carry,
    update: tuple[Array, Array | None],
) -> tuple[Carry, Record]:
    """Update ``t`` on the examples ``index``: it reports L_t (and θ_t, ‖g_t‖ when needed).

    No check and no select: the body of a bare loop of optimizer updates. A lane
    that must not take the update (it has stopped) is put back after the pass (see
    :func:`advance`).
    """
    t, index = update
    loss, grads, params, opt_state = _gradient_step(plan, optimizer, data, key, carry, t, index)
    new_carry = carry._replace(
        params=params,
        opt_state=opt_state,
        epoch_losses=_epoch_losses(plan, data, carry.epoch_losses, params, t, t < limit),
    )
    return new_carry, Record(
        loss=loss,
        params=carry.params if plan.record_params else None,
        grad_norm=_global_norm(grads) if plan.stop_on == "grad_norm" else None,
    )


def _end_loss(
    plan: Plan, data: Batch | None, key: PRNGKey, params: Params, t: Array, index: Array | None
) -> Array:
    """L_t of ``params`` on batch ``t``, without a gradient (the check after a chunk)."""
    x, y, weights = _batch(plan, data, index)
    loss_key = (
        jax.random.fold_in(jax.random.fold_in(key, LOSS_KEY_STREAM), t)
        if plan.loss_with_key
        else None
    )
    return _batch_loss(plan, params, x, y, weights, loss_key)


class Events(NamedTuple):
    """What one lane's pass over a chunk met (see :func:`_events`)."""

    stop: Array
    converged: Array
    stopped_at: Array


NEVER = 2**30
"""An update index later than any run's (for "no event")."""


def _events(
    plan: Plan,
    tol: Array | None,
    ts: Array,
    t_check: Array,
    start: Carry,
    stop: Array,
    record: Record,
    end_loss: Array,
) -> Events:
    """The first stopping event of each lane in a pass over updates ``ts`` that stopped at ``stop``.

    Convergence at ``t`` (a taken update, ``t < stop``): ``|L_t − L_{t−1}| <= tol`` (or
    ``‖g_t‖ <= tol``); the run keeps θ_t. Divergence at ``t <= stop``: L_t is not
    finite or above the lane's ``loss_limit``, so update ``t − 1`` is rejected and the run
    keeps θ_{t−1}; ``end_loss``
    (the loss of the pass's result, on batch ``t_check``) checks the last update.
    Returns the new ``stop`` (unchanged if nothing happened).

    Works on the records as the pass wrote them, update-major (``[updates, lanes]``, or
    ``[updates]`` for a single run): every reduction runs over axis 0, with no transposes.
    """
    running = start.status == RUNNING
    losses = record.loss
    update = ts.reshape(ts.shape + (1,) * (losses.ndim - 1))  # broadcasts against the lanes
    limit = start.loss_limit

    def diverging(loss: Array) -> Array:
        """Not finite, or above the lane's limit."""
        if limit is None:
            return ~jnp.isfinite(loss)
        lanes_limit = limit.reshape((1,) * (loss.ndim - limit.ndim) + limit.shape)
        return ~jnp.isfinite(loss) | (loss > lanes_limit)

    end_bad = running & (stop >= t_check) & diverging(end_loss)

    def flags() -> tuple[Array, Array]:
        """Per record: ``(met, bad)``, a convergence or a divergence event."""
        finite = jnp.isfinite(losses)
        if plan.stop_on == "loss_change":
            previous = jnp.concatenate([start.prev_loss[None], losses[:-1]])
            met = finite & (jnp.abs(losses - previous) <= tol)
        elif plan.stop_on == "grad_norm":
            met = finite & (record.grad_norm <= tol)
        else:
            met = jnp.zeros_like(finite)
        written = running[None] & (update < t_check)  # rows past t_check are not this chunk's
        bad = diverging(losses) & written & (update <= stop[None])
        return met & written & (update < stop[None]), bad

    def first_events() -> Events:
        met, bad = flags()
        converged_at = jnp.min(jnp.where(met, update, NEVER), axis=0)
        bad_at = jnp.min(jnp.where(bad, update, NEVER), axis=0)
        bad_at = jnp.minimum(bad_at, jnp.where(end_bad, t_check, NEVER))
        converged = converged_at < bad_at
        diverged = bad_at < converged_at
        return Events(
            stop=jnp.where(
                converged, converged_at, jnp.where(diverged, jnp.maximum(bad_at - 1, ts[0]), stop)
            ),
            converged=converged,
            stopped_at=jnp.where(converged, converged_at, jnp.maximum(bad_at - 1, 0)),
        )

    def no_events() -> Events:
        return Events(stop=stop, converged=jnp.zeros_like(running), stopped_at=start.stopped_at)

    # Most chunks meet no event: a cheap flag first, the search per lane only if it is set.
    # A column of records holds a non-finite loss exactly when its sum is not finite (or,
    # rarely, when the sum overflows; the search then finds nothing). The sums are a product
    # with a vector of ones, which reads the records about 3x faster than a masked reduction
    # on XLA's CPU backend. (Rows past t_check hold a running lane's finite earlier records,
    # all below its limit.) With a limit, the column maxima are compared with it too.
    n_records = losses.shape[0]
    sums = jnp.ones((1, n_records), losses.dtype) @ losses.reshape(n_records, -1)
    flagged = jnp.any(running.reshape(-1) & ~jnp.isfinite(sums[0])) | jnp.any(end_bad)
    if limit is not None:
        flagged = flagged | jnp.any(running & (jnp.max(losses, axis=0) > limit))
    if plan.stop_on is not None:
        flagged = flagged | jnp.any(flags()[0])
    return jax.lax.cond(flagged, first_events, no_events)


def _settle(
    start: Carry,
    ts: Array,
    chunk_end: Array,
    stop: Array,
    end: Carry,
    record: Record,
) -> tuple[Carry, Record]:
    """A chunk's records as its history shows them: from a lane's ``stop`` on, the
    loss (and parameters) of its final state ``end``, repeated."""
    stopped_index = jnp.clip(stop - ts[0], 0, ts.shape[0] - 1)
    losses = record.loss
    at_stop = jnp.take_along_axis(losses, stopped_index[None], axis=0)[0]
    # a lane that stops in this chunk: its loss at the stop; one stopped before: its final
    # loss, carried in prev_loss (its record here is the loss of its frozen parameters on
    # this chunk's batch, which changes with the batch)
    stops_here = (start.status == RUNNING) & jnp.isfinite(at_stop)
    final_loss = jnp.where(stops_here, at_stop, start.prev_loss)
    update = ts.reshape(ts.shape + (1,) * (losses.ndim - 1))
    keep = (start.status == RUNNING)[None] & (update <= stop[None])
    losses = jnp.where(keep, losses, final_loss[None])

    def repeat_final(recorded: Array, final: Array) -> Array:
        flag = keep.reshape(keep.shape + (1,) * (recorded.ndim - keep.ndim))
        return jnp.where(flag, recorded, final[None])

    params = (
        None if record.params is None else jax.tree.map(repeat_final, record.params, end.params)
    )
    # L_{t−1} before the next chunk: the loss of the chunk's last update taken
    prev_loss = jax.lax.dynamic_index_in_dim(losses, chunk_end - 1 - ts[0], 0, keepdims=False)
    return end._replace(prev_loss=prev_loss), Record(losses, params, None)


CHUNK_UPDATES = 100
"""About how many updates a lane takes between two rounds of checks (see :func:`advance`)."""


def _records_per_chunk(n_records: int, record_every: int) -> int:
    """Records per chunk: a divisor of ``n_records`` near ``CHUNK_UPDATES / record_every``.

    (A poor divisor, e.g. of a prime, gives way to the target; the last chunk is then padded.)
    """
    target = max(1, CHUNK_UPDATES // record_every)
    divisor = max(d for d in range(1, min(target, n_records) + 1) if n_records % d == 0)
    return divisor if 4 * divisor >= min(target, n_records) else target


class _Passes(NamedTuple):
    """The state of :func:`advance`'s loop before a pass over updates ``first, …`` of ``chunk``.

    ``carry`` is every lane's state at ``first`` (its ``status`` the one at the chunk's
    start); ``records`` the chunk's records so far (``[updates, (lanes,) …]``);
    ``replay``: whether the pass replays the chunk up to the next lane's stop.
    """

    chunk: Array
    first: Array
    replay: Array
    stop: Array
    status: Array
    stopped_at: Array
    carry: Carry
    records: Record
    history: History


def advance(
    plan: Plan,
    make_optimizer: Callable[[Any], GradientTransformation],
    lanes: Lanes,
    carry: Carry,
    data: Batch | None,
    tol: Array | None,
    start: Array | int,
    n_records: int,
) -> tuple[Carry, History]:
    """Run updates ``start, …, start + n_records × record_every − 1`` of every lane.

    The updates run in chunks of about ``CHUNK_UPDATES``, as passes of one
    ``while_loop``; every pass runs the same compiled step, with no check and no
    select in it (a select of the new or the old state at every update made XLA copy
    the whole state before each update). A pass takes every lane's updates
    ``first, …, last − 1`` of the chunk, shared by the lanes; then a lane that must
    not have taken them (it had stopped) is put back where it was.

    The first pass over a chunk runs all of it, then computes the loss of the result
    once and looks for stopping events (a non-finite loss, ``tol``) in its records.
    If no lane met one, the chunk is done. Otherwise the chunk is replayed from its
    start in segments that end at the lanes' stops, in order: at the end of each
    segment the lanes that stop there keep exactly the parameters and optimizer
    state they have, and the others go on (computing what they computed the first
    time). The records of the first pass stand.

    Each chunk keeps the record of every ``record_every``-th update; updates past
    ``plan.n_updates`` are not taken. The history comes out records-first,
    ``[records, (lanes,) …]``, as the loop writes it.
    """
    r = plan.record_every
    per_chunk = _records_per_chunk(n_records, r)
    n_chunks = math.ceil(n_records / per_chunk)
    length = per_chunk * r
    start = jnp.asarray(start, jnp.int32)
    limit = jnp.minimum(start + n_records * r, plan.n_updates)

    def chunk_updates(chunk: Array) -> Array:
        return start + chunk * length + jnp.arange(length, dtype=jnp.int32)

    def first_stop(status: Array, ts: Array) -> Array:
        return jnp.where(status == RUNNING, limit, ts[0]).astype(jnp.int32)

    def lane_batches(key: PRNGKey, ts: Array, last: Array) -> Array | None:
        return batch_indices(plan, key, jnp.concatenate([ts, last[None]]))

    def lane_step(hyperparameters: Any, key: PRNGKey, lane: Carry, index: Any, t: Array):
        return _step(plan, make_optimizer(hyperparameters), data, key, limit, lane, (t, index))

    def lane_end_loss(key: PRNGKey, params: Params, index: Any, t: Array) -> Array:
        return _end_loss(plan, data, key, params, t, index)

    def run_pass(lane: Carry, records: Record, ts: Array, first: Array, last: Array):
        """Updates ``first … last − 1`` of chunk ``ts`` of every lane (the loop over updates
        outside, the lanes inside: records are written as rows, ``[updates, lanes]``)."""
        both = lanes.map(lane_batches, 1)(lanes.keys, ts, last)
        if both is None:
            batches = end_batch = None
        else:  # [(lanes,) updates + 1, batch]
            batches, end_batch = both[..., :-1, :], both[..., -1, :]
        step = lanes.map(lane_step, 4 if batches is not None else 3)

        def update(i: Array, state: tuple[Carry, Record]) -> tuple[Carry, Record]:
            lane, records = state
            if batches is None:
                lane, record = step(lanes.hyperparameters, lanes.keys, lane, None, ts[i])
            else:
                index = batches[:, i] if lanes.batched else batches[i]
                lane, record = step(lanes.hyperparameters, lanes.keys, lane, index, ts[i])
            # a dynamic_update_slice: no negative-index or bounds handling per update
            return lane, jax.tree.map(
                lambda a, b: jax.lax.dynamic_update_index_in_dim(a, b, i, 0), records, record
            )

        lane, records = jax.lax.fori_loop(first - ts[0], last - ts[0], update, (lane, records))
        return lane, records, end_batch

    def check(ts: Array, t_check: Array, start: Carry, stop: Array, end: Carry, records, batch):
        """The events of a first pass (its result's loss on batch ``t_check`` included)."""
        end_loss = lanes.map(lane_end_loss, 3 if batch is not None else 2)(
            lanes.keys, end.params, batch, t_check
        )
        return _events(plan, tol, ts, t_check, start, stop, records, end_loss)

    def no_check(ts: Array, t_check: Array, start: Carry, stop: Array, *_) -> Events:
        """A replay pass looks for nothing: its stops are known."""
        return Events(stop=stop, converged=jnp.zeros_like(stop, bool), stopped_at=start.stopped_at)

    put_back = lanes.map(_select)

    def strided(record: Record) -> History:
        return History(record.loss[::r], jax.tree.map(lambda a: a[::r], record.params))

    def body(state: _Passes) -> _Passes:
        ts = chunk_updates(state.chunk)
        chunk_end = jnp.minimum(ts[-1] + 1, limit)
        running = state.carry.status == RUNNING
        ahead = running & (state.stop > state.first) & (state.stop < chunk_end)
        last = jnp.where(state.replay, jnp.min(jnp.where(ahead, state.stop, chunk_end)), chunk_end)
        end, records, end_batch = run_pass(state.carry, state.records, ts, state.first, last)
        found = jax.lax.cond(
            state.replay,
            no_check,
            check,
            *(ts, chunk_end, state.carry, state.stop, end, records, end_batch),
        )
        changed = ~state.replay & (found.stop < state.stop)
        stop = jnp.where(changed, found.stop, state.stop)
        status = jnp.where(changed, jnp.where(found.converged, CONVERGED, DIVERGED), state.status)
        status = status.astype(jnp.int32)
        stopped_at = jnp.where(changed, found.stopped_at, state.stopped_at)
        event = jnp.any(changed)
        done = jnp.where(state.replay, last == chunk_end, ~event)  # the chunk is done
        took = running & (stop >= last) & ~event  # the lanes that keep this pass's result
        carry = put_back(took, end, state.carry)
        settled, settled_records = _settle(state.carry, ts, chunk_end, stop, carry, records)
        # written after every pass; the chunk's last pass writes it for good
        history = jax.tree.map(
            lambda buffer, piece: jax.lax.dynamic_update_index_in_dim(
                buffer, piece, state.chunk, 0
            ),
            state.history,
            strided(settled_records),
        )
        next_chunk = jnp.where(done, state.chunk + 1, state.chunk)
        next_ts = chunk_updates(next_chunk)
        return _Passes(
            chunk=next_chunk,
            first=jnp.where(done, next_ts[0], jnp.where(state.replay, last, ts[0])),
            replay=~done & (state.replay | event),
            stop=jnp.where(done, first_stop(status, next_ts), stop),
            status=status,
            stopped_at=stopped_at,
            carry=_select(
                done,
                settled._replace(status=status, stopped_at=stopped_at),
                carry,
            ),
            records=records,
            history=history,
        )

    ts = chunk_updates(jnp.array(0, jnp.int32))

    def one_record(hyperparameters: Any, key: PRNGKey, lane: Carry) -> Record:
        index = batch_indices(plan, key, ts[:1])
        update = (ts[0], None if index is None else index[0])
        return _step(plan, make_optimizer(hyperparameters), data, key, limit, lane, update)[1]

    record = jax.eval_shape(lanes.map(one_record), lanes.hyperparameters, lanes.keys, carry)
    records = jax.tree.map(lambda a: jnp.zeros((length, *a.shape), a.dtype), record)
    history = jax.tree.map(
        lambda a: jnp.zeros((n_chunks, per_chunk, *a.shape), a.dtype),
        History(record.loss, record.params),
    )
    state = _Passes(
        chunk=jnp.array(0, jnp.int32),
        first=ts[0],
        replay=jnp.array(False),
        stop=first_stop(carry.status, ts),
        status=carry.status,
        stopped_at=carry.stopped_at,
        carry=carry,
        records=records,
        history=history,
    )
    state = jax.lax.while_loop(lambda state: state.chunk < n_chunks, body, state)

    def records_first(a: Array) -> Array:  # [chunks, per_chunk, (lanes,) …] -> [records, …]
        return a.reshape(n_chunks * per_chunk, *a.shape[2:])[:n_records]

    return state.carry, jax.tree.map(records_first, state.history)


def init_lanes(
    plan: Plan,
    make_optimizer: Callable[[Any], GradientTransformation],
    lanes: Lanes,
    params: Params,
    data: Batch | None,
    opt_state: OptState | None = None,
) -> Carry:
    """Every lane's loop state before the first update (``params`` lane-batched)."""

    def one(hyperparameters: Any, params: Params, opt_state: Any) -> Carry:
        return init_carry(plan, make_optimizer(hyperparameters), params, opt_state, data)

    return lanes.map(one)(lanes.hyperparameters, params, opt_state)


def finish(
    plan: Plan, lanes: Lanes, carry: Carry, data: Batch | None, history: History
) -> FitResult:
    """Package every lane's loop state and recorded history as a :class:`FitResult`."""
    stopped = carry.status != RUNNING
    steps = jnp.where(stopped, carry.stopped_at, plan.n_updates).astype(jnp.int32)
    final_loss = lanes.map(lambda p: full_loss(plan, p, data))(carry.params)
    epoch_losses = carry.epoch_losses
    if epoch_losses is not None:  # epochs that end after a run stopped: its final loss
        epoch_ends = (jnp.arange(plan.n_epochs) + 1) * plan.updates_per_epoch - 1
        epoch_ends = epoch_ends.reshape((1,) * steps.ndim + epoch_ends.shape)  # [(lanes,) epochs]
        after_stop = stopped[..., None] & (epoch_ends >= steps[..., None])
        epoch_losses = jnp.where(after_stop, final_loss[..., None], epoch_losses)
    return FitResult(
        params=carry.params,
        opt_state=carry.opt_state,
        losses=history.losses,
        steps=steps,
        converged=carry.status == CONVERGED,
        diverged=carry.status == DIVERGED,
        diverged_at=jnp.where(carry.status == DIVERGED, carry.stopped_at, -1).astype(jnp.int32),
        final_loss=final_loss,
        epoch_losses=epoch_losses,
        param_history=history.params,
    )


def run(
    plan: Plan,
    make_optimizer: Callable[[Any], GradientTransformation],
    lanes: Lanes,
    params: Params,
    data: Batch | None,
    tol: Array | None = None,
    opt_state: OptState | None = None,
) -> FitResult:
    """Whole runs of every lane as one pure, traceable function (what :func:`jaxgd.sweep` jits).

    ``params`` (and ``opt_state``, if given) carry a leading lane axis, as do the
    fields of the result, except the histories (``losses``, ``param_history``): those
    are records-first, ``[records, lanes, …]``, as the loop writes them.
    """
    carry = init_lanes(plan, make_optimizer, lanes, params, data, opt_state)
    carry, history = advance(plan, make_optimizer, lanes, carry, data, tol, 0, plan.n_records)
    return finish(plan, lanes, carry, data, history)


def _check_opt_state(optimizer: GradientTransformation, params: Params, opt_state: Any) -> None:
    """A clear error when ``opt_state`` is not a state of ``optimizer`` for ``params``."""
    expected = jax.tree.structure(jax.eval_shape(optimizer.init, params))
    if jax.tree.structure(opt_state) != expected:
        raise ValueError(
            f"opt_state does not fit this optimizer: it is {jax.tree.structure(opt_state)}, "
            f"but optimizer.init(params) gives {expected}. Continue with the optimizer that "
            "made the state (e.g. sgd(0.1) keeps no update count, sgd with a schedule keeps "
            "one), or pass opt_state=None to start afresh."
        )


# ------------------------------------------------------------------------- compiled entry points


def _merged_optimizer(opt_static: Any, opt_dynamic: Any) -> GradientTransformation:
    return _static.merge(opt_dynamic, opt_static)


@functools.partial(jax.jit, static_argnames=("plan", "opt_static"))
def _run_compiled(plan, opt_static, opt_dynamic, params, data, key, tol, opt_state):
    make = functools.partial(_merged_optimizer, opt_static)
    return run(plan, make, Lanes(opt_dynamic, key), params, data, tol, opt_state)


@functools.partial(jax.jit, static_argnames=("plan", "opt_static"))
def _init_compiled(plan, opt_static, opt_dynamic, params, data, key, opt_state):
    make = functools.partial(_merged_optimizer, opt_static)
    return init_lanes(plan, make, Lanes(opt_dynamic, key), params, data, opt_state)


@functools.partial(jax.jit, static_argnames=("plan", "opt_static", "n_records"))
def _advance_compiled(plan, opt_static, opt_dynamic, carry, data, key, tol, start, n_records):
    make = functools.partial(_merged_optimizer, opt_static)
    return advance(plan, make, Lanes(opt_dynamic, key), carry, data, tol, start, n_records)


@functools.partial(jax.jit, static_argnames="plan")
def _finish_compiled(plan, carry, data, key, history):
    return finish(plan, Lanes(None, key), carry, data, history)


PROGRESS_CHUNKS = 20


def _progress_bar(total: int, description: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="update", file=sys.stderr)


def fit(
    loss_fn: LossFn,
    params: Params,
    data: Batch | None,
    optimizer: GradientTransformation,
    *,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    key: PRNGKey | None = None,
    tol: float | None = None,
    record_every: int = 1,
    stop_on: str = "loss_change",
    sampling: str = "shuffle",
    drop_last: bool = False,
    record_params: bool = False,
    loss_with_key: bool = False,
    opt_state: OptState | None = None,
    progress: bool = False,
    max_loss_ratio: float | None = DEFAULT_MAX_LOSS_RATIO,
) -> FitResult:
    """Minimise ``loss_fn`` by gradient descent: forward, loss, ``jax.grad``, update, repeated.

    The whole run is one compiled loop. It is compiled once per shape of
    the problem: a second call with a new learning rate (for :mod:`jaxgd.optim`
    optimizers, whose hyperparameters are arguments of the compiled program),
    key, ``tol`` or data of the same shapes reuses it. (An optax optimizer is
    static: keep one object to reuse the program.) ``loss_fn`` is static too:
    pass the same function each time.

    Args:
      loss_fn: ``loss_fn(params, x, y) -> scalar``, a mean over the examples of the batch.
      params: the starting parameters (a pytree).
      data: ``(x, y)`` with examples along the first axis, or None for an
        objective of the parameters alone (called as ``loss_fn(params, None, None)``).
      optimizer: a ``GradientTransformation`` (jaxgd's or optax's).
      steps: number of updates. Exactly one of ``steps`` and ``epochs``.
      epochs: number of passes over the data (see the module docs for updates per epoch).
      batch_size: None for batch GD, 1 for stochastic GD, k for mini-batch GD.
      key: PRNG key for the data order, needed whenever ``batch_size`` is set:
        ``jax.random.key(s)``, ``jax.random.PRNGKey(s)`` or the int seed ``s`` (the
        three give the same run).
      tol: stop when the loss change (or gradient norm, see ``stop_on``) is ``<= tol``.
      record_every: record the loss every this many updates.
      stop_on: ``"loss_change"`` or ``"grad_norm"``.
      sampling: ``"shuffle"`` (a permutation per epoch) or ``"replacement"``.
      drop_last: drop the last, smaller batch of an epoch instead of masking it.
      record_params: also record the parameters every ``record_every`` updates.
      loss_with_key: call ``loss_fn(params, x, y, key=k_t)`` at each update with a fresh
        key ``k_t`` (for dropout); whole-data losses (``final_loss``, ``epoch_losses``) call
        ``loss_fn(params, x, y)`` without a key, i.e. in evaluation mode.
      opt_state: an optimizer state to continue from (e.g. ``previous.opt_state``),
        so schedules and moment estimates carry on; by default ``optimizer.init(params)``.
      progress: show a progress bar (the loop then runs in chunks; results are unchanged).
      max_loss_ratio: the run diverges once its loss exceeds this multiple of
        ``max(L_init, L_zero)``, the whole-data losses of ``params`` and of all-zero
        parameters (default 1e6); ``None`` flags non-finite losses only. See the module
        docs for the rule.

    Returns:
      A :class:`FitResult`.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxgd.optim import sgd
      >>> loss = lambda w, x, y: jnp.mean((x @ w - y) ** 2)
      >>> x, y = jnp.array([[1.0], [2.0]]), jnp.array([2.0, 4.0])
      >>> result = fit(loss, jnp.zeros(1), (x, y), sgd(0.1), steps=100)
      >>> round(float(result.params[0]), 4), int(result.steps)
      (2.0, 100)
    """
    plan = make_plan(
        loss_fn,
        data,
        steps=steps,
        epochs=epochs,
        batch_size=batch_size,
        sampling=sampling,
        drop_last=drop_last,
        tol=tol,
        stop_on=stop_on,
        record_every=record_every,
        record_params=record_params,
        loss_with_key=loss_with_key,
        max_loss_ratio=max_loss_ratio,
    )
    data = as_arrays(data)
    check_params(params)
    check_loss_fn(loss_fn, params, data)
    optimizer = check_optimizer(optimizer)
    progress = check_flag("progress", progress)
    if key is None:
        if plan.batch_size is not None or plan.loss_with_key:
            raise ValueError(
                (
                    "loss_with_key=True"
                    if plan.batch_size is None
                    else f"batch_size={plan.batch_size}"
                )
                + " draws random numbers and needs a key: pass key=jax.random.key(0) (or any key)."
            )
        key = jax.random.key(0)
    key = as_key(key)
    tol_array = None if tol is None else jnp.asarray(tol)
    if opt_state is not None:
        _check_opt_state(optimizer, params, opt_state)
    opt_dynamic, opt_static = _static.split(optimizer)
    if not progress:
        return _run_compiled(plan, opt_static, opt_dynamic, params, data, key, tol_array, opt_state)
    records_per_chunk = math.ceil(plan.n_records / PROGRESS_CHUNKS)
    chunk = records_per_chunk * plan.record_every
    carry = _init_compiled(plan, opt_static, opt_dynamic, params, data, key, opt_state)
    pieces = []
    with _progress_bar(plan.n_updates, "fit") as bar:
        for start in range(0, plan.n_updates, chunk):
            carry, piece = _advance_compiled(
                plan, opt_static, opt_dynamic, carry, data, key, tol_array, start, records_per_chunk
            )
            pieces.append(piece)
            jax.block_until_ready(carry.status)
            bar.update(min(chunk, plan.n_updates - start))
    history = jax.tree.map(lambda *parts: jnp.concatenate(parts)[: plan.n_records], *pieces)
    return _finish_compiled(plan, carry, data, key, history)
