"""Other libraries driving jaxgd, each behind an optional extra.

``jaxgd.integrations.optuna``
    :func:`~jaxgd.integrations.optuna.optimize`: an Optuna study's sampler proposes
    trials, a batch at a time, and one :func:`jaxgd.sweep` trains each batch as lanes of
    one compiled program (``pip install 'jaxgd[optuna]'``).

This package imports none of them: a submodule is imported on first use
(``jaxgd.integrations.optuna``), and only then is its library needed, so
``import jaxgd.integrations`` works without any extra installed.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_SUBMODULES = ("optuna",)

__all__ = list(_SUBMODULES)


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
