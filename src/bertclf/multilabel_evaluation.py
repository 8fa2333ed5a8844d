"""What a multi-label evaluation records: `eval-<name>.json` for texts with label sets.

The counterpart of `bertclf.evaluation.evaluation_record` (one label per text). The
summaries sit at the top level (`micro_f1`, `macro_f1`, ... as fractions, with
`examples`), per-label details under `per_label`, the labels the model could not learn
under `left_out_labels` (their positives in this split were never predictable, and no
average counts them), and what the report draws under `analysis`: the true and
predicted label sets of every text, the true labels' co-occurrence, and the texts
predicted worst. No TensorFlow here.
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from bertclf.multilabel_metrics import label_matrix, multilabel_metrics, predicted_labels

# Texts listed as predicted worst in the report (lowest per-text F1, then most wrong decisions).
WORST_EXAMPLES = 20
# Summaries that move with the thresholds, recorded at 0.5 too when the thresholds are tuned.
_THRESHOLD_DEPENDENT = ("micro_f1", "macro_f1", "weighted_f1", "samples_f1", "subset_accuracy", "hamming_loss")


def multilabel_evaluation_record(examples, probabilities: np.ndarray, class_names: Sequence[str],
                                 thresholds: Union[float, Sequence[float]], source: str,
                                 left_out: Optional[dict[str, int]] = None) -> dict:
    """The evaluation of one split.

    Args:
        examples: The split (`bertclf.data.Split`) whose `labels` are tuples of label indices.
        probabilities: float [texts, labels], one sigmoid per label.
        class_names: The model's labels, in output order.
        thresholds: One for all labels, or one per label.
        source: Where the texts came from (shown by `evaluate` and the report).
        left_out: Positives in this split of each label the model leaves out.
    """
    truth = label_matrix(examples.labels, len(class_names))
    record = multilabel_metrics(truth, probabilities, class_names, thresholds)
    if np.any(np.asarray(thresholds, dtype=np.float64) != 0.5):
        at_default = multilabel_metrics(truth, probabilities, class_names, 0.5)
        record["at_0.5"] = {key: at_default[key] for key in _THRESHOLD_DEPENDENT}
    record["task"] = "multi_label"
    record["left_out_labels"] = {"labels": dict(left_out or {}),
                                 "positives": int(sum((left_out or {}).values()))}
    record["source"] = source
    record["analysis"] = analyse_label_sets(truth, probabilities, thresholds, class_names, examples.texts)
    return record


def analyse_label_sets(truth: np.ndarray, probabilities: np.ndarray, thresholds, class_names: Sequence[str],
                       texts: Sequence[str]) -> dict:
    """The report's material: every text's true and predicted labels, co-occurrence, worst texts."""
    predicted = predicted_labels(probabilities, thresholds)
    names = list(class_names)

    def label_set(row: np.ndarray) -> list[str]:
        return [names[j] for j in np.flatnonzero(row)]

    hits = (truth & predicted).sum(axis=1)
    sizes = truth.sum(axis=1) + predicted.sum(axis=1)
    text_f1 = np.where(sizes > 0, np.divide(2.0 * hits, sizes, out=np.zeros(len(truth)), where=sizes > 0), 1.0)
    wrong = (truth != predicted).sum(axis=1)
    order = np.lexsort((-wrong, text_f1))[:WORST_EXAMPLES]
    worst = [{"text": texts[i], "true": label_set(truth[i]), "predicted": label_set(predicted[i]),
              "f1": round(float(text_f1[i]), 4),
              "probabilities": {names[j]: round(float(probabilities[i, j]), 4)
                                for j in np.flatnonzero(truth[i] | predicted[i])}}
             for i in order if wrong[i]]
    counts = truth.T.astype(np.int64) @ truth.astype(np.int64)
    return {"true_labels": [label_set(row) for row in truth],
            "predicted_labels": [label_set(row) for row in predicted],
            "co_occurrence": {"labels": names, "counts": counts.tolist()},
            "worst": worst}
