"""runtime.precision: the natively rebuilt encoder matches the SavedModel and trains without NaN."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from bertclf import artifacts
from bertclf.cli import main
from conftest import e2e_config

pytestmark = pytest.mark.slow


def test_native_rebuild_reproduces_the_saved_model(tiny_encoder_dir):
    import tensorflow_hub as hub

    from bertclf.encoders.native import _probe_inputs, build_native_encoder, read_native_weights

    native = read_native_weights(str(tiny_encoder_dir / "encoder"))
    assert (native.num_layers, native.hidden_size, native.num_heads) == (1, 32, 2)
    inputs = _probe_inputs(native)
    expected = hub.load(str(tiny_encoder_dir / "encoder"))(inputs, training=False)
    got = build_native_encoder(native)(inputs, training=False)
    for key in ("sequence_output", "pooled_output"):
        assert np.abs(got[key].numpy() - expected[key].numpy()).max() <= 1e-5


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_precision_trains_without_nan_and_exports(tmp_path, monkeypatch, precision):
    """The run is also the first to use `tiny` in an empty cache: it must cache a float32 encoder."""
    from bertclf.encoders.export import graph_float_dtypes

    monkeypatch.setenv("BERTCLF_CACHE", str(tmp_path / "cache"))
    config = e2e_config(tmp_path, "tiny", name=precision)
    config.write_text(config.read_text()
                      .replace("runtime: {progress: false}", f"runtime: {{progress: false, precision: {precision}}}")
                      .replace("pooling: mean}", "pooling: mean, tiny: {layers: 1, hidden: 32, heads: 2}}"))
    assert main(["train", str(config)]) == 0
    run = tmp_path / "runs" / (tmp_path / "runs" / artifacts.LATEST_FILE).read_text().strip()
    history = json.loads((run / artifacts.HISTORY_JSON_FILE).read_text())
    assert all(math.isfinite(v) for values in history.values() for v in values)
    metrics = json.loads((run / artifacts.METRICS_FILE).read_text())
    assert metrics["export_check"]["max_abs_difference"] <= 1e-5
    assert main(["predict", "a wonderful film", "--model", str(run)]) == 0
    cached = list((tmp_path / "cache" / "encoders").glob("tiny-*/encoder"))
    assert len(cached) == 1 and graph_float_dtypes(cached[0]) == {"float32"}
