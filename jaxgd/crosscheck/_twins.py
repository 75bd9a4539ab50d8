"""The table of jaxgd optimizers × settings, each with its optax twin."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import jax
import jax.numpy as jnp
import optax

from jaxgd import optim, schedules
from jaxgd._types import Params


def decay_matrices(params: Params) -> Any:
    """Weight-decay mask: ``True`` for leaves with 2 or more dimensions (weights, not biases)."""
    return jax.tree.map(lambda x: jnp.ndim(x) > 1, params)


Library = Literal["jaxgd", "optax"]


def _modules(library: Library) -> tuple[Any, Any]:
    """``(optimizers, schedules)`` of ``library``: jaxgd's own, or optax's."""
    if library == "jaxgd":
        return optim, schedules
    if library == "optax":
        return optax, optax.schedules
    raise ValueError(f"library={library!r} must be 'jaxgd' or 'optax'.")


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
    module = _modules(library)[1]
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
        factory = getattr(_modules(library)[0], self.optimizer)
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
