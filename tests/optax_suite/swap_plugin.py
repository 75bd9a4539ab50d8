"""pytest plugin: run optax's own tests with jaxgd's optimizers and schedules swapped in.

Load it with ``python -m pytest -p swap_plugin OPTAX_TEST_FILES`` (this folder on
``PYTHONPATH``). Before collection it replaces, on every loaded ``optax`` module,
each attribute that *is* one of optax's nine optimizers or fourteen schedules
(``optax.sgd``, ``optax._src.alias.sgd``, ``optax.schedules._schedule.linear_schedule``,
``optax.constant_schedule``, ...) by a thin wrapper around jaxgd's function of the
same name. Test modules bind modules, not functions (``from optax._src import alias``,
then ``alias.adam(...)``), and parameterized decorators run when a test module is
imported, after the swap, so optax's tests get jaxgd's functions. optax's own code
that calls a swapped name (``polyak_sgd`` builds on ``sgd``, ``schedule_free_sgd`` on
``sgd``) gets jaxgd's too, as a drop-in replacement would.

What each test touched is recorded, per swapped name, with one or more tags:

* ``direct``: the test called it (or an optax helper the test handed it to, such as
  ``inject_hyperparams``);
* ``internal``: optax library code called it on its own (``polyak_sgd`` -> ``sgd``);
* ``collection``: the test's parameters hold an object a swapped function made when
  the test module was imported (``sharding_test.py`` builds its optimizers at module
  level), or hold the swapped function itself;
* ``lookup``: the test read the name from a swapped module (``getattr(alias, "sgd")``)
  without necessarily calling it (a test that inspects the signature and skips).

A test with no record did not exercise jaxgd and is not "relevant".

Options:
  ``--jaxgd-swap=jaxgd`` (default) swap in jaxgd; ``--jaxgd-swap=record`` wrap optax's
  own functions instead: records the same things, changes nothing (the baseline).
  ``--jaxgd-swap-annotations=optax``: give each swapped function optax's parameter
  annotations (jaxgd's signature otherwise: names, order and defaults stay jaxgd's).
  optax's tests decide whether an optimizer takes a schedule with
  ``signature(f).parameters["learning_rate"].annotation in (optax.ScalarOrSchedule, ...)``
  and skip when it does not; jaxgd's annotation is its own ``ScalarOrSchedule`` (a
  string, under ``from __future__ import annotations``), so without this option
  those tests skip instead of comparing a constant schedule with a constant rate.
  ``--jaxgd-swap-select=likely``: deselect, at collection, tests that can be seen
  not to touch a swapped name (their parameters hold no swapped name, function or
  object, and neither their code nor the test module's helpers they name or hold
  mention one). Used to keep the repeatable run short; the record above still
  decides relevance among the tests that run.
  ``--jaxgd-swap-report=PATH``: write a JSON report: per test, outcome, seconds, the
  names touched with their tags, and for failures the message and traceback's tail.

If scikit-learn is not installed (optax's ``alias_test.py`` imports it at module level
for four L-BFGS tests that touch no swapped name), a stub ``sklearn`` is put in
``sys.modules`` whose attributes raise ``unittest.SkipTest``: the module imports and
only those tests skip.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import json
import sys
import types
import unittest
from pathlib import Path
from typing import Any

import pytest

OPTIMIZERS = (
    "sgd",
    "adagrad",
    "rmsprop",
    "adam",
    "adamw",
    "adamax",
    "nadam",
    "adadelta",
    "lion",
)
SCHEDULES = (
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "exponential_decay",
    "join_schedules",
    "linear_onecycle_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
)
SWAPPED = frozenset(OPTIMIZERS + SCHEDULES)

# optax library modules that call a swapped name on their own (not one a test passed in).
_INTERNAL_CALLERS = frozenset(
    {
        "optax._src.alias",
        "optax.schedules._schedule",
        "optax.schedules._join",
        "optax.contrib._schedule_free",
        "optax.contrib._mechanic",
        "optax.contrib._muon",
        "optax.contrib._sam",
    }
)

_in_test = False
_touched: dict[str, set[str]] = {}  # name -> tags, for the running test
_collection_calls: dict[str, set[str]] = {}  # calls made while test modules were imported
_made_at_collection: dict[int, tuple[str, Any]] = {}  # id -> (name, object made then)
_patched: list[tuple[types.ModuleType, str, Any]] = []
_retyped: list[tuple[types.ModuleType, type]] = []
_current: dict[str, Any] = {}  # the running test's entry
_results: dict[str, dict[str, Any]] = {}  # "optax/<file>::<class>::<test>" -> entry


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("jaxgd-swap")
    group.addoption("--jaxgd-swap", choices=("jaxgd", "record"), default="jaxgd")
    group.addoption("--jaxgd-swap-annotations", choices=("jaxgd", "optax"), default="jaxgd")
    group.addoption("--jaxgd-swap-select", choices=("all", "likely"), default="all")
    group.addoption("--jaxgd-swap-report", default=None, help="write a JSON report here")


# --------------------------------------------------------------------------- the swap


def _touch(name: str, tag: str) -> None:
    (_touched if _in_test else _collection_calls).setdefault(name, set()).add(tag)


def _wrap(name: str, target: Any, annotations_from: Any | None) -> Any:
    @functools.wraps(target)  # keeps the signature: inject_hyperparams reads it
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        _touch(name, "internal" if caller in _INTERNAL_CALLERS else "direct")  # before: may raise
        result = target(*args, **kwargs)
        if not _in_test:  # made while a test module is imported: find it in tests' parameters
            _made_at_collection[id(result)] = (name, result)
        return result

    if annotations_from is not None:
        theirs = inspect.signature(annotations_from).parameters
        ours = inspect.signature(target)
        wrapper.__signature__ = ours.replace(
            parameters=[
                p.replace(annotation=theirs[p.name].annotation) if p.name in theirs else p
                for p in ours.parameters.values()
            ],
            return_annotation=inspect.signature(annotations_from).return_annotation,
        )
    wrapper.__jaxgd_swapped__ = name
    return wrapper


def _is_wrapper(obj: Any) -> bool:
    return isinstance(obj, types.FunctionType) and hasattr(obj, "__jaxgd_swapped__")


class _LookupRecordingModule(types.ModuleType):
    """A module class that records reads of a swapped name during a test."""

    def __getattribute__(self, attr: str) -> Any:
        value = super().__getattribute__(attr)
        if _in_test and attr in SWAPPED and _is_wrapper(value):
            _touched.setdefault(attr, set()).add("lookup")
        return value


def _swap(mode: str, annotations: str) -> None:
    import optax
    import optax._src.alias
    import optax._src.schedule
    import optax.schedules._join
    import optax.schedules._schedule

    import jaxgd.optim
    import jaxgd.schedules

    wrappers: dict[int, Any] = {}  # id(optax's function) -> its wrapper
    for names, optax_module, jaxgd_module in (
        (OPTIMIZERS, optax._src.alias, jaxgd.optim),
        (SCHEDULES, optax.schedules, jaxgd.schedules),
    ):
        for name in names:
            original = getattr(optax_module, name)
            if mode == "jaxgd":
                target = getattr(jaxgd_module, name)
                from_optax = original if annotations == "optax" else None
            else:
                target, from_optax = original, None
            wrappers[id(original)] = _wrap(name, target, from_optax)
    assert len(wrappers) == len(SWAPPED)

    for module in list(sys.modules.values()):
        modname = getattr(module, "__name__", None)
        if not isinstance(module, types.ModuleType) or not isinstance(modname, str):
            continue
        if modname != "optax" and not modname.startswith("optax."):
            continue
        hit = False
        for attr, value in list(vars(module).items()):
            wrapper = wrappers.get(id(value))
            if wrapper is not None and attr == wrapper.__jaxgd_swapped__:
                _patched.append((module, attr, value))
                setattr(module, attr, wrapper)
                hit = True
        if hit and type(module) is types.ModuleType:
            _retyped.append((module, type(module)))
            module.__class__ = _LookupRecordingModule


def _install_sklearn_stub() -> None:
    if importlib.util.find_spec("sklearn") is not None:
        return

    def _missing(attr: str) -> Any:
        raise unittest.SkipTest(f"scikit-learn is not installed (sklearn.*.{attr})")

    root = types.ModuleType("sklearn")
    for sub in ("datasets", "linear_model"):
        module = types.ModuleType(f"sklearn.{sub}")
        module.__getattr__ = _missing  # PEP 562: reading any attribute skips the test
        setattr(root, sub, module)
        sys.modules[f"sklearn.{sub}"] = module
    sys.modules["sklearn"] = root


def pytest_configure(config: pytest.Config) -> None:
    _install_sklearn_stub()
    _swap(config.getoption("--jaxgd-swap"), config.getoption("--jaxgd-swap-annotations"))


def pytest_unconfigure(config: pytest.Config) -> None:
    for module, attr, value in reversed(_patched):
        setattr(module, attr, value)
    for module, cls in _retyped:
        module.__class__ = cls
    _patched.clear()
    _retyped.clear()


# ------------------------------------------------------------ what a test holds or names


def _objects_held_by(function: Any, depth: int = 3) -> list[Any]:
    """A test function, what its closure holds (absl keeps a case's parameters there),
    the items of those containers, and what ``__wrapped__`` functions hold."""
    found: list[Any] = []
    todo = [(function, 0)]
    while todo:
        obj, level = todo.pop()
        found.append(obj)
        if level >= depth:
            continue
        if isinstance(obj, (tuple, list)):
            children = list(obj)
        elif isinstance(obj, dict):
            children = list(obj.values())
        elif callable(obj):
            func = getattr(obj, "__func__", obj)
            children = [c.cell_contents for c in getattr(func, "__closure__", None) or ()]
            children.append(getattr(func, "__wrapped__", None))
        else:
            children = []
        todo.extend((c, level + 1) for c in children if c is not None)
    return found


def _names_in_code(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_in_code(const)
    return names


def _mentions_swapped(function: types.FunctionType, depth: int = 2) -> bool:
    """Whether a function's code, or a helper function of its module that it names, names a
    swapped function (``alias.sgd`` puts ``sgd`` in ``co_names``)."""
    names = _names_in_code(function.__code__)
    if names & SWAPPED:
        return True
    if depth == 0:
        return False
    helpers = (function.__globals__.get(n) for n in names)
    return any(
        isinstance(h, types.FunctionType) and _mentions_swapped(h, depth - 1) for h in helpers
    )


def _touches_swapped(obj: Any) -> bool:
    obj = getattr(obj, "__func__", obj)  # a bound method's function
    if isinstance(obj, str):
        return obj in SWAPPED  # a parameter such as opt_name="adam"
    if _is_wrapper(obj) or id(obj) in _made_at_collection:
        return True
    return isinstance(obj, types.FunctionType) and _mentions_swapped(obj)


def _may_touch_swapped(item: pytest.Item) -> bool:
    return any(_touches_swapped(obj) for obj in _objects_held_by(getattr(item, "obj", None)))


def _collection_objects_used_by(item: pytest.Item) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for obj in _objects_held_by(getattr(item, "obj", None)):
        made = _made_at_collection.get(id(obj))
        name = made[0] if made is not None and made[1] is obj else None
        name = name or (obj.__jaxgd_swapped__ if _is_wrapper(obj) else None)
        if name is not None:
            used.setdefault(name, set()).add("collection")
    return used


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--jaxgd-swap-select") != "likely":
        return
    kept = {id(item) for item in items if _may_touch_swapped(item)}
    keep = [item for item in items if id(item) in kept]
    drop = [item for item in items if id(item) not in kept]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# ---------------------------------------------------------------------------- recording


def _file_key(item_path: Path) -> str:
    """``optax/_src/alias_test.py`` for a file anywhere under an ``optax`` folder."""
    parts = item_path.parts
    if "optax" in parts:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("optax") :])
    return str(item_path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    global _in_test
    key = _file_key(Path(str(item.path))) + "::" + item.nodeid.split("::", 1)[1]
    _current.clear()
    _current.update({"outcome": "passed", "seconds": 0.0})
    _touched.clear()
    _touched.update(_collection_objects_used_by(item))
    _in_test = True
    try:
        yield
    finally:
        _in_test = False
        _current["touched"] = {k: sorted(v) for k, v in sorted(_touched.items())}
        _results[key] = dict(_current)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _current  # reports arrive inside pytest_runtest_protocol, for its item
    entry["seconds"] = round(entry.get("seconds", 0.0) + report.duration, 3)
    if report.failed:
        entry["outcome"] = "failed"
        entry.setdefault("phase", report.when)
        crash = getattr(report.longrepr, "reprcrash", None)
        entry.setdefault("message", str(getattr(crash, "message", ""))[:2000])
        entry.setdefault("traceback_tail", report.longreprtext[-3000:])
    elif report.skipped and entry["outcome"] == "passed":
        entry["outcome"] = "skipped"
        longrepr = report.longrepr
        entry["message"] = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = session.config.getoption("--jaxgd-swap-report")
    if not path:
        return
    report = {
        "mode": session.config.getoption("--jaxgd-swap"),
        "annotations": session.config.getoption("--jaxgd-swap-annotations"),
        "select": session.config.getoption("--jaxgd-swap-select"),
        "exitstatus": int(exitstatus),
        "patched": sorted({f"{m.__name__}.{a}" for m, a, _ in _patched}),
        "collection_calls": {k: sorted(v) for k, v in sorted(_collection_calls.items())},
        "tests": _results,
    }
    Path(path).write_text(json.dumps(report, indent=1, sort_keys=True))
