"""`bertclf env`, `config check` and `data check`: answers before any training."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from bertclf.cli.app import JSON_HELP, SET_HELP, app, config_app, data_app, echo_json


@app.command("env")
def env(
    config: Optional[Path] = typer.Argument(None, help="A config whose runtime.* settings to decide for "
                                                       "(default: the defaults, all auto)."),
    overrides: List[str] = typer.Option([], "--set", help=SET_HELP),
    probe: bool = typer.Option(False, "--probe", help="Import TensorFlow to list devices even without an "
                                                      "NVIDIA driver (about 5 s)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Show versions, devices, CPU features, and what runtime `auto` settings would pick here, and why."""
    from bertclf.environment import describe_environment

    runtime = None
    if config is not None:
        from bertclf.config import load_config

        runtime = load_config(config, overrides).runtime
    rows = describe_environment(runtime, probe_tensorflow=probe)
    if as_json:
        echo_json(dict(rows))
        return
    width = max(len(label) for label, _ in rows)
    typer.echo("\n".join(f"{label.ljust(width)}  {value}" for label, value in rows))


@config_app.command("check")
def config_check(
    config: Path = typer.Argument(..., help="Experiment config (YAML)."),
    overrides: List[str] = typer.Option([], "--set", help=SET_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the resolved config and the encoder as JSON."),
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
    if as_json:
        echo_json({"config": str(config), "valid": True, "encoder": encoder,
                   "resolved": resolved.model_dump(mode="json")})
        return
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
    if as_json:
        echo_json(report)
    else:
        typer.echo(data_report_text(report))
