"""The classification task: logits, labels, probabilities, losses, metrics, optimizer.

Every part of bertclf that needs to know how K classes map to a model's
outputs asks this module: the model builder (how many logits), the training
pipeline (label arrays and their spec), training (loss, metrics, optimizer,
class weights, which metric may be monitored), evaluation and serving
(probabilities). As in the TF BERT tutorial, two classes get one logit with a
sigmoid and binary cross-entropy; K > 2 classes get K logits with a softmax and
sparse categorical cross-entropy. Probabilities are always [batch, K], so
callers never branch on the number of classes.

TensorFlow is imported inside the methods that need it, so the rules here can
be read (and tested) without it.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Optional, Sequence

import numpy as np

from bertclf.errors import ConfigError
from bertclf.metrics import choose_threshold

# Metrics defined only for two classes.
_BINARY_ONLY_METRICS = ("val_roc_auc", "val_pr_auc")
# Monitored metrics where larger is better; everything else (losses) is minimised.
MAXIMISED_MONITORS = frozenset({"val_accuracy", "val_macro_f1", "val_roc_auc", "val_pr_auc",
                                "val_micro_f1", "val_average_precision"})  # the last two: multi-label


def task_for(multi_label: bool, num_classes: int):
    """The task of a run: `ClassificationTask`, or for label sets (`data.multi_label`)
    `bertclf.multilabel_task.MultiLabelTask`."""
    if multi_label:
        from bertclf.multilabel_task import MultiLabelTask

        return MultiLabelTask(num_classes)
    return ClassificationTask(num_classes)


def monitor_direction(monitor: str) -> str:
    """"maximize" or "minimize": which way `train.monitor` improves (Optuna's words)."""
    return "maximize" if monitor in MAXIMISED_MONITORS else "minimize"


@dataclasses.dataclass(frozen=True)
class ClassificationTask:
    """Single-label classification over `num_classes` (>= 2) classes."""

    num_classes: int
    multi_label = False  # one class per text (bertclf.multilabel_task: label sets)

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"a classification task needs at least 2 classes, got {self.num_classes}")

    @property
    def binary(self) -> bool:
        """Two classes, scored by one logit."""
        return self.num_classes == 2

    @property
    def num_logits(self) -> int:
        """One logit for a binary task, one per class otherwise."""
        return 1 if self.binary else self.num_classes

    def targets(self, labels: np.ndarray) -> np.ndarray:
        """Class indices -> what the loss takes: float [n, 1] for one logit, int32 [n] otherwise."""
        labels = np.asarray(labels)
        return labels.astype(np.float32)[:, np.newaxis] if self.binary else labels.astype(np.int32)

    def target_spec(self):
        """The `tf.TensorSpec` of a batch of `targets`."""
        import tensorflow as tf

        return tf.TensorSpec([None, 1], tf.float32) if self.binary else tf.TensorSpec([None], tf.int32)

    def probabilities(self, logits):
        """Logits -> [batch, num_classes] probabilities (a sigmoid pair for one logit), in TensorFlow."""
        import tensorflow as tf

        if self.binary:
            positive = tf.sigmoid(logits[:, 0])
            return tf.stack([1.0 - positive, positive], axis=1)
        return tf.nn.softmax(logits, axis=-1)

    def compile_arguments(self) -> dict:
        """`compile` keyword arguments: the loss on logits and the accuracy metric."""
        import tf_keras

        if self.binary:
            return {"loss": tf_keras.losses.BinaryCrossentropy(from_logits=True),
                    # On a logit, 0 is the 0.5-probability threshold.
                    "metrics": [tf_keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]}
        return {"loss": tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                "metrics": [tf_keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}

    def validation_scores(self, labels, probabilities, class_names: Sequence[str]) -> tuple[dict, dict]:
        """An epoch's validation scores, as `bertclf evaluate` computes them, and the `val_*` logs
        (loss, accuracy, macro F1, and for two classes ROC-AUC and PR-AUC)."""
        from bertclf.metrics import classification_metrics

        scores = classification_metrics(list(labels), probabilities, class_names)
        logs = {f"val_{key}": scores[key] for key in ("loss", "accuracy", "macro_f1", "roc_auc", "pr_auc")
                if key in scores}
        return scores, logs

    def check_monitor(self, monitor: str) -> None:
        """Refuses a `train.monitor` this task does not define.

        Raises:
            ConfigError: ROC-AUC or PR-AUC asked of more than two classes.
        """
        if monitor in ("val_micro_f1", "val_average_precision"):
            raise ConfigError(f"train.monitor: {monitor} is for multi-label data (data.multi_label: true); use "
                              f"val_macro_f1, val_accuracy or val_loss")
        if monitor in _BINARY_ONLY_METRICS and not self.binary:
            raise ConfigError(f"train.monitor: {monitor} is defined for two classes, this data has "
                              f"{self.num_classes}; use val_macro_f1, val_accuracy or val_loss")

    def check_threshold(self, setting) -> None:
        """Refuses a `train.threshold` other than 0.5 for more than two classes.

        Raises:
            ConfigError: A threshold set for a multi-class task.
        """
        if setting == "per_label":
            raise ConfigError("train.threshold: per_label is for multi-label data (data.multi_label: true); one "
                              "label per text takes a probability, auto, or {precision: P} / {recall: R}")
        if setting != 0.5 and not self.binary:
            raise ConfigError(f"train.threshold: a decision threshold is for two classes, this data has "
                              f"{self.num_classes} (the most probable class wins); remove train.threshold")

    def decision_threshold(self, setting, labels: Sequence[int],
                           probabilities) -> tuple[Optional[float], Optional[dict]]:
        """`train.threshold` resolved on the validation split's probabilities (binary tasks only).

        Returns:
            The threshold (None for more than two classes) and its record for
            metrics.json: the value, the rule that chose it and, when chosen on
            validation, its validation precision, recall and F1 of the positive class.
        """
        if not self.binary:
            return None, None
        if isinstance(setting, float):
            return setting, {"value": setting, "rule": "fixed"}
        target = {} if setting == "auto" else {k: v for k, v in setting.model_dump().items() if v is not None}
        value, achieved = choose_threshold(np.asarray(labels) == 1, np.asarray(probabilities)[:, 1], **target)
        rule = "auto: the best validation F1" if not target else "target: validation " + " ".join(
            f"{name} >= {share:g}" for name, share in target.items())
        return value, {"value": value, "rule": rule, "validation": achieved}

    def serving_decision(self, module, threshold: Optional[float]):
        """The exported model's `label` output from its probabilities, in TensorFlow: the most
        probable class or, for two classes with a threshold, the positive class at or above it
        (`bertclf.metrics.predicted_classes`'s rule). Adds the `threshold` variable to `module`."""
        import tensorflow as tf

        if threshold is None or not self.binary:
            return lambda probs: {"label": tf.gather(module.class_names, tf.argmax(probs, axis=1))}
        module.threshold = tf.Variable(threshold, dtype=tf.float32, trainable=False, name="threshold")
        return lambda probs: {"label": tf.gather(module.class_names,
                                                 tf.cast(probs[:, 1] >= module.threshold, tf.int64))}

    def decided_labels(self, probabilities, threshold: Optional[float], class_names: Sequence[str]) -> list[str]:
        """Each row's label as `evaluate` decides it."""
        from bertclf.metrics import predicted_classes

        return [class_names[i] for i in predicted_classes(probabilities, threshold)]

    @staticmethod
    def served_labels(outputs: dict) -> list[str]:
        """Each row's label as the exported model's `serving_default` returned it."""
        return [label.decode("utf-8") for label in outputs["label"].numpy()]

    def evaluation_record(self, examples, probabilities, class_names: Sequence[str], threshold, source: str,
                          left_out: Optional[dict[str, int]] = None) -> dict:
        """`eval-<name>.json`'s content for one split (`bertclf.evaluation.evaluation_record`);
        one label per text leaves no label out (`left_out` is for label sets)."""
        from bertclf.evaluation import evaluation_record

        return evaluation_record(examples, probabilities, list(class_names), threshold, source)

    def class_weight(self, setting, class_names: Sequence[str],
                     train_labels: Sequence[int]) -> Optional[dict[int, float]]:
        """`train.class_weight` as Keras wants it: class index -> loss weight, or None.

        `balanced` weighs each class by n / (classes * count), so every class carries
        the same total weight; `sqrt_balanced` by its square root, halfway (in log terms)
        between none and balanced; a mapping names classes (missing ones weigh 1).

        Raises:
            ConfigError: A class named in the mapping does not exist.
        """
        if setting == "none":
            return None
        if setting in ("balanced", "sqrt_balanced"):
            counts = collections.Counter(train_labels)
            total = len(train_labels)
            power = 1.0 if setting == "balanced" else 0.5
            return {i: (total / (self.num_classes * counts[i])) ** power
                    for i in range(self.num_classes) if counts[i]}
        unknown = [name for name in setting if name not in class_names]
        if unknown:
            raise ConfigError(f"train.class_weight: no class {unknown[0]!r}; classes are "
                              f"{', '.join(class_names)}")
        return {i: float(setting.get(name, 1.0)) for i, name in enumerate(class_names)}
