"""Text -> BERT inputs, the one function both training and the exported model use.

Training tokenizes once in `tf.data`; the exported SavedModel tokenizes inside
its serving function. Both call `encode_texts`, so the model that is served sees
exactly the ids it was trained on.
"""

from __future__ import annotations

import tensorflow as tf


def encode_texts(preprocessor, texts, seq_length: int) -> dict:
    """Tokenizes a batch of strings and packs them as BERT inputs.

    Args:
        preprocessor: A loaded TF Hub BERT preprocessor.
        texts: A string tensor of shape [batch].
        seq_length: Tokens per example, [CLS] and [SEP] included; longer texts
            keep their first tokens.

    Returns:
        `input_word_ids`, `input_mask`, `input_type_ids`: int32 [batch, seq_length].
    """
    tokens = preprocessor.tokenize(texts)
    return preprocessor.bert_pack_inputs([tokens], seq_length=tf.constant(seq_length, tf.int32))
