"""Interrupted runs: SIGKILL or Ctrl-C mid-epoch, then `--resume`; divergence; run-folder safety."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Optional

import pytest

from bertclf import artifacts
from bertclf.cli import main
from bertclf.errors import RunError
from conftest import RESUMABLE_EPOCHS as EPOCHS, finished_run, start_train

pytestmark = pytest.mark.slow


def _state(run_dir: Path) -> dict:
    path = run_dir / artifacts.CHECKPOINT_DIR / artifacts.TRAINING_STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _interrupt_in_epoch_two(config: Path, run_dir: Optional[Path],
                            how: signal.Signals) -> tuple[subprocess.Popen, str]:
    """Signals the run as epoch 2 begins; returns the process and everything it printed.

    With `run_dir` None the run goes where `bertclf train` puts it (`runs/<name>-<time>/`).

    Keras announces "Epoch 2/N" only after every callback of epoch 1 has run, the
    checkpoint writer included, so waiting for that line (no polling, no timing
    window) guarantees epoch 1 is saved and epoch 2 (100 steps) has just started.
    """
    process = start_train(str(config), *(["--run-dir", str(run_dir)] if run_dir is not None else []))
    printed = []
    for line in process.stdout:
        printed.append(line)
        if line.startswith(f"Epoch 2/{EPOCHS}"):
            break
    else:
        pytest.fail("the run ended before epoch 2:\n" + "".join(printed)[-2000:])
    process.send_signal(how)
    rest, _ = process.communicate(timeout=120)
    return process, "".join(printed) + rest


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["sigkill", "sigint", "sigterm"])
def test_interrupted_run_resumes_to_the_same_steps_and_history(resume_config, uninterrupted, how, capsys):
    # SIGKILL and SIGTERM: a named run folder, resumed by naming it. SIGINT: the default folder,
    # resumed by naming the config (its experiment's newest unfinished run), as the hint also allows.
    # SIGTERM (docker stop, Kubernetes, batch schedulers) is handled as Ctrl-C, with exit code 143.
    runs = resume_config.parent / "runs"
    if how != signal.SIGINT:
        run_dir = runs / f"interrupted-{how.name}"
        process, printed = _interrupt_in_epoch_two(resume_config, run_dir, how)
        resume = ["--resume", str(run_dir)]
    else:
        process, printed = _interrupt_in_epoch_two(resume_config, None, how)
        (run_dir,) = [path for path in runs.glob("resumable-*") if not (path / artifacts.MODEL_DIR).exists()]
        resume = [str(resume_config), "--resume"]
    stopped_after = _state(run_dir)["epochs_completed"]
    assert stopped_after == 1  # signalled as epoch 2 began: epoch 1 saved, epoch 2 lost
    assert not (run_dir / artifacts.MODEL_DIR).exists()
    if how in (signal.SIGINT, signal.SIGTERM):
        assert process.returncode == 128 + how, printed[-2000:]
        assert f"Resume with: bertclf train --resume {run_dir}" in printed and "Traceback" not in printed
        assert ("stopped by SIGTERM; epoch 1 is saved" if how == signal.SIGTERM else "interrupted; epoch 1") in printed
    else:
        assert process.returncode == -signal.SIGKILL
    if how == signal.SIGTERM:
        return  # stopped as Ctrl-C is: resuming it is the SIGINT case's (same state, same code)

    # The resume in the test's process: what is tested of processes is the stop above.
    capsys.readouterr()
    assert main(["train", *resume]) == 0
    assert f"Resuming after epoch {stopped_after}" in capsys.readouterr().err
    metrics, history = finished_run(run_dir)
    expected_metrics, expected_history = uninterrupted
    assert set(history) == set(expected_history)
    assert all(len(values) == EPOCHS for values in history.values())
    assert metrics["optimizer_steps"] == expected_metrics["optimizer_steps"] == EPOCHS * 100
    # Every epoch's loss and validation scores, before the interruption and after, are the
    # uninterrupted run's.
    for key, values in expected_history.items():
        assert history[key] == pytest.approx(values, rel=1e-4, abs=1e-6), key
    # The best epoch is the first with the highest val_accuracy (a later tie is no improvement),
    # including epochs scored before the interruption.
    assert metrics["best_epoch"] == 1 + history["val_accuracy"].index(max(history["val_accuracy"]))
    assert metrics["validation"]["accuracy"] == max(history["val_accuracy"])
    assert not (run_dir / artifacts.CHECKPOINT_DIR).exists()
    # The step curve too: epoch 1's points from the checkpoint, the rest trained again, as uninterrupted.
    curve, expected_curve = (json.loads((folder / artifacts.STEP_HISTORY_FILE).read_text())
                             for folder in (run_dir, runs / "uninterrupted"))
    assert [p["step"] for p in curve["train"]] == [p["step"] for p in expected_curve["train"]] == \
        list(range(2, EPOCHS * 100 + 1, 2))  # 300 steps: a point every 2
    assert [p["loss"] for p in curve["train"]] == pytest.approx([p["loss"] for p in expected_curve["train"]],
                                                                rel=1e-4, abs=1e-6)
    assert [p["step"] for p in curve["validation"]] == [100, 200, 300]
    assert main(["predict", "a wonderful film", "--model", str(run_dir)]) == 0


def test_resume_newest_unfinished_run_of_a_config(resume_config, uninterrupted, capsys):
    runs = resume_config.parent / "runs"
    assert main(["train", str(resume_config), "--resume"]) == 1
    assert "no unfinished run of 'resumable'" in capsys.readouterr().err
    assert main(["train", "--resume", str(runs / "uninterrupted")]) == 1
    assert "already finished" in capsys.readouterr().err
    assert main(["train", "--resume", str(runs / "uninterrupted"), "--set", "train.epochs=9"]) == 2
    assert "only runtime.* may change" in capsys.readouterr().err


def test_run_dir_is_never_overwritten_without_overwrite(resume_config, uninterrupted, capsys):
    run_dir = resume_config.parent / "runs" / "uninterrupted"
    before = (run_dir / artifacts.METRICS_FILE).read_text()
    assert main(["train", str(resume_config), "--run-dir", str(run_dir)]) == 1
    assert "holds a run already; continue it with --resume, replace it with --overwrite" in capsys.readouterr().err
    assert (run_dir / artifacts.METRICS_FILE).read_text() == before
    stranger = resume_config.parent / "not-a-run"
    stranger.mkdir()
    (stranger / "precious.txt").write_text("keep me")
    assert main(["train", str(resume_config), "--run-dir", str(stranger), "--overwrite"]) == 1
    assert (stranger / "precious.txt").read_text() == "keep me"


def test_overwrite_never_deletes_a_folder_bertclf_did_not_create(resume_config, capsys):
    # A project folder that happens to hold a config.yaml, as `--run-dir . --overwrite` would meet.
    project = resume_config.parent / "project"
    (project / "src").mkdir(parents=True)
    (project / artifacts.CONFIG_FILE).write_text("experiment: {name: mine}\n")
    (project / "notes.md").write_text("my notes")
    (project / "src" / "code.py").write_text("print('mine')")
    before = sorted(str(path.relative_to(project)) for path in project.rglob("*"))
    assert main(["train", str(resume_config), "--run-dir", str(project), "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert f"error: {project}: holds files and is not a run folder bertclf created" in err
    assert "nothing was deleted" in err and len(err.strip().splitlines()) == 1
    assert sorted(str(path.relative_to(project)) for path in project.rglob("*")) == before


def test_overwrite_of_a_run_folder_keeps_files_bertclf_did_not_write(resume_config, tmp_path, capsys):
    from bertclf.errors import RunError

    # A run folder bertclf made, into which the user later put notes of their own.
    run_dir = artifacts.claim_run_dir(tmp_path / "run")
    (run_dir / artifacts.CONFIG_FILE).write_text("{}")
    (run_dir / artifacts.PLOTS_DIR).mkdir()
    (run_dir / artifacts.eval_file("test")).write_text("{}")
    (run_dir / ".metrics.x1.tmp.json").write_text("{")  # a crashed atomic write of metrics.json
    (run_dir / "my-notes.txt").write_text("keep me")
    (run_dir / ".draft.tmp").write_text("a hidden file of the user's, not a temporary of bertclf's")
    with pytest.raises(RunError, match=r"deletes only what bertclf wrote, and this run folder also holds "
                                       r"\.draft\.tmp, my-notes.txt; nothing was deleted"):
        artifacts.claim_run_dir(run_dir, overwrite=True)
    assert (run_dir / "my-notes.txt").read_text() == "keep me" and (run_dir / artifacts.CONFIG_FILE).is_file()
    assert (run_dir / ".draft.tmp").is_file()
    # Without them, the run is replaced (a crashed write's temporary too), and what goes is said.
    (run_dir / "my-notes.txt").unlink()
    (run_dir / ".draft.tmp").unlink()
    capsys.readouterr()
    artifacts.claim_run_dir(run_dir, overwrite=True)
    said = capsys.readouterr().err
    assert f"Replacing the earlier run in {run_dir} (deleting {artifacts.RUN_MARKER_FILE}, .metrics.x1.tmp.json, " \
           f"{artifacts.CONFIG_FILE}, {artifacts.eval_file('test')}, {artifacts.PLOTS_DIR})" in said
    assert sorted(path.name for path in run_dir.iterdir()) == [artifacts.RUN_MARKER_FILE]


def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_last_checkpoint(resume_config, monkeypatch, capsys):
    import numpy as np
    import tensorflow as tf

    from bertclf.task import ClassificationTask

    real = ClassificationTask.compile_arguments
    steps_per_epoch = 100

    def exploding(task):
        chosen = real(task)
        base, calls = chosen["loss"], tf.Variable(0, dtype=tf.int64)

        def loss(y_true, y_pred):
            calls.assign_add(1)
            # Added, not multiplied: a NaN loss value whose gradient stays finite, so the
            # weights of the steps before are unharmed (as when one batch overflows).
            return base(y_true, y_pred) + tf.where(calls > steps_per_epoch + 3, np.nan, 0.0)

        return {**chosen, "loss": loss}

    monkeypatch.setattr(ClassificationTask, "compile_arguments", exploding)
    run_dir = resume_config.parent / "runs" / "diverged"
    assert main(["train", str(resume_config), "--run-dir", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert "the loss became NaN/inf in epoch 2, step 4; lower train.learning_rate (now 0.001)" in err, err
    assert "epoch 1 is saved" in err and "Traceback" not in err
    assert _state(run_dir)["epochs_completed"] == 1
    assert not (run_dir / artifacts.MODEL_DIR).exists()


def test_resume_finds_the_training_run_not_a_pretraining_or_another_experiments_folder(tmp_path):
    from bertclf.training.resume import find_resumable

    for name in ("nsmc-20261204-100000", "nsmc-pretrain-20261204-110000", "nsmc-scratch-20261204-120000",
                 "nsmc-seeds-20261204-130000"):
        (tmp_path / name).mkdir()
        (tmp_path / name / artifacts.CONFIG_FILE).write_text("{}")
    # Every other folder is newer, has a config.yaml and no model/: only the name tells them apart.
    assert find_resumable(tmp_path, "nsmc") == tmp_path / "nsmc-20261204-100000"
    assert find_resumable(tmp_path, "nsmc-scratch") == tmp_path / "nsmc-scratch-20261204-120000"
    (tmp_path / "nsmc-20261204-100000" / artifacts.MODEL_DIR).mkdir()  # finished: model/ with its graph
    (tmp_path / "nsmc-20261204-100000" / artifacts.MODEL_DIR / "saved_model.pb").write_bytes(b"")
    with pytest.raises(RunError, match="no unfinished run of 'nsmc' to resume"):
        find_resumable(tmp_path, "nsmc")
