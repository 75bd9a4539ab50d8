"""Models as pure functions over parameter pytrees.

A neuron computes ``ŷ = Σ_i w_i x_i + b``; a dense layer is a row of such
neurons, and a multi-layer perceptron (MLP) stacks layers with an activation
``f`` between them::

    a⁰ = x,      zˡ = aˡ⁻¹ · Wˡᵀ + bˡ,      aˡ = fˡ(zˡ),      ŷ = aᴸ

Weight layout
-------------
A dense layer's parameters are ``{"w": W, "b": b}`` with ``W`` of shape
``[n_out, n_in]`` and ``b`` of shape ``[n_out]``: **row i of W feeds neuron
i**, exactly as in the notes (``In¹₁ = W¹₁₁x₁ + W¹₁₂x₂ + b¹``) and as in
PyTorch's ``nn.Linear``. So the notes' matrix ``W¹ = [[0.15, 0.20], [0.25,
0.30]]`` is used as written, and the notes' ``W¹ᵢⱼ`` is ``params[0]["w"][i-1,
j-1]``. Inputs are batches ``x`` of shape ``[m, n_in]`` (examples along the
first axis), so a layer computes ``x @ W.T + b``. The notes give one bias per
layer (``b¹ = 0.35``); here each neuron has its own, and a shared bias is the
special case of equal entries.

The linear model keeps Géron's layout instead: ``{"w": [n_features], "b": []}``
and ``ŷ = x @ w + b`` of shape ``[m]``, so Géron's ``θ = (θ₀, θ₁)`` is
``(b, w[0])``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd._keys import as_key
from jaxgd._types import Array, ArrayLike, Params, PRNGKey

LEAKY_RELU_SLOPE = 0.01


def identity(z: Array) -> Array:
    """f(z) = z."""
    return z


def relu(z: Array) -> Array:
    """f(z) = max(z, 0); its derivative is taken as 0 at z = 0 (as ``jax.nn.relu``)."""
    return jnp.where(z > 0, z, jnp.zeros_like(z))


def leaky_relu(z: Array) -> Array:
    """f(z) = z for z > 0, 0.01·z otherwise."""
    return jnp.where(z > 0, z, LEAKY_RELU_SLOPE * z)


def sigmoid(z: Array) -> Array:
    """f(z) = 1 / (1 + e^(−z)); f'(z) = f(z)·(1 − f(z))."""
    return jax.nn.sigmoid(z)


def tanh(z: Array) -> Array:
    """f(z) = tanh(z); f'(z) = 1 − f(z)²."""
    return jnp.tanh(z)


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "identity": identity,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
}


def activation(name: str) -> Callable[[Array], Array]:
    """The activation function called ``name`` (one of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}; choose one of {', '.join(sorted(ACTIVATIONS))}."
        )
    return ACTIVATIONS[name]


# ----------------------------------------------------------------------------- initialisation

# Each scheme's factor from a unit draw (U(−1, 1) or N(0, 1)) to its weights,
# as a function of (fan_in, fan_out, scale).
_SPREADS: dict[str, Callable[[int, int, float], float]] = {
    "normal": lambda fan_in, fan_out, scale: scale,
    "uniform": lambda fan_in, fan_out, scale: scale,
    "glorot": lambda fan_in, fan_out, scale: math.sqrt(6.0 / (fan_in + fan_out)),
    "glorot_normal": lambda fan_in, fan_out, scale: math.sqrt(2.0 / (fan_in + fan_out)),
    "he": lambda fan_in, fan_out, scale: math.sqrt(2.0 / fan_in),
    "he_uniform": lambda fan_in, fan_out, scale: math.sqrt(6.0 / fan_in),
    "zeros": lambda fan_in, fan_out, scale: 0.0,
}
INIT_SCHEMES = tuple(_SPREADS)
_INIT_ALIASES = {"xavier": "glorot", "xavier_normal": "glorot_normal", "kaiming": "he"}


def _check_init(name: str) -> str:
    name = _INIT_ALIASES.get(name, name)
    if name not in INIT_SCHEMES:
        raise ValueError(
            f"unknown init {name!r}; choose one of {', '.join(INIT_SCHEMES)} "
            f"(aliases: {', '.join(_INIT_ALIASES)})."
        )
    return name


def _spread(units: Array, scheme: str, scale: float, dtype: jnp.dtype) -> Array:
    """Unit draws (U(−1, 1) or N(0, 1)) of shape ``(fan_out, fan_in)`` as ``scheme``'s weights."""
    fan_out, fan_in = units.shape
    return (_SPREADS[scheme](fan_in, fan_out, scale) * units).astype(dtype)


def _unit_draw(key: PRNGKey, shape: tuple[int, ...], scheme: str, dtype: jnp.dtype) -> Array:
    """Independent U(−1, 1) entries for the uniform schemes, N(0, 1) for the normal ones."""
    key = as_key(key)
    if scheme == "zeros":
        return jnp.zeros(shape, dtype)
    if scheme in ("normal", "glorot_normal", "he"):
        return jax.random.normal(key, shape, dtype)
    return jax.random.uniform(key, shape, dtype, -1.0, 1.0)


def init_weight(
    key: PRNGKey,
    shape: tuple[int, int],
    scheme: str = "glorot",
    *,
    scale: float = 1.0,
    dtype: jnp.dtype | None = None,
) -> Array:
    """A weight matrix of ``shape = (fan_out, fan_in)`` drawn by ``scheme``.

    * ``normal``: N(0, scale²);  ``uniform``: U(−scale, scale);
    * ``glorot`` (Xavier, uniform): U(−l, l), l = √(6 / (fan_in + fan_out));
    * ``glorot_normal``: N(0, 2 / (fan_in + fan_out));
    * ``he`` (Kaiming, normal): N(0, 2 / fan_in);  ``he_uniform``: U(−l, l), l = √(6 / fan_in);
    * ``zeros``: all zeros (every neuron of a layer then learns the same thing).

    Each is a unit draw (U(−1, 1) or N(0, 1)) times the scheme's spread.

    Args:
      key: a PRNG key (``jax.random.key(s)``, ``jax.random.PRNGKey(s)`` or the int ``s``).
      shape: ``(fan_out, fan_in)``.
      scheme: one of :data:`INIT_SCHEMES`.
      scale: standard deviation for ``normal``, half-width for ``uniform``.
      dtype: float dtype; defaults to JAX's default float (float32, or float64 under x64).

    Returns:
      An array of ``shape``.
    """
    scheme = _check_init(scheme)
    dtype = dtype or jnp.result_type(float)
    return _spread(_unit_draw(key, shape, scheme, dtype), scheme, scale, dtype)


# ----------------------------------------------------------------------------- linear model


def linear_init(
    key: PRNGKey,
    n_features: int,
    *,
    init: str = "zeros",
    scale: float = 1.0,
    dtype: jnp.dtype | None = None,
) -> Params:
    """Parameters ``{"w": [n_features], "b": []}`` of the linear model ŷ = Σ wᵢxᵢ + b.

    ``init`` draws ``w`` and ``b`` together as one ``[1, n_features + 1]`` row, so
    ``normal`` gives independent N(0, scale²) entries. Example:

      >>> p = linear_init(jax.random.key(0), 3)
      >>> p["w"].shape, p["b"].shape
      ((3,), ())
    """
    _check_width("n_features", n_features)
    row = init_weight(key, (1, n_features + 1), init, scale=scale, dtype=dtype)[0]
    return {"w": row[1:], "b": row[0]}


def linear_apply(params: Params, x: ArrayLike) -> Array:
    """ŷ = x · w + b for a batch ``x`` of shape ``[m, n_features]``; returns shape ``[m]``."""
    x = jnp.asarray(x)
    _check_input(x, params["w"].shape[0])
    return x @ params["w"] + params["b"]


# ----------------------------------------------------------------------------- MLP


def _check_width(name: str, value: int, context: str = "") -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name}={value!r} must be a positive integer{context}.")


def _check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(sizes)
    if len(sizes) < 2:
        raise ValueError(
            f"sizes={list(sizes)} needs at least two entries [n_in, ..., n_out], "
            "e.g. sizes=[2, 2, 2] for two inputs, one hidden layer of 2 and two outputs."
        )
    for i, width in enumerate(sizes):
        _check_width(f"sizes[{i}]", width, f"; sizes={list(sizes)}")
    return tuple(int(s) for s in sizes)


def _check_rate(name: str, rate: float) -> None:
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{name}={rate} must be in [0, 1).")


def _check_input(x: Array, n_in: int) -> None:
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ValueError(
            f"x has shape {tuple(x.shape)} but the model expects [m, {n_in}] "
            f"(m examples of {n_in} features); reshape x, e.g. x.reshape(-1, {n_in})."
        )


def mlp_init(
    key: PRNGKey,
    sizes: Sequence[int],
    *,
    init: str = "glorot",
    scale: float = 1.0,
    dtype: jnp.dtype | None = None,
) -> Params:
    """Parameters of an MLP with layer widths ``sizes = [n_in, h₁, …, n_out]``.

    Returns a list with one ``{"w": [n_out, n_in], "b": [n_out]}`` per layer;
    weights drawn by ``init`` (see :func:`init_weight`), biases zero. All the
    layers' unit draws come from one random call on ``key``, cut into layers and
    scaled by each layer's spread: every random call adds to the compile time (of
    a vmapped sweep above all), so a deep net costs no more to compile than a
    shallow one.

      >>> p = mlp_init(jax.random.key(0), [3, 5, 1])
      >>> [layer["w"].shape for layer in p]
      [(5, 3), (1, 5)]
    """
    sizes = _check_sizes(sizes)
    scheme = _check_init(init)
    dtype = dtype or jnp.result_type(float)
    shapes = list(zip(sizes[1:], sizes[:-1], strict=True))  # (fan_out, fan_in) per layer
    units = _unit_draw(key, (sum(o * i for o, i in shapes),), scheme, dtype)
    offsets = np.cumsum([0] + [o * i for o, i in shapes])
    return [
        {
            "w": _spread(units[start:end].reshape(n_out, n_in), scheme, scale, dtype),
            "b": jnp.zeros((n_out,), dtype),
        }
        for (n_out, n_in), start, end in zip(shapes, offsets[:-1], offsets[1:], strict=True)
    ]


def mlp_from_arrays(
    weights: Sequence[ArrayLike], biases: Sequence[ArrayLike], *, dtype: jnp.dtype | None = None
) -> Params:
    """MLP parameters from explicit matrices written as in the notes (row i feeds neuron i).

    A bias may be a scalar (one value for the whole layer, as the notes' b¹ = 0.35),
    broadcast to every neuron of the layer.

      >>> p = mlp_from_arrays([[[0.15, 0.20], [0.25, 0.30]]], [0.35])
      >>> p[0]["b"]
      Array([0.35, 0.35], dtype=float32)
    """
    if len(weights) != len(biases):
        raise ValueError(
            f"got {len(weights)} weight matrices but {len(biases)} biases; give one bias per layer."
        )
    dtype = dtype or jnp.result_type(float)
    params = []
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        w = jnp.asarray(w, dtype)
        if w.ndim != 2:
            raise ValueError(f"weights[{i}] has shape {w.shape}; expected a [n_out, n_in] matrix.")
        if i > 0 and w.shape[1] != params[-1]["w"].shape[0]:
            raise ValueError(
                f"weights[{i}] takes {w.shape[1]} inputs but layer {i - 1} has "
                f"{params[-1]['w'].shape[0]} neurons."
            )
        b = jnp.broadcast_to(jnp.asarray(b, dtype), (w.shape[0],))
        params.append({"w": w, "b": b})
    return params


def dropout(x: Array, rate: float, key: PRNGKey) -> Array:
    """Inverted dropout: zero each entry with probability ``rate``, scale the rest by 1/(1−rate).

    The expected value of every entry is unchanged, so nothing needs rescaling
    at evaluation time (when no key is given and dropout is skipped).
    """
    _check_rate("dropout rate", rate)
    if rate == 0.0:
        return x
    keep = jax.random.bernoulli(as_key(key), 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


def mlp_forward(
    params: Params,
    x: ArrayLike,
    *,
    hidden: str = "relu",
    output: str = "identity",
    dropout_rate: float = 0.0,
    key: PRNGKey | None = None,
) -> tuple[list[Array], list[Array]]:
    """The forward pass keeping every layer's pre-activations ``zˡ`` and activations ``aˡ``.

    Returns ``(zs, activations)`` with ``activations[0] = x`` and
    ``activations[-1] = ŷ``. Dropout (rate ``dropout_rate``) is applied to the
    hidden activations only when a ``key`` is given (training); without a key
    the network is deterministic (evaluation).
    """
    f_hidden, f_output = activation(hidden), activation(output)
    x = jnp.asarray(x)
    _check_input(x, params[0]["w"].shape[1])
    keys = jax.random.split(as_key(key), len(params)) if key is not None else [None] * len(params)
    zs, activations = [], [x]
    for i, layer in enumerate(params):
        z = activations[-1] @ layer["w"].T + layer["b"][None, :]
        last = i == len(params) - 1
        a = f_output(z) if last else f_hidden(z)
        if not last and key is not None:
            a = dropout(a, dropout_rate, keys[i])
        zs.append(z)
        activations.append(a)
    return zs, activations


def mlp_apply(params: Params, x: ArrayLike, **options: Any) -> Array:
    """ŷ for a batch ``x`` of shape ``[m, n_in]``; returns shape ``[m, n_out]``.

    The keyword ``options`` are :func:`mlp_forward`'s (``hidden``, ``output``,
    ``dropout_rate``, ``key``), with its defaults.

    >>> p = mlp_init(jax.random.key(0), [3, 4, 1])
    >>> mlp_apply(p, jnp.ones((5, 3)), hidden="tanh").shape
    (5, 1)
    """
    _, activations = mlp_forward(params, x, **options)
    return activations[-1]


@dataclasses.dataclass(frozen=True)
class MLP:
    """An MLP's configuration, bundling :func:`mlp_init` and :func:`mlp_apply`.

    Hashable (frozen), so it can be closed over by a loss function that jaxgd
    compiles once and reuses.

      >>> model = MLP((2, 8, 1), hidden="tanh")
      >>> params = model.init(jax.random.key(0))
      >>> model.apply(params, jnp.zeros((4, 2))).shape
      (4, 1)
    """

    sizes: tuple[int, ...]
    hidden: str = "relu"
    output: str = "identity"
    init_scheme: str = "glorot"
    init_scale: float = 1.0
    dropout_rate: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", _check_sizes(self.sizes))
        activation(self.hidden)
        activation(self.output)
        _check_init(self.init_scheme)
        _check_rate("dropout_rate", self.dropout_rate)

    def init(self, key: PRNGKey) -> Params:
        """Fresh parameters drawn from ``key``."""
        return mlp_init(key, self.sizes, init=self.init_scheme, scale=self.init_scale)

    def apply(self, params: Params, x: ArrayLike, *, key: PRNGKey | None = None) -> Array:
        """ŷ of shape ``[m, n_out]``; dropout is active only when ``key`` is given."""
        return mlp_apply(
            params,
            x,
            hidden=self.hidden,
            output=self.output,
            dropout_rate=self.dropout_rate,
            key=key,
        )
