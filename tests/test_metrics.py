"""jaxgd.metrics.accuracy against a plain NumPy count, in every label layout."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgd.metrics import accuracy

RNG = np.random.default_rng(0)
M, K = 50, 4
LOGITS = RNG.normal(size=(M, K)).astype(np.float32)
CLASSES = RNG.integers(0, K, M)


def _count(predicted, truth):
    """The fraction right, counted in Python."""
    return sum(int(p) == int(t) for p, t in zip(predicted, truth, strict=True)) / len(truth)


def test_integer_labels_count_argmax_hits():
    expected = _count(LOGITS.argmax(axis=1), CLASSES)
    assert 0.1 < expected < 0.9  # neither all right nor all wrong, so the count matters
    assert float(accuracy(LOGITS, CLASSES)) == pytest.approx(expected, abs=1e-7)
    # make the first ten examples right and the next ten wrong: the count moves by that much
    fixed = CLASSES.copy()
    fixed[:10] = LOGITS[:10].argmax(axis=1)
    fixed[10:20] = (LOGITS[10:20].argmax(axis=1) + 1) % K
    assert float(accuracy(LOGITS, fixed)) == pytest.approx(_count(LOGITS.argmax(1), fixed))


def test_one_hot_and_probability_labels_use_their_argmax():
    one_hot = np.eye(K, dtype=np.float32)[CLASSES]
    assert float(accuracy(LOGITS, one_hot)) == pytest.approx(_count(LOGITS.argmax(1), CLASSES))
    soft = RNG.dirichlet(np.ones(K), size=M).astype(np.float32)
    expected = _count(LOGITS.argmax(1), soft.argmax(1))
    assert float(accuracy(LOGITS, soft)) == pytest.approx(expected)


def test_ties_go_to_the_lowest_class_as_in_numpy():
    logits = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [3.0, 3.0, 3.0]], np.float32)
    assert float(accuracy(logits, np.array([0, 1, 0]))) == 1.0
    assert float(accuracy(logits, np.array([1, 2, 2]))) == 0.0


@pytest.mark.parametrize("logit_shape", ["[m]", "[m, 1]"])
@pytest.mark.parametrize("label_shape", ["[m]", "[m, 1]"])
def test_binary_logits_predict_class_one_when_positive(logit_shape, label_shape):
    z = LOGITS[:, 0]
    y = RNG.integers(0, 2, M)
    expected = _count(z > 0, y)
    assert 0.1 < expected < 0.9
    z = z if logit_shape == "[m]" else z[:, None]
    y = y if label_shape == "[m]" else y[:, None]
    assert float(accuracy(z, y)) == pytest.approx(expected)
    assert float(accuracy(z, y.astype(np.float32))) == pytest.approx(expected)
    assert float(accuracy(z, y.astype(bool))) == pytest.approx(expected)


def test_binary_threshold_is_zero_not_one_half():
    # σ(0.3) > ½: class 1. A threshold of ½ on the logit would say class 0.
    assert float(accuracy(np.array([0.3, -0.3, 0.0]), np.array([1, 0, 0]))) == 1.0


def test_accuracy_compiles_and_follows_the_default_float(x64):
    value = jax.jit(accuracy)(jnp.asarray(LOGITS), jnp.asarray(CLASSES))
    assert value.dtype == jnp.float64
    assert float(value) == pytest.approx(_count(LOGITS.argmax(1), CLASSES))


@pytest.mark.parametrize(
    ("logits", "labels", "error", "match"),
    [
        (LOGITS, CLASSES[:-1], ValueError, r"shape \(50,\) or"),
        (LOGITS, np.zeros((M, K + 1)), ValueError, r"\(50, 4\)"),
        (LOGITS, CLASSES.astype(np.float32), TypeError, "astype"),
        (LOGITS, CLASSES + 1, ValueError, "0..3"),
        (LOGITS[:, 0], CLASSES[:-1], ValueError, r"shape \(50,\) or \(50, 1\)"),
        (LOGITS[:, 0], 2 * (CLASSES % 2) - 1, ValueError, r"\(y \+ 1\) // 2"),
        (LOGITS[:, 0], np.full(M, 0.7), ValueError, "0 or 1"),
        (LOGITS[None], CLASSES, ValueError, r"logits have shape \(1, 50, 4\)"),
        (np.zeros((0, K)), np.zeros(0, int), ValueError, "m ≥ 1"),
    ],
)
def test_bad_input_is_a_clear_error_naming_the_argument(logits, labels, error, match):
    with pytest.raises(error, match=match):
        accuracy(logits, labels)
