"""Train -> evaluate -> predict through the CLI, on the session's tiny encoder."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tarfile

import numpy as np
import pytest
import yaml

from bertclf import artifacts
from bertclf.cli import main
from conftest import SHARED_DATA, e2e_config as _config, write_class_folders, write_config

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
    assert metrics["export_check"]["max_abs_difference"] <= 1e-5
    assert metrics["test"]["examples"] == 16 and 0.0 <= metrics["test"]["accuracy"] <= 1.0


def test_evaluate_newest_run_writes_report_and_plot(binary_run, capsys):
    assert main(["evaluate", "--runs-dir", str(binary_run.parent), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((binary_run / artifacts.eval_file("test")).read_text())
    assert printed["accuracy"] == written["accuracy"]
    assert np.sum(written["confusion_matrix"]) == 16
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
    assert probabilities.shape == (2, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert "b'neg'" in labels_text or "b'pos'" in labels_text


@pytest.mark.parametrize("pooling", ["pooled", "cls", "mean"])
def test_export_reproduces_in_memory_probabilities(tiny_encoder_dir, tmp_path, pooling):
    import tensorflow as tf

    from bertclf.config import ModelConfig
    from bertclf.encoders import load_preprocessor, prepare_encoder
    from bertclf.model import build_classifier, export_serving_model, probabilities
    from bertclf.registry import spec_from_folder
    from bertclf.tokenization import encode_texts

    model_config = ModelConfig(encoder=str(tiny_encoder_dir), pooling=pooling, seq_length=24)
    encoder = prepare_encoder(spec_from_folder(tiny_encoder_dir), model_config, [], seed=0)
    preprocessor = load_preprocessor(encoder.preprocess_handle)
    classifier = build_classifier(encoder, 3, model_config)
    texts = ["a wonderful film", "", KOREAN, "word " * 500]
    expected = probabilities(classifier(encode_texts(preprocessor, tf.constant(texts), 24), training=False), 3)
    export_serving_model(tmp_path / "model", preprocessor, classifier, 24, ["a", "b", "c"])
    served = tf.saved_model.load(str(tmp_path / "model")).signatures["serving_default"]
    got = served(texts=tf.constant(texts))
    assert np.abs(got["probabilities"].numpy() - expected.numpy()).max() <= 1e-5
    assert got["probabilities"].shape == (4, 3)


def test_three_classes_with_tiny_from_the_registry(tmp_path, capsys):
    extra = "model:\n  encoder: tiny\n  seq_length: 32\n  pooling: mean\n  tiny: {layers: 1, hidden: 32, heads: 2, vocab_size: 300}\n"
    config = _config(tmp_path, "tiny", classes=("neg", "neutral", "pos"), name="three")
    text = config.read_text().replace("model: {encoder: tiny, seq_length: 32, pooling: mean}\n", "") + extra
    config.write_text(text)
    assert main(["train", str(config)]) == 0
    run = tmp_path / "runs" / (tmp_path / "runs" / artifacts.LATEST_FILE).read_text().strip()
    assert json.loads((run / artifacts.LABELS_FILE).read_text()) == ["neg", "neutral", "pos"]
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    out = capsys.readouterr().out
    assert "neg  neutral  pos" in out
    matrix = json.loads((run / artifacts.eval_file("test")).read_text())["confusion_matrix"]
    assert len(matrix) == 3 and all(len(row) == 3 for row in matrix) and np.sum(matrix) == 24
    assert main(["predict", "a brilliant film", "--model", str(run), "--json", "--top-k", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [t["label"] for t in result["top"]] and len(result["top"]) == 3
    assert result["top"][0]["probability"] >= result["top"][1]["probability"] >= result["top"][2]["probability"]


def test_failed_run_leaves_no_model_and_keeps_latest(binary_run, tmp_path, monkeypatch, tiny_encoder_dir):
    import bertclf.model

    config = _config(tmp_path, tiny_encoder_dir, extra="")
    config.write_text(config.read_text().replace("output_dir: runs", f"output_dir: {binary_run.parent}"))
    before = (binary_run.parent / artifacts.LATEST_FILE).read_text()

    def broken_export(path, *args, **kwargs):
        (path / "partial-file").write_text("half written")
        raise RuntimeError("simulated crash during export")

    monkeypatch.setattr(bertclf.model, "export_serving_model", broken_export)
    with pytest.raises(RuntimeError, match="simulated crash"):
        main(["train", str(config)])
    assert (binary_run.parent / artifacts.LATEST_FILE).read_text() == before
    newest = max((p for p in binary_run.parent.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    assert newest != binary_run and not (newest / artifacts.MODEL_DIR).exists()


@pytest.mark.skipif(not (SHARED_DATA / "aclImdb_v1.tar.gz").is_file(), reason="../shared/data not present")
def test_real_imdb_reviews(tmp_path, tiny_encoder_dir):
    """A few dozen real IMDB reviews, streamed from the shared archive, through train and evaluate."""
    wanted = {("train", "pos"): 20, ("train", "neg"): 20, ("test", "pos"): 8, ("test", "neg"): 8}
    with tarfile.open(SHARED_DATA / "aclImdb_v1.tar.gz") as archive:
        for member in archive:
            parts = member.name.split("/")
            key = tuple(parts[1:3]) if len(parts) == 4 else None
            if member.isfile() and wanted.get(key, 0) > 0:
                target = tmp_path / "imdb" / parts[1] / parts[2] / parts[3]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.extractfile(member).read())
                wanted[key] -= 1
            if not any(wanted.values()):
                break
    config = write_config(tmp_path / "imdb.yaml", f"""
experiment: {{name: imdb_real, output_dir: runs}}
data: {{path: imdb, validation_split: 0.25}}
model: {{encoder: {tiny_encoder_dir}, seq_length: 64}}
train: {{epochs: 1, batch_size: 8}}
runtime: {{progress: false}}
""")
    assert main(["train", str(config)]) == 0
    run = next((tmp_path / "runs").glob("imdb_real-*"))
    metrics = json.loads((run / artifacts.METRICS_FILE).read_text())
    assert metrics["test"]["examples"] == 16 and metrics["validation"]["examples"] == 10
