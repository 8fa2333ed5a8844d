"""`bertclf train CONFIG --seeds N`: the summary against hand-computed statistics, the group in `runs list`."""

from __future__ import annotations

import json
import math
import statistics
import subprocess

import pytest
import yaml

from bertclf.reporting.seeds import interval, summarise_runs
from conftest import BERTCLF, e2e_config

# Student's t, 97.5th percentile: 2 and 4 degrees of freedom (printed tables).
T_975 = {2: 4.302652729911275, 4: 2.7764451051977987}


def test_interval_is_the_t_interval_of_the_mean():
    values = [0.88, 0.90, 0.86]
    result = interval(values)
    mean = (0.88 + 0.90 + 0.86) / 3
    std = math.sqrt(((0.88 - mean) ** 2 + (0.90 - mean) ** 2 + (0.86 - mean) ** 2) / 2)
    half = T_975[2] * std / math.sqrt(3)
    assert result["mean"] == pytest.approx(mean)
    assert result["std"] == pytest.approx(0.02)
    assert result["std"] == pytest.approx(std)
    assert result["ci95"] == pytest.approx([mean - half, mean + half])
    assert result["values"] == values
    five = interval([1, 2, 3, 4, 5])
    assert five["ci95"] == pytest.approx([3 - T_975[4] * math.sqrt(2.5 / 5), 3 + T_975[4] * math.sqrt(2.5 / 5)])


def test_one_value_has_no_spread():
    assert interval([0.9]) == {"mean": 0.9, "std": None, "ci95": None, "values": [0.9]}


def test_summary_covers_the_scores_every_run_has():
    runs = [{"validation": {"accuracy": 0.8, "loss": 0.5}, "test": {"accuracy": 0.7}},
            {"validation": {"accuracy": 0.9, "loss": 0.4}}]
    summary = summarise_runs(runs)
    assert set(summary) == {"validation_accuracy", "validation_loss"}  # test is missing from one run
    assert summary["validation_accuracy"]["values"] == [0.8, 0.9]


@pytest.mark.slow
def test_seeds_train_every_seed_and_summarise_them(tmp_path, tiny_encoder_dir, capsys):
    # In the test's process, as from a notebook (the installed command: tests/cli/test_cli.py).
    from bertclf.cli import main

    config = e2e_config(tmp_path, tiny_encoder_dir, name="seeded")
    capsys.readouterr()
    assert main(["train", str(config), "--seeds", "3", "--json", "--set", "train.time_budget=10m"]) == 0
    done = capsys.readouterr()
    result = json.loads(done.out)
    assert len(result["runs"]) == 3 and len(set(result["runs"])) == 3
    metrics = [json.loads(open(f"{run}/metrics.json").read()) for run in result["runs"]]
    seeds = [yaml.safe_load(open(f"{run}/config.yaml"))["experiment"]["seed"]
             for run in result["runs"]]
    assert seeds == [3, 4, 5]
    # Planned once: the first seed measured, the others trained its plan.
    assert metrics[0]["plan"]["measured"] is True
    assert all(m["plan"]["measured"] is False for m in metrics[1:])
    assert done.err.count("Measuring") == 1
    for split in ("validation", "test"):
        for key in ("accuracy", "loss", "macro_f1"):
            values = [m[split][key] for m in metrics]
            stats = result["summary"][f"{split}_{key}"]
            mean, std = statistics.fmean(values), statistics.stdev(values)
            half = T_975[2] * std / math.sqrt(3)
            assert stats["values"] == pytest.approx(values)
            assert stats["mean"] == pytest.approx(mean)
            assert stats["std"] == pytest.approx(std)
            assert stats["ci95"] == pytest.approx([mean - half, mean + half])
    group = json.loads(open(f"{result['group']}/seeds.json").read())
    assert group["summary"] == result["summary"] and group["runs"] == result["runs"]

    assert main(["runs", "list", str(tmp_path / "runs")]) == 0
    listed = capsys.readouterr().out
    assert "Seed group seeded-seeds-" in listed and "validation_accuracy: mean" in listed
    assert main(["runs", "list", str(tmp_path / "runs"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["group"] for row in rows} == {result["group"].rsplit("/", 1)[-1]}


def test_one_seed_is_refused_in_one_line(tmp_path, tiny_encoder_dir):
    config = e2e_config(tmp_path, tiny_encoder_dir, name="one")
    done = subprocess.run([str(BERTCLF), "train", str(config), "--seeds", "1"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: --seeds 1: give at least 2 (one run says nothing about "
                                                "the noise)"]
