"""Figures for the run folder, drawn with matplotlib's file-only Agg backend."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Optional, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.ticker import MaxNLocator  # noqa: E402

from bertclf import artifacts  # noqa: E402
from bertclf.files import write_atomic, write_json_atomic, write_text_atomic  # noqa: E402


def plot_history(history: dict[str, list[float]], path: Path, curve: Optional[dict] = None) -> None:
    """The run's learning curves (see `history_figure`)."""
    _save(history_figure(history, curve), path)


def history_figure(history: dict[str, list[float]], curve: Optional[dict] = None):
    """Loss and accuracy, training against validation.

    With a step curve of a few points or more (`history_steps.json`: training every few steps,
    validation after each epoch), by optimizer step, the examples seen on the top axis: a run
    under a time budget often trains one epoch, which per-epoch history shows as two dots.
    Otherwise per epoch, as the TF tutorial draws it.
    """
    if curve and len(curve.get("train", [])) >= 3:
        return _step_figure(curve)
    epochs = range(1, len(history.get("loss", [])) + 1)
    figure, axes = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    for axis, metric, title in ((axes[0], "loss", "Loss"), (axes[1], "accuracy", "Accuracy")):
        if metric in history:
            axis.plot(epochs, history[metric], "o-", label=f"training {metric}")
        if f"val_{metric}" in history:
            axis.plot(epochs, history[f"val_{metric}"], "s--", label=f"validation {metric}")
        axis.set_title(f"{title} per epoch")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    axes[1].set_xlabel("epoch")
    # Whole epochs only: with one or two epochs the integer locator falls back to fractions.
    if len(epochs) <= 20:
        axes[1].set_xticks(list(epochs))
        axes[1].set_xlim(0.5, max(1, len(epochs)) + 0.5)
    else:
        axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    return figure


def _step_figure(curve: dict):
    train, validation = curve["train"], curve.get("validation", [])
    steps = [point["step"] for point in train]
    per_step = train[-1]["examples"] / train[-1]["step"] if train[-1]["step"] else 1.0
    figure, axes = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    for axis, metric, title in ((axes[0], "loss", "Loss"), (axes[1], "accuracy", "Accuracy")):
        values = [point.get(metric) for point in train]
        if all(value is not None for value in values):
            axis.plot(steps, values, "-", color="C0", alpha=0.25, linewidth=1)
            axis.plot(steps, smoothed(values), "-", color="C0", label=f"training {metric} (smoothed)")
        scored = [(point["step"], point[metric]) for point in validation if metric in point]
        if scored:
            axis.plot(*zip(*scored), "s--", color="C1", label=f"validation {metric} (after each epoch)")
        axis.set_title(f"{title} by training step")
        axis.set_ylabel(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    axes[1].set_xlabel("optimizer step")
    top = axes[0].secondary_xaxis("top", functions=(lambda s: s * per_step, lambda e: e / per_step))
    top.set_xlabel("examples seen")
    figure.tight_layout()
    return figure


def smoothed(values: list[float], weight: float = 0.8) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average, debiased at the start."""
    result, average, correction = [], 0.0, 0.0
    for value in values:
        average = weight * average + (1 - weight) * value
        correction = weight * correction + (1 - weight)
        result.append(average / correction)
    return result


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], class_names: Sequence[str],
                          path: Path, title: str) -> None:
    """Counts with class names on both axes (true on rows, predicted on columns)."""
    _save(confusion_figure(matrix, class_names, title), path)


def confusion_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str):
    """The figure `plot_confusion_matrix` saves."""
    size = max(4.0, 0.6 * len(class_names) + 2.5)
    figure, axis = plt.subplots(figsize=(size, size))
    image = axis.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    ticks = range(len(class_names))
    axis.set_xticks(ticks, labels=class_names, rotation=45, ha="right")
    axis.set_yticks(ticks, labels=class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title)
    peak = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axis.text(j, i, str(count), ha="center", va="center",
                      color="white" if count > peak / 2 else "black")
    figure.tight_layout()
    return figure


def roc_figure(roc: dict, auc: Optional[float], threshold: Optional[float]):
    """True against false positive rate, with chance's diagonal and the operating point."""
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot(roc["fpr"], roc["tpr"], label=f"model (AUC {auc:.3f})" if auc is not None else "model")
    axis.plot([0, 1], [0, 1], ":", color="grey", label="chance")
    point = _operating_point(roc["thresholds"], threshold)
    if point is not None:
        axis.plot(roc["fpr"][point + 1], roc["tpr"][point + 1], "o", color="C3",
                  label=f"threshold {threshold:.3f}")
    _square(axis, "false positive rate", "true positive rate (recall)", "ROC curve")
    return figure


def pr_figure(pr: dict, average_precision: Optional[float], threshold: Optional[float]):
    """Precision against recall, with the positive share (a random ranking's precision)."""
    figure, axis = plt.subplots(figsize=(5, 5))
    label = f"model (AP {average_precision:.3f})" if average_precision is not None else "model"
    axis.step(pr["recall"], pr["precision"], where="post", label=label)
    axis.axhline(pr["positive_share"], linestyle=":", color="grey",
                 label=f"random ({pr['positive_share']:.1%} positive)")
    point = _operating_point(pr["thresholds"], threshold)
    if point is not None:
        axis.plot(pr["recall"][point], pr["precision"][point], "o", color="C3", label=f"threshold {threshold:.3f}")
    _square(axis, "recall", "precision", "Precision-recall curve")
    return figure


def calibration_figure(calibration: dict):
    """Reliability diagram: observed frequency against mean probability per bin, with counts below."""
    figure, (axis, counts) = plt.subplots(2, 1, figsize=(5, 6.5), sharex=True,
                                          gridspec_kw={"height_ratios": [3, 1]})
    filled = [b for b in calibration["bins"] if b["count"]]
    axis.plot([0, 1], [0, 1], ":", color="grey", label="perfectly calibrated")
    axis.plot([b["confidence"] for b in filled], [b["accuracy"] for b in filled], "o-",
              label=f"model (ECE {calibration['ece']:.3f})")
    binary = calibration.get("kind") == "positive"
    _square(axis, "", "share positive" if binary else "accuracy",
            "Reliability of P(positive)" if binary else "Reliability of the top class's probability")
    centres = [(b["low"] + b["high"]) / 2 for b in calibration["bins"]]
    counts.bar(centres, [b["count"] for b in calibration["bins"]],
               width=calibration["bins"][0]["high"] - calibration["bins"][0]["low"], color="C0", alpha=0.6)
    counts.set_xlabel("P(positive)" if binary else "probability of the top class")
    counts.set_ylabel("examples")
    figure.tight_layout()
    return figure


def token_length_figure(histogram: dict, seq_length: int, split: str):
    """Wordpiece lengths of a split, with the cut at seq_length."""
    figure, axis = plt.subplots(figsize=(7, 3.2))
    width = histogram["bin_width"]
    axis.bar([i * width for i in range(len(histogram["counts"]))], histogram["counts"], width=width,
             align="edge", color="C0", alpha=0.7)
    axis.axvline(seq_length, color="C3", linestyle="--", label=f"seq_length {seq_length}")
    axis.set_xlabel("tokens (the last bar holds all longer texts)")
    axis.set_ylabel("texts")
    axis.set_title(f"Token lengths: {split}")
    axis.legend()
    figure.tight_layout()
    return figure


def png_bytes(figure) -> bytes:
    """The figure as PNG bytes (for inlining), closing it."""
    buffer = io.BytesIO()
    try:
        figure.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(figure)
    return buffer.getvalue()


def _operating_point(thresholds: Sequence[float], threshold: Optional[float]) -> Optional[int]:
    # Curve points run from the highest threshold down; the operating point is the last one
    # still at or above the decision threshold.
    if threshold is None or not thresholds or thresholds[0] < threshold:
        return None
    return max(i for i, t in enumerate(thresholds) if t >= threshold)


def _square(axis, xlabel: str, ylabel: str, title: str) -> None:
    axis.set_xlim(-0.01, 1.01)
    axis.set_ylim(-0.01, 1.01)
    axis.set_aspect("equal")
    if xlabel:
        axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right" if "ROC" in title else "best")


def _save(figure, path: Path) -> None:
    try:
        write_atomic(path, lambda temporary: figure.savefig(temporary, dpi=110))
    finally:
        plt.close(figure)


def write_history(run_dir: Path, history: dict[str, list[float]], curve: Optional[dict] = None) -> None:
    """history.json, history.csv (one row per epoch), history_steps.json (the step curve, when
    there is one) and the history plot of a run."""
    write_json_atomic(run_dir / artifacts.HISTORY_JSON_FILE, history)
    if curve is not None:
        write_json_atomic(run_dir / artifacts.STEP_HISTORY_FILE, curve)
    keys = list(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["epoch", *keys])
    for epoch in range(len(history.get("loss", []))):
        writer.writerow([epoch + 1, *(history[k][epoch] for k in keys)])
    write_text_atomic(run_dir / artifacts.HISTORY_CSV_FILE, buffer.getvalue())
    plot_history(history, run_dir / artifacts.PLOTS_DIR / artifacts.HISTORY_PLOT_FILE, curve)
