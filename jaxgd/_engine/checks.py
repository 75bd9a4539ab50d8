"""Input checks: every argument a run takes, refused with an error that names it and the fix.

Shapes and dtypes are read without running anything (``jax.eval_shape``,
``jax.make_jaxpr``); values are read only to refuse NaN and infinities in the data
and the starting parameters.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd._types import Batch, JaxgdWarning, LossFn, Params
from jaxgd.optim.base import GradientTransformation


def check_positive_int(name: str, value: Any, hint: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive integer; {hint}")
    return int(value)


def all_finite(*arrays: Any) -> bool:
    """Whether every entry of every array is finite.

    A NumPy array, and a JAX array in host memory (the CPU backend, where ``np.asarray``
    views it without a copy), are read in place; JAX arrays on an accelerator are
    checked where they live, all in one compiled call that sends one bool back.
    """
    on_device = []
    for array in arrays:
        if isinstance(array, jax.Array) and array.is_fully_addressable:
            if all(device.platform == "cpu" for device in array.devices()):
                array = np.asarray(array)
            else:
                on_device.append(array)
                continue
        elif isinstance(array, jax.Array):  # a global array of a multi-process run
            on_device.append(array)
            continue
        if not np.all(np.isfinite(np.asarray(array))):
            return False
    if not on_device:
        return True
    with jax.ensure_compile_time_eval():  # concrete even when fit is called under jit
        return bool(_all_finite_on_device(on_device))


@jax.jit
def _all_finite_on_device(arrays: list[Any]) -> Any:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in arrays]))


def as_arrays(data: Batch | None) -> Batch | None:
    """``(x, y)`` as JAX arrays (a JAX array is taken as it is, not copied)."""
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
    concrete = {n: a for n, a in (("x", x), ("y", y)) if not isinstance(a, jax.core.Tracer)}
    if not all_finite(*concrete.values()):
        name = next(n for n, a in concrete.items() if not all_finite(a))
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
    concrete = [(p, leaf) for p, leaf in leaves if not isinstance(leaf, jax.core.Tracer)]
    if finite and not all_finite(*(leaf for _, leaf in concrete)):
        path = next(p for p, leaf in concrete if not all_finite(leaf))
        raise ValueError(
            f"{name}{jax.tree_util.keystr(path)} contains NaN or infinite values; start from "
            "finite parameters."
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


def check_number(name: str, value: Any, hint: str) -> float | None:
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
