"""Test order for `make test`'s two workers: the slowest files first.

`make test` hands whole files to the workers (pytest-xdist `--dist loadfile`, collection order
kept), so a file's module fixtures are built once and a file's runs share one process. Files
start longest first (longest-processing-time-first scheduling): the workers then end within a
few seconds of each other instead of one waiting out a long file started last. The seconds are
what each file took in `make test` (setup and calls, two workers, 2026-12-05); a file missing
here runs after these, in collection order. Re-measure with `pytest --durations=0`.
"""

from __future__ import annotations

FILE_SECONDS = {
    "tests/test_shipped_configs.py": 426,
    "tests/training/test_budget.py": 118,
    "tests/test_api.py": 116,
    "tests/training/test_distribution.py": 111,
    "tests/pretraining/test_pretrain.py": 99,
    "tests/sweep/test_sweep.py": 86,
    "tests/test_docs.py": 85,
    "tests/runtime/test_tf_setup.py": 46,
    "tests/training/test_resume.py": 72,
    "tests/serving/test_server.py": 64,
    "tests/cli/test_run_commands.py": 53,
    "tests/sweep/test_sweep_failures.py": 52,
    "tests/test_end_to_end.py": 50,
    "tests/training/test_run_settings.py": 47,
    "tests/training/test_precision.py": 45,
    "tests/reporting/test_seeds.py": 37,
    "tests/encoders/test_exactness.py": 37,
    "tests/encoders/test_cache_precision.py": 32,
    "tests/test_progress.py": 32,
    "tests/training/test_lifecycle.py": 31,
    "tests/encoders/test_e5.py": 26,
    "tests/encoders/test_convert.py": 18,
    "tests/training/test_finishing.py": 15,
    "tests/reporting/test_html_report.py": 13,
    "tests/serving/test_export_check.py": 12,
}


def pytest_collection_modifyitems(session, config, items) -> None:
    rank = {path: i for i, path in enumerate(sorted(FILE_SECONDS, key=FILE_SECONDS.get, reverse=True))}
    # A stable sort: each file's tests keep their order, and unlisted files theirs.
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
