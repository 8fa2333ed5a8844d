"""Test order for `make test`'s two workers: the slowest files first.

`make test` hands whole files to the workers (pytest-xdist `--dist loadfile`, collection order
kept), so a file's module fixtures are built once and a file's runs share one process. Files
start longest first (longest-processing-time-first scheduling): the workers then end within a
few seconds of each other instead of one waiting out a long file started last. The seconds are
what each file took on two workers (setup and calls, `--durations=0`, 2026-12-06 at d67f35b, all 716 tests);
a file missing here runs after these, in collection order.
"""

from __future__ import annotations

FILE_SECONDS = {
    "tests/test_shipped_configs.py": 422,
    "tests/training/test_distribution.py": 140,
    "tests/training/test_budget.py": 130,
    "tests/pretraining/test_pretrain.py": 88,
    "tests/sweep/test_sweep.py": 82,
    "tests/test_api.py": 79,
    "tests/training/test_resume.py": 77,
    "tests/serving/test_server.py": 65,
    "tests/test_docs.py": 60,
    "tests/test_multilabel_end_to_end.py": 57,
    "tests/training/test_precision.py": 47,
    "tests/sweep/test_sweep_failures.py": 46,
    "tests/serving/test_onnx.py": 44,
    "tests/encoders/test_cache_precision.py": 42,
    "tests/reporting/test_seeds.py": 38,
    "tests/encoders/test_exactness.py": 38,
    "tests/training/test_run_settings.py": 36,
    "tests/test_end_to_end.py": 30,
    "tests/runtime/test_tf_setup.py": 28,
    "tests/test_progress.py": 28,
    "tests/serving/test_long_text.py": 25,
    "tests/cli/test_run_commands.py": 24,
    "tests/training/test_lifecycle.py": 24,
    "tests/encoders/test_e5.py": 22,
    "tests/training/test_finishing.py": 22,
    "tests/reporting/test_html_report.py": 13,
    "tests/encoders/test_convert.py": 12,
    "tests/encoders/test_tiny.py": 9,
}


def pytest_collection_modifyitems(session, config, items) -> None:
    rank = {path: i for i, path in enumerate(sorted(FILE_SECONDS, key=FILE_SECONDS.get, reverse=True))}
    # A stable sort: each file's tests keep their order, and unlisted files theirs.
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
