import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgd import problems


def test_geron_data_follows_the_numpy_seed_42_recipe():
    x, y = problems.geron_linear_data()
    rng = np.random.RandomState(42)
    x_expected = 2 * rng.rand(100, 1)
    y_expected = 4 + 3 * x_expected + rng.randn(100, 1)
    np.testing.assert_array_equal(x, x_expected)
    np.testing.assert_array_equal(y, y_expected[:, 0])
    # First point of Géron's data: np.random.seed(42); 2 * np.random.rand() = 0.7490802...
    assert x[0, 0] == pytest.approx(0.74908024, abs=1e-8)


def test_normal_equation_matches_geron():
    # Géron, Hands-On ML ch. 4 notebook: theta_best = [[4.21509616], [2.77011339]].
    theta = problems.normal_equation(*problems.geron_linear_data())
    assert float(theta["b"]) == pytest.approx(4.21509616, abs=1e-8)
    assert float(theta["w"][0]) == pytest.approx(2.77011339, abs=1e-8)


def test_geron_start_is_numpy_randn_after_seed_42():
    theta0 = problems.geron_theta0()
    np.testing.assert_allclose([theta0["b"], theta0["w"][0]], [0.49671415, -0.1382643], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(problems.PROBLEMS))
def test_every_problem_has_a_finite_loss_and_gradient(name):
    problem = problems.get_problem(name)
    params = problem.init_fn(jax.random.key(0))
    value, grads = jax.value_and_grad(problem.loss)(params)
    assert value.shape == () and bool(jnp.isfinite(value))
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


def test_surfaces_have_their_minima_where_documented():
    assert float(problems.rosenbrock().loss(jnp.array([1.0, 1.0]))) == 0.0
    assert float(problems.quadratic_bowl((1.0, 3.0)).loss(jnp.zeros(2))) == 0.0
    bowl = problems.elongated_bowl(10.0)
    hessian = jax.hessian(bowl.loss)(jnp.array([0.3, -0.2]))
    np.testing.assert_allclose(hessian, np.diag([1.0, 10.0]), rtol=1e-6)


def test_problems_follow_the_x64_setting():
    with jax.enable_x64(True):
        x, _ = problems.geron_linear().data
        assert x.dtype == jnp.float64
    assert problems.geron_linear().data[0].dtype == jnp.float32


def test_unknown_problem_lists_the_names():
    with pytest.raises(ValueError, match="geron-linear"):
        problems.get_problem("mnist")


def test_the_command_line_lists_every_problem_with_its_description():
    from jaxgd import _catalog

    assert list(_catalog.PROBLEMS) == list(problems.PROBLEMS)
    for name, description in _catalog.PROBLEMS.items():
        assert problems.get_problem(name).description == description, name
