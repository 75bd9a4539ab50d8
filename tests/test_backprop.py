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
    with jax.enable_x64(True):

        @jax.jit
        def both(key):
            k_params, k_x, k_y = jax.random.split(key, 3)
            params = mlp_init(k_params, sizes, init="normal")
            x = jax.random.normal(k_x, (m, sizes[0]), jnp.float64)
            y = jax.random.normal(k_y, (m, sizes[-1]), jnp.float64)

            def loss_of(p):
                return LOSSES[loss](mlp_apply(p, x, hidden=hidden, output=output), y)

            return jax.grad(loss_of)(params), backprop(
                params, x, y, hidden=hidden, output=output, loss=loss
            )

        expected, got = both(jax.random.key(seed))
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
