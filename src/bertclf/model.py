"""The classifier and its export.

`build_classifier` is a pure function of (encoder, number of classes, model
config): token ids in, logits out. Binary tasks get one logit (binary
cross-entropy from logits, as the TF BERT tutorial does); K > 2 classes get K.
`export_serving_model` wraps preprocessor + classifier into a SavedModel that
takes a batch of raw strings and returns class probabilities.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import tensorflow as tf
import tf_keras

from bertclf.config import ModelConfig
from bertclf.encoders import ResolvedEncoder, encoder_layer
from bertclf.errors import ModelError
from bertclf.pipeline import BUCKET_BOUNDARIES
from bertclf.tokenization import encode_texts

INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")
SERVING_SIGNATURE = "serving_default"


def num_logits(num_classes: int) -> int:
    """One logit for a binary task, one per class otherwise."""
    return 1 if num_classes == 2 else num_classes


def build_classifier(encoder: ResolvedEncoder, num_classes: int, model: ModelConfig):
    """Token ids -> encoder -> pooling -> dropout -> dense logits.

    Args:
        encoder: The resolved encoder whose SavedModel the hub layer loads.
        num_classes: Number of classes (>= 2).
        model: Pooling, dropout (sequence length is the pipeline's business).

    Returns:
        A `tf_keras.Model` taking a dict of int32 [batch, seq] tensors.
    """
    inputs = {name: tf_keras.layers.Input(shape=(None,), dtype=tf.int32, name=name)
              for name in INPUT_NAMES}
    if encoder.native is not None:
        # Built natively so it computes in the Keras dtype policy (bfloat16, float16).
        from bertclf.encoders.native import build_native_encoder

        outputs = build_native_encoder(encoder.native)(inputs)
    else:
        outputs = _call_encoder(encoder.encoder_handle, inputs)
    if model.pooling == "pooled":
        features = outputs["pooled_output"]
    elif model.pooling == "cls":
        features = outputs["sequence_output"][:, 0, :]
    else:
        features = MaskedMeanPooling(name="mean_pooling", dtype="float32")(outputs["sequence_output"], inputs["input_mask"])
    features = tf_keras.layers.Dropout(model.dropout, name="dropout")(features)
    logits = tf_keras.layers.Dense(
        num_logits(num_classes), name="classifier", dtype="float32",  # float32 logits under any policy
        kernel_initializer=tf_keras.initializers.TruncatedNormal(stddev=0.02))(features)
    return tf_keras.Model(inputs, logits, name="bertclf_classifier")


def _call_encoder(handle: str, inputs: dict) -> dict:
    # A SavedModel that is not a BERT encoder fails here with TensorFlow's message
    # about signatures; the user needs to know which handle is wrong.
    layer = encoder_layer(handle, trainable=True)
    try:
        outputs = layer(inputs)
    except (ValueError, TypeError) as error:
        raise ModelError(f"encoder {handle}: not a BERT encoder (it does not take input_word_ids, input_mask "
                         f"and input_type_ids: {str(error).splitlines()[0][:200]})") from None
    if not isinstance(outputs, dict) or not {"sequence_output", "pooled_output"} <= set(outputs):
        raise ModelError(f"encoder {handle}: not a BERT encoder (its outputs lack sequence_output and "
                         f"pooled_output)")
    return outputs


class MaskedMeanPooling(tf_keras.layers.Layer):
    """Mean of the token vectors where the input mask is 1 (padding excluded)."""

    def call(self, sequence, mask):
        weights = tf.cast(mask, sequence.dtype)[:, :, tf.newaxis]
        total = tf.reduce_sum(sequence * weights, axis=1)
        return total / tf.maximum(tf.reduce_sum(weights, axis=1), 1.0)


def probabilities(logits, num_classes: int):
    """Logits -> [batch, num_classes] probabilities (sigmoid pair for one binary logit)."""
    if num_classes == 2:
        positive = tf.sigmoid(logits[:, 0])
        return tf.stack([1.0 - positive, positive], axis=1)
    return tf.nn.softmax(logits, axis=-1)


def export_serving_model(path: Path, preprocessor, classifier, seq_length: int,
                         class_names: Sequence[str], truncation: str = "head", pairs: bool = False) -> None:
    """Saves a SavedModel whose `serving_default` maps strings to probabilities.

    Inputs: `texts`, string [batch] (and `text_pairs`, string [batch], for a
    sentence-pair model). Outputs: `probabilities` float32 [batch, num_classes]
    and `label` string [batch] (the most probable class name), so the model is
    usable without bertclf (loading it needs `import tensorflow_text` for the
    tokenizer ops).
    """
    module = serving_module(preprocessor, classifier, seq_length, class_names, truncation, pairs)
    tf.saved_model.save(module, str(path), signatures={SERVING_SIGNATURE: module.serve})


def serving_module(preprocessor, classifier, seq_length: int, class_names: Sequence[str],
                   truncation: str = "head", pairs: bool = False) -> tf.Module:
    """A module whose `serve` tf.function maps a batch of strings to probabilities and labels."""
    module = tf.Module()
    module.preprocessor = preprocessor
    # Only the variables are tracked, not the Keras model: the SavedModel then holds no
    # optimizer slots and no per-layer Keras functions, which made loading it (predict's
    # cold start) take 5-6 s for MiniLM.
    module.classifier_variables = list(classifier.weights)
    module.class_names = tf.Variable(list(class_names), trainable=False, name="class_names")
    num_classes = len(class_names)
    boundaries = tf.constant([b for b in BUCKET_BOUNDARIES if b < seq_length] + [seq_length], tf.int32)

    def outputs(inputs):
        # Pad the batch only to the bucket boundary its longest text needs, as in training;
        # callers that group texts of similar length (predict, evaluate) get short batches.
        longest = tf.reduce_max(tf.reduce_sum(inputs["input_mask"], axis=1))
        width = boundaries[tf.minimum(tf.searchsorted(boundaries, [longest])[0], tf.size(boundaries) - 1)]
        inputs = {name: value[:, :width] for name, value in inputs.items()}
        probs = probabilities(classifier(inputs, training=False), num_classes)
        return {"probabilities": probs, "label": tf.gather(module.class_names, tf.argmax(probs, axis=1))}

    if pairs:
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts"),
                                      tf.TensorSpec([None], tf.string, name="text_pairs")])
        def serve(texts, text_pairs):
            return outputs(encode_texts(module.preprocessor, texts, seq_length, pairs=text_pairs))
    else:
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
        def serve(texts):
            return outputs(encode_texts(module.preprocessor, texts, seq_length, truncation))

    module.serve = serve
    return module
