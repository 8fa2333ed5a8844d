"""Encoders written to the cache or a folder compute in float32, whatever the run trains in."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bertclf.cli import main
from conftest import e2e_config, synthetic_texts

# A bf16 run that builds `tiny` in an empty cache: tests/test_precision.py.

pytestmark = pytest.mark.slow


def export_bfloat16_encoder(out_dir: Path, vocab_file: Path) -> Path:
    """What bertclf before ENCODER_FORMAT_VERSION 2 wrote when a bf16 run built the encoder."""
    import tensorflow as tf
    from official.legacy.bert import configs
    from official.nlp.tools import export_tfhub_lib

    from bertclf.runtime.precision import keras_policy

    vocab_size = len(vocab_file.read_text(encoding="utf-8").splitlines())
    bert_config = configs.BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=64)
    with keras_policy("mixed_bfloat16"):
        encoder = export_tfhub_lib.get_bert_encoder(bert_config)
        checkpoint = tf.train.Checkpoint(encoder=encoder).save(str(out_dir.parent / "bf16-weights"))
        export_tfhub_lib.export_model(str(out_dir), bert_config=bert_config, model_checkpoint_path=checkpoint,
                                      with_mlm=False, vocab_file=str(vocab_file), do_lower_case=True)
    return out_dir


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("BERTCLF_CACHE", str(cache))
    return cache


def test_the_float32_check_sees_a_bfloat16_graph(tmp_path, tiny_encoder_dir):
    from bertclf.encoders.export import graph_float_dtypes, reduced_precision_problem

    poisoned = export_bfloat16_encoder(tmp_path / "encoder", tiny_encoder_dir / "vocab.txt")
    assert "bfloat16" in graph_float_dtypes(poisoned)
    assert "computes in bfloat16" in reduced_precision_problem(poisoned)
    assert reduced_precision_problem(tiny_encoder_dir / "encoder") is None


def test_a_poisoned_cache_entry_is_rebuilt_with_one_line(tmp_path, fresh_cache, capsys, tiny_encoder_dir):
    from bertclf.config import TinyEncoderConfig
    from bertclf.encoders.export import graph_float_dtypes
    from bertclf.encoders.tiny import cached_tiny_encoder
    from bertclf.runtime.tf_setup import setup_tensorflow

    setup_tensorflow()
    texts = synthetic_texts("pos", 20) + synthetic_texts("neg", 20)
    tiny = TinyEncoderConfig(layers=1, hidden=32, heads=2, vocab_size=200)
    folder = cached_tiny_encoder(texts, tiny, seed=1)
    shutil.rmtree(folder / "encoder")
    export_bfloat16_encoder(folder / "encoder", folder / "vocab.txt")
    capsys.readouterr()
    assert cached_tiny_encoder(texts, tiny, seed=1) == folder
    assert "computes in bfloat16" in capsys.readouterr().err
    assert graph_float_dtypes(folder / "encoder") == {"float32"}


def test_a_bfloat16_encoder_folder_is_refused_in_one_line(tmp_path, tiny_encoder_dir, capsys):
    folder = tmp_path / "bf16-encoder"
    shutil.copytree(tiny_encoder_dir / "preprocessor", folder / "preprocessor")
    export_bfloat16_encoder(folder / "encoder", tiny_encoder_dir / "vocab.txt")
    config = e2e_config(tmp_path, folder, name="refused")
    capsys.readouterr()
    assert main(["train", str(config)]) == 1
    err = capsys.readouterr().err
    assert "computes in bfloat16" in err and "re-export it in float32" in err
    assert "Traceback" not in err and len([line for line in err.splitlines() if line.startswith("error:")]) == 1


@pytest.mark.parametrize("source", ["hugging-face", "e5s1"])
def test_converting_inside_a_bfloat16_run_writes_a_float32_encoder(tmp_path, source):
    """What a bf16 run does when its converted encoder (MiniLM, e5) is not cached yet."""
    from bertclf.encoders import convert_source
    from bertclf.encoders.export import graph_float_dtypes
    from bertclf.runtime.precision import keras_policy
    from e5s1_files import write_tiny_e5s1
    from test_convert import tiny_bert_checkpoint
    from test_e5 import NORMALIZATION, tiny_vocabulary

    if source == "e5s1":
        checkpoint = tmp_path / "tiny-e5.bin"
        write_tiny_e5s1(checkpoint, *tiny_vocabulary(), normalization=NORMALIZATION)
    else:
        checkpoint = tiny_bert_checkpoint(tmp_path / "hf")
    with keras_policy("mixed_bfloat16"):
        convert_source(checkpoint, tmp_path / "out", text_prefix="query: " if source == "e5s1" else "")
    assert graph_float_dtypes(tmp_path / "out" / "encoder") == {"float32"}
