"""Figures of a multi-label evaluation: per-label scores and the labels' co-occurrence."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bertclf.reporting.plots import _save, plt


def plot_label_scores(per_label: dict[str, dict], path: Path, title: str) -> None:
    """Saves `label_scores_figure`."""
    _save(label_scores_figure(per_label, title), path)


def label_scores_figure(per_label: dict[str, dict], title: str):
    """F1, precision and recall of each label, most supported first, its support beside it."""
    names = sorted(per_label, key=lambda name: (-per_label[name]["support"], name))
    figure, axis = plt.subplots(figsize=(7, max(3.0, 0.28 * len(names) + 1.2)))
    rows = np.arange(len(names))
    for offset, (key, color) in zip((-0.27, 0.0, 0.27), (("f1", "C0"), ("precision", "C1"), ("recall", "C2"))):
        axis.barh(rows + offset, [per_label[name][key] for name in names], height=0.26, color=color, label=key)
    axis.set_yticks(rows, labels=[f"{name} ({per_label[name]['support']})" for name in names])
    axis.invert_yaxis()
    axis.set_xlim(0, 1)
    axis.set_xlabel("score at the label's threshold (support in brackets)")
    axis.set_title(title)
    axis.grid(axis="x", alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    return figure


def co_occurrence_figure(co_occurrence: dict, title: str):
    """How often two labels are true of the same text (the diagonal: each label's count)."""
    names, counts = co_occurrence["labels"], np.asarray(co_occurrence["counts"], dtype=np.float64)
    size = max(4.0, 0.3 * len(names) + 2.5)
    figure, axis = plt.subplots(figsize=(size, size))
    image = axis.imshow(np.log1p(counts), cmap="Blues")
    colorbar = figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04)
    colorbar.set_label("log(1 + texts)")
    ticks = range(len(names))
    axis.set_xticks(ticks, labels=names, rotation=90)
    axis.set_yticks(ticks, labels=names)
    axis.set_title(title)
    figure.tight_layout()
    return figure
