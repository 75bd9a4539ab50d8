"""The public face: what `import jaxgd` exposes, and that importing it is cheap."""

import subprocess
import sys

import jaxgd


def test_every_public_name_resolves_after_a_bare_import():
    for name in jaxgd.__all__:
        assert getattr(jaxgd, name) is not None, name
    assert set(dir(jaxgd)) >= set(jaxgd.__all__)
    for module in ("schedules", "plots", "optim", "sweeps", "train", "crosscheck"):
        assert module in jaxgd.__all__
    assert jaxgd.log_uniform is jaxgd.sweeps.log_uniform
    assert jaxgd.fit is jaxgd.train.fit and jaxgd.sweep is jaxgd.sweeps.sweep


def test_an_unknown_name_is_an_attribute_error():
    try:
        jaxgd.not_a_name  # noqa: B018
    except AttributeError as error:
        assert "not_a_name" in str(error)
    else:
        raise AssertionError("jaxgd.not_a_name did not raise")


def test_import_jaxgd_does_not_import_jax_until_it_is_used():
    code = (
        "import sys, jaxgd; print('jax' in sys.modules); "
        "jaxgd.schedules; print('jax' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["False", "True"], done.stderr


def test_fit_and_sweep_take_every_loop_option_with_the_same_default():
    import dataclasses
    import inspect

    from jaxgd._engine.plan import LoopOptions

    for function in (jaxgd.fit, jaxgd.sweep):
        parameters = inspect.signature(function).parameters
        for field in dataclasses.fields(LoopOptions):
            assert parameters[field.name].kind is inspect.Parameter.KEYWORD_ONLY
            assert parameters[field.name].default == field.default, (function, field.name)
