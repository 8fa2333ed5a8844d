#!/usr/bin/env python3
"""The baseline bertclf's multi-label disaster config is measured against: TF-IDF + one-vs-rest
logistic regression, on the data set's own train/validation/test split.

Needs scikit-learn, which bertclf does not (`pip install scikit-learn`); no TensorFlow.

    python scripts/disaster_baseline.py --data-root "$BERTCLF_DATA" --output baseline.json

The data: `disaster_response/{train,validation,test}.csv` under the data root; text in
`message`; the label columns are every column but `id`, `message`, `original` and `genre`.
`related` is 2 in 193 rows: read as 1 (as configs/disaster.yaml reads it), no row dropped.
A label with no positive training example cannot be learned (`PII`, `child_alone`, `offer`):
it is left out, and its test positives are counted apart; every average is over the
learnable labels.

Chosen on validation, never on test: C (inverse regularisation, by the best validation micro-F1
at one threshold for all labels, on a 0.05 grid), then the decision thresholds by each rule
bertclf's `train.threshold` offers for label sets, with bertclf's own functions
(bertclf.multilabel_metrics, NumPy only): one for all labels (that grid's best validation
micro-F1), `per_label` (each label's best validation F1; 0.5 for a label with fewer than 5
validation positives) and `auto` (per-label thresholds for the best validation micro-F1). All
three are reported (25 s on 2 cores). `--c 8` skips the search (8 is what it chooses).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

NOT_LABELS = ("id", "message", "original", "genre")
C_GRID = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
THRESHOLDS = np.round(np.arange(0.05, 0.951, 0.05), 2)


def read_split(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(texts, label names, 0/1 matrix) of one CSV file; `related` = 2 read as 1."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        labels = [name for name in reader.fieldnames if name not in NOT_LABELS]
        texts, rows = [], []
        for row in reader:
            texts.append(row["message"])
            rows.append([min(int(row[name]), 1) for name in labels])
    return texts, labels, np.array(rows, dtype=np.int8)


def f1_scores(truth: np.ndarray, predicted: np.ndarray) -> dict:
    """Micro and macro F1 (fractions) over the columns given; a label with no positive in truth
    and none predicted scores 0 (as scikit-learn's zero_division=0), and is counted."""
    tp = (truth & predicted).sum(axis=0).astype(float)
    fp = ((1 - truth) & predicted).sum(axis=0).astype(float)
    fn = (truth & (1 - predicted)).sum(axis=0).astype(float)
    per_label = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=(2 * tp + fp + fn) > 0)
    micro = 2 * tp.sum() / max(2 * tp.sum() + fp.sum() + fn.sum(), 1)
    return {"micro_f1": round(float(micro), 4), "macro_f1": round(float(per_label.mean()), 4),
            "labels_without_positives": int((truth.sum(axis=0) == 0).sum())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=Path(os.environ.get("BERTCLF_DATA", "data")),
                        help="The folder holding disaster_response/ (default: $BERTCLF_DATA).")
    parser.add_argument("--output", type=Path, help="Write the result as JSON here too.")
    parser.add_argument("--c", type=float, help="Use this C instead of choosing it on validation.")
    args = parser.parse_args()
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    from bertclf.multilabel_metrics import tune_micro_thresholds, tune_thresholds

    started = time.perf_counter()
    folder = args.data_root / "disaster_response"
    splits = {name: read_split(folder / f"{name}.csv") for name in ("train", "validation", "test")}
    names = splits["train"][1]
    assert all(split[1] == names for split in splits.values()), "the three files' label columns differ"
    learnable = [j for j in range(len(names)) if splits["train"][2][:, j].sum() > 0]
    left_out = [names[j] for j in range(len(names)) if j not in learnable]
    y = {name: split[2][:, learnable] for name, split in splits.items()}
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, strip_accents="unicode")
    x_train = vectorizer.fit_transform(splits["train"][0])
    x_validation, x_test = (vectorizer.transform(splits[name][0]) for name in ("validation", "test"))

    trials = []
    for c in ([args.c] if args.c else C_GRID):
        model = OneVsRestClassifier(LogisticRegression(C=c, solver="liblinear", max_iter=1000))
        model.fit(x_train, y["train"])
        scores = model.predict_proba(x_validation)
        best_t = max(THRESHOLDS, key=lambda t: f1_scores(y["validation"], (scores >= t).astype(np.int8))["micro_f1"])
        micro = f1_scores(y["validation"], (scores >= best_t).astype(np.int8))["micro_f1"]
        trials.append({"C": c, "threshold": float(best_t), "validation_micro_f1": micro})
        print(f"C={c}: validation micro-F1 {micro:.4f} at threshold {best_t}", file=sys.stderr, flush=True)
    best = max(trials, key=lambda trial: trial["validation_micro_f1"])
    model = OneVsRestClassifier(LogisticRegression(C=best["C"], solver="liblinear", max_iter=1000))
    model.fit(x_train, y["train"])
    validation_scores, test_scores = model.predict_proba(x_validation), model.predict_proba(x_test)
    thresholds = np.array(tune_thresholds(y["validation"], validation_scores)[0])
    micro_thresholds = np.array(tune_micro_thresholds(y["validation"], validation_scores)[0])
    learnable_names = [names[j] for j in learnable]
    result = {
        "data": str(folder), "examples": {name: len(split[0]) for name, split in splits.items()},
        "labels": len(names), "learnable_labels": len(learnable), "left_out": left_out,
        "left_out_test_positives": {names[j]: int(splits["test"][2][:, j].sum()) for j in range(len(names))
                                    if j not in learnable},
        "features": int(x_train.shape[1]), "trials": trials, "C": best["C"],
        "one_threshold": {"threshold": best["threshold"],
                          "test": f1_scores(y["test"], (test_scores >= best["threshold"]).astype(np.int8)),
                          "validation": f1_scores(y["validation"],
                                                  (validation_scores >= best["threshold"]).astype(np.int8))},
        "per_label_thresholds": {"thresholds": dict(zip(learnable_names, map(float, thresholds))),
                                 "test": f1_scores(y["test"], (test_scores >= thresholds).astype(np.int8)),
                                 "validation": f1_scores(y["validation"],
                                                         (validation_scores >= thresholds).astype(np.int8))},
        "auto_thresholds": {"thresholds": dict(zip(learnable_names, map(float, micro_thresholds))),
                            "test": f1_scores(y["test"], (test_scores >= micro_thresholds).astype(np.int8)),
                            "validation": f1_scores(y["validation"],
                                                    (validation_scores >= micro_thresholds).astype(np.int8))},
        "seconds": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
