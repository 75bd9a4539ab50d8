"""Backpropagation written out by the chain rule, for dense nets and squared-error losses.

``jax.grad`` is jaxgd's backward pass. This module computes the same
gradients by hand, layer by layer, so that (a) tests can check ``jax.grad``
against an independent oracle and (b) the worked example can print every
intermediate factor.

For an MLP (see :mod:`jaxgd.models`) with ``zˡ = aˡ⁻¹·Wˡᵀ + bˡ`` and
``aˡ = fˡ(zˡ)``, write ``δˡ = ∂L/∂zˡ``. Then, for a batch of ``m`` examples::

    δᴸ     = ∂L/∂ŷ ⊙ fᴸ'(zᴸ)
    ∂L/∂Wˡ = δˡᵀ · aˡ⁻¹          (shape [n_out, n_in], row i feeds neuron i)
    ∂L/∂bˡ = Σ over examples of δˡ
    δˡ⁻¹   = (δˡ · Wˡ) ⊙ fˡ⁻¹'(zˡ⁻¹)

with ``∂L/∂ŷ = (2/n)(ŷ − y)`` for the MSE over ``n`` entries and
``∂L/∂ŷ = ŷ − y`` for the half sum of squares.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from jaxgd._types import Array, ArrayLike, Params
from jaxgd.losses import LOSSES
from jaxgd.models import LEAKY_RELU_SLOPE, activation, mlp_forward


def activation_derivative(name: str, z: Array, a: Array) -> Array:
    """f'(z) for the activation ``name``, given ``z`` and ``a = f(z)``.

    identity: 1;  relu: 1 if z > 0 else 0;  leaky_relu: 1 if z > 0 else 0.01;
    sigmoid: a(1 − a);  tanh: 1 − a².
    """
    activation(name)  # validates the name
    if name == "identity":
        return jnp.ones_like(z)
    if name == "relu":
        return jnp.where(z > 0, 1.0, 0.0).astype(z.dtype)
    if name == "leaky_relu":
        return jnp.where(z > 0, 1.0, LEAKY_RELU_SLOPE).astype(z.dtype)
    if name == "sigmoid":
        return a * (1 - a)
    return 1 - a * a  # tanh


def loss_derivative(loss: str, pred: Array, target: Array) -> Array:
    """∂L/∂ŷ: ``(2/n)(ŷ − y)`` for ``"mse"``, ``ŷ − y`` for ``"half_sse"``."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}.")
    if loss == "mse":
        return (2.0 / pred.size) * (pred - target)
    return pred - target


class BackpropTrace(NamedTuple):
    """Every quantity of one forward and backward pass.

    ``zs[l]`` and ``activations[l + 1]`` belong to layer ``l`` (0-based);
    ``activations[0]`` is the input. ``deltas[l] = ∂L/∂zs[l]``.
    """

    zs: list[Array]
    activations: list[Array]
    loss: Array
    dloss_dpred: Array
    activation_derivatives: list[Array]
    deltas: list[Array]
    grads: Params


def backprop_trace(
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    *,
    hidden: str = "relu",
    output: str = "identity",
    loss: str = "mse",
) -> BackpropTrace:
    """Forward pass, loss and the explicit chain-rule backward pass, keeping everything.

    Args:
      params: MLP parameters (list of ``{"w", "b"}``), as from :func:`jaxgd.models.mlp_init`.
      x: inputs ``[m, n_in]``.
      y: targets ``[m, n_out]``.
      hidden, output: activation names.
      loss: ``"mse"`` or ``"half_sse"``.

    Returns:
      A :class:`BackpropTrace`; ``trace.grads`` has the structure of ``params``.
    """
    y = jnp.asarray(y)
    zs, activations = mlp_forward(params, x, hidden=hidden, output=output)
    pred = activations[-1]
    dloss = loss_derivative(loss, pred, y)
    loss_value = LOSSES[loss](pred, y)
    n_layers = len(params)
    names = [hidden] * (n_layers - 1) + [output]
    derivs = [
        activation_derivative(n, z, a) for n, z, a in zip(names, zs, activations[1:], strict=True)
    ]
    deltas: list[Array] = [jnp.zeros(())] * n_layers
    grads: list[dict[str, Array]] = [{}] * n_layers
    delta = dloss * derivs[-1]
    for layer in reversed(range(n_layers)):
        deltas[layer] = delta
        grads[layer] = {"w": delta.T @ activations[layer], "b": jnp.sum(delta, axis=0)}
        if layer > 0:
            delta = (delta @ params[layer]["w"]) * derivs[layer - 1]
    return BackpropTrace(zs, activations, loss_value, dloss, derivs, deltas, grads)


def backprop(params: Params, x: ArrayLike, y: ArrayLike, **options: str) -> Params:
    """∂L/∂params by the explicit chain rule; equal to ``jax.grad`` of the same loss.

    The keyword ``options`` are :func:`backprop_trace`'s (``hidden``, ``output``,
    ``loss``), with its defaults.

    >>> from jaxgd.models import mlp_init, mlp_apply
    >>> from jaxgd.losses import mse
    >>> import jax
    >>> p = mlp_init(jax.random.key(0), [2, 3, 1])
    >>> x, y = jnp.ones((4, 2)), jnp.zeros((4, 1))
    >>> g = backprop(p, x, y, hidden="tanh")
    >>> g_auto = jax.grad(lambda q: mse(mlp_apply(q, x, hidden="tanh"), y))(p)
    >>> bool(jnp.allclose(g[0]["w"], g_auto[0]["w"]))
    True
    """
    return backprop_trace(params, x, y, **options).grads
