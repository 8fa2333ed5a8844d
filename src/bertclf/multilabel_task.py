"""The multi-label task: one sigmoid per label, binary cross-entropy, thresholds per label.

Beside `bertclf.task.ClassificationTask` (one label per text), with the same questions
answered for texts that carry any number of labels: K labels get K logits (even K = 2), each
through its own sigmoid, so probabilities are [batch, K] and their rows need not sum to 1;
targets are a 0/1 matrix. `train.class_weight: balanced` weighs each label's positives by its
negatives-to-positives ratio (capped at `MAX_POSITIVE_WEIGHT`), `sqrt_balanced` by its square
root, inside the loss, since Keras's per-example weights cannot weigh one label of a text and
not another.

TensorFlow is imported inside the methods that need it.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

from bertclf.errors import ConfigError
from bertclf.multilabel_metrics import (label_matrix, multilabel_metrics, predicted_labels, tune_micro_thresholds,
                                        tune_thresholds)

MONITORS = ("val_micro_f1", "val_macro_f1", "val_average_precision", "val_loss")
DEFAULT_MONITOR = "val_micro_f1"
# A label with 1 positive in 10,000 texts would otherwise weigh 10,000 times: the loss explodes
# on the few steps that see it. The cap keeps rare labels heard without drowning the rest.
MAX_POSITIVE_WEIGHT = 30.0


@dataclasses.dataclass(frozen=True)
class MultiLabelTask:
    """`num_classes` labels, any number of them per text."""

    num_classes: int
    positive_weights: Optional[tuple[float, ...]] = None

    binary = False
    multi_label = True

    def __post_init__(self) -> None:
        if self.num_classes < 2:
            raise ValueError(f"a multi-label task needs at least 2 labels, got {self.num_classes}")
        if self.positive_weights is not None and len(self.positive_weights) != self.num_classes:
            raise ValueError("one positive weight per label")

    @property
    def num_logits(self) -> int:
        return self.num_classes

    def targets(self, labels: Sequence[Sequence[int]]) -> np.ndarray:
        """Per text its label indices -> float32 [n, K] of 0/1."""
        return label_matrix(labels, self.num_classes).astype(np.float32)

    def target_spec(self):
        import tensorflow as tf

        return tf.TensorSpec([None, self.num_classes], tf.float32)

    def probabilities(self, logits):
        """Logits -> [batch, K] independent probabilities, in TensorFlow."""
        import tensorflow as tf

        return tf.sigmoid(logits)

    def compile_arguments(self) -> dict:
        """`compile` keyword arguments: the (weighted) binary cross-entropy on logits, and the
        share of right (text, label) decisions at 0.5 as `accuracy`."""
        import tf_keras

        return {"loss": multilabel_loss(self.positive_weights),
                "metrics": [tf_keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]}

    def validation_scores(self, labels, probabilities, class_names: Sequence[str]) -> tuple[dict, dict]:
        """An epoch's validation scores at 0.5 (thresholds are tuned once, after training) and the
        `val_*` logs: loss, accuracy (right (text, label) decisions), micro and macro F1, and the
        mean average precision over labels with a validation positive (threshold-free)."""
        scores = multilabel_metrics(self.targets(list(labels)).astype(np.int8), probabilities, class_names)
        precisions = [entry["average_precision"] for entry in scores["per_label"].values()
                      if "average_precision" in entry]
        logs = {"val_loss": scores["loss"], "val_accuracy": 1.0 - scores["hamming_loss"],
                "val_micro_f1": scores["micro_f1"], "val_macro_f1": scores["macro_f1"],
                "val_average_precision": float(np.mean(precisions)) if precisions else float("nan")}
        return scores, logs

    def check_monitor(self, monitor: str) -> None:
        """Raises ConfigError for a monitor multi-label training does not compute."""
        if monitor not in MONITORS:
            raise ConfigError(f"train.monitor: {monitor} is not computed for multi-label data; use "
                              f"{', '.join(MONITORS)}")

    def check_threshold(self, setting) -> None:
        """0.5 (the default), any probability for all labels, `auto` (the best validation micro F1)
        or `per_label` (each label's best validation F1).

        Raises:
            ConfigError: A precision or recall target (a rule for one positive class).
        """
        if not (isinstance(setting, float) or setting in ("auto", "per_label")):
            raise ConfigError(f"train.threshold: {setting!r} chooses one positive class's threshold; with several "
                              f"labels per text use a probability for all of them, auto (the best validation micro "
                              f"F1) or per_label (each label's best validation F1)")

    def decision_threshold(self, setting, labels: Sequence[Sequence[int]], probabilities) -> tuple[list[float], dict]:
        """`train.threshold` resolved on the validation split: one threshold per label, and its record."""
        if isinstance(setting, float):
            return [setting] * self.num_classes, {"value": setting, "rule": "fixed"}
        if setting == "auto":
            thresholds, record = tune_micro_thresholds(self.targets(labels), probabilities)
            return thresholds, {"values": thresholds,
                                "rule": "auto: per-label thresholds for the best validation micro F1", **record}
        thresholds, kept = tune_thresholds(self.targets(labels), probabilities)
        return thresholds, {"values": thresholds, "rule": "per_label: each label's best validation F1",
                            "kept_default": {str(j): reason for j, reason in enumerate(kept) if reason}}

    def serving_decision(self, module, thresholds):
        """The exported model's `predicted` (bool [batch, labels]: at or above the label's
        threshold) and `labels` (string [batch, labels]: the name where predicted, else "")
        outputs. Adds the `thresholds` variable (one per label) to `module`."""
        import tensorflow as tf

        values = np.broadcast_to(np.asarray(0.5 if thresholds is None else thresholds, np.float32),
                                 [self.num_classes]).copy()
        module.thresholds = tf.Variable(values, trainable=False, name="thresholds")

        def decide(probs):
            predicted = probs >= module.thresholds
            names = tf.broadcast_to(module.class_names, tf.shape(predicted))
            return {"predicted": predicted, "labels": tf.where(predicted, names, tf.zeros_like(names))}

        return decide

    def decided_labels(self, probabilities, thresholds, class_names: Sequence[str]) -> list[tuple[str, ...]]:
        """Each row's label set as `evaluate` decides it (label order)."""
        chosen = predicted_labels(probabilities, 0.5 if thresholds is None else thresholds)
        return [tuple(class_names[j] for j in np.flatnonzero(row)) for row in chosen]

    @staticmethod
    def served_labels(outputs: dict) -> list[tuple[str, ...]]:
        """Each row's label set as the exported model's `serving_default` returned it."""
        return [tuple(name.decode("utf-8") for name in row if name) for row in outputs["labels"].numpy()]

    def evaluation_record(self, examples, probabilities, class_names: Sequence[str], thresholds, source: str,
                          left_out: Optional[dict[str, int]] = None) -> dict:
        """`eval-<name>.json`'s content for one split (`bertclf.multilabel_evaluation`)."""
        from bertclf.multilabel_evaluation import multilabel_evaluation_record

        return multilabel_evaluation_record(examples, probabilities, class_names, thresholds, source, left_out)

    def with_class_weight(self, setting, class_names: Sequence[str],
                          train_labels: Sequence[Sequence[int]]) -> "MultiLabelTask":
        """This task with `train.class_weight` as positive weights: balanced (negatives / positives,
        capped), sqrt_balanced (the square root of that, capped at the cap's root), a mapping by
        label name (missing labels weigh 1), or none.

        Raises:
            ConfigError: A label named in the mapping does not exist.
        """
        if setting == "none":
            return dataclasses.replace(self, positive_weights=None)
        if setting in ("balanced", "sqrt_balanced"):
            positives = self.targets(train_labels).sum(axis=0)
            negatives = len(train_labels) - positives
            weights = np.minimum(np.divide(negatives, positives, out=np.ones_like(positives), where=positives > 0),
                                 MAX_POSITIVE_WEIGHT)
            # A label's positives never weigh less than its negatives (related: 3 in 4 messages).
            weights = np.maximum(weights, 1.0)
            if setting == "sqrt_balanced":
                weights = np.sqrt(weights)
            return dataclasses.replace(self, positive_weights=tuple(float(w) for w in weights))
        unknown = [name for name in setting if name not in class_names]
        if unknown:
            raise ConfigError(f"train.class_weight: no label {unknown[0]!r}; labels are {', '.join(class_names)}")
        return dataclasses.replace(self, positive_weights=tuple(float(setting.get(name, 1.0)) for name in class_names))

    def class_weight(self, setting, class_names, train_labels) -> None:
        """Nothing for Keras's per-example weights: the weights live in the loss (`with_class_weight`)."""
        return None


def multilabel_loss(positive_weights: Optional[Sequence[float]] = None):
    """Binary cross-entropy on logits, each label's positive terms weighted, averaged over labels
    and texts: a Keras 2 loss (float32 or bfloat16 logits alike)."""
    import tensorflow as tf
    import tf_keras

    weights = None if positive_weights is None else [float(w) for w in positive_weights]

    def loss(y_true, y_pred):
        y_true = tf.cast(y_true, y_pred.dtype)
        if weights is None:
            terms = tf.nn.sigmoid_cross_entropy_with_logits(labels=y_true, logits=y_pred)
        else:
            terms = tf.nn.weighted_cross_entropy_with_logits(labels=y_true, logits=y_pred,
                                                            pos_weight=tf.constant(weights, y_pred.dtype))
        return tf.reduce_mean(terms, axis=-1)

    class MultiLabelLoss(tf_keras.losses.Loss):
        def call(self, y_true, y_pred):
            return loss(y_true, y_pred)

        def get_config(self):
            return {**super().get_config(), "positive_weights": weights}

    return MultiLabelLoss(name="multilabel_binary_crossentropy")
