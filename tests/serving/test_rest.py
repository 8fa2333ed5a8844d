"""TF Serving's REST request and response shapes (`serving.rest`), without a server."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertclf.serving.rest import BadRequest, metadata_response, parse_predict, predict_response


def _parse(body, pairs=False, limit=10):
    return parse_predict(json.dumps(body).encode(), pairs, limit)


def test_row_and_columnar_requests_of_a_one_text_model():
    assert _parse({"instances": ["a", {"texts": "b"}]}).texts == ["a", "b"]
    request = _parse({"inputs": ["a", "b"]})
    assert (request.texts, request.pairs, request.row_format) == (["a", "b"], None, False)
    assert _parse({"inputs": {"texts": ["c"]}}).texts == ["c"]


def test_sentence_pair_requests():
    request = _parse({"instances": [{"texts": "a", "text_pairs": "b"}]}, pairs=True)
    assert (request.texts, request.pairs) == (["a"], ["b"])
    request = _parse({"inputs": {"texts": ["a", "c"], "text_pairs": ["b", "d"]}}, pairs=True)
    assert (request.texts, request.pairs) == (["a", "c"], ["b", "d"])
    with pytest.raises(BadRequest, match="this model classifies text pairs"):
        _parse({"instances": ["a"]}, pairs=True)
    with pytest.raises(BadRequest, match=r"instances\[0\].text_pairs: expected a string, got nothing"):
        _parse({"instances": [{"texts": "a"}]}, pairs=True)
    with pytest.raises(BadRequest, match="as long as"):
        _parse({"inputs": {"texts": ["a", "c"], "text_pairs": ["b"]}}, pairs=True)


@pytest.mark.parametrize("body,message", [
    ([], "must be a JSON object"),
    ({"instances": "a"}, '"instances" must be a list'),
    ({"instances": ["a"], "inputs": ["b"]}, "exactly one of"),
    ({"inputs": 3}, '"inputs" must be'),
    ({"inputs": {"texts": ["a", None]}}, r"inputs.texts[1]: expected a string, got nothing"),
    ({"instances": ["a"] * 11}, "11 instances in one request; at most 10"),
])
def test_bad_requests_name_what_is_wrong(body, message):
    with pytest.raises(BadRequest) as raised:
        _parse(body)
    assert message in str(raised.value)


def test_responses_in_the_request_format():
    probabilities = np.array([[0.2, 0.8], [0.9, 0.1]], np.float32)
    rows = predict_response(_parse({"instances": ["a", "b"]}), probabilities, ["neg", "pos"])
    assert [p["label"] for p in rows["predictions"]] == ["pos", "neg"]
    assert rows["predictions"][0]["probabilities"] == pytest.approx([0.2, 0.8])
    columns = predict_response(_parse({"inputs": ["a", "b"]}), probabilities, ["neg", "pos"])
    assert columns["outputs"]["label"] == ["pos", "neg"]
    # A binary model's own threshold decides the label; probabilities are untouched.
    low = predict_response(_parse({"instances": ["a", "b"]}), probabilities, ["neg", "pos"], threshold=0.1)
    assert [p["label"] for p in low["predictions"]] == ["pos", "pos"]
    assert low["predictions"][1]["probabilities"] == pytest.approx([0.9, 0.1])
    signature = metadata_response("m", True, 3)["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert set(signature["inputs"]) == {"texts", "text_pairs"}
    assert [d["size"] for d in signature["outputs"]["probabilities"]["tensor_shape"]["dim"]] == ["-1", "3"]


def test_a_multi_label_models_responses_carry_its_signatures_outputs():
    probabilities = np.array([[0.9, 0.2, 0.6], [0.1, 0.05, 0.2]], np.float32)
    labels = ["food", "water", "medical"]
    rows = predict_response(_parse({"instances": ["a", "b"]}), probabilities, labels, threshold=[0.5, 0.5, 0.7],
                            multi_label=True)
    first, second = rows["predictions"]
    assert first["predicted"] == [True, False, False] and first["labels"] == ["food", "", ""]
    assert second["predicted"] == [False, False, False] and second["labels"] == ["", "", ""]
    assert "label" not in first and first["probabilities"] == pytest.approx([0.9, 0.2, 0.6])
    columns = predict_response(_parse({"inputs": ["a", "b"]}), probabilities, labels, threshold=0.15,
                               multi_label=True)["outputs"]
    assert columns["labels"] == [["food", "water", "medical"], ["", "", "medical"]]
    signature = metadata_response("m", False, 3, multi_label=True)["metadata"]["signature_def"]["signature_def"][
        "serving_default"]
    assert {name: entry["dtype"] for name, entry in signature["outputs"].items()} == {
        "labels": "DT_STRING", "predicted": "DT_BOOL", "probabilities": "DT_FLOAT"}
