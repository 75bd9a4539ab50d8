"""Validation data in fit and sweep: recorded losses, the best parameters, selection on them."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgd
from jaxgd import problems
from jaxgd.optim import sgd
from jaxgd.reference import reference_fit


def one_weight_loss(w, x, y):
    return jnp.mean((x * w - y) ** 2)


# training wants w = 1, validation w = 0.5: L_train = (w - 1)², L_val = (w - 0.5)²
TRAIN = (jnp.ones(4), jnp.ones(4))
VALIDATION = (jnp.ones(3), jnp.full(3, 0.5))


def closed_form_weight(rate, steps):
    """w after ``steps`` updates from 0 on (w - 1)²: 1 - (1 - 2α)^t."""
    return 1.0 - (1.0 - 2.0 * rate) ** steps


def test_selection_on_validation_loss_differs_from_selection_on_training_loss():
    slow = 1.0 - 0.5 ** (1 / 10)  # 1 - (1 - 2α)^10 = 0.5: the validation optimum at step 10
    slow /= 2
    rates = [slow, 0.3]
    result = jaxgd.sweep(
        one_weight_loss,
        lambda key: jnp.zeros(()),
        TRAIN,
        sgd,
        grid={"learning_rate": rates},
        steps=10,
        key=0,
        eval_data=VALIDATION,
    )
    weights = [closed_form_weight(rate, 10) for rate in rates]
    np.testing.assert_allclose(np.asarray(result.params), weights, rtol=1e-5)
    np.testing.assert_allclose(result.eval_loss, [(w - 0.5) ** 2 for w in weights], atol=1e-6)
    np.testing.assert_allclose(result.final_loss, [(w - 1.0) ** 2 for w in weights], atol=1e-6)
    assert result.best()["learning_rate"] == pytest.approx(slow)  # default: on validation
    assert result.best(by="eval_loss")["learning_rate"] == pytest.approx(slow)
    assert result.best(by="loss")["learning_rate"] == 0.3
    assert result.best(by="final_loss")["learning_rate"] == 0.3
    record = result.to_records()[0]
    assert record["eval_loss"] == pytest.approx(0.0, abs=1e-6)
    assert record["best_eval_loss"] == pytest.approx(0.0, abs=1e-6)


def test_validation_losses_reach_csv_and_json(tmp_path):
    result = jaxgd.sweep(
        one_weight_loss,
        lambda key: jnp.zeros(()),
        TRAIN,
        sgd,
        grid={"learning_rate": [0.1, 0.3]},
        steps=5,
        key=0,
        eval_data=VALIDATION,
    )
    rows = jaxgd.sweeps.read_records(result.to_csv(tmp_path / "lanes.csv"))
    assert [row["eval_loss"] for row in rows] == pytest.approx(list(result.eval_loss))
    document = json.loads(result.to_json(tmp_path / "lanes.json", histories=True).read_text())
    np.testing.assert_allclose(document["eval_losses"], result.eval_losses)
    expected = [(closed_form_weight(0.1, t) - 0.5) ** 2 for t in range(5)]
    np.testing.assert_allclose(document["eval_losses"][0], expected, atol=1e-6)


def test_keep_best_returns_the_recorded_parameters_of_lowest_validation_loss():
    # α = 0.3 passes w = 0.5 early (w_1 = 0.6, w_2 = 0.84...): the best record is w_1
    result = jaxgd.fit(
        one_weight_loss,
        jnp.zeros(()),
        TRAIN,
        sgd(0.3),
        steps=20,
        eval_data=VALIDATION,
        keep_best=True,
    )
    validation = [(closed_form_weight(0.3, t) - 0.5) ** 2 for t in range(20)]
    np.testing.assert_allclose(result.eval_losses, validation, atol=1e-6)
    assert int(result.best_step) == int(np.argmin(validation)) == 1
    assert float(result.params) == pytest.approx(closed_form_weight(0.3, 1))
    assert int(result.steps) == 20  # the run itself went on to its end
    assert float(result.final_loss) == pytest.approx((closed_form_weight(0.3, 1) - 1) ** 2)


def test_every_sweep_lane_with_validation_equals_its_reference_run(x64):
    problem = problems.geron_linear()
    x, y = problem.data
    train, validation = (x[:70], y[:70]), (x[70:], y[70:])
    rates = [0.02, 0.3, 0.7]
    kwargs = dict(steps=120, batch_size=10, record_every=6, eval_data=validation, keep_best=True)
    result = jaxgd.sweep(
        problem.loss_fn,
        problem.init_fn,
        train,
        sgd,
        grid={"learning_rate": rates},
        seeds=2,
        key=5,
        **kwargs,
    )
    assert "diverged" in set(result.status)

    # reference_fit compiled once for the six lanes, with the start, the data, the key and the
    # rate as arguments (called as it is, its loop holds them as constants: a compile per lane)
    options = {k: v for k, v in kwargs.items() if k != "eval_data"}

    @jax.jit
    def reference_run(params, data, eval_data, key, rate):
        return reference_fit(
            problem.loss_fn, params, data, sgd(rate), key=key, eval_data=eval_data, **options
        )

    for lane in range(result.n_lanes):
        init_key, data_key = jaxgd.sweeps.lane_keys(5, int(result.seeds[lane]))
        rate = float(result.hyperparameters["learning_rate"][lane])
        reference = reference_run(problem.init_fn(init_key), train, validation, data_key, rate)
        np.testing.assert_array_equal(result.best_step[lane], reference.best_step)
        np.testing.assert_allclose(result.eval_losses[lane], reference.eval_losses, rtol=1e-13)
        np.testing.assert_allclose(result.eval_loss[lane], reference.final_eval_loss, rtol=1e-13)
        for a, b in zip(
            jax.tree.leaves(result.params), jax.tree.leaves(reference.params), strict=True
        ):
            np.testing.assert_array_equal(a[lane], b)


@pytest.mark.parametrize(
    "eval_data, error, message",
    [
        ((jnp.ones((3, 2)), jnp.ones(3)), ValueError, "eval_data's x has shape"),
        ((jnp.ones(3), jnp.ones(2)), ValueError, "eval_data: x has 3 examples but y has 2"),
        ((jnp.ones(3).at[1].set(jnp.nan), jnp.ones(3)), ValueError, "eval_data: x contains NaN"),
        ("not data", ValueError, "eval_data: data must be a pair"),
    ],
    ids=["feature shape", "lengths", "NaN", "not a pair"],
)
def test_validation_data_is_checked_as_training_data_is(eval_data, error, message):
    with pytest.raises(error, match=message):
        jaxgd.fit(one_weight_loss, jnp.zeros(()), TRAIN, sgd(0.1), steps=2, eval_data=eval_data)


def test_keep_best_and_eval_loss_need_validation_data():
    with pytest.raises(ValueError, match=r"keep_best=True .* pass eval_data"):
        jaxgd.fit(one_weight_loss, jnp.zeros(()), TRAIN, sgd(0.1), steps=2, keep_best=True)
    result = jaxgd.sweep(
        one_weight_loss,
        lambda k: jnp.zeros(()),
        TRAIN,
        sgd,
        grid={"learning_rate": [0.1]},
        steps=2,
        key=0,
    )
    assert result.eval_loss is None and "eval_loss" not in result.to_records()[0]
    with pytest.raises(ValueError, match="eval_loss needs sweep"):
        result.best(by="eval_loss")
