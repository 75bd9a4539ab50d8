import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgd.losses import (
    half_sse,
    mse,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels,
)


def test_mse_is_the_mean_of_squared_errors():
    pred, target = jnp.array([1.0, 2.0, 3.0]), jnp.array([2.0, 2.0, 5.0])
    assert float(mse(pred, target)) == pytest.approx((1 + 0 + 4) / 3)


def test_half_sse_is_half_the_sum():
    pred, target = jnp.array([1.0, 2.0, 3.0]), jnp.array([2.0, 2.0, 5.0])
    assert float(half_sse(pred, target)) == pytest.approx(0.5 * 5)


def test_two_conventions_agree_for_two_outputs():
    # The classic example's E = Σ ½ (y − ŷ)² equals the MSE over two outputs.
    pred, target = jnp.array([[0.75136507, 0.772928465]]), jnp.array([[0.01, 0.99]])
    np.testing.assert_allclose(mse(pred, target), half_sse(pred, target), rtol=1e-7)
    np.testing.assert_allclose(mse(pred, target), 0.298371109, rtol=1e-6)


def test_shape_mismatch_is_an_error_not_a_broadcast():
    with pytest.raises(ValueError, match="must match"):
        mse(jnp.ones((4, 1)), jnp.ones(4))


# ----------------------------------------------------------------------------- classification
#
# Each loss is compared with optax's (values and jax.grad) in float32 and float64, on
# ordinary logits and on extreme ones (±100, ±1e4) where a naive log(softmax(z)) or
# log(sigmoid(z)) gives inf or NaN, and with an independent float64 NumPy closed form.
EXTREME = np.array(
    [
        [100.0, -100.0, 0.0, 3.0],
        [-100.0, 100.0, 99.0, -1.0],
        [1e4, -1e4, 0.0, 1.0],
        [-1e4, 1e4, 1e4, -5.0],
        [1e4, 1e4, 1e4, 1e4],
        [-1e4, -1e4, -1e4, -1e4],
    ]
)


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    """The test body runs in float32, then again with jax_enable_x64 in float64."""
    if request.param == "float64":
        with jax.enable_x64(True):
            yield jnp.float64
    else:
        yield jnp.float32


def _tolerance(dtype):
    return {"rtol": 2e-6, "atol": 2e-6} if dtype == jnp.float32 else {"rtol": 1e-13, "atol": 1e-12}


def _logits(dtype):
    """Ordinary logits (N(0, 3²)) stacked on the extreme rows, as ``dtype``."""
    ordinary = np.random.default_rng(0).normal(0.0, 3.0, (10, 4))
    return jnp.asarray(np.concatenate([ordinary, EXTREME]), dtype)


def _soft_labels(m, k):
    return np.random.default_rng(1).dirichlet(np.ones(k), size=m)


def _closed_form_softmax(logits, labels):
    """−Σⱼ yⱼ (zⱼ − log Σ exp z), in float64 NumPy (logaddexp.reduce is stable)."""
    z = np.asarray(logits, np.float64)
    log_probs = z - np.logaddexp.reduce(z, axis=-1, keepdims=True)
    return -(np.asarray(labels, np.float64) * log_probs).sum(axis=-1)


def _assert_close(actual, expected, dtype):
    assert actual.dtype == dtype and actual.shape == np.shape(expected)
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), **_tolerance(dtype))


def _assert_within_rounding_of_optax(actual, expected, logits, dtype, axis=-1):
    """Optax's integer-label loss is LSE(z) − z_c, whose LSE is rounded at the size of the
    largest logit: about 4e-4 for logits of 1e4 in float32 (true 0.693147, optax 0.693359).
    jaxgd keeps the shift out (LSE(z) − max z and z_c − max z), so it is exact to ~1e-7
    there (checked against the closed form); against optax it is within optax's rounding."""
    eps = float(jnp.finfo(dtype).eps)
    scale = np.abs(np.asarray(logits, np.float64)).max(axis=axis)
    assert actual.dtype == dtype
    assert (np.abs(np.asarray(actual) - np.asarray(expected)) <= 4 * eps * (1 + scale)).all()


@pytest.mark.parametrize("soft", [False, True], ids=["one-hot", "soft"])
def test_softmax_cross_entropy_equals_optax_and_the_closed_form(dtype, soft):
    logits = _logits(dtype)
    m, k = logits.shape
    classes = np.arange(m) % k
    labels = jnp.asarray(_soft_labels(m, k) if soft else np.eye(k)[classes], dtype)
    ours = softmax_cross_entropy(logits, labels)
    _assert_close(ours, optax.softmax_cross_entropy(logits, labels), dtype)
    _assert_close(ours, _closed_form_softmax(logits, labels), dtype)
    assert np.isfinite(np.asarray(ours)).all()

    def mean_loss(f):
        return jax.grad(lambda z: jnp.mean(f(z, labels)))(logits)

    _assert_close(mean_loss(softmax_cross_entropy), mean_loss(optax.softmax_cross_entropy), dtype)


def test_softmax_cross_entropy_with_integer_labels_equals_optax(dtype):
    logits = _logits(dtype)
    m, k = logits.shape
    labels = jnp.asarray((np.arange(m) * 3) % k)  # every class, on extreme rows too
    ours = softmax_cross_entropy_with_integer_labels(logits, labels)
    optax_loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    _assert_within_rounding_of_optax(ours, optax_loss, logits, dtype)
    _assert_close(ours, _closed_form_softmax(logits, np.eye(k)[np.asarray(labels)]), dtype)

    def mean_loss(f):
        return jax.grad(lambda z: jnp.mean(f(z, labels)))(logits)

    expected = mean_loss(optax.softmax_cross_entropy_with_integer_labels)
    _assert_close(mean_loss(softmax_cross_entropy_with_integer_labels), expected, dtype)
    # the gradient is (softmax(z) − onehot(c)) / m, from NumPy
    z = np.asarray(logits, np.float64)
    softmax = np.exp(z - np.logaddexp.reduce(z, axis=1, keepdims=True))
    _assert_close(expected, (softmax - np.eye(k)[np.asarray(labels)]) / m, dtype)


def test_softmax_losses_take_the_class_axis_like_optax(dtype):
    logits = _logits(dtype).T  # classes on axis 0: [k, m]
    k, m = logits.shape
    labels = jnp.asarray(np.arange(m) % k)
    one_hot = jax.nn.one_hot(labels, k, axis=0, dtype=dtype)
    _assert_close(
        softmax_cross_entropy(logits, one_hot, axis=0),
        optax.softmax_cross_entropy(logits, one_hot, axis=0),
        dtype,
    )
    _assert_within_rounding_of_optax(
        softmax_cross_entropy_with_integer_labels(logits, labels, axis=0),
        optax.softmax_cross_entropy_with_integer_labels(logits, labels, axis=0),
        logits,
        dtype,
        axis=0,
    )


@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
def test_sigmoid_binary_cross_entropy_equals_optax_and_the_closed_form(dtype, soft):
    logits = _logits(dtype).reshape(-1)
    rng = np.random.default_rng(2)
    labels = rng.uniform(size=logits.shape) if soft else rng.integers(0, 2, logits.shape)
    labels = jnp.asarray(labels, dtype)
    ours = sigmoid_binary_cross_entropy(logits, labels)
    _assert_close(ours, optax.sigmoid_binary_cross_entropy(logits, labels), dtype)
    z, y = np.asarray(logits, np.float64), np.asarray(labels, np.float64)
    # −y log σ(z) − (1 − y) log(1 − σ(z)) with log(1 + e^t) = logaddexp(0, t)
    _assert_close(ours, y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z), dtype)

    def mean_loss(f):
        return jax.grad(lambda z: jnp.mean(f(z, labels)))(logits)

    expected = mean_loss(optax.sigmoid_binary_cross_entropy)
    _assert_close(mean_loss(sigmoid_binary_cross_entropy), expected, dtype)
    _assert_close(expected, (0.5 * (1 + np.tanh(z / 2)) - y) / z.size, dtype)  # (σ(z) − y)/n


def test_hard_integer_and_bool_labels_mean_the_same_as_floats():
    logits = jnp.array([-2.0, 0.5, 3.0])
    as_float = sigmoid_binary_cross_entropy(logits, jnp.array([0.0, 1.0, 1.0]))
    np.testing.assert_array_equal(
        sigmoid_binary_cross_entropy(logits, jnp.array([False, True, True])), as_float
    )
    np.testing.assert_array_equal(
        sigmoid_binary_cross_entropy(logits, np.array([0, 1, 1])), as_float
    )


def test_classification_losses_compile_under_jit():
    logits, labels = jnp.array([[2.0, -1.0], [0.0, 3.0]]), jnp.array([0, 1])
    compiled = jax.jit(softmax_cross_entropy_with_integer_labels)(logits, labels)
    np.testing.assert_allclose(
        compiled, optax.softmax_cross_entropy_with_integer_labels(logits, labels), rtol=1e-6
    )
    binary = jax.jit(sigmoid_binary_cross_entropy)(logits[:, 0], labels.astype(jnp.float32))
    np.testing.assert_allclose(
        binary, optax.sigmoid_binary_cross_entropy(logits[:, 0], labels), rtol=1e-6
    )


SCE, INT, BCE = (
    softmax_cross_entropy,
    softmax_cross_entropy_with_integer_labels,
    sigmoid_binary_cross_entropy,
)
Z = jnp.ones((4, 3))


@pytest.mark.parametrize(
    ("loss", "logits", "labels", "options", "error", "match"),
    [
        (SCE, Z, jnp.ones((4, 1)), {}, ValueError, "labels have shape"),
        (SCE, Z, jnp.zeros(4), {}, ValueError, "with_integer_labels"),
        (SCE, Z.astype(int), Z, {}, TypeError, "logits have dtype"),
        (SCE, Z, Z, {"axis": 2}, ValueError, "axis=2"),
        (SCE, Z, Z, {"axis": (1,)}, TypeError, "axis"),
        (SCE, jnp.ones(()), jnp.ones(()), {}, ValueError, "class axis"),
        (INT, Z, jnp.zeros(4), {}, TypeError, "astype"),
        (INT, Z, Z, {}, TypeError, "use softmax_cross_entropy"),
        (INT, Z, jnp.zeros((4, 1), int), {}, ValueError, "reshape"),
        (INT, Z, jnp.array([0, 1, 2, 3]), {}, ValueError, "0..2"),
        (INT, Z, jnp.array([0, -1, 2, 1]), {}, ValueError, "0..2"),
        (BCE, jnp.ones((4, 1)), jnp.ones(4), {}, ValueError, r"logits\[:, 0\]"),
        (BCE, jnp.ones(4), jnp.array([1.0, -1.0, 1.0, -1.0]), {}, ValueError, r"\(y \+ 1\) / 2"),
        (BCE, jnp.ones(4, int), jnp.ones(4), {}, TypeError, "logits have dtype"),
    ],
)
def test_bad_classification_input_is_a_clear_error(loss, logits, labels, options, error, match):
    with pytest.raises(error, match=match):
        loss(logits, labels, **options)
