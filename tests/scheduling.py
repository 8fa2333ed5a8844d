"""Test order for `make test`'s two workers: the slowest files first.

`make test` hands whole files to the workers (pytest-xdist `--dist loadfile`, collection order
kept), so a file's module fixtures are built once and a file's runs share one process. Files
start longest first (longest-processing-time-first scheduling): the workers then end within a
few seconds of each other instead of one waiting out a long file started last. The seconds are
what each file took in `make test` (setup and calls, two workers, 2026-12-04); a file missing
here runs after these, in collection order. Re-measure with `pytest --durations=0`.
"""

from __future__ import annotations

FILE_SECONDS = {
    "tests/test_shipped_configs.py": 500,
    "tests/test_api.py": 214,
    "tests/training/test_distribution.py": 160,
    "tests/training/test_budget.py": 121,
    "tests/serving/test_server.py": 100,
    "tests/training/test_resume.py": 97,
    "tests/cli/test_run_commands.py": 96,
    "tests/sweep/test_sweep.py": 95,
    "tests/training/test_lifecycle.py": 86,
    "tests/pretraining/test_pretrain.py": 80,
    "tests/encoders/test_cache_precision.py": 67,
    "tests/encoders/test_convert.py": 64,
    "tests/training/test_precision.py": 60,
    "tests/training/test_run_settings.py": 52,
    "tests/reporting/test_seeds.py": 40,
    "tests/encoders/test_e5_package.py": 39,
    "tests/test_end_to_end.py": 39,
    "tests/encoders/test_e5.py": 34,
    "tests/encoders/test_exactness.py": 31,
    "tests/test_progress.py": 24,
}


def pytest_collection_modifyitems(session, config, items) -> None:
    rank = {path: i for i, path in enumerate(sorted(FILE_SECONDS, key=FILE_SECONDS.get, reverse=True))}
    # A stable sort: each file's tests keep their order, and unlisted files theirs.
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
