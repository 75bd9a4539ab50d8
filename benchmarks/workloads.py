"""The benchmark workloads: problems, optimizers and lane counts.

W1  Géron's linear problem, full-batch SGD, 1,000 steps, 16 / 256 / 4,096 lanes
W2  the worked 2-2-2 network, full-batch SGD, 1,000 steps, 1,024 lanes
W3  MLP 16-64-64-1 on 1,024 examples, Adam, 200 steps, 64 lanes
W4  the same MLP with mini-batches of 32 and per-lane shuffling, 200 steps, 64 lanes

W1-W4 are jaxgd's own problem definitions (``jaxgd.problems``). U1-U4 are models
written as users write them (``user_models.py``):

U1  Géron's notebook form, θ [2, 1], ``mean((X_b @ θ − y)²)``, SGD, 1,000 steps, 256 / 4,096 lanes
U2  MLP 16-64-64-1 written with ``h @ W + b`` ([in, out]) and ReLU, full batch, Adam, 200 steps
U3  U2 with mini-batches of 32 and per-lane shuffling
U4  ``equinox.nn.MLP`` 16-64-64-1, ReLU, mini-batches of 32, Adam, 200 steps (needs equinox)

A lane is one training run with its own learning rate; every method trains
the same lanes from the same start, and the final losses are compared across methods.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import numpy as np

from jaxgd.problems import Problem, geron_linear, mlp_regression, worked_example
from jaxgd.sweeps import lane_keys

from . import user_models

KEY = jax.random.key(0)


@dataclasses.dataclass(frozen=True)
class Workload:
    name: str
    description: str
    make_problem: Callable[[], Problem]
    optimizer: str  # "sgd" or "adam": the same name in jaxgd.optim, optax and torch.optim
    lanes: tuple[int, ...]
    steps: int
    lr_range: tuple[float, float]
    batch_size: int | None = None
    layer_sizes: tuple[int, ...] | None = None  # for an MLP: FLOP count and matmul shapes
    n_examples: int | None = None
    formulation: str = "jaxgd.problems"  # how the model is written
    needs: str | None = None  # an optional package the workload needs

    @property
    def user_written(self) -> bool:
        return self.name.startswith("U")

    def available(self) -> bool:
        return self.needs is None or user_models.equinox_available()

    def learning_rates(self, n_lanes: int) -> np.ndarray:
        return np.geomspace(*self.lr_range, n_lanes).astype(np.float32)

    def flops_per_lane_step(self) -> float | None:
        """Matrix-product FLOPs of one update of one lane: forward + backward ≈ 3 × forward."""
        if self.layer_sizes is None:
            return None
        batch = self.batch_size or self.n_examples
        forward = sum(
            2 * batch * a * b
            for a, b in zip(self.layer_sizes[:-1], self.layer_sizes[1:], strict=True)
        )
        return 3.0 * forward


def start_params(problem: Problem):
    """Every lane of every method starts here: jaxgd's seed-0 initialisation."""
    return problem.init_fn(lane_keys(KEY, 0)[0])


def data_key():
    """The data-order key of every lane (jaxgd's seed-0 data key)."""
    return lane_keys(KEY, 0)[1]


def mlp_problem() -> Problem:
    return mlp_regression(sizes=(16, 64, 64, 1), n_examples=1024)


WORKLOADS = {
    "W1": Workload(
        "W1",
        "Géron linear, 100 examples, full-batch SGD, 1,000 steps",
        geron_linear,
        "sgd",
        (16, 256, 4096),
        1000,
        (1e-3, 0.4),
    ),
    "W2": Workload(
        "W2",
        "worked 2-2-2 net, 1 example, full-batch SGD, 1,000 steps",
        worked_example,
        "sgd",
        (1024,),
        1000,
        (1e-2, 2.0),
        layer_sizes=(2, 2, 2),
        n_examples=1,
    ),
    "W3": Workload(
        "W3",
        "MLP 16-64-64-1, 1,024 examples, full-batch Adam, 200 steps",
        mlp_problem,
        "adam",
        (64,),
        200,
        (1e-4, 3e-2),
        layer_sizes=(16, 64, 64, 1),
        n_examples=1024,
    ),
    "W4": Workload(
        "W4",
        "MLP 16-64-64-1, mini-batches of 32, per-lane shuffling, Adam, 200 steps",
        mlp_problem,
        "adam",
        (64,),
        200,
        (1e-4, 3e-2),
        batch_size=32,
        layer_sizes=(16, 64, 64, 1),
        n_examples=1024,
    ),
    "U1": Workload(
        "U1",
        "Géron's notebook form: θ [2, 1], mean((X_b @ θ − y)²), full-batch SGD, 1,000 steps",
        user_models.geron_notebook,
        "sgd",
        (256, 4096),
        1000,
        (1e-3, 0.4),
        formulation="θ [2, 1], X_b @ θ",
    ),
    "U2": Workload(
        "U2",
        "MLP 16-64-64-1 written with h @ W + b and ReLU, full-batch Adam, 200 steps",
        user_models.mlp_x_at_w,
        "adam",
        (64,),
        200,
        (1e-4, 3e-2),
        layer_sizes=(16, 64, 64, 1),
        n_examples=1024,
        formulation="list of {W [in, out], b}, relu(h @ W + b)",
    ),
}
WORKLOADS["U3"] = dataclasses.replace(
    WORKLOADS["U2"],
    name="U3",
    description="MLP 16-64-64-1 written with h @ W + b and ReLU, mini-batches of 32, Adam",
    batch_size=32,
)
WORKLOADS["U4"] = dataclasses.replace(
    WORKLOADS["U3"],
    name="U4",
    description="equinox.nn.MLP 16-64-64-1, ReLU, mini-batches of 32, Adam, 200 steps",
    make_problem=user_models.mlp_equinox,
    formulation="equinox.nn.MLP, jax.vmap(model)(x), eqx.partition / combine",
    needs="equinox",
)


def quick(workload: Workload) -> Workload:
    """A smaller version for ``--quick``: fewer steps for the MLPs."""
    if workload.name in ("W3", "W4", "U2", "U3", "U4"):
        return dataclasses.replace(workload, steps=50, lanes=(16,))
    if workload.name == "U1":
        return dataclasses.replace(workload, lanes=(4096,))
    if workload.name == "W2":
        return dataclasses.replace(workload, steps=300)
    return workload
