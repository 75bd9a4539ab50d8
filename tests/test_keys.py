"""Keys as users write them: a typed key, a legacy raw key and an int seed mean the same thing.

Mini-batches make the key matter (it orders the data), so equal results are a real check.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxgd
from jaxgd._keys import as_key
from jaxgd.models import linear_init, mlp_init
from jaxgd.optim import sgd
from jaxgd.problems import geron_init, geron_linear, geron_theta0
from jaxgd.sweeps import lane_keys

SEED = 7
SPELLINGS = {
    "typed key": lambda: jax.random.key(SEED),
    "legacy raw key": lambda: jax.random.PRNGKey(SEED),
    "int seed": lambda: SEED,
    "numpy int seed": lambda: np.int64(SEED),
    "0-d integer array": lambda: jnp.asarray(SEED),
    "raw key as NumPy": lambda: np.asarray(jax.random.PRNGKey(SEED)),
}


def _fit(key):
    problem = geron_linear()
    return jaxgd.fit(
        problem.loss_fn, geron_theta0(), problem.data, sgd(0.05), epochs=3, batch_size=8, key=key
    )


def _sweep(key):
    problem = geron_linear()
    return jaxgd.sweep(
        problem.loss_fn,
        problem.init_fn,
        problem.data,
        sgd,
        grid={"learning_rate": [0.01, 0.1]},
        seeds=2,
        epochs=3,
        batch_size=8,
        key=key,
    )


@pytest.mark.parametrize("spelling", list(SPELLINGS))
def test_every_spelling_of_a_seed_is_the_same_typed_key(spelling):
    key = as_key(SPELLINGS[spelling]())
    assert jnp.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ()
    np.testing.assert_array_equal(jax.random.key_data(key), jax.random.PRNGKey(SEED))


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_fit_and_sweep_give_the_same_runs_for_every_spelling(precision):
    with jax.enable_x64(precision == "float64"):
        fits = {name: _fit(make()) for name, make in SPELLINGS.items()}
        sweeps = {name: _sweep(make()) for name, make in SPELLINGS.items()}
    reference_fit, reference_sweep = fits["typed key"], sweeps["typed key"]
    assert reference_fit.losses.dtype == np.dtype(precision)
    for name in SPELLINGS:
        np.testing.assert_array_equal(fits[name].losses, reference_fit.losses, err_msg=name)
        np.testing.assert_array_equal(sweeps[name].losses, reference_sweep.losses, err_msg=name)
    # and the key matters: another seed orders the data otherwise
    assert not np.array_equal(_fit(SEED + 1).losses, reference_fit.losses.astype(np.float32))


def test_init_functions_and_lane_keys_take_every_spelling():
    for name, make in SPELLINGS.items():
        np.testing.assert_array_equal(
            mlp_init(make(), [3, 4, 1])[0]["w"], mlp_init(jax.random.key(SEED), [3, 4, 1])[0]["w"]
        )
        np.testing.assert_array_equal(
            linear_init(make(), 2, init="normal")["w"],
            linear_init(jax.random.key(SEED), 2, init="normal")["w"],
            err_msg=name,
        )
        np.testing.assert_array_equal(geron_init(make())["w"], geron_init(SEED)["w"])
        for ours, theirs in zip(
            lane_keys(make(), 3), lane_keys(jax.random.key(SEED), 3), strict=True
        ):
            np.testing.assert_array_equal(jax.random.key_data(ours), jax.random.key_data(theirs))


def test_a_key_inside_jit_and_vmap_is_taken_as_it_is():
    keys = jax.random.split(jax.random.key(0), 3)
    drawn = jax.jit(jax.vmap(lambda k: jax.random.normal(as_key(k))))(keys)
    np.testing.assert_array_equal(drawn, jax.vmap(jax.random.normal)(keys))


BAD_KEYS = {
    "None": None,
    "a string": "0",
    "a float": 0.5,
    "a bool": True,
    "three uint32 words": jnp.zeros(3, jnp.uint32),
    "a batch of typed keys": jax.random.split(jax.random.key(0), 2),
    "float data": jnp.zeros(2, jnp.float32),
    "a list": [0, 0],
}


@pytest.mark.parametrize("label", list(BAD_KEYS))
def test_anything_else_is_refused_with_a_message_naming_key(label):
    problem = geron_linear()
    bad = BAD_KEYS[label]
    with pytest.raises(TypeError, match=r"\bkey\b"):
        _sweep(bad)
    if bad is not None:  # fit without mini-batches needs no key; with them, None is refused
        with pytest.raises(TypeError, match=r"\bkey\b"):
            _fit(bad)
    else:
        with pytest.raises(ValueError, match=r"key"):
            _fit(bad)
    with pytest.raises(TypeError, match=r"\bkey\b"):
        jaxgd.fit(problem.loss_fn, geron_theta0(), problem.data, sgd(0.1), steps=2, key="x")


def test_a_seed_out_of_range_is_refused():
    with pytest.raises(ValueError, match="key"):
        as_key(2**70)
