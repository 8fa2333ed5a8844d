"""CSV, TSV and JSON-lines data: parsing, labels, filters, sampling, pairs, the report."""

from __future__ import annotations

import json

import pytest

from bertclf.config import DataConfig
from bertclf.data import load_data
from bertclf.errors import DataError
from conftest import PROJECT_ROOT, SHARED_DATA, synthetic_texts


def _table(tmp_path, name, text, **data):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    fmt = {"csv": "csv", "tsv": "tsv", "jsonl": "jsonl"}[name.rsplit(".", 1)[1]]
    return DataConfig(format=fmt, train_path=str(path), **data)


def _csv_rows(count_per_class=10):
    lines = ["text,label"]
    for label in ("neg", "pos"):
        lines += [f'"{t}",{label}' for t in synthetic_texts(label, count_per_class)]
    return "\n".join(lines) + "\n"


def test_csv_quotes_embedded_newlines_bom_and_crlf(tmp_path):
    text = ('\ufefftext,label\r\n"a, quoted ""review""\r\nover two lines",pos\r\n'
            'plain review,neg\r\n"third, with comma",pos\r\nfourth,neg\r\n')
    data = load_data(_table(tmp_path, "d.csv", text, validation_split=0.5), seed=0)
    texts = sorted(data.train.texts + data.validation.texts)
    assert 'a, quoted "review"\r\nover two lines' in texts and "third, with comma" in texts
    assert data.class_names == ["neg", "pos"]


def test_tsv_with_embedded_quotes_and_integer_labels(tmp_path):
    rows = "id\tdocument\tlabel\n" + "".join(f'{i}\tsays "great" {i}\t{i % 3}\n' for i in range(30))
    data = load_data(_table(tmp_path, "d.tsv", rows, text_column="document", validation_split=0.2), seed=0)
    assert data.class_names == ["0", "1", "2"]
    assert len(data.train) + len(data.validation) == 30
    assert any(t.startswith('says "great"') for t in data.train.texts)


def test_integer_labels_sort_numerically_and_take_names(tmp_path):
    rows = "text\tlabel\n" + "".join(f"t{i} x\t{label}\n" for i, label in enumerate([10, 2, 1] * 4))
    data = load_data(_table(tmp_path, "d.tsv", rows, label_names={1: "one", 2: "two", 10: "ten"}), seed=0)
    assert data.class_names == ["one", "two", "ten"]


def test_jsonl_with_string_and_numeric_labels(tmp_path):
    lines = [json.dumps({"text": t, "label": 1 if i % 2 else 0}) for i, t in enumerate(synthetic_texts("pos", 8))]
    data = load_data(_table(tmp_path, "d.jsonl", "\n".join(lines) + "\n\n"), seed=0)
    assert data.class_names == ["0", "1"] and len(data.train) + len(data.validation) == 8


def test_jsonl_bad_line_is_named(tmp_path):
    with pytest.raises(DataError, match=r"d.jsonl:2: not valid JSON"):
        load_data(_table(tmp_path, "d.jsonl", '{"text": "a", "label": 0}\n{"text": oops}\n'), seed=0)


def test_missing_column_is_named_with_the_header(tmp_path):
    with pytest.raises(DataError, match=r"no column 'review' in the header \(text, label\); set data.text_column"):
        load_data(_table(tmp_path, "d.csv", _csv_rows(), text_column="review"), seed=0)


def test_label_unknown_to_training_names_row(tmp_path):
    config = _table(tmp_path, "d.csv", _csv_rows())
    test = tmp_path / "test.csv"
    test.write_text("text,label\ngood one,pos\nodd one,neutral\n", encoding="utf-8")
    config = config.model_copy(update={"test_path": str(test)})
    with pytest.raises(DataError, match=r"test.csv:3: label 'neutral' is not among the training labels \(neg, pos\)"):
        load_data(config, seed=0)


def test_not_utf8_is_an_error_naming_the_file(tmp_path):
    with pytest.raises(DataError, match=r"d.csv: not UTF-8"):
        load_data(_table(tmp_path, "d.csv", "text,label\ncaf\xe9,pos\n".encode("latin-1")), seed=0)


def test_empty_short_and_unlabelled_rows_are_skipped_and_counted(tmp_path):
    rows = _csv_rows() + ',pos\n"   ",neg\nhey,pos\nno label here,\n'
    data = load_data(_table(tmp_path, "d.csv", rows, min_text_length=4), seed=0)
    report = data.report["splits"]["train"]
    assert report["rows_read"] == 24
    assert report["skipped"] == {"empty_text": 2, "missing_label": 1, "too_short": 1}
    assert len(data.train) + len(data.validation) == 20


def test_sampling_is_stratified_and_seeded(tmp_path):
    rows = "text,label\n" + "".join(f"text {i},{'rare' if i < 10 else 'common'}\n" for i in range(100))
    config = _table(tmp_path, "d.csv", rows, sample_fraction=0.5, validation_split=0.2)
    first, again = load_data(config, seed=3), load_data(config, seed=3)
    assert len(first.train) + len(first.validation) == 50
    assert (first.train.labels + first.validation.labels).count(first.class_names.index("rare")) == 5
    assert first.train.texts == again.train.texts
    unstratified = load_data(config.model_copy(update={"stratify": False}), seed=3)
    assert len(unstratified.validation) == 10


def test_report_warns_on_rare_class_leakage_and_missing_class(tmp_path):
    rows = "text,label\n" + "".join(f"text {i},{'rare' if i == 0 else 'common'}\n" for i in range(200))
    test = tmp_path / "test.csv"
    test.write_text("text,label\ntext 5,common\nnew text,common\n", encoding="utf-8")
    data = load_data(_table(tmp_path, "d.csv", rows, test_path=str(test)), seed=0)
    warnings = "\n".join(data.report["warnings"])
    assert "class 'rare' is 0.6" in warnings
    assert "test: 1 text(s) also occur in train" in warnings
    assert "test: no examples of 'rare'" in warnings


def test_text_pairs_are_read_together(tmp_path):
    rows = "a\tb\tlabel\n" + "".join(f"first {i}\tsecond {i}\t{i % 2}\n" for i in range(10))
    data = load_data(_table(tmp_path, "d.tsv", rows, text_column="a", text_pair_column="b"), seed=0)
    for text, pair in zip(data.train.texts, data.train.pairs):
        assert text.replace("first", "second") == pair


def test_table_config_rules():
    with pytest.raises(ValueError, match="needs data.train_path"):
        DataConfig(format="csv")
    with pytest.raises(ValueError, match="data.train_path is for csv/tsv/jsonl"):
        DataConfig(path="x", train_path="y")


@pytest.mark.skipif(not (SHARED_DATA / "nsmc").is_dir(), reason="../shared/data not present")
def test_nsmc_empty_documents_are_counted(monkeypatch):
    from bertclf.config import load_config

    monkeypatch.setenv("BERTCLF_DATA", str(SHARED_DATA))  # the data root nsmc.yaml reads its files from
    # Without the config's 2,000-review evaluation sample: the whole splits, as `evaluate --full` sees them.
    config = load_config(PROJECT_ROOT / "configs" / "nsmc.yaml", ["data.max_eval_examples=null"])
    data = load_data(config.data, config.experiment.seed)
    train, test = data.report["splits"]["train"], data.report["splits"]["test"]
    assert train["rows_read"] == 150_000 and test["rows_read"] == 50_000
    assert train["skipped"]["empty_text"] == 5 and test["skipped"]["empty_text"] == 3
    assert "too_short" not in train["skipped"]  # every non-empty review is kept (all of test is scored)
    assert data.class_names == ["negative", "positive"]
    # 2% of the 149,995 non-empty training reviews validate; the test split is whole.
    assert len(data.validation) == 2_999 and len(data.train) == 146_996 and len(data.test) == 49_997
