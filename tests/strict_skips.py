"""A pytest plugin: with BERTCLF_NO_SKIPS=1 (what .ci/run sets), a skipped test fails.

Tests skip where something they need is absent: the shared data sets, the pip-installed
weights, Chromium. On a developer's machine that is a convenience; in CI it would let a
green run hide checks that never ran, so there every skip becomes a failure that names
its reason.
"""

from __future__ import annotations

import os

import pytest

ENV = "BERTCLF_NO_SKIPS"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get(ENV) == "1" and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"skipped, and {ENV}=1 (CI) makes every skip a failure: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A module that skips itself (`pytest.skip(..., allow_module_level=True)`, a module-level
    `importorskip`) skips at collection, where no test report is made: fail the collection."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get(ENV) == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"{collector.nodeid}: skipped, and {ENV}=1 (CI) makes every skip a failure: {reason}"
