"""Curves, calibration and example lists against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from bertclf.metrics import average_precision, roc_auc
from bertclf.reporting.analysis import analyse, binary_curves, calibration


def test_binary_calibration_compares_p_positive_with_the_share_of_positives():
    # Bin 0.1-0.2: P 0.1 and 0.2 (mean 0.15), one positive of two (0.5): gap 0.35, weight 2/4.
    # Bin 0.8-0.9: P 0.8, 0.8 (mean 0.8), both positive (1.0): gap 0.2, weight 2/4.
    scores = np.array([0.1, 0.2 - 1e-9, 0.8, 0.8])
    result = calibration(np.array([0, 1, 1, 1]), np.stack([1 - scores, scores], axis=1))
    filled = [b for b in result["bins"] if b["count"]]
    assert result["kind"] == "positive" and [b["count"] for b in filled] == [2, 2]
    assert filled[0]["confidence"] == pytest.approx(0.15) and filled[0]["accuracy"] == 0.5
    assert result["ece"] == pytest.approx((2 * 0.35 + 2 * 0.2) / 4)


def test_multiclass_calibration_uses_the_top_class():
    probabilities = np.array([[0.7, 0.2, 0.1], [0.1, 0.75, 0.15], [0.3, 0.3, 0.4]])
    result = calibration(np.array([0, 0, 2]), probabilities)
    assert result["kind"] == "top_class"
    # 0.7 and 0.75 share a bin: mean 0.725, one right (0.5); 0.4 alone, right (1.0).
    assert result["ece"] == pytest.approx((2 * 0.225 + 1 * 0.6) / 3)


def test_curves_agree_with_the_areas_and_end_at_the_corners():
    rng = np.random.default_rng(0)
    positive = rng.random(500) < 0.2
    scores = np.clip(rng.normal(0.3 + 0.3 * positive, 0.2), 0, 1).round(2)  # many ties
    roc, pr = binary_curves(positive, scores)
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0) and (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(roc_auc(positive, scores), abs=1e-9)
    steps = np.diff(np.r_[0.0, pr["recall"]]) * np.array(pr["precision"])
    assert steps.sum() == pytest.approx(average_precision(positive, scores), abs=1e-9)
    assert pr["positive_share"] == pytest.approx(positive.mean())


def test_example_lists_rank_mistakes_by_confidence_and_doubt_by_distance_to_the_threshold():
    scores = np.array([0.95, 0.6, 0.35, 0.05, 0.43])
    labels = [0, 1, 1, 0, 0]
    texts = ["sure but wrong", "right", "wrong and unsure", "sure and right", "<b>close</b>"]
    result = analyse(labels, np.stack([1 - scores, scores], axis=1), ["neg", "pos"], texts, threshold=0.4)
    mistakes = result["confident_mistakes"]
    assert [m["text"] for m in mistakes] == ["sure but wrong", "wrong and unsure", "<b>close</b>"]
    assert mistakes[0]["predicted"] == "pos" and mistakes[0]["confidence"] == pytest.approx(0.95)
    assert mistakes[1]["predicted"] == "neg" and mistakes[1]["confidence"] == pytest.approx(0.65)
    assert [m["text"] for m in result["least_confident"]][:2] == ["<b>close</b>", "wrong and unsure"]
