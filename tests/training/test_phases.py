"""A run's phase timing: exclusive phases that add up to the total."""

from __future__ import annotations

import json

import pytest

from bertclf import artifacts
from bertclf.training.phases import PhaseTimer, timing_line


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_nested_phases_are_timed_exclusively_and_add_up_to_the_total():
    clock = _Clock()
    timer = PhaseTimer(started=98.5, clock=clock)  # 1.5 s before the timer: startup
    with timer.phase("fit"):
        clock.now += 2
        with timer.phase("tokenize"):
            clock.now += 3
        clock.now += 4
    tokenize = timer.timed("tokenize", lambda: setattr(clock, "now", clock.now + 0.5))
    tokenize()
    clock.now += 1  # untimed
    timer.reassign("fit", "validation", 1.0)
    record = timer.record()
    assert record["phases"] == {"startup": 1.5, "tokenize": 3.5, "fit": 5.0, "validation": 1.0, "other": 1.0}
    assert record["total_seconds"] == 12.0
    assert timing_line(record) == "Time: 12.0 s (fit 5.0, tokenize 3.5, startup 1.5, validation 1.0, other 1.0)"


@pytest.mark.slow
def test_every_run_records_its_phases(binary_run):
    timing = json.loads((binary_run / artifacts.METRICS_FILE).read_text())["timing"]
    phases = timing["phases"]
    # Reading 64 texts can round to 0.00 s, in this process TensorFlow was imported before, and the
    # tiny encoder is a folder whose preprocessor this process may have loaded for an earlier run
    # (encoders.load_preprocessor keeps it): those three may be 0; the rest always takes measurable time.
    assert {"data", "import", "encoder"} <= set(phases)
    for name in ("tokenize", "fit", "validation", "test_scoring", "export",
                 "export_check", "reports"):
        assert phases[name] > 0, name
    assert sum(phases.values()) == pytest.approx(timing["total_seconds"], abs=0.1)
    assert phases["fit"] + phases["validation"] >= timing["fit_seconds"] - 0.1
