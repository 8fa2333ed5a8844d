"""Multi-label data in memory: read, filter, split and sample label sets, and their report.

The counterpart of `bertclf.data.load_data` for `data.multi_label: true`. A split's `labels`
holds, per text, the sorted tuple of its label indices (maybe empty). The label set comes from
the training file; a label with no positive training example cannot be learned, so it is left
out of the model (a warning names it) and counted apart, split by split, so that evaluation can
say how many positives were never predictable. A label only validation or test has (the
disaster set's `offer`) is such a label, not an error.
"""

from __future__ import annotations

import collections
import random
import sys
from typing import Optional

from bertclf.config import DataConfig
from bertclf.data.label_sets import RawLabelSets, iterative_partition, read_label_sets
from bertclf.data.readers import drop_short_texts
from bertclf.data.root import resolve, shown
from bertclf.data.splits import Split
from bertclf.errors import DataError

# Fewer positive training examples than this: the label is named as too rare to learn well.
RARE_LABEL_POSITIVES = 10


def load_multilabel_data(data: DataConfig, seed: int):
    """Reads the configured multi-label files and derives train/validation/test.

    Returns:
        A `bertclf.data.LabelledData` whose `class_names` are the learnable labels, in the
        training file's order, and whose report has `left_out_labels`.

    Raises:
        DataError: Missing or empty data, fewer than two learnable labels, a bad label value.
    """
    from bertclf.data import LabelledData

    raw = _read(data)
    raw = {name: _filter(split, data.min_text_length) if split else None for name, split in raw.items()}
    train_source = shown(str(data.train_path))
    if not raw["train"].rows:
        raise DataError(f"{train_source}: no usable examples ({raw['train'].read} read, "
                        f"skipped: {dict(raw['train'].skipped) or 'none'})")
    positives = collections.Counter(label for row in raw["train"].rows for label in row.labels)
    learnable = [name for name in raw["train"].label_names if positives[name]]
    left_out = [name for name in raw["train"].label_names if not positives[name]]
    for split in raw.values():  # names only validation or test use (JSON lists, delimited names)
        for name in (split.label_names if split else []):
            if name not in learnable and name not in left_out:
                left_out.append(name)
    if len(learnable) < 2:
        raise DataError(f"{train_source}: {len(learnable)} label(s) with a positive example "
                        f"({', '.join(learnable) or 'none'}); a multi-label classifier needs at least two")
    if left_out:
        print(f"warning: {', '.join(left_out)}: no positive training example, so the model cannot learn "
              f"{'it' if len(left_out) == 1 else 'them'}; left out, and counted apart in evaluation",
              file=sys.stderr, flush=True)
    names = data.label_names or {}
    class_names = [names.get(label, label) for label in learnable]
    index = {label: i for i, label in enumerate(learnable)}
    rng = random.Random(seed)
    train = _to_split(raw["train"], index)
    if data.sample_fraction:
        train = train.subset(_sample(train, max(2, round(len(train) * data.sample_fraction)), rng, data.stratify))
    if raw["validation"] is not None:
        validation = _to_split(raw["validation"], index)
    else:
        held_out, kept = _partition(train, data.validation_split, rng, data.stratify)
        train, validation = train.subset(kept), train.subset(held_out)
    if not len(validation):
        raise DataError("the validation split is empty; training needs one to choose its best epoch")
    test = _to_split(raw["test"], index) if raw["test"] is not None else None
    train = _cap(train, data.max_train_examples, rng, data.stratify)
    validation = _cap(validation, data.max_eval_examples, rng, data.stratify)
    test = _cap(test, data.max_eval_examples, rng, data.stratify)
    splits = {"train": train, "validation": validation, "test": test}
    report = multilabel_report(class_names, splits, raw, left_out)
    return LabelledData(class_names, train, validation, test, report)


def multilabel_report(class_names: list[str], splits: dict[str, Optional[Split]],
                      raw: dict[str, Optional[RawLabelSets]], left_out: list[str]) -> dict:
    """Per split: rows read and skipped, examples, positives per label, labels per text; the
    left-out labels' positives; warnings for rare labels and labels a split lacks."""
    report: dict = {"classes": class_names, "multi_label": True, "splits": {}, "left_out_labels": {}}
    for name, split in splits.items():
        if split is None:
            continue
        counts = collections.Counter(label for labels in split.labels for label in labels)
        sizes = [len(labels) for labels in split.labels]
        entry = {"examples": len(split),
                 "label_counts": {class_names[i]: counts.get(i, 0) for i in range(len(class_names))},
                 "labels_per_text": round(sum(sizes) / max(len(sizes), 1), 3),
                 "texts_without_labels": sizes.count(0)}
        source = raw.get(name)
        if source is not None:
            entry["rows_read"] = source.read
            entry["skipped"] = dict(sorted(source.skipped.items()))
        report["splits"][name] = entry
    for label in left_out:
        report["left_out_labels"][label] = {
            name: sum(label in row.labels for row in source.rows) for name, source in raw.items() if source}
    warnings = []
    train = report["splits"]["train"]["label_counts"]
    rare = [f"{name} ({count})" for name, count in train.items() if count < RARE_LABEL_POSITIVES]
    if rare:
        warnings.append(f"train: {len(rare)} label(s) with fewer than {RARE_LABEL_POSITIVES} positive examples, "
                        f"too rare to learn well: {', '.join(rare)}")
    for split_name, entry in report["splits"].items():
        missing = [name for name, count in entry["label_counts"].items() if count == 0]
        if missing and split_name != "train":
            warnings.append(f"{split_name}: no positive example of {', '.join(missing)}")
    report["warnings"] = warnings
    return report


def read_multilabel_eval_source(path, data: DataConfig, class_names: list[str]) -> Split:
    """A file of label sets in the run's format, for `bertclf evaluate --data`.

    Labels the model does not have are left out of the scoring (a warning counts their
    positives), as labels only a test split has are at training.

    Raises:
        DataError: A folder (class folders cannot hold label sets), unreadable data, a bad value.
    """
    from pathlib import Path

    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: a folder; a multi-label run is evaluated on a file in its format "
                        f"({data.format}) with the same label columns")
    raw = _filter(read_label_sets(path, data.format, data.text_column, data.label_column,
                                  label_columns=data.label_columns, separator=data.label_separator,
                                  values=data.label_values, pair_column=data.text_pair_column),
                  data.min_text_length)
    if not raw.rows:
        raise DataError(f"{path}: no usable examples")
    names = data.label_names or {}
    index = {label: class_names.index(names.get(label, label)) for label in raw.label_names
             if names.get(label, label) in class_names}
    unknown = collections.Counter(label for row in raw.rows for label in row.labels if label not in index)
    if unknown:
        print(f"warning: {path}: labels the model does not have, left out of the scores: "
              + ", ".join(f"{label} ({count} positives)" for label, count in sorted(unknown.items())),
              file=sys.stderr, flush=True)
    return _to_split(raw, index)


def _read(data: DataConfig) -> dict[str, Optional[RawLabelSets]]:
    paths = {"train": data.train_path, "validation": data.validation_path, "test": data.test_path}
    return {name: read_label_sets(resolve(path, f"data.{name}_path", data.sources), data.format, data.text_column,
                                  data.label_column, label_columns=data.label_columns,
                                  separator=data.label_separator, values=data.label_values,
                                  pair_column=data.text_pair_column) if path else None
            for name, path in paths.items()}


def _filter(split: RawLabelSets, min_length: int) -> RawLabelSets:
    kept, skipped = drop_short_texts(split.rows, split.skipped, min_length)
    return RawLabelSets(kept, split.label_names, split.read, skipped)


def _to_split(raw: RawLabelSets, index: dict[str, int]) -> Split:
    labels = [tuple(sorted(index[name] for name in row.labels if name in index)) for row in raw.rows]
    pairs = [row.pair or "" for row in raw.rows] if any(row.pair is not None for row in raw.rows) else None
    return Split([row.text for row in raw.rows], labels, pairs)


def _partition(split: Split, fraction: float, rng: random.Random, stratify: bool) -> tuple[list[int], list[int]]:
    if stratify:
        return iterative_partition(split.labels, fraction, rng)
    indices = list(range(len(split)))
    rng.shuffle(indices)
    take = min(max(round(len(indices) * fraction), 1), len(indices) - 1)
    return indices[:take], indices[take:]


def _sample(split: Split, count: int, rng: random.Random, stratify: bool) -> list[int]:
    """`count` indices: iteratively stratified (every label in about its share), or a plain draw."""
    held_out, rest = _partition(split, count / len(split), rng, stratify)
    if len(held_out) < count:  # the shares are met within an example or two: top up, or trim
        held_out += rest[:count - len(held_out)]
    return held_out[:count]


def _cap(split: Optional[Split], limit: Optional[int], rng: random.Random, stratify: bool) -> Optional[Split]:
    if split is not None and limit and limit < len(split):
        return split.subset(_sample(split, limit, rng, stratify))
    return split
