"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bertclf.metrics import classification_metrics


def test_three_class_metrics_by_hand():
    labels = [0, 0, 1, 1, 2, 2]
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1],
                      [0.1, 0.6, 0.3], [0.3, 0.3, 0.4], [0.6, 0.2, 0.2]])
    m = classification_metrics(labels, probs, ["a", "b", "c"])
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["accuracy"] == pytest.approx(4 / 6)
    # a: P 1/2 R 1/2; b: P 2/3 R 1; c: P 1 R 1/2
    assert m["per_class"]["b"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["b"]["f1"] == pytest.approx(0.8)
    assert m["per_class"]["c"]["f1"] == pytest.approx(2 / 3)
    assert m["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    expected_loss = -np.mean(np.log([0.8, 0.2, 0.8, 0.6, 0.4, 0.2]))
    assert m["loss"] == pytest.approx(expected_loss)


def test_class_never_predicted_has_zero_precision_not_nan():
    m = classification_metrics([0, 1], np.array([[0.9, 0.1], [0.8, 0.2]]), ["neg", "pos"])
    assert m["per_class"]["pos"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert not math.isnan(m["macro_f1"])


def test_binary_auc_by_hand():
    # Positives score 0.9, 0.4, 0.35; negatives 0.8, 0.3, 0.1. Of 9 (pos, neg) pairs the positive
    # ranks higher in 7 -> ROC-AUC 7/9. Ranked: .9+ .8- .4+ .35+ .3- .1- ; precision at each
    # positive: 1/1, 2/3, 3/4 -> average precision (1 + 2/3 + 3/4) / 3.
    labels = [1, 0, 1, 1, 0, 0]
    scores = np.array([0.9, 0.8, 0.4, 0.35, 0.3, 0.1])
    m = classification_metrics(labels, np.stack([1 - scores, scores], axis=1), ["neg", "pos"])
    assert m["roc_auc"] == pytest.approx(7 / 9)
    assert m["pr_auc"] == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)


def test_auc_ties_count_half():
    m = classification_metrics([0, 1], np.array([[0.5, 0.5], [0.5, 0.5]]), ["a", "b"])
    assert m["roc_auc"] == pytest.approx(0.5) and m["pr_auc"] == pytest.approx(0.5)


def test_no_auc_for_multiclass_or_single_class_sets():
    assert "roc_auc" not in classification_metrics([0, 1, 2], np.eye(3), ["a", "b", "c"])
    assert "roc_auc" not in classification_metrics([1, 1], np.array([[0.2, 0.8], [0.4, 0.6]]), ["a", "b"])
