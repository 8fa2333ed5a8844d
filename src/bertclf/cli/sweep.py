"""`bertclf sweep`: a hyperparameter search over config keys (Optuna), and its report."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import List, Optional

import typer

from bertclf.cli.app import JSON_HELP, SET_HELP, app, echo_json, runs_dir_option
from bertclf.errors import ConfigError


@app.command()
def sweep(
    config: Optional[Path] = typer.Argument(None, help="Experiment config (YAML) every trial starts from."),
    space: Optional[Path] = typer.Option(None, "--space", help="Search space (YAML): dotted config keys mapped "
                                                               "to {choice: [...]}, {uniform: [lo, hi]}, "
                                                               "{log_uniform: [lo, hi]} or {int: [lo, hi]}."),
    trials: Optional[int] = typer.Option(None, "--trials", min=1,
                                         help="Finished trials the study needs in total, over every process "
                                              "sharing it (default 10; a grid: its size)."),
    timeout: Optional[str] = typer.Option(None, "--timeout", help="Start no new trial after this long (2h, "
                                                                  "90m, seconds); the running one finishes."),
    storage: Optional[str] = typer.Option(None, "--storage", help="Where the study lives: sqlite:///PATH, "
                                                                  "postgresql://..., mysql+pymysql://... or "
                                                                  "journal:PATH (default: SQLite in the "
                                                                  "study's folder)."),
    study: Optional[str] = typer.Option(None, "--study", help="Study name (default: experiment.name); "
                                                              "processes with the same name and storage "
                                                              "share the work."),
    sampler: str = typer.Option("tpe", "--sampler", help="tpe (random for its first 10 trials, then "
                                                          "modelled), grid or random."),
    pruner: str = typer.Option("median", "--pruner", help="median, hyperband or none: stop weak trials "
                                                          "between epochs (never after the last)."),
    overrides: List[str] = typer.Option([], "--set", help=SET_HELP),
    report: Optional[str] = typer.Option(None, "--report", help="Instead of running trials: write and print "
                                                                "the results of this study (its folder, or "
                                                                "its name in --runs-dir or --storage)."),
    runs_dir: Path = runs_dir_option(),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Search config settings with Optuna; every trial is a run folder. Writes best.yaml and a sweep page."""
    from bertclf.api import sweep as run_sweep, sweep_report

    if report is not None:
        if config is not None or space is not None:
            raise ConfigError("--report reads a study's results; drop CONFIG and --space")
        summary = sweep_report(report, storage=storage, runs_dir=runs_dir)
    else:
        if config is None or space is None:
            raise ConfigError("sweep needs CONFIG and --space SPACE.yaml (or --report STUDY for results)")
        from bertclf.config.loading import parse_override

        fixed = dict(parse_override(item) for item in overrides)  # --set items, as the API's dict
        run = lambda: run_sweep(config, space, trials=trials, timeout=timeout, storage=storage,  # noqa: E731
                                study=study, sampler=sampler, pruner=pruner, overrides=fixed)
        if as_json:  # stdout carries the JSON alone
            with contextlib.redirect_stdout(sys.stderr):
                summary = run()
        else:
            summary = run()
    if as_json:
        echo_json(summary)
        return
    from bertclf.sweep.results import table

    typer.echo(table(summary))
    for name, path in summary["files"].items():
        typer.echo(f"  {name}: {path}")
