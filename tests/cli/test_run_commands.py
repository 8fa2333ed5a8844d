"""One way to name a run, --json on every command with a result, predict on files, --debug anywhere."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from bertclf import artifacts
from bertclf.cli import main
from conftest import own_copy, synthetic_texts

pytestmark = pytest.mark.slow

KOREAN = "정말 재미있는 영화였어요"


@pytest.fixture()
def runs_dir(binary_run, threshold_run, tmp_path):
    """A runs folder with two finished runs, the thresholded one newest (its LATEST)."""
    folder = tmp_path / "runs"
    folder.mkdir()
    for run in (binary_run, threshold_run):
        shutil.copytree(run, folder / run.name)
    (folder / artifacts.LATEST_FILE).write_text(threshold_run.name)
    (folder / threshold_run.name / artifacts.METRICS_FILE).touch()  # the newest by its metrics' age too
    return folder


def _json_out(capsys):
    return json.loads(capsys.readouterr().out)


def test_every_run_command_takes_a_positional_run_or_the_newest(binary_run, runs_dir, capsys, monkeypatch):
    newest = runs_dir / (runs_dir / artifacts.LATEST_FILE).read_text()
    older = runs_dir / binary_run.name
    # evaluate / report / predict, with RUN and without (the newest under --runs-dir)
    assert main(["evaluate", str(older), "--json"]) == 0
    assert _json_out(capsys)["file"] == str(older / artifacts.eval_file("test"))
    assert main(["evaluate", "--runs-dir", str(runs_dir), "--json"]) == 0
    assert _json_out(capsys)["file"] == str(newest / artifacts.eval_file("test"))
    assert main(["report", str(older), "--json"]) == 0
    assert _json_out(capsys) == {"run": str(older), "report": str(older / artifacts.REPORT_FILE)}
    assert main(["report", "--runs-dir", str(runs_dir), "--json"]) == 0
    assert _json_out(capsys)["run"] == str(newest)
    # predict: RUN first, or --model (the old spelling), or the newest; the same probabilities
    outputs = []
    for args in (["predict", str(older), "a great film", "--json"],
                 ["predict", "--model", str(older), "a great film", "--json"]):
        assert main(args) == 0
        outputs.append(_json_out(capsys))
    assert outputs[0] == outputs[1] and outputs[0]["text"] == "a great film"
    monkeypatch.chdir(runs_dir.parent)  # --runs-dir defaults to ./runs
    assert main(["predict", "a great film", "--json"]) == 0
    assert _json_out(capsys)["text"] == "a great film"
    # runs compare: the two newest, one given against the newest, or both given
    assert main(["runs", "compare", "--json"]) == 0
    assert [Path(run).resolve() for run in _json_out(capsys)["runs"]] == [older.resolve(), newest.resolve()]
    assert main(["runs", "compare", str(older), "--json"]) == 0
    assert [Path(run).resolve() for run in _json_out(capsys)["runs"]] == [older.resolve(), newest.resolve()]
    assert main(["runs", "list", "--json"]) == 0 and len(_json_out(capsys)) == 2
    assert main(["runs", "list", str(runs_dir), "--json"]) == 0 and len(_json_out(capsys)) == 2


def test_runs_compare_needs_two_finished_runs(tmp_path, binary_run, capsys):
    folder = tmp_path / "runs"
    shutil.copytree(binary_run, folder / binary_run.name)
    assert main(["runs", "compare", "--runs-dir", str(folder)]) == 1
    assert "two runs needed" in capsys.readouterr().err


def test_evaluate_json_is_a_summary_unless_full_json(binary_run, tmp_path, capsys):
    binary_run = own_copy(binary_run, tmp_path)  # evaluate writes its evaluation into the run
    assert main(["evaluate", str(binary_run), "--json"]) == 0
    summary = _json_out(capsys)
    assert "analysis" not in summary and {"accuracy", "confusion_matrix", "examples"} <= set(summary)
    assert main(["evaluate", str(binary_run), "--full-json"]) == 0
    full = _json_out(capsys)
    assert "analysis" in full and full["accuracy"] == summary["accuracy"]


def test_split_is_a_choice(binary_run, capsys):
    assert main(["evaluate", str(binary_run), "--split", "train"]) == 2
    err = capsys.readouterr().err
    assert "'train' is not one of" in err and "test" in err and "validation" in err


def test_json_from_models_config_and_env(tmp_path, capsys):
    assert main(["models", "list", "--json"]) == 0
    listed = {row["name"]: row for row in _json_out(capsys)}
    assert listed["tiny"]["offline"] is True and "minilm_l6_uncased" in listed
    assert main(["models", "show", "tiny", "--json"]) == 0
    assert _json_out(capsys)["name"] == "tiny"
    config = tmp_path / "c.yaml"
    config.write_text("experiment: {name: c}\nmodel: {encoder: tiny}\ndata: {path: data}\n")
    assert main(["config", "check", str(config), "--set", "train.epochs=7", "--json"]) == 0
    checked = _json_out(capsys)
    assert checked["valid"] and checked["encoder"] == "tiny" and checked["resolved"]["train"]["epochs"] == 7
    assert main(["env", "--json"]) == 0
    decided = _json_out(capsys)
    assert decided["runtime.precision: auto"].split(" (")[0] in ("float32", "mixed_bfloat16", "mixed_float16")


def test_debug_is_accepted_after_the_command(tmp_path, capsys):
    missing = str(tmp_path / "missing-run")
    assert main(["evaluate", missing, "--debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.endswith(f"error: {missing}: no such run folder\n")


def _rows(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t" if path.suffix == ".tsv" else ","))


def test_predict_reads_and_writes_csv_tsv_and_jsonl(binary_run, tmp_path, capsys):
    # The last text has a quote, a comma and a line break: a quoted CSV field holds them.
    texts = synthetic_texts("pos", 5, seed=9) + synthetic_texts("neg", 5, seed=9) + [f'{KOREAN}, "정말"\n둘째 줄']
    source = tmp_path / "in.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "review"])
        writer.writerows([[f"r{i}", text] for i, text in enumerate(texts)])
    # The reference: the same texts as arguments.
    assert main(["predict", str(binary_run), *texts, "--json"]) == 0
    expected = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    out_csv = tmp_path / "out.csv"
    assert main(["predict", str(binary_run), "--file", str(source), "--text-column", "review",
                 "--output", str(out_csv), "--batch-size", "3"]) == 0
    assert f"Wrote {out_csv}: 11 rows" in capsys.readouterr().out
    rows = _rows(out_csv)
    assert list(rows[0]) == ["id", "review", "label", "probability", "p_neg", "p_pos"]
    assert [row["id"] for row in rows] == [f"r{i}" for i in range(11)] and rows[-1]["review"] == texts[-1]
    for row, want in zip(rows, expected):
        assert row["label"] == want["label"]
        assert float(row["p_pos"]) == pytest.approx(want["probabilities"]["pos"], abs=2e-6)
    # TSV in, JSONL out; a missing column is named
    tsv = tmp_path / "in.tsv"
    tsv.write_text("text\tlang\n" + "".join(f"{t}\tx\n" for t in texts[:-1]), encoding="utf-8")
    out_jsonl = tmp_path / "out.jsonl"
    assert main(["predict", str(binary_run), "--file", str(tsv), "--output", str(out_jsonl)]) == 0
    records = [json.loads(line) for line in out_jsonl.read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in records] == texts[:-1] and records[0]["lang"] == "x"
    assert [r["label"] for r in records] == [w["label"] for w in expected[:-1]]
    capsys.readouterr()
    assert main(["predict", str(binary_run), "--file", str(source)]) == 1
    assert "no column 'text' (columns: id, review); name the text column with --text-column" in capsys.readouterr().err
    # JSONL in, printed as JSON lines
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text("".join(json.dumps({"text": t, "n": i}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)),
                     encoding="utf-8")
    assert main(["predict", str(binary_run), "--file", str(jsonl), "--json"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for got, want in zip(printed, expected, strict=True):
        assert got["probabilities"] == pytest.approx(want["probabilities"], abs=2e-6)
    assert main(["predict", str(binary_run), "--file", str(jsonl), "--output", str(tmp_path / "out.parquet")]) == 2
    assert "unknown extension .parquet" in capsys.readouterr().err


def test_predict_threshold_moves_the_decision(binary_run, tmp_path, capsys):
    texts = synthetic_texts("pos", 4, seed=3) + synthetic_texts("neg", 4, seed=3)
    labels = {}
    for threshold in ("0.000001", "0.999999"):
        assert main(["predict", str(binary_run), *texts, "--threshold", threshold, "--json"]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        labels[threshold] = {row["label"] for row in rows}
        for row in rows:  # the label follows the threshold given, whatever the run's own
            assert row["label"] == ("pos" if row["probabilities"]["pos"] >= float(threshold) else "neg")
    assert labels == {"0.000001": {"pos"}, "0.999999": {"neg"}}
    assert main(["predict", str(binary_run), "x", "--threshold", "1.5"]) == 2
    assert "give a probability between 0 and 1" in capsys.readouterr().err


def test_predict_threshold_is_refused_for_many_classes():
    from bertclf.errors import ConfigError
    from bertclf.serving.predict import Predictor

    three = Predictor.__new__(Predictor)  # the check comes before the model is used
    three.class_names = ["a", "b", "c"]
    three.multi_label = False
    with pytest.raises(ConfigError, match="only for two-class models; this one has 3 classes"):
        three.predict(["x"], threshold=0.3)


def test_predict_a_pair_model_from_a_table(pair_run, tmp_path, capsys):
    # The run's own columns (premise, hypothesis) are the defaults; a .txt file cannot hold pairs.
    table = tmp_path / "pairs.tsv"
    table.write_text("premise\thypothesis\na great film\ta great film\na great film\ta dull film\n", encoding="utf-8")
    assert main(["predict", str(pair_run), "--file", str(table), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert main(["predict", str(pair_run), "a great film\ta great film", "a great film\ta dull film", "--json"]) == 0
    assert [r["probabilities"] for r in rows] == [json.loads(line)["probabilities"]
                                                 for line in capsys.readouterr().out.splitlines()]
    (tmp_path / "single.txt").write_text("one text\n", encoding="utf-8")
    assert main(["predict", str(pair_run), "--file", str(tmp_path / "single.txt")]) == 2
    assert "this model classifies text pairs; a .txt file cannot hold them" in capsys.readouterr().err


def test_predict_refuses_a_mistyped_run_and_says_which_run_answered(binary_run, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # Before: the typo was classified as a text, by the newest run.
    assert main(["predict", "runs/typo", "a wonderful film", "--runs-dir", str(binary_run.parent)]) == 2
    assert "error: predict: runs/typo: no run folder there; a first argument with a '/' and no spaces is read " \
           "as a run. To classify it as a text, name the run with --model" in capsys.readouterr().err
    assert main(["predict", "--model", str(binary_run), "and/or", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["run"] == str(binary_run) and json.loads(captured.out)["text"] == "and/or"
    assert f"Predicting with {binary_run}" in captured.err


def test_json_options_are_never_silently_ignored(binary_run, tmp_path, capsys):
    assert main(["evaluate", str(binary_run), "--json", "--full-json"]) == 2
    assert "--json prints the summary and --full-json everything; choose one" in capsys.readouterr().err
    rows = tmp_path / "rows.csv"
    rows.write_text("text\na wonderful film\na dull film\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    assert main(["predict", str(binary_run), "--file", str(rows), "--output", str(out), "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["run"] == str(binary_run) and written["output"] == str(out) and written["rows"] == 2
    assert sum(written["labels"].values()) == 2 and out.is_file()


def test_the_last_run_trained_is_found_from_any_folder(tmp_path, tiny_encoder_dir, monkeypatch, capsys):
    from conftest import e2e_config

    # The config writes to its own output_dir; the reading commands run from another folder.
    config = e2e_config(tmp_path / "project", tiny_encoder_dir, name="anywhere")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["train", str(config), "--set", "train.epochs=1"]) == 0
    trained = next((tmp_path / "project" / "runs").glob("anywhere-*"))
    capsys.readouterr()
    assert main(["evaluate", "--json"]) == 0
    captured = capsys.readouterr()
    assert f"Using the last run trained, {trained.resolve()} (runs/ has no finished run)" in captured.err
    assert json.loads(captured.out)["file"].startswith(str(trained.resolve()))
    assert main(["predict", "a wonderful film", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run"] == str(trained.resolve())
    # A finished run in ./runs wins over the record: the folder a user stands in comes first.
    local = elsewhere / "runs" / trained.name
    shutil.copytree(trained, local)
    (elsewhere / "runs" / "LATEST").write_text(trained.name + "\n")
    assert main(["predict", "a wonderful film", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["run"] == str(Path("runs") / trained.name)
