"""jaxgd: gradient descent in JAX, from the textbook to fast vectorised sweeps.

The public API::

    jaxgd.fit            one training run, compiled as a single loop
    jaxgd.FitResult      what fit returns
    jaxgd.sweep          many runs (learning rates × seeds × hyperparameters) as one vmapped call
    jaxgd.SweepResult    what sweep returns
    jaxgd.optim          hand-written optimizers equal to optax's (sgd, adam, ...)
    jaxgd.models         linear model and MLPs as pure functions
    jaxgd.losses         mse and the half sum of squares
    jaxgd.backprop       the chain rule written out (test oracle, worked example)
    jaxgd.problems       built-in data sets and test surfaces
"""

from jaxgd import backprop, losses, models, optim, problems
from jaxgd.sweeps import SweepResult, sweep
from jaxgd.train import FitResult, fit

__version__ = "0.1.0"

__all__ = [
    "FitResult",
    "SweepResult",
    "__version__",
    "backprop",
    "fit",
    "losses",
    "models",
    "optim",
    "problems",
    "sweep",
]
