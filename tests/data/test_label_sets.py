"""Iterative stratification: every label on both sides of a validation split, in its share."""

from __future__ import annotations

import csv
import random

import pytest

from bertclf.data.label_sets import iterative_partition
from conftest import SHARED_DATA, needs_shared_data


def _synthetic(n: int, labels: int, seed: int) -> list[list[int]]:
    """Label sets with a long tail: label k is carried by about 1 in 2**k examples; some have none."""
    rng = random.Random(seed)
    return [[k for k in range(labels) if rng.random() < 0.5 ** (k + 1)] for _ in range(n)]


def _counts(label_sets, indices) -> dict[int, int]:
    counts: dict[int, int] = {}
    for i in indices:
        for label in label_sets[i]:
            counts[label] = counts.get(label, 0) + 1
    return counts


@pytest.mark.parametrize("fraction", [0.1, 0.2, 0.5])
def test_every_label_with_two_examples_is_on_both_sides_in_about_its_share(fraction):
    label_sets = _synthetic(2_000, 10, seed=1)
    held_out, rest = iterative_partition(label_sets, fraction, random.Random(0))
    assert sorted(held_out + rest) == list(range(2_000))
    assert abs(len(held_out) - 2_000 * fraction) <= 2
    total, left, right = _counts(label_sets, range(2_000)), _counts(label_sets, held_out), _counts(label_sets, rest)
    for label, count in total.items():
        if count >= 2:
            assert left.get(label, 0) >= 1 and right.get(label, 0) >= 1, (label, count)
        # Within one example (or 10% of its share for frequent labels) of the share asked for.
        assert abs(left.get(label, 0) - count * fraction) <= max(1.0, 0.1 * count * fraction), (label, count)


def test_the_same_seed_gives_the_same_split_and_another_seed_another():
    label_sets = _synthetic(500, 6, seed=2)
    first = iterative_partition(label_sets, 0.2, random.Random(7))
    assert first == iterative_partition(label_sets, 0.2, random.Random(7))
    assert first != iterative_partition(label_sets, 0.2, random.Random(8))


def test_a_label_with_two_examples_gets_one_each_side_and_examples_without_labels_are_dealt_too():
    label_sets = [[0], [0], [], [], [], [], [], [], [], [1], [1], [1]]
    held_out, rest = iterative_partition(label_sets, 0.25, random.Random(3))
    assert sum(0 in label_sets[i] for i in held_out) == 1 and sum(1 in label_sets[i] for i in held_out) == 1
    assert len(held_out) == 3 and len(rest) == 9


@needs_shared_data
def test_on_the_disaster_messages_each_learnable_label_keeps_its_share_better_than_a_random_split():
    """The real training file: 21,046 messages, 37 columns (three never positive in train)."""
    with (SHARED_DATA / "disaster_response" / "train.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        names = [name for name in reader.fieldnames if name not in ("id", "message", "original", "genre")]
        label_sets = [[j for j, name in enumerate(names) if row[name] != "0"] for row in reader]
    held_out, rest = iterative_partition(label_sets, 0.1, random.Random(42))
    total, left = _counts(label_sets, range(len(label_sets))), _counts(label_sets, held_out)
    assert len(total) == 34 and all(left.get(label, 0) >= 1 for label, count in total.items() if count >= 2)
    stratified = max(abs(left.get(label, 0) / count - 0.1) for label, count in total.items())
    shuffled = list(range(len(label_sets)))
    random.Random(42).shuffle(shuffled)
    plain = _counts(label_sets, shuffled[:len(held_out)])
    unstratified = max(abs(plain.get(label, 0) / count - 0.1) for label, count in total.items())
    assert stratified < unstratified and stratified <= 0.02, (stratified, unstratified)


# --- reading ----------------------------------------------------------------------------------------------

from bertclf.data.label_sets import read_label_sets  # noqa: E402
from bertclf.errors import DataError  # noqa: E402


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_zero_one_columns_named_or_found_and_a_row_may_have_no_label(tmp_path):
    table = _write(tmp_path / "t.csv", "id,text,genre,water,food\n7,need water,direct,1,0\n"
                                       "8,need water and food,news,1,1\n9,all is calm,direct,0,0\n")
    found = read_label_sets(table, "csv", "text", "label")
    assert found.label_names == ["water", "food"]  # id and genre are not 0/1 columns
    assert [row.labels for row in found.rows] == [("water",), ("water", "food"), ()]
    assert found.rows[1].where == f"{table}:3"
    named = read_label_sets(table, "csv", "text", "label", label_columns=["food"])
    assert [row.labels for row in named.rows] == [(), ("food",), ()]


def test_a_value_neither_0_nor_1_is_one_line_naming_file_line_column_and_the_key_that_decides(tmp_path):
    table = _write(tmp_path / "t.csv", "text,related,food\na,1,0\nb,2,1\nc,0,0\n")
    with pytest.raises(DataError, match=rf"^{table}:3: column 'related' holds '2', neither 0 nor 1; say what it "
                                        rf"means with data.label_values \(e.g. \{{'2': 1\}}\) or fix the file$"):
        read_label_sets(table, "csv", "text", "label")
    read = read_label_sets(table, "csv", "text", "label", values={"2": 1})
    assert [row.labels for row in read.rows] == [("related",), ("related", "food"), ()] and len(read.rows) == 3


def test_delimited_names_and_json_lists(tmp_path):
    table = _write(tmp_path / "t.tsv", "text\ttags\nflooded road\tfloods|infrastructure\nquiet\t\n"
                                       "no food\tfood | \n")
    read = read_label_sets(table, "tsv", "text", "tags", separator="|")
    assert [row.labels for row in read.rows] == [("floods", "infrastructure"), (), ("food",)]
    assert read.label_names == ["floods", "food", "infrastructure"]
    lines = _write(tmp_path / "t.jsonl", '{"text": "a", "label": ["x", "y"]}\n{"text": "b", "label": []}\n')
    assert [row.labels for row in read_label_sets(lines, "jsonl", "text", "label").rows] == [("x", "y"), ()]
    bad = _write(tmp_path / "bad.jsonl", '{"text": "a", "label": ["x"]}\n{"text": "b", "label": "x"}\n')
    with pytest.raises(DataError, match=rf"^{bad}:2: 'label' is \"x\", not a list of labels"):
        read_label_sets(bad, "jsonl", "text", "label")
    columns = _write(tmp_path / "c.jsonl", '{"text": "a", "x": 1, "y": 0}\n{"text": "b", "x": 0, "y": 1}\n')
    assert [row.labels for row in read_label_sets(columns, "jsonl", "text", "label", label_columns=["x", "y"]).rows] \
        == [("x",), ("y",)]


def test_a_blank_label_cell_skips_the_row_and_a_missing_column_names_the_key(tmp_path):
    table = _write(tmp_path / "t.csv", "text,water,food\na,1,\nb,0,1\n")
    read = read_label_sets(table, "csv", "text", "label", label_columns=["water", "food"])
    assert len(read.rows) == 1 and read.skipped["missing_label"] == 1 and read.read == 2
    with pytest.raises(DataError, match=r"no column 'shelter' in the header \(text, water, food\); set "
                                        r"data.label_columns"):
        read_label_sets(table, "csv", "text", "label", label_columns=["shelter"])


@needs_shared_data
def test_the_disaster_messages_read_with_related_2_as_1_and_no_row_dropped():
    path = SHARED_DATA / "disaster_response" / "train.csv"
    with pytest.raises(DataError, match=r"column 'related' holds '2', neither 0 nor 1"):
        read_label_sets(path, "csv", "message", "label")
    read = read_label_sets(path, "csv", "message", "label", values={"2": 1})
    assert read.read == len(read.rows) == 21_046 and len(read.label_names) == 37
    assert read.label_names[0] == "related" and "id" not in read.label_names and "genre" not in read.label_names


# --- the config's keys ------------------------------------------------------------------------------------

from bertclf.config import load_config  # noqa: E402
from bertclf.errors import ConfigError  # noqa: E402


@pytest.mark.parametrize("data, message", [
    ("{format: csv, train_path: t.csv, label_columns: [a]}",
     r"data.label_columns is for texts with several labels; set data.multi_label: true, or remove it"),
    ("{path: d, multi_label: true}", r"data.multi_label: class folders give each text one label"),
    ("{format: csv, train_path: t.csv, multi_label: true, label_columns: [a], label_separator: '|'}",
     r"set one of them"),
    ("{format: csv, train_path: t.csv, multi_label: true, label_values: {2: 3}}",
     r"data.label_values.2: 3; a value means 0 \(label absent\) or 1 \(present\)"),
    ("{format: csv, train_path: t.csv, multi_label: true, class_sample: {a: 0.5}}",
     r"data.class_sample thins one class's texts"),
])
def test_multi_label_keys_that_would_be_ignored_or_cannot_apply_are_one_line(tmp_path, data, message):
    config = _write(tmp_path / "c.yaml", f"data: {data}\nmodel: {{encoder: tiny}}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(config)


def test_a_multi_label_config_loads_with_its_label_values_as_text(tmp_path):
    config = _write(tmp_path / "c.yaml", "data: {format: csv, train_path: t.csv, multi_label: true, "
                                         "label_values: {2: 1}}\nmodel: {encoder: tiny}\n")
    assert load_config(config).data.label_values == {"2": 1}


# --- loading a config's multi-label data ------------------------------------------------------------------

from bertclf.config import DataConfig  # noqa: E402
from bertclf.data import load_data  # noqa: E402


def test_a_label_without_training_positives_is_left_out_named_and_counted(tmp_path, capsys):
    rows = ["text,water,food,offer"] + [f"need water {i},1,0,0" for i in range(12)] + \
           [f"need food {i},0,1,0" for i in range(12)] + [f"calm {i},0,0,0" for i in range(6)]
    train = _write(tmp_path / "train.csv", "\n".join(rows) + "\n")
    test = _write(tmp_path / "test.csv", "text,water,food,offer\nwater please,1,0,0\nwe offer food,0,1,1\n")
    loaded = load_data(DataConfig(format="csv", train_path=str(train), test_path=str(test), multi_label=True,
                                  validation_split=0.25), seed=3)
    assert loaded.class_names == ["water", "food"]
    assert "warning: offer: no positive training example" in capsys.readouterr().err
    assert loaded.test.labels == [(0,), (1,)]
    assert loaded.report["left_out_labels"] == {"offer": {"train": 0, "test": 1}}
    assert len(loaded.validation) + len(loaded.train) == 30
    for split in (loaded.train, loaded.validation):  # every label on both sides
        assert {label for labels in split.labels for label in labels} == {0, 1}
    assert loaded.report["splits"]["train"]["texts_without_labels"] + \
        loaded.report["splits"]["validation"]["texts_without_labels"] == 6
    assert any("too rare to learn well" in warning for warning in loaded.report["warnings"])


@needs_shared_data
def test_the_disaster_messages_load_as_the_shipped_config_will_read_them(capsys):
    root = SHARED_DATA / "disaster_response"
    loaded = load_data(DataConfig(format="csv", train_path=str(root / "train.csv"),
                                  validation_path=str(root / "validation.csv"), test_path=str(root / "test.csv"),
                                  text_column="message", multi_label=True, label_values={"2": 1}), seed=42)
    # One message of train and one of validation are empty: skipped and counted, as in any table.
    assert len(loaded.class_names) == 34 and (len(loaded.train), len(loaded.validation), len(loaded.test)) == \
        (21_045, 2_572, 2_629)
    splits = loaded.report["splits"]
    assert [splits[name]["rows_read"] for name in ("train", "validation", "test")] == [21_046, 2_573, 2_629]
    assert splits["train"]["skipped"] == splits["validation"]["skipped"] == {"empty_text": 1}
    assert loaded.report["left_out_labels"]["offer"]["test"] == 119
    assert set(loaded.report["left_out_labels"]) == {"PII", "child_alone", "offer"}
