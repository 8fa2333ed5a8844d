"""The training curve by steps (`history_steps.json`): points every few steps whose means add up to
the epoch's, validation at the step each epoch ended, and the plot and TensorBoard that use them."""

from __future__ import annotations

import json

import pytest

from bertclf import artifacts


def test_points_interval_gives_about_two_hundred_points():
    from bertclf.training.curves import points_interval

    assert [points_interval(steps) for steps in (10, 200, 201, 335, 4000)] == [1, 1, 2, 2, 20]


@pytest.mark.slow
def test_a_runs_step_curve_adds_up_to_its_epochs(binary_run):
    history = json.loads((binary_run / artifacts.HISTORY_JSON_FILE).read_text())
    curve = json.loads((binary_run / artifacts.STEP_HISTORY_FILE).read_text())
    # 36 training texts at batch 8: 5 steps an epoch, 2 epochs, a point every step (10 < 200).
    assert [point["step"] for point in curve["train"]] == list(range(1, 11))
    assert [point["examples"] for point in curve["train"]] == [8 * step for step in range(1, 11)]
    for epoch in (0, 1):
        # Each point is the mean over its own steps, so an epoch's points average to its loss
        # (Keras' running means, taken as they are, would not).
        points = curve["train"][5 * epoch:5 * epoch + 5]
        assert sum(point["loss"] for point in points) / 5 == pytest.approx(history["loss"][epoch], rel=1e-5)
        assert sum(point["accuracy"] for point in points) / 5 == pytest.approx(history["accuracy"][epoch],
                                                                                rel=1e-5)
    assert [(p["epoch"], p["step"]) for p in curve["validation"]] == [(1, 5), (2, 10)]
    assert [p["loss"] for p in curve["validation"]] == pytest.approx(history["val_loss"])


def test_the_history_plot_draws_steps_when_there_is_a_curve():
    from bertclf.reporting.plots import history_figure, smoothed

    curve = {"train": [{"step": s, "examples": 32 * s, "loss": 1.0 / s, "accuracy": 0.5} for s in range(1, 40)],
             "validation": [{"epoch": 1, "step": 39, "examples": 1248, "loss": 0.3, "accuracy": 0.8}]}
    figure = history_figure({"loss": [0.5], "val_loss": [0.3]}, curve)
    loss_axis = figure.axes[0]
    assert loss_axis.get_title() == "Loss by training step" and loss_axis.get_xlabel() == ""
    assert figure.axes[1].get_xlabel() == "optimizer step"
    assert [line.get_label() for line in loss_axis.get_lines()][1:] == ["training loss (smoothed)",
                                                                        "validation loss (after each epoch)"]
    assert smoothed([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])  # debiased: no start at zero
    # One epoch and no curve: the per-epoch figure as before.
    assert history_figure({"loss": [0.5], "val_loss": [0.3], "accuracy": [0.6], "val_accuracy": [0.7]}).axes[
        0].get_title() == "Loss per epoch"
