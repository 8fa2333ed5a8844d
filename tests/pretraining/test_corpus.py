"""The pretraining corpus: which texts enter, how they are packed. No TensorFlow."""

from __future__ import annotations

import numpy as np
import pytest

from bertclf.config import load_config
from bertclf.data import load_data
from bertclf.errors import DataError, ModelError
from bertclf.pretraining.corpus import gather_texts, pack_corpus, read_unlabelled, special_ids
from conftest import make_dataset_tree, write_config

CLS, SEP, PAD = 2, 3, 0


def _config(tmp_path, pretrain: str, data_extra: str = ""):
    make_dataset_tree(tmp_path / "data", train=30, test=6)
    return load_config(write_config(tmp_path / "config.yaml", f"""
data: {{path: data, validation_split: 0.25, max_train_examples: 10{data_extra}}}
model: {{encoder: tiny}}
pretrain: {pretrain}
"""))


def test_all_training_texts_enter_but_never_validation_or_test_ones(tmp_path):
    (tmp_path / "extra.txt").write_text("an unlabelled line\n\nanother unlabelled line\n", encoding="utf-8")
    config = _config(tmp_path, "{train_texts: all, unlabelled: [extra.txt]}")
    data = load_data(config.data, config.experiment.seed)
    # A test text copied into the unlabelled file must not get in either.
    (tmp_path / "extra.txt").write_text(f"an unlabelled line\n\nanother unlabelled line\n{data.test.texts[0]}\n",
                                        encoding="utf-8")
    corpus = gather_texts(config, data)
    held_back = set(data.validation.texts) | set(data.test.texts)
    assert held_back and not held_back & set(corpus.texts)
    assert set(data.train.texts) <= set(corpus.texts)
    # 60 training-folder texts: 15 validation, 10 labelled, the rest left out by max_train_examples.
    left_out = [t for t in data.left_out]
    assert left_out and set(left_out) <= set(corpus.texts)
    assert corpus.sources[str(tmp_path / "extra.txt")] == 2  # the blank line and the test text dropped
    assert len(corpus.texts) == len(set(corpus.texts))


def test_labelled_only_and_none(tmp_path):
    config = _config(tmp_path, "{train_texts: labelled}")
    data = load_data(config.data, config.experiment.seed)
    assert sorted(gather_texts(config, data).texts) == sorted(set(data.train.texts))
    nothing = config.model_copy(update={"pretrain": config.pretrain.model_copy(update={"train_texts": "none"})})
    with pytest.raises(DataError, match="no texts to pretrain on"):
        gather_texts(nothing, data)


def test_unlabelled_sources(tmp_path):
    folder = tmp_path / "unsup"
    (folder / "deep").mkdir(parents=True)
    (folder / "a.txt").write_text("first review", encoding="utf-8")
    (folder / "deep" / "b.txt").write_text("second review", encoding="utf-8")
    assert read_unlabelled(folder) == ["first review", "second review"]
    table = tmp_path / "texts.tsv"
    table.write_text("id\tdocument\n1\t좋은 영화\n2\t별로\n", encoding="utf-8")
    assert read_unlabelled(table, "document") == ["좋은 영화", "별로"]
    with pytest.raises(DataError, match=r"texts.tsv: no column 'text'.*data.text_column"):
        read_unlabelled(table, "text")
    with pytest.raises(DataError, match="no such file or folder"):
        read_unlabelled(tmp_path / "missing.txt")
    lines = tmp_path / "texts.jsonl"
    lines.write_text('{"text": "one"}\nnot json\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"texts.jsonl:2: not a JSON object"):
        read_unlabelled(lines)


def test_packing_fills_sequences_and_holds_out_whole_documents():
    rng = np.random.default_rng(0)
    documents = [rng.integers(5, 50, size=rng.integers(1, 30)) for _ in range(200)]
    packed = pack_corpus(documents, seq_length=16, cls_id=CLS, sep_id=SEP, pad_id=PAD, held_out_sequences=5,
                         seed=1)
    for rows in (packed.train, packed.held_out):
        assert rows.shape[1] == 16 and (rows[:, 0] == CLS).all()
        lengths = (rows != PAD).sum(axis=1)
        assert (rows[np.arange(len(rows)), lengths - 1] == SEP).all()  # each row closes with [SEP]
        assert (lengths[:-1] == 16).all()  # only the last row has padding
    # Whole documents are held out (about 5 sequences' worth), and every token is kept once.
    assert 1 <= packed.held_out_documents <= 20  # a tenth of the documents at most
    assert packed.train_documents + packed.held_out_documents == 200
    body = lambda rows: rows[(rows != PAD) & (rows != CLS) & (rows != SEP)]
    assert len(body(packed.train)) + len(body(packed.held_out)) == sum(len(d) for d in documents)
    # At least the 5 asked for; over by at most the last document taken (30 tokens, 14 a row).
    assert 5 <= len(packed.held_out) <= 5 + 3


def test_too_little_text_and_a_vocabulary_without_special_tokens():
    with pytest.raises(DataError, match="at least two"):
        pack_corpus([np.array([7, 8])], 16, CLS, SEP, PAD, 4, seed=0)
    assert special_ids(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]) == {
        "pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
    with pytest.raises(ModelError, match=r"lacks \[MASK\]"):
        special_ids(["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
