"""jaxgd.optim against optax 0.2.8: one step, long trajectories, vmap, jit, dtypes, errors.

The table of optimizer × setting is :data:`jaxgd.crosscheck.CASES`, shared
with ``jaxgd crosscheck``. States are compared field by field through
:func:`jaxgd.crosscheck.matching_state_fields`, the one place that says which
jaxgd field holds which optax field.

Tolerances:

* float64, one step: rtol 1e-12 (the brief's bound; measured: 0, bit-for-bit).
* float32 / bfloat16, one step: 0 ULP. Hyperparameters are Python floats on
  both sides, the operations are the same primitives in the same order with
  the same constants, so every value is rounded identically.
* 1,000-step float64 trajectories: max relative difference <= 1e-12
  (measured: 0 on all three problems; both sides are compiled in one program
  and XLA makes the same fusion and multiply-add choices for both).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxgd import crosscheck, optim, schedules
from jaxgd.crosscheck import CASES, TOLERANCES, Case, matching_state_fields, ulp_distance
from jaxgd.optim import apply_updates

FLOAT32_STEP_MAX_ULP = 0  # bit-for-bit: same primitives, same order, same Python constants
FLOAT64_STEP_RTOL = 1e-12
TRAJECTORY_STEPS = 1000
TRAJECTORY_MAX_REL = 1e-12  # measured 0: identical programs up to the optimizer's own code
WARMUP_STEPS = 2

CASE_IDS = [case.label for case in CASES]
FACTORIES = crosscheck.OPTIMIZERS


def _case(label: str) -> Case:
    return next(case for case in CASES if case.label == label)


def _params(key, dtype):
    """Nested dicts and lists with a scalar, a vector and a matrix leaf."""
    k = jax.random.split(key, 3)
    return {
        "scalar": jax.random.normal(k[0], (), dtype),
        "nested": [
            {"matrix": jax.random.normal(k[1], (3, 2), dtype)},
            jax.random.normal(k[2], (4,), dtype),
        ],
    }


def _grads(i, params):
    """Random gradients shaped like ``params``, the same for a given ``i``."""
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(100 + i), len(leaves))
    return treedef.unflatten(
        [jax.random.normal(k, p.shape, p.dtype) for k, p in zip(keys, leaves, strict=True)]
    )


def _assert_trees_equal(ours, theirs, dtype, what):
    ours_leaves, their_leaves = jax.tree.leaves(ours), jax.tree.leaves(theirs)
    assert jax.tree.structure(ours) == jax.tree.structure(theirs), what
    for a, b in zip(ours_leaves, their_leaves, strict=True):
        a, b = jnp.asarray(a), jnp.asarray(b)
        assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != optax's {b.dtype}"
        assert a.shape == b.shape, what
        if jnp.issubdtype(a.dtype, jnp.integer):
            np.testing.assert_array_equal(a, b, err_msg=what)
        elif dtype == jnp.float64:
            np.testing.assert_allclose(a, b, rtol=FLOAT64_STEP_RTOL, atol=0, err_msg=what)
        else:
            ulp = int(jnp.max(ulp_distance(a, b), initial=0))
            assert ulp <= FLOAT32_STEP_MAX_ULP, (
                f"{what}: {ulp} ULP apart (> {FLOAT32_STEP_MAX_ULP})"
            )


def _assert_states_match(state, optax_state, dtype, what):
    for name, (ours, theirs) in matching_state_fields(state, optax_state).items():
        _assert_trees_equal(ours, theirs, dtype, f"{what}: state.{name}")


def _one_step_check(case: Case, dtype) -> None:
    params = _params(jax.random.key(0), dtype)
    ours, theirs = case.build_pair(params)
    state, optax_state = ours.init(params), theirs.init(params)
    _assert_states_match(state, optax_state, dtype, f"{case.label} init")
    for i in range(WARMUP_STEPS):
        grads = _grads(i, params)
        _, state = ours.update(grads, state, params)
        updates, optax_state = theirs.update(grads, optax_state, params)
        params = optax.apply_updates(params, updates)
    _assert_states_match(state, optax_state, dtype, f"{case.label} after warm-up")
    grads = _grads(WARMUP_STEPS, params)
    updates, state = ours.update(grads, state, params)
    optax_updates, optax_state = theirs.update(grads, optax_state, params)
    _assert_trees_equal(updates, optax_updates, dtype, f"{case.label} updates")
    _assert_states_match(state, optax_state, dtype, f"{case.label} new state")
    if state.count is not None:  # kept exactly where optax keeps a counter (matched above)
        assert state.count.dtype == jnp.int32 and int(state.count) == WARMUP_STEPS + 1
    _assert_dtypes_kept(params, updates, case.label)


def _assert_dtypes_kept(params, updates, what):
    for p, u in zip(jax.tree.leaves(params), jax.tree.leaves(updates), strict=True):
        assert u.dtype == p.dtype, f"{what}: update {u.dtype} for {p.dtype} params"
    new_params = apply_updates(params, updates)
    for p, q in zip(jax.tree.leaves(params), jax.tree.leaves(new_params), strict=True):
        assert q.dtype == p.dtype, f"{what}: apply_updates turned {p.dtype} into {q.dtype}"


# ----------------------------------------------------------------------------- one step


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_one_step_equals_optax_float64(case, x64):
    _one_step_check(case, jnp.float64)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_one_step_equals_optax_float32(case):
    _one_step_check(case, jnp.float32)


def test_a_counter_is_kept_exactly_where_optax_keeps_one():
    # optax's sgd(0.1) keeps no counter, sgd(schedule) does; a counter nobody reads
    # would be incremented at every update of every lane of a sweep.
    params = _params(jax.random.key(0), jnp.float32)
    kept = {}
    for case in CASES:
        ours, theirs = case.build_pair(params)
        in_optax = "count" in crosscheck.optax_state_fields(theirs.init(params))
        kept[case.label] = ours.init(params).count is not None
        assert kept[case.label] == in_optax, case.label
    assert not kept["sgd/default"] and not kept["adagrad/default"]
    assert kept["adam/default"] and any(kept[c.label] for c in CASES if c.optimizer == "sgd")


def test_matching_state_fields_rejects_a_field_optax_does_not_keep():
    params = jnp.zeros(2)
    state = optim.sgd(0.1).init(params)._replace(count=jnp.zeros([], jnp.int32))
    with pytest.raises(ValueError, match="keeps count"):
        matching_state_fields(state, optax.sgd(0.1).init(params))


def test_table_covers_every_optimizer_and_labels_are_unique():
    exported = {"sgd", "adagrad", "rmsprop", "adam", "adamw", "nadam", "adamax", "adadelta", "lion"}
    assert set(FACTORIES) == exported
    assert set(exported) <= set(optim.__all__)
    assert len(set(CASE_IDS)) == len(CASE_IDS)
    schedule_cases = {c.optimizer for c in CASES if c.schedule is not None}
    assert len(schedule_cases) >= 2


def test_prefix_mask_equals_optax(x64):
    # A mask that is a prefix of the parameter tree: whole subtrees on or off.
    params = _params(jax.random.key(1), jnp.float64)
    mask = {"scalar": True, "nested": False}
    ours = optim.adamw(0.1, weight_decay=0.3, mask=mask)
    theirs = optax.adamw(0.1, weight_decay=0.3, mask=mask)
    s, t = ours.init(params), theirs.init(params)
    for i in range(3):
        u, s = ours.update(_grads(i, params), s, params)
        v, t = theirs.update(_grads(i, params), t, params)
        _assert_trees_equal(u, v, jnp.float64, f"step {i}")


def test_sgd_accumulator_dtype_is_kept_in_state():
    params = _params(jax.random.key(2), jnp.float32)
    opt = _case("sgd/momentum_bf16").build("jaxgd")
    _, state = opt.update(_grads(0, params), opt.init(params), params)
    assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(state.trace))


# ----------------------------------------------------------------------------- trajectories


def _trajectory_check(problem_name, cases):
    with jax.enable_x64(True):
        problem = crosscheck.builtin_problems()[problem_name]
        params = jax.tree.map(lambda x: x.astype(jnp.float64), problem.init_fn(jax.random.key(0)))
        pairs = {case.label: case.build_pair(params)[::-1] for case in cases}
        results = crosscheck.compare_many(
            pairs, problem, params, steps=TRAJECTORY_STEPS, dtype="float64"
        )
        states = {
            name: crosscheck.state_stats(r.candidate_state, r.reference_state)
            for name, r in results.items()
        }
    report = "\n".join(f"  {name}: {r.summary()}" for name, r in results.items())
    worst = max(r.max_rel for r in results.values())
    assert worst <= TRAJECTORY_MAX_REL, f"{problem_name}, max rel diff {worst:.3g}:\n{report}"
    for name, r in results.items():
        assert np.isfinite(r.reference_loss), f"{name} diverged on {problem_name}: {r.summary()}"
        assert states[name]["max_rel"] <= TRAJECTORY_MAX_REL, f"{name} final state: {states[name]}"


def _first_setting_of_each_optimizer(extra=lambda case: False):
    seen, cases = set(), []
    for case in CASES:
        if case.optimizer not in seen or extra(case):
            cases.append(case)
            seen.add(case.optimizer)
    return cases


# Each optimizer's first setting on the bowl; those and every schedule on
# Rosenbrock (non-convex, curved: the most sensitive; schedules change along
# the run); on the MLP (several leaves: weights and biases) Adam and every
# masked setting, where the mask picks the weights. Every setting is checked
# for one step above; `jaxgd crosscheck --dtype float64 --steps 1000` runs
# the full table on all three problems (~25 s, mostly compilation).
_TRAJECTORY_CASES = {
    "quadratic-bowl": _first_setting_of_each_optimizer(),
    "rosenbrock": _first_setting_of_each_optimizer(
        lambda case: case.schedule is not None or case.weight_decay_schedule is not None
    ),
    "mlp-regression": [_case("adam/default")] + [c for c in CASES if c.mask is not None],
}


@pytest.mark.slow
@pytest.mark.parametrize("problem_name", list(_TRAJECTORY_CASES))
def test_trajectories_1000_steps_float64(problem_name):
    _trajectory_check(problem_name, _TRAJECTORY_CASES[problem_name])


def test_table_tolerances_are_stated():
    assert set(TOLERANCES) == {"float32", "float64"}
    assert all(t.reason for t in TOLERANCES.values())


# ----------------------------------------------------------------------------- vmap and jit


def _bowl(params):
    return 0.5 * jnp.sum(jnp.array([1.0, 3.0, 0.3]) * params**2)


def _run(make_opt, *hyper, steps=25):
    params = jnp.array([1.0, -2.0, 0.5], jnp.result_type(float))
    opt = make_opt(*hyper)
    state = opt.init(params)

    def body(carry, _):
        p, s = carry
        u, s = opt.update(jax.grad(_bowl)(p), s, p)
        return (apply_updates(p, u), s), None

    (params, _), _ = jax.lax.scan(body, (params, state), None, length=steps)
    return params


@pytest.mark.parametrize(
    ("make_opt", "values"),
    [
        (lambda lr, mu: optim.sgd(lr, momentum=mu), ([0.01, 0.05, 0.2], [0.0, 0.5, 0.9])),
        (lambda lr, b1: optim.adam(lr, b1=b1), ([0.01, 0.05, 0.2], [0.0, 0.8, 0.95])),
        (lambda lr: optim.rmsprop(lr, centered=True), ([0.001, 0.01, 0.03],)),
        (lambda lr: optim.lion(lr), ([0.001, 0.01, 0.03],)),
    ],
    ids=["sgd-lr-momentum", "adam-lr-b1", "rmsprop-lr", "lion-lr"],
)
def test_vmap_over_hyperparameters_equals_separate_runs(make_opt, values, x64):
    # float64: the batched and the single program are compiled separately, and
    # XLA may fuse (and contract multiply-adds) differently in each; in float32
    # that shows as a few ULP after 25 steps (11 measured for centered RMSprop).
    arrays = [jnp.asarray(v, jnp.float64) for v in values]
    run = jax.jit(lambda *h: _run(make_opt, *h))
    batched = jax.jit(jax.vmap(lambda *h: _run(make_opt, *h)))(*arrays)
    for i in range(len(values[0])):
        single = run(*(a[i] for a in arrays))
        np.testing.assert_allclose(batched[i], single, rtol=1e-12, atol=0, err_msg=f"run {i}")
        assert not np.allclose(batched[i], batched[(i + 1) % len(values[0])])


@pytest.mark.parametrize("name", FACTORIES)
def test_jitted_step_with_learning_rate_argument_compiles_once(name):
    traces = 0
    params = _params(jax.random.key(3), jnp.float32)
    grads = _grads(0, params)

    def step(learning_rate, params, grads):
        nonlocal traces
        traces += 1
        opt = getattr(optim, name)(learning_rate)
        updates, _ = opt.update(grads, opt.init(params), params)
        return updates

    jitted = jax.jit(step)
    lrs = [0.001 * (i + 1) for i in range(10)]
    outputs = [jitted(lr, params, grads) for lr in lrs]
    assert traces == 1, f"{name}: traced {traces} times for 10 learning rates"
    # The traced learning rate gives optax's result, compiled the same way
    # (-α·u rounds once whether α is a constant or an argument).
    reference = getattr(optax, name)(lrs[-1])
    expected = jax.jit(lambda p, g: reference.update(g, reference.init(p), p)[0])(params, grads)
    _assert_trees_equal(outputs[-1], expected, jnp.float32, name)


def test_optimizer_is_a_pytree_of_its_hyperparameters():
    # jaxgd.fit relies on this: numbers are leaves (traced), the rest static leaves.
    opt = optim.adam(0.1, b1=0.8, nesterov=True, mu_dtype=jnp.bfloat16)
    leaves = jax.tree.leaves(opt)
    # The hyperparameters, then 1 - b1 and 1 - b2 (computed once, as optax does).
    floats = [leaf for leaf in leaves if isinstance(leaf, float)]
    assert floats == [0.1, 0.8, 0.999, 1e-8, 0.0, 1 - 0.8, 1 - 0.999]
    assert True in leaves and jnp.bfloat16 in leaves
    sched = schedules.linear_schedule(0.1, 0.01, 100)  # and I - E, computed once
    floats = [leaf for leaf in jax.tree.leaves(optim.sgd(sched)) if isinstance(leaf, float)]
    assert floats == [0.1, 0.01, 0.1 - 0.01]
    # Swapping the learning-rate leaf gives the optimizer with the new rate.
    treedef = jax.tree.structure(optim.sgd(0.1))
    swapped = treedef.unflatten([0.5 if x == 0.1 else x for x in jax.tree.leaves(optim.sgd(0.1))])
    updates, _ = swapped.update(jnp.ones(1), swapped.init(jnp.ones(1)))
    np.testing.assert_allclose(updates, [-0.5])


def test_traced_hyperparameters_are_not_checked():
    params = jnp.ones(2)

    @jax.jit
    def step(lr, b1):
        opt = optim.adam(lr, b1=b1)  # would raise if checked: lr < 0, b1 > 1
        return opt.update(params, opt.init(params))[0]

    assert step(-0.1, 1.5).shape == (2,)


# ----------------------------------------------------------------------------- dtypes, zeros, chain


_BF16_CASES = [
    _case(label)
    for label in (
        "sgd/momentum_bf16",
        "rmsprop/centered_momentum",
        "adam/mu_bf16",
        "adadelta/default",
        "lion/schedule",
    )
]


@pytest.mark.parametrize("case", _BF16_CASES, ids=[c.label for c in _BF16_CASES])
def test_bfloat16_params_keep_their_dtype_and_equal_optax(case):
    # float32 and float64 are checked by the one-step tests above.
    params = _params(jax.random.key(4), jnp.bfloat16)
    ours, theirs = case.build_pair(params)
    state, optax_state = ours.init(params), theirs.init(params)
    for i in range(2):
        grads = _grads(i, params)
        updates, state = ours.update(grads, state, params)
        optax_updates, optax_state = theirs.update(grads, optax_state, params)
        _assert_trees_equal(updates, optax_updates, jnp.bfloat16, case.label)
        _assert_states_match(state, optax_state, jnp.bfloat16, case.label)
        _assert_dtypes_kept(params, updates, case.label)
        params = apply_updates(params, updates)
    assert state.count is None or state.count.dtype == jnp.int32


_NO_DECAY = [c for c in CASES if not c.has_weight_decay]


@pytest.mark.parametrize("case", _NO_DECAY, ids=[c.label for c in _NO_DECAY])
def test_zero_gradients_give_zero_updates(case):
    params = _params(jax.random.key(5), jnp.float32)
    opt = case.build("jaxgd", params)
    updates, _ = opt.update(jax.tree.map(jnp.zeros_like, params), opt.init(params), params)
    assert all(bool(jnp.all(u == 0)) for u in jax.tree.leaves(updates)), case.label


def test_zero_gradients_with_weight_decay_only_decay():
    params = {"w": jnp.array([[2.0]]), "b": jnp.array([2.0])}
    for opt in (optim.adamw(0.1, weight_decay=0.5), optim.lion(0.1, weight_decay=0.5)):
        updates, _ = opt.update(jax.tree.map(jnp.zeros_like, params), opt.init(params), params)
        np.testing.assert_allclose(updates["w"], [[-0.1]], rtol=1e-6)


@pytest.mark.parametrize("label", ["adam/default", "sgd/nesterov", "rmsprop/centered_momentum"])
def test_works_inside_optax_chain(label):
    params = _params(jax.random.key(6), jnp.float32)
    ours, theirs = _case(label).build_pair(params)
    chained = optax.chain(optax.clip_by_global_norm(1.0), ours)
    reference = optax.chain(optax.clip_by_global_norm(1.0), theirs)
    s, t = chained.init(params), reference.init(params)
    for i in range(3):
        u, s = chained.update(_grads(i, params), s, params)
        v, t = reference.update(_grads(i, params), t, params)
        _assert_trees_equal(u, v, jnp.float32, label)


def test_adadelta_without_learning_rate_steps_along_the_gradient():
    # optax's semantics: learning_rate=None means no scaling *and* no sign flip.
    params = jnp.zeros(3)
    grads = jnp.array([1.0, -2.0, 3.0])
    updates, _ = optim.adadelta().update(grads, optim.adadelta().init(params), params)
    assert bool(jnp.all(jnp.sign(updates) == jnp.sign(grads)))
    descent, _ = optim.adadelta(1.0).update(grads, optim.adadelta(1.0).init(params), params)
    np.testing.assert_array_equal(descent, -updates)


@pytest.mark.parametrize("name", ["adamw", "lion", "adadelta"])
def test_weight_decay_needs_params(name):
    opt = getattr(optim, name)(0.1)
    with pytest.raises(ValueError, match="params"):
        opt.update(jnp.ones(2), opt.init(jnp.ones(2)))


# ----------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("build", "argument"),
    [
        (lambda: optim.sgd(-0.1), "learning_rate"),
        (lambda: optim.sgd(float("nan")), "learning_rate"),
        (lambda: optim.adam(float("inf")), "learning_rate"),
        (lambda: optim.adam(jnp.array(-1e-3)), "learning_rate"),
        (lambda: optim.adam(np.float32(-1e-3)), "learning_rate"),
        (lambda: optim.sgd(0.1, momentum=-0.9), "momentum"),
        (lambda: optim.rmsprop(0.1, momentum=-0.9), "momentum"),
        (lambda: optim.adam(0.1, b1=1.0), "b1"),
        (lambda: optim.adam(0.1, b1=-0.1), "b1"),
        (lambda: optim.adam(0.1, b2=1.5), "b2"),
        (lambda: optim.nadam(0.1, b2=1.0), "b2"),
        (lambda: optim.adamw(0.1, b1=2.0), "b1"),
        (lambda: optim.adamax(0.1, b2=-0.5), "b2"),
        (lambda: optim.lion(0.1, b1=1.0), "b1"),
        (lambda: optim.lion(0.1, b2=1.2), "b2"),
        (lambda: optim.adam(0.1, eps=-1e-8), "eps"),
        (lambda: optim.adam(0.1, eps_root=-1e-8), "eps_root"),
        (lambda: optim.adagrad(0.1, eps=-1.0), "eps"),
        (lambda: optim.rmsprop(0.1, eps=-1.0), "eps"),
        (lambda: optim.adadelta(eps=-1.0), "eps"),
        (lambda: optim.rmsprop(0.1, decay=1.5), "decay"),
        (lambda: optim.rmsprop(0.1, decay=-0.1), "decay"),
        (lambda: optim.adadelta(rho=1.1), "rho"),
        (lambda: optim.adamw(0.1, weight_decay=-1e-4), "weight_decay"),
        (lambda: optim.lion(0.1, weight_decay=-1e-3), "weight_decay"),
        (lambda: optim.adadelta(weight_decay=-1.0), "weight_decay"),
        (lambda: optim.adadelta(learning_rate=-1.0), "learning_rate"),
        (lambda: optim.adagrad(-0.1), "learning_rate"),
        (lambda: optim.adagrad(0.1, initial_accumulator_value=-0.1), "initial_accumulator_value"),
        (lambda: optim.rmsprop(0.1, initial_scale=-1.0), "initial_scale"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(build, argument):
    with pytest.raises(ValueError, match=rf"^{argument}=") as error:
        build()
    message = str(error.value)
    assert "pass" in message.lower() or ">=" in message, message


@pytest.mark.parametrize(
    "build",
    [
        lambda: optim.rmsprop(0.1, decay=1.0),
        lambda: optim.adadelta(rho=0.0),
        lambda: optim.adam(0.0, b1=0.0, b2=0.0, eps=0.0),
        lambda: optim.sgd(schedules.constant_schedule(-1.0)),  # schedules are not checked
        lambda: optim.sgd(0.1, momentum=0.0),
    ],
)
def test_edge_values_are_accepted(build):
    build()
