"""Loss functions: how far the predictions ŷ are from the targets y.

Two conventions for the squared error appear in the notes and their sources:

* mean squared error, ``MSE = (1/n) Σ (y − ŷ)²`` over all ``n`` entries
  (the notes, Géron);
* half the sum of squares, ``E = Σ ½ (y − ŷ)²`` (the classic "step by step
  backpropagation" example).

For one example with two outputs, ``n = 2`` and the two are equal, so they
give the same gradients; in general ``E = (n/2)·MSE``.

For classification, the cross-entropies take the model's *logits* z (scores before the
softmax or the sigmoid) and return one loss per example, as optax's do (and equal to
them): :func:`softmax_cross_entropy` (one-hot or probability labels),
:func:`softmax_cross_entropy_with_integer_labels` (class indices) and
:func:`sigmoid_binary_cross_entropy` (labels in [0, 1]). A ``loss_fn`` for
:func:`jaxgd.fit` takes their mean over the batch. They are computed from logits with
log-sum-exp and softplus, never as ``log(softmax(z))``, so they stay finite for logits
of any size.
"""

from __future__ import annotations

import jax
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


# ----------------------------------------------------------------------------- classification


def _concrete(value: Array) -> bool:
    """Whether the values can be read now (not inside ``jit``/``grad``), so they can be checked."""
    return not isinstance(value, jax.core.Tracer)


def _logits(logits: ArrayLike) -> Array:
    logits = jnp.asarray(logits)
    if not jnp.issubdtype(logits.dtype, jnp.floating):
        raise TypeError(
            f"logits have dtype {logits.dtype}; they must be floating point "
            "(pass logits.astype(jnp.float32), or the model's output before any argmax)."
        )
    return logits


def _axis(axis: int, logits: Array) -> int:
    if logits.ndim == 0:
        raise ValueError("logits are a scalar; they need a class axis (shape [m, k] or [k]).")
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise TypeError(f"axis={axis!r} must be an int, the class axis of logits (e.g. -1).")
    if not -logits.ndim <= axis < logits.ndim:
        raise ValueError(
            f"axis={axis} is out of range for logits of shape {tuple(logits.shape)}; "
            f"pass an axis in [-{logits.ndim}, {logits.ndim}), e.g. -1 for [m, k] logits."
        )
    return axis % logits.ndim


def _shifted(logits: Array, axis: int) -> tuple[Array, Array]:
    """``z − max z`` and ``log Σⱼ exp(zⱼ − max z)`` along ``axis``: ``LSE(z) − max z``.

    Subtracting the maximum keeps every exponential in ``(0, 1]``; keeping the shift out of
    the sum (rather than adding it back) keeps the loss of the top class exact even for
    logits of 1e4 in float32. The shift is a constant for ``jax.grad`` (it cancels).
    """
    top = jnp.max(logits, axis=axis, keepdims=True)
    top = jax.lax.stop_gradient(jnp.where(jnp.isfinite(top), top, 0))
    shifted = logits - top
    return shifted, jnp.log(jnp.sum(jnp.exp(shifted), axis=axis))


def softmax_cross_entropy(logits: ArrayLike, labels: ArrayLike, axis: int = -1) -> Array:
    """Cross-entropy of a softmax over ``axis`` against one-hot or probability ``labels``.

    For one example with logits ``z ∈ ℝᵏ`` and a target distribution ``y`` (one-hot, or
    soft labels, ``yⱼ ≥ 0``, ``Σⱼ yⱼ = 1``)::

        ℓ(z, y) = −Σⱼ yⱼ log softmax(z)ⱼ = Σⱼ yⱼ (LSE(z) − zⱼ),   LSE(z) = log Σⱼ exp(zⱼ),

    evaluated as ``LSE(z) = max z + log Σⱼ exp(zⱼ − max z)``, so no exponential overflows.
    Its gradient is ``∂ℓ/∂z = (Σⱼ yⱼ)·softmax(z) − y``, i.e. ``softmax(z) − y`` for a
    distribution. Equal to ``optax.softmax_cross_entropy(logits, labels, axis)``.

    A ``loss_fn`` for :func:`jaxgd.fit` takes the mean over the batch::

        def loss_fn(params, x, y):  # y one-hot [m, k]
            return jnp.mean(softmax_cross_entropy(mlp_apply(params, x), y))

    Args:
      logits: unnormalised log-probabilities, floating point, e.g. ``[m, k]``.
      labels: target distributions, the same shape as ``logits`` (use
        :func:`softmax_cross_entropy_with_integer_labels` for class indices).
      axis: the class axis (an int; optax also takes tuples, jaxgd does not).

    Returns:
      One loss per example: ``logits``'s shape without ``axis`` (``[m]`` for ``[m, k]``),
      in ``logits``'s dtype.

    Raises:
      TypeError: integer ``logits``, or an ``axis`` that is not an int.
      ValueError: ``labels`` of another shape than ``logits`` (optax would broadcast).

    >>> softmax_cross_entropy(jnp.array([[1.2, -0.8, -0.5]]), jnp.array([[1.0, 0.0, 0.0]]))
    Array([0.2761297], dtype=float32)
    """
    logits = _logits(logits)
    axis = _axis(axis, logits)
    labels = jnp.asarray(labels)
    if labels.shape != logits.shape:
        hint = (
            "; these look like class indices: use softmax_cross_entropy_with_integer_labels, "
            f"or jax.nn.one_hot(labels, {logits.shape[axis]})"
            if labels.shape == logits.shape[:axis] + logits.shape[axis + 1 :]
            else ""
        )
        raise ValueError(
            f"labels have shape {tuple(labels.shape)} but logits have shape "
            f"{tuple(logits.shape)}; softmax_cross_entropy needs one target distribution "
            f"per example, the same shape as logits{hint}."
        )
    shifted, log_sum = _shifted(logits, axis)
    log_probs = shifted - jnp.expand_dims(log_sum, axis)
    return -jnp.sum(labels.astype(logits.dtype) * log_probs, axis=axis)


def _integer_labels(labels: ArrayLike, logits: Array, axis: int) -> Array:
    labels = jnp.asarray(labels)
    batch_shape = logits.shape[:axis] + logits.shape[axis + 1 :]
    k = logits.shape[axis]
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        hint = (
            "; for one-hot or probability labels use softmax_cross_entropy"
            if labels.shape == logits.shape
            else f" (pass labels.astype(jnp.int32), class indices in 0..{k - 1})"
        )
        raise TypeError(f"labels have dtype {labels.dtype}; they must be integers{hint}.")
    if labels.shape != batch_shape:
        raise ValueError(
            f"labels have shape {tuple(labels.shape)} but logits have shape "
            f"{tuple(logits.shape)} (classes on axis {axis}); labels must have shape "
            f"{batch_shape}, one class index per example (e.g. y.reshape(-1) for a [m, 1] y)."
        )
    if _concrete(labels) and labels.size and not (labels.min() >= 0 and labels.max() < k):
        raise ValueError(
            f"labels range from {int(labels.min())} to {int(labels.max())} but logits have "
            f"{k} classes; class indices must lie in 0..{k - 1} (shift 1-based labels by 1)."
        )
    return labels


def softmax_cross_entropy_with_integer_labels(
    logits: ArrayLike, labels: ArrayLike, axis: int = -1
) -> Array:
    """Cross-entropy of a softmax over ``axis`` against integer class ``labels``.

    For one example with logits ``z ∈ ℝᵏ`` and class ``c ∈ {0, …, k−1}``::

        ℓ(z, c) = −log softmax(z)_c = LSE(z) − z_c,   LSE(z) = log Σⱼ exp(zⱼ),

    with ``LSE`` evaluated stably as ``max z + log Σⱼ exp(zⱼ − max z)``; the gradient is
    ``softmax(z) − onehot(c)``. This is :func:`softmax_cross_entropy` with one-hot labels,
    without building them. Equal to
    ``optax.softmax_cross_entropy_with_integer_labels(logits, labels, axis)``.

    A ``loss_fn`` for :func:`jaxgd.fit` takes the mean over the batch::

        def loss_fn(params, x, y):  # y int [m]
            return jnp.mean(softmax_cross_entropy_with_integer_labels(mlp_apply(params, x), y))

    Args:
      logits: unnormalised log-probabilities, floating point, e.g. ``[m, k]``.
      labels: integer class indices in ``0..k−1``, of ``logits``'s shape without ``axis``
        (``[m]`` for ``[m, k]``). Their range is checked when they are concrete (outside
        ``jit``); inside ``jit`` an out-of-range label gives NaN, as in optax.
      axis: the class axis (an int; optax also takes tuples, jaxgd does not).

    Returns:
      One loss per example, of ``labels``'s shape and ``logits``'s dtype.

    Raises:
      TypeError: integer ``logits``, non-integer ``labels``, or an ``axis`` that is not an int.
      ValueError: ``labels`` of the wrong shape, or (when concrete) outside ``0..k−1``.

    >>> softmax_cross_entropy_with_integer_labels(jnp.array([[1.2, -0.8, -0.5]]), jnp.array([0]))
    Array([0.2761297], dtype=float32)
    """
    logits = _logits(logits)
    axis = _axis(axis, logits)
    labels = _integer_labels(labels, logits, axis)
    shifted, log_sum = _shifted(logits, axis)
    label_shifted = jnp.take_along_axis(shifted, jnp.expand_dims(labels, axis), axis=axis)
    return log_sum - jnp.squeeze(label_shifted, axis)


def sigmoid_binary_cross_entropy(logits: ArrayLike, labels: ArrayLike) -> Array:
    """Binary cross-entropy of ``σ(z)`` against labels ``y ∈ [0, 1]``, element by element.

    With ``p = σ(z) = 1/(1 + e⁻ᶻ)`` the predicted probability of class 1::

        ℓ(z, y) = −y log σ(z) − (1 − y) log(1 − σ(z)) = y·softplus(−z) + (1 − y)·softplus(z),

    since ``−log σ(z) = softplus(−z)`` and ``−log(1 − σ(z)) = softplus(z)``, where
    ``softplus(t) = log(1 + eᵗ) = max(t, 0) + log(1 + e^(−|t|))`` never overflows. The
    gradient is ``σ(z) − y``. Labels may be hard (0/1, bool or int) or soft (probabilities);
    each element is an independent binary problem (multi-label when ``logits`` is
    ``[m, k]``). Equal to ``optax.sigmoid_binary_cross_entropy(logits, labels)``.

    A ``loss_fn`` for :func:`jaxgd.fit` takes the mean over the batch::

        def loss_fn(params, x, y):  # one logit per example: [m, 1] output, y [m]
            return jnp.mean(sigmoid_binary_cross_entropy(mlp_apply(params, x)[:, 0], y))

    Args:
      logits: the logits ``z`` of class 1, floating point (not probabilities: apply no
        sigmoid first).
      labels: targets in ``[0, 1]``, the same shape as ``logits`` (optax would broadcast
        ``[m]`` against ``[m, 1]`` into ``[m, m]``). The range is checked when concrete.

    Returns:
      One loss per element, of ``logits``'s shape and dtype.

    Raises:
      TypeError: integer ``logits``.
      ValueError: ``labels`` of another shape, or (when concrete) outside ``[0, 1]``
        (e.g. ±1 labels: pass ``(y + 1) / 2``).

    >>> sigmoid_binary_cross_entropy(jnp.array([0.0, 2.0]), jnp.array([1.0, 0.0]))
    Array([0.6931472, 2.126928 ], dtype=float32)
    """
    logits = _logits(logits)
    labels = jnp.asarray(labels)
    if labels.shape != logits.shape:
        raise ValueError(
            f"labels have shape {tuple(labels.shape)} but logits have shape "
            f"{tuple(logits.shape)}; they must match (e.g. logits[:, 0] for a model with one "
            "output), or broadcasting would pair every logit with every label."
        )
    if _concrete(labels) and labels.size and not (labels.min() >= 0 and labels.max() <= 1):
        raise ValueError(
            f"labels range from {float(labels.min())} to {float(labels.max())}; they must lie "
            "in [0, 1] (map ±1 labels with (y + 1) / 2)."
        )
    labels = labels.astype(logits.dtype)
    return labels * jax.nn.softplus(-logits) + (1 - labels) * jax.nn.softplus(logits)
