"""Loss functions: how far the predictions ŷ are from the targets y.

Two conventions for the squared error appear in the notes and their sources:

* mean squared error, ``MSE = (1/n) Σ (y − ŷ)²`` over all ``n`` entries
  (the notes, Géron);
* half the sum of squares, ``E = Σ ½ (y − ŷ)²`` (the classic "step by step
  backpropagation" example).

For one example with two outputs, ``n = 2`` and the two are equal, so they
give the same gradients; in general ``E = (n/2)·MSE``.
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxgd._types import Array, ArrayLike


def _residual(pred: ArrayLike, target: ArrayLike) -> Array:
    pred, target = jnp.asarray(pred), jnp.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(
            f"predictions have shape {tuple(pred.shape)} but targets have shape "
            f"{tuple(target.shape)}; they must match (e.g. y.reshape({tuple(pred.shape)}) "
            "for a single-output model), or broadcasting would compare every pair."
        )
    return target - pred


def mse(pred: ArrayLike, target: ArrayLike) -> Array:
    """Mean squared error ``(1/n) Σ (y − ŷ)²`` over all entries.

    Its gradient with respect to the predictions is ``−(2/n)(y − ŷ)``.

      >>> mse(jnp.array([1.0, 2.0]), jnp.array([1.0, 4.0]))
      Array(2., dtype=float32)
    """
    return jnp.mean(jnp.square(_residual(pred, target)))


def half_sse(pred: ArrayLike, target: ArrayLike) -> Array:
    """Half the sum of squared errors ``Σ ½ (y − ŷ)²``; its gradient is ``−(y − ŷ)``.

    >>> half_sse(jnp.array([1.0, 2.0]), jnp.array([1.0, 4.0]))
    Array(2., dtype=float32)
    """
    return 0.5 * jnp.sum(jnp.square(_residual(pred, target)))


LOSSES = {"mse": mse, "half_sse": half_sse}
