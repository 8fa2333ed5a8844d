"""User-facing errors.

Everything a user can cause (a bad config, missing data, an unreachable encoder
handle) raises a `BertclfError` subclass carrying a one-line message that names
the file, key or row and says how to fix it. The CLI catches these in one place
and prints the message; any other exception is a bug and keeps its traceback.
"""


class BertclfError(Exception):
    """Base class for mistakes a user can fix; `exit_code` is what the CLI returns."""

    exit_code = 1


class ConfigError(BertclfError):
    """The config file, a `--set` override or a command-line argument is wrong."""

    exit_code = 2


class DataError(BertclfError):
    """The data a config points at is missing, empty or malformed."""


class LabelValueError(DataError):
    """A label column holds a value the config gives no meaning (neither 0 nor 1, and not in
    `data.label_values`): fixed in the config as often as in the file, so exit code 2, as a
    config error's."""

    exit_code = 2


class ModelError(BertclfError):
    """An encoder cannot be resolved, loaded or built."""


class RunError(BertclfError):
    """A run folder is missing, incomplete or would be overwritten."""


class TrainingDiverged(BertclfError):
    """The loss became NaN or infinite."""


class Interrupted(BertclfError):
    """The user or a scheduler stopped a run (Ctrl-C or SIGTERM); what was saved can be resumed.

    The exit code is the shell's for the signal: 130 for Ctrl-C (SIGINT, 2), 143 for SIGTERM (15).
    """

    def __init__(self, message: str, signum: int = 2):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class WorkerLost(BertclfError):
    """A multi-worker run lost a worker; restarting every worker with --resume continues it."""


class ExportCheckFailed(BertclfError):
    """An export (ONNX) that does not reproduce the run: a token id or probability differs beyond
    its tolerance, or int8 changes too many labels. Nothing is written in its place."""
