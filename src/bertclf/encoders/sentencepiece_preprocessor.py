"""A SentencePiece preprocessor SavedModel with the TF Hub BERT preprocessor interface.

Same interface as the TF Hub preprocessors (and `export_tfhub_lib.export_preprocessing`):
calling it on a batch of strings gives `input_word_ids`/`input_mask`/
`input_type_ids` of the default length; `tokenize` gives ragged ids
[batch, words, pieces] and has `get_special_tokens_dict`; `bert_pack_inputs`
packs one or two tokenized segments to any `seq_length`. So training, export,
serving and the data report use it exactly as a WordPiece preprocessor.

It differs from `export_tfhub_lib`'s SentencePiece branch in three ways that
matter for multilingual encoders:
- no diacritic stripping (ALBERT's NFD + drop-marks rule would split every
  Hangul syllable into jamo) and no lower-casing: the SentencePiece model
  carries the encoder's own normalisation;
- an optional text prefix (e5 expects `"query: "`), prepended inside the
  SavedModel so clients sending raw text need not know it;
- an optional id map, applied after tokenizing (a trimmed vocabulary renumbers ids).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import tensorflow as tf
import tf_keras

# Only callers that do not pass seq_length see this; bertclf always passes it.
DEFAULT_SEQ_LENGTH = 128


class _TextPrefix(tf_keras.layers.Layer):
    """Prepends a fixed string to every text."""

    def __init__(self, prefix: str, **kwargs):
        super().__init__(**kwargs)
        self.prefix = prefix

    def call(self, texts):
        return tf.strings.join([tf.constant(self.prefix), texts]) if self.prefix else texts


class _IdMap(tf_keras.layers.Layer):
    """Renumbers token ids through a lookup table (ids outside it become `fallback`)."""

    def __init__(self, table: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        self.table = tf.constant(list(table), tf.int32)

    def call(self, tokens):
        return tf.ragged.map_flat_values(lambda ids: tf.gather(self.table, ids), tokens)


def export_sentencepiece_preprocessor(out_dir: Path, sp_model_file: Path, *, text_prefix: str = "",
                                      id_map: Optional[Sequence[int]] = None,
                                      default_seq_length: int = DEFAULT_SEQ_LENGTH) -> dict:
    """Writes the preprocessor SavedModel.

    Args:
        out_dir: The SavedModel folder to write.
        sp_model_file: A SentencePiece model whose special pieces are named
            `[CLS]`, `[SEP]`, `<pad>` (and `[MASK]`); see `encoders.sentencepiece_model`.
        text_prefix: Prepended to every text before tokenizing.
        id_map: SentencePiece id -> encoder id, when the encoder's vocabulary is a
            renumbered subset (`model.trim_vocabulary`); None keeps the ids.
        default_seq_length: Length of the default call's outputs.

    Returns:
        The special token ids the packer uses (after `id_map`).
    """
    from official.nlp.modeling import layers
    from official.nlp.tools.export_tfhub_lib import BertPackInputsSavedModelWrapper

    tokenizer = layers.SentencepieceTokenizer(model_file_path=str(sp_model_file), lower_case=False,
                                              strip_diacritics=False)
    special = dict(tokenizer.get_special_tokens_dict())
    if id_map is not None:
        special = {key: (len(set(id_map)) if key == "vocab_size" else int(id_map[value]))
                   for key, value in special.items()}
    sentences = tf_keras.layers.Input(shape=(), dtype=tf.string, name="sentences")
    tokens = tokenizer(_TextPrefix(text_prefix, name="text_prefix")(sentences))
    if id_map is not None:
        tokens = _IdMap(id_map, name="id_map")(tokens)
    pack = layers.BertPackInputs(seq_length=default_seq_length, special_tokens_dict=special)
    preprocessing = tf_keras.Model(sentences, pack(tokens))
    preprocessing.tokenize = tf_keras.Model(sentences, tokens)
    preprocessing.tokenize.get_special_tokens_dict = tf.train.Checkpoint()
    preprocessing.tokenize.get_special_tokens_dict.__call__ = tf.function(
        lambda: {key: tf.constant(value) for key, value in special.items()}, input_signature=[])
    preprocessing.bert_pack_inputs = BertPackInputsSavedModelWrapper(pack)
    preprocessing.save(str(out_dir), include_optimizer=False, save_format="tf")
    return special
