"""The names the command line offers, readable without importing JAX.

``jaxgd --help`` and every subcommand's ``--help`` list these; importing JAX takes seconds,
so the registries that need it (:data:`jaxgd.problems.PROBLEMS`, the optimizers of
:mod:`jaxgd.optim`, :data:`jaxgd.crosscheck.OPTIMIZERS`) are checked against these names by
the tests instead of being read here.
"""

from __future__ import annotations

from collections.abc import Sequence

PROBLEMS = {
    "geron-linear": "Géron's 100 points y = 4 + 3x + N(0, 1), linear model, MSE",
    "worked-example": "2-2-2 net, relu hidden layer, sigmoid outputs, x = (0.05, 0.10), "
    "y = (0.01, 0.99)",
    "quadratic-bowl": "f(θ) = ½ Σ λᵢ θᵢ², λ = (1.0, 1.0)",
    "elongated-bowl": "f(θ) = ½ (θ₀² + 25 θ₁²), condition number 25",
    "rosenbrock": "f(a, b) = (1 − a)² + 100 (b − a²)², minimum at (1, 1)",
    "mlp-regression": "MLP 4-16-16-1 (tanh) on 256 examples from a random tanh teacher",
    "wells-1d": "f(x) = 0.005x² − exp(−(x+1.5)²) − 0.35·exp(−3(x−1.5)²)",
    "wells-2d": "f(θ) = 0.005‖θ‖² − exp(−‖θ − (−1.5, 0)‖²) − 0.35·exp(−3‖θ − (1.5, 1)‖²)",
    "saddle": "f(a, b) = a² + ¼b⁴ − ½b², saddle at (0, 0), minima at (0, ±1)",
}
"""Built-in problem name -> its description (that of ``jaxgd.problems.get_problem(name)``)."""

OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam", "adamw", "nadam", "adamax", "adadelta", "lion")
"""The optimizers of :mod:`jaxgd.optim`, in the order of the notes (and of the crosscheck)."""

DTYPES = ("float32", "float64")
"""The dtypes the crosscheck runs in."""


def parse_optimizers(names: str | Sequence[str] | None) -> tuple[str, ...]:
    """Optimizer names from a comma list or a list of comma lists; ``None`` means all.

    Raises:
      ValueError: for a name not in :data:`OPTIMIZERS`, listing the valid ones.

    Example:
      >>> parse_optimizers(["adam,sgd", "adam"])
      ('adam', 'sgd')
    """
    if names is None:
        return OPTIMIZERS
    if isinstance(names, str):
        names = [names]
    chosen = [n.strip() for item in names for n in item.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in OPTIMIZERS]
    if unknown:
        raise ValueError(
            f"unknown optimizer {', '.join(map(repr, unknown))}; "
            f"choose from: {', '.join(OPTIMIZERS)}."
        )
    return tuple(dict.fromkeys(chosen)) or OPTIMIZERS
