"""Predicting a file: text lines, or CSV/TSV/JSONL rows with any columns, and the same rows
written back out with the model's columns added."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Optional

from bertclf.data.readers import delimited_records, json_records
from bertclf.errors import ConfigError, DataError

# What each extension is read and written as.
FORMATS = {".txt": "txt", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl"}


@dataclasses.dataclass
class Records:
    """A file's rows, in order, and the texts (and second texts) to classify."""

    fmt: str
    fieldnames: list[str]
    rows: list[dict]
    texts: list[str]
    pairs: Optional[list[str]]


def file_format(path: Path) -> str:
    """`txt`, `csv`, `tsv` or `jsonl`, from the file's extension."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(f"{path}: unknown extension {path.suffix or '(none)'}; use .txt (one text per line), "
                          f".csv, .tsv or .jsonl")
    return fmt


def read_records(path: Path, text_column: str = "text", pair_column: Optional[str] = None) -> Records:
    """Reads the rows of `path` and the texts to classify from `text_column` (and `pair_column`).

    Raises:
        ConfigError: The file is missing or has an unknown extension.
        DataError: A row lacks the column or is not valid JSON; named by line.
    """
    fmt = file_format(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        if fmt == "txt":
            texts = path.read_text(encoding="utf-8-sig").splitlines()
            return Records(fmt, ["text"], [{"text": t} for t in texts], texts, None)
        if fmt == "jsonl":
            numbered = list(json_records(path))
            fieldnames = list(dict.fromkeys(key for _, row in numbered for key in row))
        else:
            with delimited_records(path, "," if fmt == "csv" else "\t") as (fieldnames, records):
                numbered = list(records)
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 (byte {error.start}); re-save it as UTF-8") from None
    lines, rows = [number for number, _ in numbered], [row for _, row in numbered]
    texts = _column(path, rows, lines, fieldnames, text_column, "--text-column")
    pairs = _column(path, rows, lines, fieldnames, pair_column, "--pair-column") if pair_column else None
    return Records(fmt, fieldnames, rows, texts, pairs)


def _column(path: Path, rows: list[dict], lines: list[int], fieldnames: list[str], column: str,
            option: str) -> list[str]:
    if column not in fieldnames:
        raise DataError(f"{path}: no column {column!r} (columns: {', '.join(fieldnames) or 'none'}); "
                        f"name the text column with {option}")
    values = []
    for row, line in zip(rows, lines):
        value = row.get(column)
        if value is None:
            raise DataError(f"{path}:{line}: no value in column {column!r}")
        values.append(str(value))
    return values


def write_records(path: Path, records: Records, results: list[dict], class_names: list[str]) -> None:
    """Writes the rows with `label`, `probability` and one `p_<class>` column per class added
    (JSONL: `label`, `probability` and a `probabilities` object), in `path`'s format. A
    multi-label model's rows get `labels` instead of `label` and `probability`: the label set
    joined by `|` (JSONL: a list)."""
    from bertclf.files import write_text_atomic

    fmt = file_format(path)
    multi_label = bool(results) and "labels" in results[0]

    def decision(result: dict, joined: bool = True) -> dict:
        if multi_label:
            return {"labels": "|".join(result["labels"]) if joined else result["labels"]}
        return {"label": result["label"], "probability": result["probability"]}

    if fmt == "jsonl":
        lines = [json.dumps({**row, **decision(result, joined=False), "probabilities": result["probabilities"]},
                            ensure_ascii=False)
                 for row, result in zip(records.rows, results)]
        write_text_atomic(path, "".join(line + "\n" for line in lines))
        return
    if fmt == "txt":
        write_text_atomic(path, "".join(
            ("|".join(r["labels"]) if multi_label else f"{r['label']}\t{r['probability']:.6f}") + f"\t{r['text']}\n"
            for r in results))
        return
    import io

    added = (["labels"] if multi_label else ["label", "probability"]) + [f"p_{name}" for name in class_names]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[f for f in records.fieldnames if f not in added] + added,
                            delimiter="," if fmt == "csv" else "\t", lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row, result in zip(records.rows, results):
        extra = {f"p_{name}": f"{result['probabilities'][name]:.6f}" for name in class_names}
        chosen = decision(result)
        if not multi_label:
            chosen["probability"] = f"{result['probability']:.6f}"
        writer.writerow({**row, **chosen, **extra})
    write_text_atomic(path, buffer.getvalue())
