"""The `bertclf` app: its command groups, global options, the one place errors are caught.

Each command (in this package's other modules) parses its arguments, calls one
library function and reports. TensorFlow is imported inside the commands that
need it, so `bertclf --help` and config errors answer at once. User mistakes
(`BertclfError`) are caught here, once, and printed as one line; anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import time

# A command's timing starts here, before its imports (a run's `startup` phase shows them).
_STARTED = time.perf_counter()

import enum  # noqa: E402
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
runs_app = typer.Typer(no_args_is_help=True, help="The runs in a folder: list and compare them.")
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")
app.add_typer(runs_app, name="runs")

SET_HELP = "Override a config value: --set train.epochs=2 (repeatable)."
RUN_HELP = "Run folder (default: the newest finished run in --runs-dir)."
RUNS_HELP = "Folder holding runs; the newest finished run there is the default RUN."
JSON_HELP = "Print the result as one JSON document on stdout."
# Set by --debug (anywhere on the command line) before the command runs.
_OPTIONS = {"debug": False}


class SplitName(str, enum.Enum):
    """The splits a run's config defines and `evaluate --split` can score."""

    test = "test"
    validation = "validation"


def runs_dir_option() -> Path:
    """The `--runs-dir` option every command that takes a RUN shares."""
    return typer.Option(Path("runs"), "--runs-dir", help=RUNS_HELP)


def runtime_option() -> str:
    """The `--runtime` option of the commands that use a run's model (predict, evaluate, serve)."""
    return typer.Option("auto", "--runtime",
                        help="auto: the run's ONNX export when it has one (bertclf export), else TensorFlow; "
                             "onnx; int8 (the export's int8 model, only when asked); tensorflow.")


def echo_json(value) -> None:
    """One JSON document on stdout (non-ASCII text as is: Korean reviews stay readable)."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def read_lines(path: Path) -> list[str]:
    """A UTF-8 text file's lines; a missing or non-UTF-8 file is one ConfigError line."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 (byte {error.start}); re-save it as UTF-8") from None


def command_started() -> float:
    """When this command started (the process's start for its first command)."""
    return _OPTIONS.get("started", _STARTED)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bertclf {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors (also accepted after "
                                                      "the command)."),
) -> None:
    """Fine-tune BERT-family encoders for text classification from a YAML config."""
    _OPTIONS["debug"] = _OPTIONS["debug"] or debug


def _take_debug(argv: List[str]) -> tuple[List[str], bool]:
    """Removes `--debug` wherever it stands before a `--`, so it works after the subcommand too."""
    end = argv.index("--") if "--" in argv else len(argv)
    kept = [arg for arg in argv[:end] if arg != "--debug"] + argv[end:]
    return kept, len(kept) != len(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the CLI and returns its exit code: 0 ok, 1 runtime failure, 2 usage or config error."""
    import bertclf.cli  # noqa: F401  (registers every command on `app`)
    from bertclf.runtime.tf_setup import quiet_tensorflow, use_keras2

    # A bertclf command's own process: TensorFlow's chatter off (its errors kept), Keras 2.
    quiet_tensorflow()
    use_keras2()

    argv, debug = _take_debug(list(sys.argv[1:] if argv is None else argv))
    _OPTIONS["debug"] = debug
    # The first command of a process started when the CLI was imported; a later one (tests
    # call main() many times) starts now.
    _OPTIONS["started"] = time.perf_counter() if _OPTIONS.get("ran") else _STARTED
    _OPTIONS["ran"] = True
    from bertclf.runtime import signals

    try:
        # SIGTERM (docker stop, Kubernetes, batch schedulers) stops a command as Ctrl-C does.
        with signals.terminate_as_interrupt():
            # Standalone mode lets Typer print usage errors and help itself; it ends with SystemExit.
            app(args=argv, prog_name="bertclf", standalone_mode=True)
    except SystemExit as done:
        if done.code == 130 and signals.received() is not None:
            # Typer turns a KeyboardInterrupt outside a fit (reading data, exporting...) into a
            # silent exit 130: say what stopped the command, with the signal's own exit code.
            print(f"error: stopped by {signals.describe()}; nothing of this command was finished", file=sys.stderr)
            return signals.exit_code()
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
