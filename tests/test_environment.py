"""`bertclf env`: versions, devices and the `auto` decisions, without TensorFlow where it can."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from bertclf.config import RuntimeConfig
from bertclf.environment import describe_environment
from bertclf.runtime.hardware import choose_precision
from conftest import BERTCLF, PROJECT_ROOT


def test_env_reports_the_decisions_for_this_machine():
    done = subprocess.run([str(BERTCLF), "env", "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    import tensorflow as tf

    assert rows["tensorflow"] == tf.__version__
    from bertclf.runtime.hardware import choose_distribution, choose_jit_compile, probe_hardware

    # What this machine has (GPUs included, wherever the suite runs), decided by the same functions.
    hardware = probe_hardware(tf)
    distribution = choose_distribution("auto", hardware, None)
    assert rows["runtime.precision: auto"].startswith(choose_precision(hardware).precision + " (")
    assert rows["runtime.distribution: auto"].startswith(distribution.strategy + " (")
    jit, _ = choose_jit_compile("auto", hardware, distribution.strategy)
    assert rows["runtime.jit_compile: auto"].startswith(("on" if jit else "off") + " (")


def test_env_does_not_import_tensorflow_without_a_gpu_driver():
    code = ("import sys; from bertclf.environment import describe_environment; describe_environment(); "
            "print('tensorflow' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


def test_env_decides_for_a_cluster_and_for_a_config(capsys):
    tf_config = json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}})
    rows = dict(describe_environment(RuntimeConfig(), environ={"TF_CONFIG": tf_config}))
    assert rows["runtime.distribution: auto"] == "multi_worker (TF_CONFIG names 2 workers)"
    rows = dict(describe_environment(RuntimeConfig(distribution="multi_worker", jit_compile=True), environ={}))
    assert rows["runtime.distribution: multi_worker"].startswith("error: runtime.distribution: multi_worker "
                                                                  "needs TF_CONFIG")
    assert rows["runtime.jit_compile: true"] == "on (set in runtime.jit_compile)"

    from bertclf.cli import main

    assert main(["env", str(PROJECT_ROOT / "configs" / "smoke.yaml"), "--set", "runtime.precision=float32"]) == 0
    assert re.search(r"^runtime\.precision: float32 +float32 \(set in runtime\.precision\)$",
                     capsys.readouterr().out, re.MULTILINE)
