"""Multi-label metrics, on cases small enough to count by hand (checked against scikit-learn 1.9.1's
f1_score, hamming_loss, accuracy_score, roc_auc_score and average_precision_score when written)."""

from __future__ import annotations

import numpy as np
import pytest

from bertclf.multilabel_metrics import label_matrix, multilabel_metrics, predicted_labels, tune_thresholds

NAMES = ["water", "food", "shelter"]


def test_every_average_on_a_case_counted_by_hand():
    truth = label_matrix([(0,), (0, 1), (), (2,)], 3)
    probabilities = np.array([[0.9, 0.2, 0.1],    # water: right
                              [0.8, 0.1, 0.6],    # food missed, shelter wrongly predicted
                              [0.1, 0.1, 0.1],    # nothing, rightly
                              [0.2, 0.7, 0.4]])   # shelter missed, food wrongly predicted
    m = multilabel_metrics(truth, probabilities, NAMES)
    # water tp 2; food tp 0 fp 1 fn 1; shelter tp 0 fp 1 fn 1: micro 2*2 / (2*2 + 2 + 2)
    assert m["micro_f1"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx((1.0 + 0 + 0) / 3)
    assert m["weighted_f1"] == pytest.approx((1.0 * 2 + 0 * 1 + 0 * 1) / 4)
    # texts: 1; 2*1/(2+2) = 0.5; no labels, none predicted = 1; 0
    assert m["samples_f1"] == pytest.approx((1 + 0.5 + 1 + 0) / 4)
    assert m["subset_accuracy"] == pytest.approx(2 / 4)
    assert m["hamming_loss"] == pytest.approx(4 / 12)
    assert m["per_label"]["water"] == pytest.approx({"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2,
                                                     "threshold": 0.5, "roc_auc": 1.0, "average_precision": 1.0})
    assert m["examples"] == 4 and m["labels_without_positives"] == 0


def test_thresholds_per_label_decide_and_a_label_without_positives_is_counted():
    truth = label_matrix([(0,), (0,), (), ()], 3)
    probabilities = np.array([[0.45, 0.2, 0.0], [0.4, 0.6, 0.0], [0.1, 0.1, 0.0], [0.3, 0.1, 0.0]])
    assert predicted_labels(probabilities, [0.35, 0.5, 0.5]).tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]]
    m = multilabel_metrics(truth, probabilities, NAMES, thresholds=[0.35, 0.5, 0.5])
    assert m["per_label"]["water"]["f1"] == 1.0 and m["per_label"]["food"]["f1"] == 0.0
    assert m["labels_without_positives"] == 2 and "roc_auc" not in m["per_label"]["shelter"]
    assert m["per_label"]["water"]["threshold"] == 0.35


def test_tuned_thresholds_take_each_labels_best_f1_and_keep_the_default_with_few_positives():
    rng = np.random.default_rng(1)
    truth = np.zeros((200, 2), dtype=np.int8)
    truth[:60, 0] = 1
    truth[:3, 1] = 1
    scores = np.where(truth == 1, 0.3, 0.1) + rng.random((200, 2)) * 0.05  # positives score 0.3-0.35
    thresholds, reasons = tune_thresholds(truth, scores)
    assert 0.15 < thresholds[0] < 0.3 and reasons[0] is None  # between the two groups: F1 1.0
    assert thresholds[1] == 0.5 and reasons[1] == "3 validation positive(s), fewer than 5: kept 0.5"
    assert multilabel_metrics(truth[:, :1], scores[:, :1], ["a"], thresholds[:1])["micro_f1"] == 1.0


def test_micro_thresholds_silence_a_label_whose_every_prediction_costs_micro_f1():
    from bertclf.multilabel_metrics import tune_micro_thresholds

    # Label 0 is easy but scores low; label 1's positives score lower than its negatives. The
    # best shared threshold (0.15) takes all of label 1; any threshold that finds one of its
    # positives brings more false positives, so the best micro F1 predicts it never.
    truth = np.array([[1, 0]] * 10 + [[0, 1]] * 6 + [[0, 0]] * 14, dtype=np.int8)
    probabilities = np.array([[0.5, 0.6]] * 10 + [[0.1, 0.2]] * 6 + [[0.1, 0.7]] * 14)
    thresholds, record = tune_micro_thresholds(truth, probabilities)
    assert record["shared"] == pytest.approx(0.15)
    predicted = probabilities >= np.asarray(thresholds, dtype=np.float32)
    assert predicted[:, 0].tolist() == [True] * 10 + [False] * 20 and not predicted[:, 1].any()
    assert thresholds[1] > 1.0 and np.float32(1.0) < np.float32(thresholds[1])
    assert record["validation_micro_f1"] == pytest.approx(2 * 10 / (2 * 10 + 6))
    assert record["validation_micro_f1_shared"] == pytest.approx(2 * 16 / (2 * 16 + 24))
