"""The multi-label evaluation record, its terminal text and its figures, without a model."""

from __future__ import annotations

import numpy as np
import pytest

from bertclf.data.splits import Split
from bertclf.multilabel_evaluation import WORST_EXAMPLES, multilabel_evaluation_record

LABELS = ["food", "water", "medical"]


def _record(thresholds=0.5):
    split = Split(["bread please", "thirsty", "doctor and bread", "nothing here"], [(0,), (1,), (0, 2), ()])
    probabilities = np.array([[0.9, 0.1, 0.2], [0.3, 0.4, 0.1], [0.8, 0.2, 0.7], [0.6, 0.1, 0.1]])
    return multilabel_evaluation_record(split, probabilities, LABELS, thresholds, "config split test",
                                        {"offer": 3})


def test_the_record_has_summaries_per_label_details_and_what_was_left_out():
    record = _record()
    assert record["task"] == "multi_label" and record["examples"] == 4 and "at_0.5" not in record
    # At 0.5: food right twice and once wrong (text 4), water missed, medical right.
    assert record["per_label"]["food"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2, "threshold": 0.5, "roc_auc": 1.0,
         "average_precision": 1.0})
    assert record["micro_f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    assert record["left_out_labels"] == {"labels": {"offer": 3}, "positives": 3}
    analysis = record["analysis"]
    assert analysis["true_labels"][2] == ["food", "medical"] and analysis["predicted_labels"][3] == ["food"]
    assert analysis["co_occurrence"]["counts"][0] == [2, 0, 1]
    # Worst first: per-text F1 0 (the missed water, the wrong food), then more wrong decisions, then order.
    assert [row["text"] for row in analysis["worst"]] == ["thirsty", "nothing here"]
    assert len(analysis["worst"]) <= WORST_EXAMPLES


def test_tuned_thresholds_are_recorded_with_the_scores_at_one_half():
    record = _record([0.5, 0.35, 0.5])
    assert record["per_label"]["water"]["threshold"] == 0.35 and record["per_label"]["water"]["f1"] == 1.0
    assert record["at_0.5"]["micro_f1"] == pytest.approx(_record()["micro_f1"])


def test_evaluate_text_and_the_label_chart():
    from bertclf.reporting.multilabel_plots import co_occurrence_figure, label_scores_figure
    from bertclf.reporting.tables import evaluation_text

    record = _record()
    text = evaluation_text("test", record, LABELS)
    assert text.splitlines()[0].startswith("test: 4 examples  micro F1 0.7500")
    assert "offer (3 here); 3 positives of this split not in any average" in text
    # Labels by support: food (2) first.
    table = text.split("\n\n")[-1].splitlines()
    assert table[2].startswith("food") and table[0].startswith("label")
    for figure in (label_scores_figure(record["per_label"], "t"), co_occurrence_figure(record["analysis"]["co_occurrence"], "t")):
        assert figure.axes
