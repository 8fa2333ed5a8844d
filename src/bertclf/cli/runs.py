"""`bertclf runs list` and `runs compare`: the runs in a folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bertclf.cli.app import JSON_HELP, RUNS_HELP, echo_json, runs_app
from bertclf.errors import RunError


@runs_app.command("list")
def runs_list(
    directory: Optional[Path] = typer.Argument(None, metavar="[RUNS_DIR]", help="A folder of run folders "
                                                                              "(default: --runs-dir)."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="The folder when RUNS_DIR is not given."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """A table of runs: encoder, data, epochs, best validation score, test scores, fit time, status."""
    from bertclf.reporting.runs import list_runs
    from bertclf.reporting.seeds import list_groups, summary_lines
    from bertclf.reporting.tables import format_table

    directory = directory if directory is not None else runs_dir
    if not directory.is_dir():
        raise RunError(f"{directory}: no such folder of runs")
    rows = list_runs(directory)
    groups = list_groups(directory)
    member = {Path(run).name: group["group"] for group in groups for run in group["runs"]}
    for row in rows:
        row["group"] = member.get(row["run"])
    if as_json:
        echo_json(rows)
        return
    typer.echo(format_table(
        ["run", "encoder", "data", "epochs", "best validation", "test acc", "test F1", "fit s", "status"],
        [[r["run"], r["encoder"], r["data"], r["epochs"],
          f"{r['monitor']} {r['best_validation']:.4f}" if r["best_validation"] is not None else None,
          r["test_accuracy"] if r.get("test_micro_f1") is None else f"micro F1 {r['test_micro_f1']:.4f}",
          r["test_macro_f1"],
          f"{r['fit_seconds']:.0f}" if r["fit_seconds"] is not None else None,
          r["status"] + (" (pretraining)" if r["kind"] == "pretrain" else "")] for r in rows]))
    for group in groups:
        typer.echo(f"\nSeed group {group['group']} ({len(group['runs'])} of {len(group['seeds'])} runs: "
                   + ", ".join(Path(run).name for run in group["runs"]) + ")")
        for line in summary_lines(group["summary"]):
            typer.echo("  " + line)


@runs_app.command("compare")
def runs_compare(
    first: Optional[Path] = typer.Argument(None, metavar="[RUN]", help="A run folder (default: the second "
                                                                        "newest finished run in --runs-dir)."),
    second: Optional[Path] = typer.Argument(None, metavar="[OTHER]", help="Another run folder (default: the "
                                                                          "newest finished run in --runs-dir)."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help=RUNS_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Config differences and metric differences of two runs, side by side."""
    from bertclf.reporting.runs import compare_runs
    from bertclf.reporting.tables import format_table

    first, second = _two_runs(first, second, runs_dir)
    compared = compare_runs(first, second)
    if as_json:
        echo_json({"runs": [str(first), str(second)], **compared})
        return
    typer.echo(format_table(["config", first.name, second.name], compared["config"])
               if compared["config"] else "config: the same")
    typer.echo("")
    typer.echo(format_table(["metric", first.name, second.name, "difference"], compared["metrics"]))


def _two_runs(first: Optional[Path], second: Optional[Path], runs_dir: Path) -> tuple[Path, Path]:
    """The runs to compare: those given, the rest from the newest finished runs in `runs_dir`."""
    if first is not None and second is not None:
        return first, second
    from bertclf import artifacts
    from bertclf.reporting.runs import list_runs

    finished = []
    if runs_dir.is_dir():
        # Run folder names end in their start time, so the newest sort last within an experiment;
        # across experiments the metrics file's age orders them.
        finished = sorted((runs_dir / row["run"] for row in list_runs(runs_dir)
                           if row["status"] == "finished" and row["kind"] != "pretrain"),
                          key=lambda path: (path / artifacts.METRICS_FILE).stat().st_mtime)
    candidates = [run for run in finished if first is None or run.resolve() != first.resolve()]
    needed = 2 if first is None else 1
    if len(candidates) < needed:
        raise RunError(f"runs compare: {'one more run' if first is not None else 'two runs'} needed and "
                       f"{runs_dir}/ has {len(finished)} finished; name the runs: bertclf runs compare RUN OTHER")
    if first is None:
        return candidates[-2], candidates[-1]
    return first, candidates[-1]
