"""Settings that used to be accepted and then ignored or crash: `model.tiny` with another encoder,
and resuming under a precision that builds another model."""

from __future__ import annotations

import types

import pytest

from bertclf import artifacts
from bertclf.errors import RunError
from conftest import write_config


def test_model_tiny_with_another_encoder_is_a_warning(tmp_path, tiny_encoder_dir, capsys):
    from bertclf.config import load_config
    from bertclf.data import LabelledData, Split
    from bertclf.training.train import load_encoder

    # configs/smoke.yaml shapes the tiny encoder, and is run with --set model.encoder=... too.
    config = load_config(write_config(tmp_path / "c.yaml", f"""
data: {{path: data}}
model: {{encoder: {tiny_encoder_dir}, tiny: {{layers: 2, hidden: 64, heads: 2}}}}
"""))
    split = Split(["a good film", "a bad film"], [1, 0])
    data = LabelledData(["neg", "pos"], split, split, None, {})
    runtime = types.SimpleNamespace(precision=types.SimpleNamespace(precision="float32"))
    load_encoder(config, data, runtime)
    assert f"warning: model.tiny shapes only the tiny encoder; it is not used with model.encoder " \
           f"{tiny_encoder_dir}" in capsys.readouterr().err
    load_encoder(config.model_copy(update={"model": config.model.model_copy(update={"tiny": type(config.model.tiny)()})}),
                 data, runtime)
    assert "model.tiny" not in capsys.readouterr().err  # the default shape says nothing


def _model(layers: int):
    import tf_keras

    model = tf_keras.Sequential([tf_keras.layers.Dense(3) for _ in range(layers)] + [tf_keras.layers.Dense(2)])
    model.build((None, 4))
    model.compile(optimizer="adam", loss="mse")
    return model


def test_resuming_under_a_precision_that_builds_another_model_is_one_line(tmp_path):
    from bertclf.training import checkpoints

    folder = tmp_path / artifacts.CHECKPOINT_DIR
    folder.mkdir()
    saved = checkpoints._full_checkpoint(_model(layers=2)).save(str(folder / "epoch"))
    state = {"checkpoint": saved.rsplit("/", 1)[-1], "precision": "mixed_bfloat16"}
    # The same checkpoint into another model (as float32 builds a hub layer where bfloat16 built a
    # native encoder): a RunError that names both precisions and the fix, not an AssertionError.
    with pytest.raises(RunError, match=r"trained in mixed_bfloat16, and runtime.precision resolves to float32 here, "
                                       r"which builds another model; resume with --set runtime.precision=mixed_bfloat16"):
        checkpoints.restore(_model(layers=1), state, tmp_path, "float32")
    with pytest.raises(RunError, match="its checkpoint does not fit the model built now"):
        checkpoints.restore(_model(layers=1), {**state, "precision": "float32"}, tmp_path, "float32")
    checkpoints.restore(_model(layers=2), state, tmp_path, "float32")  # the same model restores
