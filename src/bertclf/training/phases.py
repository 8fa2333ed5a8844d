"""Where a run's wall time goes: named phases, each timed exclusively.

A phase entered inside another (tokenizing inside fit, say) pauses the outer
one, so the phases add up to the time they cover and nothing is counted twice.
`train` times its steps with one `PhaseTimer`; `metrics.json` records them
under `timing.phases`, and the CLI prints them as one line.
"""

from __future__ import annotations

import contextlib
import functools
import time
from typing import Callable, Iterator, Optional

# In the order a run meets them; `record` keeps this order.
PHASES = ("startup", "data", "import", "runtime", "encoder", "tokenize", "fit", "validation",
          "test_scoring", "export", "export_check", "reports")


class PhaseTimer:
    """Accumulates exclusive wall time per phase, from `started` (a `time.perf_counter()` value)."""

    def __init__(self, started: Optional[float] = None, clock: Callable[[], float] = time.perf_counter):
        self._clock = clock
        self.started = clock() if started is None else started
        self.seconds: dict[str, float] = {}
        self._stack: list[list] = []  # [name, running since]
        # Everything before the timer existed: interpreter, CLI and config loading.
        self.seconds["startup"] = max(0.0, self._clock() - self.started)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Times the block as `name`, pausing the enclosing phase meanwhile."""
        now = self._clock()
        if self._stack:
            self._add(self._stack[-1][0], now - self._stack[-1][1])
        self._stack.append([name, now])
        try:
            yield
        finally:
            now = self._clock()
            finished, since = self._stack.pop()
            self._add(finished, now - since)
            if self._stack:
                self._stack[-1][1] = now

    def timed(self, name: str, function: Callable) -> Callable:
        """`function`, with every call timed as `name`."""
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with self.phase(name):
                return function(*args, **kwargs)
        return wrapper

    def reassign(self, source: str, target: str, seconds: float) -> None:
        """Moves `seconds` measured inside `source` (e.g. by a callback) to `target`."""
        seconds = min(seconds, self.seconds.get(source, 0.0))
        self._add(source, -seconds)
        self._add(target, seconds)

    def record(self) -> dict:
        """`{"phases": {name: seconds}, "total_seconds": ...}`, total measured from `started` to now."""
        order = [name for name in PHASES if name in self.seconds] + \
                [name for name in self.seconds if name not in PHASES]
        total = self._clock() - self.started
        phases = {name: round(self.seconds[name], 2) for name in order}
        phases["other"] = round(max(0.0, total - sum(self.seconds.values())), 2)
        return {"phases": phases, "total_seconds": round(total, 2)}

    def _add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


def timing_line(timing: dict) -> str:
    """`Time: 47.5 s (fit 24.1, import 5.2, ...)`, the largest phases first, zeros left out."""
    phases = sorted(((seconds, name) for name, seconds in timing["phases"].items() if seconds >= 0.05),
                    reverse=True)
    return f"Time: {timing['total_seconds']:.1f} s (" + ", ".join(
        f"{name.replace('_', ' ')} {seconds:.1f}" for seconds, name in phases) + ")"
