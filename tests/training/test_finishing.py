"""Finishing a run: `model/` goes last, one definition of finished, and a stop anywhere before it
leaves a run that every command calls unfinished and `--resume` completes; SIGTERM outside a fit."""

from __future__ import annotations

import json
import os
import signal

import pytest

from bertclf import artifacts
from bertclf.cli import main
from conftest import e2e_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def crashed_while_plotting(tmp_path_factory, tiny_encoder_dir):
    """A run that trained, exported and checked its model, then crashed writing its history plot."""
    import bertclf.reporting.plots

    work = tmp_path_factory.mktemp("finishing")
    config = e2e_config(work, tiny_encoder_dir, name="finishing")
    run_dir = work / "runs" / "crashed"

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash while writing plots")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bertclf.reporting.plots, "write_history", crash)
        with pytest.raises(RuntimeError, match="simulated crash"):
            main(["train", str(config), "--run-dir", str(run_dir)])
    return run_dir


def test_a_crash_before_model_is_published_leaves_a_run_every_command_calls_unfinished(crashed_while_plotting,
                                                                                       capsys):
    from bertclf.reporting.runs import INTERRUPTED, run_status

    run_dir = crashed_while_plotting
    assert not (run_dir / artifacts.MODEL_DIR).exists() and not artifacts.is_finished(run_dir)
    assert [path.name.startswith(".model.") for path in run_dir.glob(".*.tmp*")] == [True]  # the staged model
    assert run_status(run_dir) == INTERRUPTED  # runs list: resumable, its epochs are saved
    capsys.readouterr()
    assert main(["report", str(run_dir)]) == 1
    assert f"Resume it with: bertclf train --resume {run_dir}" in capsys.readouterr().err
    assert main(["evaluate", str(run_dir)]) == 1
    assert f"the run did not finish. Resume it with: bertclf train --resume {run_dir}" in capsys.readouterr().err
    assert not (run_dir.parent / artifacts.LATEST_FILE).exists()


def test_resume_completes_the_run_and_removes_the_staged_model(crashed_while_plotting, capsys):
    from bertclf.reporting.runs import FINISHED, run_status

    run_dir = crashed_while_plotting
    assert main(["train", "--resume", str(run_dir)]) == 0
    err = capsys.readouterr().err
    assert "Removed what the interrupted finish left: .model." in err
    assert artifacts.is_finished(run_dir) and run_status(run_dir) == FINISHED
    assert not list(run_dir.glob(".*.tmp*")) and not (run_dir / artifacts.CHECKPOINT_DIR).exists()
    assert (run_dir / artifacts.PLOTS_DIR / artifacts.HISTORY_PLOT_FILE).is_file()
    assert json.loads((run_dir / artifacts.METRICS_FILE).read_text())["epochs"] == 2
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir.parent / artifacts.LATEST_FILE).read_text().strip() == run_dir.name


def test_sigterm_while_reading_data_stops_with_143_and_one_line(tmp_path, tiny_encoder_dir, monkeypatch, capsys):
    import bertclf.training.train

    config = e2e_config(tmp_path, tiny_encoder_dir, name="terminated")
    real = bertclf.training.train.load_data

    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # as `docker stop` would, while the data is read
        return real(*args, **kwargs)

    monkeypatch.setattr(bertclf.training.train, "load_data", terminated)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["train", str(config)]) == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "error: stopped by SIGTERM; nothing of this command was finished"
    assert "Traceback" not in err and not (tmp_path / "runs").exists()
    # The command's handler is gone with the command: the process's own is back.
    assert signal.getsignal(signal.SIGTERM) is before


def test_resume_cleanup_removes_only_bertclfs_staged_model_folders(tmp_path):
    """`remove_stale_staging` deletes the `.model.<random>.tmp/` folders bertclf stages, and nothing
    else: not a user's hidden file or folder, not a file of that name, not what a symlink points to."""
    run_dir = tmp_path / "run"
    (run_dir / ".model.ab12cd.tmp" / "variables").mkdir(parents=True)  # what an interrupted finish leaves
    (run_dir / ".draft.tmp").write_text("the user's")
    (run_dir / ".notes.tmp").mkdir()
    (run_dir / ".model.file.tmp").write_text("a file, not a staged folder")
    elsewhere = tmp_path / "shared-model"
    (elsewhere / "variables").mkdir(parents=True)
    (run_dir / ".model.link.tmp").symlink_to(elsewhere, target_is_directory=True)
    assert artifacts.remove_stale_staging(run_dir) == [".model.ab12cd.tmp"]
    assert sorted(path.name for path in run_dir.iterdir()) == [".draft.tmp", ".model.file.tmp", ".model.link.tmp",
                                                              ".notes.tmp"]
    assert (elsewhere / "variables").is_dir()


def test_every_split_is_tokenized_once_and_before_the_fit_seeds_again(tmp_path, tiny_encoder_dir, monkeypatch):
    """Seeding TensorFlow clears its instantiated functions: a split packed after the fit's seed
    instantiated the tokenizer again. Train, validation and test are packed once, before it, and
    the export check takes its texts from the packed validation split."""
    import tf_keras

    import bertclf.training.pipeline as pipeline

    events = []
    packing, seeding = pipeline.encode_split, tf_keras.utils.set_random_seed
    monkeypatch.setattr(pipeline, "encode_split",
                        lambda split, *args, **kwargs: events.append(("pack", len(split))) or
                        packing(split, *args, **kwargs))
    monkeypatch.setattr(tf_keras.utils, "set_random_seed", lambda seed: events.append(("seed",)) or seeding(seed))
    config = e2e_config(tmp_path, tiny_encoder_dir, name="packed-once")
    assert main(["train", str(config), "--run-dir", str(tmp_path / "run"), "--set", "train.epochs=1"]) == 0
    packs = [event[1] for event in events if event[0] == "pack"]
    assert sorted(packs) == [12, 16, 36]  # validation, test, train: each once
    last_seed = max(i for i, event in enumerate(events) if event[0] == "seed")
    assert all(i < last_seed for i, event in enumerate(events) if event[0] == "pack"), events
    assert json.loads((tmp_path / "run" / artifacts.METRICS_FILE).read_text())["export_check"]["texts"] == 12
