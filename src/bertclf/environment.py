"""`bertclf env`: what this machine offers bertclf, and what the `auto` settings would pick.

TensorFlow is imported only where it can tell something the operating system
cannot: to list GPUs when an NVIDIA driver is present (or when asked). On a
machine with nothing to diagnose the report takes well under a second.
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Optional

from bertclf.cache import cache_root
from bertclf.config import RuntimeConfig
from bertclf.errors import BertclfError
from bertclf.runtime.hardware import (BF16_CPU_FLAGS, Hardware, choose_distribution, choose_jit_compile, cpu_flags,
                              parse_cluster, resolve_precision)

_PACKAGES = ("tensorflow", "tf-keras", "tensorflow-hub", "tensorflow-text", "tf-models-official")
_CPU_FEATURES = ("avx2", "avx512f", *BF16_CPU_FLAGS)
_NVIDIA_DRIVER = Path("/proc/driver/nvidia/gpus")


def describe_environment(runtime: Optional[RuntimeConfig] = None, probe_tensorflow: bool = False,
                         environ: Optional[dict] = None) -> list[tuple[str, str]]:
    """(label, value) rows describing the machine and the `auto` decisions for `runtime`.

    Args:
        runtime: The runtime settings to decide for (a config's; the defaults if None).
        probe_tensorflow: Import TensorFlow to list devices even without an NVIDIA driver.
        environ: Where TF_CONFIG is read from; the process's environment if None.
    """
    from bertclf import __version__

    runtime = runtime or RuntimeConfig()
    environ = dict(os.environ) if environ is None else environ
    rows = [("bertclf", __version__), ("Python", f"{platform.python_version()} ({sys.executable})")]
    rows += [(name, _version(name)) for name in _PACKAGES]
    flags = cpu_flags()
    rows.append(("CPU", f"{os.cpu_count()} logical cores; "
                        + ", ".join(f"{flag.upper()} {'yes' if flag in flags else 'no'}" for flag in _CPU_FEATURES)))
    gpus: tuple[tuple[int, int], ...] = ()
    if probe_tensorflow or _has_nvidia_driver():
        build, gpus, names = _tensorflow_devices()
        rows.append(("TensorFlow build", build))
        rows.append(("GPUs", "; ".join(f"{name} (compute capability {major}.{minor})"
                                       for name, (major, minor) in zip(names, gpus)) or "none visible"))
    else:
        rows.append(("GPUs", f"none (no NVIDIA driver: {_NVIDIA_DRIVER} is absent; "
                             f"--probe asks TensorFlow anyway)"))
    hardware = Hardware(gpu_capabilities=gpus, cpu_flags=flags)
    tf_config = environ.get("TF_CONFIG")
    rows.append(("TF_CONFIG", tf_config if tf_config else "not set (one machine)"))
    rows += _decisions(runtime, hardware, tf_config)
    cache = cache_root()
    rows.append(("Cache", f"{cache} ({'exists' if cache.is_dir() else 'not created yet'}; set BERTCLF_CACHE "
                          f"to move it)"))
    return rows


def _decisions(runtime: RuntimeConfig, hardware: Hardware, tf_config: Optional[str]) -> list[tuple[str, str]]:
    try:
        distribution = choose_distribution(runtime.distribution, hardware, parse_cluster(tf_config),
                                           runtime.cpu_devices)
        strategy = f"{distribution.strategy} ({distribution.reason})"
    except BertclfError as error:
        distribution, strategy = None, f"error: {error}"
    precision = resolve_precision(runtime.precision, hardware)
    jit, jit_reason = choose_jit_compile(runtime.jit_compile, hardware,
                                         distribution.strategy if distribution else "none")
    return [(f"runtime.distribution: {runtime.distribution}", strategy),
            (f"runtime.precision: {runtime.precision}", f"{precision.precision} ({precision.reason})"),
            (f"runtime.jit_compile: {str(runtime.jit_compile).lower()}", f"{'on' if jit else 'off'} ({jit_reason})")]


def _has_nvidia_driver() -> bool:
    try:
        return any(_NVIDIA_DRIVER.iterdir())
    except OSError:
        return False


def _tensorflow_devices() -> tuple[str, tuple[tuple[int, int], ...], list[str]]:
    from bertclf.runtime.tf_setup import setup_tensorflow

    tf = setup_tensorflow()
    info = tf.sysconfig.get_build_info()
    build = (f"CUDA {info.get('cuda_version')}, cuDNN {info.get('cudnn_version')}" if info.get("is_cuda_build")
             else "CPU only (no CUDA)")
    capabilities, names = [], []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capabilities.append(tuple(details.get("compute_capability") or (0, 0)))
        names.append(details.get("device_name", gpu.name))
    return build, tuple(capabilities), names


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"
