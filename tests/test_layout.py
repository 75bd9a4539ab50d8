"""lane_map: vmap with matrix products that absorb their transposes.

Checked against ``jax.vmap`` on models written as users write them (``x @ θ`` with column
parameters, ``x @ W`` layers, Flax-style dicts, products with batch axes, nested ``jit``,
``custom_jvp``, ``cond``), in float32 and float64, and on the compiled program's structure:
the lane-sized transpose that ``vmap`` writes for ``X_b @ θ`` is gone.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgd._engine.lanes import lane_map, swapped_permutation

LANES = 8


@pytest.fixture(autouse=True)
def users_broadcast():
    """Users write ``h @ W + b`` with ``b [out]``: rank promotion, as JAX allows by default."""
    with jax.numpy_rank_promotion("allow"):
        yield


def geron_notebook(theta, x_b, y):
    return jnp.mean((x_b @ theta - y) ** 2)


def jaxgd_layout(params, x, y):
    return jnp.mean((x @ params["w"] + params["b"] - y) ** 2)


def mlp_x_at_w(params, x, y):
    h = x
    for layer in params[:-1]:
        h = jax.nn.relu(h @ layer["W"] + layer["b"])
    return jnp.mean((h @ params[-1]["W"] + params[-1]["b"] - y) ** 2)


@jax.jit
def _dense(kernel, bias, x):  # a nested jit, as library layers have
    return jnp.tanh(jnp.einsum("...i,io->...o", x, kernel) + bias)


def flax_style(params, x, y):
    h = _dense(params["Dense_0"]["kernel"], params["Dense_0"]["bias"], x)
    out = h @ params["Dense_1"]["kernel"] + params["Dense_1"]["bias"]
    return jnp.mean(jax.lax.cond(jnp.sum(out) > 0, jnp.square, jnp.abs, out - y))


def per_example(params, x, y):  # Equinox-style: the model maps one example, vmapped over x
    def net(xi):
        return params["W2"].T @ jax.nn.relu(params["W1"].T @ xi)

    return jnp.mean((jax.vmap(net)(x) - y) ** 2)


def _data(dtype, n_in=3, n_out=1, m=20):
    rng = np.random.RandomState(0)
    return jnp.asarray(rng.randn(m, n_in), dtype), jnp.asarray(rng.randn(m, n_out), dtype)


def _lanes(tree, seed=0):
    """LANES copies of ``tree``, each leaf moved by 0.1 × standard normal noise. Drawn with
    NumPy: jax.random compiled one program per leaf shape and dtype, 10 s of this module."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda leaf: jnp.asarray(
            np.asarray(leaf)[None] + 0.1 * rng.standard_normal((LANES, *leaf.shape)), leaf.dtype
        ),
        tree,
    )


def _cases(dtype):
    x, y = _data(dtype)
    x_b = jnp.concatenate([jnp.ones((20, 1), dtype), x[:, :1]], axis=1)
    z = lambda *shape: jnp.zeros(shape, dtype)  # noqa: E731
    one = lambda *shape: jnp.ones(shape, dtype) / math.sqrt(shape[0])  # noqa: E731
    return {
        "geron-notebook": (geron_notebook, z(2, 1), x_b, y),
        "jaxgd-layout": (jaxgd_layout, {"w": z(3, 1), "b": z(1)}, x, y),
        "mlp-x-at-w": (
            mlp_x_at_w,
            [{"W": one(3, 5), "b": z(5)}, {"W": one(5, 4), "b": z(4)}, {"W": one(4, 1), "b": z(1)}],
            x,
            y,
        ),
        "flax-style": (
            flax_style,
            {
                "Dense_0": {"kernel": one(3, 6), "bias": z(6)},
                "Dense_1": {"kernel": one(6, 1), "bias": z(1)},
            },
            x,
            y,
        ),
        "per-example": (per_example, {"W1": one(3, 4), "W2": one(4, 1)}, x, y),
    }


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(_cases("float32")))
def test_lane_map_equals_vmap_on_user_models(x64, name, dtype):
    loss, params, x, y = _cases(dtype)[name]
    lanes = _lanes(params)
    step = jax.value_and_grad(loss)
    expected = jax.jit(jax.vmap(step, in_axes=(0, None, None)))(lanes, x, y)
    got = jax.jit(lambda p, x, y: lane_map(lambda q: step(q, x, y))(p))(lanes, x, y)
    assert jax.tree.structure(got) == jax.tree.structure(expected)
    rtol = 1e-12 if dtype == "float64" else 2e-6
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


def test_lane_map_keeps_unmapped_arguments_and_in_axes():
    x, y = _data("float32")
    lanes = _lanes(jnp.zeros((3, 1)))
    step = jax.grad(jaxgd_layout)
    expected = jax.vmap(lambda w, x: step({"w": w, "b": jnp.zeros(1)}, x, y), in_axes=(0, None))
    got = lane_map(lambda w, x: step({"w": w, "b": jnp.zeros(1)}, x, y), in_axes=(0, None))
    got_leaves, expected_leaves = (
        jax.tree.leaves(got(lanes, x)),
        jax.tree.leaves(expected(lanes, x)),
    )
    for a, b in zip(got_leaves, expected_leaves, strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-6)


def _lane_sized_transposes(fn, *args, size):
    """Transposes in the jaxpr of ``fn`` whose output has at least ``size`` elements."""
    jaxpr = jax.make_jaxpr(fn)(*args)
    return [
        eqn
        for eqn in jaxpr.jaxpr.eqns
        if eqn.primitive.name == "transpose" and math.prod(eqn.outvars[0].aval.shape) >= size
    ]


def test_the_lane_sized_transpose_of_x_at_theta_is_absorbed():
    """vmap of Géron's notebook gradient moves a [m, lanes] product to [lanes, m]; with the
    product's operands swapped, no transpose of that size is left (only reshapes)."""
    loss, theta, x_b, y = _cases("float32")["geron-notebook"]
    lanes = _lanes(theta)
    step = jax.value_and_grad(loss)
    size = LANES * x_b.shape[0]
    plain = _lane_sized_transposes(
        jax.vmap(step, in_axes=(0, None, None)), lanes, x_b, y, size=size
    )
    assert plain, "jax.vmap no longer writes the transpose: the rewrite may be unneeded"
    rewritten = lane_map(lambda q: step(q, x_b, y))
    assert _lane_sized_transposes(rewritten, lanes, size=size) == []


def test_swapped_permutation_rules():
    contract = (((1,), (1,)), ((), ()))  # x [100, 2] · θ [lanes, 2, 1] -> [100, lanes, 1]
    # vmap then moves lanes first: (1, 0, 2); swapped, the product is [lanes, 1, 100]
    assert swapped_permutation((100, 2), (64, 2, 1), contract, (1, 0, 2)) == [0, 2, 1]
    # nothing to gain when the transpose moves no data
    assert swapped_permutation((100, 2), (64, 2, 1), contract, (0, 1, 2)) is None
    # nor when the swapped product still needs a transpose of its own: [lanes, 5, 100]
    assert swapped_permutation((100, 2), (64, 2, 5), contract, (1, 0, 2)) is None
    # nor when the new left operand would need one that the old one did not: the
    # contracted axis of rhs [2, lanes] is its major axis
    rhs_major = (((1,), (0,)), ((), ()))
    assert swapped_permutation((100, 2), (2, 64), rhs_major, (1, 0)) is None
