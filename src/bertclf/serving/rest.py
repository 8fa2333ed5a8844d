"""TensorFlow Serving's REST API, as far as a text classifier needs it: request parsing and
response shapes, kept free of any server so they can be tested on their own.

Predict requests come in TF Serving's two formats:

* row ("instances"): a list with one entry per example. For a one-input model an
  entry is the text itself (or `{"texts": text}`); for a sentence-pair model,
  `{"texts": first, "text_pairs": second}`. Answered with `{"predictions": [...]}`,
  one `{"probabilities": [...], "label": ...}` object per example.
* columnar ("inputs"): a list of texts, or `{"texts": [...], "text_pairs": [...]}`.
  Answered with `{"outputs": {"probabilities": [[...]], "label": [...]}}`.

A multi-label model's answers carry `predicted` and `labels` (per label: at or above its
threshold, and its name there or "") instead of `label`, as its SavedModel's signature does.

Errors are `{"error": "..."}` with status 400, as TF Serving answers them.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional, Sequence

import numpy as np

from bertclf.metrics import predicted_classes

SIGNATURE = "serving_default"
VERSION = "1"


class BadRequest(Exception):
    """A request the server answers with 400 and `{"error": message}`."""


@dataclasses.dataclass
class PredictRequest:
    """The texts of one predict request and the format to answer in."""

    texts: list[str]
    pairs: Optional[list[str]]
    row_format: bool


def parse_predict(body: bytes, takes_pairs: bool, max_instances: int) -> PredictRequest:
    """A predict request's texts.

    Raises:
        BadRequest: Malformed JSON, no `instances`/`inputs`, a non-string text,
            too many instances, another signature.
    """
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"malformed JSON request body: {error}") from None
    except RecursionError:  # a body of thousands of nested brackets: the client's mistake, not ours
        raise BadRequest("malformed JSON request body: nested too deeply") from None
    if not isinstance(request, dict):
        raise BadRequest('the request body must be a JSON object with "instances" or "inputs"')
    signature = request.get("signature_name", SIGNATURE)
    if signature != SIGNATURE:
        raise BadRequest(f"serving signature name: {signature!r} not found in signature def; "
                         f"this model has {SIGNATURE!r}")
    if ("instances" in request) == ("inputs" in request):
        raise BadRequest('the request must have exactly one of "instances" (row format) or "inputs" '
                         '(columnar format)')
    if "instances" in request:
        texts, pairs = _rows(request["instances"], takes_pairs)
        row_format = True
    else:
        texts, pairs = _columns(request["inputs"], takes_pairs)
        row_format = False
    if not texts:
        raise BadRequest("no instances: send at least one text")
    if len(texts) > max_instances:
        raise BadRequest(f"{len(texts)} instances in one request; at most {max_instances} (bertclf serve "
                         f"--max-instances)")
    return PredictRequest(texts, pairs, row_format)


def _rows(instances: Any, takes_pairs: bool) -> tuple[list[str], Optional[list[str]]]:
    if not isinstance(instances, list):
        raise BadRequest('"instances" must be a list, one entry per example')
    texts, pairs = [], []
    for index, instance in enumerate(instances):
        if isinstance(instance, dict):
            texts.append(_text(instance.get("texts"), f"instances[{index}].texts"))
            if takes_pairs:
                pairs.append(_text(instance.get("text_pairs"), f"instances[{index}].text_pairs"))
        elif takes_pairs:
            raise BadRequest(f'instances[{index}]: this model classifies text pairs; send '
                             f'{{"texts": ..., "text_pairs": ...}}')
        else:
            texts.append(_text(instance, f"instances[{index}]"))
    return texts, pairs if takes_pairs else None


def _columns(inputs: Any, takes_pairs: bool) -> tuple[list[str], Optional[list[str]]]:
    if isinstance(inputs, list) and not takes_pairs:
        return [_text(text, f"inputs[{i}]") for i, text in enumerate(inputs)], None
    if not isinstance(inputs, dict) or not isinstance(inputs.get("texts"), list):
        wanted = '{"texts": [...], "text_pairs": [...]}' if takes_pairs else '[...] or {"texts": [...]}'
        raise BadRequest(f'"inputs" must be {wanted}')
    texts = [_text(text, f"inputs.texts[{i}]") for i, text in enumerate(inputs["texts"])]
    if not takes_pairs:
        return texts, None
    pairs = inputs.get("text_pairs")
    if not isinstance(pairs, list) or len(pairs) != len(texts):
        raise BadRequest('"inputs.text_pairs" must be a list as long as "inputs.texts"')
    return texts, [_text(text, f"inputs.text_pairs[{i}]") for i, text in enumerate(pairs)]


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{where}: expected a string, got {type(value).__name__ if value is not None else 'nothing'}")
    return value


def predict_response(request: PredictRequest, probabilities: np.ndarray, class_names: Sequence[str],
                     threshold=None, multi_label: bool = False) -> dict:
    """The answer to `request`, in its format: per example the probabilities and the label
    (the model's: at its binary decision `threshold`, else the most probable class). A
    multi-label model answers with its SavedModel's outputs instead of `label`: `predicted`
    (per label, at or above its threshold in `threshold`) and `labels` (the label's name where
    predicted, else "")."""
    rows = probabilities.astype(float).tolist()
    if multi_label:
        from bertclf.multilabel_metrics import predicted_labels

        chosen = predicted_labels(probabilities, threshold).astype(bool).tolist()
        names = [[name if hit else "" for name, hit in zip(class_names, row)] for row in chosen]
        outputs = {"probabilities": rows, "predicted": chosen, "labels": names}
    else:
        outputs = {"probabilities": rows,
                   "label": [class_names[int(i)] for i in predicted_classes(probabilities, threshold)]}
    if request.row_format:
        return {"predictions": [dict(zip(outputs, values)) for values in zip(*outputs.values())]}
    return {"outputs": outputs}


def status_response() -> dict:
    """`GET /v1/models/<name>`: one version, available."""
    return {"model_version_status": [{"version": VERSION, "state": "AVAILABLE",
                                      "status": {"error_code": "OK", "error_message": ""}}]}


def metadata_response(name: str, takes_pairs: bool, num_classes: int, multi_label: bool = False) -> dict:
    """`GET /v1/models/<name>/metadata`: the serving signature, as TF Serving describes it."""
    def tensor(dtype: str, dims: Sequence[int], tensor_name: str) -> dict:
        return {"dtype": dtype, "tensor_shape": {"dim": [{"size": str(size), "name": ""} for size in dims],
                                                  "unknown_rank": False},
                "name": tensor_name}

    inputs = {"texts": tensor("DT_STRING", [-1], f"{SIGNATURE}_texts:0")}
    if takes_pairs:
        inputs["text_pairs"] = tensor("DT_STRING", [-1], f"{SIGNATURE}_text_pairs:0")
    if multi_label:  # outputs are numbered in the order of their names, as the SavedModel does
        outputs = {"labels": tensor("DT_STRING", [-1, num_classes], "StatefulPartitionedCall:0"),
                   "predicted": tensor("DT_BOOL", [-1, num_classes], "StatefulPartitionedCall:1"),
                   "probabilities": tensor("DT_FLOAT", [-1, num_classes], "StatefulPartitionedCall:2")}
    else:
        outputs = {"label": tensor("DT_STRING", [-1], "StatefulPartitionedCall:0"),
                   "probabilities": tensor("DT_FLOAT", [-1, num_classes], "StatefulPartitionedCall:1")}
    return {"model_spec": {"name": name, "signature_name": "", "version": VERSION},
            "metadata": {"signature_def": {"signature_def": {SIGNATURE: {
                "inputs": inputs, "outputs": outputs, "method_name": "tensorflow/serving/predict"}}}}}
