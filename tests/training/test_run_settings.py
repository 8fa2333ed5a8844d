"""Run settings end to end on the tiny encoder: XLA on, TensorBoard off, threshold targets;
and `bench` with one step."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertclf import artifacts
from bertclf.cli import main
from bertclf.metrics import choose_threshold
from conftest import e2e_config

pytestmark = pytest.mark.slow


def _newest(work):
    runs = work / "runs"
    return runs / (runs / artifacts.LATEST_FILE).read_text().strip()


@pytest.mark.parametrize("target,settings", [
    # XLA compiles the step once per batch shape it meets, 5-10 s each for this model here: a batch
    # size that divides the 36 training texts leaves no short last batch to compile for.
    ("precision: 0.75", ["runtime.jit_compile=true", "train.batch_size=12"]),
    ("recall: 0.9", ["runtime.tensorboard=false"]),
], ids=["precision-target-with-xla", "recall-target-without-tensorboard"])
def test_threshold_targets_xla_and_tensorboard_settings(tmp_path, tiny_encoder_dir, target, settings):
    from bertclf.serving.predict import Predictor

    config = e2e_config(tmp_path, tiny_encoder_dir)
    overrides = [arg for setting in settings for arg in ("--set", setting)]
    assert main(["train", str(config), "--set", f"train.threshold={{{target}}}", *overrides]) == 0
    run = _newest(tmp_path)
    metrics = json.loads((run / artifacts.METRICS_FILE).read_text())
    name, share = target.split(": ")
    record = metrics["threshold"]
    assert record["rule"] == f"target: validation {name} >= {float(share):g}"
    # The same choice, made again from the exported model's validation probabilities.
    assert main(["evaluate", str(run), "--split", "validation", "--json"]) == 0
    predictor = Predictor(run)
    from bertclf.evaluation import _config_split, _run_config

    validation, _ = _config_split(run, _run_config(run), "validation", predictor.class_names)
    probabilities = predictor.probabilities(validation.texts)
    value, achieved = choose_threshold(np.asarray(validation.labels) == 1, probabilities[:, 1],
                                       **{name: float(share)})
    assert record["value"] == pytest.approx(value, abs=1e-4)
    assert record["validation"]["met"] == achieved["met"]
    if achieved["met"]:
        assert record["validation"][name] >= float(share)
    assert predictor.threshold == pytest.approx(record["value"], abs=1e-6)  # the model decides by it
    assert metrics["runtime"]["jit_compile"] is ("runtime.jit_compile=true" in settings)
    assert (run / artifacts.TENSORBOARD_DIR).is_dir() is ("runtime.tensorboard=false" not in settings)


def test_bench_runs_one_step_on_the_tiny_encoder(tmp_path, tiny_encoder_dir, capsys):
    config = e2e_config(tmp_path, tiny_encoder_dir)
    capsys.readouterr()
    assert main(["bench", str(config), "--steps", "1", "--warmup", "1", "--repeats", "1", "--inference-examples",
                 "8", "--pipelines", "fixed,bucketed,bucketed_native", "--output", str(tmp_path / "bench.json"),
                 "--json"]) == 0
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert result == json.loads((tmp_path / "bench.json").read_text())
    # Progress on stderr (stdout is the JSON): one line as each measurement starts, one as it ends.
    progress = [line for line in out.err.splitlines()
                if line.startswith(("Bench ", "  fixed:", "  bucketed:", "  bucketed_native:"))]
    assert [line.split(":")[0] for line in progress] == ["Bench 1/3", "  fixed", "Bench 2/3", "  bucketed",
                                                         "Bench 3/3", "  bucketed_native"], out.err
    assert result["config"]["train_steps"] == 1 and result["config"]["inference_examples"] == 8
    assert set(result["medians"]) == {"fixed", "bucketed", "bucketed_native"}
    for values in result["medians"].values():
        assert values["train_examples_per_second"] > 0 and values["inference_examples_per_second"] > 0
        assert 0 < values["train_mfu"] < 1 and 0 < values["inference_mfu"] < 1
    # Bucketing pads the short synthetic texts less than the fixed length does.
    assert result["medians"]["bucketed"]["train_padding_share"] < result["medians"]["fixed"]["train_padding_share"]


def test_native_encoder_trains_the_rebuild_in_float32_and_its_run_exports_to_onnx(tmp_path, tiny_encoder_dir,
                                                                                    monkeypatch, capsys):
    """model.native_encoder: a float32 run trains the encoder rebuilt natively; its export checks, and its
    ONNX export matches the SavedModel."""
    from bertclf.encoders import native

    built = []
    real = native.build_native_encoder
    monkeypatch.setattr(native, "build_native_encoder",
                        lambda *args, **kwargs: built.append(1) or real(*args, **kwargs))
    config = e2e_config(tmp_path, tiny_encoder_dir, name="native")
    float32 = ["--set", "runtime.precision=float32"]
    assert main(["train", str(config), *float32]) == 0
    assert not built  # the default: the SavedModel itself
    assert main(["train", str(config), *float32, "--set", "model.native_encoder=true"]) == 0
    assert built
    run = _newest(tmp_path)
    metrics = json.loads((run / artifacts.METRICS_FILE).read_text())
    assert metrics["runtime"]["precision"] == "float32" and metrics["export_check"]["texts"] > 0
    capsys.readouterr()
    assert main(["export", str(run), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["checks"]["onnx"]["max_abs_difference_float32"] <= 1e-4
