"""jaxgd.optim against optax 0.2.8: one step, long trajectories, vmap, jit, dtypes, errors.

The table of optimizer × setting is :data:`jaxgd.crosscheck.CASES`, shared
with ``jaxgd crosscheck``. States are compared field by field through
:func:`jaxgd.crosscheck.matching_state_fields`, the one place that says which
jaxgd field holds which optax field. The equality tests against optax run
each update both eagerly and under ``jax.jit`` (``chex.variants``).

Tolerances:

* float64, one step: rtol 1e-12 (the brief's bound; measured: 0, bit-for-bit).
* float32 / bfloat16 / complex64, one step: 0 ULP. Hyperparameters are Python
  floats on both sides, the operations are the same primitives in the same
  order with the same constants, so every value is rounded identically.
* 1,000-step float64 trajectories: max relative difference <= 1e-12
  (measured: 0 on all three problems; both sides are compiled in one program
  and XLA makes the same fusion and multiply-add choices for both).
"""

from __future__ import annotations

import inspect

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from absl.testing import parameterized

from jaxgd import _static, crosscheck, optim, schedules
from jaxgd.crosscheck import CASES, TOLERANCES, Case, matching_state_fields
from jaxgd.optim import apply_updates

FLOAT32_STEP_MAX_ULP = 0  # bit-for-bit: same primitives, same order, same Python constants
FLOAT64_STEP_RTOL = 1e-12
TRAJECTORY_STEPS = 1000
TRAJECTORY_MAX_REL = 1e-12  # measured 0: identical programs up to the optimizer's own code
WARMUP_STEPS = 2
COMPLEX_STEPS = 3

CASE_IDS = [case.label for case in CASES]
FACTORIES = crosscheck.OPTIMIZERS

# Settings the shared table leaves out, checked here too: the centered RMSprop
# denominator with ε outside the root (1/(√(ν - |μ|²) + ε), the other abs_sq
# branch), NAdamW with a weight decay, and AdaGrad with a larger ε and G_0.
EXTRA_CASES = (
    Case(
        "rmsprop",
        "centered_eps_outside_sqrt",
        {"learning_rate": 1e-3, "centered": True, "eps_in_sqrt": False, "momentum": 0.5},
    ),
    Case(
        "rmsprop",
        "centered_bias_correction_eps_outside_sqrt",
        {
            "learning_rate": 1e-3,
            "centered": True,
            "eps_in_sqrt": False,
            "bias_correction": True,
            "nesterov": True,
            "momentum": 0.9,
        },
    ),
    Case("adamw", "nesterov_decay", {"learning_rate": 1e-2, "weight_decay": 0.1, "nesterov": True}),
    Case("adagrad", "eps", {"learning_rate": 0.3, "initial_accumulator_value": 1.0, "eps": 1e-3}),
)
ALL_CASES = CASES + EXTRA_CASES


def _case(label: str) -> Case:
    return next(case for case in ALL_CASES if case.label == label)


def _uses_bfloat16(case: Case) -> bool:
    return any(value is jnp.bfloat16 for value in case.kwargs.values())


def _test_name(case: Case, suffix: str) -> str:
    return f"_{case.optimizer}__{case.setting}_{suffix}"


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
    """Random gradients shaped like ``params``, the same for a given ``i``.

    For complex parameters both parts are random (``jax.random.normal`` draws
    real and imaginary parts), so ``g²`` and ``|g|²`` differ.
    """
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(100 + i), len(leaves))
    return treedef.unflatten(
        [jax.random.normal(k, p.shape, p.dtype) for k, p in zip(keys, leaves, strict=True)]
    )


def _assert_trees_equal(ours, theirs, dtype, what):
    """Same structure, shapes and dtypes; values within FLOAT64_STEP_RTOL in float64, else equal.

    Exact equality (``chex.assert_trees_all_equal``, NaNs equal where both are NaN,
    ``-0 == +0``) is 0 ULP, the float32, bfloat16 and complex64 bound.
    """
    chex.assert_trees_all_equal_structs(ours, theirs)
    chex.assert_trees_all_equal_shapes_and_dtypes(ours, theirs, custom_message=what)
    if dtype == jnp.float64:
        chex.assert_trees_all_close(
            ours, theirs, rtol=FLOAT64_STEP_RTOL, atol=0, custom_message=what
        )
    else:
        assert FLOAT32_STEP_MAX_ULP == 0
        chex.assert_trees_all_equal(ours, theirs, custom_message=what)


def _assert_states_match(state, optax_state, dtype, what):
    for name, (ours, theirs) in matching_state_fields(state, optax_state).items():
        _assert_trees_equal(ours, theirs, dtype, f"{what}: state.{name}")


def _assert_dtypes_kept(params, updates, what):
    chex.assert_trees_all_equal_shapes_and_dtypes(params, updates, custom_message=what)
    new_params = apply_updates(params, updates)
    chex.assert_trees_all_equal_shapes_and_dtypes(params, new_params, custom_message=what)


def _steppers(variant, ours, theirs, **extra_args):
    """``(our_update, optax_update)``, each passed through ``variant`` (jit or not).

    The optimizers are closed over, so their Python-float hyperparameters are
    constants of both programs, as in optax.
    """
    our_update = variant(lambda g, s, p: ours.update(g, s, p, **extra_args))
    their_update = variant(lambda g, s, p: theirs.update(g, s, p))
    return our_update, their_update


def _one_step_check(variant, case: Case, dtype) -> None:
    params = _params(jax.random.key(0), dtype)
    ours, theirs = case.build_pair(params)
    our_update, their_update = _steppers(variant, ours, theirs)
    state, optax_state = ours.init(params), theirs.init(params)
    _assert_states_match(state, optax_state, dtype, f"{case.label} init")
    for i in range(WARMUP_STEPS):
        grads = _grads(i, params)
        _, state = our_update(grads, state, params)
        updates, optax_state = their_update(grads, optax_state, params)
        params = optax.apply_updates(params, updates)
    _assert_states_match(state, optax_state, dtype, f"{case.label} after warm-up")
    grads = _grads(WARMUP_STEPS, params)
    updates, state = our_update(grads, state, params)
    optax_updates, optax_state = their_update(grads, optax_state, params)
    _assert_trees_equal(updates, optax_updates, dtype, f"{case.label} updates")
    _assert_states_match(state, optax_state, dtype, f"{case.label} new state")
    if state.count is not None:  # kept exactly where optax keeps a counter (matched above)
        chex.assert_shape(state.count, ())
        chex.assert_type(state.count, jnp.int32)
        assert int(state.count) == WARMUP_STEPS + 1
    _assert_dtypes_kept(params, updates, case.label)


def _trajectory_pair_check(variant, case: Case, params, dtype, steps, **extra_args):
    """``steps`` updates of both, applied; updates and states compared after each one."""
    ours, theirs = case.build_pair(params)
    our_update, their_update = _steppers(variant, ours, theirs, **extra_args)
    state, optax_state = ours.init(params), theirs.init(params)
    for i in range(steps):
        grads = _grads(i, params)
        updates, state = our_update(grads, state, params)
        optax_updates, optax_state = their_update(grads, optax_state, params)
        what = f"{case.label} step {i}"
        _assert_trees_equal(updates, optax_updates, dtype, what)
        _assert_states_match(state, optax_state, dtype, what)
        _assert_dtypes_kept(params, updates, what)
        params = apply_updates(params, updates)
    return params


# ----------------------------------------------------------------------------- equal to optax


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

# Complex parameters: every optimizer, with its main settings (a bfloat16 moment
# is left out: casting a complex moment to bfloat16 drops its imaginary part,
# in optax too).
_COMPLEX_CASES = [
    _case(label)
    for label in (
        "sgd/momentum",
        "sgd/nesterov",
        "adagrad/default",
        "rmsprop/default",
        "rmsprop/centered_momentum",
        "rmsprop/nesterov",
        "rmsprop/eps_outside_sqrt",
        "rmsprop/centered_bias_correction_eps_outside_sqrt",
        "adam/eps_root",
        "adam/nesterov",
        "adamw/mask_tree",
        "adamw/nesterov_decay",
        "nadam/default",
        "adamax/b2",
        "adadelta/weight_decay_mask",
        "lion/mask_tree",
    )
]
_ABS_SQ_OPTIMIZERS = {"adagrad", "rmsprop", "adam", "adamw", "nadam"}
# compiled too: one setting of each |g|² rule (AdaGrad's sum, RMSprop's centred moment,
# Adam's moment) and Adadelta's g**2
_COMPLEX_COMPILED_CASES = [
    _case(label)
    for label in (
        "adagrad/default",
        "rmsprop/centered_momentum",
        "adam/eps_root",
        "adadelta/weight_decay_mask",
    )
]


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.label for case in ALL_CASES])
def test_one_step_equals_optax_float64(case, x64):
    _one_step_check(lambda f: f, case, jnp.float64)


# One setting per optimizer, its first in the table, for the compiled runs.
_COMPILED_CASES = list({case.optimizer: case for case in reversed(ALL_CASES)}.values())[::-1]


class TestEqualsOptax(chex.TestCase):
    """Each jaxgd update equals optax's bit for bit, eagerly and compiled (``chex.variants``).

    Every setting runs eagerly; compiled, one setting per optimizer in float32, and the
    bfloat16 and complex64 settings (compiling every setting in every dtype tripled this
    file's run time, most of it XLA compiling the same arithmetic). float64 is checked
    eagerly (test_one_step_equals_optax_float64, rtol 1e-12); the trajectories of 1,000
    steps below are compiled.
    """

    @chex.variants(without_jit=True)
    @parameterized.named_parameters(*[(_test_name(c, "float32"), c) for c in ALL_CASES])
    def test_one_step_float32(self, case):
        _one_step_check(self.variant, case, jnp.float32)

    @chex.variants(with_jit=True)
    @parameterized.named_parameters(*[(_test_name(c, "float32"), c) for c in _COMPILED_CASES])
    def test_one_step_float32_compiled(self, case):
        _one_step_check(self.variant, case, jnp.float32)

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters(*[(_test_name(c, "bfloat16"), c) for c in _BF16_CASES])
    def test_bfloat16_params_keep_their_dtype(self, case):
        params = _params(jax.random.key(4), jnp.bfloat16)
        _trajectory_pair_check(self.variant, case, params, jnp.bfloat16, steps=2)

    @chex.variants(without_jit=True)
    @parameterized.named_parameters(*[(_test_name(c, "complex64"), c) for c in _COMPLEX_CASES])
    def test_complex64(self, case):
        # optax squares magnitudes (abs_sq: re² + im²) in Adam's, RMSprop's and
        # AdaGrad's second moments, and uses g**2 in Adadelta's; jaxgd does the same.
        self._complex64(case)

    @chex.variants(with_jit=True)
    @parameterized.named_parameters(
        *[(_test_name(c, "complex64"), c) for c in _COMPLEX_COMPILED_CASES]
    )
    def test_complex64_compiled(self, case):
        self._complex64(case)

    def _complex64(self, case):
        params = _params(jax.random.key(7), jnp.complex64)
        final = _trajectory_pair_check(self.variant, case, params, jnp.complex64, COMPLEX_STEPS)
        chex.assert_type(jax.tree.leaves(final), [jnp.complex64] * 3)
        chex.assert_tree_all_finite(final)

    @chex.variants(with_jit=True, without_jit=True)
    def test_prefix_mask(self):
        # A mask that is a prefix of the parameter tree: whole subtrees on or off.
        mask = {"scalar": True, "nested": False}
        case = Case(
            "adamw", "prefix_mask", {"learning_rate": 0.1, "weight_decay": 0.3, "mask": mask}
        )
        with jax.enable_x64(True):
            params = _params(jax.random.key(1), jnp.float64)
            _trajectory_pair_check(self.variant, case, params, jnp.float64, steps=3)

    @chex.variants(with_jit=True, without_jit=True)
    def test_extra_args_inside_optax_chain(self):
        # A chain called with extra arguments, as a line search's chain is: with a clip
        # in front, the chain of each jaxgd optimizer equals the chain of optax's.
        # (optax.chain wraps links that are not optax.GradientTransformationExtraArgs,
        # jaxgd's included, in with_extra_args_support, which drops the extras.)
        params = {"w": jax.random.normal(jax.random.key(9), (3, 2))}  # one leaf: fewer ops
        extra = {"value": jnp.array(1.0), "foo": 2}
        for name in FACTORIES:
            case = Case(name, "in_chain", {"learning_rate": 0.01})
            ours = optax.chain(optax.clip(1.0), case.build("jaxgd"))
            theirs = optax.chain(optax.clip(1.0), case.build("optax"))
            our_update = self.variant(lambda g, s, p, o=ours: o.update(g, s, p, **extra))
            their_update = self.variant(lambda g, s, p, o=theirs: o.update(g, s, p, **extra))
            s, t = ours.init(params), theirs.init(params)
            for i in range(2):
                u, s = our_update(_grads(i, params), s, params)
                v, t = their_update(_grads(i, params), t, params)
                _assert_trees_equal(u, v, jnp.float32, f"{name} in a chain, step {i}")


@pytest.mark.parametrize("name", FACTORIES)
def test_extra_args_are_accepted_and_ignored(name):
    # optax's GradientTransformationExtraArgs: update(u, s, p, **extra_args) ignores
    # what it does not use. learning_rate= shares a hyperparameter's name and is
    # ignored too (the hyperparameters are positional-only).
    params = _params(jax.random.key(8), jnp.float32)
    opt = getattr(optim, name)(0.01)
    plain = with_extra = opt.init(params)
    for i in range(2):
        grads = _grads(i, params)
        u, plain = opt.update(grads, plain, params)
        v, with_extra = opt.update(
            grads, with_extra, params, value=jnp.array(1.0), foo=2, learning_rate=123.0
        )
        chex.assert_trees_all_equal(v, u, strict=True)
        chex.assert_trees_all_equal(with_extra, plain, strict=True)


def test_complex_cases_cover_every_optimizer_and_the_abs_sq_branches():
    covered = {case.optimizer for case in _COMPLEX_CASES}
    assert covered == set(FACTORIES)
    rmsprop = [case.kwargs for case in _COMPLEX_CASES if case.optimizer == "rmsprop"]
    for eps_in_sqrt in (True, False):  # both centered denominators n - abs_sq(m)
        assert any(k.get("centered") and k.get("eps_in_sqrt", True) == eps_in_sqrt for k in rmsprop)
    assert any(not k.get("centered") and k.get("eps_in_sqrt") is False for k in rmsprop)
    assert any(k.get("bias_correction") for k in rmsprop)
    assert any(k.get("nesterov") for k in rmsprop)
    assert any(c.kwargs.get("nesterov") for c in _COMPLEX_CASES if c.optimizer == "adam")
    assert any(c.optimizer == "adamw" and c.kwargs.get("weight_decay") for c in _COMPLEX_CASES)


@pytest.mark.parametrize("name", sorted(_ABS_SQ_OPTIMIZERS))
def test_complex_second_moment_is_the_squared_magnitude(name):
    # The value itself, not only agreement with optax: ν after one step from ν_0 = 0
    # is (1 - β)·|g|², real (a complex dtype with zero imaginary part).
    g = jnp.array([3.0 + 4.0j, 1.0j], jnp.complex64)
    opt = getattr(optim, name)(0.1)
    _, state = opt.update(g, opt.init(jnp.zeros_like(g)), jnp.zeros_like(g))
    moment = state.sum_of_squares if name == "adagrad" else state.nu
    start = 0.1 if name == "adagrad" else 0.0  # adagrad's initial_accumulator_value
    weight = {"adagrad": 1.0, "rmsprop": 1 - 0.9}.get(name, 1 - 0.999)
    chex.assert_type(moment, jnp.complex64)
    chex.assert_trees_all_close(
        moment, jnp.array([start + weight * 25.0, start + weight * 1.0], jnp.complex64), rtol=1e-6
    )


@pytest.mark.parametrize("name", FACTORIES)
def test_extra_args_keep_the_optimizer_a_pytree_of_its_hyperparameters(name):
    # The update accepts **extra_args, yet the optimizer's leaves are still exactly
    # its numeric hyperparameters (what jaxgd.fit and sweep trace), and an update
    # rebuilt from the leaves accepts extra arguments too.
    opt = getattr(optim, name)(0.01)
    leaves, treedef = jax.tree.flatten(opt)
    assert all(not callable(leaf) for leaf in leaves)
    assert 0.01 in leaves
    rebuilt = treedef.unflatten(leaves)
    params = jnp.ones(3)
    state = rebuilt.init(params)
    with_extra, _ = rebuilt.update(jnp.full(3, 0.5), state, params, value=jnp.array(1.0), foo=2)
    without, _ = opt.update(jnp.full(3, 0.5), state, params)
    chex.assert_trees_all_equal(with_extra, without)


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
    assert len({case.label for case in ALL_CASES}) == len(ALL_CASES)
    schedule_cases = {c.optimizer for c in CASES if c.schedule is not None}
    assert len(schedule_cases) >= 2


def test_sgd_accumulator_dtype_is_kept_in_state():
    params = _params(jax.random.key(2), jnp.float32)
    opt = _case("sgd/momentum_bf16").build("jaxgd")
    _, state = opt.update(_grads(0, params), opt.init(params), params)
    chex.assert_trees_all_equal_shapes(state.trace, params)
    chex.assert_type(jax.tree.leaves(state.trace), [jnp.bfloat16] * 3)


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
    chex.assert_shape(batched, (len(values[0]), 3))
    chex.assert_type(batched, jnp.float64)
    for i in range(len(values[0])):
        single = run(*(a[i] for a in arrays))
        chex.assert_trees_all_close(
            batched[i], single, rtol=1e-12, atol=0, custom_message=f"run {i}"
        )
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
    chex.assert_trees_all_close(updates, jnp.array([-0.5]))


def _hyperparameter_of_each_leaf(opt):
    """``(init or update, the hyperparameter's name)`` for each leaf, read from its key path."""
    named = []
    for path, _ in jax.tree_util.tree_flatten_with_path(opt)[0]:
        # GradientTransformation field, Partial's arguments, the one argument, its field.
        function, _, argument, field, *_ = path
        assert argument == jax.tree_util.SequenceKey(0), jax.tree_util.keystr(path)
        assert isinstance(field, jax.tree_util.GetAttrKey), jax.tree_util.keystr(path)
        named.append((function.name, field.name))
    return named


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.label for case in ALL_CASES])
def test_leaves_are_named_by_their_hyperparameters(case):
    # Each leaf's key path ends in the NamedTuple field it belongs to: one of the
    # factory's arguments, 1 - an argument (computed once), or init's "counted"
    # (whether the state keeps an update counter).
    params = _params(jax.random.key(0), jnp.float32)
    opt = case.build("jaxgd", params)
    arguments = set(inspect.signature(getattr(optim, case.optimizer)).parameters)
    allowed = arguments | {f"one_minus_{a}" for a in arguments} | {"counted"}
    named = _hyperparameter_of_each_leaf(opt)
    assert {function for function, _ in named} <= {"init", "update"}
    assert {name for _, name in named} <= allowed, case.label
    no_learning_rate = opt.update.args[0].learning_rate is None  # adadelta's default
    assert (("update", "learning_rate") in named) != no_learning_rate, case.label
    for path, leaf in jax.tree_util.tree_flatten_with_path(opt)[0]:
        field = path[3].name
        given = case.kwargs.get(field)
        if len(path) == 4 and isinstance(given, float):
            assert leaf == given, jax.tree_util.keystr(path)  # the leaf is the argument


@pytest.mark.parametrize("name", FACTORIES)
def test_a_new_learning_rate_keeps_the_tree_structure(name):
    # What lets jaxgd.fit reuse its compiled program: only the leaf changes.
    opt, other = getattr(optim, name)(0.01), getattr(optim, name)(0.5)
    assert jax.tree.structure(opt) == jax.tree.structure(other)
    learning_rates = [
        leaf
        for path, leaf in jax.tree_util.tree_flatten_with_path(other)[0]
        if jax.tree_util.keystr(path).endswith(".learning_rate")
    ]
    assert learning_rates == [0.5]
    dynamic, static = _static.split(opt)
    assert _static.split(other)[1] == static
    rebuilt = _static.merge([0.5 if leaf == 0.01 else leaf for leaf in dynamic], static)
    params = jnp.ones(3)
    u, _ = rebuilt.update(jnp.full(3, 0.5), rebuilt.init(params), params)
    v, _ = other.update(jnp.full(3, 0.5), other.init(params), params)
    chex.assert_trees_all_equal(u, v)


def test_the_key_paths_read_as_the_hyperparameters_names():
    opt = optim.sgd(0.1, momentum=0.9)
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(opt)[0]]
    assert [p.rsplit(".", 1)[-1] for p in paths] == [
        "momentum",
        "counted",
        "learning_rate",
        "momentum",
        "nesterov",
    ]
    assert paths[2].startswith(".update")
    assert isinstance(opt.update.args[0], optim.SgdHyperparams)
    sched = schedules.linear_schedule(0.1, 0.01, 100)  # a schedule's leaves sit under its name
    named = _hyperparameter_of_each_leaf(optim.adam(sched))
    assert named[:6] == [("update", "learning_rate")] * 6  # I, E, P, T, B and I - E


def test_traced_hyperparameters_are_not_checked():
    params = jnp.ones(2)

    @jax.jit
    def step(lr, b1):
        opt = optim.adam(lr, b1=b1)  # would raise if checked: lr < 0, b1 > 1
        return opt.update(params, opt.init(params))[0]

    chex.assert_shape(step(-0.1, 1.5), (2,))


# ----------------------------------------------------------------------------- dtypes, zeros, chain


_NO_DECAY = [c for c in CASES if not c.has_weight_decay]


@pytest.mark.parametrize("case", _NO_DECAY, ids=[c.label for c in _NO_DECAY])
def test_zero_gradients_give_zero_updates(case):
    params = _params(jax.random.key(5), jnp.float32)
    opt = case.build("jaxgd", params)
    updates, _ = opt.update(jax.tree.map(jnp.zeros_like, params), opt.init(params), params)
    zeros = jax.tree.map(jnp.zeros_like, params)
    chex.assert_trees_all_equal(updates, zeros, strict=True, custom_message=case.label)


def test_zero_gradients_with_weight_decay_only_decay():
    params = {"w": jnp.array([[2.0]]), "b": jnp.array([2.0])}
    for opt in (optim.adamw(0.1, weight_decay=0.5), optim.lion(0.1, weight_decay=0.5)):
        updates, _ = opt.update(jax.tree.map(jnp.zeros_like, params), opt.init(params), params)
        chex.assert_trees_all_close(updates["w"], jnp.array([[-0.1]]), rtol=1e-6)


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
    chex.assert_trees_all_equal(descent, -updates)


@pytest.mark.parametrize("name", ["adamw", "lion", "adadelta"])
def test_weight_decay_needs_params(name):
    opt = getattr(optim, name)(0.1)
    with pytest.raises(ValueError, match="params"):
        opt.update(jnp.ones(2), opt.init(jnp.ones(2)))


# Argument checks (types, None, ranges, arrays, tracers, schedules): tests/test_optim_inputs.py.
