"""How a config says its texts have several labels each, and what it may not say with that.

A leaf of the config package: plain checks on `DataConfig`'s multi-label keys, raised as
`ValueError`s that pydantic turns into the config's one-line errors.
"""

from __future__ import annotations

from typing import Any

# Keys that only multi-label data reads, and what a single-label config would have them do.
MULTI_LABEL_KEYS = ("label_columns", "label_separator", "label_values")


def check_label_form(data: Any) -> None:
    """Refuses multi-label keys without `data.multi_label`, and settings multi-label data would ignore.

    Raises:
        ValueError: The key and the fix, in one line.
    """
    stray = [key for key in MULTI_LABEL_KEYS if getattr(data, key) is not None]
    if not data.multi_label:
        if stray:
            raise ValueError(f"data.{stray[0]} is for texts with several labels; set data.multi_label: true, "
                             f"or remove it")
        return
    if data.format == "directory":
        raise ValueError("data.multi_label: class folders give each text one label (its folder); use a "
                         "csv/tsv/jsonl file with 0/1 label columns, a column of delimited labels or JSON lists")
    if data.label_columns is not None and data.label_separator is not None:
        raise ValueError("data.label_columns names 0/1 columns and data.label_separator splits one column of "
                         "names; set one of them")
    if data.label_values is not None and data.label_separator is not None:
        raise ValueError("data.label_values gives the meaning of values in 0/1 label columns; with "
                         "data.label_separator the labels are names; remove data.label_values")
    for value, meaning in (data.label_values or {}).items():
        if meaning not in (0, 1):
            raise ValueError(f"data.label_values.{value}: {meaning!r}; a value means 0 (label absent) or 1 "
                             f"(present)")
    if data.class_sample is not None:
        raise ValueError("data.class_sample thins one class's texts, which multi-label texts do not have; "
                         "remove it")
