"""The `auto` runtime decisions (precision, distribution, XLA) as pure functions of
(GPU compute capabilities, CPU flags, TF_CONFIG)."""

from __future__ import annotations

import json
import re

import pytest

from bertclf.errors import ConfigError
from bertclf.runtime.hardware import (Hardware, choose_distribution, choose_jit_compile, choose_precision, cpu_flags,
                              parse_cluster, resolve_precision)

AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma"})
ZEN4 = AVX2 | {"avx512f", "avx512_bf16", "avx512_vnni"}
SAPPHIRE_RAPIDS = AVX2 | {"avx512f", "amx_bf16", "amx_tile"}


@pytest.mark.parametrize("gpus,flags,expected", [
    ((), AVX2, "float32"),                 # this project's CI machine: bf16 would be emulated
    ((), frozenset(), "float32"),          # flags unknown (not Linux): the safe choice
    ((), ZEN4, "mixed_bfloat16"),
    ((), SAPPHIRE_RAPIDS, "mixed_bfloat16"),
    (((8, 0),), AVX2, "mixed_bfloat16"),   # A100
    (((8, 9),), AVX2, "mixed_bfloat16"),   # L4
    (((7, 5),), ZEN4, "mixed_float16"),    # T4: the GPU decides, not the CPU
    (((7, 0),), AVX2, "mixed_float16"),    # V100
    (((6, 1),), ZEN4, "float32"),          # P4: no tensor cores
    (((8, 0), (7, 5)), AVX2, "mixed_float16"),  # replicas share one policy: the slowest GPU's
])
def test_auto_precision_decisions(gpus, flags, expected):
    choice = choose_precision(Hardware(gpu_capabilities=gpus, cpu_flags=flags))
    assert choice.precision == expected and choice.reason


def test_explicit_precision_is_kept_whatever_the_machine():
    assert resolve_precision("mixed_bfloat16", Hardware(cpu_flags=AVX2)).precision == "mixed_bfloat16"
    assert resolve_precision("float32", Hardware(gpu_capabilities=((8, 0),))).precision == "float32"
    assert resolve_precision("auto", Hardware(cpu_flags=AVX2)).reason.startswith("the CPU lacks AVX512_BF16")


def test_describe_names_the_deciding_device():
    assert Hardware(cpu_flags=AVX2).describe() == "CPU (AVX2; no AVX512_BF16/AMX)"
    assert Hardware(cpu_flags=ZEN4).describe() == "CPU (AVX512; AVX512_BF16)"
    assert Hardware(gpu_capabilities=((7, 5), (7, 5))).describe() == "2 GPU(s), compute capability 7.5"


def test_cpu_flags_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu AVX2 avx512_bf16\n\n"
                       "processor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(tmp_path / "absent") == frozenset()


def _tf_config(workers: int, index: int, chief: bool = False) -> str:
    cluster = {"worker": [f"host{i}:2222" for i in range(workers)]}
    if chief:
        cluster["chief"] = ["head:2222"]
    task = {"type": "chief", "index": 0} if index < 0 else {"type": "worker", "index": index}
    return json.dumps({"cluster": cluster, "task": task})


@pytest.mark.parametrize("requested,gpus,tf_config,cpu_devices,expected", [
    ("auto", (), None, 1, "none"),                         # a laptop or this CI machine
    ("auto", ((8, 0),), None, 1, "none"),                  # one GPU: no strategy needed
    ("auto", ((8, 0), (8, 0)), None, 1, "mirrored"),       # a multi-GPU box
    ("auto", (), None, 2, "mirrored"),                     # logical CPU devices asked for
    ("auto", ((7, 5),) * 4, _tf_config(2, 1), 1, "multi_worker"),  # a cluster wins over local GPUs
    ("auto", (), _tf_config(1, 0), 1, "none"),             # TF_CONFIG naming one worker: no cluster
    ("none", ((8, 0), (8, 0)), _tf_config(2, 0), 1, "none"),
    ("mirrored", (), None, 1, "mirrored"),
    ("multi_worker", (), _tf_config(1, 0), 1, "multi_worker"),
    ("tpu", (), None, 1, "tpu"),
])
def test_distribution_decisions(requested, gpus, tf_config, cpu_devices, expected):
    choice = choose_distribution(requested, Hardware(gpu_capabilities=gpus, cpu_flags=AVX2),
                                 parse_cluster(tf_config), cpu_devices)
    assert choice.strategy == expected and choice.reason


@pytest.mark.parametrize("requested,gpus,tf_config,because", [
    ("none", (), None, "the strategy is none"),
    ("auto", ((8, 0), (8, 0)), None, "this machine has GPUs"),
    ("mirrored", ((8, 0),), None, "this machine has GPUs"),
    ("multi_worker", (), _tf_config(2, 0), "the strategy is multi_worker"),
    ("tpu", (), None, "the strategy is tpu"),
])
def test_cpu_devices_where_no_strategy_uses_them_is_refused(requested, gpus, tf_config, because):
    # Silently ignored before: a run asked for 2 logical CPU devices and trained on one device.
    with pytest.raises(ConfigError, match=rf"runtime.cpu_devices: 2 logical CPU devices are used only by mirrored "
                                          rf"training on a machine without GPUs, and {because}"):
        choose_distribution(requested, Hardware(gpu_capabilities=gpus, cpu_flags=AVX2), parse_cluster(tf_config), 2)


def test_multi_worker_without_a_cluster_is_a_config_error():
    with pytest.raises(ConfigError, match="multi_worker needs TF_CONFIG"):
        choose_distribution("multi_worker", Hardware(cpu_flags=AVX2), None)


@pytest.mark.parametrize("tf_config,workers,chief", [
    (_tf_config(2, 0), 2, True),               # no chief job: worker 0 writes the run folder
    (_tf_config(2, 1), 2, False),
    (_tf_config(2, -1, chief=True), 3, True),  # a chief job: it writes, worker 0 does not
    (_tf_config(2, 0, chief=True), 3, False),
])
def test_cluster_roles(tf_config, workers, chief):
    cluster = parse_cluster(tf_config)
    assert cluster.workers == workers and cluster.is_chief == chief


@pytest.mark.parametrize("tf_config,message", [
    ("{not json", "TF_CONFIG is not JSON"),
    ('{"cluster": {"worker": ["a:1"]}}', "needs a \"cluster\" object and this process's \"task\""),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "task worker 3 is not in"),
])
def test_malformed_tf_config_is_one_line(tf_config, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_cluster(tf_config)


def test_no_tf_config_means_no_cluster():
    assert parse_cluster(None) is None and parse_cluster("") is None
    assert parse_cluster('{"task": {"type": "worker", "index": 0}}') is None


@pytest.mark.parametrize("requested,gpus,strategy,expected", [
    ("auto", (), "none", False),               # CPU: measured slower with XLA
    ("auto", ((8, 0),), "none", True),
    ("auto", (), "tpu", True),
    (True, (), "none", True),                  # as set, whatever the machine
    (False, ((8, 0),), "mirrored", False),
])
def test_jit_compile_decisions(requested, gpus, strategy, expected):
    on, reason = choose_jit_compile(requested, Hardware(gpu_capabilities=gpus, cpu_flags=AVX2), strategy)
    assert on is expected and reason
