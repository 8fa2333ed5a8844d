"""`bertclf pretrain` end to end on the tiny encoder: loss, the written encoder, masking, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bertclf import artifacts
from bertclf.encoders.registry import MANIFEST_FILE
from conftest import BERTCLF, make_dataset_tree, synthetic_texts, write_config

STEPS = 24


def _config(work: Path, encoder, extra: str = "") -> Path:
    make_dataset_tree(work / "data", train=40, test=8)
    (work / "unlabelled.txt").write_text("\n".join(synthetic_texts("neutral", 60, seed=5)) + "\n", encoding="utf-8")
    return write_config(work / "config.yaml", f"""
experiment: {{name: pt, seed: 3, output_dir: runs}}
data: {{path: data, validation_split: 0.25, max_train_examples: 20}}
model: {{encoder: {encoder}, seq_length: 32, pooling: mean}}
train: {{epochs: 1, batch_size: 8, learning_rate: 3.0e-3}}
runtime: {{progress: false, precision: float32}}
pretrain:
  unlabelled: [unlabelled.txt]
  steps: {STEPS}
  batch_size: 8
  seq_length: 32
  learning_rate: 2.0e-3
  checkpoint_steps: 8
  held_out: 4
  output: adapted
{extra}""")


# How often the pretraining of `pretrained` traced its training and held-out steps.
TRACES = {"train_step": 0, "test_step": 0}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, tiny_encoder_dir):
    from bertclf.cli import main
    from bertclf.pretraining.model import MaskedLMModel

    work = tmp_path_factory.mktemp("pretrain")
    config = _config(work, tiny_encoder_dir)
    with pytest.MonkeyPatch.context() as patch:
        for name in TRACES:
            patch.setattr(MaskedLMModel, name, _counted(name, getattr(MaskedLMModel, name)))
        assert main(["pretrain", str(config), "--run-dir", str(work / "run")]) == 0
    return work


def _counted(name: str, step):
    def traced(self, batch):  # runs once per trace: Keras calls it inside a tf.function
        TRACES[name] += 1
        return step(self, batch)

    return traced


def test_the_training_and_held_out_steps_are_traced_once(pretrained):
    # The MLM head's variables used to be made inside the first traced step, and Keras then
    # traced each step a second time (a few seconds of MiniLM's graph every pretraining).
    assert TRACES == {"train_step": 1, "test_step": 1}


def test_held_out_loss_falls_and_the_encoder_folder_is_complete(pretrained, tiny_encoder_dir):
    metrics = json.loads((pretrained / "run" / artifacts.PRETRAIN_METRICS_FILE).read_text())
    history = json.loads((pretrained / "run" / artifacts.PRETRAIN_HISTORY_FILE).read_text())
    assert [entry["step"] for entry in history] == [0, 8, 16, 24] and metrics["steps"] == STEPS
    assert metrics["held_out_loss"]["end"] < metrics["held_out_loss"]["start"] - 0.05
    assert history[0]["loss"] is None and all(np.isfinite(e["loss"]) for e in history[1:])
    # The corpus: training split, left-out training rows and the unlabelled file.
    corpus = metrics["corpus"]
    assert corpus["training split"] == 20 and corpus[str(pretrained / "unlabelled.txt")] > 0
    assert corpus["held_out_sequences"] >= 1 and corpus["train_sequences"] > corpus["held_out_sequences"]
    manifest = json.loads((pretrained / "adapted" / MANIFEST_FILE).read_text())
    assert manifest["pretrained_from"] == str(tiny_encoder_dir) and manifest["pretrain_steps"] == STEPS
    assert manifest["compute_dtype"] == "float32"
    assert (pretrained / "adapted" / "vocab.txt").read_bytes() == (tiny_encoder_dir / "vocab.txt").read_bytes()
    assert not (pretrained / "run" / artifacts.CHECKPOINT_DIR).exists()  # finished: resume state removed


def test_the_written_encoder_differs_from_the_base_and_loads_through_the_registry(pretrained, tiny_encoder_dir):
    from bertclf.config import ModelConfig
    from bertclf.encoders import load_saved_model
    from bertclf.encoders.native import probe_inputs, read_native_weights
    from bertclf.encoders.registry import resolve_spec

    spec = resolve_spec(ModelConfig(encoder=str(pretrained / "adapted")))
    assert spec.name == str(pretrained / "adapted") and spec.layers == 1 and spec.hidden == 32
    base, adapted = (read_native_weights(str(folder / "encoder")) for folder in (tiny_encoder_dir, pretrained / "adapted"))
    assert adapted.activation == base.activation and set(adapted.weights) == set(base.weights)
    moved = [name for name in base.weights if not np.allclose(base.weights[name], adapted.weights[name])]
    assert "word_embeddings/embeddings" in moved and len(moved) > len(base.weights) // 2
    inputs = probe_inputs(adapted)
    outputs = load_saved_model(str(pretrained / "adapted" / "encoder"))(inputs)["sequence_output"].numpy()
    assert np.isfinite(outputs).all()


def test_the_written_encoder_keeps_the_base_preprocessor(pretrained, tiny_encoder_dir):
    import tensorflow as tf

    from bertclf.encoders import load_preprocessor

    # Copied, not saved again (3-4 s): the same SavedModel, byte for byte, and the same ids.
    base, adapted = tiny_encoder_dir / "preprocessor", pretrained / "adapted" / "preprocessor"
    assert sorted(p.relative_to(adapted) for p in adapted.rglob("*")) == sorted(p.relative_to(base) for p in base.rglob("*"))
    assert (adapted / "saved_model.pb").read_bytes() == (base / "saved_model.pb").read_bytes()
    texts = tf.constant(["A WONDERFUL film, zyxwv!", "최악의 영화였다", ""])
    ids = [load_preprocessor(str(folder))(texts)["input_word_ids"].numpy() for folder in (base, adapted)]
    np.testing.assert_array_equal(ids[0], ids[1])


def test_a_base_folder_of_another_format_gets_its_preprocessor_saved(tmp_path, tiny_encoder_dir):
    import shutil
    from types import SimpleNamespace

    from bertclf.encoders.export import ENCODER_FORMAT_VERSION
    from bertclf.pretraining.pretrain import _base_preprocessor

    base = tmp_path / "base"
    shutil.copytree(tiny_encoder_dir, base)
    encoder = SimpleNamespace(preprocess_handle=str(base / "preprocessor"))
    assert _base_preprocessor(encoder, base / "vocab.txt") == base / "preprocessor"
    # Another folder's vocabulary than the one beside the preprocessor: saved from that vocabulary.
    assert _base_preprocessor(encoder, tiny_encoder_dir / "vocab.txt") is None
    manifest = json.loads((base / MANIFEST_FILE).read_text())
    (base / MANIFEST_FILE).write_text(json.dumps({**manifest, "format_version": ENCODER_FORMAT_VERSION - 1}))
    assert _base_preprocessor(encoder, base / "vocab.txt") is None  # written by an older bertclf
    (base / MANIFEST_FILE).unlink()
    assert _base_preprocessor(encoder, base / "vocab.txt") is None  # not bertclf's (a TF Hub download)


def test_the_written_encoder_fine_tunes(pretrained):
    from bertclf.cli import main

    # The config's own model.encoder is the tiny folder; point it at the adapted one, as nsmc.yaml does.
    assert main(["train", str(pretrained / "config.yaml"), "--run-dir", str(pretrained / "classifier"),
                 "--set", f"model.encoder={pretrained / 'adapted'}"]) == 0
    metrics = json.loads((pretrained / "classifier" / artifacts.METRICS_FILE).read_text())
    assert metrics["encoder"] == str(pretrained / "adapted") and metrics["test"]["examples"] == 16


def test_masking_never_selects_cls_sep_or_padding():
    import tensorflow as tf

    from bertclf.pretraining.corpus import _pack
    from bertclf.pretraining.masking import MaskingRule, mask_batch

    rng = np.random.default_rng(0)
    documents = [rng.integers(5, 60, size=rng.integers(1, 20)) for _ in range(300)]
    rows = _pack(documents, 14, 2, 3, 0)
    rows[::3, 9:] = 0  # more padding, in the middle of the batch too
    rows[::3, 8] = 3
    rule = MaskingRule(vocab_size=60, mask_id=4, unselectable_ids=(2, 3, 0), pad_id=0, mask_rate=0.3,
                       max_predictions=5)
    tf.random.set_seed(1)
    features, labels, weights = _numpy(mask_batch(tf.constant(rows), rule))
    positions = features["masked_lm_positions"]
    chosen = weights > 0
    original = np.take_along_axis(rows, positions, axis=1)
    assert chosen.sum() > len(rows)  # something was masked in most rows
    assert not np.isin(original[chosen], [0, 2, 3]).any()
    assert (labels[chosen] == original[chosen]).all()
    masked_now = np.take_along_axis(features["input_word_ids"], positions, axis=1)[chosen]
    assert 0.7 < np.mean(masked_now == 4) < 0.9  # 80% [MASK], the rest random or kept
    # Everything not chosen is untouched, and the input mask is the padding.
    untouched = features["input_word_ids"].copy()
    np.put_along_axis(untouched, positions, original, axis=1)
    assert (untouched == rows).all() and (features["input_mask"] == (rows != 0)).all()


def _numpy(batch):
    features, labels, weights = batch
    return {k: v.numpy() for k, v in features.items()}, labels.numpy(), weights.numpy()


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_an_interrupted_pretraining_resumes_with_its_step_count(tmp_path, tiny_encoder_dir, how, capsys):
    config = _config(tmp_path, tiny_encoder_dir, extra="")
    run = tmp_path / "run"
    process = subprocess.Popen([str(BERTCLF), "pretrain", str(config), "--run-dir", str(run)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    printed = []
    for line in process.stdout:
        printed.append(line)
        if line.startswith(f"step 8/{STEPS}:"):  # printed once step 8 is checkpointed
            break
    else:
        pytest.fail("pretraining ended before its first checkpoint:\n" + "".join(printed)[-2000:])
    process.send_signal(how)
    rest, _ = process.communicate(timeout=60)
    if how == signal.SIGTERM:  # as Ctrl-C: the chunk in progress is given up, the hint printed
        assert process.returncode == 143, rest[-2000:]
        assert f"pretraining stopped by SIGTERM at step 8 (checkpointed); continue with: bertclf pretrain {run} " \
               f"--resume" in rest and "Traceback" not in rest
    state = json.loads((run / artifacts.CHECKPOINT_DIR / artifacts.PRETRAIN_STATE_FILE).read_text())
    assert state["steps"] == 8 and not (tmp_path / "adapted").exists()
    if how == signal.SIGTERM:
        return  # the same saved state as after SIGKILL, whose resume follows

    # Resumed in the test's process: what is tested of processes is the stop above.
    from bertclf.cli import main

    capsys.readouterr()
    assert main(["pretrain", str(run), "--resume"]) == 0
    assert f"Resuming at step 8 of {STEPS}" in capsys.readouterr().err
    history = json.loads((run / artifacts.PRETRAIN_HISTORY_FILE).read_text())
    assert [entry["step"] for entry in history] == [0, 8, 16, 24]
    assert history[:2] == state["history"]  # what was recorded before the kill is kept
    metrics = json.loads((run / artifacts.PRETRAIN_METRICS_FILE).read_text())
    assert metrics["steps"] == STEPS and (tmp_path / "adapted" / MANIFEST_FILE).is_file()
    # A finished run is not resumed again.
    assert main(["pretrain", str(run), "--resume"]) == 1
    again = capsys.readouterr().err
    assert "this pretraining run finished" in again and "Traceback" not in again


@pytest.mark.slow
def test_resume_takes_the_checkpoint_its_state_names_not_the_newest(tmp_path, tiny_encoder_dir, monkeypatch):
    """A stop between writing a checkpoint and the state that names it: the state is older than
    the newest checkpoint, and resuming must take the state's own (weights, optimizer and step count)."""
    import bertclf.pretraining.model
    from bertclf.cli import main

    config = _config(tmp_path, tiny_encoder_dir)
    run = tmp_path / "run"
    real = bertclf.pretraining.model.files.write_json_atomic
    states = []

    def crash_at_the_second_state(path, payload):
        if path.name == artifacts.PRETRAIN_STATE_FILE:
            states.append(payload["steps"])
            if len(states) == 2:  # step 16's checkpoint is written; its state is not
                raise RuntimeError("simulated crash before the state file")
        real(path, payload)

    monkeypatch.setattr(bertclf.pretraining.model.files, "write_json_atomic", crash_at_the_second_state)
    with pytest.raises(RuntimeError, match="simulated crash"):
        main(["pretrain", str(config), "--run-dir", str(run)])
    monkeypatch.undo()
    state = json.loads((run / artifacts.CHECKPOINT_DIR / artifacts.PRETRAIN_STATE_FILE).read_text())
    assert states == [8, 16] and state["steps"] == 8 and state["checkpoint"] == "ckpt-8"
    assert (run / artifacts.CHECKPOINT_DIR / "ckpt-16.index").is_file()  # newer than the state

    assert main(["pretrain", str(run), "--resume"]) == 0
    history = json.loads((run / artifacts.PRETRAIN_HISTORY_FILE).read_text())
    # From step 8 again, in whole chunks: not from step 16's weights with step 8's history.
    assert [entry["step"] for entry in history] == [0, 8, 16, 24]
    assert json.loads((run / artifacts.PRETRAIN_METRICS_FILE).read_text())["steps"] == STEPS


def test_pretrain_resume_refuses_what_it_would_ignore(tmp_path, capsys):
    """Checked before the run folder is read: the folder need not even exist."""
    from bertclf.cli import main

    run = tmp_path / "some-pretrain-run"
    assert main(["pretrain", str(run), "--resume", "--set", "pretrain.steps=5"]) == 2
    assert "--set pretrain.steps=5: a resumed run keeps its own config; only runtime.* may change" in (
        capsys.readouterr().err)
    assert main(["pretrain", str(run), "--resume", "--run-dir", str(tmp_path / "elsewhere")]) == 2
    assert "--run-dir: not with --resume" in capsys.readouterr().err
    assert main(["pretrain", str(run), "--resume", "--overwrite"]) == 2
    assert "--overwrite: not with --resume" in capsys.readouterr().err


def test_pretraining_stops_at_its_time_budget_and_writes_the_encoder(tmp_path, tiny_encoder_dir):
    from bertclf.cli import main

    # 0.0001 minutes (6 ms) runs out during the first step; the budget is checked after every
    # step, so the run stops after one of its 24, records why, checkpoints and writes its encoder.
    config = _config(tmp_path, tiny_encoder_dir)
    assert main(["pretrain", str(config), "--run-dir", str(tmp_path / "run"),
                 "--set", "pretrain.max_minutes=0.0001"]) == 0
    metrics = json.loads((tmp_path / "run" / artifacts.PRETRAIN_METRICS_FILE).read_text())
    assert metrics["stopped_by_time"] is True and metrics["steps"] == 1
    assert (tmp_path / "adapted" / MANIFEST_FILE).is_file()


def test_overwrite_replaces_only_an_encoder_folder_pretrain_wrote(tmp_path, tiny_encoder_dir, capsys):
    from bertclf.cli import main

    config = _config(tmp_path, tiny_encoder_dir)
    (tmp_path / "adapted").mkdir()  # pretrain.output, holding something of the user's
    (tmp_path / "adapted" / "mine.txt").write_text("keep me")
    assert main(["pretrain", str(config), "--run-dir", str(tmp_path / "run"), "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert f"error: pretrain.output {tmp_path / 'adapted'} exists and is not an encoder folder that bertclf " \
           f"pretrain wrote; nothing was deleted" in err
    assert (tmp_path / "adapted" / "mine.txt").read_text() == "keep me" and not (tmp_path / "run").exists()
