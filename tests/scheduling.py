"""Test order for `make test`'s two workers: the slowest files first.

`make test` hands whole files to the workers (pytest-xdist `--dist loadfile`, collection order
kept), so a file's module fixtures are built once and a file's runs share one process. Files
start longest first (longest-processing-time-first scheduling): the workers then end within a
few seconds of each other instead of one waiting out a long file started last. The seconds are
what each file took on two workers (setup and calls, `--durations=0`, 2026-12-07 at 5065157, all 745 tests;
files of 3 s or more); a file missing here runs after these, in collection order.
"""

from __future__ import annotations

FILE_SECONDS = {
    "tests/test_shipped_configs.py": 352,
    "tests/training/test_distribution.py": 101,
    "tests/sweep/test_sweep.py": 78,
    "tests/training/test_budget.py": 69,
    "tests/test_api.py": 58,
    "tests/test_multilabel_end_to_end.py": 51,
    "tests/pretraining/test_pretrain.py": 48,
    "tests/serving/test_server.py": 42,
    "tests/training/test_run_settings.py": 41,
    "tests/test_docs.py": 40,
    "tests/training/test_resume.py": 39,
    "tests/sweep/test_sweep_failures.py": 36,
    "tests/serving/test_onnx.py": 30,
    "tests/encoders/test_exactness.py": 30,
    "tests/test_end_to_end.py": 29,
    "tests/runtime/test_tf_setup.py": 28,
    "tests/serving/test_long_text.py": 26,
    "tests/encoders/test_e5.py": 23,
    "tests/training/test_precision.py": 22,
    "tests/reporting/test_seeds.py": 20,
    "tests/encoders/test_cache_precision.py": 20,
    "tests/cli/test_run_commands.py": 20,
    "tests/training/test_finishing.py": 17,
    "tests/test_progress.py": 16,
    "tests/training/test_lifecycle.py": 14,
    "tests/training/test_step_profile.py": 13,
    "tests/encoders/test_loaded_encoders.py": 11,
    "tests/serving/test_export_tokenizer.py": 10,
    "tests/reporting/test_html_report.py": 10,
    "tests/serving/test_model_cache.py": 8,
    "tests/encoders/test_tiny.py": 7,
    "tests/test_layout.py": 6,
    "tests/encoders/test_convert.py": 6,
    "tests/training/test_bench_process.py": 5,
    "tests/cli/test_cli.py": 5,
    "tests/test_bad_inputs.py": 4,
    "tests/encoders/test_wordpiece.py": 4,
    "tests/encoders/test_e5_package.py": 4,
    "tests/data/test_label_sets.py": 4,
    "tests/training/test_pipeline.py": 3,
    "tests/test_strict_skips.py": 3,
}


def pytest_collection_modifyitems(session, config, items) -> None:
    rank = {path: i for i, path in enumerate(sorted(FILE_SECONDS, key=FILE_SECONDS.get, reverse=True))}
    # A stable sort: each file's tests keep their order, and unlisted files theirs.
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
