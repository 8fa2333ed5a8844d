"""In-memory examples as bertclf reads files: what `bertclf.train(train_data=...)` and
`Classifier.predict` accept from Python (lists of tuples, pandas DataFrames and Series).

Missing values are treated as a CSV file's: a None or NaN text is the empty text, a missing
label skips the row, and integers that pandas turned into floats (1.0, beside a NaN) are the
integers. The examples a run trains on are written as JSON lines named by their content, so
the run's saved config points at files that reproduce it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from bertclf.errors import DataError


def write_examples(examples: Any, split: str, text_column: str, label_column: str, pair_column: Optional[str],
                    folder: Path, multi_label: bool = False) -> Path:
    """Writes in-memory examples as JSON lines named by their content; returns the file."""
    rows = example_rows(examples, split, text_column, label_column, pair_column, multi_label)
    columns = (text_column, pair_column, label_column) if pair_column else (text_column, label_column)
    text = "".join(json.dumps(dict(zip(columns, row)), ensure_ascii=False) + "\n" for row in rows)
    path = folder / f"{split}-{hashlib.sha1(text.encode('utf-8')).hexdigest()[:12]}.jsonl"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(".tmp")
        staging.write_text(text, encoding="utf-8")
        staging.replace(path)
    return path


def example_rows(examples: Any, split: str, text_column: str, label_column: str,
                 pair_column: Optional[str] = None, multi_label: bool = False) -> list[tuple]:
    """(text, label) rows, or (text, second text, label) when the config reads sentence pairs;
    with `multi_label`, each label is a list of label names (an empty list: no label)."""
    name = f"{split}_data"
    shape = "(text, second text, label)" if pair_column else "(text, label)"
    if hasattr(examples, "columns") and hasattr(examples, "__getitem__"):  # a pandas DataFrame
        needed = (text_column, pair_column, label_column) if pair_column else (text_column, label_column)
        missing = [c for c in needed if c not in examples.columns]
        if missing:
            raise DataError(f"{name}: no column {missing[0]!r} (columns: {', '.join(map(str, examples.columns))}); "
                            f"set data.text_column / data.text_pair_column / data.label_column")
        tuples = zip(*(examples[column].tolist() for column in needed))
    elif isinstance(examples, (list, tuple)):
        tuples = examples
    else:
        raise DataError(f"{name}: expected a pandas DataFrame or a list of {shape} tuples, "
                        f"got {type(examples).__name__}")
    rows = []
    size = 3 if pair_column else 2
    for number, example in enumerate(tuples, start=1):
        if not isinstance(example, (list, tuple)) or len(example) != size:
            raise DataError(f"{name}: example {number} is not a {shape} tuple: {example!r}"[:200])
        *texts, label = example
        if multi_label:
            rows.append((*("" if is_missing(text) else str(text) for text in texts),
                         label_list(label, f"{name}: example {number}")))
            continue
        label = label.item() if isinstance(label, np.generic) else label
        # As a CSV file is read: a missing label skips the row (data_report counts it), and
        # integers that pandas turned into floats (1.0, beside a NaN) are the integers.
        if is_missing(label):
            label = None
        elif isinstance(label, float) and label.is_integer():
            label = int(label)
        if label is not None and (not isinstance(label, (str, int)) or isinstance(label, bool)):
            raise DataError(f"{name}: example {number}: label {label!r} is not a string or an integer")
        rows.append((*("" if is_missing(text) else str(text) for text in texts), label))
    if not rows:
        raise DataError(f"{name}: no examples")
    return rows


def label_list(labels: Any, where: str) -> list[str]:
    """One in-memory row's label set as names (a list, tuple or array of strings or integers)."""
    if isinstance(labels, np.ndarray):
        labels = labels.tolist()
    if not isinstance(labels, (list, tuple)):
        raise DataError(f"{where}: label {labels!r} is not a list of labels; with data.multi_label each row "
                        f"carries a list, e.g. ['food', 'water'] (or [] for none)"[:300])
    names = [label.item() if isinstance(label, np.generic) else label for label in labels]
    if any(not isinstance(label, (str, int)) or isinstance(label, bool) for label in names):
        raise DataError(f"{where}: labels {labels!r} are not all strings or integers"[:300])
    return [str(label) for label in names]


def texts_from(values: Any, name: str) -> list[str]:
    """Texts from a list or a pandas Series; None and NaN are the empty text (as in a CSV file).

    Raises:
        DataError: One string (it would be classified letter by letter), or a DataFrame
            (iterating it gives its column names).
    """
    if isinstance(values, str):
        raise DataError(f"{name}: expected a list of strings, got one string; wrap it in a list")
    if is_data_frame(values):
        raise DataError(f"{name}: a DataFrame; pass its text column (df['text']), not the frame, whose "
                        f"iteration gives its column names")
    return ["" if is_missing(value) else str(value) for value in values]


def is_data_frame(value: Any) -> bool:
    return hasattr(value, "columns") and hasattr(value, "iloc")


def is_missing(value: Any) -> bool:
    """None, or a float NaN (pandas' missing value in a column of texts or numbers)."""
    return value is None or (isinstance(value, float) and value != value)
