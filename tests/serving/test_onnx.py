"""The ONNX export: written and checked at the end of training or by `bertclf export`, used by
predict, evaluate, serve and the API without TensorFlow, and by the README's standalone example."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bertclf import artifacts
from conftest import PROJECT_ROOT, make_dataset_tree, own_copy, run_readme_standalone, shared_once, write_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def onnx_run(tmp_path_factory, tiny_encoder_dir) -> Path:
    """A two-class tiny run exported to ONNX and int8 as training ends (`export` in its config), in
    float32, so that its SavedModel and its ONNX model compute alike (bfloat16 runs: the multi-label
    test in tests/test_multilabel_end_to_end.py)."""
    from bertclf.cli import main

    def build(work: Path) -> Path:
        make_dataset_tree(work / "data", train=24, test=8)
        config = write_config(work / "config.yaml", f"""
experiment: {{name: onnx, seed: 3, output_dir: runs}}
data: {{path: data, validation_split: 0.25, truncation: head_tail}}
model: {{encoder: {tiny_encoder_dir}, seq_length: 16, pooling: mean}}
train: {{epochs: 6, batch_size: 8, learning_rate: 3.0e-3}}
runtime: {{progress: false, precision: float32}}
export: {{onnx: true, quantize: int8}}
""")
        assert main(["train", str(config), "--run-dir", str(work / "run")]) == 0
        return work / "run"

    return shared_once(tmp_path_factory, "onnx", build)


def _export_folder(run: Path) -> Path:
    return run / artifacts.EXPORT_DIR / artifacts.ONNX_SUBDIR


def _record(run: Path) -> dict:
    return json.loads((_export_folder(run) / artifacts.ONNX_META_FILE).read_text(encoding="utf-8"))


def test_training_writes_the_export_and_its_checks(onnx_run):
    record = _record(onnx_run)
    assert sorted(record["files"]) == ["bertclf.json", "model.int8.onnx", "model.onnx", "tokenizer.json"]
    assert all((_export_folder(onnx_run) / name).stat().st_size > 0 for name in record["files"])
    assert record["labels"] == ["neg", "pos"] and record["task"] == "single_label"
    assert record["tokens"]["truncation"] == "head_tail" and record["tokens"]["seq_length"] == 16
    check = record["checks"]["onnx"]
    assert check["token_texts"] == 12 and check["probability_texts"] == 12
    assert check["max_abs_difference_float32"] <= 1e-4
    assert check["max_abs_difference_saved_model"] <= check["tolerance_saved_model"]
    int8 = record["checks"]["int8"]
    assert int8["texts"] == 12 and int8["labels_unchanged"] >= int8["min_labels_unchanged"]


def _predict_json(run: Path, *args: str, capsys) -> list[dict]:
    from bertclf.cli import main

    capsys.readouterr()
    assert main(["predict", str(run), "--json", *args]) == 0
    captured = capsys.readouterr()
    return [json.loads(line) for line in captured.out.splitlines()], captured.err


TEXTS = ["a wonderful , brilliant film that i loved", "boring , awful and tedious plot",
         "the studio released the sequel with the cast " * 8]  # longer than seq_length: head+tail cut


def test_predict_uses_the_onnx_export_and_agrees_with_tensorflow(onnx_run, capsys):
    onnx_rows, said = _predict_json(onnx_run, *TEXTS, capsys=capsys)
    assert f"Predicting with {onnx_run} (onnx)" in said
    tf_rows, said = _predict_json(onnx_run, "--runtime", "tensorflow", *TEXTS, capsys=capsys)
    assert f"Predicting with {onnx_run} (tensorflow)" in said
    int8_rows, _ = _predict_json(onnx_run, "--runtime", "int8", *TEXTS, capsys=capsys)
    for onnx_row, tf_row, int8_row in zip(onnx_rows, tf_rows, int8_rows):
        gap = max(abs(onnx_row["probabilities"][c] - tf_row["probabilities"][c]) for c in ("neg", "pos"))
        assert gap <= 1e-4, (onnx_row, tf_row)  # a float32 run: both compute in float32
        assert onnx_row["label"] == tf_row["label"]
        assert abs(int8_row["probabilities"]["pos"] - onnx_row["probabilities"]["pos"]) < 0.1


def test_the_onnx_path_imports_no_tensorflow(onnx_run, tmp_path):
    """predict, evaluate, serve and the API, in one fresh process: neither tensorflow nor tensorflow_text."""
    run = own_copy(onnx_run, tmp_path)
    script = textwrap.dedent(f"""
        import asyncio, json, sys
        from pathlib import Path
        import bertclf
        from bertclf.cli import main

        run = Path({str(run)!r})
        assert main(["predict", str(run), "--json", "a brilliant film"]) == 0
        assert main(["evaluate", str(run), "--json"]) == 0
        classifier = bertclf.load(run)
        assert classifier.runtime == "onnx" and classifier.predict(["a loved film"])[0] in ("neg", "pos")
        assert bertclf.evaluate(run, split="validation")["runtime"] == "onnx"

        from aiohttp import ClientSession, web
        from bertclf.serving.predictions import open_predictor
        from bertclf.serving.server import ServeOptions, build_app

        async def serve_once():
            app = build_app(open_predictor(run), run, ServeOptions(port=0))
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]
            async with ClientSession() as session:
                async with session.post(f"http://127.0.0.1:{{port}}/v1/models/onnx:predict",
                                        json={{"instances": ["a brilliant film"]}}) as answer:
                    body = await answer.json()
            await runner.cleanup()
            return body

        body = asyncio.run(serve_once())
        assert len(body["predictions"]) == 1, body
        loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "tensorflow_text",
                                                                                "tf_keras", "keras"))
        print(json.dumps(loaded))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    scored = json.loads((run / artifacts.eval_file("test")).read_text(encoding="utf-8"))
    assert scored["runtime"] == "onnx" and scored["examples"] == 16


def test_int8_is_scored_apart_and_a_missing_export_is_one_line(onnx_run, binary_run, tmp_path, capsys):
    from bertclf.cli import main

    run = own_copy(onnx_run, tmp_path)
    trained = (run / artifacts.eval_file("test")).read_bytes()
    assert main(["evaluate", str(run), "--runtime", "int8", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["evaluation"] == "test-int8" and summary["runtime"] == "int8"
    assert (run / artifacts.eval_file("test-int8")).is_file()
    assert (run / artifacts.eval_file("test")).read_bytes() == trained  # never in place of float32's scores
    assert main(["report", str(run)]) == 0  # the export's checks are in the report
    page = (run / artifacts.REPORT_FILE).read_text(encoding="utf-8")
    assert "<h2>ONNX export</h2>" in page and "validation labels unchanged" in page and "model.int8.onnx" in page

    assert main(["predict", str(binary_run), "--runtime", "onnx", "a film"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == (f"error: --runtime onnx: {binary_run} has no export/onnx/model.onnx; make it with "
                   f"`bertclf export {binary_run} --format onnx`")
    assert main(["predict", str(binary_run), "--runtime", "gpu", "a film"]) == 2
    assert "--runtime gpu: choose one of auto, onnx, int8, tensorflow" in capsys.readouterr().err


def test_export_command_on_a_pair_run_and_predicting_pairs_agrees(pair_run, tmp_path, capsys):
    from bertclf.cli import main

    run = own_copy(pair_run, tmp_path)
    assert main(["export", str(run), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["tokens"]["pairs"] is True and record["checks"]["onnx"]["max_abs_difference_float32"] <= 1e-4
    assert "int8" not in record["checks"] and "model.int8.onnx" not in record["files"]
    pairs = ["a great film\ta wonderful movie", "the plot\t" + "an awful dull tedious story " * 10]
    onnx_rows, _ = _predict_json(run, *pairs, capsys=capsys)
    tf_rows, _ = _predict_json(run, "--runtime", "tensorflow", *pairs, capsys=capsys)
    tolerance = record["checks"]["onnx"]["tolerance_saved_model"]  # the run's precision (bfloat16 here)
    for onnx_row, tf_row in zip(onnx_rows, tf_rows):
        assert np.allclose(list(onnx_row["probabilities"].values()), list(tf_row["probabilities"].values()),
                           atol=tolerance)


def test_a_three_class_run_exports_its_softmax(tmp_path, tiny_encoder_dir, capsys):
    """More than two classes: one softmax over them, the most probable class as the label."""
    from bertclf.cli import main
    from conftest import e2e_config

    config = e2e_config(tmp_path, tiny_encoder_dir, classes=("neg", "neutral", "pos"), name="three",
                        extra="export: {onnx: true}\n")
    assert main(["train", str(config), "--set", "runtime.precision=float32", "--run-dir", str(tmp_path / "run")]) == 0
    record = _record(tmp_path / "run")
    assert record["labels"] == ["neg", "neutral", "pos"] and record["threshold"] is None
    assert record["checks"]["onnx"]["max_abs_difference_float32"] <= 1e-4
    rows, said = _predict_json(tmp_path / "run", *TEXTS, capsys=capsys)
    assert "(onnx)" in said
    for row in rows:
        assert abs(sum(row["probabilities"].values()) - 1) < 1e-5
        assert row["label"] == max(row["probabilities"], key=row["probabilities"].get)


def test_a_tokenizer_that_differs_fails_the_export_and_keeps_the_previous_one(onnx_run, tmp_path, monkeypatch,
                                                                                capsys):
    from bertclf.cli import main
    from bertclf.serving import onnx_tokenizer

    run = own_copy(onnx_run, tmp_path)
    before = (_export_folder(run) / artifacts.ONNX_MODEL_FILE).stat().st_mtime_ns
    original = onnx_tokenizer.Packer.token_ids

    def one_off(self, texts):
        ids = original(self, texts)
        return [row[:-1] if i == 2 else row for i, row in enumerate(ids)]  # the third text loses a token

    monkeypatch.setattr(onnx_tokenizer.Packer, "token_ids", one_off)
    assert main(["export", str(run)]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.match(r"error: the ONNX export's tokenizer differs from the run's on 1 of 12 validation texts "
                    r"\(#3 '.+'\); nothing was exported$", last), last
    assert (_export_folder(run) / artifacts.ONNX_MODEL_FILE).stat().st_mtime_ns == before
    assert sorted(p.name for p in (run / artifacts.EXPORT_DIR).iterdir()) == [artifacts.ONNX_SUBDIR]


def test_export_never_replaces_a_folder_bertclf_did_not_write(onnx_run, tmp_path, capsys):
    """A file of the user's in export/onnx/, or a folder there that is not an export: refused in one
    line, nothing deleted; an earlier export of bertclf's own is replaced."""
    from bertclf.cli import main

    run = own_copy(onnx_run, tmp_path)
    mine = _export_folder(run) / "notes.txt"
    mine.write_text("my notes", encoding="utf-8")
    assert main(["export", str(run)]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: {_export_folder(run)}: it holds notes.txt; bertclf replaces only its own ONNX export there. "
        f"Move it away and export again")
    assert mine.read_text(encoding="utf-8") == "my notes" and (_export_folder(run) / artifacts.ONNX_MODEL_FILE).is_file()
    other = tmp_path / "other"
    other.mkdir()
    (other / artifacts.ONNX_MODEL_FILE).write_text("someone else's model", encoding="utf-8")
    import shutil

    shutil.rmtree(_export_folder(run))
    shutil.copytree(other, _export_folder(run))  # no bertclf.json: not bertclf's
    assert main(["export", str(run)]) == 1
    assert "it is not a bertclf export" in capsys.readouterr().err
    assert (_export_folder(run) / artifacts.ONNX_MODEL_FILE).read_text(encoding="utf-8") == "someone else's model"


def test_truncation_has_one_rule_for_both_runtimes():
    from bertclf.encoders import tokenization, truncation
    from bertclf.serving import onnx_tokenizer

    assert tokenization.head_count is truncation.head_count is onnx_tokenizer.head_count
    assert truncation.head_count(254, "head_tail") == 63 and truncation.head_count(254, "tail") == 0


def test_the_tokenizer_file_folds_and_splits_as_tensorflow_text(tiny_encoder_dir):
    """Case folding (ß, ﬁ, final sigma, Turkish İ), accents, control and zero-width characters,
    no-break spaces, CJK and punctuation, a word over 100 bytes: the same ids both ways."""
    import tensorflow as tf

    from bertclf.encoders import load_preprocessor
    from bertclf.encoders.tokenization import token_ids
    from bertclf.serving.onnx_tokenizer import read_vocab, wordpiece_tokenizer

    texts = ["Straße ÇA VA? naïve café — “quotes” 東京タワー ΟΔΟΣ ﬁne İstanbul", "no\u00a0break\u200bzero x\x00y\tz",
             "a" * 150 + " ok", "é" * 60, "<br /><br />This movie... was GREAT!!! 10/10", "", "   "]
    preprocessor = load_preprocessor(str(tiny_encoder_dir / "preprocessor"))
    expected = token_ids(preprocessor, tf.constant(texts)).to_list()
    tokenizer = wordpiece_tokenizer(read_vocab(tiny_encoder_dir / "vocab.txt"), lower_case=True)
    assert [encoding.ids for encoding in tokenizer.encode_batch(texts, add_special_tokens=False)] == expected


def test_the_readme_standalone_example_needs_neither_tensorflow_nor_bertclf(onnx_run, tmp_path, capsys):
    """README's fifteen lines, run as written in a process where importing tensorflow or bertclf fails,
    give the probabilities `bertclf predict --json` gives."""
    printed = run_readme_standalone(onnx_run, TEXTS[:2], tmp_path)
    rows, _ = _predict_json(onnx_run, *TEXTS[:2], capsys=capsys)
    for mine, theirs in zip(printed, rows):
        assert mine["label"] == theirs["label"]
        assert np.allclose(list(mine["probabilities"].values()), list(theirs["probabilities"].values()), atol=1e-6)
