"""lr_find(): which learning rate to train with, found by a short run or a short sweep
(both cheaper than training at many rates).

* ``method="range"``, the range test (Smith, arXiv 1506.01186; fastai's ``lr_find``): one
  run of ``N = steps`` updates whose rate grows exponentially from ``min_lr`` to ``max_lr``,

      η_t = min_lr · (max_lr / min_lr)^(t / (N − 1)),    t = 0, …, N − 1,

  recording the (mini-)batch loss ``L_t`` of θ_t (the parameters update ``t`` moves with
  η_t). The curve read is the bias-corrected exponential moving average (β = 0.98)

      a_t = β·a_{t−1} + (1 − β)·L_t   (a_{−1} = 0),      s_t = a_t / (1 − β^(t+1)),

  cut at the first ``c`` where ``s_c > 4·min_{i≤c} s_i`` (the run diverges; points after
  ``c`` are marked ``diverged``). As fastai does, the rules read the points
  ``N // 10 ≤ t < K − 5`` of the ``K = c + 1`` kept (``K = N`` without a cut): the first
  tenth is noise, the last five the blow-up.
* ``method="sweep"``, the vectorised finder: ``K = num_rates`` constant rates
  ``η_k = min_lr·(max_lr/min_lr)^(k/(K−1))``, each trained for ``steps`` updates from the
  same ``params``, all lanes of one :func:`jaxgd.sweep` call; the curve is each lane's final
  loss on the whole data set, +∞ for a lane the sweep flags as diverged.

Rules (the ``suggestion``)::

    valley   fastai's default: the longest strictly decreasing subsequence of s (length ℓ,
             ending at e), start b = e − ℓ, index b + ⌊(e − b)/3⌋ + ⌊(e − b)/6⌋: about
             halfway down the longest valley, where the loss still falls fast
    minimum  η at argmin s, divided by 10
    steep    η_i at i = argmin_i (s_{i+1} − s_i) / (ln η_{i+1} − ln η_i), the steepest descent
    best     (sweep) η_k at argmin_k of the final loss over the lanes that did not diverge
             (np.argmin: exact ties go to the smaller rate; float32 near-ties, to rounding)
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import numbers
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxgd._engine.checks import check_params
from jaxgd._keys import as_key
from jaxgd._types import Array, Batch, LossFn, Params, PRNGKey

__all__ = ["RULES", "LRFindResult", "RangeSchedule", "lr_find", "smooth_losses", "valley_index"]

RULES = {"range": ("valley", "minimum", "steep"), "sweep": ("best",)}
"""The rules of each method; the first is its default."""

BETA = 0.98
DIVERGENCE_FACTOR = 4.0
SKIP_END = 5
DEFAULT_NUM_RATES = 32
_COLUMNS = ("learning_rate", "loss", "raw_loss", "diverged")
_LOWER = "lower min_lr (and max_lr) so that the first rates train stably"


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class RangeSchedule:
    """η(t) = min_lr·(max_lr/min_lr)^(t/(steps − 1)): ``min_lr`` at t = 0, ``max_lr`` at
    t = steps − 1 (a schedule of the update count, as optax's are). A pytree whose leaves are
    ``min_lr`` and ``max_lr``: with :mod:`jaxgd.optim`, a range test with other rates reuses
    the compiled program."""

    min_lr: float
    max_lr: float
    steps: int = dataclasses.field(metadata={"static": True})

    def __call__(self, count: Array) -> Array:
        dtype = jnp.result_type(float)
        low, high = jnp.asarray(self.min_lr, dtype), jnp.asarray(self.max_lr, dtype)
        return low * (high / low) ** (jnp.asarray(count, dtype) / (self.steps - 1))


@dataclasses.dataclass(frozen=True, eq=False)
class LRFindResult:
    """What :func:`lr_find` returns: the curve, the suggested rate and how it was chosen.

    Attributes:
      learning_rates: the rates tried, float64 ``[n]`` (range: η_t of every update).
      losses: the curve the rule reads: range, the smoothed loss s_t (NaN after the cut);
        sweep, each lane's final loss (+∞ for a diverged lane).
      raw_losses: range, the batch losses L_t (+∞ once the loss was no longer finite);
        sweep, the final losses as the sweep reports them (a diverged lane's last finite one).
      diverged: bool ``[n]``: range, the points from the cut on; sweep, the diverged lanes.
      suggestion: the suggested learning rate.
      rule, method: how it was chosen (see the module docs).
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    raw_losses: np.ndarray
    diverged: np.ndarray
    suggestion: float
    rule: str
    method: str

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per rate: ``learning_rate``, ``loss``, ``raw_loss``, ``diverged``."""
        columns = (self.learning_rates, self.losses, self.raw_losses, self.diverged)
        return [
            dict(zip(_COLUMNS, (*map(float, row[:3]), bool(row[3])), strict=True))
            for row in zip(*columns, strict=True)
        ]

    def to_json(self, path: str | Path) -> Path:
        """Write the method, rule, suggestion and records as JSON (non-finite numbers as
        ``null``); return the path."""
        finite = lambda v: v if not isinstance(v, float) or math.isfinite(v) else None  # noqa: E731
        records = [{k: finite(v) for k, v in r.items()} for r in self.to_records()]
        out = {"method": self.method, "rule": self.rule, "suggestion": self.suggestion}
        Path(path).write_text(json.dumps({**out, "records": records}, indent=1, allow_nan=False))
        return Path(path)

    def to_csv(self, path: str | Path) -> Path:
        """Write the records as CSV, one row per rate (``inf``/``nan`` written as such)."""
        with Path(path).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, _COLUMNS)
            writer.writeheader()
            writer.writerows(self.to_records())
        return Path(path)

    def plot(self, ax: Any = None) -> Any:
        """The curve against the learning rate (log scale), diverged rates as red ×, the
        suggestion as a dashed line; returns the matplotlib ``Axes`` (``ax`` or a new one)."""
        if ax is None:
            from matplotlib.figure import Figure

            ax = Figure(figsize=(6.8, 4.4), layout="constrained").add_subplot()
        lrs, shown = self.learning_rates, ~self.diverged & np.isfinite(self.losses)
        if self.method == "range":
            ax.plot(lrs, np.where(shown, self.raw_losses, np.nan), color="0.6", label="batch loss")
        label = "smoothed loss (β = 0.98)" if self.method == "range" else "final loss"
        style = "-o" if self.method == "sweep" else "-"
        ax.plot(lrs, np.where(shown, self.losses, np.nan), style, lw=2, ms=3, label=label)
        finite = self.losses[shown]
        if self.diverged.any() and finite.size:
            top = np.full(int(self.diverged.sum()), float(np.max(finite)))
            ax.plot(lrs[self.diverged], top, "x", color="red", label="diverged")
        text = f"suggestion ({self.rule}): {self.suggestion:.3g}"
        ax.axvline(self.suggestion, color="C3", ls="--", label=text)
        yscale = "log" if finite.size and float(finite.min()) > 0 else "linear"
        ax.set(xscale="log", yscale=yscale, xlabel="learning rate (log scale)", ylabel="loss")
        ax.set_title(f"lr_find: method {self.method}, rule {self.rule}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        return ax


# ----------------------------------------------------------------------------- the curve


def smooth_losses(raw: np.ndarray, beta: float = BETA) -> np.ndarray:
    """fastai's ``AvgSmoothLoss``: a_t = β·a_{t−1} + (1 − β)·L_t from a_{−1} = 0, returned
    bias-corrected as a_t / (1 − β^(t+1))."""
    out = np.empty(len(raw), np.float64)
    average = 0.0
    for t, loss in enumerate(np.asarray(raw, np.float64)):
        average = beta * average + (1 - beta) * loss
        out[t] = average / (1 - beta ** (t + 1))
    return out


def divergence_cut(smoothed: np.ndarray, factor: float = DIVERGENCE_FACTOR) -> int | None:
    """The first ``c`` with ``s_c > factor · min_{i≤c} s_i`` (fastai stops there), or None."""
    smoothed = np.asarray(smoothed, np.float64)
    above = np.flatnonzero(smoothed > factor * np.fmin.accumulate(smoothed))
    return int(above[0]) if above.size else None


def valley_index(losses: np.ndarray) -> int:
    """fastai's ``valley``: the index about halfway down the longest valley of ``losses``.

    ``d_i`` is the length of the longest strictly decreasing subsequence ending at ``i``
    (``d_i = 1 + max{d_j : j < i, L_j > L_i}``, 1 if none); ``e`` the first index of the
    largest ``d``; ``b = e − d_e``; the index is ``b + ⌊(e − b)/3⌋ + ⌊(e − b)/6⌋``.

    Raises:
      ValueError: when that index is negative (fastai would wrap around to the last rate):
        the loss falls over fewer than 3 of the points, there is no valley.
    """
    losses = np.asarray(losses, np.float64)
    lds = np.ones(len(losses), np.int64)
    max_end = 0
    for i in range(1, len(losses)):
        above = lds[:i][losses[:i] > losses[i]]
        lds[i] = 1 + (int(above.max()) if above.size else 0)
        if lds[max_end] < lds[i]:
            max_end = i
    max_start = max_end - int(lds[max_end])
    sections = (max_end - max_start) / 3
    index = max_start + int(sections) + int(sections / 2)
    if index < 0:
        raise ValueError("the loss has no valley: it falls over fewer than 3 of the rates read")
    return index


def _suggest(rule: str, lrs: np.ndarray, losses: np.ndarray) -> float:
    """The suggestion of ``rule`` (``valley``, ``minimum`` or ``steep``) on a finite curve."""
    if rule == "valley":
        return float(lrs[valley_index(losses)])
    if rule == "minimum":
        return float(lrs[int(np.argmin(losses))]) / 10
    slopes = np.diff(losses) / np.diff(np.log(lrs))
    return float(lrs[int(np.argmin(slopes))])


# ----------------------------------------------------------------------------- the methods


def _range_test(loss_fn, params, data, factory, settings, run) -> LRFindResult:
    """One run with :class:`RangeSchedule`, smoothed and cut on the host."""
    from jaxgd.train import fit

    min_lr, max_lr, steps, rule = settings
    schedule = RangeSchedule(min_lr, max_lr, steps)
    result = fit(loss_fn, params, data, factory(learning_rate=schedule), **run, max_loss_ratio=None)
    raw = np.array(result.losses, np.float64)
    if bool(result.diverged):  # the update after diverged_at gave a non-finite loss
        raw[int(result.diverged_at) + 1 :] = np.inf
    lrs = np.asarray(schedule(jnp.arange(steps)), np.float64)
    smoothed = smooth_losses(raw)
    cut = divergence_cut(smoothed)
    kept = steps if cut is None else cut + 1
    diverged = np.arange(steps) >= (steps if cut is None else cut)
    smoothed[kept:] = np.nan
    start, stop = steps // 10, kept - SKIP_END
    if stop - start < 2:  # steps >= 2 + SKIP_END leaves two rates unless the run diverged
        raise ValueError(
            f"the range test diverged at once (update {cut}, rate {lrs[cut]:.3g}), before "
            f"the rule {rule!r} had rates to read; {_LOWER}."
        )
    try:
        suggestion = _suggest(rule, lrs[start:stop], smoothed[start:stop])
    except ValueError as error:
        raise ValueError(f"the range test found no rate: {error}; {_LOWER}.") from None
    return LRFindResult(lrs, smoothed, raw, diverged, suggestion, rule, "range")


class _Start:
    """``init_fn(key) -> params``, the same ``params`` for every lane; compared by value so a
    repeated sweep from the same start reuses its compiled program."""

    def __init__(self, params: Params) -> None:
        self.params, leaves = params, map(np.asarray, jax.tree.leaves(params))
        data = tuple((a.dtype.str, a.shape, a.tobytes()) for a in leaves)
        self._id = (jax.tree.structure(params), data)

    def __call__(self, key: PRNGKey) -> Params:
        return self.params

    def __hash__(self) -> int:
        return hash(self._id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Start) and other._id == self._id


def _sweep_method(loss_fn, params, data, factory, settings, run, num_rates) -> LRFindResult:
    """``num_rates`` constant rates, one lane each, in one :func:`jaxgd.sweep` call."""
    from jaxgd.sweeps import sweep

    min_lr, max_lr, steps, rule = settings
    grid = {"learning_rate": [float(r) for r in np.geomspace(min_lr, max_lr, num_rates)]}
    result = sweep(loss_fn, _Start(params), data, factory, grid=grid, **run)
    lrs = np.asarray(result.hyperparameters["learning_rate"], np.float64)
    raw = np.asarray(result.final_loss, np.float64)
    diverged = np.asarray(result.status == "diverged") | ~np.isfinite(raw)
    losses = np.where(diverged, np.inf, raw)
    if diverged.all():
        raise ValueError(
            f"every one of the {num_rates} rates in [{min_lr:.3g}, {max_lr:.3g}] diverged "
            f"within {steps} updates; {_LOWER}."
        )
    return LRFindResult(lrs, losses, raw, diverged, float(lrs[np.argmin(losses)]), rule, "sweep")


# ----------------------------------------------------------------------------- checks


def _positive_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={value!r} must be a number, e.g. {name}=1e-3.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value!r} must be a finite number > 0 (rates grow by factors).")
    return float(value)


def _integer(name: str, value: Any, least: int, example: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise ValueError(f"{name}={value!r} must be an integer >= {least} (e.g. {example}).")


def _check(method, rule, min_lr, max_lr, steps, num_rates, factory) -> tuple:
    """The settings ``(min_lr, max_lr, steps, rule)`` and ``num_rates``, or a clear error."""
    if method not in RULES:
        raise ValueError(f"method={method!r} is not a method; choose 'range' or 'sweep'.")
    rule = RULES[method][0] if rule is None else rule
    if rule not in RULES[method]:
        other = next((m for m, rules in RULES.items() if rule in rules), None)
        hint = f" (it is a rule of method={other!r})" if other else ""
        raise ValueError(
            f"rule={rule!r} is not a rule of method={method!r}{hint}; choose "
            f"{', '.join(map(repr, RULES[method]))}."
        )
    min_lr, max_lr = _positive_number("min_lr", min_lr), _positive_number("max_lr", max_lr)
    if max_lr <= min_lr:
        raise ValueError(f"max_lr={max_lr!r} must be larger than min_lr={min_lr!r}.")
    why = f"; the rules skip the last {SKIP_END}" if method == "range" else ""
    _integer("steps", steps, 2 + SKIP_END if why else 1, f"100 for method={method!r}{why}")
    if method == "range" and num_rates is not None:
        raise ValueError("num_rates is for method='sweep'; the range test tries `steps` rates.")
    num_rates = DEFAULT_NUM_RATES if num_rates is None else num_rates
    _integer("num_rates", num_rates, 2, "32")
    if (hasattr(factory, "init") and hasattr(factory, "update")) or not callable(factory):
        raise TypeError(
            f"optimizer_factory={factory!r} must build an optimizer from learning_rate=...: "
            "pass jaxgd.optim.sgd, optax.adam or functools.partial(jaxgd.optim.sgd, "
            "momentum=0.9), not an optimizer such as sgd(0.1)."
        )
    from jaxgd.sweeps.space import check_names  # jaxgd.sweep's check of the names

    check_names(factory, ["learning_rate"], "lr_find, which calls it as f(learning_rate=...)")
    return (min_lr, max_lr, int(steps), rule), int(num_rates)


def lr_find(
    loss_fn: LossFn,
    params: Params,
    data: Batch | None,
    optimizer_factory: Callable[..., Any],
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    batch_size: int | None = None,
    key: PRNGKey | int | None = None,
    method: str = "range",
    num_rates: int | None = None,
    rule: str | None = None,
) -> LRFindResult:
    """Suggest a learning rate for ``optimizer_factory`` on ``loss_fn`` from ``params``.

    See the module docs for the two methods and the rules, with their formulas.

    Args:
      loss_fn: ``loss_fn(params, x, y) -> scalar``, a mean over the examples of the batch.
      params: the starting parameters (a pytree of finite float arrays), not ``init_fn``.
      data: ``(x, y)``, NumPy or JAX arrays (or None for a surface of the parameters alone).
      optimizer_factory: called as ``optimizer_factory(learning_rate=...)``, e.g.
        ``jaxgd.optim.sgd``, ``jaxgd.optim.adam`` or ``optax.adam``.
      min_lr, max_lr: the range of rates, ``0 < min_lr < max_lr``.
      steps: range: the updates of the run, one per rate (>= 2, fastai's ``num_it``);
        sweep: the updates of each lane.
      batch_size: None for full-batch updates, k for mini-batches of k.
      key: the data order's PRNG key: an int seed, ``jax.random.key(s)`` or
        ``jax.random.PRNGKey(s)`` (the three give the same result); None means 0.
      method: ``"range"`` (the range test) or ``"sweep"`` (the vectorised finder).
      num_rates: sweep only: the number of rates (default 32).
      rule: ``"valley"`` (default), ``"minimum"`` or ``"steep"`` for the range test;
        ``"best"`` for the sweep: the lowest final loss, exact ties to the smaller rate.

    Returns:
      An :class:`LRFindResult`.

    Raises:
      ValueError, TypeError: for a bad argument (naming it), and a ValueError when every
        rate diverged, so that no rule can pick one (lower ``min_lr`` and ``max_lr``).

    Example:
      >>> from jaxgd.optim import sgd
      >>> from jaxgd.problems import geron_linear, geron_theta0
      >>> p = geron_linear()
      >>> r = lr_find(p.loss_fn, geron_theta0(), p.data, sgd, min_lr=1e-3, max_lr=10.0)
      >>> bool(0.01 < r.suggestion < 0.4843)
      True
    """
    settings, num_rates = _check(method, rule, min_lr, max_lr, steps, num_rates, optimizer_factory)
    if callable(params) and all(leaf is params for leaf in jax.tree.leaves(params)):
        name = name if (name := getattr(params, "__name__", "")).isidentifier() else "init_fn"
        raise TypeError(
            f"params={name} is a function; params must be the initial parameters (a pytree of "
            f"float arrays), not a function. If you have an init function, call it: "
            f"params = {name}(jax.random.key(0))."
        )
    check_params(params)
    run = {"steps": settings[2], "batch_size": batch_size, "key": as_key(0 if key is None else key)}
    arguments = (loss_fn, params, data, optimizer_factory, settings, run)
    if method == "range":
        return _range_test(*arguments)
    return _sweep_method(*arguments, num_rates)
