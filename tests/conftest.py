"""Shared test settings and fixtures.

Tests run in float32 (JAX's default) unless they ask for the ``x64`` fixture,
which turns on ``jax_enable_x64`` for that test only. Rank promotion raises,
so a shape slip such as ``[m, 1] - [m]`` fails loudly instead of broadcasting.
"""

from __future__ import annotations

import jax
import matplotlib
import pytest

matplotlib.use("Agg")
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def x64():
    """Run the test with 64-bit floats enabled (float64 arrays by default)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def key():
    return jax.random.key(0)
