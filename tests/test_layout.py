"""The package layout's import rules.

`bertclf --help`, config validation and data checks answer at once because the
modules they use (the top level, `cli/`, `data/`, `runtime/`, `sweep/`) never import
TensorFlow (or matplotlib) when loaded; TensorFlow is imported inside the
functions that need it, or lives in `training/`, `serving/` and `encoders/`
modules, which may import it at load.

The flow is one-way: the runtime sits below everything, and nothing in
`encoders/`, `serving/`, `reporting/`, `runtime/`, `evaluation.py` or
`environment.py` imports `training/`, not even inside a function.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import bertclf

PACKAGE = Path(bertclf.__file__).parent
HEAVY = ("tensorflow", "tf_keras", "tensorflow_hub", "tensorflow_text", "matplotlib")


def _light_modules() -> list[str]:
    names = [f"bertclf.{path.stem}" for path in sorted(PACKAGE.glob("*.py")) if path.stem != "__main__"]
    for folder in ("cli", "config", "data", "runtime", "sweep"):
        names += [f"bertclf.{folder}.{path.stem}" for path in sorted((PACKAGE / folder).glob("*.py"))]
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
    assert {"bertclf.cli", "bertclf.cli.training", "bertclf.config", "bertclf.model", "bertclf.task",
            "bertclf.data", "bertclf.runtime.hardware", "bertclf.runtime.start", "bertclf.progress"} <= set(modules)
    assert _first_heavy_import(modules) == ""


def test_the_check_names_a_module_that_imports_tensorflow(tmp_path):
    # The rule's check must be able to fail: a light-looking module that imports TensorFlow is named.
    (tmp_path / "leaky_module.py").write_text("import tensorflow\n")
    assert _first_heavy_import(["bertclf.config", "leaky_module"], str(tmp_path)).startswith(
        "leaky_module ['tensorflow'")


# Below `training/`: these never import it (the runtime they need is `bertclf.runtime`).
BELOW_TRAINING = ["encoders", "serving", "reporting", "runtime", "evaluation.py", "environment.py"]


def _imports_of_training(path: Path) -> list[str]:
    """`file:line` of every import of bertclf.training in `path`, at any depth (functions too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        if any(name == "bertclf.training" or name.startswith("bertclf.training.") for name in names):
            found.append(f"{path.name}:{node.lineno}")
    return found


def test_nothing_below_training_imports_it():
    files = []
    for part in BELOW_TRAINING:
        target = PACKAGE / part
        files += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    assert len(files) > 20
    assert [hit for path in files for hit in _imports_of_training(path)] == []


def test_the_training_import_check_finds_a_late_import(tmp_path):
    leaky = tmp_path / "leaky.py"
    leaky.write_text("def f():\n    from bertclf.training.pipeline import predict_logits\n"
                     "    from bertclf import training\n")
    assert _imports_of_training(leaky) == ["leaky.py:2", "leaky.py:3"]
