"""Class weights, best-epoch selection and sentence pairs, on the tiny encoder."""

from __future__ import annotations

import json

import pytest

from bertclf import artifacts
from bertclf.cli import main
from conftest import synthetic_texts, write_config


@pytest.mark.slow
def test_pairs_class_weight_and_best_epoch_end_to_end(pair_run, tmp_path, capsys):
    run = pair_run
    metrics = json.loads((run / artifacts.METRICS_FILE).read_text())
    history = json.loads((run / artifacts.HISTORY_JSON_FILE).read_text())
    best = max(range(3), key=lambda e: (history["val_macro_f1"][e], -e))
    assert metrics["monitor"] == "val_macro_f1" and metrics["best_epoch"] == best + 1
    # The exported model holds the best epoch's weights: its validation score is the best one.
    assert metrics["validation"]["macro_f1"] == pytest.approx(history["val_macro_f1"][best], abs=1e-6)
    assert metrics["class_weight"]["0"] < metrics["class_weight"]["1"]  # "different" (0) is the majority
    # (check_export's own failures are tested in tests/serving/test_export_check.py)
    assert metrics["export_check"]["texts"] > 0
    capsys.readouterr()
    assert main(["predict", "a great film\ta great film", "--model", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] in ("different", "same")
    assert main(["predict", "no tab here", "--model", str(run)]) == 1
    assert "separate the two texts with a tab" in capsys.readouterr().err
    _evaluate_a_table(run, tmp_path, capsys)


def _evaluate_a_table(run, tmp_path, capsys):
    """`evaluate --data FILE` scores a file in the run's table format, pairs included."""
    import numpy as np
    import tensorflow as tf

    rows = [("a wonderful film", "a wonderful film", "same"), ("a wonderful film", "dull and tedious", "different"),
            ("dull and tedious", "dull and tedious", "same"), ("loved it", "hated it", "different"),
            ("superb acting", "superb acting", "same")]
    table = tmp_path / "extra.tsv"
    table.write_text("premise\thypothesis\tlabel\n" + "".join("\t".join(row) + "\n" for row in rows),
                     encoding="utf-8")
    assert main(["evaluate", str(run), "--data", str(table), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    class_names = json.loads((run / artifacts.LABELS_FILE).read_text())
    served = tf.saved_model.load(str(run / artifacts.MODEL_DIR)).signatures["serving_default"]
    probabilities = served(texts=tf.constant([r[0] for r in rows]),
                           text_pairs=tf.constant([r[1] for r in rows]))["probabilities"].numpy()
    labels = np.array([class_names.index(r[2]) for r in rows])
    assert scored["examples"] == 5
    assert scored["accuracy"] == pytest.approx(float(np.mean(probabilities.argmax(axis=1) == labels)))
    assert scored["per_class"]["same"]["support"] == 3
    table.write_text(table.read_text(encoding="utf-8") + "fine\tfine\tmaybe\n", encoding="utf-8")
    assert main(["evaluate", str(run), "--data", str(table)]) == 1
    err = capsys.readouterr().err
    assert str(table) in err and "maybe" in err and "Traceback" not in err
