"""The classifier: a pure function of (encoder, task, model config).

Token ids in, logits out; how many logits, and what they mean, is the task's
rule (`bertclf.task`). The string-input SavedModel built around it lives in
`bertclf.serving.export`. TensorFlow is imported when a model is built.
"""

from __future__ import annotations

from bertclf.config import ModelConfig
from bertclf.encoders import ResolvedEncoder
from bertclf.errors import ModelError
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bertclf.multilabel_task import MultiLabelTask
    from bertclf.task import ClassificationTask

INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")


def build_classifier(encoder: ResolvedEncoder, task: "ClassificationTask | MultiLabelTask", model: ModelConfig):
    """Token ids -> encoder -> pooling -> dropout -> dense logits.

    Args:
        encoder: The resolved encoder whose SavedModel the hub layer loads.
        task: How many logits (`task.num_logits`): one for two classes, one per class or label.
        model: Pooling, dropout, frozen embeddings (sequence length is the pipeline's business).

    Returns:
        A `tf_keras.Model` taking a dict of int32 [batch, seq] tensors.
    """
    import tensorflow as tf
    import tf_keras

    from bertclf.encoders.pooling import MaskedMeanPooling

    inputs = {name: tf_keras.layers.Input(shape=(None,), dtype=tf.int32, name=name)
              for name in INPUT_NAMES}
    if encoder.native is not None:
        # Built natively so it computes in the Keras dtype policy (bfloat16, float16).
        from bertclf.encoders.native import build_native_encoder

        native_encoder = build_native_encoder(encoder.native)
        if model.freeze_embeddings:
            native_encoder.get_embedding_layer().trainable = False
        outputs = native_encoder(inputs)
    elif model.freeze_embeddings:
        raise RuntimeError("model.freeze_embeddings needs the encoder rebuilt natively "
                           "(pass encoders.with_native_weights(encoder))")
    else:
        outputs = _call_encoder(encoder.encoder_handle, inputs)
    if model.pooling == "pooled":
        features = outputs["pooled_output"]
    elif model.pooling == "cls":
        features = outputs["sequence_output"][:, 0, :]
    else:
        features = MaskedMeanPooling(name="mean_pooling", dtype="float32")(
            outputs["sequence_output"], inputs["input_mask"])
    features = tf_keras.layers.Dropout(model.dropout, name="dropout")(features)
    logits = tf_keras.layers.Dense(  # float32 logits under any policy
        task.num_logits, name="classifier", dtype="float32",
        kernel_initializer=tf_keras.initializers.TruncatedNormal(stddev=0.02))(features)
    return tf_keras.Model(inputs, logits, name="bertclf_classifier")


def _call_encoder(handle: str, inputs: dict) -> dict:
    from bertclf.encoders import encoder_layer

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
