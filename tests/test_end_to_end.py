"""Train -> evaluate -> predict through the CLI, on the session's tiny encoder."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from bertclf import artifacts
from bertclf.cli import main
from conftest import e2e_config as _config, own_copy, write_class_folders

pytestmark = pytest.mark.slow

KOREAN = "이 영화 정말 재미있어요"


def test_run_folder_is_complete(binary_run):
    for name in (artifacts.CONFIG_FILE, artifacts.LABELS_FILE, artifacts.DATA_REPORT_FILE,
                 artifacts.HISTORY_JSON_FILE, artifacts.HISTORY_CSV_FILE, artifacts.METRICS_FILE,
                 f"{artifacts.PLOTS_DIR}/{artifacts.HISTORY_PLOT_FILE}", f"{artifacts.MODEL_DIR}/saved_model.pb"):
        assert (binary_run / name).is_file(), name
    assert json.loads((binary_run / artifacts.LABELS_FILE).read_text()) == ["neg", "pos"]
    history = json.loads((binary_run / artifacts.HISTORY_JSON_FILE).read_text())
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "val_macro_f1", "val_roc_auc", "val_pr_auc"}
    assert all(len(values) == 2 for values in history.values())
    rows = list(csv.DictReader(io.StringIO((binary_run / artifacts.HISTORY_CSV_FILE).read_text())))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert float(rows[1]["val_loss"]) == pytest.approx(history["val_loss"][1])
    saved = yaml.safe_load((binary_run / artifacts.CONFIG_FILE).read_text())
    assert saved["train"]["epochs"] == 2 and saved["data"]["path"].endswith("data")
    report = json.loads((binary_run / artifacts.DATA_REPORT_FILE).read_text())
    assert report["splits"]["train"]["label_counts"] == {"neg": 18, "pos": 18}
    assert report["splits"]["validation"]["examples"] == 12 and report["splits"]["test"]["examples"] == 16


def test_exported_model_matches_the_trained_one(binary_run):
    metrics = json.loads((binary_run / artifacts.METRICS_FILE).read_text())
    assert metrics["export_check"]["texts"] == 12
    # (check_export's own failures are tested in tests/serving/test_export_check.py)
    assert metrics["export_check"]["texts"] > 0
    # Learnable data: the ranking is far better than chance (ROC-AUC 0.5). Two short epochs
    # need not move the probabilities across 0.5, so accuracy is not the measure here.
    assert metrics["test"]["examples"] == 16 and metrics["test"]["roc_auc"] >= 0.9


def _score_test_folder_by_hand(run):
    """Accuracy, mean log loss and confusion matrix of the run's exported model on its test
    folder, computed here from the SavedModel's probabilities, without bertclf's metrics code."""
    import tensorflow as tf

    labels, texts = [], []
    for index, name in enumerate(["neg", "pos"]):
        for path in sorted((run.parents[1] / "data" / "test" / name).glob("*.txt")):
            labels.append(index)
            texts.append(path.read_text(encoding="utf-8"))
    served = tf.saved_model.load(str(run / artifacts.MODEL_DIR)).signatures["serving_default"]
    probabilities = served(texts=tf.constant(texts))["probabilities"].numpy().astype(np.float64)
    labels = np.array(labels)
    chosen = probabilities.argmax(axis=1)
    matrix = [[int(np.sum((labels == true) & (chosen == guess))) for guess in (0, 1)] for true in (0, 1)]
    loss = float(np.mean(-np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0))))
    return float(np.mean(chosen == labels)), loss, matrix


def test_evaluate_newest_run_writes_report_and_plot(binary_run, capsys):
    assert main(["evaluate", "--runs-dir", str(binary_run.parent), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    accuracy, loss, matrix = _score_test_folder_by_hand(binary_run)
    assert printed["examples"] == 16
    assert printed["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    assert printed["loss"] == pytest.approx(loss, abs=1e-4)
    assert printed["confusion_matrix"] == matrix
    written = json.loads((binary_run / artifacts.eval_file("test")).read_text())
    assert written["accuracy"] == printed["accuracy"]
    # The same test examples as training scored, through the exported model.
    trained = json.loads((binary_run / artifacts.METRICS_FILE).read_text())["test"]
    assert written["accuracy"] == pytest.approx(trained["accuracy"])
    assert written["loss"] == pytest.approx(trained["loss"], abs=1e-4)
    assert (binary_run / artifacts.PLOTS_DIR / artifacts.confusion_plot_file("test")).is_file()


def test_evaluate_full_split_ignores_the_cap(tmp_path, tiny_encoder_dir, capsys):
    config = _config(tmp_path, tiny_encoder_dir, extra="", name="capped")
    config.write_text(config.read_text().replace("validation_split: 0.25}", "validation_split: 0.25, max_eval_examples: 6}"))
    assert main(["train", str(config)]) == 0
    run = tmp_path / "runs" / (tmp_path / "runs" / artifacts.LATEST_FILE).read_text().strip()
    assert main(["evaluate", str(run), "--full"]) == 0
    assert json.loads((run / artifacts.eval_file("test-full")).read_text())["examples"] == 16
    assert json.loads((run / artifacts.METRICS_FILE).read_text())["test"]["examples"] == 6


def test_evaluate_validation_and_another_folder(binary_run, tmp_path, capsys):
    binary_run = own_copy(binary_run, tmp_path)  # evaluate writes its evaluations into the run
    assert main(["evaluate", str(binary_run), "--split", "validation"]) == 0
    assert "validation: 12 examples" in capsys.readouterr().out
    folder = write_class_folders(tmp_path / "extra", {"pos": ["wonderful superb film"] * 3})
    assert main(["evaluate", str(binary_run), "--data", str(folder)]) == 0
    written = json.loads((binary_run / artifacts.eval_file("data-extra")).read_text())
    assert written["examples"] == 3 and written["per_class"]["pos"]["support"] == 3


def test_predict_arguments_file_stdin_and_json(binary_run, tmp_path, capsys, monkeypatch):
    run = str(binary_run)
    assert main(["predict", "what a wonderful film", "", "--model", run]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["prediction", "text"] and len(table) == 4
    texts = tmp_path / "texts.txt"
    texts.write_text(f"a great movie\n{KOREAN}\n{'long ' * 3000}\n", encoding="utf-8")
    assert main(["predict", "--file", str(texts), "--model", run, "--json", "--top-k", "2"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["text"] for line in lines][:2] == ["a great movie", KOREAN]
    for line in lines:
        assert line["label"] in ("neg", "pos") and len(line["top"]) == 2
        assert sum(line["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    monkeypatch.setattr(sys, "stdin", io.StringIO("from standard input\n"))
    assert main(["predict", "--model", run, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["text"] == "from standard input"


def test_predict_input_errors(binary_run, tmp_path, capsys):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9\n".encode("latin-1"))
    assert main(["predict", "--file", str(bad), "--model", str(binary_run)]) == 2
    assert "not UTF-8" in capsys.readouterr().err
    assert main(["predict", "--file", str(tmp_path / "nope.txt"), "--model", str(binary_run)]) == 2
    incomplete = tmp_path / "run-without-model"
    incomplete.mkdir()
    assert main(["predict", "x", "--model", str(incomplete)]) == 1
    assert "has no exported model/" in capsys.readouterr().err


def test_saved_model_loads_without_bertclf(binary_run):
    script = ("import os, sys; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
              "import tensorflow as tf, tensorflow_text\n"
              f"model = tf.saved_model.load({str(binary_run / artifacts.MODEL_DIR)!r})\n"
              f"out = model.signatures['serving_default'](texts=tf.constant(['great film', {KOREAN!r}]))\n"
              "assert 'bertclf' not in sys.modules\n"
              "print(out['probabilities'].numpy().tolist(), out['label'].numpy().tolist())\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    probabilities_text, labels_text = done.stdout.strip().rsplit("] [", 1)
    probabilities = np.array(eval(probabilities_text + "]"))  # noqa: S307  (our own printed list)
    labels = eval("[" + labels_text)  # noqa: S307
    assert probabilities.shape == (2, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # The label output names the most probable class, in labels.json order.
    assert labels == [[b"neg", b"pos"][i] for i in probabilities.argmax(axis=1)]


@pytest.mark.parametrize("pooling", ["pooled", "cls", "mean"])
def test_export_reproduces_in_memory_probabilities(tiny_encoder_dir, tmp_path, pooling):
    import tensorflow as tf

    from bertclf.config import ModelConfig
    from bertclf.encoders import load_preprocessor, prepare_encoder
    from bertclf.model import build_classifier
    from bertclf.serving.export import export_serving_model
    from bertclf.task import ClassificationTask
    from bertclf.encoders.registry import spec_from_folder
    from bertclf.encoders.tokenization import encode_texts

    model_config = ModelConfig(encoder=str(tiny_encoder_dir), pooling=pooling, seq_length=24)
    encoder = prepare_encoder(spec_from_folder(tiny_encoder_dir), model_config, [], seed=0)
    preprocessor = load_preprocessor(encoder.preprocess_handle)
    classifier = build_classifier(encoder, ClassificationTask(3), model_config)
    texts = ["a wonderful film", "", KOREAN, "word " * 500]
    expected = ClassificationTask(3).probabilities(
        classifier(encode_texts(preprocessor, tf.constant(texts), 24), training=False))
    export_serving_model(tmp_path / "model", preprocessor, classifier, 24, ["a", "b", "c"])
    served = tf.saved_model.load(str(tmp_path / "model")).signatures["serving_default"]
    got = served(texts=tf.constant(texts))
    assert np.abs(got["probabilities"].numpy() - expected.numpy()).max() <= 1e-5
    assert got["probabilities"].shape == (4, 3)


def test_failed_run_leaves_no_model_and_keeps_latest(binary_run, tmp_path, monkeypatch, tiny_encoder_dir):
    import bertclf.serving.export

    config = _config(tmp_path, tiny_encoder_dir, extra="")
    config.write_text(config.read_text().replace("output_dir: runs", f"output_dir: {binary_run.parent}"))
    before = (binary_run.parent / artifacts.LATEST_FILE).read_text()

    def broken_export(path, *args, **kwargs):
        (path / "partial-file").write_text("half written")
        raise RuntimeError("simulated crash during export")

    monkeypatch.setattr(bertclf.serving.export, "export_serving_model", broken_export)
    with pytest.raises(RuntimeError, match="simulated crash"):
        main(["train", str(config)])
    assert (binary_run.parent / artifacts.LATEST_FILE).read_text() == before
    newest = max((p for p in binary_run.parent.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    assert newest != binary_run and not (newest / artifacts.MODEL_DIR).exists()
