"""Divergence users recognise, in every dtype: a non-finite loss, or a loss past
``max_loss_ratio`` × max(initial loss, loss of all-zero parameters).

The oracle is plain NumPy gradient descent in float64 on Géron's data (the gradient
2/m·Xᵀ(Xθ − y) written out, not jax.grad): it gives the loss sequence and so the first
update whose loss passes the threshold. Géron's critical rate is 2/λ_max = 0.4843 for the
Hessian 2/m·XᵀX of his data.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgd
from jaxgd.optim import adam, sgd
from jaxgd.problems import geron_linear, geron_linear_data, geron_theta0, normal_equation

RATIO = 1e6  # the documented default


def numpy_gd(eta: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Losses L_0 … L_steps and parameters θ_0 … θ_steps of batch GD, float64, by hand."""
    x, y = geron_linear_data()
    xb = np.c_[np.ones(len(x)), x]
    start = geron_theta0()
    theta = np.array([float(start["b"]), float(start["w"][0])])
    losses, thetas = [], []
    for _ in range(steps + 1):
        if losses and losses[-1] > 1e200:  # far past any threshold: stop before overflow
            break
        residual = xb @ theta - y[:, 0] if y.ndim == 2 else xb @ theta - y
        losses.append(np.mean(residual**2))
        thetas.append(theta.copy())
        theta = theta - eta * 2 / len(x) * xb.T @ residual
    return np.array(losses), np.array(thetas)


def reference_loss(losses: np.ndarray) -> float:
    """max(L_init, L_zero): L_zero = mean(y²), the loss of θ = 0 on Géron's data."""
    _, y = geron_linear_data()
    return max(losses[0], float(np.mean(np.asarray(y, np.float64) ** 2)))


def critical_rate() -> float:
    x, _ = geron_linear_data()
    xb = np.c_[np.ones(len(x)), x]
    return 2 / np.linalg.eigvalsh(2 / len(x) * xb.T @ xb).max()


def _fit(eta, **options):
    problem = geron_linear()
    start = jax.tree.map(lambda a: jnp.asarray(a, problem.data[0].dtype), geron_theta0())
    return jaxgd.fit(problem.loss_fn, start, problem.data, sgd(eta), steps=1000, **options)


def test_the_critical_rate_is_geron_s():
    assert critical_rate() == pytest.approx(0.4843, abs=1e-4)


@pytest.mark.parametrize("eta", [0.5, 0.6])
def test_above_the_critical_rate_float64_is_flagged_where_the_loss_passes_the_threshold(x64, eta):
    losses, thetas = numpy_gd(eta, 1000)
    first_over = int(np.argmax(losses > RATIO * reference_loss(losses)))
    assert first_over > 0 and np.all(np.isfinite(losses[: first_over + 1]))
    result = _fit(eta)
    assert bool(result.diverged) and not bool(result.converged)
    assert int(result.diverged_at) == first_over - 1  # the update that produced L > limit
    assert int(result.steps) == first_over - 1
    np.testing.assert_allclose(
        [float(result.params["b"]), float(result.params["w"][0])], thetas[first_over - 1], rtol=1e-9
    )
    assert float(result.final_loss) <= RATIO * reference_loss(losses)


def test_overflow_only_keeps_the_old_rule(x64):
    result = _fit(0.5, max_loss_ratio=None)
    assert not bool(result.diverged)
    assert float(result.final_loss) > 1e50  # what "completed" meant before: Géron's 2.3e56


def test_float32_is_flagged_by_the_ratio_long_before_it_overflows():
    losses, _ = numpy_gd(0.5, 1000)
    first_over = int(np.argmax(losses > RATIO * reference_loss(losses)))
    result = _fit(0.5)
    assert bool(result.diverged)
    assert abs(int(result.diverged_at) - (first_over - 1)) <= 1  # float32 rounding of L
    overflow = _fit(0.5, max_loss_ratio=None)
    assert bool(overflow.diverged) and int(overflow.diverged_at) > 3 * int(result.diverged_at)


@pytest.mark.parametrize("precision", ["float32", "float64"])
@pytest.mark.parametrize("eta", [0.02, 0.1, 0.45, 0.48])
def test_runs_that_converge_are_never_flagged(precision, eta):
    with jax.enable_x64(precision == "float64"):
        result = _fit(eta)
        problem = geron_linear()
        sweep = jaxgd.sweep(
            problem.loss_fn,
            problem.init_fn,
            problem.data,
            sgd,
            grid={"learning_rate": [eta]},
            seeds=4,
            steps=1000,
            key=0,
        )
    assert not bool(result.diverged)
    assert list(sweep.status) == ["completed"] * 4
    if eta >= 0.1:
        exact = normal_equation(*geron_linear_data())
        np.testing.assert_allclose(float(result.params["b"]), exact["b"], rtol=1e-3)


def test_a_sweep_flags_the_same_lanes_as_fit_and_leaves_the_others_alone(x64):
    problem = geron_linear()
    rates = [0.1, 0.45, 0.5, 0.6]
    result = jaxgd.sweep(
        problem.loss_fn,
        lambda key: geron_theta0(),
        problem.data,
        sgd,
        grid={"learning_rate": rates},
        steps=1000,
        key=0,
    )
    for i, eta in enumerate(rates):
        solo = _fit(eta)
        assert result.status[i] == ("diverged" if eta > critical_rate() else "completed")
        assert result.diverged_at[i] == int(solo.diverged_at)
        np.testing.assert_allclose(result.final_loss[i], float(solo.final_loss), rtol=1e-12)


@pytest.mark.parametrize("optimizer", [sgd(0.05), adam(1e-3)], ids=["sgd", "adam"])
def test_a_run_that_starts_at_the_optimum_is_not_flagged(optimizer):
    """Fine-tuning: L_init is about 1e-13, so 1e6 × L_init would flag Adam's first steps
    (their loss is about 1e-6); the reference is the problem's scale, mean(y²)."""
    problem = geron_linear()
    exact = normal_equation(*geron_linear_data())
    start = {"w": jnp.asarray(exact["w"], jnp.float32), "b": jnp.asarray(exact["b"], jnp.float32)}
    result = jaxgd.fit(problem.loss_fn, start, problem.data, optimizer, steps=200)
    assert not bool(result.diverged) and int(result.steps) == 200
    near = jax.tree.map(lambda a: a + 1e-6, start)
    lanes = jaxgd.sweep(
        problem.loss_fn,
        lambda key: near,
        problem.data,
        adam,
        grid={"learning_rate": [1e-4, 1e-3, 1e-2]},
        steps=200,
        key=0,
    )
    assert list(lanes.status) == ["completed"] * 3


def test_the_ratio_rule_needs_a_positive_initial_loss():
    """f(x) = x² − 1 from x = 0.1 starts at a negative loss (and f(0) = −1): only overflow
    flags it."""

    def shifted(params, x, y):
        return jnp.sum(params**2) - 1.0

    result = jaxgd.fit(shifted, jnp.array([0.1]), None, sgd(1.5), steps=500)
    # x doubles (and flips sign) at every update: x_t = 0.1·(−2)^t overflows float32's
    # loss when x² > 3.4e38, i.e. t ≈ 64; a ratio rule on |L_0| = 0.99 would stop it at t ≈ 12
    assert bool(result.diverged)
    assert int(result.diverged_at) > 50


@pytest.mark.parametrize("bad", [0.5, 1.0, -3.0, float("inf"), float("nan")])
def test_a_ratio_that_is_not_above_one_is_refused(bad):
    with pytest.raises(ValueError, match="max_loss_ratio"):
        _fit(0.1, max_loss_ratio=bad)
    with pytest.raises(TypeError, match="max_loss_ratio"):
        _fit(0.1, max_loss_ratio="1e6")
