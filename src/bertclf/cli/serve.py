"""`bertclf serve`: a run's model over HTTP, in TensorFlow Serving's REST shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bertclf.cli.app import RUN_HELP, app, runs_dir_option, runtime_option
from bertclf.errors import ConfigError


@app.command()
def serve(
    run: Optional[Path] = typer.Argument(None, help=RUN_HELP),
    model: Optional[Path] = typer.Option(None, "--model", help="The run folder (the same as RUN)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8501, "--port", min=0, max=65535, help="Port (TF Serving's REST port by default)."),
    name: Optional[str] = typer.Option(None, "--name", help="Model name in the URLs (default: the experiment name)."),
    batch_wait_ms: float = typer.Option(5.0, "--batch-wait-ms", min=0,
                                        help="How long a request waits for others to share a model call."),
    max_batch: int = typer.Option(64, "--max-batch", min=1, help="Texts per model call."),
    max_instances: int = typer.Option(1024, "--max-instances", min=1, help="Texts per request."),
    max_queue: int = typer.Option(4096, "--max-queue", min=1,
                                  help="Texts waiting for the model; beyond it requests get 503 and Retry-After."),
    as_json: bool = typer.Option(False, "--json", help="Print the start line as one JSON object (url, model, run) "
                                                       "once the server listens."),
    runtime: str = runtime_option(),
    runs_dir: Path = runs_dir_option(),
) -> None:
    """Serve a run's model over HTTP with TensorFlow Serving's REST API (and a page to try it)."""
    from bertclf.artifacts import resolve_run
    from bertclf.serving.server import ServeOptions, serve as run_server

    if run is not None and model is not None:
        raise ConfigError("serve: give the run once, as RUN or with --model")
    run_server(resolve_run(run or model, runs_dir), ServeOptions(host=host, port=port, name=name,
                                                         batch_wait_ms=batch_wait_ms, max_batch=max_batch,
                                                         max_instances=max_instances,
                                                         max_queued_texts=max_queue, json_start=as_json),
               runtime)
