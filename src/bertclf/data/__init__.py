"""Labelled texts in memory: read, label, filter, split and sample, all before TensorFlow.

Class folders follow `text_dataset_from_directory`'s layout (one subfolder per
label; sorted names are the class order; `*.txt` files are examples) but are
read in plain Python, as are CSV/TSV/JSON-lines files: we need per-row skip
counts, a validation split that is stratified and provably disjoint, seeded
sampling and a data report. Data sets this tool targets fit in memory.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import re
from pathlib import Path
from typing import Optional

from bertclf.config import DataConfig
from bertclf.data.readers import RawSplit, Row, drop_short_texts, read_folder, read_table
from bertclf.data.report import build_report
from bertclf.data.root import resolve, shown
from bertclf.data.splits import Split, partition, sample, stratified_sample
from bertclf.errors import DataError

__all__ = ["LabelledData", "Split", "load_data", "read_eval_source", "partition", "stratified_sample"]


@dataclasses.dataclass
class LabelledData:
    """What a config's data section yields: class names and the three splits."""

    class_names: list[str]
    train: Split
    validation: Split
    test: Optional[Split]
    report: dict
    # Texts of the training source that no split holds (left out by sampling), with every
    # text that validation or test holds removed: unlabelled text for `bertclf pretrain`.
    left_out: list[str] = dataclasses.field(default_factory=list)


def load_data(data: DataConfig, seed: int) -> LabelledData:
    """Reads the configured data and derives train/validation/test.

    The label set comes from the training split. Without a validation file or
    folder, validation is a seeded (by default stratified) share of training,
    disjoint from what is kept. Then `sample_fraction`, `max_train_examples` and
    `max_eval_examples` cut splits to seeded, stratified subsets.

    Raises:
        DataError: Missing or empty data, a single class, a label in validation
            or test that training lacks, a malformed file.
    """
    if data.multi_label:  # label sets instead of one label: bertclf.data.multilabel
        from bertclf.data.multilabel import load_multilabel_data

        return load_multilabel_data(data, seed)
    raw = _read_raw(data)
    raw = {name: _filter(split, data.min_text_length) if split else None for name, split in raw.items()}
    raw_labels = _sorted_labels({row.label for row in raw["train"].rows})
    train_source = _source_name(data, "train")
    if not raw["train"].rows:
        raise DataError(f"{train_source}: no usable examples ({raw['train'].read} read, "
                        f"skipped: {dict(raw['train'].skipped) or 'none'})")
    if len(raw_labels) < 2:
        raise DataError(f"{train_source}: only one class ({raw_labels[0]!r}); a classifier needs "
                        f"at least two labels in the training data")
    names = data.label_names or {}
    unmatched = sorted(set(names) - set(raw_labels))
    if unmatched:
        raise DataError(f"data.label_names: {', '.join(map(repr, unmatched))} match no label of {train_source} "
                        f"(its labels: {', '.join(map(repr, raw_labels))}); fix or remove those keys")
    class_names = [names.get(label, label) for label in raw_labels]
    index = {label: i for i, label in enumerate(raw_labels)}
    rng = random.Random(seed)

    thin = functools.partial(_thin, shares=_class_shares(data.class_sample, class_names), rng=rng)
    train = thin(to_split(raw["train"].rows, index, class_names))
    if data.sample_fraction:
        train = train.subset(sample(train.labels, max(len(class_names), round(len(train) * data.sample_fraction)),
                                    rng, data.stratify))
    if raw["validation"] is not None:
        validation = thin(to_split(raw["validation"].rows, index, class_names))
    else:
        held_out, kept = partition(train.labels, data.validation_split, rng, data.stratify)
        train, validation = train.subset(kept), train.subset(held_out)
    if not len(validation):
        raise DataError(f"{_source_name(data, 'validation')}: no usable examples ({raw['validation'].read} read, "
                        f"skipped: {dict(raw['validation'].skipped) or 'none'}); training needs a validation split "
                        f"to choose its best epoch")
    test = thin(to_split(raw["test"].rows, index, class_names)) if raw["test"] is not None else None
    train = _cap(train, data.max_train_examples, rng, data.stratify)
    validation = _cap(validation, data.max_eval_examples, rng, data.stratify)
    test = _cap(test, data.max_eval_examples, rng, data.stratify)
    report = build_report(class_names, {"train": train, "validation": validation, "test": test}, raw)
    if data.class_sample:
        report["class_sample"] = dict(data.class_sample)
    return LabelledData(class_names, train, validation, test, report,
                        left_out=_left_out(raw["train"], (train, validation, test)))


def _left_out(source: RawSplit, splits: tuple[Optional[Split], ...]) -> list[str]:
    # By text, not by row: a text that appears twice, once in validation, never leaks.
    used = {text for split in splits if split is not None for text in split.texts}
    return [row.text for row in source.rows if row.text not in used]


def read_eval_source(path: Path, data: DataConfig, class_names: list[str]) -> Split:
    """Reads a folder of class subfolders, or a file in the run's table format, for evaluation.

    Raises:
        DataError: Unreadable data, or a label the model was not trained on.
    """
    if data.multi_label:  # label sets: bertclf.data.multilabel
        from bertclf.data.multilabel import read_multilabel_eval_source

        return read_multilabel_eval_source(path, data, class_names)
    if path.is_dir():
        raw = read_folder(path, data.classes)  # the run's class folders only (IMDB's train/ has unsup/)
    elif data.format == "directory":
        raise DataError(f"{path}: not a folder; this run was trained on class folders")
    else:
        raw = read_table(path, data.format, data.text_column, data.label_column, data.text_pair_column)
    raw = _filter(raw, data.min_text_length)
    if not raw.rows:
        raise DataError(f"{path}: no usable examples")
    names = data.label_names or {}
    index = {}
    for label in {row.label for row in raw.rows}:
        shown = names.get(label, label)
        if shown in class_names:
            index[label] = class_names.index(shown)
    return to_split(raw.rows, index, class_names)


def to_split(rows: list[Row], index: dict[str, int], class_names: list[str]) -> Split:
    """Maps raw labels to class indices.

    Raises:
        DataError: A label is not in `index`; names it and the row it is on.
    """
    labels = []
    for row in rows:
        if row.label not in index:
            raise DataError(f"{row.where}: label {row.label!r} is not among the training labels "
                            f"({', '.join(class_names)})")
        labels.append(index[row.label])
    # Every row of a pair data set carries a second text (readers give "" for an empty one), so
    # any row decides; all of them are asked, never the first alone.
    pairs = [row.pair or "" for row in rows] if any(row.pair is not None for row in rows) else None
    return Split([row.text for row in rows], labels, pairs)


def data_root(data: DataConfig) -> Path:
    """The folder holding the split folders: `data.path`, or the unpacked archive."""
    if data.archive_url:
        from bertclf.archive import fetch_archive

        unpacked = fetch_archive(data.archive_url, data.archive_checksum)
        if not data.archive_subdir:
            return unpacked
        root = unpacked / data.archive_subdir
        if not root.is_dir():
            present = sorted(folder.name for folder in unpacked.iterdir() if folder.is_dir())
            raise DataError(f"data.archive_subdir: the archive has no folder {data.archive_subdir!r}; "
                            f"its top-level folders: {', '.join(present) or '(none)'}")
        return root
    root = resolve(data.path, "data.path", data.sources)
    if not root.is_dir():
        raise DataError(f"data.path: {root} does not exist; point it at a folder holding "
                        f"{data.train_dir}/<class>/*.txt")
    return root


def _read_raw(data: DataConfig) -> dict[str, Optional[RawSplit]]:
    if data.format == "directory":
        root = data_root(data)
        raw = {"train": read_folder(root / data.train_dir, data.classes), "validation": None, "test": None}
        if data.validation_dir:
            raw["validation"] = read_folder(root / data.validation_dir, data.classes)
        # The default test folder is optional (many data sets ship without one); a test_dir
        # the config names must exist, or a typo would silently leave the run without a test split.
        if data.test_dir and (root / data.test_dir).is_dir():
            raw["test"] = read_folder(root / data.test_dir, data.classes)
        elif data.test_dir and data.test_dir != DataConfig.model_fields["test_dir"].default:
            present = sorted(folder.name for folder in root.iterdir() if folder.is_dir())
            raise DataError(f"data.test_dir: {root / data.test_dir} does not exist (folders in {root}: "
                            f"{', '.join(present) or 'none'}); fix it, or set data.test_dir: null for no test split")
        return raw
    paths = {"train": data.train_path, "validation": data.validation_path, "test": data.test_path}
    return {name: read_table(resolve(path, f"data.{name}_path", data.sources), data.format, data.text_column,
                             data.label_column, data.text_pair_column) if path else None
            for name, path in paths.items()}


def _filter(split: RawSplit, min_length: int) -> RawSplit:
    kept, skipped = drop_short_texts(split.rows, split.skipped, min_length)
    return RawSplit(kept, split.read, skipped)


_INTEGER = re.compile(r"-?\d+")


def _sorted_labels(labels: set[str]) -> list[str]:
    """Numeric order when every label is an integer (so 2 < 10), text order otherwise."""
    if all(_INTEGER.fullmatch(label) for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def _class_shares(shares: Optional[dict[str, float]], class_names: list[str]) -> dict[int, float]:
    if not shares:
        return {}
    for name in shares:
        if name not in class_names:
            raise DataError(f"data.class_sample: no class {name!r}; the classes are {class_names}")
    return {class_names.index(name): share for name, share in shares.items() if share < 1}


def _thin(split: Optional[Split], shares: dict[int, float], rng: random.Random) -> Optional[Split]:
    """Keeps a seeded share of the named classes' examples (at least one each), all of the others."""
    if split is None or not shares:
        return split
    kept = []
    for label in sorted(set(split.labels)):
        members = [i for i, value in enumerate(split.labels) if value == label]
        if label in shares:
            members = rng.sample(members, max(1, round(len(members) * shares[label])))
        kept += members
    return split.subset(sorted(kept))


def _cap(split: Optional[Split], limit: Optional[int], rng: random.Random, stratify: bool) -> Optional[Split]:
    if split is not None and limit and limit < len(split):
        return split.subset(sample(split.labels, limit, rng, stratify))
    return split


def _source_name(data: DataConfig, split: str) -> str:
    if data.format == "directory":
        folder = getattr(data, f"{split}_dir")
        return str(Path(shown(data.path)) / folder) if data.path else f"{data.archive_url} ({folder}/)"
    return shown(str(getattr(data, f"{split}_path")))
