"""Progress while TF Hub downloads a handle: its own messages, shown as bertclf's lines.

`hub.load` and `hub.KerasLayer` download a URL handle on first use into TF Hub's cache
(`TFHUB_CACHE_DIR`), which for a BERT encoder is hundreds of megabytes. tensorflow_hub says
so through absl logging at INFO (at the start, every 15 s with the bytes so far, at the end),
which bertclf's commands keep at ERROR; while a handle loads, those messages are let through,
one line each on stderr, and nothing else of absl's INFO is. A handle already in the cache
loads without a line.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Iterator

from bertclf.files import is_url


class _HubLines(logging.Handler):
    """tensorflow_hub's INFO messages, and anyone's warnings, as lines on stderr. Where the cache
    is ("Using DIR to cache modules", said on every load) is said only before a download."""

    def __init__(self) -> None:
        super().__init__()
        self.cache_line: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno < logging.WARNING and "tensorflow_hub" not in record.pathname:
            return
        message = record.getMessage()
        if message.startswith("Using ") and message.endswith("to cache modules."):
            self.cache_line = message
            return
        if message.startswith("Downloading TF-Hub Module") and self.cache_line:
            print(f"TF Hub: {self.cache_line}", file=sys.stderr, flush=True)
        # Only tensorflow_hub's own messages are labelled as such; another logger's warning is its own.
        label = "TF Hub: " if "tensorflow_hub" in record.pathname else f"{record.levelname.lower()}: "
        print(f"{label}{message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def download_progress(handle: str) -> Iterator[None]:
    """Shows tensorflow_hub's download messages while `handle` loads (URL handles only)."""
    if not is_url(handle):
        yield
        return
    absl = logging.getLogger("absl")
    level, propagate = absl.level, absl.propagate
    handler = _HubLines()
    absl.addHandler(handler)
    absl.setLevel(logging.INFO)
    absl.propagate = False  # the root logger's handlers would print INFO lines a second time
    try:
        yield
    finally:
        absl.removeHandler(handler)
        absl.setLevel(level)
        absl.propagate = propagate
