"""`bench --whole-process`: its commands, medians and table, and the tutorial-style process it compares with."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bertclf.training import bench_process
from conftest import e2e_config


def _run(wall, fit, tokenize, accuracy=0.8):
    return {"wall_seconds": wall, "total_seconds": wall - 0.5, "validation_accuracy": accuracy,
            "phases": {"import": 4.0, "tokenize": tokenize, "fit": fit, "validation": 1.0}}


def test_medians_and_table_put_processes_side_by_side():
    result = {"medians": {
        bench_process.BERTCLF: bench_process.median_timing([_run(50, 30, 2), _run(60, 31, 9), _run(55, 29, 3)]),
        bench_process.SEED_STYLE: bench_process.median_timing([_run(100, 80, 0)])}}
    ours = result["medians"][bench_process.BERTCLF]
    assert ours["wall_seconds"] == 55 and ours["phases"]["tokenize"] == 3 and ours["phases"]["fit"] == 30
    assert bench_process.not_fit_seconds(ours["phases"]) == 7.0  # import and tokenize
    table = bench_process.markdown(result).splitlines()
    assert table[0] == "| phase | bertclf | seed_style |"
    assert "| tokenize | 3.0 | 0.0 |" in table
    assert "| **not fit** (all but fit and validation) | 7.0 | 4.0 |" in table
    assert "| wall time / bertclf's | 1.00x | 1.82x |" in table
    assert "| validation accuracy | 80.00% | 80.00% |" in table


def test_each_process_is_started_as_a_user_starts_it(tmp_path):
    commands = bench_process.whole_process_commands(Path("c.yaml"), ["train.epochs=1"], tmp_path / "run",
                                                    baseline_source=tmp_path / "old" / "src")
    train, environment = commands[bench_process.BERTCLF]
    assert train[:5] == [sys.executable, "-m", "bertclf", "train", "c.yaml"]
    assert train[5:7] == ["--set", "train.epochs=1"] and environment == {}
    assert commands[bench_process.BASELINE] == (train, {"PYTHONPATH": str((tmp_path / "old" / "src").resolve())})
    assert commands[bench_process.SEED_STYLE][0][1:3] == ["-m", "bertclf.training.seed_style"]


@pytest.mark.slow
def test_the_tutorial_style_process_trains_scores_saves_and_times_its_phases(tmp_path, tiny_encoder_dir, capsys):
    from bertclf.training import seed_style

    config = e2e_config(tmp_path, tiny_encoder_dir)
    assert seed_style.main([str(config), "--set", "train.epochs=1", "--output-dir", str(tmp_path / "out")]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"data", "encoder", "fit", "test_scoring", "export"} <= set(result["phases"])
    assert result["phases"]["fit"] > 0
    assert sum(result["phases"].values()) == pytest.approx(result["total_seconds"], abs=0.1)
    # The accuracy of the 16 test texts: a whole number of them.
    assert result["test_accuracy"] * 16 == pytest.approx(round(result["test_accuracy"] * 16), abs=1e-6)
    assert (tmp_path / "out" / "model" / "saved_model.pb").is_file()


def test_process_choice_defaults_and_one_line_errors(tmp_path):
    from bertclf.errors import ConfigError

    assert bench_process.choose_processes(None, None) == (bench_process.BERTCLF, bench_process.SEED_STYLE)
    assert bench_process.choose_processes(None, tmp_path) == bench_process.PROCESSES
    assert bench_process.choose_processes(" bertclf, baseline ", tmp_path) == ("bertclf", "baseline")
    with pytest.raises(ConfigError, match="unknown nope"):
        bench_process.choose_processes("bertclf,nope", None)
    with pytest.raises(ConfigError, match="--baseline-source"):
        bench_process.choose_processes("baseline", None)
