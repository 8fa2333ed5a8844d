"""Progress of long steps: a bar in a terminal, elsewhere a line every interval, and what
`bertclf train` and `evaluate` print with it in a log (not a terminal)."""

from __future__ import annotations

import io
import re
import time

import pytest

from bertclf import progress
from bertclf.progress import Progress
from conftest import e2e_config


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def short_interval(monkeypatch):
    monkeypatch.setenv("BERTCLF_PROGRESS_SECONDS", "0.1")
    monkeypatch.setattr(progress, "BAR_DELAY", 0.1)
    progress.set_enabled(True)
    yield
    progress.set_enabled(True)


def test_a_log_gets_lines_with_done_total_rate_and_time_left():
    log = io.StringIO()
    with Progress("Tokenising", 40, "texts", stream=log, detail=lambda: "loss 0.5000") as shown:
        for _ in range(4):
            time.sleep(0.12)
            shown.advance(10)
    lines = log.getvalue().splitlines()
    assert len(lines) >= 3, lines
    assert re.fullmatch(r"Tokenising: \d+/40 texts \(\d+%\), [\d.,]+ texts/s, \d+s left \(loss 0\.5000\)",
                        lines[1]), lines[1]
    assert re.fullmatch(r"Tokenising: done, 40 texts in \d+s \([\d.,]+ texts/s\)", lines[-1]), lines[-1]
    assert "\r" not in log.getvalue()


def test_a_step_that_does_not_advance_still_reports_it_is_alive():
    log = io.StringIO()
    with Progress("Converting e5-small-q4.bin", None, "steps", stream=log):
        time.sleep(0.35)
    lines = log.getvalue().splitlines()
    assert len(lines) >= 3 and lines[0] == "Converting e5-small-q4.bin: 0s so far"
    assert lines[-1] == "Converting e5-small-q4.bin: done after 0s"


def test_a_terminal_gets_one_redrawn_bar():
    screen = Terminal()
    with Progress("Scoring test-full", 100, "texts", stream=screen) as shown:
        for _ in range(5):
            time.sleep(0.15)
            shown.advance(20)
    text = screen.getvalue()
    assert text.count("\n") == 1 and text.endswith("\x1b[K\n")
    assert re.search(r"\rScoring test-full: \[#*\.*\] \d+/100 texts", text)
    assert "Scoring test-full: done, 100 texts in" in text


def test_quick_steps_quiet_runs_and_no_label_print_nothing():
    log = io.StringIO()
    with Progress("Quick", 3, "texts", stream=log) as shown:
        shown.advance(3)
    with Progress(None, 3, "texts", stream=log) as shown:
        time.sleep(0.25)
    progress.set_enabled(False)
    with Progress("Off", 3, "texts", stream=log):
        time.sleep(0.25)
    assert log.getvalue() == ""


def test_a_failed_step_says_where_it_stopped():
    log = io.StringIO()
    with pytest.raises(KeyError):
        with Progress("Reading train/", 10, "files", stream=log) as shown:
            shown.advance(4)
            time.sleep(0.15)
            raise KeyError("x")
    assert log.getvalue().splitlines()[-1].startswith("Reading train/: stopped at 4 files in")


@pytest.mark.slow
def test_train_and_evaluate_report_progress_in_a_log(tmp_path, tiny_encoder_dir, monkeypatch, capsys):
    # Not a terminal (captured, as a log or a pipe is), so lines, not bars; an interval short
    # enough to see them on tiny data.
    from bertclf.cli import main

    monkeypatch.setenv("BERTCLF_PROGRESS_SECONDS", "0.05")
    monkeypatch.chdir(tmp_path)
    config = e2e_config(tmp_path, tiny_encoder_dir)
    capsys.readouterr()
    assert main(["train", str(config), "--set", "runtime.progress=true"]) == 0
    err = capsys.readouterr().err
    lines = err.splitlines()
    # Epoch 1 traces, so it outlasts the interval; epoch 2's 5 tiny steps may not, and a step
    # too short for a line gets no closing line either.
    assert any(re.match(r"Epoch 1/2: \d+/\d+ steps \(\d+%\), ", line) for line in lines), err[-3000:]
    for step in ("Epoch 1/2", "Epoch 2/2"):
        if any(line.startswith(f"{step}: ") for line in lines):
            assert re.search(rf"^{step}: done, \d+ steps in ", err, re.M), err[-3000:]
    assert re.search(r"^Validation after epoch 1: done, 12 texts in ", err, re.M)
    # An epoch's line closes before validation starts, so its rate is training's alone.
    closed = next(i for i, line in enumerate(lines) if line.startswith("Epoch 1/2: done"))
    assert all(not line.startswith("Validation after epoch 1") for line in lines[:closed])
    assert not any(line.startswith("Epoch 1/2: ") for line in lines[closed + 1:])
    # This process holds the model its training checked (serving.loaded_models): scoring 16 texts
    # took under 2 ms once (a CI of 2026-12-07: no line, no closing line), so each batch is made
    # to outlast the interval, whatever this machine's speed.
    advance = Progress.advance

    def slow_advance(self, count=1):
        time.sleep(0.05)
        advance(self, count)

    monkeypatch.setattr(Progress, "advance", slow_advance)
    monkeypatch.setenv("BERTCLF_PROGRESS_SECONDS", "0.002")
    assert main(["evaluate", "--full", "--runs-dir", str(tmp_path / "runs")]) == 0
    evaluated = capsys.readouterr().err
    assert re.search(r"^Scoring test-full: done, 16 texts in ", evaluated, re.M), evaluated


def test_quiet_steps_in_a_row_cannot_add_up_to_a_long_silence(monkeypatch):
    # Interval 0.5 s: neither step alone runs that long, but the second is due a line 0.5 s
    # after the first one started (0.15 s into itself), not 0.5 s after its own start.
    monkeypatch.setenv("BERTCLF_PROGRESS_SECONDS", "0.5")
    log = io.StringIO()
    with Progress("Converting", None, "steps", stream=log):
        time.sleep(0.35)
    assert log.getvalue() == ""
    with Progress("Tokenising", 10, "texts", stream=log):
        time.sleep(0.4)
    assert log.getvalue().splitlines()[0].startswith("Tokenising: 0/10 texts (0%)")


class _SlowDownload(io.BytesIO):
    """A download of 5 chunks, one every 0.06 s, whose server says its length."""

    def __init__(self, size: int):
        super().__init__(b"x" * size)
        self.headers = {"Content-Length": str(size)}

    def read(self, size: int = -1) -> bytes:
        time.sleep(0.06)
        return super().read(min(size, 400_000))


def test_a_download_shows_kilobytes_of_the_total_and_its_speed(tmp_path, capsys):
    from bertclf.data.root import copy_with_progress

    with (tmp_path / "archive.tar.gz").open("wb") as out:
        copy_with_progress(_SlowDownload(2_000_000), out, "archive.tar.gz")
    assert (tmp_path / "archive.tar.gz").stat().st_size == 2_000_000
    lines = capsys.readouterr().err.splitlines()
    assert any(re.fullmatch(r"Downloading archive.tar.gz: [\d,]+/2,000 kB \(\d+%\), [\d.,]+ kB/s, \d+s left", line)
               for line in lines), lines
    assert re.fullmatch(r"Downloading archive.tar.gz: done, 2,000 kB in \d+s \([\d.,]+ kB/s\)", lines[-1]), lines


@pytest.mark.slow
def test_learning_a_vocabulary_reports_both_phases(monkeypatch, capsys):
    from bertclf.encoders.tiny import learn_vocab

    monkeypatch.setenv("BERTCLF_PROGRESS_SECONDS", "0.01")
    texts = [f"review number {i} says the film was {'good' if i % 2 else 'bad'} and long" for i in range(20_000)]
    vocab = learn_vocab(texts, 300, True)
    assert vocab[0] == "[PAD]" and "film" in vocab
    err = capsys.readouterr().err
    assert re.search(r"Counting words for the vocabulary: done, 20,000 texts in \d+s", err), err
    assert "Learning a 300-piece vocabulary from" in err
