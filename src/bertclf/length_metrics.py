"""Scores by text length: where a run's sequence length costs (`evaluate`'s `by_length`).

Texts are bucketed by their token count had they not been cut ([CLS] and [SEP]
included): up to the sequence length (read whole), up to twice it, up to four times
it, and longer. Each bucket gets its number of texts and the task's headline scores.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

# Upper edges of the buckets, in multiples of the sequence length; the last bucket is open.
BUCKET_MULTIPLES = (1, 2, 4)


def length_buckets(seq_length: int) -> list[tuple[str, int, float]]:
    """(name, lowest tokens, highest tokens) of each bucket."""
    edges = [0] + [seq_length * multiple for multiple in BUCKET_MULTIPLES]
    buckets = [(f"<={high}", low + 1, high) for low, high in zip(edges, edges[1:])]
    return buckets + [(f">{edges[-1]}", edges[-1] + 1, float("inf"))]


def by_length(tokens: np.ndarray, labels: Sequence, probabilities: np.ndarray, class_names: Sequence[str],
              threshold, seq_length: int, multi_label: bool = False) -> dict:
    """Per length bucket: `examples`, and accuracy and macro F1 (label sets: micro F1 and subset
    accuracy), as the evaluation's own metrics compute them. Buckets without texts are kept, with 0.

    Args:
        tokens: int [texts], each text's packed length had it not been cut.
        labels: The texts' labels (class indices, or label-index tuples for label sets).
        probabilities: float [texts, classes].
        class_names: Index -> name.
        threshold: The decision threshold(s) the evaluation used.
        seq_length: The model's sequence length.
        multi_label: Label sets.
    """
    tokens = np.asarray(tokens)
    result = {}
    for name, low, high in length_buckets(seq_length):
        rows = np.flatnonzero((tokens >= low) & (tokens <= high))
        entry = {"tokens": [int(low), None if high == float("inf") else int(high)], "examples": int(len(rows))}
        if len(rows):
            entry.update(headline_scores([labels[i] for i in rows], probabilities[rows], class_names, threshold, multi_label))
        result[name] = entry
    return result


def headline_scores(labels: list, probabilities: np.ndarray, class_names: Sequence[str], threshold,
                    multi_label: bool = False) -> dict:
    """Accuracy and macro F1 (label sets: micro F1 and subset accuracy) at `threshold`."""
    if multi_label:
        from bertclf.multilabel_metrics import label_matrix, multilabel_metrics

        scores = multilabel_metrics(label_matrix(labels, len(class_names)), probabilities, class_names,
                                    threshold if threshold is not None else 0.5)
        return {"micro_f1": scores["micro_f1"], "subset_accuracy": scores["subset_accuracy"]}
    from bertclf.metrics import predicted_classes

    predicted = predicted_classes(probabilities, threshold)
    truth = np.asarray(labels)
    f1s = []
    for k in range(len(class_names)):
        tp = int(((predicted == k) & (truth == k)).sum())
        wrong = int(((predicted == k) != (truth == k)).sum())
        if tp or wrong:
            f1s.append(2 * tp / (2 * tp + wrong))
    return {"accuracy": float((predicted == truth).mean()), "macro_f1": float(np.mean(f1s)) if f1s else 0.0}


def reading_record(config, reading: str, aggregation: str, windows: Optional[int]) -> dict:
    """An evaluation's `long_text`: how texts longer than the sequence length were read."""
    if reading != "windows":
        return {"reading": reading, "truncation": config.data.truncation}
    return {"reading": reading, "aggregation": aggregation, "windows": windows, "stride": config.model.stride,
            "max_windows": config.model.max_windows}
