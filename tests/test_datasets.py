"""jaxgd.datasets: the splits cover scikit-learn's data exactly once, standardise with the
training split only, keep class proportions, and repeat for the same key."""

import subprocess
import sys

import jax
import numpy as np
import pytest
from sklearn import datasets as sklearn_datasets

from jaxgd import datasets

# loader, scikit-learn's loader and options, examples × features, classes, words of the source
LOADERS = {
    "breast_cancer": (
        datasets.breast_cancer, "load_breast_cancer", {}, (569, 30), 2, ("Wisconsin", "1993")
    ),
    "digits": (datasets.digits, "load_digits", {}, (1797, 64), 10, ("Optical Recognition",)),
    "diabetes": (
        datasets.diabetes, "load_diabetes", {"scaled": False}, (442, 10), None, ("Efron", "2004")
    ),
    "iris": (datasets.iris, "load_iris", {}, (150, 4), 3, ("Fisher", "1936")),
}  # fmt: skip
SPLITS = ("train", "validation", "test")


def _sklearn(name):
    _, loader, options, _, _, _ = LOADERS[name]
    bunch = getattr(sklearn_datasets, loader)(**options)
    return bunch.data, bunch.target


def _rows(x, y):
    """The examples as sorted rows [features…, target], to compare sets of examples."""
    table = np.concatenate([np.asarray(x, np.float64), np.asarray(y, np.float64)[:, None]], 1)
    return table[np.lexsort(table.T[::-1])]


@pytest.mark.parametrize("name", LOADERS)
def test_the_three_splits_hold_every_example_of_the_loader_once(name):
    load, loader, _, (n, d), n_classes, cited = LOADERS[name]
    data = load(0, standardize=False)
    sizes = [getattr(data, s)[0].shape[0] for s in SPLITS]
    assert sum(sizes) == n == data.n_examples and data.n_features == d
    for fraction, size in zip(data.split, sizes, strict=True):
        assert abs(size - fraction * n) < (n_classes or 1)  # under one per class
    for x, y in (data.train, data.validation, data.test):
        assert x.dtype == np.float32 and x.shape[1] == d and y.shape == x.shape[:1]
        assert y.dtype == (np.int32 if n_classes else np.float32)
        assert not x.flags.writeable and not y.flags.writeable
    x_all = np.concatenate([getattr(data, s)[0] for s in SPLITS])
    y_all = np.concatenate([getattr(data, s)[1] for s in SPLITS])
    raw_x, raw_y = _sklearn(name)
    np.testing.assert_array_equal(_rows(x_all, y_all), _rows(raw_x.astype(np.float32), raw_y))
    assert data.n_classes == n_classes and len(data.feature_names) == d
    assert data.is_classification == (n_classes is not None)
    assert (data.class_names is None) == (n_classes is None)
    assert loader in data.source and all(word in data.source for word in cited)
    assert str(n) in data.description.replace(",", "") and not data.standardized
    assert data.mean is None and data.std is None


@pytest.mark.parametrize("name", ["breast_cancer", "digits", "diabetes"])
def test_standardisation_uses_the_training_split_only(name):
    load = LOADERS[name][0]
    raw, scaled = load(3, standardize=False), load(3)
    train = np.asarray(raw.train[0], np.float64)
    mean, std = train.mean(0), train.std(0)
    constant = std == 0
    assert constant.any() == (name == "digits")  # blank corner pixels of the digits
    std[constant] = 1.0
    for split in SPLITS:
        x_raw, y_raw = getattr(raw, split)
        x, y = getattr(scaled, split)
        np.testing.assert_allclose(x, (x_raw - mean) / std, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(y, y_raw)  # same key, same split; targets untouched
    train_scaled = np.asarray(scaled.train[0], np.float64)
    np.testing.assert_allclose(train_scaled.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(train_scaled.std(0)[~constant], 1, rtol=1e-5)
    # the validation split, standardised with the training statistics, is not exactly 0/1
    assert np.abs(scaled.validation[0].mean(0)).max() > 1e-2
    np.testing.assert_allclose(scaled.mean, mean, rtol=1e-6, atol=1e-6)
    assert scaled.standardized


@pytest.mark.parametrize(
    ("name", "split"),
    [("breast_cancer", (0.6, 0.2, 0.2)), ("digits", (0.6, 0.2, 0.2)), ("digits", (0.5, 0.3, 0.2)),
     ("iris", (0.7, 0.15, 0.15))],
)  # fmt: skip
def test_stratification_keeps_each_class_share_to_within_one_example(name, split):
    data = LOADERS[name][0](7, split=split)
    labels = np.concatenate([getattr(data, s)[1] for s in SPLITS])
    per_class = np.bincount(labels)
    for fraction, s in zip(split, SPLITS, strict=True):
        counts = np.bincount(getattr(data, s)[1], minlength=data.n_classes)
        assert np.abs(counts - fraction * per_class).max() <= 1
    # each split is shuffled, not left in class order
    assert (np.diff(data.train[1]) < 0).any()


def test_the_same_key_gives_the_same_split_and_another_key_another():
    first, again = datasets.breast_cancer(5), datasets.breast_cancer(jax.random.key(5))
    legacy = datasets.breast_cancer(jax.random.PRNGKey(5))
    for split in SPLITS:
        for other in (again, legacy):
            np.testing.assert_array_equal(getattr(first, split)[0], getattr(other, split)[0])
            np.testing.assert_array_equal(getattr(first, split)[1], getattr(other, split)[1])
    different = datasets.breast_cancer(6)
    assert not np.array_equal(first.test[0], different.test[0])


def test_the_split_does_not_depend_on_x64():
    in_float32 = datasets.iris(1)
    with jax.enable_x64(True):
        in_x64 = datasets.iris(1)
    np.testing.assert_array_equal(in_float32.test[0], in_x64.test[0])
    assert in_x64.test[0].dtype == np.float32


@pytest.mark.parametrize(
    ("split", "error"),
    [
        ((0.6, 0.2), ValueError),
        ((0.5, 0.5, 0.5), ValueError),
        ((-0.1, 0.6, 0.5), ValueError),
        ((0.0, 0.5, 0.5), ValueError),
        ((0.6, 0.2, float("nan")), ValueError),
        ((0.6, 0.2, None), TypeError),
        ((True, False, False), ValueError),
        ("0.6 0.2 0.2", TypeError),
        (0.6, TypeError),
        ((1 - 2e-4, 1e-4, 1e-4), ValueError),  # the test split would hold no example
    ],
)
def test_a_bad_split_is_a_clear_error(split, error):
    with pytest.raises(error, match=r"split=.*e\.g\. split=\(0\.6, 0\.2, 0\.2\)"):
        datasets.iris(0, split=split)


def test_a_bad_key_or_standardize_is_a_clear_error():
    with pytest.raises(TypeError, match=r"key=0\.5"):
        datasets.iris(0.5)
    with pytest.raises(TypeError, match="standardize='yes'"):
        datasets.iris(0, standardize="yes")


def test_a_missing_scikit_learn_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        datasets.digits(0)


def test_importing_the_module_imports_neither_scikit_learn_nor_jax():
    code = "import sys, jaxgd.datasets; print('sklearn' in sys.modules, 'jax' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["False", "False"], done.stderr
