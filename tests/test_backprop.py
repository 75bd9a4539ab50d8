import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxgd.backprop import backprop, backprop_trace
from jaxgd.losses import LOSSES
from jaxgd.models import ACTIVATIONS, mlp_apply, mlp_init

activations = st.sampled_from(sorted(ACTIVATIONS))


@settings(max_examples=20, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    hidden=activations,
    output=activations,
    loss=st.sampled_from(sorted(LOSSES)),
    m=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
)
def test_chain_rule_equals_jax_grad_on_random_mlps(sizes, hidden, output, loss, m, seed):
    # The random MLP (normal weights and biases), x and y are drawn with NumPy and passed
    # in: drawing them with jax.random inside the compiled program made XLA compile the
    # random-number generator with every example, 3/4 of the test's time.
    rng = np.random.default_rng(seed)
    layers = list(zip(sizes[1:], sizes[:-1], strict=True))  # (n_out, n_in), as mlp_init's
    params = [
        {"w": rng.standard_normal(shape), "b": rng.standard_normal(shape[0])} for shape in layers
    ]
    x = rng.standard_normal((m, sizes[0]))
    y = rng.standard_normal((m, sizes[-1]))
    layout = jax.eval_shape(lambda: mlp_init(jax.random.key(0), sizes))  # traced, not compiled
    assert jax.tree.map(np.shape, params) == jax.tree.map(lambda a: a.shape, layout)
    with jax.enable_x64(True):

        @jax.jit
        def both(params, x, y):
            def loss_of(p):
                return LOSSES[loss](mlp_apply(p, x, hidden=hidden, output=output), y)

            return jax.grad(loss_of)(params), backprop(
                params, x, y, hidden=hidden, output=output, loss=loss
            )

        expected, got = both(params, x, y)
        assert jax.tree.structure(got) == jax.tree.structure(expected)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(expected), strict=True):
            assert a.dtype == jnp.float64
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def test_trace_keeps_every_layer(key):
    params = mlp_init(key, [2, 3, 2])
    trace = backprop_trace(params, jnp.ones((4, 2)), jnp.zeros((4, 2)), hidden="tanh")
    assert [z.shape for z in trace.zs] == [(4, 3), (4, 2)]
    assert [a.shape for a in trace.activations] == [(4, 2), (4, 3), (4, 2)]
    assert [d.shape for d in trace.deltas] == [(4, 3), (4, 2)]
    assert trace.loss.shape == ()


def test_unknown_loss_is_rejected(key):
    with pytest.raises(ValueError, match="mse"):
        backprop(mlp_init(key, [1, 1]), jnp.ones((1, 1)), jnp.ones((1, 1)), loss="l1")
