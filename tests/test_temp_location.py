"""Where the suite writes its temporary files (tests/conftest.py): memory where it has room."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from conftest import memory_backed_temp


def test_a_folder_qualifies_only_when_it_exists_is_writable_and_has_the_room(tmp_path):
    assert memory_backed_temp(tmp_path, needed=1) == tmp_path
    assert memory_backed_temp(tmp_path, needed=2**62) is None  # 4 EiB: no machine's free space
    assert memory_backed_temp(tmp_path / "missing", needed=1) is None
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.geteuid() != 0:  # root writes anywhere
        assert memory_backed_temp(locked, needed=1) is None


def test_tmp_path_and_tempfile_follow_the_choice(tmp_path):
    chosen = os.environ.get("TMPDIR")  # the user's, or /dev/shm as conftest chose
    if chosen is None:  # no memory-backed folder with room on this machine: the system's default
        assert memory_backed_temp() is None
        return
    assert Path(tempfile.gettempdir()).resolve() == Path(chosen).resolve()
    assert tmp_path.resolve().is_relative_to(Path(chosen).resolve())
