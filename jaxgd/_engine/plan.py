"""The plan of a run: its settings checked, and everything that fixes the compiled loop's shape.

:class:`LoopOptions` holds the loop keywords that :func:`jaxgd.fit` and
:func:`jaxgd.sweep` share (one definition of their names and defaults);
:func:`make_plan` checks them against the loss and the data and returns the hashable
:class:`Plan` that the compiled programs take as a static argument.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from jaxgd._engine.checks import check_data, check_flag, check_number, check_positive_int
from jaxgd._types import Batch, LossFn

SAMPLING = ("shuffle", "replacement")
STOP_ON = ("loss_change", "grad_norm")

DEFAULT_MAX_LOSS_RATIO = 1e6
"""A run diverges once its loss exceeds this multiple of max(L_init, L_zero) (see
:mod:`jaxgd.train`)."""

NEVER = 2**30
"""An update index later than any run's (for "no event")."""


@dataclasses.dataclass(frozen=True)
class LoopOptions:
    """The settings of the training loop, the keywords of the same names of
    :func:`jaxgd.fit` and :func:`jaxgd.sweep` (documented there)."""

    steps: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    tol: float | None = None
    record_every: int = 1
    stop_on: str = "loss_change"
    sampling: str = "shuffle"
    drop_last: bool = False
    record_params: bool = False
    loss_with_key: bool = False
    max_loss_ratio: float | None = DEFAULT_MAX_LOSS_RATIO
    keep_best: bool = False

    @classmethod
    def pick(cls, arguments: Mapping[str, Any]) -> LoopOptions:
        """The options among a call's ``arguments`` (``LoopOptions.pick(locals())`` at the
        top of a function whose keywords include them)."""
        return cls(**{field.name: arguments[field.name] for field in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything about a run that fixes the compiled program's shape (hashable, static)."""

    loss_fn: LossFn
    n_updates: int
    n_examples: int | None
    batch_size: int | None
    updates_per_epoch: int
    sampling: str
    drop_last: bool
    stop_on: str | None
    record_every: int
    record_params: bool
    n_epochs: int | None
    loss_with_key: bool = False
    max_loss_ratio: float | None = None
    n_eval_examples: int | None = None  # the validation set's size; None: no validation
    keep_best: bool = False

    @property
    def n_records(self) -> int:
        return math.ceil(self.n_updates / self.record_every)

    @property
    def masked(self) -> bool:
        """Whether the last batch of an epoch is smaller than ``batch_size`` and masked."""
        return (
            self.batch_size is not None
            and self.sampling == "shuffle"
            and not self.drop_last
            and self.n_examples % self.batch_size != 0
        )


def make_plan(
    loss_fn: LossFn, data: Batch | None, options: LoopOptions, eval_data: Batch | None = None
) -> Plan:
    """Check the run's settings and fix the shape of its compiled loop."""
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable loss_fn(params, x, y); got {loss_fn!r}.")
    n_examples = check_data(data)
    n_eval = _check_eval_data(eval_data, data, check_flag("keep_best", options.keep_best))
    if (options.steps is None) == (options.epochs is None):
        raise ValueError(
            "give exactly one of steps= (number of updates) or epochs= (passes over the data); "
            f"got steps={options.steps!r}, epochs={options.epochs!r}."
        )
    record_every = check_positive_int(
        "record_every", options.record_every, "use 1 to record the loss at every update."
    )
    if options.sampling not in SAMPLING:
        raise ValueError(f"sampling={options.sampling!r}; choose one of {', '.join(SAMPLING)}.")
    if options.stop_on not in STOP_ON:
        raise ValueError(f"stop_on={options.stop_on!r}; choose one of {', '.join(STOP_ON)}.")
    _check_tol(options.tol)
    drop_last = check_flag("drop_last", options.drop_last)
    batch_size = _check_batch_size(options.batch_size, n_examples)
    if batch_size is None:
        updates_per_epoch = 1
    elif drop_last:
        updates_per_epoch = n_examples // batch_size
    else:
        updates_per_epoch = math.ceil(n_examples / batch_size)
    n_updates, n_epochs = _length(options.steps, options.epochs, updates_per_epoch)
    plan = Plan(
        loss_fn=loss_fn,
        n_updates=n_updates,
        n_examples=n_examples,
        batch_size=batch_size,
        updates_per_epoch=updates_per_epoch,
        sampling=options.sampling,
        drop_last=drop_last,
        stop_on=None if options.tol is None else options.stop_on,
        record_every=record_every,
        record_params=check_flag("record_params", options.record_params),
        n_epochs=n_epochs,
        loss_with_key=check_flag("loss_with_key", options.loss_with_key),
        max_loss_ratio=_check_max_loss_ratio(options.max_loss_ratio),
        n_eval_examples=n_eval,
        keep_best=options.keep_best,
    )
    if plan.masked and plan.loss_with_key:
        raise ValueError(
            f"loss_with_key=True with batch_size={batch_size} not dividing the {n_examples} "
            "examples: pass drop_last=True (or a batch size that divides the data)."
        )
    return plan


def _check_eval_data(eval_data: Batch | None, data: Batch | None, keep_best: bool) -> int | None:
    """Validation data is checked as training data is, and must match its shapes."""
    if eval_data is None:
        if keep_best:
            raise ValueError(
                "keep_best=True keeps the parameters with the lowest validation loss: "
                "pass eval_data=(x_val, y_val)."
            )
        return None
    if data is None:
        raise ValueError(
            "eval_data needs training data of the same kind; this objective has data=None."
        )
    try:
        n_eval = check_data(eval_data)
    except (TypeError, ValueError) as error:
        raise type(error)(f"eval_data: {error}") from None
    for name, train, held_out in zip(("x", "y"), data, eval_data, strict=True):
        if np.shape(train)[1:] != np.shape(held_out)[1:]:
            raise ValueError(
                f"eval_data's {name} has shape {np.shape(held_out)} but data's {name} has "
                f"{np.shape(train)}; validation examples need the training examples' shape."
            )
    return n_eval


def _check_tol(tol: Any) -> None:
    hint = "pass e.g. tol=1e-6, or None for no stopping."
    value = None if tol is None else check_number("tol", tol, hint)
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise ValueError(f"tol={tol!r} must be a finite number >= 0; {hint}")


def _check_max_loss_ratio(max_loss_ratio: Any) -> float | None:
    if max_loss_ratio is None:
        return None
    hint = "pass e.g. max_loss_ratio=1e6, or None to flag only non-finite losses."
    ratio = check_number("max_loss_ratio", max_loss_ratio, hint)
    if ratio is None or not (math.isfinite(ratio) and ratio > 1):
        raise ValueError(f"max_loss_ratio={max_loss_ratio!r} must be a number > 1; {hint}")
    return ratio


def _check_batch_size(batch_size: Any, n_examples: int | None) -> int | None:
    if batch_size is None:
        return None
    batch_size = check_positive_int(
        "batch_size", batch_size, "use batch_size=None for full-batch GD."
    )
    if n_examples is None:
        raise ValueError(
            "batch_size needs data to draw batches from; this objective has data=None, "
            "so use batch_size=None."
        )
    if batch_size > n_examples:
        raise ValueError(
            f"batch_size={batch_size} is larger than the {n_examples} examples; "
            "use batch_size=None for full-batch GD."
        )
    return batch_size


def _length(steps: Any, epochs: Any, updates_per_epoch: int) -> tuple[int, int | None]:
    """``(n_updates, n_epochs)`` of a run given ``steps`` or else ``epochs``."""
    if steps is not None:
        n_updates = check_positive_int("steps", steps, "it is the number of updates to take.")
        n_epochs = None
    else:
        n_epochs = check_positive_int("epochs", epochs, "it is the number of passes over the data.")
        n_updates = n_epochs * updates_per_epoch
    if n_updates >= NEVER:
        raise ValueError(
            f"{n_updates} updates are more than one run can count (at most {NEVER - 1}); "
            "lower steps or epochs, and continue a run with opt_state=result.opt_state."
        )
    return n_updates, n_epochs
