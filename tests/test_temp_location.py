"""Where the suite writes its temporary files (tests/temp_location.py): memory where it has room."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import temp_location
from temp_location import memory_backed_temp, suite_temp_dir


def test_a_folder_qualifies_only_when_it_exists_is_writable_and_has_the_room(tmp_path, monkeypatch):
    assert memory_backed_temp(tmp_path, needed=1) == tmp_path
    assert memory_backed_temp(tmp_path, needed=2**62) is None  # 4 EiB: no machine's free space
    assert memory_backed_temp(tmp_path / "missing", needed=1) is None
    monkeypatch.setattr(temp_location.os, "access", lambda path, mode: False)  # read-only (root writes anywhere)
    assert memory_backed_temp(tmp_path, needed=1) is None


def test_the_suite_folder_is_tmpdir_then_memory_then_the_systems(tmp_path, monkeypatch):
    assert suite_temp_dir({"TMPDIR": str(tmp_path)}) == tmp_path
    monkeypatch.setattr(temp_location, "memory_backed_temp", lambda: tmp_path / "shm")
    assert suite_temp_dir({}) == tmp_path / "shm"
    monkeypatch.setattr(temp_location, "memory_backed_temp", lambda: None)
    assert suite_temp_dir({}) == Path(tempfile.gettempdir())


def test_tmp_path_and_tempfile_follow_the_choice(tmp_path):
    chosen = os.environ.get("TMPDIR")  # the user's, or /dev/shm as conftest chose
    if chosen is None:  # no memory-backed folder with room on this machine: the system's default
        assert memory_backed_temp() is None
        return
    assert Path(tempfile.gettempdir()).resolve() == Path(chosen).resolve()
    assert tmp_path.resolve().is_relative_to(Path(chosen).resolve())
