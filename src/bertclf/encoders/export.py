"""Writing an encoder folder: TF Hub encoder + matching preprocessor + manifest.

Encoder folders are built to be reused by runs of any precision, so they always
compute in float32 (a run that trains in bfloat16 rebuilds the encoder natively
from the float32 weights; see `encoders.native`). `export_encoder_folder`
refuses anything else, and `graph_float_dtypes` reads what an existing
SavedModel computes in, to catch folders written before this rule held.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Optional

from bertclf.encoders.registry import ENCODER_SUBDIR, MANIFEST_FILE, PREPROCESSOR_SUBDIR

VOCAB_FILE = "vocab.txt"
SP_MODEL_FILE = "sentencepiece.model"
# Part of every cache key of a built encoder: raising it makes bertclf ignore cache entries
# written by older versions. 2: encoders are built in float32 whatever the run's precision
# (version 1 could cache a bfloat16 encoder when a bf16 run was the first to use it).
# 3: the manifest records the dropout rates (a native rebuild needs them; the graph hides them).
# 4: the encoder SavedModel is written without Keras' layer functions (`save_encoder`).
# 5: so is the preprocessor (`encoders.preprocessor_export`).
ENCODER_FORMAT_VERSION = 5
# Only callers that do not pass seq_length see this; bertclf always passes it.
_DEFAULT_SEQ_LENGTH = 128
# DataType enum values in a GraphDef (tensorflow/core/framework/types.proto).
_FLOAT_TYPES = {1: "float32", 2: "float64", 14: "bfloat16", 19: "float16"}


def export_encoder_folder(out_dir: Path, encoder, bert_config, vocab_file: Path, lower_case: bool,
                          manifest: dict, *, text_prefix: str = "", preprocessor_from: Optional[Path] = None) -> None:
    """Exports a built `BertEncoder` and its preprocessor as TF Hub SavedModels.

    The preprocessor is WordPiece for a `vocab.txt`, SentencePiece for a
    `sentencepiece.model` (`SP_MODEL_FILE`; see `encoders.sentencepiece_preprocessor`).
    The encoder is saved by `save_encoder`. The manifest is written last: its presence marks
    a complete folder.

    Args:
        out_dir: Gets `encoder/`, `preprocessor/` and the manifest.
        encoder: The `BertEncoder` whose weights to export, built under the float32 policy.
        bert_config: The `BertConfig` it was built from.
        vocab_file: Its vocabulary or SentencePiece model (stored inside both SavedModels as an asset).
        lower_case: Whether the WordPiece preprocessor lower-cases and strips accents.
        manifest: Registry facts about the encoder.
        text_prefix: SentencePiece only: prepended to every text inside the preprocessor.
        preprocessor_from: A preprocessor SavedModel folder to copy instead of saving one from
            `vocab_file` (a pretraining's output keeps its base's, the ids it was trained on).
    """
    if encoder.compute_dtype != "float32":
        raise RuntimeError(f"encoder built in {encoder.compute_dtype}; encoders are saved in float32 "
                           f"(build them inside runtime.keras_policy('float32'))")
    sentencepiece = vocab_file.name == SP_MODEL_FILE
    save_encoder(out_dir / ENCODER_SUBDIR, encoder, vocab_file, lower_case)
    if preprocessor_from is not None:
        shutil.copytree(preprocessor_from, out_dir / PREPROCESSOR_SUBDIR)
    elif sentencepiece:
        from bertclf.encoders.sentencepiece_preprocessor import export_sentencepiece_preprocessor

        export_sentencepiece_preprocessor(out_dir / PREPROCESSOR_SUBDIR, vocab_file, text_prefix=text_prefix,
                                          default_seq_length=_DEFAULT_SEQ_LENGTH)
    else:
        from official.nlp.modeling import layers

        from bertclf.encoders.preprocessor_export import save_preprocessor

        tokenizer = layers.BertTokenizer(vocab_file=str(vocab_file), lower_case=lower_case,
                                         tokenize_with_offsets=False)
        save_preprocessor(out_dir / PREPROCESSOR_SUBDIR, tokenizer, dict(tokenizer.get_special_tokens_dict()),
                          _DEFAULT_SEQ_LENGTH)
    manifest = {**manifest, "tokenizer": "sentencepiece" if sentencepiece else "wordpiece",
                **({"text_prefix": text_prefix} if text_prefix else {}), "format_version": ENCODER_FORMAT_VERSION, "compute_dtype": "float32",
                "dropout": bert_config.hidden_dropout_prob,
                "attention_dropout": bert_config.attention_probs_dropout_prob,
                # The name the encoder was built with: a native rebuild checks it first
                # instead of rebuilding with every candidate (encoders.native).
                **({"activation": bert_config.hidden_act} if isinstance(bert_config.hidden_act, str) else {})}
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def save_encoder(path: Path, encoder, vocab_file: Path, lower_case: bool) -> None:
    """Saves a `BertEncoder` as a reusable TF Hub SavedModel: `__call__`, its variables, no Keras.

    What `hub.KerasLayer` needs and no more: `__call__(inputs, training)` traced for training
    and for inference (inputs `input_word_ids`, `input_mask`, `input_type_ids` [batch, length];
    outputs `pooled_output`, `sequence_output`, `encoder_outputs` and `default`), `variables`,
    `trainable_variables` and `regularization_losses`, plus TF Hub BERTs' `vocab_file` (or
    `sp_model_file`) and `do_lower_case`. tf-models-official's `export_tfhub_lib.export_model`
    writes the same call through Keras' SavedModel format, which also traces and stores every
    layer's own functions: 28 of e5's 50 s conversion, and a graph TensorFlow must restore and
    differentiate nested, function by function, at every load and every first training step
    (measured on MiniLM in float32, the folders alternated: the first training step 4.0-4.4 s
    against 2.6-3.1 s; scripts/encoder_first_step.py).
    """
    import tensorflow as tf

    from bertclf.runtime.precision import keras_policy
    from bertclf.runtime.saving import trace_for_saving

    root = tf.train.Checkpoint()
    specs = {name: tf.TensorSpec([None, None], tf.int32, name=name)
             for name in ("input_word_ids", "input_mask", "input_type_ids")}

    @tf.function
    def call(inputs, training=False):
        outputs = dict(encoder(inputs, training=training))
        return {"pooled_output": outputs["pooled_output"], "sequence_output": outputs["sequence_output"],
                "encoder_outputs": outputs["encoder_outputs"], "default": outputs["pooled_output"]}

    with keras_policy("float32"):  # the encoder's layers are float32; nothing traced may say otherwise
        for training in (False, True):
            trace_for_saving(call, specs, training)  # the save reuses these traces
    root.__call__ = call
    # Lists, not the Keras encoder itself: saving a Keras object stores its layers' functions too.
    root.variables = list(encoder.variables)
    root.trainable_variables = list(encoder.trainable_variables)
    root.regularization_losses = []
    if vocab_file.name == SP_MODEL_FILE:
        root.sp_model_file = tf.saved_model.Asset(str(vocab_file))
    else:
        root.vocab_file = tf.saved_model.Asset(str(vocab_file))
        root.do_lower_case = tf.Variable(lower_case, trainable=False)
    tf.saved_model.save(root, str(path))


def graph_float_dtypes(saved_model_dir: Path) -> set[str]:
    """The floating-point dtypes that a SavedModel's graph computes in.

    Reads `saved_model.pb` only (no variables, no TensorFlow runtime): every
    dtype attribute of every node, in the graph and in its functions.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(saved_model_dir) / "saved_model.pb").read_bytes())
    found: set[int] = set()
    for meta_graph in proto.meta_graphs:
        graph = meta_graph.graph_def
        for nodes in [graph.node, *(function.node_def for function in graph.library.function)]:
            for node in nodes:
                for value in node.attr.values():
                    found.add(value.type)
                    found.update(value.list.type)
    return {_FLOAT_TYPES[code] for code in found if code in _FLOAT_TYPES}


def reduced_precision_problem(encoder_dir: Path) -> Optional[str]:
    """Why an encoder SavedModel cannot serve runs of every precision, or None.

    Encoders are saved in float32 and rebuilt natively for bfloat16/float16
    runs; one exported under a mixed-precision policy computes in that precision
    for good, silently, and no float32 rebuild reproduces it.
    """
    reduced = sorted(graph_float_dtypes(encoder_dir) & {"bfloat16", "float16"})
    if reduced:
        return f"its graph computes in {' and '.join(reduced)} (it was exported under a mixed-precision policy)"
    return None


def stale_encoder_folder(folder: Path) -> Optional[str]:
    """`cache.build_once`'s staleness test for an encoder folder."""
    return reduced_precision_problem(folder / ENCODER_SUBDIR)


def export_native_encoder(out_dir: Path, native, vocab_file: Path, lower_case: bool, manifest: dict,
                          preprocessor_from: Optional[Path] = None) -> None:
    """Exports weights held as `NativeEncoderWeights` (say, after pretraining) as an encoder folder.

    The encoder is rebuilt in float32 from the weights, whatever policy they were
    trained under, and the export is checked to reproduce that rebuild. The preprocessor
    is saved from `vocab_file`, or copied from `preprocessor_from` (`export_encoder_folder`).

    Raises:
        RuntimeError: The exported SavedModel computes something else (a bug).
    """
    import numpy as np
    import tensorflow as tf
    from official.legacy.bert import configs

    from bertclf.encoders import load_saved_model
    from bertclf.encoders.native import build_native_encoder, probe_inputs
    from bertclf.runtime.precision import keras_policy

    bert_config = configs.BertConfig(
        vocab_size=native.vocab_size, hidden_size=native.hidden_size, num_hidden_layers=native.num_layers,
        num_attention_heads=native.num_heads, intermediate_size=native.intermediate_size,
        hidden_act=native.activation, hidden_dropout_prob=native.dropout,
        attention_probs_dropout_prob=native.attention_dropout, max_position_embeddings=native.max_positions,
        type_vocab_size=native.type_vocab_size)
    with keras_policy("float32"):
        encoder = build_native_encoder(native)
        out_dir.mkdir(parents=True, exist_ok=True)
        if vocab_file.resolve() != (out_dir / VOCAB_FILE).resolve():
            (out_dir / VOCAB_FILE).write_bytes(vocab_file.read_bytes())
        export_encoder_folder(out_dir, encoder, bert_config, out_dir / VOCAB_FILE, lower_case, manifest,
                              preprocessor_from=preprocessor_from)
        inputs = probe_inputs(native)
        expected = encoder(inputs, training=False)["sequence_output"].numpy()
    got = load_saved_model(str(out_dir / ENCODER_SUBDIR))(inputs, training=False)["sequence_output"]
    gap = float(np.abs(tf.convert_to_tensor(got).numpy() - expected).max())
    if gap > 1e-4:
        raise RuntimeError(f"exported encoder in {out_dir} differs from its weights by {gap:.2e}")
