"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bertclf.metrics import choose_threshold, classification_metrics, predicted_classes


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


# A validation set small enough to work through by hand: scores high to low, label of each.
_SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
_POSITIVE = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=bool)


def test_auto_threshold_is_the_f1_optimum_computed_by_hand():
    # Predicting positive from each score down: precision/recall/F1 of the positive class are
    # 0.9: 1/1, 1/4, 0.40   0.8: 1/2, 1/4, 0.33   0.7: 2/3, 2/4, 0.57   0.6: 3/4, 3/4, 0.75
    # 0.4: 3/5, 3/4, 0.67   0.3: 3/6, 3/4, 0.60   0.2: 4/7, 4/4, 0.73   0.1: 4/8, 4/4, 0.67
    # Best: from 0.6 down; the threshold sits halfway to the next score, 0.4.
    threshold, achieved = choose_threshold(_POSITIVE, _SCORES)
    assert threshold == pytest.approx(0.5)
    assert achieved == {"precision": pytest.approx(0.75), "recall": pytest.approx(0.75),
                        "f1": pytest.approx(0.75), "met": True}
    predicted = predicted_classes(np.stack([1 - _SCORES, _SCORES], axis=1), threshold)
    assert predicted.tolist() == [1, 1, 1, 1, 0, 0, 0, 0]


def test_threshold_targets_take_the_best_point_that_meets_them():
    # Precision >= 0.75 holds from 0.9 (1.0), 0.6 (0.75): the lowest of those keeps most recall.
    assert choose_threshold(_POSITIVE, _SCORES, precision=0.75)[0] == pytest.approx(0.5)
    # Recall 1.0 first holds at 0.2: halfway to 0.1.
    threshold, achieved = choose_threshold(_POSITIVE, _SCORES, recall=1.0)
    assert threshold == pytest.approx(0.15) and achieved["precision"] == pytest.approx(4 / 7)


def test_an_unreachable_target_falls_back_to_the_best_f1_and_says_so():
    # The top score is a negative, so precision peaks at 2/3 (from 0.7): 0.9 cannot be met.
    # F1 by candidate: 0.7 -> 2/3, 0.4 -> 0.75 (p 0.6, r 1), 0.3 -> 2/3: the best is 0.4, halfway to 0.3.
    positive = np.array([0, 1, 1, 0, 1, 0, 0, 0], dtype=bool)
    threshold, achieved = choose_threshold(positive, _SCORES, precision=0.9)
    assert threshold == pytest.approx(0.35)
    assert achieved == {"precision": pytest.approx(0.6), "recall": 1.0, "f1": pytest.approx(0.75), "met": False}
    assert choose_threshold(positive, _SCORES)[0] == pytest.approx(0.35)  # the same as asking for none


def test_tied_scores_are_one_candidate():
    scores = np.array([0.7, 0.7, 0.7, 0.2])
    threshold, achieved = choose_threshold(np.array([1, 1, 0, 0], dtype=bool), scores)
    assert threshold == pytest.approx(0.45) and achieved["precision"] == pytest.approx(2 / 3)


def test_metrics_at_a_threshold_count_the_positive_class_from_it():
    probs = np.array([[0.7, 0.3], [0.6, 0.4], [0.2, 0.8], [0.9, 0.1]])
    labels = [1, 1, 1, 0]
    at_default = classification_metrics(labels, probs, ["neg", "pos"])
    at_low = classification_metrics(labels, probs, ["neg", "pos"], threshold=0.25)
    assert at_default["confusion_matrix"] == [[1, 0], [2, 1]]
    assert at_low["confusion_matrix"] == [[1, 0], [0, 3]]
    assert at_low["threshold"] == 0.25 and "threshold" not in at_default
    assert at_low["loss"] == at_default["loss"] and at_low["roc_auc"] == at_default["roc_auc"]
    # More than two classes: the most probable class, whatever the threshold.
    three = np.array([[0.2, 0.5, 0.3]])
    assert predicted_classes(three, 0.1).tolist() == [1]
