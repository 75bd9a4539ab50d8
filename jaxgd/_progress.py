"""A progress bar on stderr for long work (sweeps, searches), or none."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def progress_bar(total: int | None, desc: str, unit: str) -> Iterator[Any]:
    """A tqdm bar over ``total`` ``unit``s on stderr (``total=None``: no bar, ``None``)."""
    if total is None:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr)
    try:
        yield bar
    finally:
        bar.close()
