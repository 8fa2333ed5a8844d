"""The data report: what was read, kept and skipped, and what looks wrong.

Saved in every run folder as `data_report.json` and printed by `bertclf data
check`. Token lengths need the encoder's tokenizer, so they are added by
`add_token_lengths` once one is loaded; everything else is plain Python.
"""

from __future__ import annotations

import collections
from typing import Optional, Sequence

from bertclf.data.readers import RawSplit
from bertclf.data.splits import Split

# Below this share of training examples a class gets a warning.
RARE_CLASS_SHARE = 0.01


def build_report(class_names: list[str], splits: dict[str, Optional[Split]],
                 raw: dict[str, Optional[RawSplit]]) -> dict:
    """Per split: rows read, skipped by reason, examples kept, label counts, character lengths."""
    report: dict = {"classes": class_names, "splits": {}}
    for name, split in splits.items():
        if split is None:
            continue
        counts = collections.Counter(split.labels)
        entry = {"examples": len(split),
                 "label_counts": {class_names[i]: counts.get(i, 0) for i in range(len(class_names))},
                 "characters": _percentiles([len(text) for text in split.texts])}
        source = raw.get(name)
        if source is not None:
            entry["rows_read"] = source.read
            entry["skipped"] = dict(sorted(source.skipped.items()))
        report["splits"][name] = entry
    if "train" in report["splits"] and raw.get("validation") is None:
        report["splits"]["validation"]["source"] = "held out from the training file or folder"
    report["warnings"] = data_warnings(report, splits)
    return report


def add_token_lengths(report: dict, split: str, lengths: Sequence[int], seq_length: int,
                      truncation: Optional[str] = "head") -> None:
    """Adds wordpiece-length percentiles and the share of texts longer than `seq_length`.

    The warning about long texts suggests head+tail truncation only to runs that do not use
    it, and never for sentence pairs (`truncation` None: trimmed longest-first, not by it);
    texts read as windows (`truncation` "windows") are read whole, without a warning.
    """
    if split not in report["splits"] or not lengths:
        return
    truncated = sum(1 for n in lengths if n > seq_length) / len(lengths)
    report["splits"][split]["tokens"] = {**_percentiles(lengths), "seq_length": seq_length,
                                         "truncated_share": round(truncated, 4),
                                         "measured_on": len(lengths),
                                         "histogram": _histogram(lengths, seq_length)}
    if truncated > 0.5 and truncation != "windows":  # windows read every text whole
        fix = "a longer seq_length" + ("" if truncation in ("head_tail", None) else ", data.truncation: head_tail")
        fix += "" if truncation is None else " or model.long_text: windows"
        kept = f"{truncation} kept" if truncation else "pairs trimmed longest-first"
        report["warnings"].append(
            f"{split}: {truncated:.0%} of texts are longer than model.seq_length={seq_length} tokens and "
            f"will be cut ({kept}); consider {fix}")


def _histogram(lengths: Sequence[int], seq_length: int, bins: int = 30) -> dict:
    """Counts in equal-width bins up to past seq_length and the 99th percentile; the last bin
    also holds everything longer, so a long tail does not flatten the rest."""
    ordered = sorted(lengths)
    top = max(int(seq_length * 1.25), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], bins)
    width = -(-top // bins)  # ceiling: whole tokens per bin
    counts = [0] * bins
    for n in lengths:
        counts[min(n // width, bins - 1)] += 1
    return {"bin_width": width, "counts": counts}


def data_warnings(report: dict, splits: dict[str, Optional[Split]]) -> list[str]:
    """Rare classes, classes missing from a split, and test texts that also occur in training."""
    warnings = []
    train = report["splits"].get("train")
    if train:
        total = max(train["examples"], 1)
        for name, count in train["label_counts"].items():
            if count / total < RARE_CLASS_SHARE:
                warnings.append(f"train: class {name!r} is {count / total:.2%} of examples ({count}); "
                                f"consider train.class_weight: balanced")
    for split_name, entry in report["splits"].items():
        missing = [name for name, count in entry["label_counts"].items() if count == 0]
        if missing and entry["examples"]:
            warnings.append(f"{split_name}: no examples of {', '.join(map(repr, missing))}")
    train_split, test_split = splits.get("train"), splits.get("test")
    if train_split is not None and test_split is not None:
        seen = {_normalise(text) for text in train_split.texts}
        leaked = sum(1 for text in test_split.texts if _normalise(text) in seen)
        if leaked:
            warnings.append(f"test: {leaked} text(s) also occur in train (leakage inflates test scores)")
    return warnings


def _normalise(text: str) -> str:
    return " ".join(text.lower().split())


def _percentiles(values: Sequence[int]) -> dict:
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda p: ordered[min(len(ordered) - 1, len(ordered) * p // 100)]  # noqa: E731
    return {"p50": pick(50), "p90": pick(90), "p99": pick(99), "max": ordered[-1]}


def describe_data(data) -> str:
    """One line for the terminal: each split's size and its labels (per label, or per text for label sets)."""
    parts = []
    for name, split in (("train", data.train), ("validation", data.validation), ("test", data.test)):
        if split is None:
            continue
        entry = data.report["splits"][name]
        if data.report.get("multi_label"):  # 37 labels' counts would not fit a line
            parts.append(f"{name} {len(split)} ({entry['labels_per_text']} labels per text)")
        else:
            parts.append(f"{name} {len(split)} ({', '.join(f'{k} {v}' for k, v in entry['label_counts'].items())})")
    labels = f" over {len(data.class_names)} labels" if data.report.get("multi_label") else ""
    return "Data: " + "; ".join(parts) + labels
