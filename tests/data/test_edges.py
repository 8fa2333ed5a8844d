"""Data at the edges, where a model used to come out silently different: pair columns decided by
every row, in-memory pairs, `data.stratify: false` everywhere it samples, `evaluate --data` on
class folders, an empty validation split."""

from __future__ import annotations

import json
import random

import pytest

from bertclf.config import DataConfig
from bertclf.data import load_data, read_eval_source
from bertclf.errors import DataError
from conftest import write_class_folders


def _pair_rows(count: int) -> list[dict]:
    return [{"premise": f"premise {i}", "hypothesis": f"hypothesis {i}", "label": "same" if i % 2 else "other"}
            for i in range(count)]


def test_a_csv_pair_data_set_whose_first_row_lacks_its_second_text_still_reads_pairs(tmp_path):
    # The second text is the last column and the first row stops before it (a short row): the
    # csv module gives None there, and the whole split used to be read as single texts.
    rows = ["premise,label,hypothesis", "first,same"] + [f"p{i},{'same' if i % 2 else 'other'},h{i}"
                                                         for i in range(9)]
    (tmp_path / "pairs.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    data = load_data(DataConfig(format="csv", train_path=str(tmp_path / "pairs.csv"), text_column="premise",
                                text_pair_column="hypothesis", validation_split=0.3), seed=0)
    both = data.train.pairs + data.validation.pairs
    assert data.train.pairs is not None and data.validation.pairs is not None
    assert sorted(both) == sorted([""] + [f"h{i}" for i in range(9)])


def test_a_jsonl_line_without_the_pair_key_is_one_line_naming_it(tmp_path):
    rows = _pair_rows(6)
    del rows[3]["hypothesis"]
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{path}:4: no key 'hypothesis' \(data.text_pair_column\); every line"):
        load_data(DataConfig(format="jsonl", train_path=str(path), text_column="premise",
                             text_pair_column="hypothesis"), seed=0)


def test_in_memory_pair_data_keeps_its_second_texts(tmp_path):
    import pandas

    from bertclf.api import _resolve_config

    frame = pandas.DataFrame(_pair_rows(10))
    config = _resolve_config({"experiment": {"name": "pairs", "output_dir": str(tmp_path / "runs")},
                              "data": {"text_column": "premise", "text_pair_column": "hypothesis"},
                              "model": {"encoder": "tiny"}},
                             None, {"train": frame, "validation": None, "test": None})
    data = load_data(config.data, seed=0)
    assert sorted(data.train.pairs + data.validation.pairs) == sorted(frame["hypothesis"])
    # Lists carry (text, second text, label) for a pair config; a (text, label) pair is refused.
    with pytest.raises(DataError, match=r"example 1 is not a \(text, second text, label\) tuple"):
        _resolve_config({"data": {"text_pair_column": "hypothesis"}, "model": {"encoder": "tiny"},
                         "experiment": {"output_dir": str(tmp_path / "runs")}},
                        None, {"train": [("a", "same")], "validation": None, "test": None})


def test_stratify_false_is_honoured_by_caps_and_sampling(tmp_path):
    from bertclf.data.splits import sample

    # 90 of one class, 10 of the other: a stratified cap of 10 always keeps 9 and 1.
    write_class_folders(tmp_path / "train", {"big": [f"big {i}" for i in range(90)],
                                             "small": [f"small {i}" for i in range(10)]})
    write_class_folders(tmp_path / "validation", {"big": ["b"], "small": ["s"]})

    def kept(stratify: bool, seed: int) -> int:
        config = DataConfig(path=str(tmp_path), validation_dir="validation", test_dir=None, max_train_examples=10,
                            stratify=stratify)
        return load_data(config, seed=seed).train.labels.count(1)

    assert {kept(True, seed) for seed in range(12)} == {1}
    assert len({kept(False, seed) for seed in range(12)}) > 1  # plain draws: the share varies
    labels = [0] * 90 + [1] * 10
    assert sorted(labels[i] for i in sample(labels, 10, random.Random(0), stratify=True)).count(1) == 1


def test_evaluate_data_reads_only_the_runs_class_folders(tmp_path):
    # IMDB's train/ holds unsup/ beside neg/ and pos/; the run's data.classes names the two it learnt.
    folder = write_class_folders(tmp_path / "train", {"neg": ["bad"], "pos": ["good"], "unsup": ["meh", "hm"]})
    config = DataConfig(path=str(tmp_path), classes=["neg", "pos"])
    split = read_eval_source(folder, config, ["neg", "pos"])
    assert sorted(zip(split.labels, split.texts)) == [(0, "bad"), (1, "good")]


def test_an_empty_validation_split_is_refused_before_training(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\na,x\nb,y\nc,x\n", encoding="utf-8")
    (tmp_path / "validation.csv").write_text("text,label\n,x\n", encoding="utf-8")  # its one row has no text
    with pytest.raises(DataError, match=rf"^{tmp_path / 'validation.csv'}: no usable examples \(1 read, skipped: "
                                        r"\{'empty_text': 1\}\); training needs a validation split"):
        load_data(DataConfig(format="csv", train_path=str(tmp_path / "train.csv"),
                             validation_path=str(tmp_path / "validation.csv")), seed=0)
