"""The command line without training: help, config check, registry, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bertclf.cli import main
from conftest import write_config


def test_help_config_check_and_train_mistakes_do_not_import_tensorflow(tmp_path):
    config = write_config(tmp_path / "c.yaml", "data:\n  path: somewhere\nmodel:\n  encoder: tiny\n")
    typo = write_config(tmp_path / "typo.yaml", "data:\n  path: d\nmodel:\n  encoder: tiny\ntrain:\n  epoch: 2\n")
    # `train` with a config mistake or a bad --seeds: one line at once, before TensorFlow's import.
    script = ("import sys; from bertclf.cli import main; "
              f"codes = [main(['--help']), main(['config', 'check', {str(config)!r}]), main(['models', 'list']), "
              f"main(['train', {str(typo)!r}]), main(['train', {str(config)!r}, '--seeds', '1']), "
              f"main(['train', {str(typo)!r}, '--seeds', '3'])]; "
              "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'; print(codes)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[0, 0, 0, 2, 2, 2]"
    assert "train.epoch: unknown key; did you mean train.epochs?" in done.stderr
    assert "--seeds 1: give at least 2" in done.stderr


def test_config_check_prints_the_resolved_config(tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", "data:\n  path: d\nmodel:\n  encoder: tiny\ntrain:\n  epochs: 4\n")
    assert main(["config", "check", str(config), "--set", "train.batch_size=4"]) == 0
    out, err = capsys.readouterr()
    assert "epochs: 4" in out and "batch_size: 4" in out and f"path: {tmp_path / 'd'}" in out
    assert "is valid" in err


def test_config_error_is_one_line_exit_2(tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", "data:\n  path: d\nmodel:\n  encoder: tiny\ntrain:\n  lerning_rate: 0.1\n")
    assert main(["config", "check", str(config)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {config}: train.lerning_rate: unknown key; did you mean train.learning_rate?\n"


def test_unknown_encoder_name_is_caught_by_config_check(tmp_path, capsys):
    config = write_config(tmp_path / "c.yaml", "data:\n  path: d\nmodel:\n  encoder: electra_smal\n")
    assert main(["config", "check", str(config)]) == 2
    assert "did you mean electra_small" in capsys.readouterr().err


def test_models_list_and_show(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[2:]}
    assert len(rows) == 36  # tiny, minilm_l6_uncased, multilingual_e5_small, the tutorial's 33 TF Hub encoders
    assert rows["tiny"].endswith("yes")
    assert "small_bert/bert_en_uncased_L-4_H-512_A-8" in rows
    assert main(["models", "show", "electra_small"]) == 0
    shown = capsys.readouterr().out
    assert "encoder_handle: https://tfhub.dev/google/electra_small/2" in shown
    assert "preprocess_handle: https://tfhub.dev/tensorflow/bert_en_uncased_preprocess/3" in shown


def test_runtime_and_usage_errors_exit_codes(tmp_path, capsys):
    assert main(["evaluate", "--runs-dir", str(tmp_path)]) == 1
    assert "no finished run" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path / "missing-run")]) == 1
    assert "no such run folder" in capsys.readouterr().err
    assert main(["evaluate", "--split", "train", "--runs-dir", str(tmp_path)]) == 2
    assert main(["train", "--no-such-option"]) == 2
    assert main(["models", "show", "nope-nothing-close"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_console_script_runs(tmp_path):
    """The `bertclf` command pip installed (pyproject's [project.scripts]), not `python -m`."""
    script = Path(sys.executable).parent / "bertclf"
    assert script.is_file(), f"no console script at {script}; is bertclf installed in this environment?"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("bertclf ")
    done = subprocess.run([str(script), "config", "check", "no-such.yaml"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and done.stderr.strip() == "error: no-such.yaml: no such config file"


def test_debug_option_shows_the_traceback_and_only_the_option_does(tmp_path, capsys):
    missing = str(tmp_path / "missing-run")
    assert main(["--debug", "evaluate", missing]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.endswith(f"error: {missing}: no such run folder\n")
    # The text "--debug" given to classify is not the option.
    assert main(["predict", "--model", missing, "--", "--debug"]) == 1
    assert capsys.readouterr().err == f"error: {missing}: no such run folder\n"
    assert main(["evaluate", missing]) == 1
    assert "Traceback" not in capsys.readouterr().err


def test_models_make_tiny_json(tmp_path, capsys):
    from bertclf.cli import main

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a good film\na bad film\nquite a good plot\n" * 20, encoding="utf-8")
    capsys.readouterr()
    assert main(["models", "make-tiny", str(tmp_path / "tiny"), "--vocab-from", str(corpus), "--vocab-size", "100",
                 "--layers", "1", "--hidden", "32", "--heads", "2", "--json"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["encoder"] == str(tmp_path / "tiny") and (written["layers"], written["hidden"]) == (1, 32)
    assert written["vocab_size"] == len((tmp_path / "tiny" / "vocab.txt").read_text().split())
