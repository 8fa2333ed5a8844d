"""Where bertclf keeps what it can rebuild: unpacked archives, built encoders."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Optional

from bertclf.files import process_lock, publish_dir


def cache_root() -> Path:
    """`$BERTCLF_CACHE`, else `$XDG_CACHE_HOME/bertclf`, else `~/.cache/bertclf`."""
    explicit = os.environ.get("BERTCLF_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "bertclf"


def cache_dir(*parts: str) -> Path:
    """A folder under the cache root (created)."""
    folder = cache_root().joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def build_once(target: Path, build: Callable[[Path], None], done_marker: str,
               stale: Optional[Callable[[Path], Optional[str]]] = None) -> Path:
    """Returns `target`, first building it if it lacks `done_marker` or is stale.

    `build(staging)` writes into a fresh folder beside the target (and must
    create `done_marker` in it last); the folder is then renamed into place, so
    an interrupted build never leaves a cache entry that looks complete.
    Processes sharing the cache (the workers of a cluster on one machine, runs
    started together) build an entry once: the others wait on its lock file and
    then use what the first one built.

    Args:
        target: The cache entry's folder.
        build: Writes the entry into the folder it is given.
        done_marker: File whose presence marks a complete entry.
        stale: Says why a complete entry must not be reused (None if it may be);
            such an entry is rebuilt, with one line on stderr saying why.
    """
    if _usable(target, done_marker, stale, say=False):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / f".{target.name}.lock", target):
        # Another process may have built it while this one waited.
        if _usable(target, done_marker, stale, say=True):
            return target
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as scratch:
            staging = Path(scratch) / "build"
            build(staging)
            if not (staging / done_marker).exists():
                raise RuntimeError(f"building {target} did not produce {done_marker}")
            publish_dir(staging, target)
    return target


def _usable(target: Path, done_marker: str, stale: Optional[Callable[[Path], Optional[str]]], say: bool) -> bool:
    if not (target / done_marker).exists():
        return False
    reason = stale(target) if stale is not None else None
    if reason is not None and say:
        print(f"{target}: {reason}; rebuilding it", file=sys.stderr, flush=True)
    return reason is None


def _locked(lock_file: Path, target: Path):
    """An exclusive lock between processes building the same entry."""
    return process_lock(lock_file, f"Waiting for another process to finish building {target}...")
