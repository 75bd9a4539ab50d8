"""Cross-check optimizers: run two from the same start and measure how far apart they drift.

Three layers:

* :func:`compare` runs any two gradient transformations (jaxgd's, optax's,
  your own) side by side on a problem, compiled as one ``lax.scan``, and
  returns per-step and overall distances between their parameters: max
  absolute and relative differences, max distance in ULPs (units in the last
  place) and the first step at which they differ at all.
* :data:`CASES` is the table of jaxgd optimizers × settings, each with its
  optax twin; :func:`run_table` runs it on the built-in problems and judges
  each row against :data:`TOLERANCES` (:data:`TRACED_TOLERANCES` when the
  hyperparameters are passed as arguments, as ``jaxgd.fit`` does). The test
  suite imports the same table.
* :func:`run_from_args` runs the ``jaxgd crosscheck`` command (its options are
  defined in :mod:`jaxgd._commands.crosscheck`).

How a jaxgd state corresponds to an optax state is documented (and computed)
in one place, :func:`optax_state_fields`.

The code lives in private modules, each importing only those above it:
``_distances`` (ULP and relative distances), ``_compare`` (the engine),
``_states`` (optax's state fields), ``_twins`` (the table of cases), ``_run``
(tolerances and the table runner), ``_table`` (text and JSON) and ``_cli``.

Example:
  >>> import optax
  >>> from jaxgd import optim, problems
  >>> result = compare(optax.adam(1e-2), optim.adam(1e-2), problems.rosenbrock(), steps=50)
  >>> result.max_ulp, result.first_diff_step
  (0, None)
"""

from jaxgd._catalog import DTYPES, parse_optimizers
from jaxgd.crosscheck._cli import run_from_args
from jaxgd.crosscheck._compare import Comparison, compare, compare_many
from jaxgd.crosscheck._distances import tree_stats, ulp_distance
from jaxgd.crosscheck._run import (
    TOLERANCES,
    TRACED_TOLERANCES,
    Row,
    Tolerance,
    builtin_problems,
    run_table,
    tolerance_for,
)
from jaxgd.crosscheck._states import matching_state_fields, optax_state_fields, state_stats
from jaxgd.crosscheck._table import format_table, rows_to_json
from jaxgd.crosscheck._twins import (
    CASES,
    OPTIMIZERS,
    Case,
    Library,
    ScheduleSpec,
    build_schedule,
    decay_matrices,
)

__all__ = [
    "CASES",
    "DTYPES",
    "OPTIMIZERS",
    "TOLERANCES",
    "TRACED_TOLERANCES",
    "Case",
    "Comparison",
    "Library",
    "Row",
    "ScheduleSpec",
    "Tolerance",
    "build_schedule",
    "builtin_problems",
    "compare",
    "compare_many",
    "decay_matrices",
    "format_table",
    "matching_state_fields",
    "optax_state_fields",
    "parse_optimizers",
    "rows_to_json",
    "run_from_args",
    "run_table",
    "state_stats",
    "tolerance_for",
    "tree_stats",
    "ulp_distance",
]
