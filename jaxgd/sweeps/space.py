"""The search space of a sweep: distributions, configurations and the programs they need.

A configuration is one value per hyperparameter: a grid point (the cartesian product of
``grid``'s value lists, the last name varying fastest) combined with a draw from
``random``. Numbers enter the compiled program as per-lane arrays; other values (a bool,
a schedule, a string) change the program, so configurations are grouped by them.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd._types import PRNGKey


class LogUniform(NamedTuple):
    """Values drawn uniformly in log space between ``low`` and ``high`` (both > 0)."""

    low: float
    high: float


class Uniform(NamedTuple):
    """Values drawn uniformly between ``low`` and ``high``."""

    low: float
    high: float


class Choice(NamedTuple):
    """Values drawn uniformly from a finite list."""

    values: tuple[Any, ...]


def _bound(function: str, name: str, value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"{function}: {name}={value!r} must be a number, e.g. {function}(1e-4, 1).")
    return float(value)


def log_uniform(low: float, high: float) -> LogUniform:
    """A log-uniform distribution on ``[low, high]`` for random search (e.g. learning rates)."""
    low, high = _bound("log_uniform", "low", low), _bound("log_uniform", "high", high)
    if not (0 < low < high and math.isfinite(high)):
        raise ValueError(f"log_uniform({low}, {high}) needs 0 < low < high < inf.")
    return LogUniform(low, high)


def uniform(low: float, high: float) -> Uniform:
    """A uniform distribution on ``[low, high]`` for random search."""
    low, high = _bound("uniform", "low", low), _bound("uniform", "high", high)
    if not (low < high and math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"uniform({low}, {high}) needs finite low < high.")
    return Uniform(low, high)


def choice(values: Sequence[Any]) -> Choice:
    """A uniform choice among ``values`` for random search."""
    values = tuple(values)
    if not values:
        raise ValueError("choice([]) needs at least one value.")
    return Choice(values)


def _draw(distribution: Any, key: PRNGKey, n: int, name: str) -> list[Any]:
    u = np.asarray(jax.random.uniform(key, (n,), jnp.float32), np.float64)
    if isinstance(distribution, LogUniform):
        return list(
            np.exp(np.log(distribution.low) + u * np.log(distribution.high / distribution.low))
        )
    if isinstance(distribution, Uniform):
        return list(distribution.low + u * (distribution.high - distribution.low))
    if isinstance(distribution, Choice):
        index = np.minimum((u * len(distribution.values)).astype(int), len(distribution.values) - 1)
        return [distribution.values[i] for i in index]
    raise ValueError(
        f"random[{name!r}] = {distribution!r}; use jaxgd.sweeps.log_uniform(low, high), "
        "uniform(low, high) or choice([...])."
    )


def _is_numeric_type(kind: type) -> bool:
    return issubclass(kind, (int, float, np.integer, np.floating)) and not issubclass(
        kind, (bool, np.bool_)
    )


def _is_numeric(value: Any) -> bool:
    return _is_numeric_type(type(value))


def _accepted_names(factory: Callable[..., Any]) -> list[str] | None:
    """Keyword names ``factory`` accepts; ``None`` if it takes ``**kwargs``."""
    try:
        return _cached_accepted_names(factory)
    except TypeError:  # an unhashable callable
        return _read_accepted_names(factory)


@functools.lru_cache(maxsize=64)
def _cached_accepted_names(factory: Callable[..., Any]) -> list[str] | None:
    return _read_accepted_names(factory)


def _read_accepted_names(factory: Callable[..., Any]) -> list[str] | None:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]


class Configurations(NamedTuple):
    """The hyperparameter configurations of a sweep, one column per hyperparameter.

    ``columns[name][c]`` is configuration ``c``'s value: a float64 array when every
    value is a number, otherwise an object array. ``count`` is the number of
    configurations (1 for a sweep over seeds only, which has no columns).
    """

    columns: dict[str, np.ndarray]
    count: int


def _as_scalar(value: Any) -> Any:
    """A 0-d NumPy or JAX array of numbers as its Python number (``list(jnp.logspace(...))``
    gives such arrays); anything else as it is."""
    is_scalar_array = isinstance(value, (np.ndarray, jax.Array)) and value.ndim == 0
    if is_scalar_array and (jnp.issubdtype(value.dtype, jnp.number) or value.dtype == bool):
        return value.item()
    return value


def _column(values: Sequence[Any]) -> np.ndarray:
    """Values as a float64 array if all are numbers, else as a 1-D object array."""
    values = [_as_scalar(value) for value in values]
    if all(_is_numeric_type(kind) for kind in set(map(type, values))):
        return np.asarray(values, np.float64)
    column = np.empty(len(values), object)
    column[:] = list(values)
    return column


def configurations(
    optimizer: Callable[..., Any],
    grid: Mapping[str, Sequence[Any]] | None,
    random: Mapping[str, Any] | None,
    n_random: int | None,
    key: PRNGKey,
    points: Sequence[Mapping[str, Any]] | None = None,
) -> Configurations:
    """The hyperparameter configurations of a sweep: grid points × random draws, or the
    explicit ``points`` (one mapping name -> value per configuration).

    Each grid point (cartesian product of the value lists, the last name varying
    fastest) is combined with ``n_random`` independent draws from ``random``.
    """
    if points is not None:
        if grid or random or n_random is not None:
            raise ValueError(
                "points lists whole configurations; give it without grid, random or n_random."
            )
        columns = _point_columns(points)
        check_names(optimizer, columns, "points")
        return Configurations(columns, len(points))
    grid, random = _checked_space(grid, random, n_random)
    check_names(optimizer, [*grid, *random], "grid")
    grid_values = {name: _column(values) for name, values in grid.items()}
    _check_rates(grid_values, "grid")
    sizes = [len(values) for values in grid_values.values()]
    n_points = math.prod(sizes)
    point_index = np.indices(sizes).reshape(len(sizes), n_points) if sizes else []
    columns = {
        name: values[index]
        for (name, values), index in zip(grid_values.items(), point_index, strict=True)
    }
    if not random:
        return Configurations(columns, n_points)
    n = n_points * int(n_random)
    columns = {name: np.repeat(values, int(n_random)) for name, values in columns.items()}
    draw_key = jax.random.split(key)[0]
    for i, (name, dist) in enumerate(sorted(random.items())):
        columns[name] = _column(_draw(dist, jax.random.fold_in(draw_key, i), n, name))
    return Configurations(columns, n)


def check_names(optimizer: Callable[..., Any], names: Any, where: str) -> None:
    """Every hyperparameter name is one the optimizer factory accepts."""
    accepted = _accepted_names(optimizer)
    unknown = sorted(n for n in names if accepted is not None and n not in accepted)
    if unknown:
        raise ValueError(
            f"the optimizer factory does not accept {', '.join(unknown)} (in {where}); it "
            f"accepts {', '.join(accepted)}."
        )


def _check_rates(columns: dict[str, np.ndarray], where: str) -> None:
    """Learning rates given as numbers are finite and positive."""
    if "learning_rate" not in columns:
        return
    rates = columns["learning_rate"]
    numbers = rates if rates.dtype != object else rates[[_is_numeric(v) for v in rates]]
    numbers = np.asarray(numbers, np.float64)
    bad = numbers[~(np.isfinite(numbers) & (numbers > 0))]
    if bad.size:
        raise ValueError(
            f"{where}['learning_rate'] has non-positive or non-finite values {bad.tolist()}; "
            "learning rates must be > 0."
        )


def _point_columns(points: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """``points`` (one mapping per configuration, all with the same names) as columns."""
    if isinstance(points, (str, bytes, Mapping)) or not isinstance(points, Sequence):
        raise ValueError(
            "points must be a list of configurations, e.g. "
            "[{'learning_rate': 0.1}, {'learning_rate': 0.01}]."
        )
    if not points:
        raise ValueError("points is empty; give at least one configuration.")
    for i, point in enumerate(points):
        if not isinstance(point, Mapping):
            raise ValueError(f"points[{i}]={point!r} must be a mapping name -> value.")
        if set(point) != set(points[0]):
            raise ValueError(
                f"points[{i}] names {sorted(point)} but points[0] names {sorted(points[0])}; "
                "every configuration must give the same hyperparameters."
            )
    columns = {name: _column([point[name] for point in points]) for name in sorted(points[0])}
    _check_rates(columns, "points")
    return columns


def _checked_space(
    grid: Mapping[str, Sequence[Any]] | None, random: Mapping[str, Any] | None, n_random: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``grid`` and ``random`` as dicts (a JAX array of values as a list), or a clear error."""
    grid = dict(grid or {})
    random = dict(random or {})
    for name, values in grid.items():
        if isinstance(values, jax.Array):
            values = grid[name] = list(np.asarray(values).reshape(-1))
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
            raise ValueError(f"grid[{name!r}] must be a list of values, e.g. [0.01, 0.1].")
        if len(values) == 0:
            raise ValueError(f"grid[{name!r}] is empty; give at least one value.")
    both = sorted(set(grid) & set(random))
    if both:
        raise ValueError(
            f"{', '.join(both)} appear in both grid and random; search each hyperparameter one way."
        )
    if random and n_random is None:
        raise ValueError("random search needs n_random=N, the number of draws.")
    if n_random is not None and not random:
        raise ValueError("n_random is set but random is empty; give random={'name': distribution}.")
    if n_random is not None and (
        isinstance(n_random, bool) or int(n_random) != n_random or n_random <= 0
    ):
        raise ValueError(f"n_random={n_random!r} must be a positive integer.")
    return grid, random


def program_groups(configs: Configurations) -> dict[tuple, np.ndarray]:
    """Configurations that share one compiled program: static values -> their indices.

    A configuration's non-numeric values (a string, a bool, a schedule) are static
    arguments of the program; its numbers are traced, one per lane.
    """
    splitting = sorted(n for n, column in configs.columns.items() if column.dtype == object)
    if not splitting:
        return {(): np.arange(configs.count)}
    groups: dict[tuple, list[int]] = {}
    for c in range(configs.count):
        values = ((n, configs.columns[n][c]) for n in splitting)
        static = tuple((n, v) for n, v in values if not _is_numeric(v))
        groups.setdefault(static, []).append(c)
    return {static: np.asarray(members) for static, members in groups.items()}
