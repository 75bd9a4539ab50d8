"""Optimizers written by hand, with optax's names, defaults and semantics.

Nothing here calls optax: each update rule is spelled out in its module, with
its math in the factory's docstring. Each factory returns a
:class:`GradientTransformation` (an ``(init, update)`` pair usable wherever
optax expects one) whose hyperparameters are pytree leaves, named by a
NamedTuple such as :class:`AdamHyperparams` (see :mod:`jaxgd.optim.base`), so a
compiled training loop can take a new learning rate without recompiling.

The arithmetic follows optax 0.2.8 operation by operation, so results are
bit-for-bit optax's when both are given the same hyperparameters. Where optax
evaluates an expression of hyperparameters on Python numbers (``1 - β₁``),
the factory computes it once, the same way, and keeps it as a leaf of its
own: a compiled program that receives the leaves as float32 arguments (as
:func:`jaxgd.fit` does) then uses optax's constants, not ``1 - float32(β₁)``.
To change a hyperparameter, build a new optimizer rather than editing leaves.

Hyperparameters are checked when the optimizer is built, as far as their values
are known then (every element of an array is checked; tracers, as inside
``jit`` or :func:`jaxgd.sweep`, and schedules are not). A hyperparameter of the
wrong kind is a ``TypeError``: one that is not a real number or an array of them
(a str, a list, a bool, ``None`` where optax has no ``None``, a function where
optax takes no schedule), a flag that is not a bool, a dtype that is not one. A
known value outside its range is a ``ValueError`` naming the argument, the value
and where it is in its array; each factory's docstring lists its ranges.
"""

from jaxgd.optim.adadelta import AdadeltaHyperparams, AdadeltaState, adadelta
from jaxgd.optim.adagrad import AdagradHyperparams, AdagradState, adagrad
from jaxgd.optim.adam import AdamHyperparams, AdamState, adam, nadam
from jaxgd.optim.adamax import AdamaxHyperparams, AdamaxState, adamax
from jaxgd.optim.adamw import AdamWHyperparams, adamw
from jaxgd.optim.base import EmptyState, GradientTransformation, apply_updates
from jaxgd.optim.lion import LionHyperparams, LionState, lion
from jaxgd.optim.rmsprop import RmspropHyperparams, RmspropState, rmsprop
from jaxgd.optim.sgd import SgdHyperparams, SgdState, sgd

__all__ = [
    "AdadeltaHyperparams",
    "AdadeltaState",
    "AdagradHyperparams",
    "AdagradState",
    "AdamHyperparams",
    "AdamState",
    "AdamWHyperparams",
    "AdamaxHyperparams",
    "AdamaxState",
    "EmptyState",
    "GradientTransformation",
    "LionHyperparams",
    "LionState",
    "RmspropHyperparams",
    "RmspropState",
    "SgdHyperparams",
    "SgdState",
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "apply_updates",
    "lion",
    "nadam",
    "rmsprop",
    "sgd",
]
