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
