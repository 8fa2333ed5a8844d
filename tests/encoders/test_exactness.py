"""The converted MiniLM, its native rebuild and the checkpoint compute the same thing on any input.

Random token ids over the whole vocabulary, lengths from 1 to 512, rows with and
without padding and with both token types, several seeds; compared with the
independent NumPy forward pass of the Hugging Face checkpoint on the unmasked
positions of `sequence_output` and on `pooled_output`.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import MINILM, needs_minilm
from numpy_bert import bert_forward

pytestmark = [pytest.mark.slow, needs_minilm]

TOLERANCE = 1e-4
# (seed, sequence length): the extremes (1 token, 512 positions) and lengths in between.
CASES = [(0, 1), (1, 2), (2, 37), (3, 128), (4, 512)]


def random_batch(seed: int, length: int, vocab_size: int, rows: int = 3) -> dict[str, np.ndarray]:
    """Row 0 fills the whole length; the others are padded after a random number of tokens.

    Each row switches from token type 0 to 1 at a random point, so both types occur.
    """
    rng = np.random.default_rng(seed)
    valid = np.concatenate([[length], rng.integers(1, length + 1, size=rows - 1)])
    positions = np.arange(length)[None, :]
    mask = (positions < valid[:, None]).astype(np.int32)
    ids = rng.integers(0, vocab_size, size=(rows, length)).astype(np.int32) * mask
    switch = rng.integers(0, valid + 1)[:, None]
    types = ((positions >= switch) & (mask > 0)).astype(np.int32)
    return {"input_word_ids": ids, "input_mask": mask, "input_type_ids": types}


@pytest.fixture(scope="module")
def reference():
    from bertclf.encoders.convert import read_checkpoint
    from bertclf.encoders.registry import packaged_checkpoint

    config, weights, _ = read_checkpoint(packaged_checkpoint(MINILM))
    return config, weights


def _max_differences(outputs: dict, expected: tuple[np.ndarray, np.ndarray], mask: np.ndarray) -> tuple[float, float]:
    sequence, pooled = expected
    unmasked = mask.astype(bool)
    sequence_gap = np.abs(outputs["sequence_output"].numpy()[unmasked] - sequence[unmasked]).max()
    pooled_gap = np.abs(outputs["pooled_output"].numpy() - pooled).max()
    return float(sequence_gap), float(pooled_gap)


def test_random_batches_have_what_the_cases_promise():
    batch = random_batch(4, 512, 30522)
    assert batch["input_mask"][0].all() and not batch["input_mask"][1:].all()
    assert set(np.unique(batch["input_type_ids"])) == {0, 1}
    assert batch["input_word_ids"].max() > 30000  # ids reach the end of the vocabulary


@pytest.mark.parametrize("seed,length", CASES)
def test_converted_saved_model_matches_the_checkpoint(minilm_dir, reference, seed, length):
    import tensorflow as tf
    import tensorflow_hub as hub

    config, weights = reference
    batch = random_batch(seed, length, config["vocab_size"])
    expected = bert_forward(weights, config, *batch.values())
    outputs = hub.load(minilm_dir.encoder_handle)({k: tf.constant(v) for k, v in batch.items()}, training=False)
    sequence_gap, pooled_gap = _max_differences(outputs, expected, batch["input_mask"])
    assert sequence_gap <= TOLERANCE and pooled_gap <= TOLERANCE, (sequence_gap, pooled_gap)


@pytest.fixture(scope="module")
def native_encoder(minilm_dir):
    from bertclf.encoders.native import build_native_encoder, read_native_weights
    from bertclf.runtime.precision import keras_policy

    native = read_native_weights(minilm_dir.encoder_handle)
    with keras_policy("float32"):
        return native, build_native_encoder(native)


def test_native_rebuild_of_minilm_selects_the_exact_gelu(native_encoder):
    native, _ = native_encoder
    assert native.activation == "bertclf_exact_gelu"
    assert (native.num_layers, native.hidden_size, native.num_heads) == (6, 384, 12)


@pytest.mark.parametrize("seed,length", CASES)
def test_native_rebuild_matches_the_checkpoint(native_encoder, reference, seed, length):
    import tensorflow as tf

    config, weights = reference
    batch = random_batch(seed, length, config["vocab_size"])
    expected = bert_forward(weights, config, *batch.values())
    outputs = native_encoder[1]({k: tf.constant(v) for k, v in batch.items()}, training=False)
    sequence_gap, pooled_gap = _max_differences(outputs, expected, batch["input_mask"])
    assert sequence_gap <= TOLERANCE and pooled_gap <= TOLERANCE, (sequence_gap, pooled_gap)


def test_native_rebuild_refuses_an_encoder_it_cannot_reproduce(minilm_dir, monkeypatch):
    """Only the tanh GELU and ReLU on offer: the exact-GELU MiniLM must be refused, not approximated."""
    from bertclf.encoders import native
    from bertclf.errors import ModelError

    monkeypatch.setattr(native, "_ACTIVATIONS", ("gelu", "relu"))
    with pytest.raises(ModelError, match="does not reproduce it with any of gelu, relu"):
        native.read_native_weights(minilm_dir.encoder_handle)


def test_native_rebuild_of_a_tanh_gelu_encoder_selects_tanh(tmp_path, reference, monkeypatch):
    """TF Hub BERTs compute the tanh GELU (tf-models-official's "gelu"): MiniLM's weights
    converted as a `gelu_new` checkpoint stand in for one, and must rebuild with it. The
    folder's manifest names it, so one rebuild checks it; a manifest naming another
    activation is not believed."""
    import json
    import shutil

    from bertclf.encoders import native
    from bertclf.encoders.convert import convert_checkpoint
    from bertclf.encoders.native import read_native_weights
    from bertclf.encoders.registry import MANIFEST_FILE, packaged_checkpoint

    from safetensors.numpy import save_file

    # MiniLM's first two layers: real weights (a random tiny model cannot tell the GELUs
    # apart) at a third of the conversion time.
    source = tmp_path / "tanh_checkpoint"
    shutil.copytree(packaged_checkpoint(MINILM), source, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    config, weights = reference
    kept = {name: value for name, value in weights.items()
            if not name.startswith("encoder.layer.") or int(name.split(".")[2]) < 2}
    save_file(kept, str(source / "model.safetensors"))
    (source / "config.json").write_text(json.dumps({**config, "hidden_act": "gelu_new", "num_hidden_layers": 2}))
    convert_checkpoint(source, tmp_path / "converted")
    rebuilt = []
    build = native.build_native_encoder
    monkeypatch.setattr(native, "build_native_encoder", lambda found: rebuilt.append(found.activation) or build(found))
    manifest = json.loads((tmp_path / "converted" / MANIFEST_FILE).read_text())
    assert manifest["activation"] == "gelu"
    assert read_native_weights(str(tmp_path / "converted" / "encoder")).activation == "gelu"
    assert rebuilt == ["gelu"]
    # A copy (another cache entry) whose manifest names the exact GELU: every candidate is tried.
    shutil.copytree(tmp_path / "converted", tmp_path / "misnamed")
    (tmp_path / "misnamed" / MANIFEST_FILE).write_text(json.dumps({**manifest, "activation": "bertclf_exact_gelu"}))
    rebuilt.clear()
    assert read_native_weights(str(tmp_path / "misnamed" / "encoder")).activation == "gelu"
    assert rebuilt == ["bertclf_exact_gelu", "gelu", "relu"]
