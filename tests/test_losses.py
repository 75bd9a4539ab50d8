import jax.numpy as jnp
import numpy as np
import pytest

from jaxgd.losses import half_sse, mse


def test_mse_is_the_mean_of_squared_errors():
    pred, target = jnp.array([1.0, 2.0, 3.0]), jnp.array([2.0, 2.0, 5.0])
    assert float(mse(pred, target)) == pytest.approx((1 + 0 + 4) / 3)


def test_half_sse_is_half_the_sum():
    pred, target = jnp.array([1.0, 2.0, 3.0]), jnp.array([2.0, 2.0, 5.0])
    assert float(half_sse(pred, target)) == pytest.approx(0.5 * 5)


def test_two_conventions_agree_for_two_outputs():
    # The classic example's E = Σ ½ (y − ŷ)² equals the MSE over two outputs.
    pred, target = jnp.array([[0.75136507, 0.772928465]]), jnp.array([[0.01, 0.99]])
    np.testing.assert_allclose(mse(pred, target), half_sse(pred, target), rtol=1e-7)
    np.testing.assert_allclose(mse(pred, target), 0.298371109, rtol=1e-6)


def test_shape_mismatch_is_an_error_not_a_broadcast():
    with pytest.raises(ValueError, match="must match"):
        mse(jnp.ones((4, 1)), jnp.ones(4))
