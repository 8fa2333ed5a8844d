"""The run's tokenisation without TensorFlow: a Hugging Face `tokenizers` file (WordPiece) or the
sentencepiece package (SentencePiece encoders), and packing.

`wordpiece_tokenizer` writes what TF Hub's BERT preprocessors do (tensorflow_text's
`BertTokenizer`) as a `tokenizers` pipeline, step for step: Unicode case folding
(ICU's full folding, which `str.casefold` also implements: `ß` becomes `ss`, where
a plain lower-casing keeps it), NFD and dropping non-spacing marks when the
vocabulary is uncased; splitting on ASCII whitespace only (RE2's `\\s`, so a
no-break space stays inside a word), keeping punctuation and CJK characters as
tokens of their own; WordPiece with `[UNK]` for a word of more than 100 bytes or
with no pieces. The export checks the result against the TensorFlow preprocessor
on the run's validation texts (`serving.onnx_export`).

`pack` turns token ids into the model's inputs as `encoders.tokenization` does:
`[CLS] text [SEP]` truncated at the head, the tail or both (a quarter from the
start), or `[CLS] a [SEP] b [SEP]` trimmed round-robin for pairs. This module
imports neither TensorFlow nor anything that does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from bertclf.encoders.truncation import head_count
from bertclf.encoders.windows import window_spans

_MAX_BYTES_PER_WORD = 100
# Supplementary Private Use Area-B: where folding_normalizer parks characters for a moment.
_PLACEHOLDERS = 0x100000
# tensorflow_text BasicTokenizer's delimiters that are kept as tokens: ASCII punctuation,
# Unicode punctuation (\p{P}) and the CJK ideograph blocks.
_PUNCTUATION = r"[!-/]|[:-@]|[\[-`]|[{-~]|\p{P}"
_CJK = ("[\u4E00-\u9FFF]|[\u3400-\u4DBF]|[\U00020000-\U0002A6DF]|[\U0002A700-\U0002B73F]|"
        "[\U0002B740-\U0002B81F]|[\U0002B820-\U0002CEAF]|[\uF900-\uFAFF]|[\U0002F800-\U0002FA1F]")


def casefold_differences() -> dict[str, str]:
    """Characters whose full case folding is not their lower-casing (297 in Unicode 15), folded."""
    differences = {}
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        lowered = char.lower()
        if lowered.casefold() != lowered:
            # After Lowercase, each character of the lowered form is replaced by its folding.
            for piece in lowered:
                if piece.casefold() != piece:
                    differences[piece] = piece.casefold()
    return differences


def folding_normalizer(tables: dict):
    """tensorflow_text's `case_fold_utf8` (ICU NFKC_Casefold) as a tokenizers normalizer, from its tables."""
    from tokenizers import Regex, normalizers

    # The characters the steps below fold differently are set aside first, as private-use
    # placeholders (which NFKC and lower-casing keep), and put back folded at the end.
    placeholders = [chr(_PLACEHOLDERS + i) for i in range(len(tables["first"]))]
    steps = [normalizers.Replace(char, held) for (char, _), held in zip(tables["first"], placeholders)]
    steps += [normalizers.NFKC(), normalizers.Lowercase()]
    steps += [normalizers.Replace(char, folded) for char, folded in tables["casefold"]]
    steps.append(normalizers.NFKC())
    if tables["remove"]:
        ranges = "".join(f"\\x{{{first:x}}}-\\x{{{last:x}}}" for first, last in tables["remove"])
        steps.append(normalizers.Replace(Regex(f"[{ranges}]"), ""))
    steps += [normalizers.Replace(held, folded) for (_, folded), held in zip(tables["first"], placeholders)]
    return normalizers.Sequence(steps)


def _casefold_tables() -> dict:
    return json.loads(Path(__file__).with_name("tf_text_casefold.json").read_text(encoding="utf-8"))


def wordpiece_tokenizer(vocab: Sequence[str], lower_case: bool):
    """A `tokenizers.Tokenizer` giving TF Hub's BERT preprocessor's token ids (no special tokens added)."""
    from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece

    tokenizer = Tokenizer(WordPiece({token: i for i, token in enumerate(vocab)}, unk_token="[UNK]",
                                    max_input_chars_per_word=_MAX_BYTES_PER_WORD))
    steps = []
    if lower_case:
        # tensorflow_text's BasicTokenizer: case_fold_utf8, then NFD, then drop \p{Mn}.
        steps += [folding_normalizer(_casefold_tables()), normalizers.NFD(),
                  normalizers.Replace(Regex(r"\p{Mn}"), "")]
    # Then control and format characters become spaces.
    steps.append(normalizers.Replace(Regex(r"[\p{Cc}\p{Cf}]"), " "))
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"[\t\n\f\r ]+"), "removed"),
        pre_tokenizers.Split(Regex(f"{_PUNCTUATION}|{_CJK}"), "isolated"),
    ])
    return tokenizer


def read_vocab(path: Path) -> list[str]:
    """A WordPiece vocabulary file: one token per line, its line number its id."""
    return path.read_text(encoding="utf-8").splitlines()


class Packer:
    """Texts to the classifier's inputs, as the run's SavedModel packs them.

    Args:
        tokenizer: A `tokenizers.Tokenizer` that adds no special tokens.
        meta: `bertclf.json`'s `tokens` record: seq_length, truncation, cls/sep/pad ids.
    """

    def __init__(self, tokenizer, meta: dict):
        self.tokenizer, self.meta = tokenizer, meta
        self.seq_length = int(meta["seq_length"])

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids, whole (no truncation, no special tokens)."""
        prefix = self.meta.get("text_prefix", "")
        return [encoding.ids for encoding in
                self.tokenizer.encode_batch([prefix + text for text in texts], add_special_tokens=False)]

    def pack(self, texts: Sequence[str], pairs: Optional[Sequence[str]] = None) -> dict[str, np.ndarray]:
        """`input_word_ids`, `input_mask`, `input_type_ids`: int32 [batch, longest packed length]."""
        return self.pack_ids(self.rows(texts, pairs))

    def rows(self, texts: Sequence[str], pairs: Optional[Sequence[str]] = None) -> list[tuple[list, list]]:
        """Each text (or pair) packed and truncated: (word ids, type ids), unpadded."""
        cls, sep = self.meta["cls_id"], self.meta["sep_id"]
        rows = []
        self.full_lengths = []  # each text's packed length had it not been cut
        if pairs is None:
            budget = self.seq_length - 2
            keep_head = head_count(budget, self.meta["truncation"])
            for ids in self.token_ids(texts):
                self.full_lengths.append(len(ids) + 2)
                if len(ids) > budget:
                    ids = ids[:keep_head] + ids[len(ids) - (budget - keep_head):]
                rows.append(([cls, *ids, sep], [0] * (len(ids) + 2)))
        else:
            for first, second in zip(self.token_ids(texts), self.token_ids(pairs)):
                self.full_lengths.append(len(first) + len(second) + 3)
                first, second = round_robin(first, second, self.seq_length - 3)
                rows.append(([cls, *first, sep, *second, sep], [0] * (len(first) + 2) + [1] * (len(second) + 1)))
        return rows

    def window_rows(self, texts: Sequence[str]) -> tuple[list[tuple[list, list]], list[int], list[int]]:
        """Each text's windows packed (`encoders.windows`' rule, as the SavedModel cuts them): the rows,
        the text of each row, and each text's packed length had it not been cut."""
        cls, sep = self.meta["cls_id"], self.meta["sep_id"]
        size = self.seq_length - 2
        leading = int(self.meta.get("leading_tokens", 0))
        stride = int(self.meta.get("window_stride") or max(1, size // 2))
        rows, documents, lengths = [], [], []
        for number, ids in enumerate(self.token_ids(texts)):
            lengths.append(len(ids) + 2)
            for start, end in window_spans(len(ids), size, stride, int(self.meta.get("max_windows", 16)), leading):
                window = ids[:min(leading, len(ids))] + ids[start:end]
                rows.append(([cls, *window, sep], [0] * (len(window) + 2)))
                documents.append(number)
        return rows, documents, lengths

    def pack_ids(self, packed: Sequence[tuple[list, list]]) -> dict[str, np.ndarray]:
        """`rows`' output padded to its longest row: the model's three inputs."""
        pad = self.meta["pad_id"]
        rows, types = [row for row, _ in packed], [kinds for _, kinds in packed]
        width = max((len(row) for row in rows), default=0)
        word_ids = np.full((len(rows), width), pad, np.int32)
        mask = np.zeros((len(rows), width), np.int32)
        type_ids = np.zeros((len(rows), width), np.int32)
        for i, (row, kinds) in enumerate(zip(rows, types)):
            word_ids[i, :len(row)], mask[i, :len(row)], type_ids[i, :len(row)] = row, 1, kinds
        return {"input_word_ids": word_ids, "input_mask": mask, "input_type_ids": type_ids}


def round_robin(first: list[int], second: list[int], budget: int) -> tuple[list[int], list[int]]:
    """tensorflow_text's RoundRobinTrimmer for two segments: one token each in turn, while they last."""
    if len(first) + len(second) <= budget:
        return first, second
    keep_first = keep_second = 0
    while keep_first + keep_second < budget:
        progressed = False
        for which in (0, 1):
            if keep_first + keep_second >= budget:
                break
            if which == 0 and keep_first < len(first):
                keep_first, progressed = keep_first + 1, True
            elif which == 1 and keep_second < len(second):
                keep_second, progressed = keep_second + 1, True
        if not progressed:
            break
    return first[:keep_first], second[:keep_second]


class SentencePieceTokenizer:
    """A SentencePiece model through the sentencepiece package, answering `Packer`'s `tokenizers` call.

    The package gives tensorflow_text's ids up to 0.2.1 (0.2.2 and later break ties between
    equal-score segmentations of repeated characters otherwise: docs/serving.md); the export
    checks the ids on the run's validation texts with whatever version is installed.
    """

    def __init__(self, model_file: Path):
        import sentencepiece

        self._processor = sentencepiece.SentencePieceProcessor(model_file=str(model_file))

    def encode_batch(self, texts: Sequence[str], add_special_tokens: bool = False) -> list:
        if add_special_tokens:
            raise ValueError("the packer adds the special tokens itself")
        return [_Encoding(ids) for ids in self._processor.encode(list(texts))]


class _Encoding:
    __slots__ = ("ids",)

    def __init__(self, ids: list[int]):
        self.ids = ids


def load_packer(folder: Path) -> Packer:
    """The packer of an ONNX export folder (its tokenizer file and bertclf.json)."""
    from bertclf import artifacts

    meta = json.loads((folder / artifacts.ONNX_META_FILE).read_text(encoding="utf-8"))
    if meta["tokens"].get("kind") == "sentencepiece":
        return Packer(SentencePieceTokenizer(folder / artifacts.ONNX_SENTENCEPIECE_FILE), meta["tokens"])
    from tokenizers import Tokenizer

    return Packer(Tokenizer.from_file(str(folder / artifacts.TOKENIZER_FILE)), meta["tokens"])
