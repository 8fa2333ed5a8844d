"""Reading labelled texts into memory, splitting and sampling them.

Class folders follow `text_dataset_from_directory`'s convention (one subfolder
per label, sorted names are the class order, `*.txt` files are examples), but
are read here in plain Python rather than through it: we need per-file skip
counts, a validation split that is stratified and provably disjoint, seeded
subsampling and a data report, all before TensorFlow is imported. Data sets of
the size this tool targets (up to a few hundred thousand texts) fit in memory.
"""

from __future__ import annotations

import collections
import dataclasses
import random
from pathlib import Path
from typing import Optional, Sequence

from bertclf.config import DataConfig
from bertclf.errors import DataError


@dataclasses.dataclass
class Split:
    """Texts and their label indices, in a fixed order."""

    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> "Split":
        """The examples at `indices`, in that order."""
        return Split([self.texts[i] for i in indices], [self.labels[i] for i in indices])


@dataclasses.dataclass
class LabelledData:
    """What a config's data section yields: class names and the three splits."""

    class_names: list[str]
    train: Split
    validation: Split
    test: Optional[Split]
    report: dict


def load_data(data: DataConfig, seed: int) -> LabelledData:
    """Reads the configured data and derives train/validation/test.

    Validation is a seeded, stratified share of the training folder, disjoint
    from what is kept for training; `max_train_examples` and `max_eval_examples`
    then cut splits to seeded, stratified subsets.

    Raises:
        DataError: A folder is missing, has no class subfolders, only one class,
            or no readable text.
    """
    root = data_root(data)
    train_all, class_names, train_skipped = read_class_folders(root / data.train_dir, data.classes)
    rng = random.Random(seed)
    validation_idx, train_idx = stratified_partition(train_all.labels, data.validation_split, rng)
    train, validation = train_all.subset(train_idx), train_all.subset(validation_idx)
    if data.max_train_examples and data.max_train_examples < len(train):
        train = train.subset(stratified_sample(train.labels, data.max_train_examples, rng))
    if data.max_eval_examples and data.max_eval_examples < len(validation):
        validation = validation.subset(stratified_sample(validation.labels, data.max_eval_examples, rng))

    test, test_skipped = None, {}
    if data.test_dir and (root / data.test_dir).is_dir():
        test, test_skipped = read_split_folder(root / data.test_dir, class_names, data.max_eval_examples, rng)
    report = data_report(class_names, {"train": train, "validation": validation, "test": test},
                         read={"train": len(train_all) + sum(train_skipped.values()),
                               "test": (len(test) + sum(test_skipped.values())) if test else 0},
                         skipped={"train": train_skipped, "test": test_skipped})
    return LabelledData(class_names, train, validation, test, report)


def data_root(data: DataConfig) -> Path:
    """The folder holding the split folders: `data.path`, or the unpacked archive."""
    if data.archive_url:
        from bertclf.archive import fetch_archive

        root = fetch_archive(data.archive_url)
        if data.archive_subdir:
            root = root / data.archive_subdir
            if not root.is_dir():
                raise DataError(f"data.archive_subdir: the archive has no folder {data.archive_subdir!r}")
        return root
    root = Path(data.path)
    if not root.is_dir():
        raise DataError(f"data.path: {root} does not exist; point it at a folder holding "
                        f"{data.train_dir}/<class>/*.txt")
    return root


def read_class_folders(folder: Path, classes: Optional[list[str]] = None) -> tuple[Split, list[str], dict]:
    """Reads `folder/<class>/*.txt`; class names are the sorted subfolder names.

    Returns:
        The split, the class names (index -> name), and counts of skipped files by reason.
    """
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; expected one subfolder per class, "
                        f"e.g. {folder}/pos/*.txt and {folder}/neg/*.txt")
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is not None:
        missing = [name for name in classes if name not in found]
        if missing:
            raise DataError(f"{folder}: no class folder {missing[0]!r} (data.classes); found: "
                            f"{', '.join(found) or 'none'}")
        found = sorted(classes)
    if not found:
        raise DataError(f"{folder}: no class subfolders; put each class's .txt files in a "
                        f"subfolder named after it, e.g. {folder}/pos/ and {folder}/neg/")
    if len(found) == 1:
        raise DataError(f"{folder}: only one class ({found[0]!r}); a classifier needs at least two "
                        f"class subfolders")
    split, skipped = _read_files(folder, found, {name: i for i, name in enumerate(found)})
    if not split.texts:
        raise DataError(f"{folder}: no non-empty .txt files in {', '.join(found)}")
    return split, found, skipped


def read_split_folder(folder: Path, class_names: list[str], limit: Optional[int],
                      rng: random.Random) -> tuple[Split, dict]:
    """Reads an evaluation folder against known class names (any subset of them).

    Raises:
        DataError: A subfolder names a class the model was not trained on.
    """
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder")
    present = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [name for name in present if name not in class_names]
    if unknown:
        raise DataError(f"{folder}: class folder {unknown[0]!r} is not one of the trained classes "
                        f"({', '.join(class_names)})")
    if not present:
        raise DataError(f"{folder}: no class subfolders ({', '.join(class_names)})")
    split, skipped = _read_files(folder, present, {name: class_names.index(name) for name in present})
    if not split.texts:
        raise DataError(f"{folder}: no non-empty .txt files")
    if limit and limit < len(split):
        split = split.subset(stratified_sample(split.labels, limit, rng))
    return split, skipped


def _read_files(folder: Path, names: list[str], index: dict[str, int]) -> tuple[Split, dict]:
    texts, labels = [], []
    skipped: collections.Counter = collections.Counter()
    for name in names:
        for path in sorted((folder / name).glob("*.txt")):
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                skipped["not_utf8"] += 1
                continue
            if not text.strip():
                skipped["empty"] += 1
                continue
            texts.append(text)
            labels.append(index[name])
    return Split(texts, labels), dict(skipped)


def stratified_partition(labels: Sequence[int], fraction: float,
                         rng: random.Random) -> tuple[list[int], list[int]]:
    """Splits indices into (held out, rest) with `fraction` of each class held out.

    Every class with at least two examples keeps at least one on each side.
    """
    held_out, rest = [], []
    for indices in _by_class(labels).values():
        rng.shuffle(indices)
        take = round(len(indices) * fraction)
        if len(indices) >= 2:
            take = min(max(take, 1), len(indices) - 1)
        held_out += indices[:take]
        rest += indices[take:]
    rng.shuffle(held_out)
    rng.shuffle(rest)
    return held_out, rest


def stratified_sample(labels: Sequence[int], count: int, rng: random.Random) -> list[int]:
    """Picks `count` indices keeping class proportions (largest remainders get the rest)."""
    groups = _by_class(labels)
    total = len(labels)
    quotas = {label: count * len(idx) / total for label, idx in groups.items()}
    taken = {label: int(q) for label, q in quotas.items()}
    by_remainder = sorted(groups, key=lambda label: quotas[label] - taken[label], reverse=True)
    for label in by_remainder[: count - sum(taken.values())]:
        taken[label] += 1
    chosen = []
    for label, indices in groups.items():
        rng.shuffle(indices)
        chosen += indices[: taken[label]]
    rng.shuffle(chosen)
    return chosen


def _by_class(labels: Sequence[int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = collections.defaultdict(list)
    for i, label in enumerate(labels):
        groups[label].append(i)
    return dict(sorted(groups.items()))


def data_report(class_names: list[str], splits: dict[str, Optional[Split]],
                read: dict[str, int], skipped: dict[str, dict]) -> dict:
    """Counts per split: rows read and skipped by reason, label counts, word-length percentiles."""
    report: dict = {"classes": class_names, "splits": {}}
    for name, split in splits.items():
        if split is None:
            continue
        lengths = sorted(len(text.split()) for text in split.texts)
        counts = collections.Counter(split.labels)
        report["splits"][name] = {
            "examples": len(split),
            "label_counts": {class_names[i]: counts.get(i, 0) for i in range(len(class_names))},
            "words_percentiles": {f"p{p}": lengths[min(len(lengths) - 1, len(lengths) * p // 100)]
                                  for p in (50, 90, 99)} if lengths else {},
        }
    for name, count in read.items():
        if name in report["splits"]:
            report["splits"][name]["rows_read"] = count
            report["splits"][name]["skipped"] = skipped.get(name, {})
    return report
