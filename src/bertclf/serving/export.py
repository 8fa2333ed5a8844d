"""The string-input SavedModel a run exports: preprocessor + classifier, strings in.

`export_serving_model` wraps a run's preprocessor and trained classifier into a
SavedModel whose `serving_default` takes a batch of raw strings and returns
class probabilities and labels, usable without bertclf.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from bertclf.data import Split
from bertclf.encoders.tokenization import (BUCKET_BOUNDARIES, aggregate_windows, packing_function,
                                           windows_packing_function)
from bertclf.encoders.windows import Windowing
from bertclf.serving.loaded_models import load_exported
from bertclf.task import ClassificationTask

SERVING_SIGNATURE = "serving_default"
TRUNCATE_SIGNATURE = "truncate"
WINDOWS_SIGNATURE = "windows"
# Windows per classifier call inside the SavedModel (see `_in_chunks`).
WINDOW_CHUNK = 32
# The classifier's inputs, int32 [batch, length] each.
INPUTS = ("input_word_ids", "input_mask", "input_type_ids")


def export_serving_model(path: Path, preprocessor, classifier, seq_length: int,
                         class_names: Sequence[str], truncation: str = "head", pairs: bool = False,
                         threshold=None, task=None, windows: Optional[Windowing] = None,
                         long_text: str = "truncate") -> None:
    """Saves a SavedModel whose `serving_default` maps strings to probabilities.

    Inputs: `texts`, string [batch] (and `text_pairs`, string [batch], for a
    sentence-pair model). Outputs: `probabilities` float32 [batch, num_classes]
    and `label` string [batch], so the model is usable without bertclf (loading
    it needs `import tensorflow_text` for the tokenizer ops). `label` is the most
    probable class, or for a binary model with a `threshold` the positive (second)
    class when its probability is at least the threshold; the loaded object's
    `threshold` variable holds it. A multi-label `task` (`bertclf.multilabel_task`)
    returns one sigmoid per label instead, with `predicted` bool [batch, labels]
    and `labels` string [batch, labels] (the label's name where predicted, else
    ""), against the per-label `thresholds` variable.

    With `long_text` "windows", `serving_default` reads each whole text as `windows` and
    returns the windows' aggregated probabilities (`encoders.windows`). A single-text model
    also has the signatures `truncate` (texts read as `truncation` cuts them) and `windows`
    (`window_probabilities` [windows, classes], `documents` and `window_tokens` [windows]),
    so that one trained model can be scored either way (`bertclf evaluate --long-text`).
    """
    module = serving_module(preprocessor, classifier, seq_length, class_names, truncation, pairs, threshold, task,
                            windows, long_text)
    signatures = {SERVING_SIGNATURE: module.serve}
    if not pairs:
        signatures.update({TRUNCATE_SIGNATURE: module.truncated, WINDOWS_SIGNATURE: module.windows})
    tf.saved_model.save(module, str(path), signatures=signatures)


def serving_module(preprocessor, classifier, seq_length: int, class_names: Sequence[str],
                   truncation: str = "head", pairs: bool = False, threshold=None, task=None,
                   windows: Optional[Windowing] = None, long_text: str = "truncate") -> tf.Module:
    """A module whose `serve` tf.function maps a batch of strings to probabilities and labels
    (single-text models: `truncated` and `windows` too; see `export_serving_model`)."""
    module = tf.Module()
    module.preprocessor = _tokenizer_module_of(preprocessor)
    # Only the variables are tracked, not the Keras model: the SavedModel then holds no
    # optimizer slots and no per-layer Keras functions, which made loading it (predict's
    # cold start) take 5-6 s for MiniLM.
    module.classifier_variables = list(classifier.weights)
    module.class_names = tf.Variable(list(class_names), trainable=False, name="class_names")
    task = task or ClassificationTask(len(class_names))
    decide = task.serving_decision(module, threshold)  # adds its threshold variable(s) to module
    boundaries = tf.constant([b for b in BUCKET_BOUNDARIES if b < seq_length] + [seq_length], tf.int32)
    strings = tf.TensorSpec([None], tf.string, name="texts")

    # The classifier and the tokenizer are each one tf.function that every signature calls:
    # saving then traces each once and stores it once (the save traces every function again,
    # whatever was traced before it), where inlined into three signatures they were traced
    # three times and the SavedModel held three copies to load.
    @tf.function(input_signature=[{name: tf.TensorSpec([None, None], tf.int32, name=name) for name in INPUTS}])
    def probabilities(inputs):
        # Pad the batch only to the bucket boundary its longest text needs, as in training;
        # callers that group texts of similar length (predict, evaluate) get short batches.
        longest = tf.reduce_max(tf.reduce_sum(inputs["input_mask"], axis=1))
        width = boundaries[tf.minimum(tf.searchsorted(boundaries, [longest])[0], tf.size(boundaries) - 1)]
        inputs = {name: value[:, :width] for name, value in inputs.items()}
        return tf.cast(task.probabilities(classifier(inputs, training=False)), tf.float32)

    def outputs(packed):
        # text_tokens: each text's packed length had it not been cut (evaluate's by_length).
        probs = probabilities({name: packed[name] for name in INPUTS})
        return {"probabilities": probs, **decide(probs), "text_tokens": packed["full_lengths"]}

    if pairs:
        pack_pairs = packing_function(preprocessor, seq_length, truncation, pairs=True)

        @tf.function(input_signature=[strings, tf.TensorSpec([None], tf.string, name="text_pairs")])
        def serve(texts, text_pairs):
            return outputs(pack_pairs(texts, text_pairs))

        module.serve = serve
        return module

    # The packing functions training and scoring use, traced once per process and settings
    # (`packing_function`): an export after the run's tokenizing traces none of the tokenizer.
    windows = windows or Windowing(max(1, (seq_length - 2) // 2), 16)
    pack = packing_function(preprocessor, seq_length, truncation)
    pack_in_windows = windows_packing_function(preprocessor, seq_length, windows.stride, windows.max_windows,
                                               windows.leading)

    @tf.function(input_signature=[strings])
    def pack_windows(texts):
        packed = pack_in_windows(texts)
        inputs = {name: packed[name] for name in INPUTS}
        return (_in_chunks(probabilities, inputs, len(class_names)), packed["documents"],
                tf.reduce_sum(inputs["input_mask"], axis=1), packed["full_lengths"])

    @tf.function(input_signature=[strings])
    def truncated(texts):
        return outputs(pack(texts))

    @tf.function(input_signature=[strings])
    def windowed(texts):
        probs, documents, tokens, lengths = pack_windows(texts)
        return {"window_probabilities": probs, "documents": documents, "window_tokens": tokens,
                "text_tokens": lengths}

    @tf.function(input_signature=[strings])
    def serve(texts):
        if long_text != "windows":
            return outputs(pack(texts))
        probs, documents, tokens, lengths = pack_windows(texts)
        probs = aggregate_windows(probs, documents, tf.size(texts), windows.aggregation, tokens, task.multi_label)
        return {"probabilities": probs, **decide(probs), "text_tokens": lengths}

    module.serve, module.truncated, module.windows = serve, truncated, windowed
    return module


# The tokenizer's module of the last exports in this process, by preprocessor: its `tokenize` is
# then traced once, not once per export (the next run, seed or sweep trial with the encoder).
_TOKENIZER_MODULES: list[tuple[object, tf.Module]] = []
_TOKENIZER_MODULES_KEPT = 2


def _tokenizer_module_of(preprocessor) -> tf.Module:
    for kept, module in _TOKENIZER_MODULES:
        if kept is preprocessor:
            return module
    module = tokenizer_module(preprocessor)
    _TOKENIZER_MODULES.insert(0, (preprocessor, module))
    del _TOKENIZER_MODULES[_TOKENIZER_MODULES_KEPT:]
    return module


def tokenizer_module(preprocessor) -> tf.Module:
    """What the export keeps of a loaded preprocessor: the tables, files and variables its
    functions use, and `tokenize` (strings [batch] -> ragged token ids), which `bertclf export`
    and `leading_tokens` ask of a saved run.

    Tracking the loaded preprocessor itself saved all its functions again: a TF Hub
    preprocessor is a saved Keras model, 1.4 of the tiny encoder's 2.1 MB export, and loading
    them took a second of every `predict`, `evaluate` and export check. The serving functions
    call its `tokenize` and `bert_pack_inputs`, so those are saved with them.
    """
    kept = tf.Module()
    kept.resources = [item for item in tf.train.TrackableView(preprocessor).descendants()
                      if isinstance(item, (tf.saved_model.experimental.TrackableResource, tf.saved_model.Asset,
                                           tf.Variable))]
    kept.tokenize = tf.function(lambda texts: preprocessor.tokenize(texts),
                                input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    return kept


def _in_chunks(function, inputs: dict, width: int, chunk: int = WINDOW_CHUNK):
    """`function(inputs)` over rows `chunk` at a time: the windows of a batch of long texts at
    once would hold all their attention matrices in memory together."""
    rows = tf.shape(inputs["input_word_ids"])[0]
    padding = (chunk - rows % chunk) % chunk
    # Padding rows (no tokens) only fill the last chunk; their outputs are dropped.
    stacked = {name: tf.reshape(tf.pad(value, [[0, padding], [0, 0]]), [-1, chunk, tf.shape(value)[1]])
               for name, value in inputs.items()}
    out = tf.map_fn(function, stacked, fn_output_signature=tf.TensorSpec([None, width], tf.float32))
    return tf.reshape(out, [-1, width])[:rows]


def check_export(model_dir: Path, expected: np.ndarray, examples: Split, tolerance: float,
                 threshold, class_names: list[str], task=None) -> dict:
    """Reloads an exported model and checks it against the in-memory classifier's probabilities.

    The served probabilities must be within `tolerance` of `expected`, and the served
    labels must follow `threshold` as `evaluate` applies it.

    Returns:
        The check's record for metrics.json: texts, largest difference, tolerance.

    Raises:
        RuntimeError: The export differs (a bug in bertclf, not a user mistake).
    """
    # Kept once checked: `evaluate` or `predict` in this process then finds it (`loaded_models`).
    served = load_exported(tf, model_dir).signatures["serving_default"]
    inputs = {"texts": tf.constant(examples.texts)}
    if examples.pairs is not None:
        inputs["text_pairs"] = tf.constant(examples.pairs)
    outputs = served(**inputs)
    got = outputs["probabilities"].numpy()
    difference = float(np.abs(got - expected).max())
    if difference > tolerance:
        raise RuntimeError(f"exported model differs from the trained one by {difference:.2e} "
                           f"(tolerance {tolerance:.0e}); this is a bug in bertclf")
    # The served label must follow the same decision rule as evaluate, on the served probabilities.
    task = task or ClassificationTask(len(class_names))
    labels = task.served_labels(outputs)
    ruled = task.decided_labels(got, threshold, class_names)
    if labels != ruled:
        raise RuntimeError(f"exported model's labels {labels[:5]} do not follow its threshold {threshold} "
                           f"({ruled[:5]}); this is a bug in bertclf")
    return {"texts": len(examples), "max_abs_difference": difference, "tolerance": tolerance}
