"""`bertclf bench --whole-process`: the wall time of a real `bertclf train`, by phase.

Each process is started as a user starts it (a new Python, the CLI, the
config with `--set` overrides), so imports, data reading, encoder loading,
tokenizing, export and scoring are all counted. Beside it, the TF tutorial's
way (`bertclf.training.seed_style`) runs on the same data and encoder, and, with
`baseline_source`, the same `bertclf train` from another source tree (an
older checkout), for a before/after in one run. Processes alternate over the
repeats; medians are reported.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

from bertclf import artifacts
from bertclf.errors import ConfigError, RunError

BERTCLF = "bertclf"
SEED_STYLE = "seed_style"
BASELINE = "baseline"
PROCESSES = (BERTCLF, SEED_STYLE, BASELINE)


def whole_process_commands(config: Path, overrides: Sequence[str], run_dir: Path,
                           baseline_source: Optional[Path] = None) -> dict[str, tuple[list[str], dict]]:
    """Per measured process, its command line and extra environment."""
    sets = [part for override in overrides for part in ("--set", override)]
    train = [sys.executable, "-m", "bertclf", "train", str(config), *sets, "--run-dir", str(run_dir),
             "--overwrite"]
    commands = {BERTCLF: (train, {}),
                SEED_STYLE: ([sys.executable, "-m", "bertclf.training.seed_style", str(config), *sets], {})}
    if baseline_source is not None:
        commands[BASELINE] = (train, {"PYTHONPATH": str(Path(baseline_source).resolve())})
    return commands


def choose_processes(names: Optional[str], baseline_source: Optional[Path]) -> tuple[str, ...]:
    """`--processes` as given (comma-separated), or by default bertclf and the tutorial's way,
    and the baseline when there is a source for it.

    Raises:
        ConfigError: An unknown name, none at all, or a baseline without a source.
    """
    if names is None:
        return PROCESSES if baseline_source else PROCESSES[:2]
    chosen = tuple(name.strip() for name in names.split(",") if name.strip())
    unknown = [name for name in chosen if name not in PROCESSES]
    if unknown or not chosen:
        raise ConfigError(f"--processes: unknown {', '.join(unknown) or '(none)'}; choose from {', '.join(PROCESSES)}")
    if BASELINE in chosen and baseline_source is None:
        raise ConfigError("--processes baseline: name the older source with --baseline-source OLD/src")
    return chosen


def run_whole_process(config: Path, overrides: Sequence[str] = (), repeats: int = 1,
                      baseline_source: Optional[Path] = None,
                      processes: Sequence[str] = PROCESSES) -> dict:
    """Runs each process `repeats` times, alternating; returns per-process median phases.

    Raises:
        RunError: A process failed (its last output lines are in the message).
    """
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bertclf-bench-") as scratch:
        commands = whole_process_commands(config, overrides, Path(scratch) / "run", baseline_source)
        chosen = {name: command for name, command in commands.items() if name in processes}
        for repeat in range(repeats):
            for name, (command, environment) in chosen.items():
                measured = _timed(name, command, environment, Path(scratch) / "run")
                results.setdefault(name, []).append(measured)
                print(f"bench: {name} {repeat + 1}/{repeats}: {measured['wall_seconds']:.1f} s",
                      file=sys.stderr, flush=True)
    return {"config": str(config), "overrides": list(overrides), "repeats": repeats,
            "baseline_source": str(baseline_source) if baseline_source else None,
            "medians": {name: median_timing(runs) for name, runs in results.items()}, "runs": results}


def median_timing(runs: list[dict]) -> dict:
    """The median of each phase, of the measured wall time and of the process's own total."""
    phases = dict.fromkeys(name for run in runs for name in run["phases"])
    return {"wall_seconds": round(statistics.median(run["wall_seconds"] for run in runs), 2),
            "total_seconds": round(statistics.median(run["total_seconds"] for run in runs), 2),
            "phases": {name: round(statistics.median(run["phases"].get(name, 0.0) for run in runs), 2)
                       for name in phases},
            "accuracy": {key: runs[-1][key] for key in ("validation_accuracy", "test_accuracy") if key in runs[-1]}}


def markdown(result: dict) -> str:
    """A phase-by-process table in seconds, with the non-fit sum and wall-time ratios."""
    medians = result["medians"]
    names = list(medians)
    phases = list(dict.fromkeys(phase for name in names for phase in medians[name]["phases"]))
    lines = ["| phase | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for phase in phases:
        lines.append(f"| {phase.replace('_', ' ')} | "
                     + " | ".join(_seconds(medians[name]["phases"].get(phase)) for name in names) + " |")
    lines.append("| **not fit** (all but fit and validation) | "
                 + " | ".join(_seconds(not_fit_seconds(medians[name]["phases"])) for name in names) + " |")
    lines.append("| **wall time** (measured outside) | "
                 + " | ".join(f"**{medians[name]['wall_seconds']:.1f}**" for name in names) + " |")
    if BERTCLF in medians:
        base = medians[BERTCLF]["wall_seconds"]
        lines.append("| wall time / bertclf's | "
                     + " | ".join(f"{medians[name]['wall_seconds'] / base:.2f}x" for name in names) + " |")
    for key in ("validation_accuracy", "test_accuracy"):
        if any(key in medians[name]["accuracy"] for name in names):
            lines.append(f"| {key.replace('_', ' ')} | " + " | ".join(
                _fraction(medians[name]["accuracy"].get(key)) for name in names) + " |")
    return "\n".join(lines)


def not_fit_seconds(phases: dict) -> float:
    """Everything a process spends outside training and per-epoch validation."""
    return sum(seconds for name, seconds in phases.items() if name not in ("fit", "validation"))


def _timed(name: str, command: list[str], environment: dict, run_dir: Path) -> dict:
    started = time.perf_counter()
    done = subprocess.run(command, env={**os.environ, **environment}, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise RunError(f"bench --whole-process: {name} exited {done.returncode}: {tail}")
    if name == SEED_STYLE:
        measured = json.loads(done.stdout.strip().splitlines()[-1])
    else:
        metrics = json.loads((run_dir / artifacts.METRICS_FILE).read_text(encoding="utf-8"))
        measured = dict(metrics["timing"])
        measured["validation_accuracy"] = metrics["validation"]["accuracy"]
        if "test" in metrics:
            measured["test_accuracy"] = metrics["test"]["accuracy"]
        if "phases" not in measured:  # a source tree older than phase timing
            measured["phases"] = {"fit": measured.get("fit_seconds", 0.0)}
            measured["total_seconds"] = wall
    measured["wall_seconds"] = wall
    return measured


def _seconds(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:.1f}"


def _fraction(value: Optional[float]) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"
