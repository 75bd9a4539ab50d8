import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxgd
from jaxgd import problems
from jaxgd._engine import chunks
from jaxgd.losses import mse
from jaxgd.optim import apply_updates, sgd
from jaxgd.schedules import exponential_decay, inverse_time_schedule

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
    # A different number of steps is a different program (the loss's output shape, checked
    # once per shape before the first compile, is not traced again).
    jaxgd.fit(loss_fn, jnp.zeros(2), (x, jnp.zeros(8)), sgd(0.5), steps=6)
    assert traces_of_one_compile < len(traces) < 2 * traces_of_one_compile


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


def test_every_new_array_is_checked_for_non_finite_values():
    # nothing is remembered between calls: an array made after a finite one was accepted,
    # even one that reuses the freed array's memory, is checked afresh.
    from jaxgd._engine.checks import check_data

    for _ in range(20):
        finite = jnp.arange(6.0).reshape(3, 2)
        assert check_data((finite, jnp.zeros(3))) == 3
        del finite
        bad = jnp.arange(6.0).reshape(3, 2).at[1, 1].set(jnp.inf)
        with pytest.raises(ValueError, match="x contains NaN or infinite"):
            check_data((bad, jnp.zeros(3)))
        with pytest.raises(ValueError, match="y contains NaN or infinite"):
            check_data((jnp.zeros((3, 2)), jnp.zeros(3).at[2].set(jnp.nan)))


@pytest.mark.parametrize("lr", [-0.1, float("nan"), float("inf")])
def test_bad_learning_rate_raises(lr):
    with pytest.raises(ValueError, match="learning_rate"):
        sgd(lr)


# ----------------------------------------------------------------------------- batching (issue 4)


def test_geron_stochastic_gd_with_his_learning_schedule():
    # Géron ch. 4: 50 epochs of m = 100 single-example steps drawn with replacement,
    # eta(t) = t0 / (t + t1) with t0 = 5, t1 = 50; ends close to the normal equation.
    problem = problems.geron_linear()
    result = jaxgd.fit(
        problem.loss_fn,
        problems.geron_theta0(),
        problem.data,
        sgd(inverse_time_schedule(5, 50)),
        epochs=50,
        batch_size=1,
        sampling="replacement",
        key=jax.random.key(42),
    )
    assert int(result.steps) == 50 * 100  # an epoch is m updates
    assert np.max(np.abs(theta(result.params) - GERON_THETA)) < 0.1
    assert result.epoch_losses.shape == (50,)


def test_geron_mini_batch_gd():
    # Géron ch. 4: 50 epochs, batches of 20 from a fresh permutation per epoch, t0 = 200, t1 = 1000.
    problem = problems.geron_linear()
    result = jaxgd.fit(
        problem.loss_fn,
        problems.geron_theta0(),
        problem.data,
        sgd(inverse_time_schedule(200, 1000)),
        epochs=50,
        batch_size=20,
        key=jax.random.key(42),
    )
    assert int(result.steps) == 50 * 5
    assert np.max(np.abs(theta(result.params) - GERON_THETA)) < 0.1
    np.testing.assert_allclose(result.epoch_losses[-1], result.final_loss, rtol=1e-6)


@pytest.mark.parametrize(("drop_last", "per_epoch"), [(False, 4), (True, 3)])
def test_updates_per_epoch_when_batches_do_not_divide_the_data(drop_last, per_epoch):
    problem = problems.geron_linear()
    result = jaxgd.fit(
        problem.loss_fn,
        problems.geron_theta0(),
        problem.data,
        sgd(0.01),
        epochs=3,
        batch_size=30,
        drop_last=drop_last,
        key=jax.random.key(0),
    )
    assert int(result.steps) == 3 * per_epoch
    assert result.losses.shape == (3 * per_epoch,)


def test_the_smaller_last_batch_is_the_mean_over_its_examples(x64):
    problem = problems.geron_linear()
    x, y = problem.data
    key = jax.random.key(5)
    start = problems.geron_theta0()
    result = jaxgd.fit(
        problem.loss_fn,
        start,
        problem.data,
        sgd(0.05),
        epochs=1,
        batch_size=30,
        key=key,
        record_params=True,
    )
    # Documented order (epoch_order): the examples sorted by the top 32 - 7 of 32 random bits
    # from fold_in(key, epoch), ties in index order (100 examples need 7 index bits).
    bits = np.asarray(jax.random.bits(jax.random.fold_in(key, 0), (100,), jnp.uint32))
    order = np.argsort(bits >> 7, kind="stable")
    assert sorted(order) == list(range(100))
    params = start
    for batch in (order[0:30], order[30:60], order[60:90], order[90:100]):
        grads = jax.grad(problem.loss_fn)(params, x[batch], y[batch])
        params = jax.tree.map(lambda p, g: p - 0.05 * g, params, grads)
    for a, b in zip(jax.tree.leaves(result.params), jax.tree.leaves(params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13)


@pytest.mark.parametrize("n", [1, 2, 100, 1024, 4096, 4097, 5000])
def test_epoch_order_is_a_permutation_sorted_by_the_random_bits(n):
    key = jax.random.key(3)
    order = np.asarray(jaxgd.train.epoch_order(key, 7, n))
    assert sorted(order.tolist()) == list(range(n))
    bits = np.asarray(jax.random.bits(jax.random.fold_in(key, 7), (n,), jnp.uint32))
    # the key keeps 32 bits less an index's while at least 20 remain (n <= 4096), else 32
    kept = 32 if n > 4096 else 32 - max(1, (n - 1).bit_length())
    np.testing.assert_array_equal(order, np.argsort(bits >> (32 - kept), kind="stable"))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100, 1000, 4095, 4096, 4097, 5000])
def test_the_engine_order_equals_the_definition_even_on_tied_keys(n):
    from jaxgd._engine.order import order_by_keys, order_by_packed_keys, plain_epoch_order

    key = jax.random.key(11)
    for epoch in range(3):
        np.testing.assert_array_equal(
            jaxgd.train.epoch_order(key, epoch, n), plain_epoch_order(key, epoch, n)
        )
    # bits drawn from a few values only: most keys tie, and their low bits disagree with
    # the index order, which only the index tie-break of the definition decides
    rng = np.random.default_rng(n)
    few = rng.choice(np.uint32(2**32 - 1), size=3, replace=False).astype(np.uint32)
    bits = jnp.asarray(rng.choice(few, size=n) ^ rng.integers(0, 2**12, size=n, dtype=np.uint32))
    np.testing.assert_array_equal(order_by_packed_keys(bits), order_by_keys(bits))


def test_replacement_sampling_draws_from_fold_in_of_the_update(x64):
    problem = problems.geron_linear()
    x, y = problem.data
    key = jax.random.key(9)
    result = jaxgd.fit(
        problem.loss_fn,
        problems.geron_theta0(),
        problem.data,
        sgd(0.01),
        steps=3,
        batch_size=4,
        sampling="replacement",
        key=key,
    )
    params = problems.geron_theta0()
    for t in range(3):
        index = jax.random.randint(jax.random.fold_in(key, t), (4,), 0, 100)
        grads = jax.grad(
            lambda p, index=index: mse(jaxgd.models.linear_apply(p, x[index]), y[index])
        )(params)
        params = jax.tree.map(lambda p, g: p - 0.01 * g, params, grads)
    np.testing.assert_allclose(result.params["w"], params["w"], rtol=1e-13)


def test_a_run_continued_from_its_state_follows_the_schedule(x64):
    problem = problems.mlp_regression(sizes=(3, 4, 1), n_examples=40)
    start = problem.init_fn(jax.random.key(0))
    optimizer = sgd(exponential_decay(0.1, transition_steps=10, decay_rate=0.5), momentum=0.9)
    whole = jaxgd.fit(problem.loss_fn, start, problem.data, optimizer, steps=60)
    first = jaxgd.fit(problem.loss_fn, start, problem.data, optimizer, steps=30)
    second = jaxgd.fit(
        problem.loss_fn, first.params, problem.data, optimizer, steps=30, opt_state=first.opt_state
    )
    for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(second.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    np.testing.assert_allclose(whole.losses[30:], second.losses, rtol=1e-13)


def test_a_state_of_another_optimizer_is_refused_with_the_fix():
    problem = problems.geron_linear()
    first = jaxgd.fit(problem.loss_fn, problems.geron_theta0(), problem.data, sgd(0.1), steps=5)
    assert first.opt_state.count is None  # a constant learning rate reads no count
    with pytest.raises(ValueError, match="opt_state does not fit this optimizer"):
        jaxgd.fit(
            problem.loss_fn,
            first.params,
            problem.data,
            sgd(exponential_decay(0.1, transition_steps=10, decay_rate=0.5)),
            steps=5,
            opt_state=first.opt_state,
        )


def test_grad_norm_stopping():
    problem = problems.geron_linear()
    result = jaxgd.fit(
        problem.loss_fn,
        problems.geron_theta0(),
        problem.data,
        sgd(0.1),
        steps=2000,
        tol=1e-3,
        stop_on="grad_norm",
    )
    assert bool(result.converged) and 0 < int(result.steps) < 2000
    grads = jax.grad(problem.loss)(result.params)
    assert float(jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree.leaves(grads)))) <= 1e-3


def test_dropout_gets_a_fresh_key_each_update_and_evaluates_without():
    model = jaxgd.models.MLP((2, 32, 1), hidden="relu", dropout_rate=0.5)
    loss_fn = problems.MLPLoss(model)
    x = jax.random.normal(jax.random.key(1), (64, 2))
    y = jnp.sin(x[:, :1])
    start = model.init(jax.random.key(2))
    run = lambda **kw: jaxgd.fit(loss_fn, start, (x, y), sgd(0.05), steps=20, **kw)  # noqa: E731
    a = run(loss_with_key=True, key=jax.random.key(3))
    b = run(loss_with_key=True, key=jax.random.key(3))
    c = run(loss_with_key=True, key=jax.random.key(4))
    plain = run()
    np.testing.assert_array_equal(a.losses, b.losses)
    assert not np.array_equal(a.losses, c.losses) and not np.array_equal(a.losses, plain.losses)
    # The final loss is evaluated without dropout.
    np.testing.assert_allclose(a.final_loss, loss_fn(a.params, x, y), rtol=1e-6)
    with pytest.raises(ValueError, match="needs a key"):
        run(loss_with_key=True)


def test_fit_composes_with_jit_and_vmap():
    # fit itself can be traced: jit(vmap(fit)) over learning rates equals separate fits.
    problem = problems.geron_linear()
    start = problems.geron_theta0()

    def final(lr):
        return jaxgd.fit(problem.loss_fn, start, problem.data, sgd(lr), steps=50).final_loss

    rates = jnp.array([0.01, 0.05, 0.1])
    together = jax.jit(jax.vmap(final))(rates)
    alone = [float(final(float(r))) for r in rates]
    np.testing.assert_allclose(together, alone, rtol=1e-5)


CHECKED_CASES = {
    # (problem, optimizer, fit settings): completed, diverged, converged, mini-batch with epochs,
    # a strided record with a padded last chunk, and a run that diverges mid-chunk.
    "completed": (problems.geron_linear, sgd(0.1), {"steps": 100}),
    "diverged": (problems.geron_linear, sgd(100.0), {"steps": 200}),
    "converged": (problems.geron_linear, sgd(0.1), {"steps": 300, "tol": 1e-9}),
    "mini-batch": (
        lambda: problems.mlp_regression((3, 4, 1), 40),
        jaxgd.optim.adam(0.01),
        {"epochs": 7, "batch_size": 16, "record_every": 3, "record_params": True},
    ),
    "grad-norm": (
        problems.geron_linear,
        sgd(0.1),
        {"steps": 97, "tol": 0.05, "stop_on": "grad_norm"},
    ),
    "diverged-epochs": (
        problems.geron_linear,
        sgd(0.9),
        {"epochs": 40, "batch_size": 20, "record_params": True},
    ),
}


def test_after_a_stop_the_records_and_epoch_losses_repeat_the_final_state():
    problem = problems.geron_linear()
    result = jaxgd.fit(
        problem.loss_fn,
        problems.geron_theta0(),
        problem.data,
        sgd(0.9),
        epochs=40,
        batch_size=20,
        record_params=True,
        key=jax.random.key(2),
    )
    assert bool(result.diverged)
    stop = int(result.steps)
    assert 5 < stop < 40 * 5 - 5  # mid-run, so there are records and epochs after it
    history, final = np.asarray(result.param_history["w"]), np.asarray(result.params["w"])
    np.testing.assert_array_equal(history[stop:], np.broadcast_to(final, history[stop:].shape))
    assert np.isfinite(result.losses).all()
    epoch_ends = np.arange(1, 41) * 5 - 1
    after = epoch_ends >= stop
    np.testing.assert_array_equal(result.epoch_losses[after], float(result.final_loss))
    assert np.isfinite(result.epoch_losses[~after]).all()


@pytest.mark.parametrize("case", sorted(CHECKED_CASES))
def test_results_do_not_depend_on_the_chunk_length(case, monkeypatch, x64):
    """Stopping events found after a chunk (and replayed to) give the per-update semantics.

    With chunks of 1 update every event is acted on at once; with longer chunks the
    loop finds it after the chunk and runs the chunk again up to it. Same results.
    """
    make_problem, optimizer, settings = CHECKED_CASES[case]
    problem = make_problem()
    params = problem.init_fn(jax.random.key(1))

    def run(chunk):
        monkeypatch.setattr(chunks, "CHUNK_UPDATES", chunk)
        jax.clear_caches()
        return jaxgd.fit(
            problem.loss_fn, params, problem.data, optimizer, key=jax.random.key(2), **settings
        )

    results = [run(chunk) for chunk in (1, 5, 32)]
    monkeypatch.undo()
    jax.clear_caches()
    for other in results[1:]:
        for name in results[0]._fields:
            a, b = getattr(results[0], name), getattr(other, name)
            for leaf_a, leaf_b in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
                np.testing.assert_allclose(leaf_a, leaf_b, rtol=1e-12, atol=0, err_msg=name)
    fast = results[-1]
    if case == "diverged":
        assert bool(fast.diverged) and int(fast.diverged_at) % chunks.CHUNK_UPDATES != 0
        assert np.all(np.isfinite(np.asarray(fast.losses)))
    if case in ("converged", "grad-norm"):
        assert bool(fast.converged) and int(fast.steps) < settings["steps"]
        stop = int(fast.steps)
        np.testing.assert_array_equal(fast.losses[stop:], fast.losses[stop])  # frozen after
