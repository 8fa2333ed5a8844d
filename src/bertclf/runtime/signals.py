"""Stopping a long command: Ctrl-C (SIGINT) and SIGTERM mean the same thing.

SIGTERM is what `docker stop`, Kubernetes, `timeout` and batch schedulers send
before they kill a process. Python's default for it ends the process at once,
without the "Resume with ..." line and with whatever was being written half
done, so bertclf's commands treat it as Ctrl-C: outside a fit it raises
KeyboardInterrupt (caught once, in the CLI), inside a fit the training loop's
own handler takes both (it finishes the step, gives up the epoch in progress and
says how to resume). The exit code follows the shell's convention, 128 + the
signal's number: 130 for Ctrl-C, 143 for SIGTERM.

No TensorFlow here: the CLI installs this before it imports anything heavy.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable, Iterator, Optional

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: dict[str, Optional[int]] = {"signal": None}


def note(signum: int) -> None:
    """Records the stop signal a handler received (the exit code is derived from it)."""
    _received["signal"] = signum


def received() -> Optional[int]:
    """The stop signal received since the command started, or None."""
    return _received["signal"]


def last_signal() -> int:
    """The last stop signal received in this process (SIGINT when none was recorded)."""
    return _received["signal"] or signal.SIGINT


def exit_code(signum: Optional[int] = None) -> int:
    """The shell's exit code for a process stopped by `signum` (default: the last one received)."""
    return 128 + int(signum or last_signal())


def describe(signum: Optional[int] = None) -> str:
    """'Ctrl-C' or 'SIGTERM' (the name of any other signal), for messages."""
    signum = signum or last_signal()
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def can_handle() -> bool:
    """Signal handlers can only be installed from the main thread (a notebook's worker thread cannot)."""
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def handled(handler: Callable[[int, object], None]) -> Iterator[None]:
    """Installs `handler` for both stop signals, restoring the previous handlers afterwards.

    Outside the main thread nothing is installed (Python allows handlers only there).
    """
    if not can_handle():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)


def raise_interrupt(signum: int, frame) -> None:
    """A handler: records the signal and raises KeyboardInterrupt, as Python's default for Ctrl-C does."""
    note(signum)
    raise KeyboardInterrupt


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """For the duration of a command, SIGTERM raises KeyboardInterrupt as Ctrl-C does."""
    _received["signal"] = None
    with handled(raise_interrupt):
        yield
