"""Class weights, best-epoch selection and sentence pairs, on the tiny encoder."""

from __future__ import annotations

import json

import pytest

from bertclf import artifacts
from bertclf.cli import main
from bertclf.config import TrainConfig
from bertclf.data import LabelledData, Split
from bertclf.errors import ConfigError
from bertclf.train import resolve_class_weight
from conftest import synthetic_texts, write_config


def _data(labels, names=("neg", "pos")):
    split = Split(["x"] * len(labels), list(labels))
    return LabelledData(list(names), split, split, None, {})


def test_balanced_weights_even_out_class_totals():
    weights = resolve_class_weight(TrainConfig(class_weight="balanced"), _data([0] * 90 + [1] * 10))
    assert weights == pytest.approx({0: 100 / 180, 1: 100 / 20})
    assert 90 * weights[0] == pytest.approx(10 * weights[1])


def test_explicit_weights_by_class_name():
    assert resolve_class_weight(TrainConfig(class_weight={"pos": 3}), _data([0, 1])) == {0: 1.0, 1: 3.0}
    assert resolve_class_weight(TrainConfig(), _data([0, 1])) is None
    with pytest.raises(ConfigError, match="train.class_weight: no class 'positive'; classes are neg, pos"):
        resolve_class_weight(TrainConfig(class_weight={"positive": 2}), _data([0, 1]))


@pytest.mark.slow
def test_pairs_class_weight_and_best_epoch_end_to_end(tmp_path, tiny_encoder_dir, capsys):
    rows = ["premise\thypothesis\tlabel"]
    for i, (a, b) in enumerate(zip(synthetic_texts("pos", 30), synthetic_texts("neg", 30))):
        rows += [f"{a}\t{a}\tsame", f"{a}\t{b}\tdifferent"] if i % 4 else [f"{a}\t{b}\tdifferent"]
    (tmp_path / "pairs.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = write_config(tmp_path / "pairs.yaml", f"""
experiment: {{name: pairs, output_dir: runs}}
data: {{format: tsv, train_path: pairs.tsv, text_column: premise, text_pair_column: hypothesis}}
model: {{encoder: {tiny_encoder_dir}, seq_length: 48, pooling: mean}}
train: {{epochs: 3, batch_size: 8, learning_rate: 1.0e-3, class_weight: balanced, monitor: val_macro_f1}}
runtime: {{progress: false}}
""")
    assert main(["train", str(config)]) == 0
    run = tmp_path / "runs" / (tmp_path / "runs" / artifacts.LATEST_FILE).read_text().strip()
    metrics = json.loads((run / artifacts.METRICS_FILE).read_text())
    history = json.loads((run / artifacts.HISTORY_JSON_FILE).read_text())
    best = max(range(3), key=lambda e: (history["val_macro_f1"][e], -e))
    assert metrics["monitor"] == "val_macro_f1" and metrics["best_epoch"] == best + 1
    # The exported model holds the best epoch's weights: its validation score is the best one.
    assert metrics["validation"]["macro_f1"] == pytest.approx(history["val_macro_f1"][best], abs=1e-6)
    assert metrics["class_weight"]["0"] < metrics["class_weight"]["1"]  # "different" (0) is the majority
    assert metrics["export_check"]["max_abs_difference"] <= 1e-5
    capsys.readouterr()
    assert main(["predict", "a great film\ta great film", "--model", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] in ("different", "same")
    assert main(["predict", "no tab here", "--model", str(run)]) == 1
    assert "separate the two texts with a tab" in capsys.readouterr().err
