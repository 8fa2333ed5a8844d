"""The cache: entries are built once, atomically, even by processes that start together."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from bertclf.cache import build_once


def _build_slowly(target: str, log: str, started) -> None:
    def build(staging: Path) -> None:
        with open(log, "a") as handle:
            handle.write("built\n")
        time.sleep(0.5)  # long enough that the other process arrives mid-build
        staging.mkdir()
        (staging / "data.txt").write_text("x")
        (staging / "DONE").write_text("")

    started.wait()
    build_once(Path(target), build, "DONE")


def test_processes_sharing_a_cache_build_an_entry_once(tmp_path):
    target, log = tmp_path / "cache" / "entry", tmp_path / "builds.log"
    context = multiprocessing.get_context("spawn")  # no fork: the test process may run TensorFlow threads
    started = context.Event()
    workers = [context.Process(target=_build_slowly, args=(str(target), str(log), started)) for _ in range(3)]
    for worker in workers:
        worker.start()
    started.set()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    assert log.read_text() == "built\n"  # one build; the others waited and reused it
    assert (target / "data.txt").read_text() == "x"
    assert sorted(path.name for path in target.parent.iterdir()) == [".entry.lock", "entry"]


def test_a_stale_entry_is_rebuilt_with_one_line(tmp_path, capsys):
    target = tmp_path / "entry"

    def build(staging: Path) -> None:
        staging.mkdir()
        (staging / "DONE").write_text("new")

    build_once(target, build, "DONE")
    assert capsys.readouterr().err == ""
    (target / "DONE").write_text("old")
    build_once(target, build, "DONE", stale=lambda folder: "old format" if (folder / "DONE").read_text() == "old"
               else None)
    assert capsys.readouterr().err == f"{target}: old format; rebuilding it\n"
    assert (target / "DONE").read_text() == "new"
