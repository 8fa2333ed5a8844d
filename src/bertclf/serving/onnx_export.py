"""`bertclf export RUN --format onnx`: the run's classifier as ONNX, its tokenizer as tokenizers JSON.

Writes `RUN/export/onnx/` (artifacts.ONNX_*): `model.onnx`, the classifier from
token ids to probabilities in float32 whatever precision the run trained in
(encoder, pooling, head; inputs `input_word_ids`, `input_mask`, `input_type_ids`
int32 [batch, length], output `probabilities` [batch, classes]); `tokenizer.json`,
a Hugging Face tokenizers file giving the run's token ids (`serving.onnx_tokenizer`);
`bertclf.json`, what a tokenizer file cannot say (labels, thresholds, task,
truncation, sequence length, special ids) with the export's checks; and with
`quantize="int8"`, `model.int8.onnx`. The folder is written beside and renamed into
place, so a failed export leaves the previous one (or none), never half of one.

The float32 classifier is rebuilt from the run's config and given the weights of its
SavedModel (`model/`), so a run exports the same way at the end of training
(`export.onnx: true`) and any time later.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Optional

from bertclf import artifacts, files
from bertclf.config import Config, load_config
from bertclf.encoders.export import SP_MODEL_FILE
from bertclf.errors import ModelError, RunError

EXPORT_FORMAT_VERSION = 1
INPUT_NAMES = ("input_word_ids", "input_mask", "input_type_ids")


def export_onnx(run_dir: Path, quantize: Optional[str] = None, data=None, encoder=None) -> dict:
    """Exports a finished run to `RUN/export/onnx/` and checks it; returns `bertclf.json`'s record.

    Args:
        run_dir: A finished run folder.
        quantize: None, or "int8" to add `model.int8.onnx` (dynamic, per-channel weights).
        data: The run's `LabelledData` when the caller has it (training); else read again.
        encoder: The run's `ResolvedEncoder` when the caller has it; else resolved again.

    Raises:
        RunError: The run is not finished.
        ModelError: The encoder's tokenizer cannot be written as a tokenizers file.
        ExportCheckFailed: A token id or a probability differs beyond its tolerance, or int8
            changes too many labels (`serving.onnx_checks`).
    """
    from bertclf.serving.onnx_checks import check_export, check_int8
    from bertclf.serving.onnx_convert import convert_to_onnx

    started = time.perf_counter()
    if not artifacts.is_finished(run_dir):
        raise RunError(f"{run_dir}: not a finished run (no {artifacts.MODEL_DIR}/); train it first")
    config = load_config(run_dir / artifacts.CONFIG_FILE)
    class_names = artifacts.read_labels(run_dir)
    metrics = json.loads((run_dir / artifacts.METRICS_FILE).read_text(encoding="utf-8"))
    precision = metrics.get("runtime", {}).get("precision", "float32")
    _say(f"Exporting {run_dir} to ONNX (float32{', and int8' if quantize else ''})...")
    if data is None:
        from bertclf.data import load_data

        data = load_data(config.data, config.experiment.seed)
        artifacts.require_same_classes(run_dir, data.class_names)
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (the SavedModel's tokenizer ops)

    from bertclf.serving import loaded_models

    # Its own load (it reads the vocabulary through the loaded assets' paths); the model a
    # prediction kept goes first, so that two models' memory is never held at once.
    loaded_models.forget()
    loaded = tf.saved_model.load(str(run_dir / artifacts.MODEL_DIR))
    classifier, task, encoder = _float32_classifier(config, data, class_names, precision, loaded, encoder)
    target = run_dir / artifacts.EXPORT_DIR / artifacts.ONNX_SUBDIR
    _require_replaceable(target)
    staging = files.staging_dir(target)
    try:
        tokens = write_tokenizer(loaded, run_dir, config, staging, data.train.pairs is not None, encoder)
        probabilities_fn = _probabilities_function(tf, classifier, task)
        convert_to_onnx(probabilities_fn, staging / artifacts.ONNX_MODEL_FILE)
        record = {"format_version": EXPORT_FORMAT_VERSION, "task": _task_name(config),
                  "labels": class_names, "threshold": _threshold(metrics), "tokens": tokens,
                  "inputs": list(INPUT_NAMES), "output": "probabilities", "trained_precision": precision}
        _write_record(staging, record)  # the checks read it (the packer's settings)
        record["checks"] = {"onnx": check_export(staging, loaded, probabilities_fn, data.validation, precision,
                                                 class_names, record["threshold"], task)}
        if quantize == "int8":
            from bertclf.serving.onnx_checks import quantize_int8

            quantize_int8(staging / artifacts.ONNX_MODEL_FILE, staging / artifacts.ONNX_INT8_FILE)
            record["checks"]["int8"] = check_int8(staging, data.validation, class_names, record["threshold"])
        elif quantize is not None:
            raise ModelError(f"--quantize {quantize}: only int8 is supported")
        record["files"] = {path.name: path.stat().st_size for path in sorted(staging.iterdir())}
        record["export_seconds"] = round(time.perf_counter() - started, 1)
        _write_record(staging, record)
        files.publish_dir(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _say(f"Exported: {target}")
    return record


# What an export folder holds: the only files a new export may replace.
_EXPORT_FILES = {artifacts.ONNX_MODEL_FILE, artifacts.ONNX_INT8_FILE, artifacts.TOKENIZER_FILE,
                 artifacts.ONNX_SENTENCEPIECE_FILE,
                 artifacts.ONNX_META_FILE}


def _require_replaceable(target: Path) -> None:
    """Refuses, in one line, to replace an export folder holding anything bertclf did not write there."""
    if not target.exists():
        return
    foreign = sorted(path.name for path in target.iterdir() if path.name not in _EXPORT_FILES)
    if not target.is_dir() or not (target / artifacts.ONNX_META_FILE).is_file() or foreign:
        what = f"it holds {', '.join(foreign[:3])}" if foreign else "it is not a bertclf export"
        raise RunError(f"{target}: {what}; bertclf replaces only its own ONNX export there. Move it away "
                       f"and export again")


def _float32_classifier(config: Config, data, class_names: list[str], precision: str, loaded, encoder):
    """The run's classifier built in float32, holding the SavedModel's weights."""
    from bertclf.encoders import prepare_encoder, rebuilds_natively, with_native_weights
    from bertclf.encoders.registry import resolve_spec
    from bertclf.model import build_classifier
    from bertclf.runtime.precision import keras_policy
    from bertclf.task import task_for

    task = task_for(config.data.multi_label, len(class_names))
    if encoder is None:
        encoder = prepare_encoder(resolve_spec(config.model), config.model, data.train.texts, config.experiment.seed)
    # Built as training built it (natively, or from the SavedModel), so its weights line up with
    # the SavedModel's, one for one.
    if rebuilds_natively(config.model, precision) and encoder.native is None:
        encoder = with_native_weights(encoder)
    with keras_policy("float32"):
        classifier = build_classifier(encoder, task, config.model)
    values = [variable.numpy() for variable in loaded.classifier_variables]
    shapes = [tuple(weight.shape) for weight in classifier.weights]
    if shapes != [value.shape for value in values]:
        raise RuntimeError(f"the rebuilt classifier's weights ({len(shapes)}) do not match the SavedModel's "
                           f"({len(values)}); this is a bug in bertclf")
    classifier.set_weights(values)
    return classifier, task, encoder


def _probabilities_function(tf, classifier, task):
    spec = [tf.TensorSpec([None, None], tf.int32, name=name) for name in INPUT_NAMES]

    @tf.function(input_signature=spec)
    def probabilities(input_word_ids, input_mask, input_type_ids):
        inputs = {"input_word_ids": input_word_ids, "input_mask": input_mask, "input_type_ids": input_type_ids}
        return tf.identity(task.probabilities(classifier(inputs, training=False)), name="probabilities")

    return probabilities


def write_tokenizer(loaded, run_dir: Path, config: Config, folder: Path, pairs: bool, encoder) -> dict:
    """Writes the run's tokenizer (`tokenizer.json`, or a SentencePiece encoder's `sentencepiece.model`);
    returns bertclf.json's `tokens` record."""
    import tensorflow as tf

    from bertclf.encoders.tokenization import token_ids
    from bertclf.serving.onnx_tokenizer import read_vocab, wordpiece_tokenizer

    from bertclf.encoders.tokenization import leading_tokens

    model = config.model
    record = {"seq_length": model.seq_length, "truncation": config.data.truncation, "pairs": pairs,
              "text_prefix": "",
              # Texts longer than seq_length (encoders/windows.py): how the runtime reads them.
              "long_text": model.long_text, "window_stride": model.stride, "max_windows": model.max_windows,
              "window_aggregation": model.window_aggregation, "leading_tokens": leading_tokens(loaded.preprocessor)}
    vocab_file = run_dir / artifacts.MODEL_DIR / "assets" / "vocab.txt"
    # A SentencePiece preprocessor holds its model inside its graph; the encoder folder has the file.
    sp_file = Path(encoder.preprocess_handle).parent / SP_MODEL_FILE
    if vocab_file.is_file():
        vocab = read_vocab(vocab_file)
        # Whether the preprocessor folds case, asked of the preprocessor itself.
        upper, lower = token_ids(loaded.preprocessor, tf.constant(["HELLO WORLD", "hello world"])).to_list()
        lower_case = upper == lower
        wordpiece_tokenizer(vocab, lower_case).save(str(folder / artifacts.TOKENIZER_FILE))
        ids = {f"{role}_id": vocab.index(f"[{role.upper()}]") for role in ("cls", "sep", "pad")}
        return {"kind": "wordpiece", "lower_case": lower_case, **record, **ids}
    if sp_file.is_file():
        # Hugging Face's Unigram breaks ties between equal-score segmentations ("ㅋㅋㅋㅋㅋ" as
        # ㅋㅋ+ㅋㅋㅋ or ㅋㅋㅋ+ㅋㅋ) unlike tensorflow_text (35 of 3,508 NSMC and SST-2 texts), so no exact
        # tokenizer.json exists; the sentencepiece package up to 0.2.1 gives tensorflow_text's ids
        # (all 20,870 texts tried; docs/serving.md). The runtime tokenizes with it and this model;
        # the export's id check below guards whatever version is installed.
        from bertclf.encoders import load_preprocessor
        from bertclf.encoders.registry import MANIFEST_FILE

        shutil.copyfile(sp_file, folder / artifacts.ONNX_SENTENCEPIECE_FILE)
        special = load_preprocessor(encoder.preprocess_handle).tokenize.get_special_tokens_dict()
        manifest = json.loads((sp_file.parent / MANIFEST_FILE).read_text(encoding="utf-8"))
        ids = {"cls_id": int(special["start_of_sequence_id"]), "sep_id": int(special["end_of_segment_id"]),
               "pad_id": int(special["padding_id"])}
        return {"kind": "sentencepiece", **record, "text_prefix": manifest.get("text_prefix", ""), **ids}
    raise ModelError(f"{run_dir}: no WordPiece vocabulary in {artifacts.MODEL_DIR}/assets; its tokenizer cannot "
                     f"be exported")


def _task_name(config: Config) -> str:
    return "multi_label" if config.data.multi_label else "single_label"


def _threshold(metrics: dict):
    record = metrics.get("threshold", {})
    return record.get("values", record.get("value"))


def _write_record(folder: Path, record: dict) -> None:
    files.write_json_atomic(folder / artifacts.ONNX_META_FILE, record)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
