"""What a sweep returns: every lane's outcome as NumPy arrays, its records, CSV and JSON."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import jax
import numpy as np

STATUSES = ("completed", "converged", "diverged", "pruned")


@dataclasses.dataclass
class SweepResult:
    """Every lane of a sweep: its hyperparameters, seed, outcome and histories (NumPy arrays).

    Attributes:
      hyperparameters: name -> per-lane values (``n_lanes`` entries).
      seeds: per-lane seed.
      final_loss: loss on the whole data set at the final parameters (for a diverged
        lane, at its last parameters with a finite loss, which can be huge: filter by
        ``status``, as :meth:`best` does).
      best_loss: lowest loss seen (recorded losses and final loss).
      status: ``"converged"`` (met ``tol``), ``"completed"`` (ran all its updates,
        finite), ``"diverged"`` (frozen at its last finite parameters) or ``"pruned"``
        (stopped at a rung by ``sweep(..., prune=SuccessiveHalving(...))``).
      steps: updates taken (a pruned lane: the update it was stopped at).
      diverged_at: update at which divergence was detected, ``-1`` if none.
      losses: ``[n_lanes, n_records]`` recorded losses (every ``record_every`` updates).
      record_every: the stride of ``losses``.
      params: final parameters, each leaf with a leading lane axis.
      epoch_losses, param_history: as in :class:`jaxgd.FitResult`, per lane (or None).
      eval_loss, best_eval_loss, eval_losses: with ``eval_data``: the validation loss of
        the final parameters, the lowest one seen, and the recorded ones (else None).
      best_step: with ``keep_best``: where each lane's ``params`` were taken.
    """

    hyperparameters: dict[str, np.ndarray]
    seeds: np.ndarray
    final_loss: np.ndarray
    best_loss: np.ndarray
    status: np.ndarray
    steps: np.ndarray
    diverged_at: np.ndarray
    losses: np.ndarray
    record_every: int
    params: Any
    epoch_losses: np.ndarray | None = None
    param_history: Any = None
    eval_loss: np.ndarray | None = None
    best_eval_loss: np.ndarray | None = None
    eval_losses: np.ndarray | None = None
    best_step: np.ndarray | None = None

    @property
    def n_lanes(self) -> int:
        return int(self.seeds.shape[0])

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per lane: each hyperparameter, ``seed``, ``final_loss``, ``best_loss``,
        ``status``, ``steps``, ``diverged_at`` (and, with validation data, ``eval_loss`` and
        ``best_eval_loss``; with ``keep_best``, ``best_step``)."""
        records = []
        for i in range(self.n_lanes):
            record = {
                name: python_scalar(values[i]) for name, values in self.hyperparameters.items()
            }
            record.update(
                seed=int(self.seeds[i]),
                final_loss=float(self.final_loss[i]),
                best_loss=float(self.best_loss[i]),
                status=str(self.status[i]),
                steps=int(self.steps[i]),
                diverged_at=int(self.diverged_at[i]),
            )
            for name in ("eval_loss", "best_eval_loss", "best_step"):
                values = getattr(self, name)
                if values is not None:
                    record[name] = python_scalar(values[i])
            records.append(record)
        return records

    def best(self, *, by: str | None = None, over_seeds: str | None = None) -> dict[str, Any]:
        """The best lane (lowest ``by``), never a diverged one, nor one pruned by
        :class:`jaxgd.SuccessiveHalving` (its run was cut short).

        ``by``: ``"final_loss"`` (alias ``"loss"``), ``"best_loss"``, and with validation
        data ``"eval_loss"`` or ``"best_eval_loss"``. By default ``"eval_loss"`` when the
        sweep had ``eval_data`` (select on held-out data), else ``"final_loss"``.

        With ``over_seeds="median"`` lanes are grouped by configuration and the
        configuration with the lowest median over its seeds is returned (its
        diverged seeds count as +inf, so a configuration that diverges for most
        seeds is not chosen); the record then holds the median and the number of
        seeds that diverged and that were pruned (pruned seeds count as +inf too).
        """
        by = self._criterion(by)
        records = self.to_records()
        if over_seeds is None:
            finite = [r for r in records if _eligible(r) and math.isfinite(r[by])]
            if not finite:
                raise ValueError(f"every lane diverged; {self._divergence_hint()}")
            return min(finite, key=lambda r: r[by])
        if over_seeds != "median":
            raise ValueError(f"over_seeds={over_seeds!r}; use None or 'median'.")
        groups: dict[tuple, list[dict[str, Any]]] = {}
        for r in records:
            groups.setdefault(tuple((n, repr(r[n])) for n in self.hyperparameters), []).append(r)
        summaries = []
        for lanes in groups.values():
            values = [r[by] if _eligible(r) and math.isfinite(r[by]) else math.inf for r in lanes]
            summary = {n: lanes[0][n] for n in self.hyperparameters}
            summary.update(
                {
                    by: float(np.median(values)),
                    "seeds": len(lanes),
                    "diverged_seeds": sum(r["status"] == "diverged" for r in lanes),
                    "pruned_seeds": sum(r["status"] == "pruned" for r in lanes),
                }
            )
            summaries.append(summary)
        finite = [s for s in summaries if math.isfinite(s[by])]
        if not finite and any(s["pruned_seeds"] for s in summaries):
            raise ValueError(
                "no configuration ran most of its seeds to the end: successive halving pruned "
                "seeds one by one, and a pruned seed counts as +inf in the median. Prune a "
                "configuration's seeds together, SuccessiveHalving(..., over_seeds='median'), "
                "or choose the best lane with best() (over_seeds=None)."
            )
        if not finite:
            raise ValueError(
                f"every configuration diverged for most seeds; {self._divergence_hint()}"
            )
        return min(finite, key=lambda s: s[by])

    def _criterion(self, by: str | None) -> str:
        validated = self.eval_loss is not None
        if by is None:
            return "eval_loss" if validated else "final_loss"
        by = "final_loss" if by == "loss" else by
        choices = ("final_loss", "best_loss", *(("eval_loss", "best_eval_loss") * validated))
        if by not in choices:
            hint = "" if validated else " (eval_loss needs sweep(..., eval_data=(x_val, y_val)))"
            raise ValueError(f"by={by!r}; choose one of {', '.join(choices)}{hint}.")
        return by

    def _divergence_hint(self) -> str:
        """What to change when no lane can be chosen."""
        at_start = (self.status == "diverged") & (self.diverged_at == 0)
        if at_start.all():
            return (
                "all of them at update 0, so their starting loss was not finite (or already "
                "above max_loss_ratio): check init_fn and loss_fn at the start."
            )
        return "lower the learning rates."

    def to_csv(self, path: str | Path) -> Path:
        """Write :meth:`to_records` as CSV (one row per lane)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        records = [to_portable(record) for record in self.to_records()]
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
        return path

    def to_json(self, path: str | Path, *, histories: bool = False) -> Path:
        """Write :meth:`to_records` as strict JSON (``{"lanes": [...]}``), optionally with
        histories: non-finite numbers as the strings ``"inf"``, ``"-inf"``, ``"nan"``
        (:func:`read_records` reads them back as floats), schedules by their description."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        document: dict[str, Any] = {"record_every": self.record_every, "lanes": self.to_records()}
        if histories:
            document["losses"] = self.losses.tolist()
            if self.eval_losses is not None:
                document["eval_losses"] = self.eval_losses.tolist()
        path.write_text(json.dumps(to_portable(document), indent=1, allow_nan=False))
        return path


def _eligible(record: dict[str, Any]) -> bool:
    """A lane :meth:`SweepResult.best` may choose: it ran its whole length, or converged."""
    return record["status"] not in ("diverged", "pruned")


def python_scalar(value: Any) -> Any:
    if isinstance(value, (np.floating, float)):
        return float(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def describe(value: Any) -> str:
    """A readable, stable name for a non-numeric hyperparameter (a schedule, a function):
    ``inverse_time(5.0, 50.0)`` for a jaxgd schedule, the function's name otherwise."""
    if isinstance(value, jax.tree_util.Partial):
        arguments = ", ".join(
            _portable_scalar(a) if not callable(a) else describe(a) for a in value.args
        )
        return f"{value.func.__name__.lstrip('_')}({arguments})"
    return getattr(value, "__name__", type(value).__name__)


def _portable_scalar(value: Any) -> str:
    value = python_scalar(value)
    return repr(value) if isinstance(value, (int, float)) else describe(value)


def to_portable(value: Any) -> Any:
    """``value`` (records, lists of them, dicts) as plain JSON: non-finite numbers as the
    strings ``"inf"``, ``"-inf"``, ``"nan"``, callables by :func:`describe`."""
    if isinstance(value, dict):
        return {key: to_portable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_portable(item) for item in value]
    value = python_scalar(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if callable(value):
        return describe(value)
    return value


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Read the records written by :meth:`SweepResult.to_csv` or :meth:`SweepResult.to_json`."""
    path = Path(path)
    if path.suffix == ".json":
        return [
            {k: _NON_FINITE.get(v, v) if isinstance(v, str) else v for k, v in record.items()}
            for record in json.loads(path.read_text())["lanes"]
        ]
    with path.open(newline="") as handle:
        return [{k: _parse(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def _parse(text: str) -> Any:
    """A CSV cell back to int, float, bool, None or str."""
    for convert in (int, float):
        with contextlib.suppress(ValueError):
            return convert(text)
    return {"True": True, "False": False, "None": None}.get(text, text)
