"""The Python API (`bertclf.train/load/evaluate`), driven as a notebook would drive it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import bertclf
from bertclf import artifacts
from bertclf.cli import main
from bertclf.errors import ConfigError, DataError
from conftest import PROJECT_ROOT, SHARED_DATA, e2e_config, synthetic_texts

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_run(tmp_path_factory, tiny_encoder_dir):
    work = tmp_path_factory.mktemp("api")
    return bertclf.train(e2e_config(work, tiny_encoder_dir), overrides={"train.epochs": 1})


def test_train_load_predict_evaluate_match_the_cli(api_run, capsys):
    assert isinstance(api_run, bertclf.Run) and (api_run.path / artifacts.MODEL_DIR).is_dir()
    assert api_run.metrics["epochs"] == 1  # the override reached the run
    clf = bertclf.load(api_run)
    assert clf.classes == json.loads((api_run.path / artifacts.LABELS_FILE).read_text()) == ["neg", "pos"]
    texts = ["A wonderful, charming film.", "Dull and tedious.", "It was a film."]
    probabilities = clf.predict_proba(texts)
    assert probabilities.shape == (3, 2) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    capsys.readouterr()
    assert main(["predict", "--model", str(api_run.path), "--json", *texts]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert np.allclose(probabilities, [[r["probabilities"][c] for c in clf.classes] for r in rows], atol=1e-6)
    assert clf.predict(texts) == [r["label"] for r in rows]
    assert bertclf.load(api_run.path).classes == clf.classes  # a path works as well as the Run
    metrics = bertclf.evaluate(api_run.path)
    assert metrics == json.loads((api_run.path / artifacts.eval_file("test")).read_text())
    assert metrics["examples"] == 16


def test_in_memory_data_from_a_dataframe_and_a_list_of_pairs(tmp_path, tiny_encoder_dir, monkeypatch):
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    rows = [(t, label) for label in ("neg", "pos") for t in synthetic_texts(label, 30, seed=4)]
    frame = pd.DataFrame(rows[::2], columns=["review", "sentiment"])
    run = bertclf.train({"experiment": {"name": "mine", "output_dir": "runs"},
                         "data": {"text_column": "review", "label_column": "sentiment"},
                         "model": {"encoder": str(tiny_encoder_dir), "seq_length": 32},
                         "train": {"epochs": 1, "batch_size": 8}, "runtime": {"progress": False}},
                        train_data=frame, validation_data=rows[1::2])
    saved = (run.path / artifacts.CONFIG_FILE).read_text()
    assert "format: jsonl" in saved and "in-memory-data" in saved
    assert run.metrics["validation"]["examples"] == 30 and "test" not in run.metrics
    # The written files reproduce the run: the same examples, in the configured columns.
    train_file = next((tmp_path / "runs" / "in-memory-data").glob("train-*.jsonl"))
    first = json.loads(train_file.read_text().splitlines()[0])
    assert first == {"review": rows[0][0], "sentiment": "neg"}


def test_mistakes_raise_the_clis_one_line_errors(tmp_path, tiny_encoder_dir):
    config = e2e_config(tmp_path, tiny_encoder_dir)
    with pytest.raises(ConfigError, match=r"train.epoch: unknown key; did you mean train.epochs\?"):
        bertclf.train(config, overrides={"train.epoch": 1})
    with pytest.raises(DataError, match=r"train_data: no column 'text' \(columns: words, label\)"):
        import pandas as pd

        bertclf.train(config, train_data=pd.DataFrame({"words": ["a"], "label": [1]}))
    with pytest.raises(DataError, match=r"train_data: example 1 is not a \(text, label\) tuple"):
        bertclf.train(config, train_data=["just text"])
    with pytest.raises(ConfigError, match="validation_data/test_data: give train_data too"):
        bertclf.train(config, validation_data=[("a", 1)])
    with pytest.raises(bertclf.BertclfError, match="no-run: no such run folder"):
        bertclf.load(tmp_path / "no-run")


def test_keras_3_imported_first_is_one_line_not_a_traceback(tmp_path):
    script = ("import tensorflow as tf; tf.keras.layers.Dense\n"
              "import bertclf\n"
              "try:\n    bertclf.load('nowhere')\n"
              "except bertclf.BertclfError as error:\n    print('ERROR', error)\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env=env)
    assert "ERROR TensorFlow was imported before bertclf with Keras 3" in done.stdout, done.stderr[-2000:]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"the shared data sets are not at {SHARED_DATA}")
def test_the_readme_example_runs_as_written(tmp_path, monkeypatch):
    """README "From Python", line for line (configs/smoke.yaml needs the IMDB archive)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BERTCLF_DATA", str(SHARED_DATA))
    (tmp_path / "configs").mkdir()  # a copy: its output_dir (../runs) then lands in tmp_path
    (tmp_path / "configs" / "smoke.yaml").write_text((PROJECT_ROOT / "configs" / "smoke.yaml").read_text())
    lines = [f"{t}\t{label}" for i in range(400) for label, t in
             ((0, synthetic_texts("neg", 400, seed=5)[i]), (1, synthetic_texts("pos", 400, seed=5)[i]))]
    (tmp_path / "my.tsv").write_text("text\tlabel\n" + "\n".join(lines) + "\n", encoding="utf-8")
    example = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8").split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    assert namespace["clf"].classes == ["neg", "pos"] and namespace["run2"].path.is_dir()
    assert namespace["df"].shape == (800, 2)
    # configs/smoke.yaml as shipped (tests/test_shipped_configs.py leaves it to this example):
    # the whole archive read, its caps applied, and a run that evaluate and report can use.
    run = namespace["run"].path
    splits = json.loads((run / artifacts.DATA_REPORT_FILE).read_text())["splits"]
    assert splits["train"]["rows_read"] == 25_000 and splits["test"]["rows_read"] == 25_000
    assert splits["train"]["examples"] == 1_000 and splits["test"]["examples"] == 128
    assert json.loads((run / artifacts.HISTORY_JSON_FILE).read_text())["val_accuracy"]
    assert main(["report", str(run)]) == 0 and "<h2>Results: test</h2>" in (run / artifacts.REPORT_FILE).read_text()
    from bertclf.cache import cache_root
    from bertclf.encoders.export import graph_float_dtypes

    for encoder in (cache_root() / "encoders").glob("*/encoder"):
        assert graph_float_dtypes(encoder) == {"float32"}, encoder


def test_predict_takes_a_series_or_a_frame_with_the_runs_column_and_missing_texts_as_empty(api_run):
    import pandas as pd

    clf = bertclf.load(api_run)
    texts = ["A wonderful, charming film.", "Dull and tedious."]
    expected = clf.predict_proba(texts)
    # A DataFrame used to be iterated: its column names were classified.
    assert np.allclose(clf.predict_proba(pd.Series(texts)), expected, atol=1e-6)
    assert np.allclose(clf.predict_proba(pd.DataFrame({"text": texts, "other": [1, 2]})), expected, atol=1e-6)
    assert clf.predict(pd.DataFrame({"text": texts})) == clf.predict(texts)
    with pytest.raises(DataError, match=r"texts: a DataFrame without the run's text column 'text' \(its columns: "
                                        r"review\); pass that column"):
        clf.predict(pd.DataFrame({"review": texts}))
    # NaN (pandas' missing value) is the empty text, as in a CSV file, not the text "nan".
    assert np.allclose(clf.predict_proba(pd.Series([None, float("nan")])), clf.predict_proba(["", ""]), atol=1e-6)


def test_in_memory_labels_are_read_as_a_csv_file_reads_them():
    from bertclf.data.in_memory import example_rows

    # pandas turns integer labels into floats beside a missing one; the missing one skips its row.
    rows = example_rows([("good", 1.0), ("bad", 0.0), (float("nan"), 1.0), ("unlabelled", float("nan"))], "train",
                 "text", "label")
    assert rows == [("good", 1), ("bad", 0), ("", 1), ("unlabelled", None)]
    with pytest.raises(DataError, match=r"example 1: label 0.5 is not a string or an integer"):
        example_rows([("half", 0.5)], "train", "text", "label")


def test_sweep_overrides_are_a_dict_as_train_takes_them(tmp_path, tiny_encoder_dir):
    import bertclf.sweep.runner  # noqa: F401  (the package now shadows the lazy API attribute)

    config = e2e_config(tmp_path, tiny_encoder_dir)
    # Still the function: a second bertclf.sweep(...) in a process called a module before.
    with pytest.raises(ConfigError, match=r"overrides: expected a dict of dotted keys to values"):
        bertclf.sweep(config, tmp_path / "space.yaml", overrides=["train.epochs=1"])
