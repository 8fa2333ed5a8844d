"""TensorBoard event files of a finished run: the scalars named in the README, with history.json's values."""

from __future__ import annotations

import json

import pytest

from bertclf import artifacts

pytestmark = pytest.mark.slow


def _events(folder) -> dict[str, list[tuple[int, object]]]:
    import tensorflow as tf

    found: dict[str, list] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                found.setdefault(value.tag, []).append((event.step, tf.make_ndarray(value.tensor)))
    return found


def test_a_run_logs_loss_learning_rate_epoch_metrics_and_config(binary_run):
    board = binary_run / artifacts.TENSORBOARD_DIR
    train, validation = _events(board / "train"), _events(board / "validation")
    history = json.loads((binary_run / artifacts.HISTORY_JSON_FILE).read_text())
    metrics = json.loads((binary_run / artifacts.METRICS_FILE).read_text())
    # 36 training texts, batch 8: 5 steps an epoch, 10 in all; logged every 10 steps by default.
    assert metrics["optimizer_steps"] == 10
    assert [step for step, _ in train["loss"]] == [10] and [step for step, _ in train["learning_rate"]] == [10]
    assert float(train["learning_rate"][0][1]) == pytest.approx(0.0, abs=1e-9)  # linear decay to 0 at the end
    for key, values in history.items():
        logged = validation if key.startswith("val_") else train
        tag = "epoch_" + key.removeprefix("val_")
        assert [step for step, _ in logged[tag]] == [1, 2], key
        assert [float(value) for _, value in logged[tag]] == pytest.approx(values, rel=1e-6), key
    (config_text,) = [value for _, value in train["config"]]
    assert b"name: e2e" in config_text.item()
