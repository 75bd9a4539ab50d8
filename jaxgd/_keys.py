"""PRNG keys as users write them: one conversion, used wherever jaxgd takes a key.

JAX code passes keys in three forms, and jaxgd accepts all of them with the same meaning:

* a typed key, ``jax.random.key(0)`` (dtype ``key<fry>``, shape ``()``);
* a legacy raw key, ``jax.random.PRNGKey(0)`` (``uint32[2]`` for the default
  threefry implementation), still what most tutorials and codebases use;
* a Python (or NumPy, or 0-d integer array) seed, ``0``.

:func:`as_key` turns each into a typed key. The three spellings of one seed give the same
typed key (``jax.random.key(s)`` wraps exactly the data ``jax.random.PRNGKey(s)`` holds), so
they give the same results.
"""

from __future__ import annotations

import contextlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd._types import PRNGKey

_FORMS = "jax.random.key(0), jax.random.PRNGKey(0) or an int seed such as 0"


def is_typed_key(value: Any) -> bool:
    """Whether ``value`` is an array (or tracer) of typed PRNG keys."""
    dtype = getattr(value, "dtype", None)
    return dtype is not None and jnp.issubdtype(dtype, jax.dtypes.prng_key)


def as_key(key: Any, name: str = "key") -> PRNGKey:
    """One typed PRNG key from a typed key, a legacy raw key or an integer seed.

    Works on tracers too (a key that is an argument of a compiled function).

    Args:
      key: ``jax.random.key(s)``, ``jax.random.PRNGKey(s)`` or the seed ``s`` itself
        (a Python/NumPy integer or a 0-d integer array).
      name: the argument's name, used in error messages.

    Returns:
      A typed key of shape ``()``.

    Raises:
      TypeError: for anything else (``None``, a float, a string, a batch of keys), with a
        message that names the argument and the accepted forms.
      ValueError: for an integer seed outside the 64-bit range.

    Example:
      >>> import jax
      >>> k = as_key(0)
      >>> bool((jax.random.key_data(k) == jax.random.PRNGKey(0)).all())
      True
    """
    if isinstance(key, (bool, np.bool_)):
        raise TypeError(f"{name}={key!r} is a bool, not a PRNG key; pass {_FORMS}.")
    if isinstance(key, (int, np.integer)):
        if not -(2**63) <= int(key) < 2**64:
            raise ValueError(f"{name}={key} is too large for a seed; use a 64-bit integer.")
        return jax.random.key(int(key))
    if isinstance(key, (jax.Array, np.ndarray)):
        if is_typed_key(key):
            if key.shape != ():
                raise TypeError(
                    f"{name} is a batch of {key.shape} keys; pass one key "
                    f"({_FORMS}): jaxgd splits it itself."
                )
            return key
        if jnp.issubdtype(key.dtype, jnp.integer) and key.ndim == 0:
            return jax.random.key(key)
        if key.dtype == jnp.uint32 and key.ndim == 1:
            with contextlib.suppress(TypeError, ValueError):  # not this implementation's size
                return jax.random.wrap_key_data(key)
        raise TypeError(
            f"{name} is an array of shape {key.shape} and dtype {key.dtype}, not a PRNG key; "
            f"pass {_FORMS}."
        )
    raise TypeError(f"{name}={key!r} is not a PRNG key; pass {_FORMS}.")
