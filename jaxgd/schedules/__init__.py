"""Learning-rate schedules: functions ``count -> value`` of the number of updates taken.

Each schedule has optax 0.2.8's name, arguments and values (plus
:func:`inverse_time_schedule`, Géron's ``t0 / (t + t1)``), and is returned as a
:class:`jax.tree_util.Partial` whose arguments are the schedule's numbers. A
schedule is therefore a pytree: inside an optimizer, :func:`jaxgd.fit` passes
its float leaves to the compiled program as arguments, so a new initial value
does not recompile. Integer arguments (step counts) stay static.

Values derived from the arguments (``I - E``, ``1 - a``, ``E/P``) are computed
once, when the schedule is built, in Python's double precision as optax does,
and kept as leaves beside the arguments: that keeps jaxgd's values equal to
optax's even when the leaves enter a compiled program as float32 arguments.
To change a value, build a new schedule (do not edit single leaves). One
exception: :func:`piecewise_interpolate_schedule` (and the one-cycle schedules
built on it) multiplies its factors into values at each call, with ``jnp`` in
the dtype of the call, because optax does so too.

Arguments are checked when the schedule is built: a non-numeric argument (a
string ``"0.1"``, a list) raises ``TypeError`` naming it, and values optax
refuses raise ``ValueError`` naming the argument and what to pass instead.
Values optax accepts are accepted with optax's meaning (``transition_steps <= 0``
in :func:`linear_schedule` makes a constant schedule, not an error).

Pass a schedule as an optimizer's ``learning_rate``; the optimizer evaluates
it at its update count ``t = 0, 1, 2, ...`` (the count *before* the update).
A schedule also accepts an array of counts and works under ``jit``/``vmap``.
"""

from jaxgd.schedules._common import Schedule
from jaxgd.schedules._decay import cosine_decay_schedule, exponential_decay, inverse_time_schedule
from jaxgd.schedules._join import (
    join_schedules,
    sgdr_schedule,
    warmup_constant_schedule,
    warmup_cosine_decay_schedule,
    warmup_exponential_decay_schedule,
)
from jaxgd.schedules._piecewise import (
    cosine_onecycle_schedule,
    linear_onecycle_schedule,
    piecewise_constant_schedule,
    piecewise_interpolate_schedule,
)
from jaxgd.schedules._polynomial import constant_schedule, linear_schedule, polynomial_schedule

__all__ = [
    "Schedule",
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "exponential_decay",
    "inverse_time_schedule",
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
]
