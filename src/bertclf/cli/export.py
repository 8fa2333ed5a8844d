"""`bertclf export`: a finished run's model as ONNX (and int8), to use without TensorFlow."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bertclf.cli.app import RUN_HELP, app, echo_json, runs_dir_option


@app.command()
def export(
    run: Optional[Path] = typer.Argument(None, help=RUN_HELP),
    format: str = typer.Option("onnx", "--format", help="onnx: model.onnx (token ids -> probabilities, float32), "
                                                        "tokenizer.json and bertclf.json in RUN/export/onnx/."),
    quantize: Optional[str] = typer.Option(None, "--quantize", help="int8: also model.int8.onnx (dynamic, "
                                                                    "per-channel), refused if it changes labels."),
    as_json: bool = typer.Option(False, "--json", help="Print the export's record (bertclf.json) as JSON."),
    runs_dir: Path = runs_dir_option(),
) -> None:
    """Export a run's model to ONNX with its tokenizer, checked against the run (predict, evaluate and
    serve then use it, without TensorFlow)."""
    from bertclf import artifacts
    from bertclf.artifacts import resolve_run
    from bertclf.serving.export_command import export_run

    run_dir = resolve_run(run, runs_dir)
    record = export_run(run_dir, format, quantize)
    folder = run_dir / artifacts.EXPORT_DIR / artifacts.ONNX_SUBDIR
    if as_json:
        echo_json({"run": str(run_dir), "folder": str(folder), **record})
        return
    check = record["checks"]["onnx"]
    typer.echo(f"Wrote {folder}: " + ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in record["files"].items()))
    typer.echo(f"  tokens equal to the run's on {check['token_texts']:,} validation texts; probabilities within "
               f"{check['max_abs_difference_float32']:.1e} of the float32 classifier and "
               f"{check['max_abs_difference_saved_model']:.1e} of the SavedModel ({check['saved_model_precision']})")
    if "int8" in record["checks"]:
        int8 = record["checks"]["int8"]
        typer.echo(f"  int8: {int8['labels_unchanged']:.1%} of {int8['texts']} validation labels unchanged; "
                   f"accuracy {int8['accuracy_float32']:.2%} -> {int8['accuracy_int8']:.2%}")
    typer.echo(f"  predict, evaluate and serve now use it (--runtime tensorflow for the SavedModel); "
               f"{record['export_seconds']:.0f} s")
