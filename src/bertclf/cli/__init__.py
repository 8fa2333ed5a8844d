"""The `bertclf` command line: one thin module per command group, over the public API.

`app` (the Typer app, global options, error handling) is in `cli/app.py`; importing
this package registers every command on it.
"""

from bertclf.cli import checks, export, models, results, runs, serve, sweep, training  # noqa: F401  (register commands)
from bertclf.cli.app import app, main, run

__all__ = ["app", "main", "run"]
