"""`bertclf evaluate`, `predict` and `report`: what a finished run's artifacts give."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from bertclf.cli.app import (JSON_HELP, RUN_HELP, SplitName, app, echo_json, read_lines, runs_dir_option,
                             runtime_option)
from bertclf.errors import ConfigError


@app.command()
def evaluate(
    run: Optional[Path] = typer.Argument(None, help=RUN_HELP),
    split: SplitName = typer.Option(SplitName.test, "--split", help="Which split of the run's config to score."),
    data: Optional[Path] = typer.Option(None, "--data", help="Score a folder of class subfolders, or a "
                                                              "file in the run's format, instead."),
    full: bool = typer.Option(False, "--full", help="Score the whole split, ignoring data.max_eval_examples."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON (without the report's "
                                                       "curves and example texts; see --full-json)."),
    full_json: bool = typer.Option(False, "--full-json", help="Print everything eval-NAME.json holds, curves "
                                                              "and example texts included."),
    runtime: str = runtime_option(),
    long_text: Optional[str] = typer.Option(
        None, "--long-text", help="Read texts longer than the sequence length otherwise than the run does: "
                                  "truncate or windows (model.long_text), to compare both on one model."),
    aggregation: Optional[str] = typer.Option(
        None, "--aggregation", help="With windows: mean, max or weighted instead of the run's "
                                    "model.window_aggregation."),
    runs_dir: Path = runs_dir_option(),
) -> None:
    """Score a run's exported model: loss, accuracy, per-class F1, confusion matrix, scores by length."""
    from bertclf.artifacts import resolve_run
    from bertclf.evaluation import evaluate_run
    from bertclf.reporting.tables import evaluation_text

    if as_json and full_json:
        raise ConfigError("evaluate: --json prints the summary and --full-json everything; choose one")
    result = evaluate_run(resolve_run(run, runs_dir), split=split.value, data_path=data, full=full,
                          runtime=runtime, long_text=long_text, aggregation=aggregation)
    if full_json:
        echo_json(result.metrics)
    elif as_json:
        summary = {key: value for key, value in result.metrics.items() if key != "analysis"}
        echo_json({"evaluation": result.name, "file": str(result.report_path), **summary})
    else:
        typer.echo(evaluation_text(result.name, result.metrics, result.class_names))
        typer.echo(f"\nWrote {result.report_path} and {result.plot_path}")


@app.command()
def report(
    run: Optional[Path] = typer.Argument(None, help=RUN_HELP),
    evaluation: Optional[str] = typer.Option(
        None, "--evaluation", help="Which eval-NAME.json to report on, e.g. test-full or validation "
                                   "(default: the fullest test evaluation)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    runs_dir: Path = runs_dir_option(),
) -> None:
    """Write RUN/report.html: data, training curves, results, ROC/PR, calibration, mistakes, timing."""
    from bertclf.artifacts import resolve_run
    from bertclf.reporting.report import write_report

    run_dir = resolve_run(run, runs_dir)
    written = write_report(run_dir, evaluation)
    if as_json:
        echo_json({"run": str(run_dir), "report": str(written)})
    else:
        typer.echo(f"Wrote {written}")


@app.command()
def predict(
    arguments: List[str] = typer.Argument(
        None, metavar="RUN|TEXT",
        help="Texts to classify, after an optional run folder (default: the newest finished run in "
             "--runs-dir). Or use --file, or standard input."),
    model: Optional[Path] = typer.Option(None, "--model", help="The run folder (the same as RUN)."),
    file: Optional[Path] = typer.Option(None, "--file", help="Classify a file: .txt (one text per line), "
                                                             ".csv, .tsv or .jsonl (see --text-column)."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="The column of --file holding the "
                                                                          "texts (default: the run's "
                                                                          "data.text_column)."),
    pair_column: Optional[str] = typer.Option(None, "--pair-column", help="A pair model's second-text column "
                                                                          "(default: the run's "
                                                                          "data.text_pair_column)."),
    output: Optional[Path] = typer.Option(None, "--output", help="Write the rows of --file with label, "
                                                                 "probability and p_<class> columns "
                                                                 "added, as .csv, .tsv, .jsonl or .txt."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Texts per model call."),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="Two-class models: decide the second "
                                                                        "class from this probability on "
                                                                        "(default: the run's threshold)."),
    top_k: int = typer.Option(1, "--top-k", min=1, help="Show the k most probable classes."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines, one per text."),
    runtime: str = runtime_option(),
    runs_dir: Path = runs_dir_option(),
) -> None:
    """Classify texts with a run's exported model."""
    from bertclf.artifacts import resolve_run
    from bertclf.reporting.tables import format_table, shorten
    from bertclf.serving.predict_file import file_format
    from bertclf.serving.predictions import check_runtime

    texts = list(arguments or [])
    if model is None and texts and _is_run_folder(Path(texts[0])):
        model, texts = Path(texts[0]), texts[1:]
    elif model is None and texts and _looks_like_a_path(texts[0]):
        # `predict runs/typo "text"` classified the typo as a text with the newest run.
        raise ConfigError(f"predict: {texts[0]}: no run folder there; a first argument with a '/' and no "
                          f"spaces is read as a run. To classify it as a text, name the run with --model")
    if output is not None and file is None:
        raise ConfigError("--output: give the rows to classify with --file (texts as arguments are printed)")
    for path in (file, output):  # mistakes in the files named are found before the model loads
        if path is not None:
            file_format(path)
    if file is not None:
        read_lines(file)  # missing or not UTF-8: one line now, not after loading the model
    check_runtime(runtime)  # before the files are read and the model loads
    run_dir = resolve_run(model, runs_dir)
    if file is not None:
        if texts:
            raise ConfigError("predict: give texts as arguments or with --file, not both")
        results = _predict_file(run_dir, file, text_column, pair_column, output, batch_size, threshold, top_k,
                                as_json, runtime)
        if results is None:
            return
    else:
        if not texts:
            if sys.stdin.isatty():
                raise ConfigError("predict: give texts as arguments, with --file F, or on standard input")
            texts = [line.rstrip("\n") for line in sys.stdin]
        predictor = _loaded(run_dir, runtime)
        results = predictor.predict(texts, top_k=top_k, batch_size=batch_size, threshold=threshold)
    if as_json:
        for result in results:
            typer.echo(json.dumps({**result, "run": str(run_dir)}, ensure_ascii=False))
        return
    if results and "labels" in results[0]:  # a multi-label model: each text's label set
        rows = [[", ".join(f"{label} {r['probabilities'][label]:.3f}" for label in r["labels"]) or "(none)",
                 shorten(r["text"])] for r in results]
        typer.echo(format_table(["labels", "text"], rows))
        return
    rows = [[", ".join(f"{t['label']} {t['probability']:.3f}" for t in r["top"]), shorten(r["text"])]
            for r in results]
    typer.echo(format_table(["prediction", "text"], rows))


def _loaded(run_dir: Path, runtime: str):
    """The run's predictor, and a line saying which run and runtime answer (the newest run of a
    folder is not always the one meant, nor the runtime the one expected)."""
    from bertclf.serving.predictions import open_predictor

    predictor = open_predictor(run_dir, runtime)
    print(f"Predicting with {run_dir} ({predictor.runtime})", file=sys.stderr, flush=True)
    return predictor


def _looks_like_a_path(argument: str) -> bool:
    """A first argument meant as a run: a path separator and no white space ('runs/x', './x'),
    or something that exists on disk. 'and/or' in a sentence has spaces around it."""
    return (("/" in argument or os.sep in argument) and not any(c.isspace() for c in argument)) \
        or Path(argument).exists()


def _is_run_folder(path: Path) -> bool:
    from bertclf import artifacts

    return path.is_dir() and (artifacts.is_finished(path) or (path / artifacts.CONFIG_FILE).is_file())


def _predict_file(run_dir: Path, file: Path, text_column: Optional[str], pair_column: Optional[str],
                  output: Optional[Path], batch_size: int, threshold: Optional[float], top_k: int,
                  as_json: bool = False, runtime: str = "auto"):
    """Predicts the rows of `file`; writes them to `output` (and returns None: what was written is
    said, as JSON with `as_json`) or returns the results."""
    from bertclf import artifacts
    from bertclf.serving.predict_file import file_format, read_records, write_records

    # The rows are read, and their columns checked, before the model loads (seconds, for MiniLM).
    saved = artifacts.read_run_data_columns(run_dir)
    takes_pairs = saved["text_pair_column"] is not None  # the run trained on pairs
    if pair_column is None and takes_pairs:
        pair_column = saved["text_pair_column"]
    if pair_column is not None and not takes_pairs:
        raise ConfigError("--pair-column: this model classifies single texts")
    if takes_pairs and file_format(file) == "txt":
        raise ConfigError(f"{file}: this model classifies text pairs; a .txt file cannot hold them, use "
                          f".csv/.tsv/.jsonl with --pair-column")
    if text_column is None and file_format(file) != "txt":
        text_column = saved["text_column"]
    records = read_records(file, text_column or "text", pair_column)
    predictor = _loaded(run_dir, runtime)
    results = predictor.predict(records.texts, top_k=top_k, pairs=records.pairs, batch_size=batch_size,
                                threshold=threshold, progress=f"Predicting {file.name}")
    if output is None:
        return results
    write_records(output, records, results, predictor.class_names)
    counts = {name: sum(name in r["labels"] if "labels" in r else r["label"] == name for r in results)
              for name in predictor.class_names}
    if as_json:
        echo_json({"run": str(run_dir), "output": str(output), "rows": len(results), "labels": counts})
    else:
        typer.echo(f"Wrote {output}: {len(results):,} rows (" + ", ".join(f"{n} {c:,}" for n, c in counts.items())
                   + ")")
    return None
