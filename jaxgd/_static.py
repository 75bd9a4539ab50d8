"""Split a pytree into the leaves a compiled function takes as arguments and the rest.

``jax.jit`` needs every argument to be an array, or else static (hashed into
the compilation cache). An optimizer built by :mod:`jaxgd.optim` is a pytree
whose leaves mix both kinds: numeric hyperparameters (a learning rate of 0.1,
β₁ = 0.9) and things that shape the program (``nesterov=True``, a dtype, a
schedule function). Numbers and arrays become traced arguments, so a new
learning rate reuses the compiled program; everything else is static.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np


def is_dynamic(leaf: Any) -> bool:
    """True for leaves passed to compiled code as arguments: arrays and Python floats.

    Python ``bool`` and ``int`` stay static: they usually choose a code path or a size.
    """
    if isinstance(leaf, bool):
        return False
    return isinstance(leaf, (jax.Array, np.ndarray, np.generic, float, complex))


class _ByIdentity:
    """Wraps an unhashable static leaf so it can sit in a cache key (compared by identity)."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _ByIdentity) and other.obj is self.obj


def _hashable(leaf: Any) -> Any:
    try:
        hash(leaf)
    except TypeError:
        return _ByIdentity(leaf)
    return leaf


class Static(NamedTuple):
    """The static part of a split pytree: its structure and its non-numeric leaves."""

    treedef: Any
    leaves: tuple[Any, ...]


def split(tree: Any) -> tuple[list[Any], Static]:
    """``(dynamic_leaves, static)`` with ``None`` holding each other kind's place."""
    leaves, treedef = jax.tree.flatten(tree)
    dynamic = [leaf if is_dynamic(leaf) else None for leaf in leaves]
    static = tuple(None if is_dynamic(leaf) else _hashable(leaf) for leaf in leaves)
    return dynamic, Static(treedef, static)


def merge(dynamic: list[Any], static: Static) -> Any:
    """Inverse of :func:`split`."""
    leaves = [
        d if s is None else (s.obj if isinstance(s, _ByIdentity) else s)
        for d, s in zip(dynamic, static.leaves, strict=True)
    ]
    return jax.tree.unflatten(static.treedef, leaves)
