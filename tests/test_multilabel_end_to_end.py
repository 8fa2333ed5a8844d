"""Multi-label runs end to end on the tiny encoder: train, evaluate, predict, the API, the export.

A few dozen synthetic texts, each carrying any of three labels by the words it contains
(and a fourth, `offer`, with positives only in the test file), in 0/1 columns; the label-set forms
themselves are tests/data/test_label_sets.py's.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest

from bertclf import artifacts
from conftest import shared_once, write_config

LABELS = {"food": ["bread", "rice", "hungry"], "water": ["thirsty", "drink", "wells"],
          "medical": ["doctor", "injured", "clinic"]}
FILLER = ["we", "need", "in", "the", "village", "please", "people", "are", "here", "now", "help"]


def _rows(count: int, seed: int, offer: bool = False) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        chosen = [label for label in LABELS if rng.random() < 0.45]
        words = rng.sample(FILLER, 5) + [rng.choice(LABELS[label]) for label in chosen]
        rng.shuffle(words)
        # `offer` as in the disaster messages: a column everywhere, positives only in the test file.
        rows.append({"id": i, "message": " ".join(words), **{label: int(label in chosen) for label in LABELS},
                     "offer": int(offer and i % 5 == 0)})
    return rows


def _write(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _config(work: Path, encoder: Path, extra: str = "") -> Path:
    _write(work / "train.csv", _rows(48, seed=1))
    _write(work / "validation.csv", _rows(16, seed=2))
    _write(work / "test.csv", _rows(16, seed=3, offer=True))
    return write_config(work / "config.yaml", f"""
experiment: {{name: tags, seed: 3, output_dir: runs}}
data:
  format: csv
  train_path: train.csv
  validation_path: validation.csv
  test_path: test.csv
  text_column: message
  multi_label: true
  label_columns: [food, water, medical, offer]
model: {{encoder: {encoder}, seq_length: 32, pooling: mean}}
train: {{epochs: 8, batch_size: 8, learning_rate: 5.0e-3, threshold: per_label}}
runtime: {{progress: false}}
{extra}""")


@pytest.fixture(scope="module")
def multilabel_run(tmp_path_factory, tiny_encoder_dir) -> Path:
    from bertclf.cli import main

    def build(work: Path) -> Path:
        assert main(["train", str(_config(work, tiny_encoder_dir)), "--run-dir", str(work / "run")]) == 0
        return work / "run"

    return shared_once(tmp_path_factory, "multilabel", build)


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_training_records_label_sets_thresholds_and_the_left_out_label(multilabel_run):
    assert _json(multilabel_run / artifacts.LABELS_FILE) == ["food", "water", "medical"]
    metrics = _json(multilabel_run / artifacts.METRICS_FILE)
    assert metrics["monitor"] == "val_micro_f1"
    assert metrics["threshold"]["rule"].startswith("per_label") and len(metrics["threshold"]["values"]) == 3
    test = _json(multilabel_run / artifacts.eval_file("test"))
    assert test["task"] == "multi_label" and test["examples"] == 16
    assert set(test["per_label"]) == {"food", "water", "medical"}
    # offer has no training positive: left out of the model and of every average, counted apart.
    assert test["left_out_labels"] == {"labels": {"offer": 4}, "positives": 4}
    assert 0.0 <= test["micro_f1"] <= 1.0 and "hamming_loss" in test and "subset_accuracy" in test
    assert len(test["analysis"]["true_labels"]) == 16
    assert (multilabel_run / artifacts.PLOTS_DIR / artifacts.label_scores_plot_file("test")).is_file()
    data = _json(multilabel_run / artifacts.DATA_REPORT_FILE)
    assert data["multi_label"] and data["splits"]["train"]["label_counts"]["food"] > 0
    assert metrics["export_check"]["texts"] == 16


def test_evaluate_prints_the_summary_and_the_labels_by_support(multilabel_run, capsys):
    from bertclf.cli import main

    capsys.readouterr()
    assert main(["evaluate", str(multilabel_run)]) == 0
    out = capsys.readouterr().out
    assert "micro F1" in out and "Hamming loss" in out and "offer (4 here)" in out
    assert _json(multilabel_run / artifacts.eval_file("test"))["micro_f1"] == pytest.approx(
        _json(multilabel_run / artifacts.METRICS_FILE)["test"]["micro_f1"], abs=1e-6)


def test_predict_gives_label_sets_and_threshold_overrides_every_label(multilabel_run, capsys):
    from bertclf.cli import main

    texts = ["we need bread and a doctor", "the people are here now"]
    capsys.readouterr()
    assert main(["predict", str(multilabel_run), "--json", *texts]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["text"] for row in rows] == texts
    thresholds = dict(zip(["food", "water", "medical"],
                          _json(multilabel_run / artifacts.METRICS_FILE)["threshold"]["values"]))
    for row in rows:
        assert set(row["probabilities"]) == set(thresholds) and row["run"] == str(multilabel_run)
        assert set(row["labels"]) == {label for label, p in row["probabilities"].items()
                                      if np.float32(p) >= np.float32(thresholds[label])}
    assert main(["predict", str(multilabel_run), "--json", "--threshold", "0.999", *texts]) == 0
    assert all(json.loads(line)["labels"] == [] for line in capsys.readouterr().out.splitlines())
    assert main(["predict", str(multilabel_run), "--threshold", "0.001", texts[0]]) == 0
    assert "food" in capsys.readouterr().out
    assert main(["predict", str(multilabel_run), "--threshold", "0.999", texts[0]]) == 0
    assert "(none)" in capsys.readouterr().out


def test_the_api_returns_label_lists_and_independent_probabilities(multilabel_run):
    import bertclf

    clf = bertclf.load(multilabel_run)
    assert clf.multi_label and clf.classes == ["food", "water", "medical"] and len(clf.threshold) == 3
    probabilities = clf.predict_proba(["we need bread", "thirsty people need a drink and a doctor"])
    assert probabilities.shape == (2, 3) and ((probabilities >= 0) & (probabilities <= 1)).all()
    labels = clf.predict(["we need bread", "thirsty people need a drink and a doctor"])
    assert all(isinstance(row, list) and set(row) <= set(clf.classes) for row in labels)
    assert labels == [[name for name, p, t in zip(clf.classes, row, clf.threshold) if np.float32(p) >= np.float32(t)]
                      for row in probabilities]


def test_the_savedmodel_serves_probabilities_and_label_sets_without_bertclf(multilabel_run):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    loaded = tf.saved_model.load(str(multilabel_run / artifacts.MODEL_DIR))
    outputs = loaded.signatures["serving_default"](texts=tf.constant(["we need bread", "a doctor please"]))
    probabilities, predicted = outputs["probabilities"].numpy(), outputs["predicted"].numpy()
    assert probabilities.shape == predicted.shape == (2, 3)
    assert (predicted == (probabilities >= loaded.thresholds.numpy())).all()
    names = outputs["labels"].numpy()
    assert all(name.decode() == (["food", "water", "medical"][j] if predicted[i, j] else "")
               for i in range(2) for j, name in enumerate(names[i]))


def test_a_label_set_run_exports_to_onnx_and_predicts_the_same_sets(multilabel_run, tmp_path, capsys, monkeypatch):
    """ONNX and int8 export of a multi-label run: one sigmoid per label, its thresholds per label.

    int8 is refused when it changes too many validation label sets; a refused export leaves
    nothing behind. On this tiny model's 16 validation texts one changed set is 6.2%, beyond the
    shipped 2% (it happened in one suite run of five, 2026-12-06), so the exported case is
    checked with the policy relaxed: what it tests is the multi-label int8 model, not the policy."""
    from bertclf.cli import main
    from bertclf.serving import onnx_checks
    from conftest import own_copy

    run = own_copy(multilabel_run, tmp_path)
    monkeypatch.setattr(onnx_checks, "INT8_MIN_AGREEMENT", 1.01)  # no export can meet it
    capsys.readouterr()
    assert main(["export", str(run), "--quantize", "int8", "--json"]) == 1
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: int8 changes ") and error.endswith("export without --quantize"), error
    assert not (run / artifacts.EXPORT_DIR).exists() or not any((run / artifacts.EXPORT_DIR).iterdir())
    monkeypatch.setattr(onnx_checks, "INT8_MIN_AGREEMENT", 0.75)
    assert main(["export", str(run), "--quantize", "int8", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["task"] == "multi_label" and record["labels"] == ["food", "water", "medical"]
    assert record["threshold"] == _json(run / artifacts.METRICS_FILE)["threshold"]["values"]
    assert record["checks"]["onnx"]["max_abs_difference_float32"] <= 1e-4
    assert record["checks"]["int8"]["texts"] == 16
    texts = ["we need bread and a doctor", "thirsty people need a drink", "the people are here now"]
    rows = {}
    for runtime in ("onnx", "tensorflow"):
        assert main(["predict", str(run), "--json", "--runtime", runtime, *texts]) == 0
        rows[runtime] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # The SavedModel computes in the run's precision (bfloat16 here): its export tolerance.
    tolerance = record["checks"]["onnx"]["tolerance_saved_model"]
    thresholds = dict(zip(record["labels"], record["threshold"]))
    for onnx_row, tf_row in zip(rows["onnx"], rows["tensorflow"]):
        assert max(abs(onnx_row["probabilities"][k] - tf_row["probabilities"][k]) for k in thresholds) <= tolerance
        clear = {k for k, p in onnx_row["probabilities"].items() if abs(p - thresholds[k]) > tolerance}
        assert set(onnx_row["labels"]) & clear == set(tf_row["labels"]) & clear


def test_seeds_and_a_sweep_train_label_sets_as_they_train_one_label(tmp_path, tiny_encoder_dir, capsys,
                                                                    monkeypatch):
    """Issue 37: seeds and sweeps work unchanged; their summaries use the multi-label metrics."""
    from bertclf.cli import main

    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path, tiny_encoder_dir, "").read_text(encoding="utf-8").replace("epochs: 8", "epochs: 3")
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    capsys.readouterr()
    assert main(["train", "config.yaml", "--seeds", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    metrics = [_json(Path(run) / artifacts.METRICS_FILE) for run in result["runs"]]
    stats = result["summary"]["test_micro_f1"]
    assert stats["values"] == pytest.approx([m["test"]["micro_f1"] for m in metrics]) and len(stats["values"]) == 2

    space = tmp_path / "space.yaml"
    space.write_text("train.learning_rate: {choice: [5.0e-3, 1.0e-3]}\n", encoding="utf-8")
    assert main(["sweep", "config.yaml", "--space", str(space), "--sampler", "grid", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    # The objective is the multi-label default monitor, maximised; each trial is a multi-label run.
    assert summary["monitor"] == "val_micro_f1" and summary["direction"] == "maximize"
    assert [row["state"] for row in summary["trials"]] == ["complete", "complete"]
    for row in summary["trials"]:
        history = _json(Path(row["run_dir"]) / artifacts.HISTORY_JSON_FILE)
        assert row["value"] == pytest.approx(max(history["val_micro_f1"]))
        assert _json(Path(row["run_dir"]) / artifacts.METRICS_FILE)["test"]["task"] == "multi_label"


def test_in_memory_training_data_carries_a_list_of_labels_per_row(tmp_path, tiny_encoder_dir, monkeypatch):
    import pandas as pd

    import bertclf
    from bertclf.errors import ConfigError, DataError

    monkeypatch.chdir(tmp_path)
    rows = _rows(48, seed=1)
    as_lists = [(row["message"], [label for label in LABELS if row[label]]) for row in rows]
    config = {"experiment": {"name": "memory", "seed": 3, "output_dir": "runs"},
              "data": {"multi_label": True}, "model": {"encoder": str(tiny_encoder_dir), "seq_length": 32},
              "train": {"epochs": 2, "batch_size": 8, "learning_rate": 5.0e-3}, "runtime": {"progress": False}}
    frame = pd.DataFrame({"text": [text for text, _ in as_lists[32:]], "label": [labels for _, labels in as_lists[32:]]})
    run = bertclf.train(config, train_data=as_lists[:32], validation_data=frame, run_dir=tmp_path / "run")
    assert sorted(_json(run.path / artifacts.LABELS_FILE)) == sorted(LABELS)
    counts = _json(run.path / artifacts.DATA_REPORT_FILE)["splits"]["train"]["label_counts"]
    assert counts == {label: sum(label in labels for _, labels in as_lists[:32]) for label in LABELS}
    assert all(isinstance(row, list) for row in bertclf.load(run.path).predict(["we need bread"]))

    with pytest.raises(DataError, match=r"train_data: example 1: label 'food' is not a list of labels"):
        bertclf.train(config, train_data=[("we need bread", "food")] * 8)
    with pytest.raises(ConfigError, match="remove data.label_columns"):
        bertclf.train({**config, "data": {"multi_label": True, "label_columns": ["food"]}}, train_data=as_lists)
