"""Sweeps under failure: nothing waits forever, one bad trial costs only itself, a dead machine's
trial is failed through the journal too, and the results describe what ran."""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from bertclf import artifacts
from bertclf.sweep import sharing
from bertclf.sweep import study as studies
from conftest import BERTCLF, e2e_config, write_config


def _journal_study(tmp_path: Path, name: str = "s"):
    import optuna

    return optuna.create_study(study_name=name, storage=studies.open_storage(f"journal:{tmp_path}/study.log"),
                               load_if_exists=True)


def test_an_enqueued_trial_is_claimed_not_waited_for(tmp_path):
    import optuna

    study = _journal_study(tmp_path)
    study.enqueue_trial({"x": 1.0}, user_attrs={"baseline": True})
    # Counted as running, the baseline made `--trials 1` wait forever for a trial nobody ran.
    assert sharing.counts(study) == (0, 0)
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 2)})
    assert trial.params == {"x": 1.0} and sharing.counts(study) == (0, 1)
    trial.set_user_attr("pid", 4321)
    trial.set_user_attr("host", "machine-b")
    assert sharing.running_elsewhere(study) == [f"trial {trial.number} (pid 4321 on machine-b)"]


@pytest.mark.slow
def test_a_one_trial_sweep_whose_baseline_is_enqueued_finishes(tmp_path, tiny_encoder_dir):
    # The config's own learning rate lies in the space, so trial 0 is its enqueued baseline.
    config = e2e_config(tmp_path, tiny_encoder_dir, name="one")
    config.write_text(config.read_text().replace("epochs: 2", "epochs: 1"))
    write_config(tmp_path / "space.yaml", "train.learning_rate: {log_uniform: [1.0e-3, 5.0e-3]}\n")
    done = subprocess.run([str(BERTCLF), "sweep", "config.yaml", "--space", "space.yaml", "--trials", "1",
                           "--sampler", "random", "--json"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout)["trials"]
    assert [(row["state"], row["baseline"]) for row in rows] == [("complete", True)]
    assert "waiting for" not in done.stderr


def test_a_dead_machines_trial_is_failed_through_the_journal_heartbeat(tmp_path, monkeypatch, capsys):
    import optuna

    monkeypatch.setenv("BERTCLF_SWEEP_GRACE_SECONDS", "5")
    study = _journal_study(tmp_path)
    distributions = {"x": optuna.distributions.FloatDistribution(0, 1)}
    silent, beating = study.ask(distributions), study.ask(distributions)
    for trial in (silent, beating):
        trial.set_user_attr("host", "machine-b")  # another machine: its pid says nothing here
        trial.set_user_attr("pid", 1)
    silent.set_user_attr(sharing.HEARTBEAT_ATTR, time.time() - 60)
    with sharing.Heartbeat(study, beating, interval=0.2):  # bertclf's own heartbeat: the journal has none
        time.sleep(0.5)
        sharing.fail_dead_trials(study)
    states = {t.number: t.state.name for t in study.get_trials()}
    assert states == {silent.number: "FAIL", beating.number: "RUNNING"}
    assert f"Trial {silent.number}: its heartbeat from machine-b has been silent for over 5 s; marked failed" in \
        capsys.readouterr().err


def test_a_heartbeat_that_loses_its_storage_says_so_once(tmp_path, capsys):
    import optuna

    study = _journal_study(tmp_path)
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    beat = sharing.Heartbeat(study, trial, interval=0.05)

    def unreachable(*args):
        raise OSError("No such file or directory: the shared disk went away")

    beat.storage = type("Gone", (), {"set_trial_user_attr": staticmethod(unreachable)})()
    with beat:
        time.sleep(0.3)
    err = capsys.readouterr().err
    assert err.count("warning: sweep heartbeat: cannot reach the storage (OSError: No such file or directory: "
                     "the shared disk went away); the trial goes on") == 1, err


@pytest.mark.slow
def test_a_trial_that_raises_or_scores_nan_fails_alone_and_the_sweep_goes_on(tmp_path, tiny_encoder_dir,
                                                                            monkeypatch, capsys):
    import bertclf.sweep.trial
    import bertclf.training.train
    from bertclf.cli import main

    monkeypatch.chdir(tmp_path)
    config = e2e_config(tmp_path, tiny_encoder_dir, name="rough")
    config.write_text(config.read_text().replace("epochs: 2", "epochs: 1"))
    space = write_config(tmp_path / "space.yaml", "train.learning_rate: {choice: [3.0e-3, 2.0e-3, 1.0e-3]}\n")
    real_train, real_objective = bertclf.training.train.train, bertclf.sweep.trial.objective
    failed_once: set[float] = set()

    def first_time(rate: float) -> bool:  # a grid redoes a failed point: the second try succeeds
        fresh = rate not in failed_once
        failed_once.add(rate)
        return fresh

    def train(config, **kwargs):  # as a searched setting too large for memory would
        if config.train.learning_rate == 2.0e-3 and first_time(2.0e-3):
            raise MemoryError("simulated: out of memory for this setting")
        return real_train(config, **kwargs)

    def objective(metrics, run_dir, monitor):
        scored = real_objective(metrics, run_dir, monitor)
        rate = yaml.safe_load((run_dir / artifacts.CONFIG_FILE).read_text())["train"]["learning_rate"]
        return math.nan if rate == 1.0e-3 and first_time(1.0e-3) else scored

    monkeypatch.setattr(bertclf.training.train, "train", train)
    monkeypatch.setattr(bertclf.sweep.trial, "objective", objective)
    assert main(["sweep", str(config), "--space", str(space), "--sampler", "grid", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["trials"]
    failed = {row["params"]["train.learning_rate"]: row for row in rows if row["state"] == "fail"}
    # The sweep went on past both failures to its 3 finished trials.
    assert [row["state"] for row in rows].count("complete") == 3 and len(failed) == 2, rows
    assert failed[2.0e-3]["error"] == "MemoryError: simulated: out of memory for this setting"
    assert failed[1.0e-3]["error"] == "val_loss is nan on validation"
    record = json.loads((Path(failed[1.0e-3]["run_dir"]) / artifacts.TRIAL_FILE).read_text())
    assert record["state"] == "failed" and record["error"] == "val_loss is nan on validation"


def test_keys_no_trial_reads_are_refused_before_any_trial(tmp_path, tiny_encoder_dir, capsys):
    from bertclf.cli import main

    config = e2e_config(tmp_path, tiny_encoder_dir, name="unread")
    for key, message in (("pretrain.learning_rate: {choice: [1.0e-4, 2.0e-4]}",
                          "pretrain.learning_rate: trials fine-tune and never read pretrain.*"),
                         ("model.tiny.layers: {choice: [1, 2]}",
                          f"model.tiny.layers: model.tiny shapes only the tiny encoder, and model.encoder is "
                          f"{tiny_encoder_dir}")):
        space = write_config(tmp_path / "space.yaml", key + "\n")
        assert main(["sweep", str(config), "--space", str(space)]) == 2
        assert f"error: {space}: {message}" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "unread").exists() or not list((tmp_path / "runs" / "unread").glob("*trial*"))


def test_hyperband_follows_the_epochs_trials_train(tmp_path):
    from bertclf.config import load_config
    from bertclf.sweep.runner import _trial_epochs
    from bertclf.sweep.space import Dimension

    config = load_config(write_config(tmp_path / "c.yaml", "data: {path: d}\nmodel: {encoder: tiny}\n"
                                                           "train: {epochs: 2}\n"))
    assert _trial_epochs(config, []) == 2
    assert _trial_epochs(config, [Dimension("train.epochs", "int", low=1, high=6)]) == 6
    assert _trial_epochs(config, [Dimension("train.epochs", "choice", choices=(3, 8, 4))]) == 8
    budgeted = load_config(write_config(tmp_path / "b.yaml", "data: {path: d}\nmodel: {encoder: tiny}\n"
                                                             "train: {epochs: 3, time_budget: 10m}\n"))
    assert _trial_epochs(budgeted, []) == "auto"  # the plan decides: Optuna takes it from the first trial
    assert studies.make_pruner("hyperband", "auto")._max_resource == "auto"


def test_trial_folders_carry_the_studys_id_and_best_yaml_is_the_trials_own_config(tmp_path):
    import optuna

    from bertclf.sweep.results import best_config_text
    from bertclf.sweep.trial import trial_folder_name

    first, second = (optuna.create_study(study_name="s", storage=studies.open_storage(
        f"sqlite:///{tmp_path}/{name}/study.db")) for name in ("a", "b"))
    first.set_user_attr("bertclf", {"id": "0a1b2c"})
    second.set_user_attr("bertclf", {"id": "3d4e5f"})
    assert trial_folder_name(first, 0) == "s-0a1b2c-trial-0000" != trial_folder_name(second, 0)

    # The winning trial trained with its own process's config (another machine's data path, say).
    run_dir = tmp_path / "s-0a1b2c-trial-0000"
    run_dir.mkdir()
    trained = {"experiment": {"name": "s"}, "data": {"path": "/machine-b/data"},
               "model": {"encoder": "tiny"}, "train": {"learning_rate": 0.003, "plan": {"train_examples": 9,
                                                                                    "epochs": 1}}}
    (run_dir / artifacts.CONFIG_FILE).write_text(yaml.safe_dump(trained))
    first.set_user_attr("bertclf", {"id": "0a1b2c", "base_config": {"data": {"path": "/machine-a/data"},
                                                                   "model": {"encoder": "tiny"}}})
    summary = {"monitor": "val_loss", "best": {"trial": 0, "value": 0.3, "run_dir": str(run_dir),
                                               "params": {"train.learning_rate": 0.003}}}
    best = yaml.safe_load(best_config_text(first, summary))
    assert best["data"]["path"] == "/machine-b/data" and best["train"]["learning_rate"] == 0.003
    assert best["train"]["plan"] is None  # planned again wherever it is trained
