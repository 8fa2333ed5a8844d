"""Text -> BERT inputs, the one function both training and the exported model use.

Training tokenizes once in `tf.data`; the exported SavedModel tokenizes inside
its serving function. Both call `encode_texts`, so the model that is served sees
exactly the ids it was trained on, truncated the same way.
"""

from __future__ import annotations

import weakref

import tensorflow as tf

from bertclf.encoders.truncation import head_count
from bertclf.encoders.windows import AGGREGATIONS

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


def packed_with_lengths(preprocessor, texts, seq_length: int, truncation: str = "head", pairs=None) -> dict:
    """`encode_texts`' inputs plus `full_lengths`, int32 [batch]: each example's packed length had it not
    been cut (the data report's and `evaluate`'s token lengths)."""
    packed, full = _pack(preprocessor, texts, seq_length, truncation, pairs)
    return {**packed, "full_lengths": full}


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
    # On the flat tokens and their row ids, not ragged against dense: the same ids, a third of
    # the graph, and a quarter of the tracing (ragged broadcasting traces slowly), which every
    # run pays when it tokenizes and again when it exports.
    rows = tokens.value_rowids()
    position = tf.range(tf.size(rows, out_type=rows.dtype)) - tf.gather(tokens.row_starts(), rows)
    # Short rows keep every token: for them the tail starts at or before keep_head.
    keep = (position < keep_head) | (position >= tf.gather(lengths - (budget - keep_head), rows))
    kept = tf.RaggedTensor.from_value_rowids(tf.boolean_mask(tokens.flat_values, keep), tf.boolean_mask(rows, keep),
                                             nrows=tokens.nrows(), validate=False)
    return preprocessor.bert_pack_inputs([kept], seq_length=length), tf.cast(lengths + 2, tf.int32)


def encode_windows(preprocessor, texts, seq_length: int, stride: int, max_windows: int, leading: int = 0) -> dict:
    """Tokenizes a batch of whole texts and packs each text's windows (`encoders.windows`' rule).

    Args:
        preprocessor: A loaded TF Hub BERT preprocessor.
        texts: A string tensor of shape [batch].
        seq_length: Tokens per window, [CLS] and [SEP] included.
        stride: Tokens between the starts of two windows of a text.
        max_windows: Most windows per text (evenly spaced, first and last kept).
        leading: Tokens of a text's start every window repeats (an encoder's text prefix).

    Returns:
        The three BERT inputs, int32 [windows, seq_length]; `documents`, int32 [windows], the
        text of each window (0 .. batch - 1, in order); `full_lengths`, int32 [batch], each
        text's packed length had it not been cut.
    """
    tokens = token_ids(preprocessor, texts)
    lengths = tokens.row_lengths()
    size = seq_length - 2
    lead = tf.minimum(tf.constant(leading, lengths.dtype), lengths)
    body, content = lengths - lead, tf.constant(size - leading, lengths.dtype)
    count = tf.where(body <= content, tf.ones_like(body), (body - content + stride - 1) // stride + 1)
    picks = tf.ragged.range(tf.minimum(count, max_windows))
    documents = picks.value_rowids()
    j, total = picks.flat_values, tf.gather(count, documents)
    if max_windows > 1:  # evenly spaced, in the integers of `windows.picked_windows`
        spaced = (2 * j * (total - 1) + max_windows - 1) // (2 * (max_windows - 1))
        index = tf.where(total <= max_windows, j, spaced)
    else:
        index = j
    body_of, lead_of = tf.gather(body, documents), tf.gather(lead, documents)
    start = tf.minimum(index * stride, tf.maximum(body_of - content, 0))
    first = tf.gather(tokens.row_starts(), documents)
    window = tf.gather(tokens.flat_values, tf.ragged.range(first + lead_of + start,
                                                           first + lead_of + start + tf.minimum(content, body_of)))
    if leading:
        window = tf.concat([tf.gather(tokens.flat_values, tf.ragged.range(first, first + lead_of)), window], axis=1)
    packed = preprocessor.bert_pack_inputs([window], seq_length=tf.constant(seq_length, tf.int32))
    return {**packed, "documents": tf.cast(documents, tf.int32), "full_lengths": tf.cast(lengths + 2, tf.int32)}


def aggregate_windows(probabilities, documents, count, how: str = "mean", tokens=None, multi_label: bool = False):
    """`encoders.windows.aggregate` in the graph: [windows, classes] -> [count, classes]."""
    if how not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {how!r}; one of {AGGREGATIONS}")
    if how == "max":
        if multi_label:
            return tf.math.unsorted_segment_max(probabilities, documents, count)
        confidence = tf.reduce_max(probabilities, axis=1)
        best = tf.math.unsorted_segment_max(confidence, documents, count)
        windows = tf.size(documents)
        position = tf.where(confidence == tf.gather(best, documents), tf.range(windows), windows)
        return tf.gather(probabilities, tf.math.unsorted_segment_min(position, documents, count))
    weights = tf.cast(tokens, probabilities.dtype) if how == "weighted" else tf.ones_like(probabilities[:, 0])
    total = tf.math.unsorted_segment_sum(probabilities * weights[:, None], documents, count)
    return total / tf.math.unsorted_segment_sum(weights, documents, count)[:, None]


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
        def pack(texts, second=None):
            return packed_with_lengths(preprocessor, texts, seq_length, truncation, second)

        strings = tf.TensorSpec([None], tf.string)
        packers[key] = tf.function(pack, input_signature=[strings, strings] if pairs else [strings])
    return packers[key]


def windows_packing_function(preprocessor, seq_length: int, stride: int, max_windows: int, leading: int = 0):
    """`encode_windows` as a `tf.function` traced once per preprocessor and settings
    (see `packing_function`): strings [batch] in, `encode_windows`' dict out."""
    packers = _PACKERS.setdefault(preprocessor, {})
    key = ("windows", seq_length, stride, max_windows, leading)
    if key not in packers:
        packers[key] = tf.function(lambda texts: encode_windows(preprocessor, texts, seq_length, stride,
                                                                max_windows, leading),
                                   input_signature=[tf.TensorSpec([None], tf.string)])
    return packers[key]


def leading_tokens(preprocessor) -> int:
    """How many tokens every text starts with whatever it says: an encoder's text prefix (e5's
    "query: "), which each window of a long text repeats. 0 for plain WordPiece encoders."""
    probes = token_ids(preprocessor, tf.constant(["a", "z", "7", "영화", "The end."])).to_list()
    shared = 0
    while all(len(ids) > shared for ids in probes) and len({ids[shared] for ids in probes}) == 1:
        shared += 1
    return shared
