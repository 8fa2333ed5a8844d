"""`bertclf sweep` end to end on the tiny encoder: real Optuna, real trials, real processes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from bertclf import artifacts
from conftest import BERTCLF, e2e_config, write_config

pytestmark = pytest.mark.slow


def _sweep_json(capsys, *args: str) -> dict:
    from bertclf.cli import main

    capsys.readouterr()
    assert main(["sweep", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _config(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_a_grid_sweep_trains_each_trial_as_a_run_prunes_and_writes_the_best_config(
        tmp_path, tiny_encoder_dir, capsys, monkeypatch):
    from bertclf.config import load_config
    from bertclf.reporting.runs import list_runs

    monkeypatch.chdir(tmp_path)
    config = e2e_config(tmp_path, tiny_encoder_dir, name="grid")
    # Two rates that learn and two that barely move the weights: whatever order the grid takes,
    # the median pruner (from the third trial) stops a weak trial after its first epoch.
    space = write_config(tmp_path / "space.yaml",
                         "train.learning_rate: {choice: [3.0e-3, 2.0e-3, 1.0e-7, 2.0e-7]}\n")
    summary = _sweep_json(capsys, str(config), "--space", str(space), "--sampler", "grid")

    sweep_dir = tmp_path / "runs" / "grid"
    assert summary["study"] == "grid" and summary["monitor"] == "val_loss" and summary["direction"] == "minimize"
    rows = summary["trials"]
    assert [row["trial"] for row in rows] == [0, 1, 2, 3]
    assert sorted(row["params"]["train.learning_rate"] for row in rows) == [1e-7, 2e-7, 2e-3, 3e-3]
    states = [row["state"] for row in rows]
    assert set(states) <= {"complete", "pruned"} and "pruned" in states, states
    statuses = {entry["run"]: entry["status"] for entry in list_runs(sweep_dir)}
    for row in rows:
        run_dir = Path(row["run_dir"])
        # Named by the study's id too: a study name used again never lands in an earlier study's folders.
        assert run_dir.parent == sweep_dir and re.fullmatch(rf"grid-[0-9a-f]{{6}}-trial-{row['trial']:04d}",
                                                            run_dir.name), run_dir
        assert _config(run_dir / artifacts.CONFIG_FILE)["train"]["learning_rate"] == row["params"]["train.learning_rate"]
        record = json.loads((run_dir / artifacts.TRIAL_FILE).read_text())
        assert record["state"] == row["state"] and record["study"] == "grid" and record["params"] == row["params"]
        if row["state"] == "complete":
            assert (run_dir / artifacts.MODEL_DIR / "saved_model.pb").is_file()
            metrics, history = (json.loads((run_dir / name).read_text())
                                for name in (artifacts.METRICS_FILE, artifacts.HISTORY_JSON_FILE))
            # The objective: validation loss at the run's best epoch, as each epoch reported it.
            assert row["value"] == pytest.approx(history["val_loss"][metrics["best_epoch"] - 1], abs=1e-7)
            assert row["epochs_reported"] == 2 and statuses[run_dir.name] == "finished"
        else:
            assert row["epochs_reported"] == 1 and record["epoch"] == 1
            assert not (run_dir / artifacts.MODEL_DIR).exists() and not (run_dir / artifacts.CHECKPOINT_DIR).exists()
            assert statuses[run_dir.name] == "pruned"
    complete = [row for row in rows if row["state"] == "complete"]
    assert summary["best"]["trial"] == min(complete, key=lambda row: row["value"])["trial"]
    assert summary["best"]["params"]["train.learning_rate"] >= 2e-3  # the learning rates win

    # best.yaml is the best trial's config: loaded, it is the config that trial trained with.
    best_run = Path(summary["best"]["run_dir"])
    assert load_config(sweep_dir / artifacts.SWEEP_BEST_FILE).model_dump() == \
        load_config(best_run / artifacts.CONFIG_FILE).model_dump()
    assert json.loads((sweep_dir / artifacts.SWEEP_SUMMARY_FILE).read_text())["trials"] == rows
    _check_page(sweep_dir / artifacts.SWEEP_REPORT_FILE, tmp_path)

    # --report reads the same study back from its folder alone.
    again = _sweep_json(capsys, "--report", str(sweep_dir))
    assert again["trials"] == rows and again["best"] == summary["best"]
    # A finished study has nothing left to run: a second command trains nothing.
    rerun = _sweep_json(capsys, str(config), "--space", str(space), "--sampler", "grid")
    assert rerun["trials"] == rows


def _check_page(path: Path, work: Path) -> None:
    """The sweep page: Optuna's figures inlined as PNGs that decode, rendered by Chromium cleanly."""
    import base64
    import io
    import re

    import matplotlib.image

    from browser import render

    text = path.read_text(encoding="utf-8")
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', text)
    assert [name for name, _ in images] == ["optimisation history", "parameter importances", "slices"]
    for _, data in images:
        assert matplotlib.image.imread(io.BytesIO(base64.b64decode(data))).shape[1] >= 600
    page = render(path, work)
    assert page.console == [] and page.pixels.std() > 0.05
    for heading in ("Summary", "Trials", "Best config", "Figures"):
        assert f"<h2>{heading}</h2>" in page.dom, heading
    assert "<h1>Sweep grid</h1>" in page.dom


def _sweep_process(work: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([str(BERTCLF), "sweep", "config.yaml", "--space", "space.yaml", *args],
                            cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_two_processes_continue_a_killed_sweep_and_finish_exactly_the_requested_trials(tmp_path, tiny_encoder_dir):
    import optuna

    config = e2e_config(tmp_path, tiny_encoder_dir, name="shared")
    config.write_text(config.read_text().replace("epochs: 2", "epochs: 1"))
    write_config(tmp_path / "space.yaml", "train.learning_rate: {log_uniform: [1.0e-3, 5.0e-3]}\n")
    args = ("--trials", "3", "--sampler", "random", "--pruner", "none")
    sweep_dir = tmp_path / "runs" / "shared"

    # A first process is killed (SIGKILL: no chance to clean up) while its first trial trains.
    first = _sweep_process(tmp_path, *args)
    deadline = time.monotonic() + 180
    while not list(sweep_dir.glob(f"shared-*-trial-0000/{artifacts.CONFIG_FILE}")):
        assert first.poll() is None, first.stdout.read()
        assert time.monotonic() < deadline, "the first trial never started"
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)

    # Two processes restart the command together: they share the study's SQLite storage.
    pair = [_sweep_process(tmp_path, *args) for _ in range(2)]
    outputs = [process.communicate(timeout=600)[0] for process in pair]
    for process, output in zip(pair, outputs):
        assert process.returncode == 0, output

    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{sweep_dir / artifacts.SWEEP_DB_FILE}")
    trials = study.get_trials()
    states = {t.number: t.state.name for t in trials}
    assert states[0] == "FAIL", states  # the killed process's trial, failed by whoever claimed next
    assert "Trial 0: its process" in "".join(outputs)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3 and not [t for t in trials if t.state.name in ("RUNNING", "WAITING")], states
    by_process = [{t.number for t in complete if t.user_attrs["pid"] == process.pid} for process in pair]
    assert by_process[0].isdisjoint(by_process[1]) and by_process[0] | by_process[1] == {t.number for t in complete}
    # The config's own settings run first (the baseline); cut off with the killed process, they run again.
    assert trials[0].user_attrs.get("baseline") and trials[0].params == {"train.learning_rate": 3e-3}
    assert [t.params for t in complete if t.user_attrs.get("baseline")] == [{"train.learning_rate": 3e-3}]
    folders = {t.user_attrs["run_dir"] for t in complete}
    assert len(folders) == 3
    for folder in folders:
        assert (Path(folder) / artifacts.MODEL_DIR / "saved_model.pb").is_file()
    best = yaml.safe_load((sweep_dir / artifacts.SWEEP_BEST_FILE).read_text())
    assert best["train"]["learning_rate"] == study.best_trial.params["train.learning_rate"]


def test_sigterm_stops_a_sweep_as_ctrl_c_does_and_the_trial_runs_again(tmp_path, tiny_encoder_dir):
    """`docker stop` or a scheduler's SIGTERM: the trial in progress is marked failed (to be run
    again), the sweep says how to continue, and the exit code is 143."""
    import optuna

    config = e2e_config(tmp_path, tiny_encoder_dir, name="stopped")
    config.write_text(config.read_text().replace("epochs: 2", "epochs: 60"))  # a trial long enough to stop
    write_config(tmp_path / "space.yaml", "train.learning_rate: {log_uniform: [1.0e-3, 5.0e-3]}\n")
    sweep_dir = tmp_path / "runs" / "stopped"
    process = _sweep_process(tmp_path, "--trials", "2", "--sampler", "random", "--pruner", "none")
    deadline = time.monotonic() + 180
    pattern = f"stopped-*-trial-0000/{artifacts.CHECKPOINT_DIR}/{artifacts.TRAINING_STATE_FILE}"
    while not list(sweep_dir.glob(pattern)):  # the first trial has saved an epoch: it is training
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "the first trial never saved an epoch"
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 143, output[-3000:]
    assert "error: sweep stopped stopped by SIGTERM during trial 0 (marked failed, to be run again); the same " \
           "command continues the study" in output and "Traceback" not in output
    (first,) = sweep_dir.glob("stopped-*-trial-0000")
    record = json.loads((first / artifacts.TRIAL_FILE).read_text())
    assert record["state"] == "failed" and record["error"] == "stopped by SIGTERM"
    study = optuna.load_study(study_name="stopped", storage=f"sqlite:///{sweep_dir / artifacts.SWEEP_DB_FILE}")
    states = [trial.state.name for trial in study.get_trials()]
    assert states[0] == "FAIL" and "WAITING" in states, states  # the baseline is queued to run again
