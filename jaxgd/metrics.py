"""Metrics: how often a classifier is right, read from its logits.

Losses (:mod:`jaxgd.losses`) are what gradient descent minimises; metrics are what a
reader checks afterwards. :func:`accuracy` takes the same ``(logits, labels)`` as the
cross-entropies, so the model's raw output can go to either.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxgd._types import Array, ArrayLike


def _concrete(value: Array) -> bool:
    return not isinstance(value, jax.core.Tracer)


def _shapes(logits: Array, labels: Array) -> str:
    return f"logits have shape {tuple(logits.shape)} and labels {tuple(labels.shape)}"


def _binary_truth(logits: Array, labels: Array) -> Array:
    m = logits.shape[0]
    if labels.shape not in ((m,), (m, 1)):
        raise ValueError(
            f"{_shapes(logits, labels)}; for one logit per example labels must have shape "
            f"({m},) or ({m}, 1), one 0/1 label per example."
        )
    labels = labels.reshape(m)
    if _concrete(labels) and not bool(jnp.all((labels == 0) | (labels == 1))):
        raise ValueError(
            "labels must be 0 or 1 for one logit per example (map ±1 labels with "
            "(y + 1) // 2, round soft labels with y > 0.5); for k ≥ 2 classes pass [m, k] logits."
        )
    return labels == 1


def _multiclass_truth(logits: Array, labels: Array) -> Array:
    m, k = logits.shape
    if labels.shape == (m, k):
        return jnp.argmax(labels, axis=1)
    if labels.shape != (m,):
        raise ValueError(
            f"{_shapes(logits, labels)}; labels must be class indices of shape ({m},) or "
            f"one-hot/probability rows of shape ({m}, {k}) (e.g. y.reshape(-1) for a [m, 1] y)."
        )
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(
            f"labels of shape ({m},) have dtype {labels.dtype}; class indices must be integers "
            f"in 0..{k - 1} (pass labels.astype(jnp.int32))."
        )
    if _concrete(labels) and not bool(jnp.all((labels >= 0) & (labels < k))):
        raise ValueError(
            f"labels range from {int(labels.min())} to {int(labels.max())} but logits have "
            f"{k} classes; class indices must lie in 0..{k - 1} (shift 1-based labels by 1)."
        )
    return labels


def accuracy(logits: ArrayLike, labels: ArrayLike) -> Array:
    """The fraction of examples whose predicted class is the label: ``(1/m) Σᵢ [ĉᵢ = cᵢ]``.

    Three layouts, told apart by the shapes:

    * ``k ≥ 2`` classes, logits ``[m, k]``, integer labels ``[m]``: ``ĉᵢ = argmaxⱼ zᵢⱼ``
      (the class a softmax ranks first) against ``cᵢ = yᵢ``;
    * ``k ≥ 2`` classes, logits ``[m, k]``, one-hot or probability labels ``[m, k]``:
      ``ĉᵢ = argmaxⱼ zᵢⱼ`` against ``cᵢ = argmaxⱼ yᵢⱼ``;
    * binary, one logit per example, logits ``[m]`` or ``[m, 1]``, labels 0/1 of shape ``[m]``
      or ``[m, 1]``: the prediction is class 1 when ``zᵢ > 0``, i.e. ``σ(zᵢ) > ½``.

    Ties in an argmax go to the lowest class index, as in NumPy. Pass logits (or any
    scores whose argmax is the prediction); in the binary case pass logits, not
    probabilities, since the threshold is 0. Label values are checked when they are
    concrete (outside ``jit``).

    Args:
      logits: ``[m, k]`` class scores, or ``[m]`` / ``[m, 1]`` binary logits.
      labels: as above.

    Returns:
      A scalar in ``[0, 1]`` in the default float dtype (float32, float64 under x64).

    Raises:
      ValueError: ``logits`` not ``[m]``/``[m, k]`` or with no example, ``labels`` of a shape
        that fits none of the layouts, or (when concrete) binary labels not 0/1 or class
        indices outside ``0..k−1``.
      TypeError: class-index ``labels`` that are not integers.

    >>> accuracy(jnp.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]]), jnp.array([0, 1, 1]))
    Array(0.6666667, dtype=float32)
    """
    logits, labels = jnp.asarray(logits), jnp.asarray(labels)
    if logits.ndim not in (1, 2) or logits.shape[0] == 0:
        raise ValueError(
            f"logits have shape {tuple(logits.shape)}; accuracy needs [m, k] class scores or "
            "[m] / [m, 1] binary logits, with m ≥ 1 examples."
        )
    if logits.ndim == 1 or logits.shape[1] == 1:
        correct = (logits.reshape(-1) > 0) == _binary_truth(logits, labels)
    else:
        correct = jnp.argmax(logits, axis=1) == _multiclass_truth(logits, labels)
    return jnp.mean(correct, dtype=jnp.result_type(float))
