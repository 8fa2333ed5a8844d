"""Checkpoint conversion: the converted encoder computes what the checkpoint computes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bertclf.encoders.convert import map_weights
from bertclf.errors import ModelError
from bertclf.encoders.registry import packaged_checkpoint
from numpy_bert import bert_forward

from conftest import MINILM, needs_minilm

SENTENCES = ["this is such an amazing movie!", "The plot was dull, and the acting worse.", "ok"]


def _tiny_weights(layers=1, hidden=4, heads=2, inner=8, vocab=10):
    rng = np.random.default_rng(0)
    shapes = {"embeddings.word_embeddings.weight": (vocab, hidden),
              "embeddings.position_embeddings.weight": (16, hidden),
              "embeddings.token_type_embeddings.weight": (2, hidden),
              "embeddings.LayerNorm.weight": (hidden,), "embeddings.LayerNorm.bias": (hidden,),
              "pooler.dense.weight": (hidden, hidden), "pooler.dense.bias": (hidden,)}
    for i in range(layers):
        p = f"encoder.layer.{i}"
        for part in ("query", "key", "value"):
            shapes[f"{p}.attention.self.{part}.weight"] = (hidden, hidden)
            shapes[f"{p}.attention.self.{part}.bias"] = (hidden,)
        shapes.update({f"{p}.attention.output.dense.weight": (hidden, hidden),
                       f"{p}.attention.output.dense.bias": (hidden,),
                       f"{p}.attention.output.LayerNorm.weight": (hidden,),
                       f"{p}.attention.output.LayerNorm.bias": (hidden,),
                       f"{p}.intermediate.dense.weight": (inner, hidden), f"{p}.intermediate.dense.bias": (inner,),
                       f"{p}.output.dense.weight": (hidden, inner), f"{p}.output.dense.bias": (hidden,),
                       f"{p}.output.LayerNorm.weight": (hidden,), f"{p}.output.LayerNorm.bias": (hidden,)})
    return {name: rng.normal(size=shape).astype(np.float32) for name, shape in shapes.items()}


def test_mapping_transposes_and_splits_heads():
    weights = _tiny_weights()
    mapped = map_weights(dict(weights), layers=1, hidden=4, heads=2)
    query = weights["encoder.layer.0.attention.self.query.weight"]
    assert mapped["transformer/layer_0/self_attention/query/kernel"].shape == (4, 2, 2)
    assert np.array_equal(mapped["transformer/layer_0/self_attention/query/kernel"].reshape(4, 4), query.T)
    assert mapped["transformer/layer_0/self_attention/attention_output/kernel"].shape == (2, 2, 4)
    assert np.array_equal(mapped["pooler_transform/kernel"], weights["pooler.dense.weight"].T)
    assert len(mapped) == len(weights)


def test_unused_or_missing_weights_are_named():
    weights = _tiny_weights()
    weights["cls.predictions.bias"] = np.zeros(10, np.float32)
    with pytest.raises(ModelError, match="cls.predictions.bias"):
        map_weights(weights, layers=1, hidden=4, heads=2)
    weights = _tiny_weights()
    del weights["encoder.layer.0.output.dense.bias"]
    with pytest.raises(ModelError, match="no weight encoder.layer.0.output.dense.bias"):
        map_weights(weights, layers=1, hidden=4, heads=2)


@needs_minilm
def test_minilm_is_listed_as_available_offline(capsys):
    from bertclf.cli import main

    assert main(["models", "list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("minilm_l6_uncased "))
    assert row.split()[-1] == "yes"


@pytest.mark.slow
@needs_minilm
def test_second_use_reuses_the_cached_conversion(minilm_dir):
    from bertclf.config import ModelConfig
    from bertclf.encoders import prepare_encoder

    manifest = Path(minilm_dir.encoder_handle).parent / "bertclf_encoder.json"
    converted_at = manifest.stat().st_mtime_ns
    assert prepare_encoder(MINILM, ModelConfig(encoder="minilm_l6_uncased"), [], seed=0) == minilm_dir
    assert manifest.stat().st_mtime_ns == converted_at


@pytest.mark.slow
@needs_minilm
def test_preprocessor_gives_the_tutorial_ids(minilm_dir):
    import tensorflow as tf

    from bertclf.encoders import load_preprocessor
    from bertclf.encoders.tokenization import encode_texts

    preprocessor = load_preprocessor(minilm_dir.preprocess_handle)
    ids = encode_texts(preprocessor, tf.constant(["this is such an amazing movie!"]), 128)["input_word_ids"]
    assert ids.numpy()[0].tolist() == [101, 2023, 2003, 2107, 2019, 6429, 3185, 999, 102] + [0] * 119


@pytest.mark.slow
@needs_minilm
def test_converted_encoder_matches_numpy_reference(minilm_dir):
    import tensorflow as tf
    import tensorflow_hub as hub

    from bertclf.encoders.convert import read_checkpoint
    from bertclf.encoders import load_preprocessor
    from bertclf.encoders.tokenization import encode_texts

    inputs = encode_texts(load_preprocessor(minilm_dir.preprocess_handle), tf.constant(SENTENCES), 24)
    outputs = hub.load(minilm_dir.encoder_handle)(inputs)
    config, weights, _ = read_checkpoint(packaged_checkpoint(MINILM))
    arrays = [inputs[k].numpy() for k in ("input_word_ids", "input_mask", "input_type_ids")]
    sequence, pooled = bert_forward(weights, config, *arrays)
    assert np.abs(outputs["sequence_output"].numpy() - sequence).max() < 1e-4
    assert np.abs(outputs["pooled_output"].numpy() - pooled).max() < 1e-4
    # The tolerance discriminates: the tanh GELU that tf-models-official's "gelu" means is far off.
    import numpy_bert

    exact = numpy_bert._erf
    numpy_bert._erf = lambda z: np.tanh(math.sqrt(2 / math.pi) * (z * math.sqrt(2.0)) * (1 + 0.044715 * 2 * z * z))
    try:
        approx_sequence, _ = bert_forward(weights, config, *arrays)
    finally:
        numpy_bert._erf = exact
    assert np.abs(outputs["sequence_output"].numpy() - approx_sequence).max() > 1e-3


def test_models_convert_command(tmp_path, capsys):
    """`bertclf models convert` on a small BERT checkpoint: the folder it writes computes what the
    checkpoint computes (the packaged MiniLM's conversion: `minilm_dir` and the shipped configs)."""
    import tensorflow as tf
    import tensorflow_hub as hub

    from bertclf.cli import main
    from bertclf.encoders import load_preprocessor
    from bertclf.encoders.tokenization import encode_texts

    source, out = tiny_bert_checkpoint(tmp_path / "hf"), tmp_path / "converted"
    assert main(["models", "convert", str(source), str(out)]) == 0
    assert "(1 layers, hidden 4, 10 tokens)" in capsys.readouterr().out
    inputs = encode_texts(load_preprocessor(str(out / "preprocessor")), tf.constant(["a b", "E d c x"]), 8)
    assert inputs["input_word_ids"].numpy().tolist() == [[2, 5, 6, 3, 0, 0, 0, 0], [2, 9, 8, 7, 1, 3, 0, 0]]
    outputs = hub.load(str(out / "encoder"))(inputs)
    arrays = [inputs[k].numpy() for k in ("input_word_ids", "input_mask", "input_type_ids")]
    sequence, pooled = bert_forward(_tiny_weights(), json.loads((source / "config.json").read_text()), *arrays)
    assert np.abs(outputs["sequence_output"].numpy() - sequence).max() < 1e-5
    assert np.abs(outputs["pooled_output"].numpy() - pooled).max() < 1e-5
    assert main(["models", "convert", str(source), str(out)]) == 2  # never into a folder that holds something
    assert main(["models", "convert", str(tmp_path / "missing"), str(tmp_path / "x")]) == 2
    (tmp_path / "not-bert").mkdir()
    assert main(["models", "convert", str(tmp_path / "not-bert"), str(tmp_path / "y")]) == 1
    assert "no config.json" in capsys.readouterr().err


def tiny_bert_checkpoint(folder: Path) -> Path:
    """A Hugging Face BERT folder that converts: one layer, hidden 4, ten lower-cased tokens."""
    checkpoint = _write_checkpoint(folder, _tiny_weights(), {"tokenizer_config.json": {"do_lower_case": True}})
    (checkpoint / "config.json").write_text(json.dumps({
        "model_type": "bert", "vocab_size": 10, "hidden_size": 4, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 8, "max_position_embeddings": 16}))
    (checkpoint / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b",
                                                     "c", "d", "e"]) + "\n")
    return checkpoint


def _write_checkpoint(folder: Path, weights: dict, tokenizer_files: dict) -> Path:
    from safetensors.numpy import save_file

    folder.mkdir()
    save_file(weights, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    for name, content in tokenizer_files.items():
        (folder / name).write_text(json.dumps(content))
    return folder


def test_task_heads_are_dropped_with_a_note_and_the_encoder_stays_strict(tmp_path, capsys):
    from bertclf.encoders.convert import read_checkpoint

    weights = {f"bert.{name}": value for name, value in _tiny_weights().items()}
    weights["cls.predictions.bias"] = np.zeros(10, np.float32)  # BertForPreTraining's MLM head
    weights["classifier.weight"] = np.zeros((2, 4), np.float32)  # BertForSequenceClassification's
    source = _write_checkpoint(tmp_path / "hf", weights, {"tokenizer_config.json": {"do_lower_case": True}})
    _, read, lower_case = read_checkpoint(source)
    assert set(read) == set(_tiny_weights()) and lower_case is True
    assert "dropped 2 task-head weight(s) (classifier.weight, cls.predictions.bias)" in capsys.readouterr().err
    assert len(map_weights(read, layers=1, hidden=4, heads=2)) == len(_tiny_weights())


def test_lower_casing_is_read_from_the_tokenizer_files_or_refused(tmp_path):
    from bertclf.encoders.convert import read_checkpoint

    weights = _tiny_weights()
    cased = _write_checkpoint(tmp_path / "cased", weights, {"tokenizer_config.json": {"do_lower_case": False}})
    assert read_checkpoint(cased)[2] is False
    fast = _write_checkpoint(tmp_path / "fast", weights,
                             {"tokenizer.json": {"normalizer": {"type": "BertNormalizer", "lowercase": False}}})
    assert read_checkpoint(fast)[2] is False
    silent = _write_checkpoint(tmp_path / "silent", weights, {})
    with pytest.raises(ModelError, match=r"silent: neither tokenizer_config.json nor tokenizer.json says whether"):
        read_checkpoint(silent)
