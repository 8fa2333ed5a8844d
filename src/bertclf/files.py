"""Locations and files: telling URLs from paths, and writing files whole or not at all.

Everything bertclf writes for later readers (run folders, cache entries, plots)
is written under a temporary name beside its target and renamed into place, so
a crash or Ctrl-C never leaves a half-written file where a reader expects a
whole one. This is the one place that does it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Optional


def is_url(location: str) -> bool:
    """True for a URL (`scheme://...`: TF Hub handles, archive URLs), False for a local path."""
    return "://" in location


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Calls `write(temporary)` for a file beside `path`, then renames it onto `path`.

    Args:
        path: The file to create or replace.
        write: Writes the whole content to the path it is given (it keeps `path`'s
            suffix, for writers such as matplotlib that choose a format by it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Writes UTF-8 text to `path` atomically."""
    write_atomic(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def write_json_atomic(path: Path, payload: Any) -> None:
    """Writes JSON (UTF-8, indented, non-ASCII kept readable) atomically."""
    write_text_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def staging_dir(final: Path) -> Path:
    """A fresh temporary folder beside `final`, to be published with `publish_dir`."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp"))


def publish_dir(staging: Path, final: Path) -> None:
    """Moves a fully written folder into place, replacing what was there."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)


@contextlib.contextmanager
def process_lock(lock_file: Path, waiting: Optional[str] = None) -> Iterator[None]:
    """An exclusive lock between processes on one machine or one shared file system (fcntl;
    where fcntl is missing, no lock). Prints `waiting` if another process holds it."""
    try:
        import fcntl
    except ImportError:  # Windows: callers stay correct, only not coordinated
        yield
        return
    with open(lock_file, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                print(waiting, file=sys.stderr, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
