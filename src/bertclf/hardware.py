"""What this machine offers, and the precision `runtime.precision: auto` picks for it.

`choose_precision` is a pure function of the visible accelerators and the CPU's
features, so the decision is testable without the hardware; `probe_hardware`
gathers those facts (CPU flags from /proc/cpuinfo without TensorFlow, GPUs and
their compute capabilities through TensorFlow, which the caller has imported).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

# CPU features that make bfloat16 matrix products native (oneDNN uses them); without them
# TensorFlow emulates bfloat16 and a bf16 step is slower than a float32 one.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclasses.dataclass(frozen=True)
class Hardware:
    """The facts the precision decision depends on.

    Attributes:
        gpu_capabilities: (major, minor) CUDA compute capability of each visible GPU.
        cpu_flags: The CPU's feature flags, lower case (as /proc/cpuinfo lists them).
    """

    gpu_capabilities: tuple[tuple[int, int], ...] = ()
    cpu_flags: frozenset[str] = frozenset()

    @property
    def bf16_cpu_features(self) -> list[str]:
        """The CPU's native-bfloat16 features, upper case (empty if bfloat16 would be emulated)."""
        return [flag.upper() for flag in BF16_CPU_FLAGS if flag in self.cpu_flags]

    def describe(self) -> str:
        """One phrase naming the device that decides, e.g. `CPU (AVX2; no AVX512_BF16/AMX)`."""
        if self.gpu_capabilities:
            kinds = sorted({f"{major}.{minor}" for major, minor in self.gpu_capabilities})
            return f"{len(self.gpu_capabilities)} GPU(s), compute capability {', '.join(kinds)}"
        fast = self.bf16_cpu_features
        vector = next((name for flag, name in (("avx512f", "AVX512"), ("avx2", "AVX2"))
                       if flag in self.cpu_flags), "no AVX2")
        return f"CPU ({vector}; {'/'.join(fast) if fast else 'no AVX512_BF16/AMX'})"


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
    """A concrete Keras dtype policy and why it was chosen."""

    precision: str
    reason: str


def choose_precision(hardware: Hardware) -> PrecisionChoice:
    """The fastest precision that trains correctly on `hardware`.

    GPUs decide when present (the slowest one, as all replicas run the same
    policy): compute capability >= 8.0 has bfloat16 tensor cores; 7.x has
    float16 ones (float16 needs loss scaling, which Keras adds for the
    mixed_float16 policy); older GPUs gain nothing over float32. On a CPU,
    bfloat16 pays only with AVX512_BF16 or AMX.
    """
    if hardware.gpu_capabilities:
        major, minor = min(hardware.gpu_capabilities)
        capability = f"{major}.{minor}"
        if major >= 8:
            return PrecisionChoice("mixed_bfloat16", f"GPU compute capability {capability} has bfloat16 tensor cores")
        if major == 7:
            return PrecisionChoice("mixed_float16", f"GPU compute capability {capability} has float16 tensor cores "
                                                    f"(bfloat16 would be emulated)")
        return PrecisionChoice("float32", f"GPU compute capability {capability} has no tensor cores")
    fast = hardware.bf16_cpu_features
    if fast:
        return PrecisionChoice("mixed_bfloat16", f"the CPU has {' and '.join(fast)}")
    return PrecisionChoice("float32", "the CPU lacks AVX512_BF16 and AMX, so bfloat16 would be emulated "
                                      "(slower than float32)")


def resolve_precision(requested: str, hardware: Hardware) -> PrecisionChoice:
    """`runtime.precision` made concrete: `auto` decided by `choose_precision`, anything else as given."""
    if requested == "auto":
        return choose_precision(hardware)
    return PrecisionChoice(requested, "set in runtime.precision")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's feature flags (Linux); empty where /proc/cpuinfo does not exist."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.lower().split())
    return frozenset()


def probe_hardware(tf=None) -> Hardware:
    """The machine's facts; with the `tensorflow` module given, its visible GPUs too."""
    capabilities: list[tuple[int, int]] = []
    if tf is not None:
        for gpu in tf.config.list_physical_devices("GPU"):
            found: Optional[tuple[int, int]] = tf.config.experimental.get_device_details(gpu).get(
                "compute_capability")
            capabilities.append(tuple(found) if found else (0, 0))
    return Hardware(gpu_capabilities=tuple(capabilities), cpu_flags=cpu_flags())
