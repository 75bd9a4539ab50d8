"""Argument checks of the jaxgd.optim factories: what is refused, with which error, and what passes.

The table :data:`SIGNATURES` gives, for every factory, each numeric hyperparameter
and its :class:`Kind` (range, ``None`` accepted, schedule accepted). The rows of
every test below are generated from it, so each hyperparameter of each factory
is tried with every bad type, out-of-range values given as a Python number, a
NumPy scalar, a 0-d JAX array, a NumPy vector and a JAX column (the shape a
sweep passes: one row per lane), ``None`` and a schedule. Where ``None`` and
schedules are accepted is checked against optax's own signatures.
"""

from __future__ import annotations

import collections.abc
import inspect
import math
import typing
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgd import optim, schedules
from jaxgd.optim._checks import HyperparameterRangeError

NAN, INF = math.nan, math.inf


class Kind(NamedTuple):
    """What a hyperparameter accepts: ``valid`` values pass, ``invalid`` ones raise ValueError."""

    valid: tuple[float, ...]
    invalid: tuple[float, ...]
    optional: bool = False  # None accepted (optax's annotation is Optional)
    schedule: bool = False  # a callable of the update count accepted


LEARNING_RATE = Kind(valid=(0.0, 0.1, 2), invalid=(-0.1, NAN, INF, -INF), schedule=True)
ADADELTA_LEARNING_RATE = LEARNING_RATE._replace(optional=True)
NON_NEGATIVE = Kind(valid=(0.0, 1e-8, 10), invalid=(-1e-8, NAN, INF))
WEIGHT_DECAY = NON_NEGATIVE._replace(schedule=True)
BETA = Kind(valid=(0.0, 0.9, 0.999), invalid=(-0.1, 1.0, 1.5, NAN))  # [0, 1)
# rmsprop's decay and adadelta's rho kept their existing rule, [0, 1]: ρ = 1 freezes
# the averages (ν stays at initial_scale) but nothing grows.
DECAY = Kind(valid=(0.0, 0.9, 1.0), invalid=(-0.1, 1.1, NAN))
MOMENTUM = Kind(valid=(0.0, 0.9), invalid=(-0.9, 1.0, 1.5, NAN), optional=True)

_ADAM = {
    "learning_rate": LEARNING_RATE,
    "b1": BETA,
    "b2": BETA,
    "eps": NON_NEGATIVE,
    "eps_root": NON_NEGATIVE,
}
SIGNATURES: dict[str, dict[str, Kind]] = {
    "sgd": {"learning_rate": LEARNING_RATE, "momentum": MOMENTUM},
    "adagrad": {
        "learning_rate": LEARNING_RATE,
        "initial_accumulator_value": NON_NEGATIVE,
        "eps": NON_NEGATIVE,
    },
    "rmsprop": {
        "learning_rate": LEARNING_RATE,
        "decay": DECAY,
        "eps": NON_NEGATIVE,
        "initial_scale": NON_NEGATIVE,
        "momentum": MOMENTUM,
    },
    "adam": _ADAM,
    "nadam": _ADAM,
    "adamw": {**_ADAM, "weight_decay": WEIGHT_DECAY},
    "adamax": {"learning_rate": LEARNING_RATE, "b1": BETA, "b2": BETA, "eps": NON_NEGATIVE},
    "adadelta": {
        "learning_rate": ADADELTA_LEARNING_RATE,
        "rho": DECAY,
        "eps": NON_NEGATIVE,
        "weight_decay": WEIGHT_DECAY,
    },
    "lion": {"learning_rate": LEARNING_RATE, "b1": BETA, "b2": BETA, "weight_decay": WEIGHT_DECAY},
}
# Arguments that are not numbers: flags, dtypes, masks (not checked here).
NOT_NUMERIC = {
    "nesterov",
    "accumulator_dtype",
    "mu_dtype",
    "mask",
    "weight_decay_mask",
    "eps_in_sqrt",
    "centered",
    "bias_correction",
}

ARGUMENTS = [(name, arg, kind) for name, args in SIGNATURES.items() for arg, kind in args.items()]


def _build(name: str, **kwargs: Any) -> optim.GradientTransformation:
    """``optim.<name>(**kwargs)``, with a learning rate of 0.1 unless given."""
    if name != "adadelta":
        kwargs.setdefault("learning_rate", 0.1)
    return getattr(optim, name)(**kwargs)


def _id(*parts: Any) -> str:
    return "-".join(str(p) for p in parts)


# ----------------------------------------------------------------------------- the table itself


def test_table_lists_every_numeric_argument_of_every_factory():
    for name, args in SIGNATURES.items():
        parameters = set(inspect.signature(getattr(optim, name)).parameters)
        assert parameters == set(args) | (parameters & NOT_NUMERIC), name


@pytest.mark.parametrize(
    ("name", "arg", "kind"), ARGUMENTS, ids=[_id(n, a) for n, a, _ in ARGUMENTS]
)
def test_none_and_schedules_are_accepted_where_optax_accepts_them(name, arg, kind):
    annotation = inspect.signature(getattr(optax, name)).parameters[arg].annotation
    options = typing.get_args(annotation)
    assert kind.optional == (type(None) in options)
    takes_schedule = any(typing.get_origin(o) is collections.abc.Callable for o in options)
    assert kind.schedule == takes_schedule


# ----------------------------------------------------------------------------- out of range


_FORMS = {
    "python": lambda valid, bad: bad,
    "numpy_scalar": lambda valid, bad: np.float32(bad),
    "jax_0d": lambda valid, bad: jnp.asarray(bad, jnp.float32),
    "numpy_vector": lambda valid, bad: np.array([valid, valid, bad]),
    "jax_column": lambda valid, bad: jnp.array([[valid], [bad], [valid]], jnp.float32),
}
_RANGE_ROWS = [
    (name, arg, bad, form)
    for name, arg, kind in ARGUMENTS
    for bad in kind.invalid
    for form in _FORMS
]


@pytest.mark.parametrize(
    ("name", "arg", "bad", "form"), _RANGE_ROWS, ids=[_id(*row) for row in _RANGE_ROWS]
)
def test_out_of_range_values_raise_value_error_naming_argument_and_value(name, arg, bad, form):
    kind = SIGNATURES[name][arg]
    value = _FORMS[form](kind.valid[1], bad)
    with pytest.raises(ValueError) as error:
        _build(name, **{arg: value})
    message = str(error.value)
    shown = str(np.asarray(_FORMS[form](bad, bad)).ravel()[0])  # bad, in the form's dtype
    assert message.startswith(f"{arg}={shown}"), message  # the argument and the first bad value
    if np.ndim(value):
        position = "[1, 0]" if form == "jax_column" else "2"
        assert f"at index {position} of an array of shape {np.shape(value)}" in message, message
    assert "pass" in message.lower(), message  # the fix


def test_the_first_offending_value_is_named_and_momentum_explains_the_growth():
    with pytest.raises(ValueError, match="momentum") as error:
        optim.sgd(learning_rate=np.array([0.1, 0.2]), momentum=np.array([0.0, 1.5]))
    message = str(error.value)
    assert message.startswith("momentum=1.5 (at index 1 of an array of shape (2,))"), message
    assert "grows without bound" in message, message
    # The same, for a caller that maps the entry back to its lane:
    assert isinstance(error.value, HyperparameterRangeError)
    assert (error.value.argument, error.value.value, error.value.index) == ("momentum", "1.5", (1,))
    with pytest.raises(ValueError) as error:
        optim.adam(0.1, b1=np.array([0.5, 1.5, 2.5, -1.0]))
    assert "b1=1.5 " in str(error.value) and "2.5" not in str(error.value)


def test_a_sweep_column_is_checked_in_one_call():
    # One column per hyperparameter, one row per lane: every lane is checked.
    lanes = {
        "learning_rate": np.array([[1e-3], [1e-2], [1e-1]]),
        "b1": np.array([[0.9], [0.8], [0.0]]),
        "b2": np.array([[0.999], [0.99], [0.9]]),
        "eps": np.array([[1e-8], [0.0], [1e-6]]),
    }
    optim.adam(**lanes)
    with pytest.raises(ValueError, match=r"^eps=-1e-06 \(at index \[2, 0\]") as error:
        optim.adam(**{**lanes, "eps": np.array([[1e-8], [0.0], [-1e-6]])})
    assert error.value.index == (2, 0)  # lane 2
    with pytest.raises(ValueError) as error:
        optim.adam(0.1, b2=1.5)
    assert (error.value.argument, error.value.value, error.value.index) == ("b2", "1.5", None)


# ----------------------------------------------------------------------------- wrong types


_BAD_TYPES = {
    "str": "0.1",
    "list": [0.1, 0.2],
    "tuple": (0.1,),
    "dict": {"value": 0.1},
    "bool": True,
    "numpy_bool": np.bool_(False),
    "complex": 0.1 + 0j,
    "object": object(),
    "bool_array": np.array([True, False]),
    "complex_array": np.array([0.1 + 1j]),
    "str_array": np.array(["0.1"]),
}
_TYPE_ROWS = [(name, arg, label) for name, arg, _ in ARGUMENTS for label in _BAD_TYPES]


@pytest.mark.parametrize(("name", "arg", "label"), _TYPE_ROWS, ids=[_id(*r) for r in _TYPE_ROWS])
def test_non_numbers_raise_type_error_naming_argument_and_fix(name, arg, label):
    kind = SIGNATURES[name][arg]
    with pytest.raises(TypeError) as error:
        _build(name, **{arg: _BAD_TYPES[label]})
    message = str(error.value)
    assert message.startswith(arg), message
    assert "not a real number" in message or "not of real numbers" in message, message
    assert "pass" in message.lower(), message
    if kind.schedule:
        assert "or a schedule" in message, message
    if label in ("list", "tuple"):
        assert "array" in message, message


def test_adam_given_a_string_says_what_to_pass():
    with pytest.raises(TypeError) as error:
        optim.adam("0.1")
    assert str(error.value) == (
        "learning_rate='0.1' is a str, not a real number. "
        "Pass a number such as 0.1, or a schedule (a function of the update count)."
    )


# ----------------------------------------------------------------------------- None and schedules


@pytest.mark.parametrize(
    ("name", "arg", "kind"), ARGUMENTS, ids=[_id(n, a) for n, a, _ in ARGUMENTS]
)
def test_none_is_accepted_only_where_optax_accepts_it(name, arg, kind):
    if kind.optional:
        _build(name, **{arg: None})
        return
    with pytest.raises(TypeError, match=rf"^{arg}=None is not accepted\.") as error:
        _build(name, **{arg: None})
    assert "pass" in str(error.value).lower()


def test_sgd_without_a_learning_rate_is_refused_not_an_ascent():
    with pytest.raises(TypeError, match="uphill"):
        optim.sgd(None)


@pytest.mark.parametrize(
    ("name", "arg", "kind"), ARGUMENTS, ids=[_id(n, a) for n, a, _ in ARGUMENTS]
)
def test_schedules_are_accepted_only_where_optax_accepts_them(name, arg, kind):
    schedule = schedules.constant_schedule(-1.0)  # schedules are not checked: -1 passes
    if kind.schedule:
        _build(name, **{arg: schedule})
        return
    with pytest.raises(TypeError, match=rf"^{arg}=.* is a function, but {arg} takes a number"):
        _build(name, **{arg: schedule})


# ----------------------------------------------------------------------------- accepted


_VALID_ROWS = [(name, arg, value) for name, arg, kind in ARGUMENTS for value in kind.valid]


@pytest.mark.parametrize(("name", "arg", "value"), _VALID_ROWS, ids=[_id(*r) for r in _VALID_ROWS])
def test_valid_values_are_accepted_as_numbers_and_arrays(name, arg, value):
    for given in (
        value,
        np.float32(value),
        jnp.asarray(value, jnp.float32),
        np.array([value, value]),
        jnp.full((3, 1), value, jnp.float32),
        np.array([int(value)] * 2) if float(value).is_integer() else np.float64(value),
    ):
        opt = _build(name, **{arg: given})
        assert callable(opt.update)


@pytest.mark.parametrize("name", list(SIGNATURES))
def test_every_hyperparameter_as_a_column_of_lanes(name):
    # What a sweep does: each numeric hyperparameter one (lanes, 1) array of valid values.
    columns = {
        arg: np.array([[v] for v in kind.valid[:2]], np.float32)
        for arg, kind in SIGNATURES[name].items()
    }
    opt = getattr(optim, name)(**columns)
    leaves = jax.tree.leaves(opt)
    for column in columns.values():
        assert any(leaf is column for leaf in leaves)  # kept as given, a traced leaf of fit


@pytest.mark.parametrize("name", list(SIGNATURES))
def test_tracers_are_not_checked_inside_jit_or_vmap(name):
    # Out-of-range values, known only when the compiled program runs: not checked.
    bad = {arg: kind.invalid[0] for arg, kind in SIGNATURES[name].items()}
    params = jnp.ones(3)

    def update(hyper):
        opt = getattr(optim, name)(**hyper)
        return opt.update(jnp.full(3, 0.5), opt.init(params), params)[0]

    chex.assert_shape(jax.jit(update)(bad), (3,))
    lanes = {
        arg: jnp.array([kind.valid[1], kind.invalid[0]]) for arg, kind in SIGNATURES[name].items()
    }
    batched = jax.vmap(update)(lanes)
    chex.assert_shape(batched, (2, 3))
    good = jax.tree.map(lambda x: x[0], lanes)  # the valid lane equals its own run
    chex.assert_trees_all_close(batched[0], update(good), rtol=1e-6)


@pytest.mark.parametrize(
    "build",
    [
        lambda: optim.rmsprop(0.1, decay=1.0),
        lambda: optim.adadelta(rho=0.0),
        lambda: optim.adadelta(rho=1.0),
        lambda: optim.adam(0.0, b1=0.0, b2=0.0, eps=0.0),
        lambda: optim.sgd(schedules.constant_schedule(-1.0)),
        lambda: optim.sgd(0.1, momentum=0.0),
        lambda: optim.sgd(0.1, momentum=None),
        lambda: optim.rmsprop(0.1, momentum=None),
        lambda: optim.adadelta(learning_rate=None),
        lambda: optim.adam(0.1, mu_dtype=None),
        lambda: optim.sgd(0.1, accumulator_dtype=None),
        lambda: optim.adamw(0.1, weight_decay=0),
        lambda: optim.sgd(1),
        lambda: optim.adam(np.int32(1)),
        lambda: optim.adam(jnp.array(0.1, jnp.bfloat16)),
    ],
)
def test_edge_values_are_accepted(build):
    assert isinstance(build(), optim.GradientTransformation)
