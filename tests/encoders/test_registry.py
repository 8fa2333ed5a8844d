"""The encoder registry: contents, lookup, folders, offline availability."""

from __future__ import annotations

import csv

import pytest

from bertclf.config import ModelConfig
from bertclf.errors import ConfigError
from bertclf.encoders.registry import get_spec, is_available_offline, load_registry, resolve_spec, spec_from_folder
from conftest import SHARED_DATA


def test_registry_holds_every_tutorial_encoder_with_its_preprocessor():
    registry = load_registry()
    small = [name for name in registry if name.startswith("small_bert/")]
    assert len(small) == 24  # L-2..12 x H-128..768
    for name in ("bert_en_uncased_L-12_H-768_A-12", "bert_en_cased_L-12_H-768_A-12",
                 "bert_multi_cased_L-12_H-768_A-12", "albert_en_base", "electra_small", "electra_base",
                 "experts_pubmed", "experts_wiki_books", "talking-heads_base"):
        spec = registry[name]
        assert spec.encoder_handle.startswith("https://tfhub.dev/")
        assert "preprocess" in spec.preprocess_handle
    assert registry["small_bert/bert_en_uncased_L-4_H-512_A-8"].layers == 4
    assert registry["small_bert/bert_en_uncased_L-4_H-512_A-8"].hidden == 512
    assert registry["bert_multi_cased_L-12_H-768_A-12"].cased is True
    assert registry["albert_en_base"].preprocess_handle.endswith("albert_en_preprocess/3")


@pytest.mark.skipif(not (SHARED_DATA.parent / "tfhub_bert_handles.tsv").is_file(),
                    reason="../shared/tfhub_bert_handles.tsv not present")
def test_registry_matches_the_handle_table():
    with (SHARED_DATA.parent / "tfhub_bert_handles.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    registry = load_registry()
    for row in rows:
        spec = registry[row["name"]]
        assert (spec.encoder_handle, spec.preprocess_handle) == (row["encoder_handle"], row["preprocess_handle"])


def test_unknown_name_suggests_close_ones():
    with pytest.raises(ConfigError, match="did you mean electra_small"):
        get_spec("electra_smal")


def test_explicit_handles_win(tmp_path):
    spec = resolve_spec(ModelConfig(encoder="mine", encoder_handle="/e", preprocess_handle="/p"))
    assert (spec.encoder_handle, spec.preprocess_handle, spec.source) == ("/e", "/p", "hub")


def test_folder_needs_both_saved_models(tmp_path):
    (tmp_path / "encoder").mkdir()
    (tmp_path / "encoder" / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ConfigError, match="no preprocessor/saved_model.pb"):
        spec_from_folder(tmp_path)


def test_offline_availability(tmp_path, monkeypatch):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hub-cache"))
    registry = load_registry()
    assert is_available_offline(registry["tiny"])
    assert not is_available_offline(registry["electra_small"])
    for sub in ("encoder", "preprocessor"):
        (tmp_path / "enc" / sub).mkdir(parents=True)
        (tmp_path / "enc" / sub / "saved_model.pb").write_bytes(b"")
    assert is_available_offline(spec_from_folder(tmp_path / "enc"))
