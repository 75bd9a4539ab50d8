"""The fast engine (chunks, look-ahead, replays) equals the plain reference loop.

``jaxgd.reference.reference_fit`` states the semantics of one run update by update. In
float64, ``jaxgd.fit`` and every lane of ``jaxgd.sweep`` must give the same histories,
parameters, stops and epoch losses, on full batches, padded and dropped last batches,
sampling with replacement, both stopping rules, divergence in the middle of a chunk and at
the last update, and strided records.
"""

import functools

import jax
import numpy as np
import pytest

import jaxgd
from jaxgd import problems
from jaxgd.optim import adam, sgd
from jaxgd.reference import reference_fit

KEY = jax.random.key(3)

CASES = {
    "full-batch": dict(steps=250),
    "padded-batches": dict(epochs=7, batch_size=30),
    "drop-last": dict(epochs=7, batch_size=30, drop_last=True),
    "replacement": dict(steps=230, batch_size=8, sampling="replacement"),
    "tol-loss-change": dict(steps=400, tol=1e-6),
    "tol-grad-norm": dict(steps=400, batch_size=25, tol=5e-2, stop_on="grad_norm"),
    "strided-records": dict(steps=250, batch_size=20, record_every=7),
}
RATES = {"converging": 0.05, "diverging mid-chunk": 0.9}


@functools.cache
def _compiled_reference(loss_fn, **options):
    def run(params, data, learning_rate, key, eval_data):
        optimizer = sgd(learning_rate)
        return reference_fit(
            loss_fn, params, data, optimizer, key=key, eval_data=eval_data, **options
        )

    return jax.jit(run)


def reference_sgd(loss_fn, params, data, learning_rate, *, key=None, eval_data=None, **options):
    """``reference_fit(loss_fn, params, data, sgd(learning_rate), ...)``, compiled once for each
    loss and set of loop options, with the start, data, rate, key and validation data as its
    arguments. Called as it is, reference_fit's loop holds the rate and the start as constants
    and is compiled again for every rate and every start (a third of this module's time)."""
    return _compiled_reference(loss_fn, **options)(params, data, learning_rate, key, eval_data)


def _compare(fast, reference, exact):
    """Histories and parameters bit for bit when ``exact``; whole-data losses (one more
    program each, which XLA fuses its own way) to a few units in the last place."""
    for name in ("steps", "converged", "diverged", "diverged_at"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(reference, name), err_msg=name)
    if exact:
        np.testing.assert_array_equal(fast.losses, reference.losses)
    else:
        np.testing.assert_allclose(fast.losses, reference.losses, rtol=1e-12)
    for name in ("best_step",):
        a, b = getattr(fast, name), getattr(reference, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_array_equal(a, b, err_msg=name)
    for name in ("final_loss", "epoch_losses", "eval_losses", "final_eval_loss"):
        a, b = getattr(fast, name), getattr(reference, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-14, atol=0, err_msg=name)
    for a, b in zip(jax.tree.leaves(fast.params), jax.tree.leaves(reference.params), strict=True):
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("rate", list(RATES), ids=list(RATES))
@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_fit_equals_the_reference_loop(x64, case, rate):
    problem = problems.geron_linear()
    params = problem.init_fn(jax.random.key(1))
    kwargs = dict(CASES[case], key=KEY)
    fast = jaxgd.fit(problem.loss_fn, params, problem.data, sgd(RATES[rate]), **kwargs)
    reference = reference_sgd(problem.loss_fn, params, problem.data, RATES[rate], **kwargs)
    if rate == "diverging mid-chunk" and case in ("full-batch", "padded-batches"):
        assert bool(fast.diverged) and 0 < int(fast.diverged_at) < 200
    _compare(fast, reference, exact=True)


def test_fit_equals_the_reference_loop_on_an_mlp_with_adam(x64):
    problem = problems.mlp_regression()
    params = problem.init_fn(jax.random.key(1))
    kwargs = dict(epochs=3, batch_size=48, key=KEY, tol=1e-7)
    fast = jaxgd.fit(problem.loss_fn, params, problem.data, adam(3e-2), **kwargs)
    reference = reference_fit(problem.loss_fn, params, problem.data, adam(3e-2), **kwargs)
    _compare(fast, reference, exact=False)


def test_every_sweep_lane_equals_its_reference_run(x64):
    problem = problems.geron_linear()
    rates = [0.01, 0.1, 0.9, 3.0]
    kwargs = dict(steps=180, batch_size=30, tol=1e-9)
    result = jaxgd.sweep(
        problem.loss_fn,
        problem.init_fn,
        problem.data,
        sgd,
        grid={"learning_rate": rates},
        seeds=2,
        key=KEY,
        **kwargs,
    )
    assert (result.status == "diverged").any() and (result.status != "diverged").any()
    for i, record in enumerate(result.to_records()):
        init_key, data_key = jaxgd.sweeps.lane_keys(KEY, record["seed"])
        reference = reference_sgd(
            problem.loss_fn,
            problem.init_fn(init_key),
            problem.data,
            record["learning_rate"],
            key=data_key,
            **kwargs,
        )
        np.testing.assert_array_equal(result.losses[i], reference.losses)
        assert record["steps"] == int(reference.steps)
        assert (record["status"] == "diverged") == bool(reference.diverged)
        np.testing.assert_array_equal(result.params["w"][i], reference.params["w"])


def test_a_divergence_seen_only_after_the_last_update_rejects_it(x64):
    problem = problems.geron_linear()
    params = problem.init_fn(jax.random.key(1))
    long = reference_fit(problem.loss_fn, params, problem.data, sgd(0.9), steps=300)
    d = int(long.diverged_at)
    assert bool(long.diverged) and d > 1
    # d + 1 updates: the loss that reveals the divergence is that of θ_(d+1), after the run
    kwargs = dict(steps=d + 1)
    fast = jaxgd.fit(problem.loss_fn, params, problem.data, sgd(0.9), **kwargs)
    reference = reference_fit(problem.loss_fn, params, problem.data, sgd(0.9), **kwargs)
    assert bool(reference.diverged) and int(reference.diverged_at) == d
    _compare(fast, reference, exact=True)


def test_the_cases_exercise_what_they_name(x64):
    problem = problems.geron_linear()
    params = problem.init_fn(jax.random.key(1))
    outcome = {}
    for case, kwargs in CASES.items():
        run = reference_sgd(problem.loss_fn, params, problem.data, 0.05, key=KEY, **kwargs)
        outcome[case] = (bool(run.converged), int(run.steps))
    assert outcome["tol-loss-change"][0] and outcome["tol-grad-norm"][0]
    assert not outcome["full-batch"][0] and outcome["full-batch"][1] == 250


VALIDATION_CASES = {
    "full-batch": dict(steps=250, record_every=10),
    "mini-batches, strided": dict(steps=250, batch_size=8, record_every=7),
    "tol": dict(steps=300, batch_size=8, record_every=10, tol=1e-3),
}


@pytest.mark.parametrize("keep_best", [False, True], ids=["final", "keep-best"])
@pytest.mark.parametrize("rate", [0.1, 0.45, 0.6], ids=["slow", "fast", "diverging"])
@pytest.mark.parametrize("case", list(VALIDATION_CASES), ids=list(VALIDATION_CASES))
def test_validation_losses_and_the_best_parameters_equal_the_reference(x64, case, rate, keep_best):
    """eval_losses at the record points (the final parameters' once a run stopped), and
    with keep_best the recorded parameters of lowest validation loss, as the reference
    loop states them; on runs that complete, converge and diverge."""
    x, y = problems.geron_linear().data
    train, validation = (x[:80], y[:80]), (x[80:], y[80:])
    loss_fn = problems.geron_linear().loss_fn
    params = problems.geron_theta0()
    kwargs = dict(VALIDATION_CASES[case], key=KEY, eval_data=validation, keep_best=keep_best)
    fast = jaxgd.fit(loss_fn, params, train, sgd(rate), **kwargs)
    reference = reference_sgd(loss_fn, params, train, rate, **kwargs)
    _compare(fast, reference, exact=True)
    assert fast.eval_losses.shape == fast.losses.shape
    if keep_best:  # the kept parameters' validation loss is the lowest recorded one
        lowest = np.nanmin(np.append(np.asarray(fast.eval_losses), fast.final_eval_loss))
        np.testing.assert_allclose(fast.final_eval_loss, lowest, rtol=1e-14)
