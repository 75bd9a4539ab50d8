"""The notes' calculus (topic 8), checked with jax.grad against the analytic answers."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

finite = st.floats(-3.0, 3.0, allow_nan=False)


@settings(max_examples=25, deadline=None)
@given(finite, finite)
def test_gradient_of_x2_plus_y2(x, y):
    # F(x, y) = x² + y²  →  ∇F = (2x, 2y)
    grad = jax.grad(lambda v: v[0] ** 2 + v[1] ** 2)(jnp.array([x, y], jnp.float32))
    np.testing.assert_allclose(grad, [2 * x, 2 * y], rtol=1e-6, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(finite, finite)
def test_partial_derivatives_of_x3_plus_y2(x, y):
    # f = x³ + y²  →  ∂f/∂x = 3x², ∂f/∂y = 2y
    grad_f = jax.grad(lambda a, b: a**3 + b**2, argnums=(0, 1))
    df_dx, df_dy = grad_f(jnp.float32(x), jnp.float32(y))
    np.testing.assert_allclose([df_dx, df_dy], [3 * x**2, 2 * y], rtol=1e-5, atol=1e-5)


@settings(max_examples=25, deadline=None)
@given(st.floats(-1.2, 1.2, allow_nan=False))
def test_chain_rule_for_nested_polynomial(x):
    # y = 8z³ + z² + 5 with z = x⁵ + 9  →  dy/dx = (24z² + 2z)·5x⁴
    with jax.enable_x64(True):

        def y_of(x):
            z = x**5 + 9
            return 8 * z**3 + z**2 + 5

        z = x**5 + 9
        expected = (24 * z**2 + 2 * z) * 5 * x**4
        np.testing.assert_allclose(jax.grad(y_of)(jnp.float64(x)), expected, rtol=1e-12, atol=1e-9)
