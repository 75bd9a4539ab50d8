"""Optimizers written by hand, with optax's names, defaults and semantics.

Nothing here calls optax: each update rule is spelled out in its module,
with its math in the docstring. Each factory returns a
:class:`GradientTransformation` (an ``(init, update)`` pair usable wherever
optax expects one) whose hyperparameters are pytree leaves, so a compiled
training loop can take a new learning rate without recompiling.

The arithmetic follows optax 0.2.8 operation by operation, so results are
bit-for-bit optax's when both are given the same hyperparameters. Where optax
evaluates an expression of hyperparameters on Python numbers (``1 - β₁``),
the factory computes it once, the same way, and keeps it as a leaf of its
own: a compiled program that receives the leaves as float32 arguments (as
:func:`jaxgd.fit` does) then uses optax's constants, not ``1 - float32(β₁)``.
To change a hyperparameter, build a new optimizer rather than editing leaves.
"""

from jaxgd.optim.adadelta import AdadeltaState, adadelta
from jaxgd.optim.adagrad import AdagradState, adagrad
from jaxgd.optim.adam import AdamaxState, AdamState, adam, adamax, adamw, nadam
from jaxgd.optim.base import EmptyState, GradientTransformation, apply_updates
from jaxgd.optim.lion import LionState, lion
from jaxgd.optim.rmsprop import RmspropState, rmsprop
from jaxgd.optim.sgd import SgdState, sgd

__all__ = [
    "AdadeltaState",
    "AdagradState",
    "AdamState",
    "AdamaxState",
    "EmptyState",
    "GradientTransformation",
    "LionState",
    "RmspropState",
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
