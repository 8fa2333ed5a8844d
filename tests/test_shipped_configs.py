"""What users run: every config in configs/ through the `bertclf` command line, small.

Each config trains with its own encoder and precision (only the data size and the
sequence length are capped) through `bertclf train`, then `evaluate`, `predict` and
`report` use the run. They run in the test process, as a notebook user's would (the
installed command itself is tests/cli/test_cli.py's): a process each cost a TensorFlow
import each. They share the test run's cache (converted MiniLM and e5, the unpacked
IMDB archive): whichever test first needs an encoder converts it, and after every run
each cached encoder must still compute in float32, whatever precision the run trained
in (converting inside a reduced-precision run: tests/encoders/test_cache_precision.py).
configs/smoke.yaml is run by the README's Python example (tests/test_api.py), with
these checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from bertclf import artifacts
from conftest import PROJECT_ROOT, SHARED_DATA, needs_minilm

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"the shared data sets are not at {SHARED_DATA}"),
              needs_minilm]

CONFIGS_DIR = PROJECT_ROOT / "configs"
SMALL = ["--set", "data.max_train_examples=40", "--set", "data.max_eval_examples=16",
         "--set", "model.seq_length=32", "--set", "runtime.progress=false"]
# `bertclf pretrain`, small: the labelled sample only, a few steps of 32 tokens.
PRETRAIN_SMALL = ["--set", "pretrain.train_texts=labelled", "--set", "pretrain.steps=4",
                  "--set", "pretrain.checkpoint_steps=2", "--set", "pretrain.seq_length=32",
                  "--set", "pretrain.batch_size=8", "--set", "pretrain.held_out=2", "--set", "pretrain.max_minutes=null"]


DISASTER_LABELS = [
    "related", "request", "aid_related", "medical_help", "medical_products", "search_and_rescue", "security",
    "military", "water", "food", "shelter", "clothing", "money", "missing_people", "refugees", "death",
    "other_aid", "infrastructure_related", "transport", "buildings", "electricity", "tools", "hospitals",
    "shops", "aid_centers", "other_infrastructure", "weather_related", "floods", "storm", "fire",
    "earthquake", "cold", "other_weather", "direct_report"]

# What each config's data must look like after the caps: labels in order, rows read per split
# (whole files: caps apply after reading), rows skipped by reason.
EXPECTED_DATA = {
    "imdb_small.yaml": {"labels": ["neg", "pos"], "rows_read": {"train": 25_000, "test": 25_000}},
    "imdb_pretrained.yaml": {"labels": ["neg", "pos"], "rows_read": {"train": 25_000, "test": 25_000}},
    "smoke.yaml": {"labels": ["neg", "pos"], "rows_read": {"train": 25_000, "test": 25_000}},
    "imdb_csv.yaml": {"labels": ["neg", "pos"], "rows_read": {"train": 60, "test": 60}},
    "sst2.yaml": {"labels": ["negative", "positive"],
                  "rows_read": {"train": 67_349, "validation": 872, "test": 1_821}},
    "sst2_imbalanced.yaml": {"labels": ["negative", "positive"],
                             "rows_read": {"train": 67_349, "validation": 872, "test": 1_821}},
    "trec.yaml": {"labels": ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"],
                  "rows_read": {"train": 5_452, "test": 500}},
    "nsmc.yaml": {"labels": ["negative", "positive"], "rows_read": {"train": 150_000, "test": 50_000},
                  "skipped": {"train": {"empty_text": 5}, "test": {"empty_text": 3}}},
    "nsmc_pretrain.yaml": {"labels": ["negative", "positive"], "rows_read": {"train": 150_000, "test": 50_000},
                           "skipped": {"train": {"empty_text": 5}, "test": {"empty_text": 3}}},
    # Multi-label: the labels learnable from the 40 sampled messages, in the file's column order,
    # among these 34 (PII and child_alone have no positive anywhere, offer only in test).
    "disaster.yaml": {"labels": DISASTER_LABELS, "left_out": {"PII", "offer", "child_alone"},
                      "rows_read": {"train": 21_046, "validation": 2_573, "test": 2_629},
                      "skipped": {"train": {"empty_text": 1}, "validation": {"empty_text": 1}}},
}


def _precision(config: Path) -> str:
    return (yaml.safe_load(config.read_text(encoding="utf-8")).get("runtime") or {}).get("precision", "auto")


# The main job (make demo's config) first. smoke.yaml: the README's example trains it (test_api.py).
BY_README = {"smoke.yaml"}
SHIPPED = sorted((path for path in CONFIGS_DIR.glob("*.yaml") if path.name not in BY_README),
                 key=lambda path: (path.name != "imdb_small.yaml", path.name))


def test_every_shipped_config_is_covered():
    assert {path.name for path in SHIPPED} | BY_README == set(EXPECTED_DATA), "give a new config its EXPECTED_DATA"


@pytest.fixture(scope="module")
def environment() -> dict:
    # The shipped configs read their files from the data root: here, ../shared/data.
    return {**os.environ, "BERTCLF_DATA": str(SHARED_DATA)}


@pytest.fixture(scope="module")
def imdb_csv_files(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("imdb_csv")
    done = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "imdb_to_csv.py"),
                           str(SHARED_DATA / "aclImdb_v1.tar.gz"), str(folder), "--per-class", "30"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return folder


def _bertclf(*args: str) -> None:
    from bertclf.cli import main

    code = main(list(args))
    assert code == 0, f"bertclf {' '.join(args)} exited {code}"


@pytest.mark.parametrize("config", SHIPPED, ids=lambda path: path.stem)
def test_shipped_config_trains_evaluates_and_predicts(config, environment, imdb_csv_files, tmp_path,
                                                     monkeypatch, capsys):
    import tensorflow as tf

    from bertclf.encoders.export import graph_float_dtypes
    from bertclf.runtime.hardware import probe_hardware, resolve_precision

    monkeypatch.setenv("BERTCLF_DATA", environment["BERTCLF_DATA"])
    extra = []
    if config.name == "imdb_csv.yaml":  # its CSV files are made by scripts/imdb_to_csv.py
        extra = ["--set", f"data.train_path={imdb_csv_files / 'train.csv'}",
                 "--set", f"data.test_path={imdb_csv_files / 'test.csv'}"]
    run = tmp_path / "run"
    shipped = yaml.safe_load(config.read_text(encoding="utf-8"))
    encoder = shipped["model"]["encoder"]
    if "pretrain" in shipped:  # its encoder is what `bertclf pretrain` writes: run both, as users do
        encoder = str(tmp_path / "pretrained")
        _bertclf("pretrain", str(config), "--run-dir", str(tmp_path / "pretraining"), *SMALL, *extra,
                 *PRETRAIN_SMALL, "--set", f"pretrain.output={encoder}")
        extra += ["--set", f"model.encoder={encoder}"]
        pretrained = _json(tmp_path / "pretraining" / artifacts.PRETRAIN_METRICS_FILE)
        # Four steps move the held-out loss by about 1e-4, either way from one run to the next (6.75380
        # after, 6.75366 before, once): that pretraining learns is tests/pretraining/test_pretrain.py's
        # 24 steps. Here: the four steps ran, and both held-out scores are numbers.
        assert pretrained["steps"] == 4
        assert all(np.isfinite(pretrained["held_out_loss"][end]) for end in ("start", "end"))
    _bertclf("train", str(config), "--run-dir", str(run), *SMALL, *extra)

    resolved = yaml.safe_load((run / artifacts.CONFIG_FILE).read_text(encoding="utf-8"))
    assert resolved["model"]["encoder"] == encoder
    assert resolved["runtime"]["precision"] == _precision(config)
    expected = EXPECTED_DATA[config.name]
    class_names = _json(run / artifacts.LABELS_FILE)
    data_report = _json(run / artifacts.DATA_REPORT_FILE)
    if shipped["data"].get("multi_label"):
        assert class_names == [name for name in expected["labels"] if name in class_names] and len(class_names) >= 2
        assert expected["left_out"] <= set(data_report["left_out_labels"])
        assert set(class_names) | set(data_report["left_out_labels"]) == set(expected["labels"]) | expected["left_out"]
    else:
        assert class_names == expected["labels"]
    splits = data_report["splits"]
    for split, rows in expected["rows_read"].items():
        assert splits[split]["rows_read"] == rows, split
    for split, skipped in expected.get("skipped", {}).items():
        for reason, count in skipped.items():
            assert splits[split]["skipped"].get(reason) == count, (split, reason)
    assert splits["train"]["examples"] == 40 and splits["test"]["examples"] == 16
    assert splits["train"]["tokens"]["seq_length"] == 32

    metrics = _json(run / artifacts.METRICS_FILE)
    assert metrics["encoder"] == encoder
    # runtime.precision as this machine resolves it (auto: bertclf.runtime.hardware's decision).
    assert metrics["runtime"]["precision"] == resolve_precision(_precision(config), probe_hardware(tf)).precision
    # (check_export's own failures are tested in tests/serving/test_export_check.py)
    assert metrics["export_check"]["texts"] > 0
    if len(class_names) == 2 and not shipped["data"].get("multi_label"):
        assert {"roc_auc", "pr_auc"} <= set(metrics["test"])
    assert set(_json(run / artifacts.HISTORY_JSON_FILE)) >= {"loss", "val_loss", "val_accuracy", "val_macro_f1"}
    if shipped["train"].get("time_budget"):  # planned on this machine; the capped data fits any budget
        assert metrics["plan"]["measured"] and metrics["plan"]["step_seconds"] > 0
        assert resolved["train"]["plan"] == {"train_examples": 40, "epochs": shipped["train"]["epochs"],
                                             "budget_seconds": metrics["plan"]["budget_seconds"],
                                             "max_epochs": shipped["train"]["epochs"]}
        assert metrics["optimizer_steps"] == metrics["plan"]["steps"]
    for encoder in Path(environment["BERTCLF_CACHE"], "encoders").glob("*/encoder"):
        assert graph_float_dtypes(encoder) == {"float32"}, f"{encoder} after {config.name}"

    from bertclf.cli import main

    capsys.readouterr()
    if shipped["data"].get("multi_label"):
        _check_multilabel_run(run, class_names, metrics, capsys)
        return
    assert main(["evaluate", str(run)]) == 0
    assert "  ".join(class_names) in capsys.readouterr().out  # the confusion matrix's header row, by name
    scores = _json(run / artifacts.eval_file("test"))
    assert scores["examples"] == metrics["test"]["examples"] == 16
    assert scores["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-6)
    matrix = np.array(scores["confusion_matrix"])
    assert matrix.shape == (len(class_names),) * 2 and matrix.sum() == 16
    assert (run / artifacts.PLOTS_DIR / artifacts.confusion_plot_file("test")).is_file()

    texts = ["A wonderful film, I loved it.", "정말 재미있는 영화였어요"]
    assert main(["predict", "--model", str(run), "--json", "--top-k", "3", *texts]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["text"] for row in rows] == texts
    threshold = metrics.get("threshold", {}).get("value")
    for row in rows:
        # The model's label: the most probable class, or for two classes its threshold's decision.
        expected = (class_names[1] if np.float32(row["probabilities"][class_names[1]]) >= np.float32(threshold)
                    else class_names[0]) if threshold is not None else row["top"][0]["label"]
        assert row["label"] == expected
        assert len(row["top"]) == min(3, len(class_names)) and len({t["label"] for t in row["top"]}) == len(row["top"])
        assert [t["probability"] for t in row["top"]] == sorted((t["probability"] for t in row["top"]), reverse=True)
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)

    # make demo's last step: the report of the evaluation just written.
    assert main(["report", str(run)]) == 0
    page = (run / artifacts.REPORT_FILE).read_text(encoding="utf-8")
    assert "<h2>Results: test</h2>" in page and page.count("data:image/png;base64,") >= 4


def _check_multilabel_run(run: Path, class_names: list, metrics: dict, capsys) -> None:
    """evaluate, predict and report on a multi-label run: label sets, not one class per text."""
    from bertclf.cli import main

    assert main(["evaluate", str(run)]) == 0
    assert "micro F1" in capsys.readouterr().out
    scores = _json(run / artifacts.eval_file("test"))
    assert scores["task"] == "multi_label" and scores["examples"] == metrics["test"]["examples"] == 16
    assert scores["micro_f1"] == pytest.approx(metrics["test"]["micro_f1"], abs=1e-6)
    assert set(scores["per_label"]) == set(class_names)
    thresholds = metrics["threshold"]["values"]
    assert len(thresholds) == len(class_names)  # train.threshold: auto, one per label

    texts = ["We need water and food in Leogane", "The earthquake destroyed the hospital"]
    assert main(["predict", str(run), "--json", *texts]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["text"] for row in rows] == texts
    for row in rows:
        assert list(row["probabilities"]) == class_names
        # The labels at or above their thresholds, the most probable first.
        assert set(row["labels"]) == {name for name, threshold in zip(class_names, thresholds)
                                      if np.float32(row["probabilities"][name]) >= np.float32(threshold)}
        shown = [row["probabilities"][name] for name in row["labels"]]
        assert shown == sorted(shown, reverse=True)

    assert main(["report", str(run)]) == 0
    page = (run / artifacts.REPORT_FILE).read_text(encoding="utf-8")
    assert "<h2>Results: test</h2>" in page and page.count("data:image/png;base64,") >= 3


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_data_check_on_nsmc_reports_empty_documents_and_lengths(capsys, monkeypatch):
    from bertclf.cli import main

    monkeypatch.setenv("BERTCLF_DATA", str(SHARED_DATA))
    assert main(["data", "check", str(CONFIGS_DIR / "nsmc.yaml"),
                 "--set", "model.tiny.vocab_size=500", "--set", "data.max_train_examples=200",
                 "--set", "data.max_eval_examples=200"]) == 0
    out = capsys.readouterr().out
    assert "empty_text 5" in out and "empty_text 3" in out and "tokens p50/p90/p99" in out

