"""A SentencePiece preprocessor SavedModel with the TF Hub BERT preprocessor interface.

Same interface as the TF Hub preprocessors (and `export_tfhub_lib.export_preprocessing`):
calling it on a batch of strings gives `input_word_ids`/`input_mask`/
`input_type_ids` of the default length; `tokenize` gives ragged ids
[batch, words, pieces] and has `get_special_tokens_dict`; `bert_pack_inputs`
packs one or two tokenized segments to any `seq_length`. So training, export,
serving and the data report use it exactly as a WordPiece preprocessor.

It differs from `export_tfhub_lib`'s SentencePiece branch in two ways that
matter for multilingual encoders:
- no diacritic stripping (ALBERT's NFD + drop-marks rule would split every
  Hangul syllable into jamo) and no lower-casing: the SentencePiece model
  carries the encoder's own normalisation;
- an optional text prefix (e5 expects `"query: "`), prepended inside the
  SavedModel so clients sending raw text need not know it.
It is written by `encoders.preprocessor_export`, as WordPiece preprocessors are.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

# Only callers that do not pass seq_length see this; bertclf always passes it.
DEFAULT_SEQ_LENGTH = 128


def export_sentencepiece_preprocessor(out_dir: Path, sp_model_file: Path, *, text_prefix: str = "",
                                      default_seq_length: int = DEFAULT_SEQ_LENGTH) -> dict:
    """Writes the preprocessor SavedModel.

    Args:
        out_dir: The SavedModel folder to write.
        sp_model_file: A SentencePiece model whose special pieces are named
            `[CLS]`, `[SEP]`, `<pad>` (and `[MASK]`); see `encoders.sentencepiece_model`.
        text_prefix: Prepended to every text before tokenizing.
        default_seq_length: Length of the default call's outputs.

    Returns:
        The special token ids the packer uses.
    """
    from official.nlp.modeling import layers

    from bertclf.encoders.preprocessor_export import save_preprocessor

    tokenizer = layers.SentencepieceTokenizer(model_file_path=str(sp_model_file), lower_case=False,
                                              strip_diacritics=False)
    special = dict(tokenizer.get_special_tokens_dict())
    before = None
    if text_prefix:
        def before(texts):
            return tf.strings.join([tf.constant(text_prefix), texts])
    save_preprocessor(out_dir, tokenizer, special, default_seq_length, before=before)
    return special
