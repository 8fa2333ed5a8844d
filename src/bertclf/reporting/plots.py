"""Figures for the run folder, drawn with matplotlib's file-only Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.ticker import MaxNLocator  # noqa: E402

from bertclf.files import write_atomic  # noqa: E402


def plot_history(history: dict[str, list[float]], path: Path) -> None:
    """Loss and accuracy per epoch, training against validation, as the TF tutorial draws them."""
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
    axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    _save(figure, path)


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], class_names: Sequence[str],
                          path: Path, title: str) -> None:
    """Counts with class names on both axes (true on rows, predicted on columns)."""
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
    _save(figure, path)


def _save(figure, path: Path) -> None:
    try:
        write_atomic(path, lambda temporary: figure.savefig(temporary, dpi=110))
    finally:
        plt.close(figure)
