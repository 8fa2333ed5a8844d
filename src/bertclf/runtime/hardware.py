"""What this machine (and its cluster) offers, and what the `auto` runtime settings pick.

`choose_precision`, `choose_distribution` and `choose_jit_compile` are pure
functions of the visible accelerators, the CPU's features and the cluster named
by `TF_CONFIG`, so every decision is testable without the hardware;
`probe_hardware` gathers those facts (CPU flags from /proc/cpuinfo without
TensorFlow, GPUs and their compute capabilities through TensorFlow, which the
caller has imported) and `parse_cluster` reads `TF_CONFIG`. `cpu_name`, `core_count` and
`measure_peak_flops` describe the machine for benchmarks and `scripts/machine_speed.py`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import time
from pathlib import Path
from typing import Optional, Union

from bertclf.errors import ConfigError

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


@dataclasses.dataclass(frozen=True)
class Cluster:
    """This process's place in the cluster `TF_CONFIG` describes.

    Attributes:
        workers: Training processes in the cluster (the chief and the workers).
        task_type: This process's job (`chief` or `worker`).
        task_index: Its index within that job.
        has_chief: Whether the cluster has a `chief` job (else worker 0 is the chief).
    """

    workers: int
    task_type: str
    task_index: int
    has_chief: bool = False

    @property
    def is_chief(self) -> bool:
        """The process that writes the run folder: the `chief` task, or worker 0 if there is none."""
        if self.has_chief:
            return self.task_type == "chief"
        return self.task_type == "worker" and self.task_index == 0


def parse_cluster(tf_config: Optional[str]) -> Optional[Cluster]:
    """The cluster named by a `TF_CONFIG` value; None when it is unset or names no cluster.

    Raises:
        ConfigError: TF_CONFIG is not the JSON TensorFlow documents
            (`{"cluster": {"worker": [...]}, "task": {"type": ..., "index": ...}}`).
    """
    if not tf_config or not tf_config.strip():
        return None
    example = 'e.g. {"cluster": {"worker": ["host1:2222", "host2:2222"]}, "task": {"type": "worker", "index": 0}}'
    try:
        parsed = json.loads(tf_config)
    except ValueError as error:
        raise ConfigError(f"TF_CONFIG is not JSON ({error}); set it as {example}") from None
    cluster = parsed.get("cluster") if isinstance(parsed, dict) else None
    if not cluster:
        return None
    task = parsed.get("task")
    if not isinstance(cluster, dict) or not isinstance(task, dict) or "type" not in task:
        raise ConfigError(f"TF_CONFIG needs a \"cluster\" object and this process's \"task\"; {example}")
    training_jobs = {job: hosts for job, hosts in cluster.items() if job in ("chief", "worker")}
    workers = sum(len(hosts) for hosts in training_jobs.values())
    task_type, task_index = str(task["type"]), int(task.get("index", 0))
    if task_type not in training_jobs or not 0 <= task_index < len(training_jobs[task_type]):
        raise ConfigError(f"TF_CONFIG: task {task_type} {task_index} is not in the cluster "
                          f"({', '.join(f'{job} x{len(hosts)}' for job, hosts in cluster.items())})")
    return Cluster(workers=workers, task_type=task_type, task_index=task_index, has_chief="chief" in cluster)


@dataclasses.dataclass(frozen=True)
class DistributionChoice:
    """A concrete `runtime.distribution` and why it was chosen."""

    strategy: str          # none | mirrored | multi_worker | tpu
    reason: str


def choose_distribution(requested: str, hardware: Hardware, cluster: Optional[Cluster],
                        cpu_devices: int = 1) -> DistributionChoice:
    """`runtime.distribution` made concrete for this machine and cluster.

    `auto` takes a cluster in TF_CONFIG as a request for several machines,
    several visible GPUs (or CPU logical devices asked for with
    `runtime.cpu_devices`) as one for data parallelism on this one, and
    otherwise trains on one device.

    Raises:
        ConfigError: `multi_worker` without a cluster in TF_CONFIG (it would
            silently train alone), or `runtime.cpu_devices` where no strategy
            would use the logical CPU devices (it would be silently ignored).
    """
    choice = _choose_distribution(requested, hardware, cluster, cpu_devices)
    if cpu_devices > 1 and (choice.strategy != "mirrored" or hardware.gpu_capabilities):
        where = "this machine has GPUs, which mirrored uses instead" if hardware.gpu_capabilities else \
            f"the strategy is {choice.strategy} ({choice.reason})"
        raise ConfigError(f"runtime.cpu_devices: {cpu_devices} logical CPU devices are used only by mirrored "
                          f"training on a machine without GPUs, and {where}; remove runtime.cpu_devices or "
                          f"set runtime.distribution: mirrored")
    return choice


def _choose_distribution(requested: str, hardware: Hardware, cluster: Optional[Cluster],
                         cpu_devices: int) -> DistributionChoice:
    gpus = len(hardware.gpu_capabilities)
    local = f"{gpus} GPUs" if gpus else f"{cpu_devices} logical CPU devices"
    if requested == "auto":
        if cluster is not None and cluster.workers > 1:
            return DistributionChoice("multi_worker", f"TF_CONFIG names {cluster.workers} workers")
        if gpus > 1 or (not gpus and cpu_devices > 1):
            return DistributionChoice("mirrored", f"{local} on this machine")
        return DistributionChoice("none", "one GPU" if gpus else "one CPU device")
    if requested == "multi_worker" and cluster is None:
        raise ConfigError("runtime.distribution: multi_worker needs TF_CONFIG naming the cluster and this "
                          "process's task in every worker's environment (docs/scaling.md: On several machines)")
    if requested == "mirrored":
        return DistributionChoice("mirrored", f"set in runtime.distribution; {local}")
    return DistributionChoice(requested, "set in runtime.distribution")


def choose_jit_compile(requested: Union[str, bool], hardware: Hardware, strategy: str) -> tuple[bool, str]:
    """`runtime.jit_compile` made concrete: (XLA on?, why).

    `auto` compiles on GPUs and TPUs, where XLA fuses the encoder's elementwise
    ops; on a CPU, compiling every bucket's shape costs more than it saves.
    """
    if requested != "auto":
        return bool(requested), "set in runtime.jit_compile"
    if strategy == "tpu":
        return True, "TPUs run XLA"
    if hardware.gpu_capabilities:
        return True, "GPU: XLA fuses the encoder's elementwise ops"
    return False, "CPU: compiling each bucket's shape costs more than it saves"


def cpu_name() -> str:
    """The CPU's model name, as /proc/cpuinfo gives it ("unknown" where nothing says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def core_count() -> Optional[int]:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def measure_peak_flops(tf, size: int = 1024, seconds: float = 2.0, dtype: str = "float32") -> float:
    """FLOP/s of a large matrix product in `dtype` on this machine's configured threads."""
    a = tf.cast(tf.random.normal([size, size]), dtype)
    b = tf.cast(tf.random.normal([size, size]), dtype)
    product = tf.function(lambda x, y: tf.matmul(x, y))
    product(a, b).numpy()
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        product(a, b).numpy()
        runs += 1
    return 2 * size ** 3 * runs / (time.perf_counter() - started)
