"""Real data sets bundled with scikit-learn, split into train, validation and test.

Each loader reads a data set that scikit-learn ships inside its package (nothing is
downloaded), shuffles it with a seeded key, splits it, optionally standardises it, and
returns a :class:`Dataset` of float32 NumPy arrays:

* :func:`breast_cancer`: Wisconsin diagnostic breast cancer, 569 × 30, 2 classes;
* :func:`digits`: 8 × 8 handwritten digits, 1,797 × 64, 10 classes (an offline MNIST);
* :func:`diabetes`: diabetes progression, 442 × 10, a regression target;
* :func:`iris`: Fisher's iris, 150 × 4, 3 classes.

**Splits.** ``split=(f_train, f_validation, f_test)`` are fractions summing to 1. For
classification the split is stratified: the examples of each class ``c`` (``n_c`` of them)
are shuffled and cut at ``round(n_c·f_train)`` and ``round(n_c·(f_train + f_validation))``,
so every split holds ``⌊n_c·f⌋`` or ``⌈n_c·f⌉`` examples of every class (its share to
within one example) and the split sizes add up to the data set. A regression set is cut
the same way as one group. Each split is then shuffled, so classes are interleaved.

**Determinism.** The shuffle is drawn by NumPy's PCG64 generator seeded with the key's
data, so the same ``key`` (an int seed, ``jax.random.key(s)`` or ``jax.random.PRNGKey(s)``,
the three meaning the same) gives the same split on every machine and in float32 or x64.

**Standardisation.** With ``standardize=True`` (the default) every feature becomes
``(x − μ)/s``, where ``μ`` and ``s`` are the mean and standard deviation (ddof = 0) of the
*training split only*, applied unchanged to the validation and test splits, so nothing
about those splits leaks into training: the training features have mean 0 and standard
deviation 1, the others only approximately. A feature constant on the training split
(some corner pixels of the digits) is only centred (``s = 1``). ``standardize=False``
keeps the raw features, in their own units. Targets are never rescaled.

``import jaxgd.datasets`` is cheap: scikit-learn is imported by the first loader called.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

Split = tuple[np.ndarray, np.ndarray]
"""``(x, y)``: features ``float32 [m, d]`` and labels ``int32 [m]`` or targets ``float32 [m]``."""

DEFAULT_SPLIT = (0.6, 0.2, 0.2)


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A data set split three ways. The arrays are read-only float32/int32 NumPy arrays.

    Attributes:
      name: the loader's name, e.g. ``"digits"``.
      train, validation, test: ``(x, y)`` pairs, ``x`` float32 ``[m, d]``; ``y`` int32
        class indices ``[m]`` for classification, float32 targets ``[m]`` for regression.
      feature_names: the ``d`` feature names, as scikit-learn gives them.
      n_classes: the number of classes, ``None`` for regression.
      class_names: the name of each class index, ``None`` for regression.
      description: what the examples, features and labels are.
      source: the scikit-learn loader and the original source to cite.
      split: the fractions ``(train, validation, test)`` asked for.
      standardized: whether the features were standardised.
      mean, std: the training split's per-feature mean and standard deviation used to
        standardise (``std`` is 1 for a feature constant on it); ``None`` if not standardised.
    """

    name: str
    train: Split
    validation: Split
    test: Split
    feature_names: tuple[str, ...]
    n_classes: int | None
    class_names: tuple[str, ...] | None
    description: str
    source: str
    split: tuple[float, float, float]
    standardized: bool
    mean: np.ndarray | None
    std: np.ndarray | None

    @property
    def n_features(self) -> int:
        """The number of features ``d``."""
        return self.train[0].shape[1]

    @property
    def n_examples(self) -> int:
        """The number of examples in the three splits together (the whole data set)."""
        return sum(part[0].shape[0] for part in (self.train, self.validation, self.test))

    @property
    def is_classification(self) -> bool:
        """Whether ``y`` holds class indices (else regression targets)."""
        return self.n_classes is not None

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{name} {part[0].shape[0]}"
            for name, part in (("train", self.train), ("validation", self.validation))
        )
        task = f"{self.n_classes} classes" if self.is_classification else "regression"
        scaled = "standardized" if self.standardized else "raw features"
        return (
            f"Dataset({self.name!r}: {sizes}, test {self.test[0].shape[0]}; "
            f"{self.n_features} features, {task}, {scaled})"
        )


@dataclasses.dataclass(frozen=True)
class _Spec:
    name: str
    loader: str
    options: dict[str, Any]
    classification: bool
    description: str
    source: str


_SPECS = {
    "breast_cancer": _Spec(
        "breast_cancer",
        "load_breast_cancer",
        {},
        True,
        "Wisconsin diagnostic breast cancer: 569 fine-needle aspirates of breast masses, "
        "30 features (the mean, standard error and worst value of ten measurements of the "
        "cell nuclei, such as radius, texture and concavity); labels 0 = malignant (212), "
        "1 = benign (357).",
        "scikit-learn, sklearn.datasets.load_breast_cancer(): a copy of the UCI Machine "
        "Learning Repository's Breast Cancer Wisconsin (Diagnostic) data set (W. H. Wolberg, "
        "W. N. Street, O. L. Mangasarian, 1995); W. N. Street, W. H. Wolberg, "
        "O. L. Mangasarian, Nuclear feature extraction for breast tumor diagnosis, IS&T/SPIE "
        "Electronic Imaging, vol. 1905, pp. 861-870, 1993.",
    ),
    "digits": _Spec(
        "digits",
        "load_digits",
        {},
        True,
        "Handwritten digits: 1,797 images of 8 × 8 pixels, 64 features (the ink count "
        "0-16 of each pixel, row by row); labels 0-9, 174 to 183 of each. An offline "
        "stand-in for MNIST.",
        "scikit-learn, sklearn.datasets.load_digits(): a copy of the test set of the UCI "
        "Machine Learning Repository's Optical Recognition of Handwritten Digits data set "
        "(E. Alpaydin, C. Kaynak, 1998); E. Alpaydin, C. Kaynak, Cascading classifiers, "
        "Kybernetika, 1998.",
    ),
    "diabetes": _Spec(
        "diabetes",
        "load_diabetes",
        {"scaled": False},
        False,
        "Diabetes progression: 442 patients, 10 baseline variables in their own units (age "
        "in years, sex coded 1/2, body-mass index, mean blood pressure and six blood serum "
        "measurements s1-s6); the target is a quantitative measure of disease progression "
        "one year after baseline (25 to 346).",
        "scikit-learn, sklearn.datasets.load_diabetes(scaled=False); B. Efron, T. Hastie, "
        "I. Johnstone, R. Tibshirani, Least angle regression, Annals of Statistics 32(2), "
        "pp. 407-499, 2004.",
    ),
    "iris": _Spec(
        "iris",
        "load_iris",
        {},
        True,
        "Fisher's iris flowers: 150 examples, 4 features (sepal and petal length and width "
        "in cm); labels 0 = setosa, 1 = versicolor, 2 = virginica, 50 of each.",
        "scikit-learn, sklearn.datasets.load_iris() (as in Fisher's paper; the UCI copy has "
        "two wrong points); R. A. Fisher, The use of multiple measurements in taxonomic "
        "problems, Annals of Eugenics 7(2), pp. 179-188, 1936.",
    ),
}


def _check_split(split: Any) -> tuple[float, float, float]:
    hint = "pass three fractions (train, validation, test) summing to 1, e.g. split=(0.6, 0.2, 0.2)"
    if isinstance(split, (str, bytes)) or not isinstance(split, (Sequence, np.ndarray)):
        raise TypeError(f"split={split!r} is not a sequence; {hint}.")
    if len(split) != 3 or any(isinstance(f, (bool, np.bool_)) for f in split):
        raise ValueError(f"split={tuple(split)!r} must hold three numbers; {hint}.")
    try:
        fractions = tuple(float(f) for f in split)
    except (TypeError, ValueError):
        raise TypeError(f"split={tuple(split)!r} must hold numbers; {hint}.") from None
    if not all(math.isfinite(f) and f >= 0 for f in fractions) or fractions[0] <= 0:
        raise ValueError(
            f"split={fractions} must have a positive training fraction and no negative "
            f"or non-finite one; {hint}."
        )
    if abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"split={fractions} sums to {sum(fractions):.6g}, not 1; {hint}.")
    return fractions  # type: ignore[return-value]


def _generator(key: Any) -> np.random.Generator:
    """NumPy's PCG64 seeded with the key's data: int seeds and both key forms agree."""
    import jax

    from jaxgd._keys import as_key

    data = np.asarray(jax.random.key_data(as_key(key, "key")), np.uint32)
    return np.random.default_rng(data.reshape(-1).tolist())


def _split_indices(
    labels: np.ndarray | None, n: int, split: tuple[float, float, float], rng: np.random.Generator
) -> list[np.ndarray]:
    """Indices of the train, validation and test examples; stratified when ``labels`` given."""
    if labels is None:
        groups = [np.arange(n)]
    else:
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    cuts = np.array([split[0], split[0] + split[1]])
    parts: list[list[np.ndarray]] = [[], [], []]
    for group in groups:
        shuffled = rng.permutation(group)
        bounds = np.floor(len(group) * cuts + 0.5).astype(int)  # round half up
        for part, piece in zip(parts, np.split(shuffled, bounds), strict=True):
            part.append(piece)
    indices = [rng.permutation(np.concatenate(part)) for part in parts]
    for name, fraction, chosen in zip(("train", "validation", "test"), split, indices, strict=True):
        if (fraction > 0 and chosen.size == 0) or (name == "train" and chosen.size < 2):
            raise ValueError(
                f"split={split} leaves the {name} split with {chosen.size} of the {n} "
                f"examples; give it a larger fraction (e.g. split={DEFAULT_SPLIT})."
            )
    return indices


def _read(spec: _Spec) -> tuple[np.ndarray, np.ndarray, Any]:
    try:
        from sklearn import datasets as sklearn_datasets
    except ImportError as error:
        raise ImportError(
            f"jaxgd.datasets.{spec.name}() reads the copy of the data bundled with "
            "scikit-learn, which is not installed: pip install scikit-learn"
        ) from error
    bunch = getattr(sklearn_datasets, spec.loader)(**spec.options)
    return np.asarray(bunch.data, np.float64), np.asarray(bunch.target), bunch


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def _load(name: str, key: Any, split: Any, standardize: Any) -> Dataset:
    spec = _SPECS[name]
    fractions = _check_split(split)
    if not isinstance(standardize, (bool, np.bool_)):
        raise TypeError(f"standardize={standardize!r} must be True or False.")
    rng = _generator(key)
    x, y, bunch = _read(spec)
    indices = _split_indices(y if spec.classification else None, len(x), fractions, rng)
    mean = std = None
    if standardize:
        train_x = x[indices[0]]
        mean, std = train_x.mean(axis=0), train_x.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        x = (x - mean) / std
    y = y.astype(np.int32) if spec.classification else y.astype(np.float32)
    parts = [
        (_read_only(x[chosen].astype(np.float32)), _read_only(y[chosen])) for chosen in indices
    ]
    names = getattr(bunch, "target_names", None) if spec.classification else None
    return Dataset(
        name=name,
        train=parts[0],
        validation=parts[1],
        test=parts[2],
        feature_names=tuple(str(f) for f in bunch.feature_names),
        n_classes=int(y.max()) + 1 if spec.classification else None,
        class_names=None if names is None else tuple(str(c) for c in names),
        description=spec.description,
        source=spec.source,
        split=fractions,
        standardized=bool(standardize),
        mean=None if mean is None else _read_only(mean.astype(np.float32)),
        std=None if std is None else _read_only(std.astype(np.float32)),
    )


def breast_cancer(
    key: Any = 0, *, split: Sequence[float] = DEFAULT_SPLIT, standardize: bool = True
) -> Dataset:
    """Wisconsin diagnostic breast cancer: 569 examples × 30 features, 2 classes.

    Labels: 0 = malignant (212 examples), 1 = benign (357). The splits are stratified, so
    each holds the two classes in the data set's proportion 212 : 357, to within one example.

    Args:
      key: the seed of the shuffle: an int, ``jax.random.key(s)`` or
        ``jax.random.PRNGKey(s)`` (the three the same). The same key gives the same split.
      split: the fractions ``(train, validation, test)``, summing to 1, the training one
        positive; each class ``c`` puts ``round(n_c·f_train)`` examples in training and
        ``round(n_c·(f_train + f_validation)) − round(n_c·f_train)`` in validation.
      standardize: map every feature to ``(x − μ)/s`` with the mean ``μ`` and standard
        deviation ``s`` of the training split only (``s = 1`` for a feature constant
        there), applied to all three splits; ``False`` keeps the raw features.

    Returns:
      A :class:`Dataset` with float32 features ``[m, 30]`` and int32 labels ``[m]``.

    Raises:
      ImportError: scikit-learn is not installed (``pip install scikit-learn``).
      TypeError, ValueError: a bad ``key``, ``split`` or ``standardize``, named in the message.

    Example::

        data = breast_cancer(0)
        x, y = data.train  # float32 [341, 30], int32 [341]
    """
    return _load("breast_cancer", key, split, standardize)


def digits(
    key: Any = 0, *, split: Sequence[float] = DEFAULT_SPLIT, standardize: bool = True
) -> Dataset:
    """Handwritten digits: 1,797 images of 8 × 8 pixels (64 features, ink 0–16), 10 classes.

    An offline stand-in for MNIST: labels 0–9, 174 to 183 of each, split stratified.
    Some corner pixels are blank in every training image; standardisation only centres
    them (their ``std`` is set to 1). ``key``, ``split``, ``standardize`` and the errors
    are as in :func:`breast_cancer`.

    Returns:
      A :class:`Dataset` with float32 features ``[m, 64]`` and int32 labels ``[m]``.

    Example::

        data = digits(0)
        x, y = data.train  # float32 [1078, 64], int32 [1078]
    """
    return _load("digits", key, split, standardize)


def diabetes(
    key: Any = 0, *, split: Sequence[float] = DEFAULT_SPLIT, standardize: bool = True
) -> Dataset:
    """Diabetes progression (Efron et al. 2004): 442 patients × 10 features, a regression.

    The features are scikit-learn's ``load_diabetes(scaled=False)``: raw units (age in
    years, sex 1/2, body-mass index, blood pressure, six serum measurements), whose standard
    deviations range from 0.5 (sex) to 35 (s1), which is what ``standardize`` removes. The target
    (disease progression after one year, 25 to 346) stays in its units. The split is a
    plain shuffle, cut at ``round(n·f_train)`` and ``round(n·(f_train + f_validation))``.
    ``key``, ``split``, ``standardize`` and the errors are as in :func:`breast_cancer`.

    Returns:
      A :class:`Dataset` with float32 features ``[m, 10]`` and float32 targets ``[m]``
      (``n_classes`` is ``None``).

    Example::

        data = diabetes(0, standardize=False)
        x, y = data.train  # float32 [265, 10], float32 [265]
    """
    return _load("diabetes", key, split, standardize)


def iris(
    key: Any = 0, *, split: Sequence[float] = DEFAULT_SPLIT, standardize: bool = True
) -> Dataset:
    """Fisher's iris: 150 flowers × 4 features (sepal and petal length and width), 3 classes.

    Labels 0 = setosa, 1 = versicolor, 2 = virginica, 50 of each, so the default split is
    30/10/10 of each class. ``key``, ``split``, ``standardize`` and the errors are as in
    :func:`breast_cancer`.

    Returns:
      A :class:`Dataset` with float32 features ``[m, 4]`` and int32 labels ``[m]``.

    Example::

        data = iris(0)
        x, y = data.test  # float32 [30, 4], int32 [30]
    """
    return _load("iris", key, split, standardize)
