"""`bertclf train`, `pretrain` and `bench`: the commands that train."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import List, Optional

import typer

from bertclf.cli.app import JSON_HELP, SET_HELP, app, command_started, echo_json
from bertclf.errors import ConfigError

# `bertclf bench`'s pipelines unless --pipelines names others (bertclf.training.bench.PIPELINES).
DEFAULT_PIPELINES = "seed,fixed,bucketed,bucketed_bf16"


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
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Fine-tune an encoder as the config says; write a run folder."""
    if as_json:  # stdout carries the JSON alone: Keras's progress lines go to stderr with bertclf's own
        with contextlib.redirect_stdout(sys.stderr):
            result = _train(config, run, overrides, resume, run_dir, overwrite, seeds)
        echo_json(_train_json(result))
        return
    result = _train(config, run, overrides, resume, run_dir, overwrite, seeds)
    if seeds is not None:
        typer.echo(f"Finished {len(result.runs)} seeds; summary in {result.group_dir}")
        return
    if result.run_dir is None:
        typer.echo("Finished this worker's part; the chief writes the run folder.")
        return
    metrics = result.metrics
    # A multi-label run's headline is micro F1 (and macro F1 over its labels), not accuracy.
    headline = ("micro F1", "micro_f1") if "micro_f1" in metrics["validation"] else ("accuracy", "accuracy")
    summary = [f"validation {headline[0]} {metrics['validation'][headline[1]]:.4f} (best epoch "
               f"{metrics['best_epoch'] or metrics['epochs']} of {metrics['epochs']})"]
    if "test" in metrics:
        macro = f", macro F1 {metrics['test']['macro_f1']:.4f}" if headline[1] == "micro_f1" else ""
        summary.append(f"test {headline[0]} {metrics['test'][headline[1]]:.4f}{macro} "
                       f"({metrics['test']['examples']} examples)")
    threshold = metrics.get("threshold")
    if threshold and threshold["rule"] != "fixed":
        chosen = (f"{len(threshold['values'])} thresholds" if "values" in threshold
                  else f"decision threshold {threshold['value']:.3f}")
        summary.append(f"{chosen} ({threshold['rule']})")
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

    # TensorFlow (imported with bertclf.training.train) only once the config and the arguments
    # are known to be good: a mistake in either is one line at once, not after a 3-5 s import.
    if seeds is not None:
        if resume or run_dir is not None or run is not None:
            raise ConfigError("--seeds starts new runs in the config's output_dir; drop --resume/--run-dir")
        from bertclf.training.seeds import train_seeds

        return train_seeds(load_config(config, overrides), seeds, started=command_started())
    if resume:
        from bertclf.training.resume import resolve_resume

        if run_dir is not None or overwrite:
            raise ConfigError("--resume continues a run in its own folder; drop --run-dir/--overwrite")
        resumed_dir, resumed_config = resolve_resume(config, overrides, run)
        from bertclf.training.train import train as run_training

        result = run_training(resumed_config, run_dir=resumed_dir, resume=True, started=command_started())
        if result.run_dir is not None:
            from bertclf.artifacts import record_last_run

            record_last_run(result.run_dir)
        return result
    if run is not None:
        raise ConfigError(f"train: {run} is one argument too many; to continue that run, add --resume "
                          f"(bertclf train {config} --resume {run})")
    loaded = load_config(config, overrides)
    from bertclf.training.train import train as run_training

    result = run_training(loaded, run_dir=run_dir, overwrite=overwrite, started=command_started())
    if result.run_dir is not None:
        from bertclf.artifacts import record_last_run

        record_last_run(result.run_dir)
    return result


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
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Continue masked-LM pretraining of the encoder on unlabelled text; write an encoder folder."""
    if as_json:  # stdout carries the JSON alone; progress lines go to stderr
        with contextlib.redirect_stdout(sys.stderr):
            result = _pretrain(config, overrides, resume, run_dir, overwrite)
        echo_json({"run": str(result.run_dir), "encoder": str(result.encoder_dir), "metrics": result.metrics})
        return
    result = _pretrain(config, overrides, resume, run_dir, overwrite)
    loss = result.metrics["held_out_loss"]
    typer.echo(f"Finished: {result.run_dir}\n  {result.metrics['steps']:,} steps; held-out masked-LM loss "
               f"{loss['start']:.4f} -> {loss['end']:.4f}\n  Encoder: {result.encoder_dir} "
               f"(use it with --set model.encoder={result.encoder_dir})")


def _pretrain(config: Path, overrides: List[str], resume: bool, run_dir: Optional[Path], overwrite: bool):
    """`pretrain`'s work: a PretrainResult."""
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
        return run_pretraining(load_config(config / artifacts.CONFIG_FILE, overrides), run_dir=config,
                               resume=True, started=command_started())
    return run_pretraining(load_config(config, overrides), run_dir=run_dir, overwrite=overwrite,
                           started=command_started())


@app.command()
def bench(
    config: Path = typer.Argument(..., help="Experiment config (YAML)."),
    overrides: List[str] = typer.Option([], "--set", help=SET_HELP),
    pipelines: Optional[str] = typer.Option(None, "--pipelines",
                                            help="Comma-separated: seed (tokenizer in the model, fixed length), "
                                                 "fixed (tokenized once, fixed length), bucketed (by length), "
                                                 "bucketed_bf16 (and the encoder in bfloat16), bucketed_native "
                                                 "(the encoder rebuilt natively, float32), bucketed_distributed "
                                                 "(under runtime.distribution's strategy) "
                                                 f"(default: {DEFAULT_PIPELINES}). With --profile: one "
                                                 "of bucketed, bucketed_bf16, bucketed_native "
                                                 "(default: the config's own)."),
    steps: int = typer.Option(20, "--steps", min=1, help="Timed training steps per pipeline and repeat."),
    warmup: int = typer.Option(3, "--warmup", min=1, help="Untimed training steps first."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Runs per pipeline; medians are reported."),
    inference_examples: int = typer.Option(512, "--inference-examples", min=1,
                                           help="Validation texts scored per pipeline and repeat."),
    output: Optional[Path] = typer.Option(None, "--output", help="Also save the full result as JSON here."),
    as_json: bool = typer.Option(False, "--json", help="Print the full result as JSON instead of a table."),
    whole_process: bool = typer.Option(False, "--whole-process",
                                       help="Instead: time whole `bertclf train` processes by phase, next "
                                            "to the TF tutorial's way on the same data (--repeats of each)."),
    baseline_source: Optional[Path] = typer.Option(
        None, "--baseline-source", help="With --whole-process: also time `bertclf train` from this source "
                                        "folder (an older checkout's src/), for a before/after."),
    processes: Optional[str] = typer.Option(
        None, "--processes", help="With --whole-process: which of bertclf, seed_style, baseline to run "
                                  "(default: the first two, and baseline with --baseline-source)."),
    profile: Optional[Path] = typer.Option(
        None, "--profile", help="Instead: profile --steps training steps of the config's own pipeline after "
                                "--warmup, keep TensorFlow's trace in this folder, and print where a step's "
                                "wall time goes by op type, matrix products against the measured peak."),
) -> None:
    """Measure training and inference throughput of pipelines side by side; print a Markdown table."""
    from bertclf.config import load_config

    if profile is not None:
        from bertclf.training import step_profile

        loaded = load_config(config, overrides)
        with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
            result = step_profile.profile_step(loaded, profile, steps, warmup,
                                               pipelines.strip() if pipelines else None)
        _bench_output(result, output, as_json, step_profile.markdown)
        return

    if whole_process:
        from bertclf.training import bench_process

        if pipelines:
            raise ConfigError("--pipelines: not with --whole-process, which times whole processes "
                              "(--processes chooses them)")
        load_config(config, overrides)  # a config mistake is one line here, not in a child process
        chosen = bench_process.choose_processes(processes, baseline_source)
        result = bench_process.run_whole_process(config, overrides, repeats, baseline_source, chosen)
        _bench_output(result, output, as_json, bench_process.markdown)
        return

    loaded = load_config(config, overrides)
    from bertclf.training.bench import PIPELINES, markdown, run_bench

    chosen = tuple(name.strip() for name in (pipelines or DEFAULT_PIPELINES).split(",") if name.strip())
    unknown = [name for name in chosen if name not in PIPELINES]
    if unknown or not chosen:
        raise ConfigError(f"--pipelines: unknown {', '.join(unknown) or '(none)'}; "
                          f"choose from {', '.join(PIPELINES)}")
    if as_json:  # stdout carries the JSON alone
        with contextlib.redirect_stdout(sys.stderr):
            result = run_bench(loaded, chosen, steps, warmup, repeats, inference_examples)
    else:
        result = run_bench(loaded, chosen, steps, warmup, repeats, inference_examples)
    _bench_output(result, output, as_json, markdown)


def _bench_output(result: dict, output: Optional[Path], as_json: bool, as_markdown) -> None:
    """`--output`'s JSON file, then the result on stdout: JSON with --json, else Markdown."""
    if output is not None:
        from bertclf.files import write_json_atomic

        write_json_atomic(output, result)
    if as_json:
        echo_json(result)
    else:
        typer.echo(as_markdown(result))
