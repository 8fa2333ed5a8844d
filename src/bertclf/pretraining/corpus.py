"""The pretraining corpus: unlabelled texts gathered, then packed into fixed-length sequences.

Texts come from the training split (and, with `pretrain.train_texts: all`, the
training rows the labelled sample leaves out) and from the files
`pretrain.unlabelled` names. Validation and test texts never enter: a text equal
to one of them is dropped wherever it comes from, so the fine-tuned model is
chosen and scored on text its encoder never saw.

Sequences are packed as RoBERTa's "full sentences": documents are concatenated,
separated by [SEP], and cut into windows of `seq_length - 2` tokens, each
wrapped in [CLS] ... [SEP]. No token is padding except in the last window, so
every step trains on `seq_length` tokens whatever the documents' lengths.
Held-out documents are chosen before packing, so no held-out text is trained on.
No TensorFlow here.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import random
from pathlib import Path
from typing import Sequence

import numpy as np

from bertclf.config import Config
from bertclf.data import LabelledData
from bertclf.errors import DataError, ModelError

# Held-out documents stop at this share of the corpus's documents, so a small corpus keeps
# most of its text for training.
_MAX_HELD_OUT_SHARE = 0.1


@dataclasses.dataclass
class Corpus:
    """The unlabelled texts, and where they came from (source -> number of texts)."""

    texts: list[str]
    sources: dict[str, int]


@dataclasses.dataclass
class PackedCorpus:
    """Token-id sequences, [rows, seq_length] int32, each `[CLS] ... [SEP]` then padding."""

    train: np.ndarray
    held_out: np.ndarray
    train_documents: int
    held_out_documents: int

    def record(self) -> dict:
        """Sizes, for the run's pretrain_data.json."""
        return {"train_sequences": int(len(self.train)), "held_out_sequences": int(len(self.held_out)),
                "train_documents": self.train_documents, "held_out_documents": self.held_out_documents,
                "train_tokens": int(np.count_nonzero(self.train)),
                "held_out_tokens": int(np.count_nonzero(self.held_out))}


def gather_texts(config: Config, data: LabelledData) -> Corpus:
    """The texts to pretrain on, duplicates and any validation or test text removed.

    Raises:
        DataError: An unlabelled source is missing or unreadable, or nothing is left.
    """
    pretrain = config.pretrain
    sources: dict[str, list[str]] = {}
    if pretrain.train_texts in ("labelled", "all"):
        sources["training split"] = list(data.train.texts) + list(data.train.pairs or [])
    if pretrain.train_texts == "all":
        sources["training rows left out of the labelled sample"] = list(data.left_out)
    from bertclf.data.root import resolve

    for path in pretrain.unlabelled:
        sources[path] = read_unlabelled(resolve(path, "pretrain.unlabelled"), config.data.text_column)
    excluded = {text for split in (data.validation, data.test) if split is not None
                for text in [*split.texts, *(split.pairs or [])]}
    seen: set[str] = set()
    texts: list[str] = []
    counts: dict[str, int] = {}
    for name, found in sources.items():
        kept = 0
        for text in found:
            text = text.strip()
            if text and text not in excluded and text not in seen:
                seen.add(text)
                texts.append(text)
                kept += 1
        counts[name] = kept
    if not texts:
        raise DataError("pretrain: no texts to pretrain on; set pretrain.train_texts to labelled or all, "
                        "or name files in pretrain.unlabelled")
    return Corpus(texts, counts)


def read_unlabelled(path: Path, text_column: str = "text") -> list[str]:
    """Texts of one `pretrain.unlabelled` entry (see `PretrainConfig.unlabelled`).

    Raises:
        DataError: The path is missing, or a table lacks the text column.
    """
    if path.is_dir():
        files = sorted(path.rglob("*.txt"))
        if not files:
            raise DataError(f"pretrain.unlabelled {path}: a folder with no *.txt files under it")
        return [_read_text(file) for file in files]
    if not path.is_file():
        raise DataError(f"pretrain.unlabelled {path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ",")
            if text_column not in (reader.fieldnames or []):
                raise DataError(f"pretrain.unlabelled {path}: no column {text_column!r} (columns: "
                                f"{', '.join(reader.fieldnames or [])}); data.text_column names it")
            return [row[text_column] or "" for row in reader]
    if suffix == ".jsonl":
        texts = []
        for number, line in enumerate(_read_text(path).splitlines(), start=1):
            if line.strip():
                try:
                    texts.append(str(json.loads(line)[text_column]))
                except (ValueError, KeyError, TypeError):
                    raise DataError(f"{path}:{number}: not a JSON object with a {text_column!r} "
                                    f"field") from None
        return texts
    return _read_text(path).splitlines()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not UTF-8 text") from None


def pack_corpus(documents: Sequence[np.ndarray], seq_length: int, cls_id: int, sep_id: int, pad_id: int,
                held_out_sequences: int, seed: int) -> PackedCorpus:
    """Packs tokenized documents into training and held-out sequences.

    Args:
        documents: Each document's WordPiece ids, without special tokens.
        seq_length: Length of every sequence, [CLS] and the final [SEP] included.
        cls_id, sep_id, pad_id: The vocabulary's special tokens.
        held_out_sequences: Roughly how many sequences of whole documents to hold out
            (at most a tenth of the documents, at least one).
        seed: Chooses the held-out documents and the order documents are packed in.

    Raises:
        DataError: Too little text for one training and one held-out sequence.
    """
    documents = [np.asarray(d, dtype=np.int32) for d in documents if len(d)]
    if len(documents) < 2:
        raise DataError(f"pretrain: {len(documents)} non-empty text(s) after tokenizing; pretraining needs "
                        f"at least two (one is held out to measure the loss)")
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    width = seq_length - 2
    limit = max(1, int(len(documents) * _MAX_HELD_OUT_SHARE))
    held, tokens = [], 0
    for index in order:
        if len(held) >= limit or tokens >= held_out_sequences * width:
            break
        held.append(index)
        tokens += len(documents[index]) + 1
    held_set = set(held)
    rest = [i for i in order if i not in held_set]
    return PackedCorpus(
        train=_pack([documents[i] for i in rest], width, cls_id, sep_id, pad_id),
        held_out=_pack([documents[i] for i in held], width, cls_id, sep_id, pad_id),
        train_documents=len(rest), held_out_documents=len(held))


def _pack(documents: list[np.ndarray], width: int, cls_id: int, sep_id: int, pad_id: int) -> np.ndarray:
    stream = np.concatenate([np.append(d, sep_id) for d in documents])[:-1]  # no [SEP] after the last
    rows = -(-len(stream) // width)
    body = np.full((rows, width), pad_id, dtype=np.int32)
    body.flat[: len(stream)] = stream
    packed = np.full((rows, width + 2), pad_id, dtype=np.int32)
    packed[:, 0] = cls_id
    packed[:, 1:-1] = body
    # The closing [SEP] goes right after each row's last real token (only the last row is short).
    lengths = np.minimum(width, len(stream) - np.arange(rows) * width)
    packed[np.arange(rows), lengths + 1] = sep_id
    return packed


def special_ids(vocab: Sequence[str]) -> dict[str, int]:
    """Ids of [PAD], [UNK], [CLS], [SEP] and [MASK] in a WordPiece vocabulary.

    Raises:
        ModelError: One is missing (not a BERT vocabulary).
    """
    index = {token: i for i, token in enumerate(vocab)}
    missing = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]") if t not in index]
    if missing:
        raise ModelError(f"the encoder's vocabulary lacks {', '.join(missing)}; masked-LM pretraining "
                        f"needs BERT's special tokens")
    return {t.strip("[]").lower(): index[t] for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")}

