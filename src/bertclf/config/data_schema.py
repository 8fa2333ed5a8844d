"""The `data` section of the config schema: what to read, from where, and how.

Split from `config/schema.py`, which holds the other sections and the whole tree. No TensorFlow here.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from bertclf.config.label_form import check_label_form
from bertclf.config.section import Section as _Section

# A data path written this way is a file under the data root (bertclf.data.root), resolved when read.
DATA_ROOT_PREFIX = "${BERTCLF_DATA}"


class DataSource(_Section):
    """Where a file of the data root comes from (`data.sources`): downloaded when it is missing."""

    url: str
    # `sha256:<hex>` or `md5:<hex>` of the file at `url`, checked on download.
    checksum: Optional[str] = None
    # A file inside the zip archive at `url` (`SST-2/train.tsv`): the archive is downloaded once
    # into the file's folder, checked against `checksum`, and the member is extracted from it.
    member: Optional[str] = None

    @field_validator("checksum")
    @classmethod
    def _a_checksum(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _is_checksum(value):
            raise ValueError(f"{value!r} is not sha256:<64 hex digits> or md5:<32 hex digits>")
        return value

    @field_validator("member")
    @classmethod
    def _a_relative_member(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and (not value or value.startswith("/") or ".." in value.split("/")):
            raise ValueError(f"{value!r} is not a path inside the archive (like SST-2/train.tsv)")
        return value


def _is_checksum(value: str) -> bool:
    match = re.fullmatch(r"(sha256|md5):([0-9a-f]+)", value or "")
    return bool(match) and len(match.group(2)) == {"sha256": 64, "md5": 32}[match.group(1)]


class DataConfig(_Section):
    """Where the texts come from and how they are split, filtered and sampled.

    `format: directory` reads class folders (`path` or an unpacked `archive_url`,
    with `train_dir`/`validation_dir`/`test_dir` inside); `csv`, `tsv` and `jsonl`
    read `train_path` (and optional `validation_path`, `test_path`) by column name.
    """

    format: Literal["directory", "csv", "tsv", "jsonl"] = "directory"
    path: Optional[str] = None
    archive_url: Optional[str] = None
    archive_subdir: Optional[str] = None
    train_dir: str = "train"
    validation_dir: Optional[str] = None
    test_dir: Optional[str] = "test"
    classes: Optional[list[str]] = Field(None, min_length=2)
    train_path: Optional[str] = None
    validation_path: Optional[str] = None
    test_path: Optional[str] = None
    text_column: str = "text"
    label_column: str = "label"
    text_pair_column: Optional[str] = None
    label_names: Optional[dict[str, str]] = None
    validation_split: float = Field(0.2, gt=0, lt=1)
    # Keep class proportions wherever bertclf draws a seeded share: the validation split, and
    # sample_fraction, max_train_examples, max_eval_examples and a time budget's plan. false: plain
    # seeded random draws in all of them.
    stratify: bool = True
    sample_fraction: Optional[float] = Field(None, gt=0, le=1)
    # Keep only this share of a class's examples, in every split (seeded): e.g. `{positive: 0.05}`
    # turns balanced data into an imbalanced task, to try class_weight and train.threshold on.
    class_sample: Optional[dict[str, float]] = None
    min_text_length: int = Field(1, ge=1)
    truncation: Literal["head", "tail", "head_tail"] = "head"
    # Batch texts of similar token length and pad each batch only to its own bucket
    # boundary; the order stays random per epoch. Off pads every batch to seq_length.
    bucketing: bool = True
    max_train_examples: Optional[int] = Field(None, gt=0)
    max_eval_examples: Optional[int] = Field(None, gt=0)
    # Files under the data root (paths written `${BERTCLF_DATA}/...`) and where each comes from:
    # `{nsmc/ratings_train.txt: {url: ..., checksum: sha256:...}}`. A missing one is downloaded
    # into the root (bertclf.data.root); each key must be a file this section reads.
    sources: Optional[dict[str, DataSource]] = None
    # `sha256:<hex>` or `md5:<hex>` of the archive at archive_url, checked when it is downloaded.
    archive_checksum: Optional[str] = None
    # Several labels per text (bertclf.data.label_sets): 0/1 columns (named here, or every column
    # of whole numbers mostly 0/1), one column of names split on label_separator, or JSON lists.
    multi_label: bool = False
    label_columns: Optional[list[str]] = Field(None, min_length=1)
    label_separator: Optional[str] = Field(None, min_length=1)
    # What other values of 0/1 label columns mean: `{2: 1}` reads 2 as present.
    label_values: Optional[dict[str, int]] = None

    @field_validator("label_names", mode="before")
    @classmethod
    def _label_keys_as_text(cls, value: Any) -> Any:
        # YAML reads `0: negative` with an integer key; labels are compared as text.
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("class_sample", mode="before")
    @classmethod
    def _shares_by_class_name(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for name, share in value.items():
                if not isinstance(share, (int, float)) or isinstance(share, bool) or not 0 < share <= 1:
                    raise ValueError(f"data.class_sample.{name} must be a share in (0, 1], got {share!r}")
            return {str(k): float(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _one_source(self) -> "DataConfig":
        if self.format == "directory":
            if (self.path is None) == (self.archive_url is None):
                raise ValueError(
                    "set exactly one of data.path (a local folder) and data.archive_url "
                    "(an archive to download and unpack)")
            stray = [k for k in ("train_path", "validation_path", "test_path", "text_pair_column")
                     if getattr(self, k) is not None]
            if stray:
                raise ValueError(f"data.{stray[0]} is for csv/tsv/jsonl data; with format: directory "
                                 f"use data.path and its train/ and test/ class folders")
            if self.archive_subdir is not None and self.path is not None:
                raise ValueError("data.archive_subdir names a folder inside data.archive_url's archive; with "
                                 "data.path, point data.path at that folder instead")
        else:
            if self.train_path is None:
                raise ValueError(f"format: {self.format} needs data.train_path (and optionally "
                                 f"data.validation_path, data.test_path)")
            if self.path is not None or self.archive_url is not None:
                raise ValueError(f"format: {self.format} reads data.train_path; data.path and "
                                 f"data.archive_url are for format: directory")
            # Keys of class-folder data that a table would silently ignore (compared with their
            # defaults, so a run's saved config, which lists every key, still loads).
            folder_keys = {"classes": None, "archive_subdir": None, "train_dir": "train",
                           "validation_dir": None, "test_dir": "test"}
            stray = [k for k, default in folder_keys.items() if getattr(self, k) != default]
            if stray:
                raise ValueError(f"data.{stray[0]} is for format: directory; with format: {self.format} the "
                                 f"files are data.train_path/validation_path/test_path and the classes "
                                 f"are the label column's values")
        if self.validation_path is not None or self.validation_dir is not None:
            source = "data.validation_path" if self.validation_path is not None else "data.validation_dir"
            samples = self.sample_fraction or self.max_train_examples or self.max_eval_examples
            if self.validation_split != 0.2 or not (self.stratify or samples):
                key = "validation_split" if self.validation_split != 0.2 else "stratify"
                raise ValueError(f"data.{key} splits validation off training, but {source} gives a "
                                 f"validation set; remove one of them")
        if self.archive_checksum is not None:
            if self.archive_url is None:
                raise ValueError("data.archive_checksum checks the archive of data.archive_url; set that, or "
                                 "remove the checksum")
            if not _is_checksum(self.archive_checksum):
                raise ValueError(f"data.archive_checksum: {self.archive_checksum!r} is not sha256:<64 hex "
                                 f"digits> or md5:<32 hex digits>")
        read = {value[len(DATA_ROOT_PREFIX):].lstrip("/") for value in
                (self.path, self.train_path, self.validation_path, self.test_path)
                if isinstance(value, str) and value.startswith(DATA_ROOT_PREFIX)}
        unread = sorted(set(self.sources or {}) - read)
        if unread:
            raise ValueError(f"data.sources.{unread[0]}: no data path of this config reads "
                             f"{DATA_ROOT_PREFIX}/{unread[0]}; fix the name or remove the source")
        if self.text_pair_column is not None and self.truncation != "head":
            raise ValueError("data.truncation applies to single texts; sentence pairs are trimmed "
                             "longest-first to fit model.seq_length, so remove data.truncation")
        check_label_form(self)
        return self

    @field_validator("label_values", mode="before")
    @classmethod
    def _values_as_text(cls, value: Any) -> Any:
        # YAML reads `{2: 1}` with an integer key; cells are compared as text.
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value
