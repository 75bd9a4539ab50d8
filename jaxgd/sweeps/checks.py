"""The checks a sweep makes before anything compiles: seeds, ``init_fn`` and every lane's
hyperparameters given to the optimizer factory."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from jaxgd._engine.checks import check_arity, check_params
from jaxgd._types import InitFn, PRNGKey
from jaxgd.sweeps.results import python_scalar
from jaxgd.sweeps.space import Configurations


def is_transformation(value: Any) -> bool:
    return callable(getattr(value, "init", None)) and callable(getattr(value, "update", None))


def _configuration(configs: Configurations, c: int) -> dict[str, Any]:
    return {name: python_scalar(column[c]) for name, column in configs.columns.items()}


_CHECKED: dict[Any, None] = {}
"""Hyperparameter columns already checked (a repeated sweep checks its lanes once)."""


def check_lane_optimizers(
    factory: Callable[..., Any], configs: Configurations, groups: Mapping[tuple, np.ndarray]
) -> None:
    """Give every lane's hyperparameters to the optimizer factory before anything compiles.

    The factory is called once per program group with each numeric hyperparameter as an
    array of all the group's values, so a factory that checks its arguments (every
    :mod:`jaxgd.optim` factory does, element-wise) checks every lane, exactly as it would
    check them one at a time. If it raises, the lanes are tried one by one to name the
    first configuration it refuses. The factory must return a transformation.

    Raises:
      ValueError, TypeError: the factory's own error, with the lane's configuration; or a
        ``TypeError`` when the factory returns something without ``init`` and ``update``.
    """
    for static, members in groups.items():
        static_names = {name for name, _ in static}
        values = {
            name: np.asarray(column[members], np.float64)
            for name, column in sorted(configs.columns.items())
            if name not in static_names
        }
        try:
            cache_key = (factory, static, tuple((n, v.tobytes()) for n, v in values.items()))
            hash(cache_key)
        except TypeError:  # an unhashable factory or static value: check every time
            cache_key = None
        if cache_key is not None and cache_key in _CHECKED:
            continue
        try:
            result = factory(**dict(static), **values)
        except (TypeError, ValueError) as error:
            _raise_for_first_refused(factory, configs, members, error)
        if not is_transformation(result):
            raise TypeError(
                f"the optimizer factory returned {result!r}, not a GradientTransformation "
                "(with init and update); it must return one, e.g. "
                "lambda learning_rate: optax.sgd(learning_rate)."
            )
        if cache_key is not None:
            if len(_CHECKED) >= 256:
                _CHECKED.pop(next(iter(_CHECKED)))
            _CHECKED[cache_key] = None


def _raise_for_first_refused(
    factory: Callable[..., Any], configs: Configurations, members: np.ndarray, error: Exception
) -> None:
    """Re-raise ``error`` (from the factory given a group's columns) with the lane it is about."""
    for c in members:
        configuration = _configuration(configs, int(c))
        try:
            factory(**configuration)
        except (TypeError, ValueError) as lane_error:
            raise _same_kind(lane_error)(
                f"{lane_error} (sweep configuration {configuration})"
            ) from lane_error
    raise _same_kind(error)(
        f"{error} (the optimizer factory refused the lanes' hyperparameters given as arrays, "
        "one entry per lane, but accepts each lane alone: the sweep passes them as traced "
        "arrays, so the factory must not turn them into Python numbers or branch on them)"
    ) from error


def _same_kind(error: Exception) -> type[Exception]:
    """``TypeError`` or ``ValueError``, whichever ``error`` is (subclasses may need more
    arguments to be built)."""
    return TypeError if isinstance(error, TypeError) else ValueError


def _check_init_output(init_fn: InitFn, key_shape: tuple[Any, Any]) -> Any:
    params = jax.eval_shape(init_fn, jax.ShapeDtypeStruct(*key_shape))
    check_params(params, "init_fn(key)", finite=False)
    return params


_checked_init_output = functools.lru_cache(maxsize=64)(_check_init_output)


def check_init_fn(init_fn: Any, key: PRNGKey) -> Any:
    """``init_fn`` is callable and returns real floating-point parameters (checked once).

    The output is checked by its shapes and dtypes (``jax.eval_shape``), which are
    returned; a lane whose start has a non-finite loss diverges at update 0.
    """
    if not callable(init_fn):
        raise TypeError(
            f"init_fn={init_fn!r} is not callable; pass a function init_fn(key) -> params "
            "(to start every lane from the same params p: init_fn=lambda key: p)."
        )
    check_arity("init_fn", init_fn, 1, "init_fn(key)")
    key_shape = (key.shape, key.dtype)
    try:
        hash(init_fn)
    except TypeError:
        return _check_init_output(init_fn, key_shape)
    return _checked_init_output(init_fn, key_shape)


def seed_list(seeds: Any) -> list[int]:
    """``seeds`` as a list of seeds: a count ``n`` gives ``0 … n − 1``."""
    hint = (
        "give a positive count (seeds=3) or a list of distinct integers in [0, 2**32) "
        "(seeds=[0, 7])."
    )
    if isinstance(seeds, (bool, np.bool_)):
        raise TypeError(f"seeds={seeds!r}; {hint}")
    if isinstance(seeds, (int, np.integer)):
        if seeds <= 0:
            raise ValueError(f"seeds={seeds!r}; {hint}")
        return list(range(int(seeds)))
    if not isinstance(seeds, (Sequence, np.ndarray)) or isinstance(seeds, (str, bytes)):
        raise TypeError(f"seeds={seeds!r}; {hint}")
    seed_list = list(seeds)
    if not seed_list:
        raise ValueError(f"seeds={seeds!r} is empty; {hint}")
    for seed in seed_list:
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seeds contains {seed!r}; {hint}")
        if not 0 <= seed < 2**32:
            raise ValueError(f"seeds contains {seed}; {hint}")
    if len(set(map(int, seed_list))) != len(seed_list):
        raise ValueError(f"seeds={seed_list} repeats a seed (its lanes would be identical); {hint}")
    return [int(seed) for seed in seed_list]
