"""`bertclf runs list` and `runs compare`, from run folders' files."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from bertclf import artifacts
from bertclf.cli import main

pytestmark = pytest.mark.slow  # reads the session's trained run


@pytest.fixture
def runs(tmp_path, binary_run):
    """A finished run, an interrupted one (an epoch saved) and a failed one (nothing saved)."""
    folder = tmp_path / "runs"
    shutil.copytree(binary_run, folder / "a-finished")
    interrupted = folder / "b-interrupted"
    (interrupted / artifacts.CHECKPOINT_DIR).mkdir(parents=True)
    config = yaml.safe_load((binary_run / artifacts.CONFIG_FILE).read_text())
    config["train"]["learning_rate"] = 1e-4
    (interrupted / artifacts.CONFIG_FILE).write_text(yaml.safe_dump(config))
    (interrupted / artifacts.CHECKPOINT_DIR / artifacts.TRAINING_STATE_FILE).write_text(json.dumps({
        "epochs_completed": 1, "fit_seconds": 12.5,
        "validation": {"best_metrics": {"loss": 0.61, "accuracy": 0.75}}}))
    failed = folder / "c-failed"
    failed.mkdir()
    shutil.copy(binary_run / artifacts.CONFIG_FILE, failed / artifacts.CONFIG_FILE)
    (folder / "not-a-run").mkdir()
    return folder


def test_runs_list_marks_each_status(runs, binary_run, capsys):
    assert main(["runs", "list", str(runs), "--json"]) == 0
    rows = {row["run"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(rows) == ["a-finished", "b-interrupted", "c-failed"]
    assert [row["status"] for row in rows.values()] == ["finished", "interrupted", "failed"]
    metrics = json.loads((binary_run / artifacts.METRICS_FILE).read_text())
    finished = rows["a-finished"]
    assert finished["best_validation"] == metrics["validation"]["loss"]  # the monitor is val_loss
    assert finished["test_accuracy"] == metrics["test"]["accuracy"] and finished["epochs"] == 2
    assert finished["encoder"] == yaml.safe_load((binary_run / artifacts.CONFIG_FILE).read_text())["model"]["encoder"]
    assert (rows["b-interrupted"]["epochs"], rows["b-interrupted"]["best_validation"]) == (1, 0.61)
    assert rows["b-interrupted"]["fit_seconds"] == 12.5
    assert main(["runs", "list", str(runs)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["run", "encoder", "data"] and table[3].endswith("interrupted")


def test_runs_compare_shows_config_and_metric_differences(runs, capsys):
    assert main(["runs", "compare", str(runs / "a-finished"), str(runs / "b-interrupted"), "--json"]) == 0
    compared = json.loads(capsys.readouterr().out)
    assert compared["config"] == [["train.learning_rate", 3.0e-3, 1e-4]]
    by_metric = {row[0]: row for row in compared["metrics"]}
    assert by_metric["validation.accuracy"][2] is None and by_metric["test.accuracy"][3] is None
    assert main(["runs", "compare", str(runs / "a-finished"), str(runs / "not-a-run")]) == 1
    assert "not-a-run: not a run folder (no config.yaml)" in capsys.readouterr().err


def test_a_pretraining_folder_is_listed_as_pretraining_with_its_own_status(runs, capsys):
    finished = runs / "d-pretrain-finished"
    shutil.copytree(runs / "c-failed", finished)
    (finished / artifacts.PRETRAIN_DATA_FILE).write_text("{}")
    (finished / artifacts.PRETRAIN_METRICS_FILE).write_text("{}")
    stopped = runs / "e-pretrain-interrupted"
    (stopped / artifacts.CHECKPOINT_DIR).mkdir(parents=True)
    shutil.copy(runs / "c-failed" / artifacts.CONFIG_FILE, stopped / artifacts.CONFIG_FILE)
    (stopped / artifacts.CHECKPOINT_DIR / artifacts.PRETRAIN_STATE_FILE).write_text("{}")
    assert main(["runs", "list", str(runs), "--json"]) == 0
    rows = {row["run"]: row for row in json.loads(capsys.readouterr().out)}
    assert (rows["d-pretrain-finished"]["kind"], rows["d-pretrain-finished"]["status"]) == ("pretrain", "finished")
    assert (rows["e-pretrain-interrupted"]["kind"], rows["e-pretrain-interrupted"]["status"]) == (
        "pretrain", "interrupted")
    assert (rows["c-failed"]["kind"], rows["c-failed"]["status"]) == ("train", "failed")
    assert main(["runs", "list", str(runs)]) == 0
    assert capsys.readouterr().out.splitlines()[5].endswith("finished (pretraining)")
