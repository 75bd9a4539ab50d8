import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgd import models
from jaxgd.models import MLP, linear_apply, linear_init, mlp_apply, mlp_from_arrays, mlp_init


def test_linear_model_computes_weighted_sum_plus_bias():
    params = {"w": jnp.array([2.0, -1.0]), "b": jnp.array(0.5)}
    x = jnp.array([[1.0, 1.0], [3.0, 2.0]])
    np.testing.assert_allclose(linear_apply(params, x), [1.5, 4.5])


def test_linear_init_shapes_and_zero_default():
    params = linear_init(jax.random.key(0), 3)
    assert params["w"].shape == (3,) and params["b"].shape == ()
    assert float(jnp.abs(params["w"]).sum() + jnp.abs(params["b"])) == 0.0


def test_mlp_layout_row_i_feeds_neuron_i():
    # One layer with W = [[1, 2], [3, 4]], b = [10, 20]: neuron 1 sees row 1.
    params = mlp_from_arrays([[[1.0, 2.0], [3.0, 4.0]]], [[10.0, 20.0]])
    out = mlp_apply(params, jnp.array([[1.0, 1.0]]), output="identity")
    np.testing.assert_allclose(out, [[13.0, 27.0]])


def test_mlp_any_depth_shapes(key):
    params = mlp_init(key, [3, 5, 7, 2])
    assert [layer["w"].shape for layer in params] == [(5, 3), (7, 5), (2, 7)]
    assert [layer["b"].shape for layer in params] == [(5,), (7,), (2,)]
    assert mlp_apply(params, jnp.ones((4, 3))).shape == (4, 2)


@pytest.mark.parametrize("name", sorted(models.ACTIVATIONS))
def test_activations_match_their_definitions(name):
    z = jnp.linspace(-3.0, 3.0, 13)
    expected = {
        "identity": z,
        "relu": np.maximum(z, 0),
        "leaky_relu": np.where(z > 0, z, 0.01 * z),
        "sigmoid": 1 / (1 + np.exp(-np.asarray(z))),
        "tanh": np.tanh(z),
    }[name]
    np.testing.assert_allclose(models.activation(name)(z), expected, rtol=1e-6, atol=1e-7)


def test_hidden_and_output_activations_are_chosen_separately(key):
    params = mlp_init(key, [2, 4, 1])
    x = jnp.ones((3, 2))
    sig_out = mlp_apply(params, x, hidden="relu", output="sigmoid")
    assert bool(jnp.all((sig_out > 0) & (sig_out < 1)))
    z = mlp_apply(params, x, hidden="relu", output="identity")
    np.testing.assert_allclose(sig_out, jax.nn.sigmoid(z), rtol=1e-6)


def test_init_schemes_have_their_documented_spread():
    key = jax.random.key(1)
    fan_out, fan_in = 400, 600
    glorot = models.init_weight(key, (fan_out, fan_in), "glorot")
    limit = np.sqrt(6 / (fan_in + fan_out))
    assert float(jnp.max(jnp.abs(glorot))) <= limit
    np.testing.assert_allclose(float(jnp.std(glorot)), limit / np.sqrt(3), rtol=0.02)
    he = models.init_weight(key, (fan_out, fan_in), "he")
    np.testing.assert_allclose(float(jnp.std(he)), np.sqrt(2 / fan_in), rtol=0.02)
    normal = models.init_weight(key, (fan_out, fan_in), "normal", scale=0.5)
    np.testing.assert_allclose(float(jnp.std(normal)), 0.5, rtol=0.02)
    uniform = models.init_weight(key, (fan_out, fan_in), "uniform", scale=0.2)
    assert float(jnp.max(jnp.abs(uniform))) <= 0.2
    assert float(jnp.abs(models.init_weight(key, (3, 3), "zeros")).sum()) == 0.0


def test_same_key_same_parameters_and_different_key_different():
    a = mlp_init(jax.random.key(3), [2, 3, 1])
    b = mlp_init(jax.random.key(3), [2, 3, 1])
    c = mlp_init(jax.random.key(4), [2, 3, 1])
    assert all(
        jnp.array_equal(u, v) for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )
    assert not jnp.array_equal(a[0]["w"], c[0]["w"])


def test_float32_default_and_float64_under_x64(key):
    assert mlp_init(key, [2, 2])[0]["w"].dtype == jnp.float32
    with jax.enable_x64(True):
        params = mlp_init(key, [2, 2])
        assert params[0]["w"].dtype == jnp.float64
        assert mlp_apply(params, jnp.ones((1, 2))).dtype == jnp.float64


def test_dropout_needs_a_key_and_keeps_the_expectation(key):
    model = MLP((50, 200, 1), hidden="relu", dropout_rate=0.5)
    params = model.init(key)
    x = jax.random.normal(jax.random.key(9), (64, 50))
    # Without a key: evaluation, deterministic.
    np.testing.assert_array_equal(model.apply(params, x), model.apply(params, x))
    # With a key: a mask; same key, same mask.
    k = jax.random.key(5)
    np.testing.assert_array_equal(model.apply(params, x, key=k), model.apply(params, x, key=k))
    assert not jnp.array_equal(model.apply(params, x, key=k), model.apply(params, x))
    h = jnp.ones((20000,))
    dropped = models.dropout(h, 0.3, k)
    assert 0.28 < float(jnp.mean(dropped == 0)) < 0.32
    np.testing.assert_allclose(float(jnp.mean(dropped)), 1.0, atol=0.02)


@pytest.mark.parametrize(
    ("sizes", "match"),
    [
        ([3], "at least two entries"),
        ([3, 0, 1], r"sizes\[1\]=0"),
        ([2, -4], r"sizes\[1\]=-4"),
        ([2, 2.5], "positive integer"),
    ],
)
def test_bad_sizes_raise(key, sizes, match):
    with pytest.raises(ValueError, match=match):
        mlp_init(key, sizes)


def test_unknown_names_list_the_valid_ones(key):
    with pytest.raises(ValueError, match=r"identity, leaky_relu, relu, sigmoid, tanh"):
        mlp_apply(mlp_init(key, [2, 2]), jnp.ones((1, 2)), hidden="swish")
    with pytest.raises(ValueError, match="glorot"):
        mlp_init(key, [2, 2], init="lecun")
    with pytest.raises(ValueError, match="unknown activation"):
        MLP((2, 2), output="softplus")


def test_feature_count_mismatch_says_how_to_fix(key):
    params = mlp_init(key, [3, 2])
    with pytest.raises(ValueError, match=r"expects \[m, 3\]"):
        mlp_apply(params, jnp.ones((5, 4)))
    with pytest.raises(ValueError, match=r"expects \[m, 2\]"):
        linear_apply({"w": jnp.ones(2), "b": jnp.zeros(())}, jnp.ones(2))


def test_mlp_config_is_hashable_and_equal_by_value():
    assert MLP((2, 3, 1)) == MLP([2, 3, 1])
    assert hash(MLP((2, 3, 1))) == hash(MLP((2, 3, 1)))


@pytest.mark.parametrize(("scheme", "uniform"), [("glorot", True), ("he", False)])
def test_mlp_layers_have_their_own_spread_and_independent_draws(scheme, uniform):
    """One random call feeds every layer; each layer still gets its own scheme spread."""
    sizes = [300, 200, 100]
    params = mlp_init(jax.random.key(5), sizes, init=scheme)
    for layer, fan_in, fan_out in zip(params, sizes[:-1], sizes[1:], strict=True):
        w = np.asarray(layer["w"])
        assert w.shape == (fan_out, fan_in)
        if uniform:
            limit = np.sqrt(6 / (fan_in + fan_out))
            assert np.abs(w).max() <= limit
            np.testing.assert_allclose(w.std(), limit / np.sqrt(3), rtol=0.03)
        else:
            np.testing.assert_allclose(w.std(), np.sqrt(2 / fan_in), rtol=0.03)
    first, second = (np.asarray(layer["w"]).ravel() for layer in params)
    assert abs(np.corrcoef(first[: second.size], second)[0, 1]) < 0.05
