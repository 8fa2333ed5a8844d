"""Long texts read as windows, end to end: one tiny run with `model.long_text: windows` and
`train.windows: all`, its SavedModel, `evaluate`, `predict`, the API, `serve` and the ONNX export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bertclf import artifacts
from conftest import _WORDS, make_dataset_tree, own_copy, shared_once, synthetic_texts, write_config

pytestmark = pytest.mark.slow

SEQ_LENGTH = 12  # windows of 10 tokens, 10 apart: a text of 20 single-token words is two halves


@pytest.fixture(scope="module")
def windows_run(tmp_path_factory, tiny_encoder_dir) -> Path:
    from bertclf.cli import main

    def build(work: Path) -> Path:
        make_dataset_tree(work / "data", train=24, test=8)
        for split, seed in (("train", 8), ("test", 9)):  # a few texts longer than a window
            for label in ("pos", "neg"):
                for i, text in enumerate(synthetic_texts(label, 3, seed=seed)):
                    (work / "data" / split / label / f"long{i}.txt").write_text(f"{text} {text} {text}",
                                                                               encoding="utf-8")
        config = write_config(work / "config.yaml", f"""
experiment: {{name: windows, seed: 5, output_dir: runs}}
data: {{path: data, validation_split: 0.25}}
model: {{encoder: {tiny_encoder_dir}, seq_length: {SEQ_LENGTH}, pooling: mean, long_text: windows,
        window_stride: {SEQ_LENGTH - 2}, max_windows: 4}}
train: {{epochs: 6, batch_size: 8, learning_rate: 3.0e-3, windows: all}}
runtime: {{progress: false, precision: float32}}
export: {{onnx: true}}
""")
        assert main(["train", str(config), "--run-dir", str(work / "run")]) == 0
        return work / "run"

    return shared_once(tmp_path_factory, "windows", build)


def _single_token_words(run: Path, count: int, label: str) -> str:
    """`count` words of the synthetic vocabulary that are one token each, label words among them."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from bertclf.encoders.tokenization import token_ids

    preprocessor = tf.saved_model.load(str(run / artifacts.MODEL_DIR)).preprocessor
    candidates = _WORDS[label]
    words = [w for w, ids in zip(candidates, token_ids(preprocessor, tf.constant(candidates)).to_list())
             if len(ids) == 1]
    assert len(words) >= 3
    return " ".join(words[i % len(words)] for i in range(count))


@pytest.fixture(scope="module")
def halves(windows_run) -> tuple[str, str]:
    """A clearly positive and a clearly negative text of exactly one window's tokens each."""
    return _single_token_words(windows_run, SEQ_LENGTH - 2, "pos"), _single_token_words(windows_run,
                                                                                       SEQ_LENGTH - 2, "neg")


def _signatures(run: Path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    return tf.saved_model.load(str(run / artifacts.MODEL_DIR)).signatures


def test_the_savedmodel_averages_the_windows_of_a_text(windows_run, halves):
    import tensorflow as tf

    signatures = _signatures(windows_run)
    positive, negative = halves
    alone = signatures["truncate"](texts=tf.constant([positive, negative]))["probabilities"].numpy()
    assert alone[0][1] > 0.5 > alone[1][1]  # the model tells the halves apart
    both = signatures["serving_default"](texts=tf.constant([f"{positive} {negative}", positive]))
    # The whole text: the mean of its two windows, which are its halves; a text of one window: itself.
    assert both["probabilities"].numpy()[0] == pytest.approx(alone.mean(axis=0), abs=1e-5)
    assert both["probabilities"].numpy()[1] == pytest.approx(alone[0], abs=1e-5)
    assert both["text_tokens"].numpy().tolist() == [2 * (SEQ_LENGTH - 2) + 2, SEQ_LENGTH]
    # Truncated, the same text is its head: the positive half only.
    head = signatures["truncate"](texts=tf.constant([f"{positive} {negative}"]))["probabilities"].numpy()[0]
    assert head == pytest.approx(alone[0], abs=1e-5)
    windows = signatures["windows"](texts=tf.constant([f"{positive} {negative}", positive]))
    assert windows["documents"].numpy().tolist() == [0, 0, 1]
    assert windows["window_probabilities"].numpy() == pytest.approx(alone[[0, 1, 0]], abs=1e-5)


def test_max_takes_the_most_confident_window(windows_run, halves):
    from bertclf.serving.predictions import open_predictor

    positive, negative = halves
    text = f"{positive} {negative}"
    truncated = open_predictor(windows_run, "tensorflow", long_text="truncate")
    alone = truncated.probabilities([positive, negative], progress=None)
    confident = alone[np.argmax(alone.max(axis=1))]
    for runtime in ("tensorflow", "onnx"):
        by_max = open_predictor(windows_run, runtime, aggregation="max").probabilities([text], progress=None)[0]
        assert by_max == pytest.approx(confident, abs=1e-5), runtime
        mean = open_predictor(windows_run, runtime).probabilities([text], progress=None)[0]
        assert mean == pytest.approx(alone.mean(axis=0), abs=1e-5), runtime


def test_training_read_every_window_and_scored_texts(windows_run):
    metrics = json.loads((windows_run / artifacts.METRICS_FILE).read_text(encoding="utf-8"))
    validation = json.loads((windows_run / artifacts.eval_file("validation")).read_text(encoding="utf-8"))
    # train.windows: all: more steps than texts would give; scoring: one row per text.
    assert metrics["optimizer_steps"] > 6 * -(-metrics["train_examples"] // 8)
    # ... and metrics.json says how many rows an epoch read, which the steps count.
    reads = metrics["training_reads"]
    assert reads["windows"] == "all" and reads["rows_per_epoch"] > metrics["train_examples"]
    assert metrics["optimizer_steps"] == metrics["epochs"] * -(-reads["rows_per_epoch"] // 8)
    assert metrics["test"]["examples"] == 22 and validation["examples"] == 14
    record = json.loads((windows_run / artifacts.eval_file("test")).read_text(encoding="utf-8"))
    assert record["long_text"]["reading"] == "windows" and record["long_text"]["windows"] > 22
    assert sum(bucket["examples"] for bucket in record["by_length"].values()) == 22


def test_evaluate_scores_one_model_both_ways(windows_run, tmp_path, capsys):
    from bertclf.cli import main

    run = own_copy(windows_run, tmp_path)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--runtime", "tensorflow", "--long-text", "truncate", "--json"]) == 0
    truncated = json.loads(capsys.readouterr().out)
    assert truncated["evaluation"] == "test-truncate" and truncated["long_text"]["reading"] == "truncate"
    assert main(["evaluate", str(run), "--runtime", "tensorflow"]) == 0
    shown = capsys.readouterr().out
    assert "long texts read as windows" in shown and "by length in tokens" in shown
    windowed = json.loads((run / artifacts.eval_file("test")).read_text(encoding="utf-8"))
    trained = json.loads((windows_run / artifacts.eval_file("test")).read_text(encoding="utf-8"))
    assert windowed["loss"] == pytest.approx(trained["loss"], abs=1e-5)
    assert set(windowed["long_text"]["aggregations"]) == {"mean", "max", "weighted"}
    assert windowed["long_text"]["aggregations"]["mean"] == windowed["accuracy"]
    assert windowed["by_length"] == trained["by_length"]
    # The long texts are where the two readings can differ; the short ones score alike.
    short = windowed["by_length"][f"<={SEQ_LENGTH}"]
    assert short == truncated["by_length"][f"<={SEQ_LENGTH}"] and short["examples"] > 0
    import bertclf

    onnx = bertclf.evaluate(run, runtime="onnx")
    assert onnx["loss"] == pytest.approx(trained["loss"], abs=1e-4) and onnx["runtime"] == "onnx"
    assert onnx["long_text"]["windows"] == trained["long_text"]["windows"]
    assert bertclf.evaluate(run, long_text="windows", aggregation="max")["long_text"]["aggregation"] == "max"
    assert (run / artifacts.eval_file("test-max")).is_file()
    from bertclf.errors import ConfigError

    with pytest.raises(ConfigError, match="--aggregation median"):
        bertclf.evaluate(run, aggregation="median")


def test_serve_and_the_report_use_the_windows(windows_run, halves, tmp_path):
    from bertclf.cli import main
    from test_server import Server

    positive, negative = halves
    running = Server(windows_run, "--runtime", "tensorflow")
    try:
        status, answer = running.request("POST", "/v1/models/windows:predict",
                                         {"instances": [f"{positive} {negative}", positive, negative]})
    finally:
        running.stop()
    assert status == 200
    rows = [prediction["probabilities"] for prediction in answer["predictions"]]
    assert rows[0] == pytest.approx(list(np.mean([rows[1], rows[2]], axis=0)), abs=1e-5)
    run = own_copy(windows_run, tmp_path)
    assert main(["report", str(run)]) == 0
    page = (run / artifacts.REPORT_FILE).read_text(encoding="utf-8")
    assert 'id="by-length"' in page and "read as windows" in page


def test_windowed_configs_are_checked(tmp_path):
    from bertclf.config import load_config
    from bertclf.errors import ConfigError

    base = "data: {path: d}\nmodel: {encoder: tiny, seq_length: 32"
    for extra, message in ((", window_stride: 31}", "longer than a window's 30 tokens"),
                           (", max_windows: 3}", "only read with model.long_text: windows"),
                           (", long_text: windows}\ndata: {format: tsv, train_path: t.tsv, text_pair_column: b}",
                            "sentence pairs")):
        config = write_config(tmp_path / "c.yaml", base + extra + "\n")
        with pytest.raises(ConfigError, match=message):
            load_config(config)
    assert load_config(write_config(tmp_path / "c.yaml", base + ", long_text: windows}\n")).model.stride == 15
