"""The package layout's import rule: the top level and `data/` load without TensorFlow.

`bertclf --help`, config validation and data checks answer at once because the
modules they use never import TensorFlow (or matplotlib) when loaded; TensorFlow
is imported inside the functions that need it, or lives in `training/`,
`serving/` and `encoders/` modules, which may import it at load.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bertclf

PACKAGE = Path(bertclf.__file__).parent
HEAVY = ("tensorflow", "tf_keras", "tensorflow_hub", "tensorflow_text", "matplotlib")


def _light_modules() -> list[str]:
    names = [f"bertclf.{path.stem}" for path in sorted(PACKAGE.glob("*.py")) if path.stem != "__main__"]
    names += [f"bertclf.data.{path.stem}" for path in sorted((PACKAGE / "data").glob("*.py"))]
    return [name.removesuffix(".__init__") for name in names]


def _first_heavy_import(modules: list[str], extra_path: str = "") -> str:
    # One interpreter: a module is blamed for whatever heavy package first appears while it loads.
    script = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {extra_path!r})\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"    heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
        "    if heavy:\n"
        "        print(name, heavy)\n"
        "        break\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_top_level_and_data_modules_load_without_tensorflow():
    modules = _light_modules()
    assert {"bertclf.cli", "bertclf.config", "bertclf.model", "bertclf.task", "bertclf.data"} <= set(modules)
    assert _first_heavy_import(modules) == ""


def test_the_check_names_a_module_that_imports_tensorflow(tmp_path):
    # The rule's check must be able to fail: a light-looking module that imports TensorFlow is named.
    (tmp_path / "leaky_module.py").write_text("import tensorflow\n")
    assert _first_heavy_import(["bertclf.config", "leaky_module"], str(tmp_path)).startswith(
        "leaky_module ['tensorflow'")
