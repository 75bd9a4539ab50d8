import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgd
from jaxgd import problems
from jaxgd.optim import apply_updates, sgd

GERON_THETA = (4.21509616, 2.77011339)  # Géron, Hands-On ML ch. 4: the normal equation


def theta(params):
    return np.array([float(params["b"]), float(params["w"][0])])


def test_batch_gd_on_geron_data_reaches_the_normal_equation(x64):
    # Géron: batch GD with eta = 0.1 for 1000 iterations lands on theta_best.
    problem = problems.geron_linear()
    result = jaxgd.fit(problem.loss_fn, problems.geron_theta0(), problem.data, sgd(0.1), steps=1000)
    np.testing.assert_allclose(theta(result.params), GERON_THETA, atol=1e-6)
    assert result.params["b"].dtype == jnp.float64
    assert int(result.steps) == 1000 and not bool(result.converged | result.diverged)


def test_fit_equals_a_hand_written_loop(x64):
    problem = problems.mlp_regression(sizes=(3, 5, 1), n_examples=32)
    params = problem.init_fn(jax.random.key(1))
    optimizer = sgd(0.05)
    result = jaxgd.fit(problem.loss_fn, params, problem.data, optimizer, steps=25)

    @jax.jit
    def step(params, state):
        loss, grads = jax.value_and_grad(problem.loss_fn)(params, *problem.data)
        updates, state = optimizer.update(grads, state, params)
        return apply_updates(params, updates), state, loss

    state = optimizer.init(params)
    losses = []
    for _ in range(25):
        params, state, loss = step(params, state)
        losses.append(loss)
    for a, b in zip(jax.tree.leaves(result.params), jax.tree.leaves(params), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(result.losses, np.array(losses))


def test_float32_by_default():
    problem = problems.geron_linear()
    result = jaxgd.fit(problem.loss_fn, problems.geron_theta0(), problem.data, sgd(0.1), steps=10)
    assert result.params["w"].dtype == jnp.float32 and result.losses.dtype == jnp.float32


def test_same_key_same_result_and_other_key_other_order():
    problem = problems.geron_linear()
    start = problems.geron_theta0()
    run = lambda k: jaxgd.fit(  # noqa: E731
        problem.loss_fn, start, problem.data, sgd(0.05), epochs=2, batch_size=10, key=k
    )
    a, b, c = run(jax.random.key(7)), run(jax.random.key(7)), run(jax.random.key(8))
    np.testing.assert_array_equal(a.losses, b.losses)
    np.testing.assert_array_equal(a.params["w"], b.params["w"])
    assert not np.array_equal(a.losses, c.losses)


def test_new_learning_rate_or_data_does_not_recompile():
    traces = []

    def loss_fn(params, x, y):
        traces.append(1)
        return jnp.mean((x @ params - y) ** 2)

    x = jnp.ones((8, 2))
    jaxgd.fit(loss_fn, jnp.zeros(2), (x, jnp.zeros(8)), sgd(0.5), steps=5)
    traces_of_one_compile = len(traces)
    assert traces_of_one_compile > 0
    # Ten new learning rates, new targets, new starts: the compiled program is reused.
    for i, lr in enumerate(np.linspace(0.01, 0.3, 10)):
        y = jnp.full((8,), float(i), jnp.float32)
        jaxgd.fit(loss_fn, jnp.full(2, float(i), jnp.float32), (x, y), sgd(float(lr)), steps=5)
    assert len(traces) == traces_of_one_compile
    # A different number of steps is a different program.
    jaxgd.fit(loss_fn, jnp.zeros(2), (x, jnp.zeros(8)), sgd(0.5), steps=6)
    assert len(traces) == 2 * traces_of_one_compile


def test_an_optax_optimizer_works_too():
    problem = problems.geron_linear()
    ours = jaxgd.fit(problem.loss_fn, problems.geron_theta0(), problem.data, sgd(0.1), steps=50)
    theirs = jaxgd.fit(
        problem.loss_fn, problems.geron_theta0(), problem.data, optax.sgd(0.1), steps=50
    )
    np.testing.assert_allclose(theta(ours.params), theta(theirs.params), rtol=1e-6)


def test_record_every_strides_the_history():
    problem = problems.geron_linear()
    full = jaxgd.fit(problem.loss_fn, problems.geron_theta0(), problem.data, sgd(0.1), steps=100)
    strided = jaxgd.fit(
        problem.loss_fn,
        problems.geron_theta0(),
        problem.data,
        sgd(0.1),
        steps=100,
        record_every=30,
        record_params=True,
    )
    assert strided.losses.shape == (4,)  # updates 0, 30, 60, 90
    np.testing.assert_array_equal(strided.losses, full.losses[::30])
    assert strided.param_history["w"].shape == (4, 1)


def test_progress_bar_does_not_change_results():
    problem = problems.geron_linear()
    args = (problem.loss_fn, problems.geron_theta0(), problem.data, sgd(0.1))
    plain = jaxgd.fit(*args, steps=45, record_every=2)
    shown = jaxgd.fit(*args, steps=45, record_every=2, progress=True)
    np.testing.assert_array_equal(plain.losses, shown.losses)
    np.testing.assert_array_equal(plain.params["w"], shown.params["w"])
    assert int(shown.steps) == 45


def test_diverging_learning_rate_is_flagged_with_finite_parameters():
    # Géron: eta = 0.5 diverges on this data.
    problem = problems.geron_linear()
    result = jaxgd.fit(problem.loss_fn, problems.geron_theta0(), problem.data, sgd(0.5), steps=1000)
    assert bool(result.diverged) and not bool(result.converged)
    assert 0 < int(result.diverged_at) < 1000
    assert int(result.steps) == int(result.diverged_at)
    assert all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(result.params))


def test_tol_stops_early_and_freezes():
    problem = problems.geron_linear()
    result = jaxgd.fit(
        problem.loss_fn, problems.geron_theta0(), problem.data, sgd(0.1), steps=1000, tol=1e-6
    )
    assert bool(result.converged) and int(result.steps) < 1000
    stop = int(result.steps)
    losses = np.asarray(result.losses)
    assert abs(losses[stop] - losses[stop - 1]) <= 1e-6
    np.testing.assert_array_equal(losses[stop:], losses[stop])  # frozen afterwards


def test_objective_without_data():
    result = jaxgd.fit(
        problems.rosenbrock_function, jnp.array([-1.0, 1.0]), None, sgd(1e-3), steps=2000
    )
    assert float(result.final_loss) < float(result.losses[0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 5, "epochs": 2}, "exactly one of steps"),
        ({}, "exactly one of steps"),
        ({"steps": 5, "record_every": 0}, "record_every=0"),
        ({"steps": 0}, "steps=0"),
        ({"steps": 5, "batch_size": 500, "key": jax.random.key(0)}, "larger than the 100"),
        ({"steps": 5, "batch_size": 0, "key": jax.random.key(0)}, "batch_size=0"),
        ({"steps": 5, "batch_size": 10}, "needs a key"),
        ({"steps": 5, "sampling": "bootstrap"}, "shuffle, replacement"),
        ({"steps": 5, "tol": -1.0}, "tol=-1.0"),
    ],
)
def test_bad_settings_raise_with_the_fix(kwargs, match):
    problem = problems.geron_linear()
    with pytest.raises(ValueError, match=match):
        jaxgd.fit(problem.loss_fn, problems.geron_theta0(), problem.data, sgd(0.1), **kwargs)


def test_bad_data_raises():
    problem = problems.geron_linear()
    x, y = problem.data
    start = problems.geron_theta0()
    with pytest.raises(ValueError, match="NaN or infinite"):
        jaxgd.fit(problem.loss_fn, start, (x.at[3, 0].set(jnp.nan), y), sgd(0.1), steps=2)
    with pytest.raises(ValueError, match="x has 100 examples but y has 99"):
        jaxgd.fit(problem.loss_fn, start, (x, y[:99]), sgd(0.1), steps=2)


@pytest.mark.parametrize("lr", [-0.1, float("nan"), float("inf")])
def test_bad_learning_rate_raises(lr):
    with pytest.raises(ValueError, match="learning_rate"):
        sgd(lr)
