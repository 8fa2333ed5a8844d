"""A SentencePiece model from a unigram vocabulary and a per-codepoint normalisation table.

The model is built so that SentencePiece ids *are* the encoder's token ids (no
offset to add): the special tokens keep their ids and are renamed to the names
tf-models-official's `SentencepieceTokenizer.get_special_tokens_dict` looks up
(`[CLS]`, `[SEP]`, `<pad>`, `[MASK]`), so its `BertPackInputs` packs
`<s> text </s>` with the encoder's own ids. They are CONTROL pieces: text never
produces them.

SentencePiece applies normalisation rules from a compiled "charsmap". It has no
Python API to compile one, but its trainer compiles a rule file
(`normalization_rule_tsv`) into the model it trains; a throwaway model trained
on a few lines gives us the compiled table, and only its `normalizer_spec` is kept.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Optional, Sequence

# What tf-models-official's SentencepieceTokenizer looks up, by role.
CLS_PIECE, SEP_PIECE, PAD_PIECE, MASK_PIECE, UNK_PIECE = "[CLS]", "[SEP]", "<pad>", "[MASK]", "<unk>"


def compile_normalization(table: dict[int, Sequence[int]]) -> bytes:
    """Compiles codepoint -> replacement rules into a SentencePiece `precompiled_charsmap`.

    Args:
        table: Each codepoint that changes, and what it becomes (empty = deleted).
            Identity entries are dropped.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    lines = [f"{cp:X}\t{' '.join(f'{out:X}' for out in outs)}\n"
             for cp, outs in sorted(table.items()) if tuple(outs) != (cp,)]
    with tempfile.TemporaryDirectory() as scratch:
        rules, corpus = Path(scratch) / "rules.tsv", Path(scratch) / "corpus.txt"
        rules.write_text("".join(lines), encoding="utf-8")
        corpus.write_text("a b c d e f g\n" * 20, encoding="utf-8")
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(input=str(corpus), model_writer=model, vocab_size=12,
                                       hard_vocab_limit=False, model_type="unigram",
                                       normalization_rule_tsv=str(rules), minloglevel=2)
    proto = model_pb2.ModelProto()
    proto.ParseFromString(model.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


def build_unigram_model(pieces: Sequence[str], scores: Sequence[float], *, cls: int, sep: int, pad: int,
                        unk: int, mask: Optional[int], normalization: dict[int, Sequence[int]]) -> bytes:
    """A serialized SentencePiece unigram ModelProto whose ids are the given list's indices.

    Args:
        pieces: Piece strings by id (special tokens included, under any name).
        scores: Unigram log-probabilities by id.
        cls, sep, pad, unk, mask: Ids of the special tokens (renamed, see module doc).
        normalization: Per-codepoint rules (see `compile_normalization`).
    """
    from sentencepiece import sentencepiece_model_pb2 as model_pb2

    special = {cls: CLS_PIECE, sep: SEP_PIECE, pad: PAD_PIECE, unk: UNK_PIECE}
    if mask is not None:
        special[mask] = MASK_PIECE
    proto = model_pb2.ModelProto()
    Piece = model_pb2.ModelProto.SentencePiece
    for index, (piece, score) in enumerate(zip(pieces, scores)):
        if index == unk:
            proto.pieces.add(piece=UNK_PIECE, score=0.0, type=Piece.UNKNOWN)
        elif index in special:
            proto.pieces.add(piece=special[index], score=0.0, type=Piece.CONTROL)
        else:
            proto.pieces.add(piece=piece, score=float(score), type=Piece.NORMAL)
    trainer = proto.trainer_spec
    trainer.model_type = model_pb2.TrainerSpec.UNIGRAM
    trainer.vocab_size = len(pieces)
    trainer.unk_id, trainer.bos_id, trainer.eos_id, trainer.pad_id = unk, cls, sep, pad
    trainer.unk_piece, trainer.bos_piece, trainer.eos_piece, trainer.pad_piece = (
        UNK_PIECE, CLS_PIECE, SEP_PIECE, PAD_PIECE)
    normalizer = proto.normalizer_spec
    normalizer.name = "bertclf_codepoint_table"
    normalizer.precompiled_charsmap = compile_normalization(normalization)
    normalizer.add_dummy_prefix = True
    normalizer.remove_extra_whitespaces = True
    normalizer.escape_whitespaces = True
    return proto.SerializeToString()
