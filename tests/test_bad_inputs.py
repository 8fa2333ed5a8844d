"""The bad-input table: each row gives one `error:` line naming the problem, and its exit code.

2: the command line or config is invalid (found before any data is read);
1: the run fails on what it finds (data, encoder, run folder). No tracebacks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bertclf.cli import main
from conftest import write_class_folders, write_config


def _data(root: Path) -> Path:
    return write_class_folders(root / "data" / "train", {"pos": ["good film", "fine acting", "loved it"],
                                                         "neg": ["bad film", "dull plot", "hated it"]}).parent


def _config(tmp: Path, body: str) -> Path:
    _data(tmp)
    return write_config(tmp / "c.yaml", body + ("" if "model:" in body else "model:\n  encoder: tiny\n"))


def missing_config(tmp):
    return ["train", str(tmp / "nope.yaml")]


def yaml_syntax(tmp):
    return ["train", str(_config(tmp, "model:\n  encoder: tiny\ndata:\n  path: data\n  bad: [1,\n"))]


def unknown_key(tmp):
    return ["train", str(_config(tmp, "data:\n  path: data\ntrain:\n  lerning_rate: 0.1\n"))]


def wrong_type(tmp):
    return ["train", str(_config(tmp, "data:\n  path: data\ntrain:\n  epochs: many\n"))]


def negative_epochs(tmp):
    return ["train", str(_config(tmp, "data:\n  path: data\ntrain:\n  epochs: -1\n"))]


def negative_batch_size(tmp):
    return ["train", str(_config(tmp, "data:\n  path: data\n")), "--set", "train.batch_size=-4"]


def learning_rate_out_of_range(tmp):
    return ["train", str(_config(tmp, "data:\n  path: data\ntrain:\n  learning_rate: 5\n"))]


def data_path_missing(tmp):
    return ["train", str(_config(tmp, "data:\n  path: elsewhere\n"))]


def empty_data(tmp):
    for name in ("pos", "neg"):
        (tmp / "empty" / "train" / name).mkdir(parents=True)
    return ["train", str(_config(tmp, "data:\n  path: empty\n"))]


def one_class_only(tmp):
    write_class_folders(tmp / "one" / "train", {"pos": ["good", "great"]})
    return ["train", str(_config(tmp, "data:\n  path: one\n"))]


def csv_without_text_column(tmp):
    (tmp / "t.csv").write_text("review,label\nhi,pos\nyo,neg\n", encoding="utf-8")
    return ["train", str(_config(tmp, "data:\n  format: csv\n  train_path: t.csv\n"))]


def label_value_neither_0_nor_1(tmp):
    (tmp / "m.csv").write_text("text,related,food\nwe need food,1,1\nthe storm,2,0\n", encoding="utf-8")
    return ["train", str(_config(tmp, "data:\n  format: csv\n  train_path: m.csv\n  multi_label: true\n"))]


def multi_label_class_folders(tmp):
    return ["train", str(_config(tmp, "data:\n  path: data\n  multi_label: true\n"))]


def multi_label_one_class_threshold(tmp):
    rows = "".join(f"message {i},{i % 2},{(i // 2) % 2}\n" for i in range(20))
    (tmp / "m.csv").write_text("text,water,food\n" + rows, encoding="utf-8")
    return ["train", str(_config(tmp, "data:\n  format: csv\n  train_path: m.csv\n  multi_label: true\n"
                                      "train:\n  threshold: {precision: 0.9}\n"))]


def encoder_unreachable(tmp):
    # .invalid never resolves (RFC 2606), online or not, and no TF Hub cache can hold it.
    return ["train", str(_config(tmp, "data:\n  path: data\nmodel:\n  encoder: remote\n"
                                      "  encoder_handle: https://models.invalid/bert/encoder/1\n"
                                      "  preprocess_handle: https://models.invalid/bert/preprocess/1\n"))]


def not_a_bert_encoder(tmp):
    (tmp / "notbert").mkdir()
    (tmp / "notbert" / "weights.bin").write_bytes(b"\0" * 16)
    return ["train", str(_config(tmp, "data:\n  path: data\nmodel:\n  encoder: notbert\n"))]


def run_without_model(tmp):
    (tmp / "run").mkdir()
    return ["predict", "x", "--model", str(tmp / "run")]


def evaluate_without_runs(tmp):
    return ["evaluate", "--runs-dir", str(tmp / "runs")]


def predict_file_missing(tmp):
    return ["predict", "--file", str(tmp / "texts.txt"), "--model", str(tmp)]


def predict_file_not_utf8(tmp):
    (tmp / "texts.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    return ["predict", "--file", str(tmp / "texts.txt"), "--model", str(tmp)]


def unknown_option(tmp):
    return ["train", "--no-such-option"]


TABLE = [
    (missing_config, 2, "nope.yaml: no such config file"),
    (yaml_syntax, 2, "c.yaml:6:1: YAML syntax error"),
    (unknown_key, 2, "c.yaml: train.lerning_rate: unknown key; did you mean train.learning_rate?"),
    (wrong_type, 2, "c.yaml: train.epochs: Input should be a valid integer"),
    (negative_epochs, 2, "c.yaml: train.epochs: Input should be greater than or equal to 1 (got -1)"),
    (negative_batch_size, 2, "train.batch_size: Input should be greater than or equal to 1 (got -4)"),
    (learning_rate_out_of_range, 2, "c.yaml: train.learning_rate: Input should be less than or equal to 1 (got 5)"),
    (data_path_missing, 1, "elsewhere does not exist; point it at a folder holding train/<class>/*.txt"),
    (empty_data, 1, "train: no usable examples (0 read"),
    (one_class_only, 1, "only one class ('pos'); a classifier needs at least two labels"),
    (csv_without_text_column, 1, "t.csv: no column 'text' in the header (review, label); set data.text_column"),
    (label_value_neither_0_nor_1, 2, "m.csv:3: column 'related' holds '2', neither 0 nor 1; say what it means "
                                     "with data.label_values"),
    (multi_label_class_folders, 2, "data.multi_label: class folders give each text one label"),
    (multi_label_one_class_threshold, 2, "train.threshold: "),
    (encoder_unreachable, 1, "this machine may be offline: use a local encoder folder in model.encoder"),
    (not_a_bert_encoder, 2, "notbert has no encoder/saved_model.pb; an encoder folder holds encoder/ and preprocessor/"),
    (run_without_model, 1, "run: has no exported model/; the run did not finish"),
    (evaluate_without_runs, 1, "no finished run in"),
    (predict_file_missing, 2, "texts.txt: no such file"),
    (predict_file_not_utf8, 2, "texts.txt: not UTF-8 (byte 3); re-save it as UTF-8"),
    (unknown_option, 2, "No such option: --no-such-option"),
]


@pytest.mark.parametrize("make_argv,exit_code,message", TABLE, ids=[row[0].__name__ for row in TABLE])
def test_bad_input_gets_one_line_and_an_exit_code(tmp_path, monkeypatch, capsys, make_argv, exit_code, message):
    monkeypatch.chdir(tmp_path)
    code = main(make_argv(tmp_path))
    err = capsys.readouterr().err
    assert code == exit_code, err
    assert message in err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    if make_argv is not unknown_option:  # usage errors are Typer's box, not an error: line
        assert len(errors) == 1 and message in errors[0], err


# float32 loads the SavedModel as it is; a reduced precision first reads its weights for a
# native rebuild. Each path must refuse a SavedModel that is not a BERT encoder in one line.
@pytest.mark.slow
@pytest.mark.parametrize("precision,message", [
    ("float32", "fake/encoder: not a BERT encoder (it does not take input_word_ids"),
    ("mixed_bfloat16", "fake/encoder: not a tf-models-official BertEncoder (no 'word_embeddings/embeddings'"),
])
def test_saved_model_that_is_not_a_bert_encoder(tmp_path, tiny_encoder_dir, capsys, precision, message):
    import shutil

    fake = tmp_path / "fake"
    shutil.copytree(tiny_encoder_dir, fake)
    shutil.rmtree(fake / "encoder")
    shutil.copytree(fake / "preprocessor", fake / "encoder")  # a SavedModel, but a tokenizer
    # This one gets as far as opening a run folder: beside the config, not in the working directory.
    config = _config(tmp_path, "experiment:\n  output_dir: runs\ndata:\n  path: data\nmodel:\n  encoder: fake\n"
                               f"  seq_length: 16\nruntime:\n  precision: {precision}\n")
    assert main(["train", str(config)]) == 1
    err = capsys.readouterr().err
    assert message in err
    lines = err.strip().splitlines()  # progress lines, then the error
    assert "Traceback" not in err and lines[-1].startswith("error: ")
    assert sum(line.startswith("error:") for line in lines) == 1


@pytest.mark.slow
def test_empty_and_very_long_texts_are_predicted(binary_run, capsys):
    import json

    assert main(["predict", "", "word " * 5000, "--model", str(binary_run), "--json"]) == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in results] == ["", "word " * 5000]
    assert all(r["label"] in ("neg", "pos") and abs(sum(r["probabilities"].values()) - 1) < 1e-5 for r in results)


def test_configs_never_execute_yaml_tags(tmp_path, capsys):
    marker = tmp_path / "pwned"
    config = _config(tmp_path, f"data:\n  path: !!python/object/apply:os.system ['touch {marker}']\n")
    assert main(["config", "check", str(config)]) == 2
    assert not marker.exists()
    assert "c.yaml" in capsys.readouterr().err
