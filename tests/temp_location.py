"""Where the test suite writes its temporary files: memory where it has room.

A run of the suite writes about 12 GB (checkpoints and SavedModels of MiniLM and e5, IMDB
unpacked into 50,000 files), up to 2.5 GiB at once; on this machine's disk IMDB's unpacking
alone took 10-19 s, in memory 6 s (CONTRIBUTING: Test time). tests/conftest.py points TMPDIR at
the memory-backed /dev/shm where it has room to spare, unless TMPDIR is set; elsewhere (a
container's 64 MB /dev/shm, macOS) the system's temporary folder stays. scripts/machine_speed.py
reports the free space of the same folder. No side effects on import.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Mapping, Optional

MEMORY_TEMP = Path("/dev/shm")
MEMORY_TEMP_NEEDED = 8 * 2**30


def memory_backed_temp(folder: Path = MEMORY_TEMP, needed: int = MEMORY_TEMP_NEEDED) -> Optional[Path]:
    """`folder` if the suite may write its temporary files there (writable, `needed` bytes free)."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return None
    return folder if free >= needed and os.access(folder, os.W_OK | os.X_OK) else None


def suite_temp_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The folder the suite writes in: TMPDIR if set, else /dev/shm with room, else the system's."""
    if environ.get("TMPDIR"):
        return Path(environ["TMPDIR"])
    return memory_backed_temp() or Path(tempfile.gettempdir())
