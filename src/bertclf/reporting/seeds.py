"""Repeated seeds (`bertclf train CONFIG --seeds N`): the spread of each score, and the group's file.

Pure Python and SciPy: the summary is computed from the runs' `metrics.json`,
so `runs list` can show a group without TensorFlow.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any, Optional, Sequence

from bertclf import artifacts

# The scores summarised for each split, when the runs have them.
SUMMARISED = ("accuracy", "micro_f1", "macro_f1", "loss", "roc_auc", "pr_auc")  # those a run has


def interval(values: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Mean, sample standard deviation and the Student's t confidence interval of the mean.

    With one value the deviation and the interval are undefined (None): one run
    says nothing about the noise.
    """
    from scipy.stats import t as student_t

    values = [float(v) for v in values]
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean, "std": None, "ci95": None, "values": values}
    std = statistics.stdev(values)
    half = student_t.ppf(0.5 + confidence / 2, len(values) - 1) * std / math.sqrt(len(values))
    return {"mean": mean, "std": std, "ci95": [float(mean - half), float(mean + half)], "values": values}


def summarise_runs(metrics: Sequence[dict]) -> dict[str, dict]:
    """`{"validation_accuracy": interval(...), "test_loss": ..., ...}` over the runs' metrics.json."""
    summary = {}
    for split in ("validation", "test"):
        for key in SUMMARISED:
            values = [m[split][key] for m in metrics if isinstance(m.get(split), dict) and key in m[split]]
            if values and len(values) == len(metrics):
                summary[f"{split}_{key}"] = interval(values)
    return summary


def write_group(group_dir: Path, config_name: str, seeds: Sequence[int], run_dirs: Sequence[Path],
                metrics: Sequence[dict], plan: Optional[dict] = None) -> dict:
    """Writes `group_dir/seeds.json` (runs by path, per-seed values and their summary) and returns it."""
    from bertclf.files import write_json_atomic

    group = {"experiment": config_name, "seeds": list(seeds), "runs": [str(path) for path in run_dirs],
             "summary": summarise_runs(metrics)}
    if plan is not None:
        group["plan"] = plan
    write_json_atomic(group_dir / artifacts.SEEDS_FILE, group)
    return group


def list_groups(directory: Path) -> list[dict[str, Any]]:
    """The seed groups in a folder of runs, oldest first: name, seeds, runs and the summary."""
    groups = []
    for path in sorted(directory.glob(f"*/{artifacts.SEEDS_FILE}")):
        try:
            group = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        groups.append(dict(group, group=path.parent.name))
    return groups


def summary_lines(summary: dict[str, dict]) -> list[str]:
    """One line per score: mean, std, 95% interval, per-seed values."""
    lines = []
    for key, stats in summary.items():
        values = ", ".join(f"{v:.4f}" for v in stats["values"])
        if stats["std"] is None:
            lines.append(f"{key}: {stats['mean']:.4f} (one seed: {values})")
        else:
            low, high = stats["ci95"]
            lines.append(f"{key}: mean {stats['mean']:.4f}, std {stats['std']:.4f}, "
                         f"95% CI [{low:.4f}, {high:.4f}] (seeds: {values})")
    return lines
