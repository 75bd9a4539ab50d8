"""Models written the way users write them, not in jaxgd's own layout.

Each function returns a :class:`jaxgd.problems.Problem` (a plain container: ``init_fn``,
``loss_fn``, ``data``), so every benchmark method trains it unchanged.

* :func:`geron_notebook`: Géron's chapter-4 notebook, ``X_b = np.c_[np.ones((100, 1)), X]``,
  ``θ`` of shape ``[2, 1]``, ``mean((X_b @ θ − y)²)`` with ``y`` of shape ``[100, 1]``.
* :func:`mlp_x_at_w`: an MLP 16-64-64-1 as a list of ``{"W": [in, out], "b": [out]}``
  layers, ``relu(h @ W + b)``, the usual tutorial form; ``init_fn`` ignores its key and
  returns one fixed draw (as a user who initialised once outside the sweep would).
* :func:`mlp_equinox`: the same layer sizes as ``equinox.nn.MLP`` with ReLU, applied per
  example with ``jax.vmap(model)(x)``, trained on ``eqx.partition(model, eqx.is_array)``
  and recombined in the loss with ``eqx.combine``, Equinox's own recipe for optax loops.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd.problems import Problem

MLP_SIZES = (16, 64, 64, 1)
MLP_EXAMPLES = 1024


def geron_notebook() -> Problem:
    rng = np.random.RandomState(42)
    x = 2 * rng.rand(100, 1)
    y = 4 + 3 * x + rng.randn(100, 1)
    x_b = np.c_[np.ones((100, 1)), x]

    def loss(theta, x_b, y):
        return jnp.mean((x_b @ theta - y) ** 2)

    def init(key):
        return jax.random.normal(key, (2, 1))

    return Problem(
        "geron-notebook",
        init,
        loss,
        (jnp.asarray(x_b, jnp.float32), jnp.asarray(y, jnp.float32)),
        "θ [2, 1], mean((X_b @ θ − y)²), y [100, 1]",
    )


def _regression_data() -> tuple[jnp.ndarray, jnp.ndarray]:
    """1,024 examples, 16 features, y = sin(2 x₀) + noise, shape [1024, 1]."""
    rng = np.random.RandomState(0)
    x = rng.randn(MLP_EXAMPLES, MLP_SIZES[0]).astype(np.float32)
    y = (np.sin(2 * x[:, :1]) + 0.1 * rng.randn(MLP_EXAMPLES, 1)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


def mlp_x_at_w() -> Problem:
    rng = np.random.RandomState(1)
    start = [
        {
            "W": jnp.asarray(rng.randn(a, b).astype(np.float32) / np.sqrt(a)),
            "b": jnp.zeros(b, jnp.float32),
        }
        for a, b in itertools.pairwise(MLP_SIZES)
    ]

    def init(key):
        del key  # one fixed draw, made once outside the sweep
        return start

    def predict(params, x):
        h = x
        for layer in params[:-1]:
            h = jax.nn.relu(h @ layer["W"] + layer["b"])
        return h @ params[-1]["W"] + params[-1]["b"]

    def loss(params, x, y):
        return jnp.mean((predict(params, x) - y) ** 2)

    return Problem("mlp-x-at-w", init, loss, _regression_data(), "[in, out] W, h @ W + b, ReLU")


def equinox_available() -> bool:
    try:
        import equinox  # noqa: F401
    except ImportError:
        return False
    return True


def mlp_equinox() -> Problem:
    import equinox as eqx

    model = eqx.nn.MLP(
        MLP_SIZES[0],
        MLP_SIZES[-1],
        width_size=MLP_SIZES[1],
        depth=len(MLP_SIZES) - 2,
        activation=jax.nn.relu,
        key=jax.random.key(1),
    )
    _, static = eqx.partition(model, eqx.is_array)

    def init(key):
        del key  # the model built once, outside the sweep
        return eqx.filter(model, eqx.is_array)

    def loss(params, x, y):
        net = eqx.combine(params, static)
        return jnp.mean((jax.vmap(net)(x) - y) ** 2)

    return Problem(
        "mlp-equinox",
        init,
        loss,
        _regression_data(),
        "equinox.nn.MLP, jax.vmap(model)(x), eqx.partition / eqx.combine",
    )
