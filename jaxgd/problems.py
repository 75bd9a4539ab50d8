"""Built-in problems: data sets and test surfaces with their losses and initialisers.

A :class:`Problem` bundles what :func:`jaxgd.fit` and :func:`jaxgd.sweep` need:
``init_fn(key) -> params``, ``loss_fn(params, x, y) -> scalar`` and ``data =
(x, y)``. Surfaces that are functions of the parameters alone (a quadratic
bowl, Rosenbrock) have ``data=None`` and are called as ``loss_fn(params,
None, None)``.

Arrays are built when the problem is built, in JAX's default float dtype
(float32, or float64 under ``jax_enable_x64``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd._keys import as_key
from jaxgd._types import Array, ArrayLike, Batch, InitFn, LossFn, Params, PRNGKey
from jaxgd.losses import mse
from jaxgd.models import MLP, linear_apply, mlp_from_arrays


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """An objective to minimise: an initialiser, a loss and (optionally) data."""

    name: str
    init_fn: InitFn
    loss_fn: LossFn
    data: Batch | None
    description: str = ""

    def loss(self, params: Params) -> Array:
        """The loss of ``params`` on the whole data set (or the surface's value)."""
        x, y = self.data if self.data is not None else (None, None)
        return self.loss_fn(params, x, y)


def _float(value: ArrayLike) -> Array:
    return jnp.asarray(value, jnp.result_type(float))


# ----------------------------------------------------------------------------- Géron's linear data

GERON_SEED = 42
GERON_M = 100


def geron_linear_data() -> tuple[np.ndarray, np.ndarray]:
    """The 100 points of Géron's chapter 4, as NumPy float64 arrays ``x [100, 1]``, ``y [100]``.

    Géron's recipe is ``np.random.seed(42); X = 2 * np.random.rand(100, 1);
    y = 4 + 3 * X + np.random.randn(100, 1)``. ``RandomState(42)`` draws the
    same numbers in the same order without touching NumPy's global state.
    """
    rng = np.random.RandomState(GERON_SEED)
    x = 2 * rng.rand(GERON_M, 1)
    y = 4 + 3 * x + rng.randn(GERON_M, 1)
    return x, y[:, 0]


def geron_theta0() -> Params:
    """Géron's starting point for batch GD: ``np.random.seed(42); θ = np.random.randn(2, 1)``.

    Returned as linear-model parameters ``{"w": [θ₁], "b": θ₀}`` (θ₀ is the intercept).
    """
    theta = np.random.RandomState(GERON_SEED).randn(2)
    return {"w": _float(theta[1:]), "b": _float(theta[0])}


def normal_equation(x: ArrayLike, y: ArrayLike) -> Params:
    """The least-squares solution θ = (XᵦᵀXᵦ)⁻¹Xᵦᵀy with a bias column, in float64 NumPy.

    Returns linear-model parameters ``{"w": [n], "b": []}`` as float64 NumPy arrays.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    xb = np.concatenate([np.ones((x.shape[0], 1)), x], axis=1)
    theta = np.linalg.solve(xb.T @ xb, xb.T @ y)
    return {"w": theta[1:], "b": theta[0]}


def linear_mse(params: Params, x: Array, y: Array) -> Array:
    """MSE of the linear model ŷ = x·w + b: ``(1/m) Σ (yᵢ − ŷᵢ)²``."""
    return mse(linear_apply(params, x), y)


def geron_init(key: PRNGKey) -> Params:
    """θ = (θ₀, θ₁) ~ N(0, I) as ``{"w": [θ₁], "b": θ₀}``, like Géron's ``randn(2, 1)``."""
    theta = jax.random.normal(as_key(key), (2,), jnp.result_type(float))
    return {"w": theta[1:], "b": theta[0]}


def geron_linear() -> Problem:
    """Linear regression on Géron's data (y ≈ 4 + 3x + noise), with the MSE loss.

    ``init_fn`` draws θ ~ N(0, I) from the key, like Géron's ``np.random.randn(2, 1)``
    (use :func:`geron_theta0` for his exact start).
    """
    x, y = geron_linear_data()
    return Problem(
        name="geron-linear",
        init_fn=geron_init,
        loss_fn=linear_mse,
        data=(_float(x), _float(y)),
        description="Géron's 100 points y = 4 + 3x + N(0, 1), linear model, MSE",
    )


# ----------------------------------------------------------------------------- surfaces


@dataclasses.dataclass(frozen=True)
class UniformBox:
    """``init_fn(key)``: a start drawn uniformly in the box ``[low, high]`` (one entry per axis)."""

    low: tuple[float, ...]
    high: tuple[float, ...]

    def __call__(self, key: PRNGKey) -> Array:
        low, high = _float(self.low), _float(self.high)
        return jax.random.uniform(as_key(key), low.shape, low.dtype, low, high)


@dataclasses.dataclass(frozen=True)
class Quadratic:
    """f(θ) = ½ Σᵢ λᵢ θᵢ²: a convex bowl with curvature λᵢ along axis i (Hessian diag(λ))."""

    curvatures: tuple[float, ...]

    def __call__(self, params: Array, x: None = None, y: None = None) -> Array:
        return 0.5 * jnp.sum(_float(self.curvatures).astype(params.dtype) * jnp.square(params))


def quadratic_bowl(curvatures: Sequence[float] = (1.0, 1.0)) -> Problem:
    """A round convex bowl ``f(θ) = ½ Σ λᵢ θᵢ²``, minimum 0 at θ = 0; starts in [−2, 2]ⁿ."""
    curvatures = tuple(float(c) for c in curvatures)
    if not curvatures or any(c <= 0 for c in curvatures):
        raise ValueError(f"curvatures={curvatures} must be a non-empty list of positive numbers.")
    n = len(curvatures)
    return Problem(
        name="quadratic-bowl",
        init_fn=UniformBox((-2.0,) * n, (2.0,) * n),
        loss_fn=Quadratic(curvatures),
        data=None,
        description=f"f(θ) = ½ Σ λᵢ θᵢ², λ = {curvatures}",
    )


def elongated_bowl(condition_number: float = 25.0) -> Problem:
    """An ill-conditioned bowl ``f(θ) = ½ (θ₀² + κ θ₁²)`` with condition number κ."""
    if condition_number < 1:
        raise ValueError(f"condition_number={condition_number} must be >= 1.")
    problem = quadratic_bowl((1.0, float(condition_number)))
    return dataclasses.replace(
        problem,
        name="elongated-bowl",
        description=f"f(θ) = ½ (θ₀² + {condition_number:g} θ₁²), "
        f"condition number {condition_number:g}",
    )


def rosenbrock_function(params: Array, x: None = None, y: None = None) -> Array:
    """f(a, b) = (1 − a)² + 100 (b − a²)², minimum 0 at (1, 1), a curved narrow valley."""
    a, b = params[0], params[1]
    return jnp.square(1 - a) + 100 * jnp.square(b - a * a)


def rosenbrock() -> Problem:
    """The Rosenbrock valley; starts drawn uniformly in [−2, 2] × [−1, 3]."""
    return Problem(
        name="rosenbrock",
        init_fn=UniformBox((-2.0, -1.0), (2.0, 3.0)),
        loss_fn=rosenbrock_function,
        data=None,
        description="f(a, b) = (1 − a)² + 100 (b − a²)², minimum at (1, 1)",
    )


@dataclasses.dataclass(frozen=True)
class Wells:
    """f(θ) = 0.005‖θ‖² − exp(−‖θ − g‖²) − 0.35·exp(−3‖θ − l‖²): a non-convex landscape.

    A deep wide well at ``g`` (the global minimum), a shallow narrow well at ``l``
    (a local minimum) and, far from both, a nearly flat plateau where only the
    gentle 0.005‖θ‖² bowl remains (gradient ≈ 0.01‖θ‖).
    """

    global_center: tuple[float, ...]
    local_center: tuple[float, ...]

    def __call__(self, params: Array, x: None = None, y: None = None) -> Array:
        g = _float(self.global_center).astype(params.dtype)
        loc = _float(self.local_center).astype(params.dtype)
        return (
            0.005 * jnp.sum(params**2)
            - jnp.exp(-jnp.sum((params - g) ** 2))
            - 0.35 * jnp.exp(-3.0 * jnp.sum((params - loc) ** 2))
        )


def wells_1d() -> Problem:
    """A 1-D non-convex function: global minimum near −1.5, local minimum near 1.5, plateaus
    beyond |x| ≈ 3; starts drawn uniformly in [−6, 6]."""
    return Problem(
        name="wells-1d",
        init_fn=UniformBox((-6.0,), (6.0,)),
        loss_fn=Wells((-1.5,), (1.5,)),
        data=None,
        description="f(x) = 0.005x² − exp(−(x+1.5)²) − 0.35·exp(−3(x−1.5)²)",
    )


def wells_2d() -> Problem:
    """The 2-D version of :func:`wells_1d`: global well at (−1.5, 0), local well at (1.5, 1);
    starts drawn uniformly in [−5, 5]²."""
    return Problem(
        name="wells-2d",
        init_fn=UniformBox((-5.0, -5.0), (5.0, 5.0)),
        loss_fn=Wells((-1.5, 0.0), (1.5, 1.0)),
        data=None,
        description="f(θ) = 0.005‖θ‖² − exp(−‖θ − (−1.5, 0)‖²) − 0.35·exp(−3‖θ − (1.5, 1)‖²)",
    )


def saddle_function(params: Array, x: None = None, y: None = None) -> Array:
    """f(a, b) = a² + ¼b⁴ − ½b²: a saddle point at the origin, minima −¼ at (0, ±1)."""
    a, b = params[0], params[1]
    return a * a + 0.25 * b**4 - 0.5 * b * b


@dataclasses.dataclass(frozen=True)
class FixedStart:
    """``init_fn(key)`` that ignores the key and returns the same start every time."""

    start: tuple[float, ...]

    def __call__(self, key: PRNGKey) -> Array:
        return _float(self.start)


def saddle(start: Sequence[float] = (1.5, 1e-3)) -> Problem:
    """The saddle surface ``a² + ¼b⁴ − ½b²`` started next to its saddle point (fixed start):
    the gradient along b is tiny there, so GD lingers on the saddle before escaping."""
    return Problem(
        name="saddle",
        init_fn=FixedStart(tuple(float(v) for v in start)),
        loss_fn=saddle_function,
        data=None,
        description="f(a, b) = a² + ¼b⁴ − ½b², saddle at (0, 0), minima at (0, ±1)",
    )


# ----------------------------------------------------------------------------- MLP regression


@dataclasses.dataclass(frozen=True)
class MLPInit:
    """``init_fn(key) = model.init(key)``, hashable by value (two equal models share compiled code,
    which a bound method ``model.init`` would not)."""

    model: MLP

    def __call__(self, key: PRNGKey) -> Params:
        return self.model.init(key)


@dataclasses.dataclass(frozen=True)
class MLPLoss:
    """``loss_fn(params, x, y) = mse(model.apply(params, x), y)`` for an :class:`MLP`.

    With a ``key`` (``fit(..., loss_with_key=True)``) the model's dropout is active.
    """

    model: MLP

    def __call__(self, params: Params, x: Array, y: Array, key: PRNGKey | None = None) -> Array:
        return mse(self.model.apply(params, x, key=key), y)


def mlp_regression(
    sizes: Sequence[int] = (4, 16, 16, 1),
    n_examples: int = 256,
    *,
    hidden: str = "tanh",
    noise: float = 0.1,
    seed: int = 0,
) -> Problem:
    """Synthetic regression: targets from a fixed random "teacher" MLP plus noise.

    ``x ~ N(0, I)`` of shape ``[n_examples, sizes[0]]``; ``y = teacher(x) + noise·N(0, 1)``
    where the teacher is a tanh MLP of the same sizes with Glorot-uniform weights and zero
    biases. All of it is drawn with NumPy's ``RandomState(seed)`` (fast, and the same on
    every machine). The student is an MLP of ``sizes`` with ``hidden`` activations.
    """
    model = MLP(tuple(sizes), hidden=hidden)
    if not isinstance(n_examples, (int, np.integer)) or n_examples <= 0:
        raise ValueError(f"n_examples={n_examples!r} must be a positive integer.")
    rng = np.random.RandomState(seed)
    x = rng.randn(n_examples, model.sizes[0])
    activations = x
    layers = list(zip(model.sizes[:-1], model.sizes[1:], strict=True))
    for i, (fan_in, fan_out) in enumerate(layers):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        activations = activations @ rng.uniform(-limit, limit, (fan_out, fan_in)).T
        if i < len(layers) - 1:
            activations = np.tanh(activations)
    y = activations + noise * rng.randn(*activations.shape)
    x, y = _float(x), _float(y)
    return Problem(
        name="mlp-regression",
        init_fn=MLPInit(model),
        loss_fn=MLPLoss(model),
        data=(x, y),
        description=f"MLP {'-'.join(map(str, model.sizes))} ({hidden}) on {n_examples} "
        "examples from a random tanh teacher",
    )


# ----------------------------------------------------------------------------- the worked example

WORKED_X = ((0.05, 0.10),)
WORKED_Y = ((0.01, 0.99),)
WORKED_W1 = ((0.15, 0.20), (0.25, 0.30))
WORKED_B1 = 0.35
WORKED_W2 = ((0.40, 0.45), (0.50, 0.55))
WORKED_B2 = 0.60


def worked_example_params(key: PRNGKey | None = None) -> Params:
    """The 2-2-2 network of the notes: W¹, b¹ = 0.35, W² and b² = 0.60 (row i feeds neuron i).

    ``key`` is accepted (and ignored) so that this serves as an ``init_fn``.
    """
    del key
    return mlp_from_arrays([WORKED_W1, WORKED_W2], [WORKED_B1, WORKED_B2])


def worked_example(hidden: str = "relu") -> Problem:
    """The notes' 2-2-2 network on its one example, sigmoid outputs, MSE over the two outputs.

    ``hidden="relu"`` is the notes' network; ``hidden="sigmoid"`` is the classic
    "step by step backpropagation" original. ``init_fn`` ignores its key: every
    run starts from the notes' weights.
    """
    model = MLP((2, 2, 2), hidden=hidden, output="sigmoid")
    return Problem(
        name="worked-example",
        init_fn=worked_example_params,
        loss_fn=MLPLoss(model),
        data=(_float(WORKED_X), _float(WORKED_Y)),
        description=f"2-2-2 net, {hidden} hidden layer, sigmoid outputs, x = (0.05, 0.10), "
        "y = (0.01, 0.99)",
    )


PROBLEMS = {
    "geron-linear": geron_linear,
    "worked-example": worked_example,
    "quadratic-bowl": quadratic_bowl,
    "elongated-bowl": elongated_bowl,
    "rosenbrock": rosenbrock,
    "mlp-regression": mlp_regression,
    "wells-1d": wells_1d,
    "wells-2d": wells_2d,
    "saddle": saddle,
}


def get_problem(name: str) -> Problem:
    """The built-in problem called ``name`` (one of :data:`PROBLEMS`), with default settings."""
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; choose one of {', '.join(PROBLEMS)}.")
    return PROBLEMS[name]()
