"""Progress of long steps: a bar in a terminal; elsewhere (logs, CI, pipes) a line at least
every `interval` seconds with done/total, rate and time left, and a closing line.

Every step that can pass 10 s (reading, tokenising, converting, fitting, validating,
scoring, predicting a file, pretraining) reports through `Progress`, on stderr, so
stdout stays the command's result (`--json`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Callable, Iterator, Optional, TextIO

# Seconds between lines where stderr is not a terminal. Steps chain: a step that starts within
# this long of the previous step's start or last line is due a line this long after that
# moment, not after its own start, so quiet steps in a row cannot add up to a long silence.
LINE_INTERVAL = 15.0
# A terminal bar is drawn from this many seconds on, so quick steps do not flicker.
BAR_DELAY = 1.0
_BAR_WIDTH = 24
_STATE = {"enabled": True, "anchor": None}


def set_enabled(enabled: bool) -> None:
    """Turns progress output on or off for the process (and starts a new chain of steps)."""
    _STATE["enabled"] = enabled
    _STATE["anchor"] = None


@contextlib.contextmanager
def shown(enabled: bool) -> Iterator[None]:
    """Progress on or off inside a block (a run's `runtime.progress`), as it was after it."""
    previous = _STATE["enabled"]
    _STATE["enabled"] = enabled
    try:
        yield
    finally:
        _STATE["enabled"] = previous


def _interval() -> float:
    # Tests shorten the interval to see lines from steps of a second.
    return float(os.environ.get("BERTCLF_PROGRESS_SECONDS", LINE_INTERVAL))


def duration(seconds: float) -> str:
    """`42s`, `3m05s` or `1h02m`."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
    """Reports `done` of `total` units of one step, from a background thread.

    The thread writes whether or not the work advances, so a step whose units
    are slow (one conversion phase, one long batch) still shows it is alive.
    Use it as a context manager, or call `close()`.

    Args:
        label: What the step is, e.g. `Tokenising`; None reports nothing.
        total: Units in the step (None when unknown: no percentage or time left).
        unit: What is counted, e.g. `texts`, `steps`.
        stream: Where to write (default: stderr).
        detail: Called at each report for extra text, e.g. the current loss.
    """

    def __init__(self, label: Optional[str], total: Optional[int], unit: str, stream: Optional[TextIO] = None,
                 detail: Optional[Callable[[], str]] = None):
        self.label, self.total, self.unit, self.detail = label, total, unit, detail
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _STATE["enabled"] and label is not None
        self.tty = self.enabled and bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.started = time.perf_counter()
        self._reported = False
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        # The moment this step's first line is counted from: the chain's, if it is recent.
        anchor = _STATE["anchor"]
        self._anchor = anchor if anchor is not None and self.started - anchor < _interval() else self.started
        if self.enabled:
            _STATE["anchor"] = self._anchor
            self._thread = threading.Thread(target=self._report_until_closed, daemon=True,
                                            name=f"progress: {label}")
            self._thread.start()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close(failed=kind is not None)

    def advance(self, count: int = 1) -> None:
        """Counts `count` more units done."""
        self.done += count

    def close(self, failed: bool = False) -> None:
        """Ends the step: a closing line if anything was reported."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._thread is not None:
            self._thread.join()
        if not self._reported:
            return
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total is None and self.done == 0:
            end = f"{self.label}: {'stopped' if failed else 'done'} after {duration(elapsed)}"
        else:
            end = (f"{self.label}: {'stopped at' if failed else 'done,'} {self.done:,} {self.unit} in "
                   f"{duration(elapsed)} ({_rate(rate, self.unit)})")
        self._write(("\r" + end + "\x1b[K\n") if self.tty else end + "\n")

    def _report_until_closed(self) -> None:
        # A terminal gets its bar redrawn twice a second once the step has run BAR_DELAY;
        # anything else a line every interval.
        first, every = (BAR_DELAY, 0.5) if self.tty else (_interval(), _interval())
        if not self.tty:
            first = max(0.0, self._anchor + _interval() - time.perf_counter())
        if self._closed.wait(first):
            return
        while True:
            line = self._line(time.perf_counter(), bar=self.tty)
            self._write(("\r" + line + "\x1b[K") if self.tty else line + "\n")
            if self._closed.wait(every):
                return

    def _line(self, now: float, bar: bool = False) -> str:
        elapsed = now - self.started
        done = self.done
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.label}:"]
        if self.total:
            share = min(1.0, done / self.total)
            if bar:
                filled = int(share * _BAR_WIDTH)
                parts.append("[" + "#" * filled + "." * (_BAR_WIDTH - filled) + "]")
            parts.append(f"{done:,}/{self.total:,} {self.unit} ({share:.0%}),")
        elif done == 0:  # a step with no units to count: how long it has run
            return " ".join(parts + [f"{duration(elapsed)} so far"])
        else:
            parts.append(f"{done:,} {self.unit},")
        parts.append(_rate(rate, self.unit) + ",")
        if self.total and rate > 0:
            parts.append(f"{duration((self.total - done) / rate)} left")
        else:
            parts.append(f"{duration(elapsed)} so far")
        if self.detail is not None:
            extra = self.detail()
            if extra:
                parts.append(f"({extra})")
        return " ".join(parts)

    def _write(self, text: str) -> None:
        with self._lock:
            self._reported = True
            _STATE["anchor"] = time.perf_counter()
            self.stream.write(text)
            self.stream.flush()


def _rate(rate: float, unit: str) -> str:
    if rate == 0:
        return f"0 {unit}/s"
    if rate < 1:
        return f"{1 / rate:.1f} s per {unit.rstrip('s')}"
    return f"{rate:,.1f} {unit}/s"
