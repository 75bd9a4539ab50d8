"""The sweep figures show every lane, whatever the sign of the losses, and the files written
from a sweep are plain, strict CSV/JSON."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from matplotlib.colors import LogNorm

import jaxgd
from jaxgd import plots
from jaxgd.optim import sgd
from jaxgd.problems import geron_linear, wells_1d
from jaxgd.schedules import inverse_time_schedule
from jaxgd.sweeps import read_records


def _sweep(problem, rates, steps=200, **options):
    return jaxgd.sweep(
        problem.loss_fn,
        problem.init_fn,
        problem.data,
        sgd,
        grid={"learning_rate": rates},
        seeds=2,
        steps=steps,
        key=jax.random.key(0),
        **options,
    )


def _median_line(fig):
    (ax,) = fig.axes
    return next(line for line in ax.lines if "median" in line.get_label())


def test_negative_losses_are_drawn_on_a_linear_scale_with_the_best_lane():
    """The wells have minima below 0 (about −0.66): a log axis would drop them."""
    result = _sweep(wells_1d(), [0.01, 0.1, 0.4, 1.0])
    assert result.final_loss.min() < 0
    fig = plots.sweep_final_loss(result)
    (ax,) = fig.axes
    assert ax.get_yscale() == "linear"
    medians = _median_line(fig).get_ydata()
    assert np.isfinite(medians).all()
    assert np.nanmin(medians) == pytest.approx(
        min(np.median(result.final_loss[result.hyperparameters["learning_rate"] == r])
            for r in (0.01, 0.1, 0.4, 1.0))
    )  # fmt: skip
    heatmap = plots.sweep_heatmap(result)
    image = heatmap.axes[0].images[0]
    assert not isinstance(image.norm, LogNorm)
    assert np.isfinite(np.asarray(image.get_array())).all()  # every lane drawn, none white


def test_positive_losses_keep_the_log_scales():
    result = _sweep(geron_linear(), [0.01, 0.1])
    (ax,) = plots.sweep_final_loss(result).axes
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert isinstance(plots.sweep_heatmap(result).axes[0].images[0].norm, LogNorm)


def test_a_diverged_lane_is_blank_after_it_diverged():
    result = _sweep(geron_linear(), [0.1, 0.6], steps=100)
    assert list(result.status) == ["completed", "completed", "diverged", "diverged"]
    shown = np.ma.getdata(plots.sweep_heatmap(result).axes[0].images[0].get_array())
    for lane in (2, 3):
        stop = int(result.diverged_at[lane])
        assert np.isfinite(shown[lane, : stop + 1]).all()
        assert np.isnan(shown[lane, stop + 1 :]).all()
    assert np.isfinite(shown[:2]).all()


def test_pruned_lanes_are_marked_apart_and_blank_after_they_stopped():
    """Halving stops lanes early: their shorter runs' losses are no points of the lines."""
    rates = [0.003, 0.01, 0.03, 0.1, 0.2, 0.3]
    halving = jaxgd.SuccessiveHalving(min_steps=10, reduction=3)
    result = _sweep(geron_linear(), rates, steps=90, prune=halving)
    pruned = result.status == "pruned"
    assert pruned.sum() == 11  # 12 lanes, 4 go on at update 10, 1 at update 30
    (ax,) = plots.sweep_final_loss(result).axes
    marks = next(line for line in ax.lines if line.get_label().startswith("pruned (11 lanes)"))
    np.testing.assert_array_equal(marks.get_ydata(), result.final_loss[pruned])
    values = result.hyperparameters["learning_rate"]
    medians = dict(zip(np.unique(values), _median_line(ax.figure).get_ydata(), strict=True))
    for rate, median in medians.items():  # a rate with a seed pruned: +inf in the median
        lanes = values == rate
        expected = np.median(np.where(pruned[lanes], np.inf, result.final_loss[lanes]))
        assert median == pytest.approx(expected) if np.isfinite(expected) else np.isnan(median)
    # every lane that ran to the end is a marked point of its seed's line, even alone
    drawn = {
        (float(x), float(y))
        for line in ax.lines
        if line.get_marker() not in (None, "None", "")
        for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True)
    }
    for lane in np.flatnonzero(result.status == "completed"):
        assert (float(values[lane]), float(result.final_loss[lane])) in drawn
    shown = np.ma.getdata(plots.sweep_heatmap(result).axes[0].images[0].get_array())
    for lane in np.flatnonzero(pruned):
        stop = int(result.steps[lane]) // result.record_every
        assert (
            np.isfinite(shown[lane, : stop + 1]).all() and np.isnan(shown[lane, stop + 1 :]).all()
        )


def test_plots_name_what_is_wrong_with_their_input():
    result = _sweep(geron_linear(), [0.1])
    with pytest.raises(ValueError, match=r"momentum.*learning_rate"):
        plots.sweep_final_loss(result, hyperparameter="momentum")
    fit = jaxgd.fit(geron_linear().loss_fn, {"w": np.zeros(1), "b": 0.0}, geron_linear().data,
                    sgd(0.1), steps=5)  # fmt: skip
    with pytest.raises(ValueError, match="SweepResult"):
        plots.sweep_heatmap(fit)


def test_json_is_strict_and_schedules_are_named(tmp_path):
    """A start whose loss overflows float32 gives infinite losses: strict JSON has no
    Infinity, so they are written as "inf" and read back as floats."""
    problem = geron_linear()
    result = jaxgd.sweep(
        problem.loss_fn,
        lambda key: {"w": jnp.full((1,), 1e30), "b": jnp.asarray(0.0)},
        problem.data,
        lambda learning_rate: sgd(learning_rate),
        grid={"learning_rate": [inverse_time_schedule(5.0, 50.0), 0.1]},
        steps=20,
        key=0,
    )
    assert math.isinf(result.final_loss[0]) and list(result.status) == ["diverged"] * 2
    path = result.to_json(tmp_path / "lanes.json", histories=True)
    text = path.read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON {name}"))
    assert '"inf"' in text
    assert "inverse_time(5.0, 50.0)" in text and "0x" not in text
    csv_text = result.to_csv(tmp_path / "lanes.csv").read_text()
    assert "inverse_time(5.0, 50.0)" in csv_text and "0x" not in csv_text
    for records in (read_records(tmp_path / "lanes.json"), read_records(tmp_path / "lanes.csv")):
        for ours, theirs in zip(records, result.to_records(), strict=True):
            for field in ("final_loss", "best_loss"):
                np.testing.assert_equal(ours[field], theirs[field])


def test_heatmap_rows_are_labelled_by_their_hyperparameters():
    rates = [0.01, 0.1, 0.4]
    result = _sweep(geron_linear(), rates, steps=20)
    (ax, _) = plots.sweep_heatmap(result).axes
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert labels == [f"α = {r:.3g}" for r in rates]
    # each label sits in the middle of its configuration's two seeds (lanes 2i and 2i + 1)
    assert list(ax.get_yticks()) == [0.5, 2.5, 4.5]
    assert "2 seeds each" in ax.get_ylabel()


def test_heatmap_labels_at_most_24_rows_of_many_configurations():
    result = _sweep(geron_linear(), list(np.geomspace(0.01, 0.4, 60)), steps=5)
    (ax, _) = plots.sweep_heatmap(result).axes
    assert 12 <= len(ax.get_yticklabels()) <= plots.MAX_ROW_LABELS
    assert "one label in 3" in ax.get_ylabel()
