"""`python -m bertclf` runs the CLI."""

from bertclf.cli import run

run()
