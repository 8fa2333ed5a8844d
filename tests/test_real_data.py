"""The real-data configs (SST-2, TREC, NSMC, IMDB as CSV) end to end on small samples."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from bertclf import artifacts
from bertclf.cli import main
from conftest import PROJECT_ROOT, SHARED_DATA

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data not present")]

QUICK = ["--set", "train.epochs=1", "--set", "model.seq_length=32", "--set", "runtime.progress=false"]


def _train(tmp_path, config, *overrides):
    assert main(["train", str(PROJECT_ROOT / "configs" / config), "--set", f"experiment.output_dir={tmp_path}",
                 *QUICK, *overrides]) == 0
    return tmp_path / (tmp_path / artifacts.LATEST_FILE).read_text().strip()


def _json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_sst2_tsv_with_dev_and_test_files(tmp_path, tiny_encoder_dir):
    run = _train(tmp_path, "sst2.yaml", "--set", f"model.encoder={tiny_encoder_dir}",
                 "--set", "data.max_train_examples=64", "--set", "data.max_eval_examples=32")
    assert _json(run / artifacts.LABELS_FILE) == ["negative", "positive"]
    report = _json(run / artifacts.DATA_REPORT_FILE)["splits"]
    assert report["train"]["rows_read"] == 67_349 and report["train"]["examples"] == 64
    assert report["validation"]["rows_read"] == 872 and report["validation"]["examples"] == 32
    assert report["test"]["rows_read"] == 1_821 and report["test"]["examples"] == 32
    assert report["train"]["tokens"]["seq_length"] == 32
    metrics = _json(run / artifacts.METRICS_FILE)
    assert {"roc_auc", "pr_auc"} <= set(metrics["test"]) and metrics["best_epoch"] == 1


def test_trec_six_classes_confusion_matrix_with_names(tmp_path, tiny_encoder_dir, capsys):
    run = _train(tmp_path, "trec.yaml", "--set", f"model.encoder={tiny_encoder_dir}",
                 "--set", "data.max_train_examples=120", "--set", "data.max_eval_examples=60")
    classes = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
    assert _json(run / artifacts.LABELS_FILE) == classes
    history = _json(run / artifacts.HISTORY_JSON_FILE)
    assert {"val_macro_f1", "val_accuracy", "val_loss"} <= set(history)
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    assert "ABBR  DESC  ENTY  HUM  LOC  NUM" in capsys.readouterr().out
    matrix = _json(run / artifacts.eval_file("test"))["confusion_matrix"]
    assert np.array(matrix).shape == (6, 6) and np.sum(matrix) == 60
    assert (run / artifacts.PLOTS_DIR / artifacts.confusion_plot_file("test")).is_file()


def test_nsmc_korean_counts_and_predictions(tmp_path, capsys):
    run = _train(tmp_path, "nsmc.yaml", "--set", "data.max_train_examples=200", "--set", "data.max_eval_examples=50",
                 "--set", "model.tiny.vocab_size=500", "--set", "model.tiny.hidden=32")
    report = _json(run / artifacts.DATA_REPORT_FILE)["splits"]
    assert report["train"]["skipped"]["empty_text"] == 5 and report["test"]["skipped"]["empty_text"] == 3
    assert report["train"]["rows_read"] == 150_000 and report["test"]["rows_read"] == 50_000
    capsys.readouterr()
    assert main(["predict", "정말 재미있는 영화였어요", "최악이다 시간 낭비", "--model", str(run), "--json"]) == 0
    for line in capsys.readouterr().out.splitlines():
        result = json.loads(line)
        assert result["label"] in ("negative", "positive")
        assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)


def test_nsmc_data_check_reports_empty_documents(capsys):
    assert main(["data", "check", str(PROJECT_ROOT / "configs" / "nsmc.yaml"),
                 "--set", "model.tiny.vocab_size=500", "--set", "data.max_train_examples=200"]) == 0
    out = capsys.readouterr().out
    assert "empty_text 5" in out and "empty_text 3" in out and "tokens p50/p90/p99" in out


def test_imdb_as_csv(tmp_path, tiny_encoder_dir):
    folder = tmp_path / "imdb_csv"
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "imdb_to_csv.py"),
                           str(SHARED_DATA / "aclImdb_v1.tar.gz"), str(folder), "--per-class", "20"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    run = _train(tmp_path, "imdb_csv.yaml", "--set", f"model.encoder={tiny_encoder_dir}",
                 "--set", f"data.train_path={folder / 'train.csv'}", "--set", f"data.test_path={folder / 'test.csv'}")
    report = _json(run / artifacts.DATA_REPORT_FILE)["splits"]
    assert report["train"]["rows_read"] == 40 and report["test"]["rows_read"] == 40
    assert _json(run / artifacts.LABELS_FILE) == ["neg", "pos"]
