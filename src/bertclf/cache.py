"""Where bertclf keeps what it can rebuild: unpacked archives, built encoders."""

from __future__ import annotations

import os
from pathlib import Path


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
