"""Text -> BERT inputs, the one function both training and the exported model use.

Training tokenizes once in `tf.data`; the exported SavedModel tokenizes inside
its serving function. Both call `encode_texts`, so the model that is served sees
exactly the ids it was trained on, truncated the same way.
"""

from __future__ import annotations

import tensorflow as tf

# head_tail keeps this share of the token budget from the start, the rest from the end
# (long reviews state their verdict at the end; Sun et al. 2019 found head+tail best on IMDB).
HEAD_SHARE = 0.25


def head_count(budget: int, truncation: str) -> int:
    """How many leading tokens a long text keeps; the rest of the budget comes from its end."""
    return {"head": budget, "tail": 0, "head_tail": int(budget * HEAD_SHARE)}[truncation]


def encode_texts(preprocessor, texts, seq_length: int, truncation: str = "head") -> dict:
    """Tokenizes a batch of strings and packs them as BERT inputs.

    Args:
        preprocessor: A loaded TF Hub BERT preprocessor.
        texts: A string tensor of shape [batch].
        seq_length: Tokens per example, [CLS] and [SEP] included.
        truncation: Which tokens of a too-long text to keep: `head` (the first),
            `tail` (the last) or `head_tail` (a quarter from the start, the rest
            from the end).

    Returns:
        `input_word_ids`, `input_mask`, `input_type_ids`: int32 [batch, seq_length].
    """
    tokens = preprocessor.tokenize(texts).merge_dims(-2, -1)
    budget = seq_length - 2  # [CLS] and [SEP]
    keep_head = head_count(budget, truncation)
    lengths = tokens.row_lengths()
    positions = tf.ragged.range(lengths)
    tail_start = tf.expand_dims(lengths - (budget - keep_head), 1)
    # Short rows keep every token: for them tail_start <= keep_head.
    keep = (positions < keep_head) | (positions >= tail_start)
    tokens = tf.ragged.boolean_mask(tokens, keep)
    return preprocessor.bert_pack_inputs([tokens], seq_length=tf.constant(seq_length, tf.int32))
