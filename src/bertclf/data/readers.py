"""Reading raw labelled rows: class folders, CSV, TSV and JSON lines.

A reader yields `Row`s with the label as written (a folder name, a cell, a JSON
value) and where it came from, and counts what it skipped and why. Turning
labels into indices happens later, once the training label set is known.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import json
import sys
from pathlib import Path
from typing import Iterator, Optional

from bertclf.errors import DataError

FOLDER_EXTENSION = ".txt"
_DELIMITERS = {"csv": ",", "tsv": "\t"}


@dataclasses.dataclass
class Row:
    """One example as read: text, optional second text, raw label, and file:line."""

    text: str
    label: str
    where: str
    pair: Optional[str] = None


@dataclasses.dataclass
class RawSplit:
    """What a reader got from one file or folder."""

    rows: list[Row]
    read: int
    skipped: collections.Counter


def drop_short_texts(rows: list, skipped: collections.Counter, min_length: int) -> tuple[list, collections.Counter]:
    """The rows (anything with a `text`) whose stripped text has at least `min_length`
    characters, and `skipped` plus the others counted as empty_text or too_short."""
    kept, skipped = [], skipped.copy()
    for row in rows:
        length = len(row.text.strip())
        if length == 0:
            skipped["empty_text"] += 1
        elif length < min_length:
            skipped["too_short"] += 1
        else:
            kept.append(row)
    return kept, skipped


def class_folders(folder: Path) -> list[str]:
    """Sorted names of the class subfolders (hidden folders ignored)."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; expected one subfolder per class, "
                        f"e.g. {folder}/pos/*.txt and {folder}/neg/*.txt")
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_folder(folder: Path, classes: Optional[list[str]] = None) -> RawSplit:
    """Reads `folder/<class>/*.txt`, as `text_dataset_from_directory` lays data out.

    Args:
        folder: The split folder.
        classes: Only these class subfolders (each must exist); default all.
    """
    found = class_folders(folder)
    if classes is not None:
        missing = [name for name in classes if name not in found]
        if missing:
            raise DataError(f"{folder}: no class folder {missing[0]!r} (data.classes); found: "
                            f"{', '.join(found) or 'none'}")
        found = sorted(classes)
    if not found:
        raise DataError(f"{folder}: no class subfolders; put each class's .txt files in a "
                        f"subfolder named after it, e.g. {folder}/pos/ and {folder}/neg/")
    from bertclf.progress import Progress

    files = [(name, path) for name in found for path in sorted((folder / name).glob(f"*{FOLDER_EXTENSION}"))]
    rows, skipped = [], collections.Counter()
    with Progress(f"Reading {folder.name}/", len(files), "files") as shown:
        for name, path in files:
            shown.advance()
            try:
                text = path.read_text(encoding="utf-8-sig")
            except UnicodeDecodeError:
                skipped["not_utf8"] += 1
                continue
            rows.append(Row(text, name, str(path)))
    return RawSplit(rows, len(files), skipped)


def read_table(path: Path, fmt: str, text_column: str, label_column: str,
               pair_column: Optional[str] = None) -> RawSplit:
    """Reads a CSV/TSV file with a header row, or a JSON-lines file of objects.

    CSV and TSV follow the `csv` module's dialect: fields may be quoted, and quoted
    fields may hold delimiters and newlines. A UTF-8 byte-order mark and CRLF line
    ends are accepted.

    Raises:
        DataError: The file is missing, not UTF-8, lacks a named column, or has a
            malformed line.
    """
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        if fmt == "jsonl":
            return _read_jsonl(path, text_column, label_column, pair_column)
        return _read_delimited(path, _DELIMITERS[fmt], text_column, label_column, pair_column)
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 (byte {error.start}); re-save it as UTF-8") from None


def _read_delimited(path: Path, delimiter: str, text_column: str, label_column: str,
                    pair_column: Optional[str]) -> RawSplit:
    rows, skipped, read = [], collections.Counter(), 0
    with delimited_records(path, delimiter) as (header, records):
        for column, key in ((text_column, "data.text_column"), (label_column, "data.label_column"),
                            (pair_column, "data.text_pair_column")):
            if column is not None and column not in header:
                raise DataError(f"{path}: no column {column!r} in the header ({', '.join(header) or 'empty'}); "
                                f"set {key}")
        for number, record in records:
            read += 1
            row = _row(record.get(text_column), record.get(label_column), f"{path}:{number}",
                       (record.get(pair_column) or "") if pair_column else None, skipped)
            if row is not None:
                rows.append(row)
    return RawSplit(rows, read, skipped)


def json_records(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of a JSON-lines file.

    Raises:
        DataError: A line is not JSON, or not an object; named by file and line.
    """
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{number}: not valid JSON ({error.msg}); one object per line") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
            yield number, record


@contextlib.contextmanager
def delimited_records(path: Path, delimiter: str) -> Iterator[tuple[list[str], Iterator[tuple[int, dict]]]]:
    """Opens a CSV/TSV file with a header: yields its header and its (line number, row) pairs.

    Quoted fields may hold delimiters and line breaks; a row's number is the line it ends on.

    Raises:
        DataError: A malformed line, named by file and line (while iterating).
    """
    csv.field_size_limit(sys.maxsize)  # long documents are fine; the default limit is 128 KiB
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)

        def rows() -> Iterator[tuple[int, dict]]:
            try:
                for record in reader:
                    yield reader.line_num, record
            except csv.Error as error:
                raise DataError(f"{path}:{reader.line_num}: malformed line ({error})") from None

        yield list(reader.fieldnames or []), rows()


def _read_jsonl(path: Path, text_column: str, label_column: str,
                pair_column: Optional[str]) -> RawSplit:
    rows, skipped, read = [], collections.Counter(), 0
    for number, record in json_records(path):
        read += 1
        if pair_column and pair_column not in record:
            # Unlike a CSV header, each JSON line names its own keys: a pair data set checks every line.
            raise DataError(f"{path}:{number}: no key {pair_column!r} (data.text_pair_column); every line of a "
                            f"sentence-pair file needs its second text (\"\" for none)")
        row = _row(record.get(text_column), record.get(label_column), f"{path}:{number}",
                   (record.get(pair_column) or "") if pair_column else None, skipped)
        if row is not None:
            rows.append(row)
    return RawSplit(rows, read, skipped)


def _row(text, label, where: str, pair, skipped: collections.Counter) -> Optional[Row]:
    if label is None or (isinstance(label, str) and not label.strip()):
        skipped["missing_label"] += 1
        return None
    if isinstance(label, float) and label.is_integer():
        label = int(label)
    text = "" if text is None else str(text)
    return Row(text, str(label).strip(), where, None if pair is None else str(pair))
