"""Multi-label examples: reading label sets in the forms people have them, and splitting them.

Reading (`read_label_sets`): a text's labels come from several 0/1 columns (named by
`data.label_columns`, or every column but the text ones that holds only 0/1 values), from one
column of delimited names (`"food|water"`, `data.label_separator`), or from a JSON list in a
JSON-lines file. A value other than 0 or 1 in a label column is an error naming the file, line,
column and value, unless `data.label_values` says what it means (`{"2": 1}`). A text may have
no label at all: in a multi-label data set that is an answer, not a missing one.

Splitting (`iterative_partition`):

A text with several labels cannot be stratified class by class as `splits.partition` does:
one text is in every one of its labels' groups. Iterative stratification (Sechidis, Tsoumakas
and Vlahavas, "On the Stratification of Multi-Label Data", ECML PKDD 2011, algorithm 1) deals
the examples out label by label, the rarest label first, each example to the side that most
wants that label, so that every label with at least two examples is on both sides where it can
be, in about the requested shares. Seeded: the same labels and seed give the same split.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import random
from pathlib import Path
from typing import Optional, Sequence

from bertclf.data.readers import delimited_records, json_records
from bertclf.errors import DataError, LabelValueError

_DELIMITERS = {"csv": ",", "tsv": "\t"}
_BINARY = {"0": 0, "1": 1, "0.0": 0, "1.0": 1}


@dataclasses.dataclass
class LabelSetRow:
    """One multi-label example as read: its text, its labels' names (maybe none), and file:line."""

    text: str
    labels: tuple[str, ...]
    where: str
    pair: Optional[str] = None


@dataclasses.dataclass
class RawLabelSets:
    """What one file gave: rows, the label names in the file's order, rows read, rows skipped."""

    rows: list[LabelSetRow]
    label_names: list[str]
    read: int
    skipped: collections.Counter


def read_label_sets(path: Path, fmt: str, text_column: str, label_column: str, *,
                    label_columns: Optional[list[str]] = None, separator: Optional[str] = None,
                    values: Optional[dict[str, int]] = None, pair_column: Optional[str] = None) -> RawLabelSets:
    """Reads one CSV/TSV/JSON-lines file of multi-label examples.

    Args:
        path: The file.
        fmt: "csv", "tsv" or "jsonl".
        text_column, label_column, pair_column: As for single-label files; `label_column` holds
            the delimited names (with `separator`) or, in JSON lines, a list of names.
        label_columns: The 0/1 columns; None with no `separator` (tables) means every column but
            the text ones whose cells are whole numbers, at least half of them 0, 1 or a key of
            `values` (any other value is then refused with its line).
        separator: Labels are `label_column`'s text split on it.
        values: What other cell values of label columns mean (`{"2": 1}`).

    Raises:
        DataError: A missing column, a value that is neither 0 nor 1 nor mapped, a JSON label
            that is not a list; each named by file and line.
    """
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    meaning = {**_BINARY, **{str(k): int(v) for k, v in (values or {}).items()}}
    try:
        if fmt == "jsonl":
            records, header = list(json_records(path)), None
        else:
            with delimited_records(path, _DELIMITERS[fmt]) as (header, rows):
                records = list(rows)
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 (byte {error.start}); re-save it as UTF-8") from None
    keys = header if header is not None else list(dict.fromkeys(k for _, record in records for k in record))
    _require(path, keys, text_column, "data.text_column", header is not None)
    if pair_column:
        _require(path, keys, pair_column, "data.text_pair_column", header is not None)
    if separator is not None or (fmt == "jsonl" and label_columns is None):
        _require(path, keys, label_column, "data.label_column", header is not None)
        return _from_one_column(path, records, text_column, label_column, pair_column, separator)
    if label_columns is None:
        texts = {text_column, pair_column, label_column if label_column in keys else None}
        label_columns = [key for key in keys if key not in texts and _mostly_binary(records, key, meaning)]
        if not label_columns:
            raise DataError(f"{path}: no column holds only 0/1 values ({', '.join(keys)}); name the label "
                            f"columns in data.label_columns, or give data.label_separator for one column of names")
    for column in label_columns:
        _require(path, keys, column, "data.label_columns", header is not None)
    rows, skipped = [], collections.Counter()
    for number, record in records:
        cells = {column: _cell(record.get(column)) for column in label_columns}
        if any(cell == "" for cell in cells.values()):
            skipped["missing_label"] += 1
            continue
        for column, cell in cells.items():
            if cell not in meaning:
                raise LabelValueError(f"{path}:{number}: column {column!r} holds {cell!r}, neither 0 nor 1; say what it "
                                f"means with data.label_values (e.g. {{'{cell}': 1}}) or fix the file")
        rows.append(LabelSetRow(_text(record.get(text_column)),
                                tuple(column for column, cell in cells.items() if meaning[cell] == 1),
                                f"{path}:{number}", _pair(record, pair_column)))
    return RawLabelSets(rows, list(label_columns), len(records), skipped)


def _from_one_column(path: Path, records, text_column: str, label_column: str, pair_column: Optional[str],
                     separator: Optional[str]) -> RawLabelSets:
    rows, skipped, names = [], collections.Counter(), {}
    for number, record in records:
        value = record.get(label_column)
        if value is None:
            skipped["missing_label"] += 1
            continue
        if separator is None:  # JSON lines: a list of names
            if not isinstance(value, list):
                raise DataError(f"{path}:{number}: {label_column!r} is {json.dumps(value)}, not a list of labels; "
                                f"write [\"a\", \"b\"] ([] for none), or set data.label_separator for a "
                                f"string of names")
            labels = [str(item).strip() for item in value]
        else:
            labels = [part.strip() for part in str(value).split(separator)]
        labels = tuple(dict.fromkeys(label for label in labels if label))
        names.update(dict.fromkeys(labels))
        rows.append(LabelSetRow(_text(record.get(text_column)), labels, f"{path}:{number}", _pair(record, pair_column)))
    return RawLabelSets(rows, sorted(names), len(records), skipped)


def _mostly_binary(records, key: str, meaning: dict[str, int]) -> bool:
    """A label column, when the config names none: every cell a whole number, at least half of
    them 0, 1 or mapped. Not "all 0/1": a label column with a stray value (the disaster set's
    `related` = 2) must be found, to be refused with its line, not silently left out; an `id`
    column is whole numbers, but few of them 0 or 1."""
    cells = [_cell(record.get(key)) for _, record in records]
    whole = all(cell.lstrip("-").replace(".0", "", 1).isdigit() for cell in cells if cell != "")
    return bool(cells) and whole and sum(cell in meaning for cell in cells) >= 0.5 * len(cells)


def _require(path: Path, keys: list[str], column: str, key: str, table: bool) -> None:
    if column not in keys:
        where = "in the header" if table else "on any line"
        raise DataError(f"{path}: no column {column!r} {where} ({', '.join(keys) or 'none'}); set {key}")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(int(value))
    return str(value).strip()


def _text(value) -> str:
    return "" if value is None else str(value)


def _pair(record: dict, pair_column: Optional[str]) -> Optional[str]:
    return (str(record.get(pair_column) or "")) if pair_column else None


def iterative_partition(label_sets: Sequence[Sequence[int]], fraction: float,
                        rng: random.Random) -> tuple[list[int], list[int]]:
    """Splits indices into (held out, rest), holding out about `fraction` of the examples and of
    each label's examples.

    Args:
        label_sets: Per example, the indices of its labels (possibly none).
        fraction: The share held out, in (0, 1).
        rng: The seeded source of every tie-break.

    Returns:
        The held-out indices and the others, each shuffled. Every label with two or more examples
        has at least one on each side, unless all of its examples also carry a rarer label whose
        own split decided otherwise (rare in practice; the function then keeps the shares).
    """
    n = len(label_sets)
    shares = (fraction, 1.0 - fraction)
    wanted_total = [n * share for share in shares]
    counts: dict[int, int] = {}
    for labels in label_sets:
        for label in set(labels):
            counts[label] = counts.get(label, 0) + 1
    wanted = {label: [count * share for share in shares] for label, count in counts.items()}
    # At least one example of each label with two or more on each side: the desired counts say
    # so from the start, so the rarest labels are split before the frequent ones fill a side.
    for label, count in counts.items():
        if count >= 2:
            wanted[label] = [max(value, 1.0) for value in wanted[label]]
    sides: list[list[int]] = [[], []]
    left = set(range(n))
    remaining = dict(counts)
    by_label: dict[int, list[int]] = {}
    for i, labels in enumerate(label_sets):
        for label in set(labels):
            by_label.setdefault(label, []).append(i)
    while remaining:
        fewest = min(remaining.values())
        label = rng.choice(sorted(label for label, count in remaining.items() if count == fewest))
        examples = [i for i in by_label[label] if i in left]
        rng.shuffle(examples)
        for i in examples:
            side = _choose(wanted[label], wanted_total, rng)
            sides[side].append(i)
            left.discard(i)
            wanted_total[side] -= 1
            for other in set(label_sets[i]):
                wanted[other][side] -= 1
                remaining[other] -= 1
                if remaining[other] == 0:
                    del remaining[other]
    for i in sorted(left):  # examples with no label: wherever the shares still want them
        side = _choose(wanted_total, wanted_total, rng)
        sides[side].append(i)
        wanted_total[side] -= 1
    held_out, rest = sides
    rng.shuffle(held_out)
    rng.shuffle(rest)
    return held_out, rest


def _choose(wanted: list[float], wanted_total: list[float], rng: random.Random) -> int:
    """The side that wants this label most; ties go to the side that wants most examples, then
    to chance."""
    best = max(wanted)
    sides = [side for side, value in enumerate(wanted) if value == best]
    if len(sides) > 1:
        most = max(wanted_total[side] for side in sides)
        sides = [side for side in sides if wanted_total[side] == most]
    return sides[0] if len(sides) == 1 else rng.choice(sides)
