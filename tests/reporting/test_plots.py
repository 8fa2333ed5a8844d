"""Figures as a person reads them: whole epochs on the history axis."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("epochs", [1, 2, 5])
def test_history_axis_shows_whole_epochs_only(epochs):
    from bertclf.reporting.plots import history_figure

    history = {"loss": [1.0 / (e + 1) for e in range(epochs)], "val_loss": [0.5] * epochs,
               "accuracy": [0.8] * epochs, "val_accuracy": [0.9] * epochs}
    axis = history_figure(history).axes[1]
    assert [float(tick) for tick in axis.get_xticks()] == [float(e) for e in range(1, epochs + 1)]
