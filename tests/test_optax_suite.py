"""optax 0.2.8's own tests, run with jaxgd's optimizers and schedules swapped in.

optax's test files ship inside its wheel. The plugin ``tests/optax_suite/swap_plugin.py``
replaces optax's nine optimizers (``sgd adagrad rmsprop adam adamw adamax nadam adadelta
lion``) and fourteen schedules, wherever optax's modules hold them, by jaxgd's functions
of the same name, before collection, and records which swapped names each test touched:
only those tests are "relevant". This module runs a chosen part of optax's suite with
the swap in a subprocess (from a temporary folder, with an empty pytest config, so
neither this project's settings nor its conftest apply) and asserts:

* no test fails except the entries of :data:`ALLOWED_FAILURES`, each a documented
  structural difference, or a failure optax has without the swap too;
* at least :data:`MIN_RELEVANT_PASSED` relevant cases pass, and each swapped name (but
  :data:`NOT_IN_SELECTION`) is touched by a passing test: the swap really took place.

What runs (:data:`OPTAX_TEST_FILES`, ``-k`` :data:`DESELECT`), chosen to fit well under a
minute on two cores: the alias tests (10,000-step convergence on float32 and complex64
problems, without recompiling; extra ``update`` keyword arguments; ``inject_hyperparams``
equality; explicit and preserved dtypes; ``MultiSteps``), all schedule tests (values
compared with numbers written in the tests; a constant schedule against a constant
rate), and small files that put the optimizers in chains, masks, ``apply_if_finite``,
``schedule_free`` and state utilities. The plugin's ``--jaxgd-swap-select=likely``
deselects, at collection, tests that visibly touch no swapped name; that also drops the
cases that reach a swapped name only inside optax's own code (``polyak_sgd`` -> ``sgd``).

Left out, all passing (or skipping as under optax) in the full run: ``alias_test.py``'s
``test_state_shape_dtype_shard_stability`` (dtype stability under ``lax.cond``, 64
relevant cases, ~25 s), ``_src/linesearch_test.py`` (``sgd`` chained with line searches,
196 cases, ~29 s), ``contrib/_common_test.py`` (contrib wrappers around the optimizers,
206 cases, ~65 s), ``contrib/_sam_test.py`` and ``experimental/_aggregating_test.py``
(~9 s), ``_src/transform_test.py`` (one case); ``_src/lookahead_test.py`` and
``contrib/_complex_valued_test.py`` have none (the names occur, no test uses them).
``transforms/_accumulation_test.py`` cannot run here: it needs flax, not installed (it
subclasses ``flax.linen.Module`` at import). ``JAXGD_OPTAX_SUITE=full`` runs all 22 files
without deselection (:data:`FULL_FILES`, about 9 minutes). The plugin's options
``--jaxgd-swap=record`` (optax's own baseline, with the same records) and
``--jaxgd-swap-report`` give the per-test details.

Structural differences the run is configured around, not counted as failures:

* optax's tests decide whether an optimizer accepts a schedule by comparing its
  ``learning_rate`` annotation with ``optax.ScalarOrSchedule``, and skip otherwise;
  jaxgd annotates with its own ``ScalarOrSchedule`` (a string, under postponed
  annotations), so 20 cases skip (9 of them here). ``--jaxgd-swap-annotations=optax``
  gives the swapped functions optax's annotations (with jaxgd's names and defaults), so
  the cases run and compare a constant schedule with a constant rate on jaxgd's code.
* optax's ``alias_test.py`` imports scikit-learn (not installed) for four L-BFGS tests;
  the plugin stubs it and those tests, which touch no swapped name, skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

optax = pytest.importorskip("optax")

OPTAX_VERSION = "0.2.8"
PLUGIN_DIR = Path(__file__).resolve().parent / "optax_suite"
REPO_ROOT = Path(__file__).resolve().parent.parent
OPTAX_DIR = Path(optax.__file__).resolve().parent

OPTAX_TEST_FILES = (
    "_src/alias_test.py",
    "schedules/_schedule_test.py",
    "schedules/_join_test.py",
    "schedules/_inject_test.py",
    "_src/combine_test.py",
    "_src/float64_test.py",
    "_src/sharding_test.py",
    "transforms/_combining_test.py",
    "transforms/_conditionality_test.py",
    "transforms/_freezing_test.py",
    "transforms/_layouts_test.py",
    "transforms/_masking_test.py",
    "transforms/_monitoring_test.py",
    "tree_utils/_state_utils_test.py",
    "contrib/_schedule_free_test.py",
)
DESELECT = "not test_state_shape_dtype_shard_stability"
# JAXGD_OPTAX_SUITE=full runs every optax test file that uses a swapped name, with no
# deselection (about 9 minutes on two cores; the allow-list is the same).
FULL_FILES = (
    *OPTAX_TEST_FILES,
    "_src/linesearch_test.py",
    "_src/lookahead_test.py",
    "_src/transform_test.py",
    "contrib/_common_test.py",
    "contrib/_complex_valued_test.py",
    "contrib/_sam_test.py",
    "experimental/_aggregating_test.py",
)

_STATE_LAYOUT = (
    "state layout: optax's optimizer state is a tuple of per-transform states "
    "(e.g. (ScaleByAdamState, EmptyState), indexed as state[0].mu); jaxgd's is one "
    "NamedTuple (AdamState). Structural: the test checks the state's structure, not updates."
)
ALLOWED_FAILURES = {
    "optax/tree_utils/_state_utils_test.py::StateUtilsTest::test_adam": _STATE_LAYOUT
    + " The test compares tree_map_params's result with optax's state classes.",
    "optax/tree_utils/_state_utils_test.py::StateUtilsTest::test_map_params_to_none": (
        _STATE_LAYOUT + " Compares with (ScaleByRssState(...), EmptyState())."
    ),
    "optax/tree_utils/_state_utils_test.py::StateUtilsTest::test_map_non_params_to_none": (
        _STATE_LAYOUT + " Compares with (ScaleByAdamState(...), EmptyState())."
    ),
    "optax/tree_utils/_state_utils_test.py::StateUtilsTest::test_inject_hparams": (
        _STATE_LAYOUT + " Reads inject_hyperparams(adamw) state's inner_state[0].mu."
    ),
    "optax/transforms/_masking_test.py::MaskedTest::test_masked_state_structure": (
        _STATE_LAYOUT + " Reads masked(sgd(momentum=0.0)) state's inner_state[0].trace."
    ),
    "optax/transforms/_freezing_test.py::SelectiveTransformTest::test_selective_bad_structure": (
        "fails without the swap too: the test expects jax's old error text 'Dict key "
        "mismatch'; jax 0.10 words the pytree-structure error differently"
    ),
    "optax/transforms/_freezing_test.py::FreezeTest::test_bad_structure_raises": (
        "fails without the swap too (same jax error text); touches no swapped name"
    ),
}
# Measured (optax 0.2.8, jax 0.10.2, CPU): 352 cases run, 337 relevant: 309 passed, 6 failed
# (all allowed), 22 skipped (18 need several devices, 4 are skipped by optax itself too);
# about 40 s on two cores. The full run of all 22 files that use the names: 820 relevant.
MIN_RELEVANT_PASSED = 309
# Full run, measured: 1,766 cases, 820 relevant: 792 passed, 6 failed (all allowed), 22 skipped.
MIN_RELEVANT_PASSED_FULL = 792
TIMEOUT_S = 300
TIMEOUT_S_FULL = 1800


def _plugin() -> Any:
    """The swap plugin as a module (importing it patches nothing: its hooks do)."""
    spec = importlib.util.spec_from_file_location("swap_plugin", PLUGIN_DIR / "swap_plugin.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SWAPPED = _plugin().SWAPPED
"""optax's nine optimizers and fourteen schedules, as the plugin swaps them."""
# Names no passing test of this selection touches: optax 0.2.8's tests never use the first;
# the second only inside contrib's schedule_free optimizers (contrib/_common_test.py, left
# out). jaxgd's tests/test_schedules.py compares both with optax.
NOT_IN_SELECTION = {"warmup_exponential_decay_schedule", "warmup_constant_schedule"}


def _run_optax_suite(folder: Path, full: bool) -> tuple[dict, subprocess.CompletedProcess]:
    config = folder / "pytest.ini"
    config.write_text("[pytest]\n")
    report = folder / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PLUGIN_DIR), str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    env["JAX_PLATFORMS"] = "cpu"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(config),
        "--rootdir",
        str(OPTAX_DIR.parent),
        "-p",
        "no:cacheprovider",
        "-p",
        "swap_plugin",
        "--jaxgd-swap=jaxgd",
        "--jaxgd-swap-annotations=optax",
        f"--jaxgd-swap-report={report}",
        "-q",
        *(() if full else ("--jaxgd-swap-select=likely", "-k", DESELECT)),
        *(str(OPTAX_DIR / f) for f in (FULL_FILES if full else OPTAX_TEST_FILES)),
    ]
    done = subprocess.run(
        command,
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S_FULL if full else TIMEOUT_S,
    )
    assert done.returncode in (0, 1), (
        f"pytest exited {done.returncode} (not 'passed' or 'some failed'):\n"
        f"{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    )
    return json.loads(report.read_text()), done


def optax_suite(folder: Path, result) -> tuple[dict, subprocess.CompletedProcess] | None:
    """The chosen part of optax's suite, run with the swap: a background job (see
    tests/conftest.py), started with the session; the test below asserts on its report."""
    if optax.__version__ != OPTAX_VERSION:
        return None  # the test skips
    full = os.environ.get("JAXGD_OPTAX_SUITE") == "full"
    if not all((OPTAX_DIR / name).is_file() for name in (FULL_FILES if full else OPTAX_TEST_FILES)):
        return None  # the test names the missing file
    return _run_optax_suite(folder, full)


@pytest.mark.slow
@pytest.mark.background.with_args(optax_suite)
def test_optax_suite_passes_with_jaxgd_swapped_in(background):
    if optax.__version__ != OPTAX_VERSION:
        pytest.skip(f"the allow-list and counts are for optax {OPTAX_VERSION}")
    full = os.environ.get("JAXGD_OPTAX_SUITE") == "full"
    for name in FULL_FILES if full else OPTAX_TEST_FILES:
        assert (OPTAX_DIR / name).is_file(), f"optax's wheel lacks {name}"

    report, done = background(optax_suite)
    tests = report["tests"]
    relevant = {k: v for k, v in tests.items() if v["touched"]}
    failed = {k: v for k, v in tests.items() if v["outcome"] == "failed"}

    unexpected = {k: v for k, v in failed.items() if k not in ALLOWED_FAILURES}
    assert not unexpected, "optax tests fail with jaxgd swapped in:\n" + "\n\n".join(
        f"{k} (touched {sorted(v['touched'])}):\n{v.get('traceback_tail', v.get('message'))}"
        for k, v in unexpected.items()
    )

    passed = [k for k, v in relevant.items() if v["outcome"] == "passed"]
    skipped = [k for k, v in relevant.items() if v["outcome"] == "skipped"]
    print(
        f"optax suite with jaxgd: {len(tests)} run, {len(relevant)} relevant: {len(passed)} "
        f"passed, {len([k for k in failed if k in relevant])} failed (allowed), "
        f"{len(skipped)} skipped"
    )
    minimum = MIN_RELEVANT_PASSED_FULL if full else MIN_RELEVANT_PASSED
    assert len(passed) >= minimum, (
        f"only {len(passed)} relevant cases passed (want >= {minimum}); "
        f"{len(relevant)} relevant of {len(tests)} run\n{done.stdout[-3000:]}"
    )

    exercised = {name for k in passed for name in relevant[k]["touched"]}
    not_touched = {"warmup_exponential_decay_schedule"} if full else NOT_IN_SELECTION
    missing = set(SWAPPED) - not_touched - exercised
    assert not missing, f"swapped names that no passing test touched: {sorted(missing)}"
    patched = set(report["patched"])
    for attribute in ("optax.adam", "optax._src.alias.sgd", "optax.schedules._join.join_schedules"):
        assert attribute in patched
