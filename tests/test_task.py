"""The classification task's rules: logits, targets, probabilities, losses, class weights."""

from __future__ import annotations

import numpy as np
import pytest

from bertclf.errors import ConfigError
from bertclf.task import ClassificationTask


def test_binary_has_one_logit_and_float_column_targets():
    task = ClassificationTask(2)
    assert task.binary and task.num_logits == 1
    targets = task.targets(np.array([0, 1, 1]))
    assert targets.dtype == np.float32 and targets.tolist() == [[0.0], [1.0], [1.0]]


def test_k_classes_have_k_logits_and_integer_targets():
    task = ClassificationTask(4)
    assert not task.binary and task.num_logits == 4
    targets = task.targets(np.array([3, 0, 2]))
    assert targets.dtype == np.int32 and targets.tolist() == [3, 0, 2]


def test_one_class_is_not_a_task():
    with pytest.raises(ValueError, match="at least 2 classes"):
        ClassificationTask(1)


def test_probabilities_are_a_sigmoid_pair_or_a_softmax():
    import tensorflow as tf

    binary = ClassificationTask(2).probabilities(tf.constant([[0.0], [np.log(3.0)]])).numpy()
    np.testing.assert_allclose(binary, [[0.5, 0.5], [0.25, 0.75]], atol=1e-6)
    three = ClassificationTask(3).probabilities(tf.constant([[0.0, np.log(2.0), np.log(5.0)]])).numpy()
    np.testing.assert_allclose(three, [[0.125, 0.25, 0.625]], atol=1e-6)


def test_loss_matches_the_probabilities():
    import tensorflow as tf

    for task, logits, targets in ((ClassificationTask(2), [[np.log(3.0)]], [1]),
                                  (ClassificationTask(3), [[0.0, np.log(2.0), np.log(5.0)]], [2])):
        arguments = task.compile_arguments()
        loss = float(arguments["loss"](task.targets(np.array(targets)), tf.constant(logits, tf.float32)))
        probability = float(task.probabilities(tf.constant(logits, tf.float32))[0, targets[0]])
        assert loss == pytest.approx(-np.log(probability), rel=1e-5)
        metric = arguments["metrics"][0]
        metric.update_state(task.targets(np.array(targets)), tf.constant(logits, tf.float32))
        assert float(metric.result()) == 1.0


def test_monitors_defined_only_for_two_classes_are_refused_for_more():
    ClassificationTask(2).check_monitor("val_roc_auc")
    ClassificationTask(3).check_monitor("val_macro_f1")
    with pytest.raises(ConfigError, match="train.monitor: val_pr_auc is defined for two classes, this data has 3"):
        ClassificationTask(3).check_monitor("val_pr_auc")


def test_balanced_weights_even_out_class_totals():
    weights = ClassificationTask(2).class_weight("balanced", ["neg", "pos"], [0] * 90 + [1] * 10)
    assert weights == pytest.approx({0: 100 / 180, 1: 100 / 20})
    assert 90 * weights[0] == pytest.approx(10 * weights[1])
    root = ClassificationTask(2).class_weight("sqrt_balanced", ["neg", "pos"], [0] * 90 + [1] * 10)
    assert root == pytest.approx({0: (100 / 180) ** 0.5, 1: (100 / 20) ** 0.5})


def test_explicit_weights_by_class_name():
    task = ClassificationTask(2)
    assert task.class_weight({"pos": 3}, ["neg", "pos"], [0, 1]) == {0: 1.0, 1: 3.0}
    assert task.class_weight("none", ["neg", "pos"], [0, 1]) is None
    with pytest.raises(ConfigError, match="train.class_weight: no class 'positive'; classes are neg, pos"):
        task.class_weight({"positive": 2}, ["neg", "pos"], [0, 1])


def test_a_threshold_is_refused_for_more_than_two_classes():
    ClassificationTask(2).check_threshold("auto")
    ClassificationTask(3).check_threshold(0.5)
    with pytest.raises(ConfigError, match="train.threshold: a decision threshold is for two classes, this data has 3"):
        ClassificationTask(3).check_threshold("auto")


def test_decision_threshold_resolves_each_setting_on_validation():
    from bertclf.config import TrainConfig

    labels = [1, 0, 1, 1, 0, 0, 1, 0]
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    probabilities = np.stack([1 - scores, scores], axis=1)
    task = ClassificationTask(2)
    assert task.decision_threshold(0.3, labels, probabilities) == (0.3, {"value": 0.3, "rule": "fixed"})
    value, record = task.decision_threshold("auto", labels, probabilities)
    assert value == pytest.approx(0.5) and record["rule"] == "auto: the best validation F1"
    target = TrainConfig(threshold={"recall": 1.0}).threshold
    value, record = task.decision_threshold(target, labels, probabilities)
    assert value == pytest.approx(0.15) and record["rule"] == "target: validation recall >= 1"
    assert ClassificationTask(3).decision_threshold("auto", [0, 1, 2], np.eye(3)) == (None, None)
