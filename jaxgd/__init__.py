"""jaxgd: gradient descent in JAX, from the textbook to fast vectorised sweeps.

The public API::

    jaxgd.fit            one training run, compiled as a single loop
    jaxgd.FitResult      what fit returns
    jaxgd.sweep          many runs (learning rates × seeds × hyperparameters) as one vmapped call
    jaxgd.SweepResult    what sweep returns
    jaxgd.log_uniform, jaxgd.uniform, jaxgd.choice
                         search spaces for sweep(random=...)
    jaxgd.SuccessiveHalving
                         sweep(..., prune=...): successive halving inside one sweep
    jaxgd.lr_find        learning-rate finder: the range test, or a sweep of short runs
    jaxgd.integrations.optuna
                         Optuna's samplers and storage driving lanes of a sweep (extra: optuna)
    jaxgd.optim          hand-written optimizers equal to optax's (sgd, adam, ...)
    jaxgd.schedules      learning-rate schedules equal to optax's, plus inverse_time_schedule
    jaxgd.models         linear model and MLPs as pure functions
    jaxgd.losses         mse, the half sum of squares, and the cross-entropies (equal to optax's)
    jaxgd.metrics        accuracy from logits and labels
    jaxgd.backprop       the chain rule written out (test oracle, worked example)
    jaxgd.problems       built-in data sets and test surfaces
    jaxgd.datasets       real data bundled with scikit-learn (breast cancer, digits, diabetes,
                         iris), split train/validation/test, standardised on the training split
    jaxgd.plots          matplotlib figures: paths on contours, loss curves, sweeps
    jaxgd.crosscheck     compare two optimizers step by step (jaxgd's against optax's)

Submodules and names are imported on first use (``jaxgd.fit`` imports JAX then), so that
``import jaxgd`` and ``jaxgd --help`` stay quick; ``from jaxgd import fit`` and
``jaxgd.schedules`` work as with eager imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_SUBMODULES = (
    "backprop",
    "crosscheck",
    "datasets",
    "integrations",
    "losses",
    "metrics",
    "models",
    "optim",
    "plots",
    "problems",
    "schedules",
    "sweeps",
    "train",
)

_NAMES = {
    "FitResult": "jaxgd.train",
    "fit": "jaxgd.train",
    "SweepResult": "jaxgd.sweeps",
    "sweep": "jaxgd.sweeps",
    "choice": "jaxgd.sweeps",
    "log_uniform": "jaxgd.sweeps",
    "uniform": "jaxgd.sweeps",
    "SuccessiveHalving": "jaxgd.sweeps",
    "lr_find": "jaxgd.lr_finder",
    "LRFindResult": "jaxgd.lr_finder",
}

__all__ = sorted([*_SUBMODULES, *_NAMES, "__version__"])

if TYPE_CHECKING:  # what static tools and IDEs see
    from jaxgd import (  # noqa: F401
        backprop,
        crosscheck,
        datasets,
        integrations,
        losses,
        metrics,
        models,
        optim,
        plots,
        problems,
        schedules,
        sweeps,
        train,
    )
    from jaxgd.lr_finder import LRFindResult, lr_find  # noqa: F401
    from jaxgd.sweeps import (  # noqa: F401
        SuccessiveHalving,
        SweepResult,
        choice,
        log_uniform,
        sweep,
        uniform,
    )
    from jaxgd.train import FitResult, fit  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"jaxgd.{name}")
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'jaxgd' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
