"""CI cannot pass by skipping: under BERTCLF_NO_SKIPS=1 a skipped test fails with its reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _pytest(tmp_path: Path, strict: bool, *extra: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_module_skip.py").write_text(
        "import pytest\n\npytest.skip('no browser here', allow_module_level=True)\n\n"
        "def test_never_collected():\n    pass\n", encoding="utf-8")
    (tmp_path / "test_sample.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.skipif(True, reason='no shared data here')\n"
        "def test_needs_data():\n    pass\n\n"
        "def test_skips_inside():\n    pytest.skip('no weights here')\n\n"
        "def test_runs():\n    assert True\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(TESTS), "BERTCLF_NO_SKIPS": "1" if strict else "0", "COLUMNS": "400"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "strict_skips", "-p", "no:cacheprovider",
                           "-o", "addopts=", *extra, str(tmp_path / "test_sample.py"),
                           str(tmp_path / "test_module_skip.py")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


import pytest  # noqa: E402


@pytest.mark.parametrize("extra", [(), ("-n", "2", "--dist", "loadfile")], ids=["one-process", "xdist"])
def test_skips_fail_in_ci_and_name_their_reason(tmp_path, extra):
    # Also as `make test` runs the suite: on pytest-xdist workers, whose reports the controller shows.
    done = _pytest(tmp_path, True, *extra)
    assert done.returncode != 0, done.stdout
    # A skipif marker skips in setup, so its test counts as an error; pytest.skip() in the body, a
    # failure; a module that skips itself, a collection error (which ends the session).
    assert "makes every skip a failure: no browser here" in done.stdout, done.stdout
    if not extra:  # one process stops at the collection error; xdist workers run the rest anyway
        assert "1 error" in done.stdout and "Interrupted: 1 error during collection" in done.stdout
        done = _pytest(tmp_path, True, "--continue-on-collection-errors")
    assert "1 failed, 1 passed, 2 errors" in done.stdout, done.stdout
    assert "makes every skip a failure: no shared data here" in done.stdout
    assert "makes every skip a failure: no weights here" in done.stdout


def test_skips_stay_skips_elsewhere(tmp_path):
    done = _pytest(tmp_path, strict=False)
    assert done.returncode == 0 and "1 passed, 3 skipped" in done.stdout, done.stdout
