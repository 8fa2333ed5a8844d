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


class ModelError(BertclfError):
    """An encoder cannot be resolved, loaded or built."""


class RunError(BertclfError):
    """A run folder is missing, incomplete or would be overwritten."""


class TrainingDiverged(BertclfError):
    """The loss became NaN or infinite."""


class Interrupted(BertclfError):
    """The user stopped a run (Ctrl-C); what was saved can be resumed."""

    exit_code = 130


class WorkerLost(BertclfError):
    """A multi-worker run lost a worker; restarting every worker with --resume continues it."""
