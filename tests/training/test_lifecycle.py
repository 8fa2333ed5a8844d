"""A run's life beyond one clean fit: early stopping, an export that crashes, resuming after
it, refusing changed labels, `--overwrite`, and the `train CONFIG --resume RUN` form."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from bertclf import artifacts
from bertclf.cli import main
from conftest import make_dataset_tree, write_config

pytestmark = pytest.mark.slow

MAX_EPOCHS, PATIENCE = 12, 2


@pytest.fixture(scope="module")
def config(tmp_path_factory, tiny_encoder_dir) -> Path:
    work = tmp_path_factory.mktemp("lifecycle")
    make_dataset_tree(work / "data", train=24, test=8)
    # The synthetic classes are learnable: validation accuracy reaches its ceiling and then
    # ties, which is no improvement, so patience runs out well before MAX_EPOCHS.
    return write_config(work / "config.yaml", f"""
experiment: {{name: lifecycle, seed: 5, output_dir: runs}}
data: {{path: data, validation_split: 0.25}}
model: {{encoder: {tiny_encoder_dir}, seq_length: 32, pooling: mean}}
train: {{epochs: {MAX_EPOCHS}, batch_size: 8, learning_rate: 3.0e-3, monitor: val_accuracy,
        early_stopping_patience: {PATIENCE}}}
runtime: {{progress: false}}
""")


def _state(run_dir: Path) -> dict:
    return json.loads((run_dir / artifacts.CHECKPOINT_DIR / artifacts.TRAINING_STATE_FILE).read_text())


@pytest.fixture(scope="module")
def stopped_then_crashed(config) -> Path:
    """A run that stopped early and then crashed while exporting: checkpoints, no model.

    A copy is kept beside it (`<run>-unfinished`) for tests that need it unfinished
    whatever ran before them.
    """
    import bertclf.serving.export

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash during export")

    run_dir = config.parent / "runs" / "early"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bertclf.serving.export, "export_serving_model", crash)
        with pytest.raises(RuntimeError, match="simulated crash"):
            main(["train", str(config), "--run-dir", str(run_dir)])
    assert not (run_dir / artifacts.MODEL_DIR).exists()
    shutil.copytree(run_dir, run_dir.with_name("early-unfinished"))
    return run_dir


@pytest.fixture(scope="module")
def resumed(stopped_then_crashed, config) -> tuple[Path, dict, str]:
    """The early-stopped run resumed with `train CONFIG --resume RUN`: the run, its state before, stderr."""
    import contextlib
    import io

    before = _state(stopped_then_crashed)
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        code = main(["train", str(config), "--resume", str(stopped_then_crashed)])
    assert code == 0, printed.getvalue()[-3000:]
    return stopped_then_crashed, before, printed.getvalue()


def test_early_stopping_stops_after_patience(stopped_then_crashed):
    state = _state(stopped_then_crashed)
    accuracies = state["history"]["val_accuracy"]
    best = state["validation"]["best_epoch"]
    assert best == 1 + accuracies.index(max(accuracies))  # the first epoch at the best score
    assert state["epochs_completed"] == len(accuracies) == best + PATIENCE < MAX_EPOCHS
    assert state["validation"]["epochs_without_improvement"] == PATIENCE


def test_resuming_after_an_early_stop_exports_the_best_epoch_without_training(resumed, capsys):
    stopped_then_crashed, before, err = resumed
    assert f"Resuming after epoch {before['epochs_completed']}" in err and "Training " not in err
    metrics = json.loads((stopped_then_crashed / artifacts.METRICS_FILE).read_text())
    history = json.loads((stopped_then_crashed / artifacts.HISTORY_JSON_FILE).read_text())
    best = before["validation"]["best_epoch"]
    assert metrics["stopped_early"] is True and metrics["best_epoch"] == best
    assert metrics["epochs"] == before["epochs_completed"] and history == before["history"]
    # The exported model is the best epoch's, not the last one's: scored afresh through the
    # SavedModel, its validation loss is the best epoch's, which differs from the last epoch's.
    assert main(["evaluate", str(stopped_then_crashed), "--split", "validation", "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["loss"] == pytest.approx(history["val_loss"][best - 1], abs=1e-4)
    assert abs(history["val_loss"][best - 1] - history["val_loss"][-1]) > 1e-3


def test_resume_refuses_data_whose_classes_changed(stopped_then_crashed, tmp_path, capsys):
    # An unfinished copy whose labels say it was trained on other classes than the data has now.
    copy = tmp_path / "relabelled"
    shutil.copytree(stopped_then_crashed.with_name("early-unfinished"), copy)
    (copy / artifacts.LABELS_FILE).write_text(json.dumps(["neg", "positive"]))
    assert main(["train", "--resume", str(copy)]) == 1
    err = capsys.readouterr().err
    assert f"error: {copy}: the data now has classes ['neg', 'pos'], the run was trained on ['neg', 'positive']" in err
    assert not (copy / artifacts.MODEL_DIR).exists()


def test_a_second_argument_without_resume_is_one_line(config, capsys):
    assert main(["train", str(config), "some-run"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (f"error: train: some-run is one argument too many; to continue that run, add "
                           f"--resume (bertclf train {config} --resume some-run)")


def test_overwrite_replaces_a_finished_run(resumed, config, capsys):
    run_dir = resumed[0]
    # An evaluation only `bertclf evaluate` writes (train writes eval-validation.json itself).
    assert main(["evaluate", str(run_dir), "--split", "validation", "--full"]) == 0
    assert (run_dir / artifacts.eval_file("validation-full")).is_file()
    assert main(["train", str(config), "--run-dir", str(run_dir), "--overwrite", "--set", "train.epochs=1"]) == 0
    # Nothing of the first run is left: its evaluation is gone, the config and metrics are new.
    assert not (run_dir / artifacts.eval_file("validation-full")).exists()
    assert yaml.safe_load((run_dir / artifacts.CONFIG_FILE).read_text())["train"]["epochs"] == 1
    assert json.loads((run_dir / artifacts.METRICS_FILE).read_text())["epochs"] == 1
