"""Text -> BERT inputs, the one function both training and the exported model use.

Training tokenizes once in `tf.data`; the exported SavedModel tokenizes inside
its serving function. Both call `encode_texts`, so the model that is served sees
exactly the ids it was trained on, truncated the same way.
"""

from __future__ import annotations

import weakref

import tensorflow as tf

from bertclf.encoders.truncation import head_count

# Padded lengths a packed batch can have (plus the sequence length itself), in training's
# buckets and in the serving model alike: a small fixed set, so each shape's kernels are
# prepared once rather than per batch.
BUCKET_BOUNDARIES = (16, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 448, 512)


def padded_length(longest: int, seq_length: int, bucketing: bool = True) -> int:
    """The length a batch whose longest example has `longest` tokens is padded to."""
    if not bucketing:
        return seq_length
    for boundary in BUCKET_BOUNDARIES:
        if boundary >= longest:
            return min(boundary, seq_length)
    return seq_length


def encode_texts(preprocessor, texts, seq_length: int, truncation: str = "head", pairs=None) -> dict:
    """Tokenizes a batch of strings (or string pairs) and packs them as BERT inputs.

    Args:
        preprocessor: A loaded TF Hub BERT preprocessor.
        texts: A string tensor of shape [batch].
        seq_length: Tokens per example, [CLS] and [SEP] included.
        truncation: Which tokens of a too-long single text to keep: `head` (the
            first), `tail` (the last) or `head_tail` (a quarter from the start, the
            rest from the end).
        pairs: Optional second texts, shape [batch]; packed as segment B. Pairs are
            trimmed by the preprocessor's round-robin rule (longer segment first).

    Returns:
        `input_word_ids`, `input_mask`, `input_type_ids`: int32 [batch, seq_length].
    """
    return _pack(preprocessor, texts, seq_length, truncation, pairs)[0]


def token_ids(preprocessor, texts) -> tf.RaggedTensor:
    """Each text's token ids, [batch, (tokens)], no special tokens.

    TF Hub preprocessors' `tokenize` gives [batch, (words), (pieces)] for WordPiece
    and [batch, (pieces)] for SentencePiece; both become [batch, (tokens)].
    """
    tokens = preprocessor.tokenize(texts)
    return tokens.merge_dims(-2, -1) if tokens.ragged_rank > 1 else tokens


def _pack(preprocessor, texts, seq_length: int, truncation: str = "head", pairs=None) -> tuple[dict, tf.Tensor]:
    """`encode_texts`'s inputs, and each example's packed length before truncation (int32 [batch])."""
    tokens = token_ids(preprocessor, texts)
    length = tf.constant(seq_length, tf.int32)
    lengths = tokens.row_lengths()
    if pairs is not None:
        second = token_ids(preprocessor, pairs)
        full = tf.cast(lengths + second.row_lengths() + 3, tf.int32)  # [CLS] a [SEP] b [SEP]
        return preprocessor.bert_pack_inputs([tokens, second], seq_length=length), full
    budget = seq_length - 2  # [CLS] and [SEP]
    keep_head = head_count(budget, truncation)
    positions = tf.ragged.range(lengths)
    tail_start = tf.expand_dims(lengths - (budget - keep_head), 1)
    # Short rows keep every token: for them tail_start <= keep_head.
    keep = (positions < keep_head) | (positions >= tail_start)
    kept = tf.ragged.boolean_mask(tokens, keep)
    return preprocessor.bert_pack_inputs([kept], seq_length=length), tf.cast(lengths + 2, tf.int32)


# Per loaded preprocessor, its packing functions by (seq_length, truncation, pairs). Kept
# beside the preprocessor, not on it: attributes on it would be saved into the export.
_PACKERS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def packing_function(preprocessor, seq_length: int, truncation: str = "head", pairs: bool = False):
    """`encode_texts` as a `tf.function` traced once per preprocessor and settings.

    Tracing the preprocessor's tokenizer costs about a second; a run packs its
    train, validation and test splits and the export check's texts with the same
    settings, so they share one trace. The function takes a string tensor [batch]
    (and a second one for pairs) and returns `encode_texts`'s dict plus
    `full_lengths`: each example's packed length before truncation.
    """
    packers = _PACKERS.setdefault(preprocessor, {})
    key = (seq_length, truncation, pairs)
    if key not in packers:
        def packed_with_lengths(texts, second=None):
            packed, full = _pack(preprocessor, texts, seq_length, truncation, second)
            return {**packed, "full_lengths": full}

        strings = tf.TensorSpec([None], tf.string)
        packers[key] = tf.function(packed_with_lengths, input_signature=[strings, strings] if pairs else [strings])
    return packers[key]
