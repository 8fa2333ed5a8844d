"""The multi-label task: targets, sigmoid probabilities, the weighted loss, monitors, thresholds."""

from __future__ import annotations

import numpy as np
import pytest

from bertclf.errors import ConfigError
from bertclf.multilabel_task import MAX_POSITIVE_WEIGHT, MultiLabelTask


def test_targets_probabilities_and_two_labels_keep_two_logits():
    task = MultiLabelTask(2)
    assert task.num_logits == 2 and not task.binary
    assert task.targets([(0, 1), (), (1,)]).tolist() == [[1, 1], [0, 0], [0, 1]]
    import tensorflow as tf

    probabilities = task.probabilities(tf.constant([[0.0, 2.0], [-3.0, 3.0]])).numpy()
    assert probabilities[0, 0] == pytest.approx(0.5) and probabilities.sum(axis=1)[1] == pytest.approx(1.0, abs=1e-6)
    assert probabilities[0].sum() != pytest.approx(1.0)  # independent labels: rows need not sum to 1


def test_the_loss_is_binary_cross_entropy_and_balanced_weights_weigh_rare_positives_capped():
    import tensorflow as tf

    labels = [(0,), (0, 1), (), ()] + [()] * 96  # label 0: 2 of 100; label 1: 1 of 100
    task = MultiLabelTask(2).with_class_weight("balanced", ["a", "b"], labels)
    assert task.positive_weights == (49.0 if 49.0 < MAX_POSITIVE_WEIGHT else MAX_POSITIVE_WEIGHT, MAX_POSITIVE_WEIGHT)
    common = [(0,)] * 75 + [(1,)] * 25  # label 0: 3 in 4 texts, never weighed below its negatives
    assert MultiLabelTask(2).with_class_weight("balanced", ["a", "b"], common).positive_weights == (1.0, 3.0)
    assert MultiLabelTask(2).with_class_weight("sqrt_balanced", ["a", "b"], common).positive_weights == \
        pytest.approx((1.0, 3.0 ** 0.5))
    assert MultiLabelTask(2).with_class_weight("sqrt_balanced", ["a", "b"], labels).positive_weights == \
        pytest.approx(tuple(w ** 0.5 for w in task.positive_weights))
    y_true, logits = tf.constant([[1.0, 0.0]]), tf.constant([[0.0, 0.0]])
    plain = float(MultiLabelTask(2).compile_arguments()["loss"](y_true, logits))
    assert plain == pytest.approx(np.log(2.0), rel=1e-6)  # both terms log 2, averaged
    weighted = float(task.compile_arguments()["loss"](y_true, logits))
    assert weighted == pytest.approx((task.positive_weights[0] * np.log(2.0) + np.log(2.0)) / 2, rel=1e-6)
    with pytest.raises(ConfigError, match="train.class_weight: no label 'c'"):
        MultiLabelTask(2).with_class_weight({"c": 2.0}, ["a", "b"], labels)
    assert MultiLabelTask(2).with_class_weight({"b": 3.0}, ["a", "b"], labels).positive_weights == (1.0, 3.0)


def test_monitors_and_threshold_rules_of_one_positive_class_are_refused_in_one_line():
    task = MultiLabelTask(3)
    task.check_monitor("val_micro_f1")
    with pytest.raises(ConfigError, match="train.monitor: val_roc_auc is not computed for multi-label data"):
        task.check_monitor("val_roc_auc")
    task.check_threshold(0.4)
    task.check_threshold("per_label")
    task.check_threshold("auto")
    from bertclf.config.schema import ThresholdTarget

    with pytest.raises(ConfigError, match="train.threshold: .*chooses one positive class's threshold"):
        task.check_threshold(ThresholdTarget(precision=0.9))


def test_per_label_thresholds_are_tuned_on_validation_with_the_fallback_recorded():
    task = MultiLabelTask(2)
    labels = [(0,)] * 10 + [()] * 10
    probabilities = np.array([[0.3, 0.1]] * 10 + [[0.1, 0.1]] * 10)
    thresholds, record = task.decision_threshold("per_label", labels, probabilities)
    assert 0.1 < thresholds[0] < 0.3 and thresholds[1] == 0.5
    assert record["kept_default"] == {"1": "0 validation positive(s), fewer than 5: kept 0.5"}
    assert task.decision_threshold(0.4, labels, probabilities) == ([0.4, 0.4], {"value": 0.4, "rule": "fixed"})


def test_auto_thresholds_give_the_best_validation_micro_f1_no_single_label_move_improves():
    from bertclf.multilabel_metrics import multilabel_metrics

    rng = np.random.default_rng(0)
    truth = rng.random((80, 4)) < [0.5, 0.2, 0.1, 0.03]  # the last label: 2-3 positives, too few to tune
    probabilities = np.clip(0.35 * truth + rng.random((80, 4)) * 0.6, 0, 1).astype(np.float32)
    labels = [tuple(np.flatnonzero(row)) for row in truth]
    task = MultiLabelTask(4)
    thresholds, record = task.decision_threshold("auto", labels, probabilities)
    assert record["values"] == thresholds and record["rule"].startswith("auto")
    assert thresholds[3] == record["shared"]

    def micro(t):
        return multilabel_metrics(truth.astype(np.int8), probabilities, list("abcd"), t)["micro_f1"]

    assert micro(thresholds) == pytest.approx(record["validation_micro_f1"], abs=1e-12)
    # Better than any one threshold for all labels, and than 0.5; no move of one tuned label's
    # threshold on a fine grid does better.
    grid = np.linspace(0.005, 0.995, 199)
    assert micro(thresholds) >= max(micro(float(t)) for t in grid) - 1e-12 and micro(thresholds) > micro(0.5)
    for j in range(3):
        for t in grid:
            moved = list(thresholds)
            moved[j] = float(t)
            assert micro(moved) <= micro(thresholds) + 1e-12, (j, t)


def test_validation_scores_log_the_multi_label_monitors():
    task = MultiLabelTask(2)
    labels = [(0,), (0, 1), (), (1,)]
    probabilities = np.array([[0.9, 0.2], [0.8, 0.7], [0.1, 0.3], [0.2, 0.4]])
    scores, logs = task.validation_scores(labels, probabilities, ["a", "b"])
    assert set(logs) == {"val_loss", "val_accuracy", "val_micro_f1", "val_macro_f1", "val_average_precision"}
    # a: 2 right of 2; b: 1 of 2 found (0.4 < 0.5): micro 2*3 / (2*3 + 0 + 1)
    assert logs["val_micro_f1"] == pytest.approx(6 / 7) and logs["val_accuracy"] == pytest.approx(7 / 8)
    assert logs["val_average_precision"] == pytest.approx(1.0)  # both labels ranked perfectly
    assert scores["examples"] == 4


def test_one_label_per_text_refuses_the_multi_label_monitors_and_per_label_thresholds():
    from bertclf.task import ClassificationTask

    with pytest.raises(ConfigError, match="train.monitor: val_micro_f1 is for multi-label data"):
        ClassificationTask(2).check_monitor("val_micro_f1")
    with pytest.raises(ConfigError, match="train.threshold: per_label is for multi-label data"):
        ClassificationTask(2).check_threshold("per_label")


def test_the_default_monitor_follows_the_task(tmp_path):
    from bertclf.config import load_config

    single = tmp_path / "s.yaml"
    single.write_text("data: {format: csv, train_path: t.csv}\nmodel: {encoder: tiny}\n", encoding="utf-8")
    multi = tmp_path / "m.yaml"
    multi.write_text("data: {format: csv, train_path: t.csv, multi_label: true}\nmodel: {encoder: tiny}\n",
                     encoding="utf-8")
    assert load_config(single).train.monitor == "val_loss"
    assert load_config(multi).train.monitor == "val_micro_f1"
    assert load_config(multi, ["train.monitor=val_macro_f1"]).train.monitor == "val_macro_f1"
