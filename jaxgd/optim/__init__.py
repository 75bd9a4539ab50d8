"""Optimizers written by hand, with optax's names, defaults and semantics.

Nothing here calls optax: each update rule is spelled out in its module,
with its math in the docstring.
"""

from jaxgd.optim.base import EmptyState, GradientTransformation, apply_updates
from jaxgd.optim.sgd import SgdState, sgd

__all__ = [
    "EmptyState",
    "GradientTransformation",
    "SgdState",
    "apply_updates",
    "sgd",
]
