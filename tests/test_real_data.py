"""The real-data experiments' own references, checked apart from the runs (the runs check
their claims themselves, in ``jaxgd reproduce``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import early_stopping, real_digits, real_regression, real_vanishing
from jaxgd.losses import sigmoid_binary_cross_entropy
from jaxgd.metrics import accuracy


def test_geron_points_are_his_notebook_draws():
    x, y = early_stopping.geron_points()
    rng = np.random.RandomState(42)
    first = 6 * rng.rand(100, 1)[:, 0] - 3  # his X = 6 * np.random.rand(m, 1) - 3
    noise = rng.randn(100, 1)[:, 0]
    np.testing.assert_array_equal(x, first)
    np.testing.assert_allclose(y, 0.5 * x**2 + x + 2 + noise, rtol=0, atol=1e-12)
    assert x[0] == pytest.approx(6 * 0.3745401188473625 - 3)


def test_geron_features_are_standardised_on_the_training_half_and_finite():
    (x_train, _), (x_val, _) = early_stopping.geron_data()
    assert x_train.shape == (50, early_stopping.DEGREE) and x_val.shape == (50, 90)
    np.testing.assert_allclose(x_train.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(x_train.std(axis=0), 1, atol=1e-4)
    assert np.all(np.isfinite(x_val))


def test_invscaling_is_sgdregressors_schedule():
    # scikit-learn: eta = eta0 / t ** power_t, t = 1, 2, ... for the t-th update
    for t in (1, 2, 10, 25_000):
        assert float(early_stopping.invscaling(t - 1)) == pytest.approx(0.002 / t**0.25)


def test_the_class_prior_entropy_is_the_loss_of_the_best_constant_logit():
    for p in (0.1, 0.6276, 0.9):
        labels = jnp.array([1.0] * int(1000 * p) + [0.0] * (1000 - int(1000 * p)))
        q = float(labels.mean())
        logit = jnp.full(labels.shape, np.log(q / (1 - q)))
        loss = float(jnp.mean(sigmoid_binary_cross_entropy(logit, labels)))
        assert real_vanishing.entropy(q) == pytest.approx(loss, rel=1e-5)
        # and no other constant does better
        for shift in (-0.1, 0.1):
            worse = jnp.mean(sigmoid_binary_cross_entropy(logit + shift, labels))
            assert float(worse) > loss


def test_the_confusion_matrix_agrees_with_accuracy(monkeypatch):
    rng = np.random.RandomState(0)
    logits = rng.randn(200, 10).astype(np.float32)
    labels = rng.randint(0, 10, 200)
    # confusion() reads the predictions from EVAL_MODEL.apply; give it the logits directly
    monkeypatch.setattr(
        real_digits, "EVAL_MODEL", type("Fixed", (), {"apply": lambda self, p, x: x})()
    )
    matrix = real_digits.confusion(None, jnp.asarray(logits), labels, 10)
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(labels, minlength=10))
    np.testing.assert_array_equal(matrix.sum(axis=0), np.bincount(logits.argmax(1), minlength=10))
    assert np.trace(matrix) / 200 == pytest.approx(float(accuracy(logits, labels)))


def test_heavy_ball_recurrence_and_its_stability_bound():
    # one feature x = ±1 (and the bias): H = (2/m)·X̃ᵀX̃ = 2·I, λ_max = 2
    splits = {"train": (np.array([[1.0], [-1.0]]), np.array([1.0, -1.0]))}
    lam_max, lam_min = real_regression.curvature(splits["train"][0])
    assert (lam_max, lam_min) == pytest.approx((2.0, 2.0))
    bound = 2 * (1 + real_regression.MOMENTUM) / lam_max
    assert real_regression.heavy_ball(splits, 0.9 * bound) < 1e-6
    assert real_regression.heavy_ball(splits, 1.1 * bound) > 1e6


def test_scores_in_original_units():
    data = type("D", (), {"train": (None, np.array([100.0, 200.0, 300.0]))})()
    mean, std = real_regression.target_scale(data)
    y = (np.array([150.0, 250.0]) - mean) / std
    perfect = real_regression.scores(y, y, data)
    assert perfect == {"mse": 0.0, "mae": 0.0, "r2": 1.0}
    off = real_regression.scores(y + 10 / std, y, data)  # 10 units too high everywhere
    assert off["mae"] == pytest.approx(10.0)
    assert off["r2"] == pytest.approx(1 - 200 / 5000)


def test_the_vanishing_bound_holds_for_a_random_deep_sigmoid_net():
    from jaxgd.models import MLP

    sizes = real_vanishing.SIZES
    start = MLP(sizes).init(jax.random.key(3))
    x = jax.random.normal(jax.random.key(4), (20, sizes[0]))
    y = (x[:, 0] > 0).astype(jnp.int32)
    data = type("D", (), {"train": (x, y), "test": (x, y)})()
    runs = {act: real_vanishing.measure(act, start, data, steps=2) for act in ("sigmoid", "relu")}
    for run in runs.values():
        assert run["ratios"].max() <= run["bound"] * 1.0001
    # the bounds differ by the slopes alone: (1/4)^8 for the same weights
    assert runs["sigmoid"]["bound"] == pytest.approx(runs["relu"]["bound"] / 4**8, rel=1e-6)
    assert runs["sigmoid"]["ratios"].max() < runs["relu"]["ratios"].max() / 100
