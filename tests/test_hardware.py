"""runtime.precision: auto, decided from (GPU compute capabilities, CPU flags) alone."""

from __future__ import annotations

import pytest

from bertclf.hardware import Hardware, choose_precision, cpu_flags, resolve_precision

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
