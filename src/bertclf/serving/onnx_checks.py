"""The ONNX export's checks, and its int8 quantisation.

At export, on the run's validation texts:
- token ids: the tokenizers file against the run's TensorFlow preprocessor, on every
  validation text (up to `TOKEN_CHECK_TEXTS`); any text that differs is named and the
  export fails;
- probabilities: ONNX Runtime against the run's classifier rebuilt in float32, on the
  same token ids, within `FLOAT32_TOLERANCE`; and the whole path (text in, tokenizer,
  ONNX) against the run's SavedModel, within what the precision the run trained in
  rounds away (`SAVED_MODEL_TOLERANCES`), both recorded;
- int8: the share of validation texts whose label is unchanged and the accuracy change,
  refused below `INT8_MIN_AGREEMENT` or beyond `INT8_MAX_ACCURACY_DROP`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from bertclf.errors import ExportCheckFailed

TOKEN_CHECK_TEXTS = 5000
PROBABILITY_CHECK_TEXTS = 128
FLOAT32_TOLERANCE = 1e-4
# The SavedModel computes in the run's precision, the ONNX model in float32: between the two, the
# rounding of the reduced precision itself, far more than between two bfloat16 computations that
# only pad differently (training/finish.py's EXPORT_TOLERANCES, 5e-3): MiniLM at 256 tokens, an
# imdb_small run trained in bfloat16, differed by up to 1.3e-2 on 128 validation reviews.
SAVED_MODEL_TOLERANCES = {"float32": 1e-4, "mixed_float16": 1e-2, "mixed_bfloat16": 5e-2}
# int8 is refused when more than 2% of validation labels change or accuracy falls by more than
# one point: dynamic per-channel int8 changed 1.4% and 1.2% of 512 imdb_small validation labels
# at 256 tokens in two exports here (docs/BENCHMARKS.md, "ONNX").
INT8_CHECK_TEXTS = 512
INT8_MIN_AGREEMENT = 0.98
INT8_MAX_ACCURACY_DROP = 0.01


def check_export(folder: Path, loaded, probabilities_fn, validation, precision: str, class_names: list[str],
                 threshold, task) -> dict:
    """Token ids, then probabilities, of the export in `folder` against the run; its record."""
    import tensorflow as tf

    from bertclf.encoders.tokenization import token_ids
    from bertclf.serving.onnx_predict import OnnxPredictor
    from bertclf.serving.onnx_tokenizer import load_packer

    packer = load_packer(folder)
    texts = list(validation.texts[:TOKEN_CHECK_TEXTS])
    pairs = list(validation.pairs[:TOKEN_CHECK_TEXTS]) if validation.pairs is not None else None
    for name, strings in (("text", texts), ("second text", pairs or [])):
        expected = token_ids(loaded.preprocessor, tf.constant(strings)).to_list() if strings else []
        got = packer.token_ids(strings)
        differ = [i for i, (a, b) in enumerate(zip(expected, got)) if a != b]
        if differ:
            shown = ", ".join(f"#{i + 1} {strings[i][:60]!r}" for i in differ[:3])
            raise ExportCheckFailed(f"the ONNX export's tokenizer differs from the run's on {len(differ)} of "
                                    f"{len(strings)} validation {name}s ({shown}); nothing was exported")
    sample = slice(0, PROBABILITY_CHECK_TEXTS)
    inputs = packer.pack(texts[sample], pairs[sample] if pairs else None)
    reference = probabilities_fn(**{name: tf.constant(value) for name, value in inputs.items()}).numpy()
    predictor = OnnxPredictor.from_folder(folder, class_names)
    onnx_probabilities = predictor.run(inputs)
    float32_gap = float(np.abs(onnx_probabilities - reference).max())
    if float32_gap > FLOAT32_TOLERANCE:
        raise ExportCheckFailed(f"the ONNX model's probabilities differ from the run's float32 classifier by "
                                f"{float32_gap:.2e} (tolerance {FLOAT32_TOLERANCE:.0e}); nothing was exported")
    served = loaded.signatures["serving_default"]
    strings = {"texts": tf.constant(texts[sample])}
    if pairs:
        strings["text_pairs"] = tf.constant(pairs[sample])
    saved = served(**strings)["probabilities"].numpy()
    whole = predictor.probabilities(texts[sample], pairs[sample] if pairs else None, progress=None)
    saved_gap = float(np.abs(whole - saved).max())
    tolerance = SAVED_MODEL_TOLERANCES[precision]
    if saved_gap > tolerance:
        raise ExportCheckFailed(f"the ONNX export's probabilities differ from the run's SavedModel by "
                                f"{saved_gap:.2e} (tolerance {tolerance:.0e} for a {precision} run); "
                                f"nothing was exported")
    return {"token_texts": len(texts) + len(pairs or []), "probability_texts": len(inputs["input_word_ids"]),
            "max_abs_difference_float32": float32_gap, "tolerance_float32": FLOAT32_TOLERANCE,
            "max_abs_difference_saved_model": saved_gap, "tolerance_saved_model": tolerance,
            "saved_model_precision": precision}


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the weights, per output channel (per tensor lost too much)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process is for static quantisation of images
    try:
        quantize_dynamic(str(source), str(target), per_channel=True, weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)


def check_int8(folder: Path, validation, class_names: list[str], threshold) -> dict:
    """Labels and accuracy of the int8 model against the float32 one, on validation texts."""
    from bertclf.serving.onnx_predict import OnnxPredictor

    count = min(len(validation), INT8_CHECK_TEXTS)
    texts = list(validation.texts[:count])
    pairs = list(validation.pairs[:count]) if validation.pairs is not None else None
    labels = validation.labels[:count]
    scores = {}
    for kind in ("onnx", "int8"):
        predictor = OnnxPredictor.from_folder(folder, class_names, int8=kind == "int8")
        begun = time.perf_counter()
        probabilities = predictor.probabilities(texts, pairs, progress=f"Checking {kind}")
        scores[kind] = (predictor.decide(probabilities, threshold), time.perf_counter() - begun)
    (full, _), (small, _) = scores["onnx"], scores["int8"]
    agreement = float(np.mean([np.array_equal(a, b) for a, b in zip(full, small)]))
    accuracy = {kind: float(np.mean([np.array_equal(p, t) for p, t in zip(decided, labels)]))
                for kind, (decided, _) in scores.items()}
    change = accuracy["int8"] - accuracy["onnx"]
    record = {"texts": count, "labels_unchanged": agreement, "accuracy_float32": accuracy["onnx"],
              "accuracy_int8": accuracy["int8"], "accuracy_change": change,
              "min_labels_unchanged": INT8_MIN_AGREEMENT, "max_accuracy_drop": INT8_MAX_ACCURACY_DROP}
    if agreement < INT8_MIN_AGREEMENT or -change > INT8_MAX_ACCURACY_DROP:  # the staged export is dropped
        raise ExportCheckFailed(f"int8 changes {1 - agreement:.1%} of {count} validation labels and accuracy by "
                                f"{change * 100:+.2f} points (allowed: {1 - INT8_MIN_AGREEMENT:.0%} and "
                                f"-{INT8_MAX_ACCURACY_DROP * 100:.0f}); export without --quantize")
    return record
